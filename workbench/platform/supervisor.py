"""supervisord under the local stack: each long-running component is one ``Program`` entry.

Why supervisord (``supervisor`` on PyPI): restart policies, back-off, a give-up state, stop
ordering, per-process logs and an XML-RPC control socket are its whole job, and it has done
it for two decades. What this module adds is the translation: ``Program`` entries become
``<state>/private/supervisord.conf`` (0600: it holds the services' tokens), supervisord runs
in its own session with its socket in ``<state>/run`` (0700, root only), and every log goes
to ``<state>/logs`` (``supervisord.log`` for state changes, ``NAME.log`` per component).

Restart policy (supervisord's own semantics): a component that exits is started again at
once. One that exits before ``startsecs`` counts as a failed start; failed starts are
retried with a back-off that grows by a second each time (1, 2, 3 ... s), and after
``startretries`` of them in a row supervisord gives up: the component is FATAL, the log
says ``gave up: NAME entered FATAL state``, and the SIEM turns that line into a
``crash_loop`` alert for the administrators (``security.collectors.SupervisorLogCollector``,
``security.detectors.CrashLoop``) instead of the component restarting forever. A component
that keeps dying *after* ``startsecs`` is restarted each time, and the same detector alerts
on repeated unexpected exits.

``status`` reads supervisord's own view (state, pid, start time) and counts restarts from
its log (supervisord keeps no counter): spawns since supervisord started, minus one.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
import xmlrpc.client
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from workbench.errors import WorkbenchError

_SPAWNED = re.compile(r"^\S+ \S+ \w+ spawned: '(?P<name>[^']+)' with pid \d+")
_STARTED = re.compile(r"^\S+ \S+ \w+ supervisord started with pid \d+")


class SupervisorError(WorkbenchError):
    """supervisord did not start, answer or stop as asked; the message says why."""


@dataclass(frozen=True)
class Program:
    """One supervised component: what runs, as whom, how it is restarted, how it is probed.

    Adding a component to the stack is one of these in ``stack.programs``. ``ready`` is
    the component's own health probe (does it serve?), which ``status`` and ``up`` use
    beside supervisord's process state; ``startsecs`` should cover the component's start-up
    (a crash before it is a failed start, counted towards FATAL).
    """

    name: str
    command: Sequence[str]
    environment: Mapping[str, str] = field(default_factory=dict)
    priority: int = 50
    """Lower starts first and stops last (the audit service before anything that audits)."""
    startsecs: int = 3
    startretries: int = 4
    stopwaitsecs: int = 20
    stopsignal: str = "TERM"
    user: str | None = None
    directory: str | None = None
    ready: Callable[[], bool] | None = None
    detail: str = ""

    def section(self, logs: Path) -> str:
        """This program's ``[program:NAME]`` section of supervisord.conf."""
        lines = [
            f"[program:{self.name}]",
            f"command={_escape(shlex.join(self.command))}",
            f"priority={self.priority}",
            "autostart=true",
            "autorestart=true",
            f"startsecs={self.startsecs}",
            f"startretries={self.startretries}",
            f"stopsignal={self.stopsignal}",
            f"stopwaitsecs={self.stopwaitsecs}",
            "killasgroup=true",  # a SIGKILL after stopwaitsecs takes the component's own children with it
            "redirect_stderr=true",
            f"stdout_logfile={_escape(str(logs / f'{self.name}.log'))}",
            "stdout_logfile_maxbytes=50MB",
            "stdout_logfile_backups=3",
        ]
        if self.environment:
            lines.append("environment=" + ",".join(f"{key}={_quote(value)}" for key, value in self.environment.items()))
        if self.user:
            lines.append(f"user={self.user}")
        if self.directory:
            lines.append(f"directory={_escape(self.directory)}")
        return "\n".join(lines) + "\n"


def _escape(text: str) -> str:
    """supervisord expands ``%(name)s`` in values: a literal ``%`` is ``%%``."""
    return text.replace("%", "%%")


def _quote(value: str) -> str:
    """A value for supervisord's ``environment=`` (split by a non-POSIX shlex: quotes keep commas and ``#``)."""
    quote = "'" if '"' in value else '"'
    if quote in value or "\n" in value:
        raise SupervisorError(f"environment value {value[:40]!r} holds both quote characters or a newline")
    return f"{quote}{_escape(value)}{quote}"


@dataclass
class ProcessState:
    """supervisord's view of one component, plus its restart count and health probe."""

    name: str
    state: str
    """STOPPED, STARTING, RUNNING, BACKOFF, STOPPING, EXITED, FATAL or UNKNOWN (supervisord's names)."""
    pid: int | None
    uptime: float | None
    restarts: int
    detail: str


class Supervisor:
    """The supervisord of one stack state folder: config, socket, pid, logs.

    Every method works from the state folder alone, so ``status`` and ``down`` need to
    know nothing else about the stack that ``up`` started.
    """

    def __init__(self, state_dir: str | os.PathLike[str]) -> None:
        self.state_dir = Path(state_dir)
        self.config_file = self.state_dir / "private" / "supervisord.conf"
        self.groups_dir = self.state_dir / "private" / "programs.d"
        self.socket = self.state_dir / "run" / "supervisor.sock"
        self.pid_file = self.state_dir / "run" / "supervisord.pid"
        self.logs = self.state_dir / "logs"
        self.log_file = self.logs / "supervisord.log"

    def render(self, programs: Sequence[Program]) -> str:
        """supervisord.conf for ``programs``: root-only socket, one log folder, no daemonising (we keep its pid)."""
        head = (
            "[unix_http_server]\n"
            f"file={_escape(str(self.socket))}\nchmod=0700\n\n"
            "[supervisord]\n"
            f"logfile={_escape(str(self.log_file))}\nlogfile_maxbytes=50MB\nlogfile_backups=3\n"
            f"pidfile={_escape(str(self.pid_file))}\nnodaemon=true\nloglevel=info\n"
            f"childlogdir={_escape(str(self.logs))}\n\n"
            "[rpcinterface:supervisor]\n"
            "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n\n"
            "[supervisorctl]\n"
            f"serverurl=unix://{_escape(str(self.socket))}\n\n"
            "[include]\n"
            f"files={_escape(str(self.groups_dir))}/*.conf\n\n"
        )
        return head + "\n".join(p.section(self.logs) for p in programs)

    def write_config(self, programs: Sequence[Program]) -> None:
        for folder in (self.config_file.parent, self.groups_dir, self.socket.parent, self.logs):
            folder.mkdir(parents=True, exist_ok=True)
            os.chmod(folder, 0o700)
        _write_private(self.config_file, self.render(programs))

    def rpc(self, timeout: float = 10.0) -> xmlrpc.client.ServerProxy:
        """supervisord's XML-RPC interface over its Unix socket."""
        from supervisor.xmlrpc import SupervisorTransport

        transport = SupervisorTransport(None, None, f"unix://{self.socket}")
        transport.timeout = timeout  # type: ignore[attr-defined]
        return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)

    def running(self) -> bool:
        """supervisord answers on its socket."""
        if not self.socket.exists():
            return False
        try:
            return self.rpc(timeout=5).supervisor.getState()["statename"] == "RUNNING"  # type: ignore[index]
        except (OSError, xmlrpc.client.Error):
            return False

    def start(self, programs: Sequence[Program], env: Mapping[str, str], timeout: float = 30.0) -> None:
        """Run supervisord over ``programs`` (it starts each by priority); or, when it runs, apply changes.

        An already running supervisord rereads the config: added programs start, removed
        ones stop, changed ones restart, and the others keep running (``supervisorctl update``);
        FATAL components are started again (the administrator asked for the stack up).
        """
        self.write_config(programs)
        if self.running():
            self._apply(restart_stopped=True)
        else:
            self._launch(env, timeout)

    def _launch(self, env: Mapping[str, str], timeout: float) -> None:
        """Run supervisord over the config as written; return once it answers on its socket."""
        self.socket.unlink(missing_ok=True)
        with open(self.logs / "supervisord.out", "ab") as out:
            proc = subprocess.Popen(
                [str(Path(sys.executable).parent / "supervisord"), "-c", str(self.config_file)],
                env=dict(env), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True, cwd=self.state_dir)
        deadline = time.monotonic() + timeout
        while not self.running():
            if proc.poll() is not None:
                raise SupervisorError(f"supervisord exited (rc {proc.returncode}):\n{self.tail()}")
            if time.monotonic() > deadline:
                raise SupervisorError(f"supervisord does not answer after {timeout:.0f} s:\n{self.tail()}")
            time.sleep(0.1)

    def _apply(self, restart_stopped: bool) -> tuple[list[str], list[str], list[str]]:
        """Make the running supervisord match its config files (``supervisorctl update``): added programs
        start, removed ones stop, changed ones restart, the others keep running; with ``restart_stopped``,
        FATAL and stopped components start again too. (added, changed, removed) names."""
        rpc = self.rpc()
        [[added, changed, removed]] = rpc.supervisor.reloadConfig()  # type: ignore[misc]
        for name in [*removed, *changed]:
            try:
                rpc.supervisor.stopProcessGroup(name)
            except xmlrpc.client.Fault:
                pass
            rpc.supervisor.removeProcessGroup(name)
        for name in [*changed, *added]:
            rpc.supervisor.addProcessGroup(name)
        if restart_stopped:
            for info in rpc.supervisor.getAllProcessInfo():  # type: ignore[union-attr]
                if info["statename"] in ("FATAL", "EXITED", "STOPPED", "BACKOFF"):
                    try:
                        rpc.supervisor.startProcess(info["name"], False)
                    except xmlrpc.client.Fault:
                        pass  # started meanwhile by its own restart policy
        return list(added), list(changed), list(removed)

    def add_group(self, group: str, programs: Sequence[Program], env: Mapping[str, str]) -> list[str]:
        """Supervise ``programs`` as ``group`` beside whatever runs (``programs.d/GROUP.conf``, read through
        the main config's ``[include]``): a part of the stack that starts on its own schedule (the demo's
        live loop) without rewriting the rest. Starts supervisord (with the group alone) when it does not
        run; a later ``start`` keeps the group. The names started or restarted."""
        clash = {p.name for p in programs} & set(self._main_programs())
        if clash:
            raise SupervisorError(f"{', '.join(sorted(clash))} already supervised by the stack's own config")
        running = self.running()
        if not running:  # the stack's own programs (a stopped stack's config) stay stopped
            self.write_config([])
        _write_private(self.groups_dir / f"{group}.conf", "\n".join(p.section(self.logs) for p in programs))
        if not running:
            self._launch(env, timeout=30.0)
            return [p.name for p in programs]
        added, changed, _ = self._apply(restart_stopped=False)
        return [*added, *changed]

    def remove_group(self, group: str) -> list[str]:
        """Stop ``group``'s programs and forget them; the names stopped."""
        path = self.groups_dir / f"{group}.conf"
        if not path.exists():
            return []
        names = _program_names(path.read_text())
        path.unlink()
        if not self.running():
            return []
        self._apply(restart_stopped=False)
        return names

    def renice(self, group: str, niceness: int | None) -> list[int]:
        """Run ``group``'s processes (``add_group``) at ``niceness`` (None: supervisord's own, which they
        started with), so they yield the CPU to other work or stop yielding; the pids changed. Every
        thread is set: Linux keeps a niceness per thread, and a process's pools run by then. A process
        supervisord restarts starts at supervisord's niceness again: to keep it, call this again."""
        path = self.groups_dir / f"{group}.conf"
        if not path.exists() or not self.running():
            return []
        if niceness is None:
            niceness = os.getpriority(os.PRIO_PROCESS, self._pid() or 0)
        names = set(_program_names(path.read_text()))
        changed = []
        for info in self.rpc().supervisor.getAllProcessInfo():  # type: ignore[union-attr]
            if info["name"] in names and info["pid"] and _set_niceness(int(info["pid"]), niceness):
                changed.append(int(info["pid"]))
        return changed

    def declared(self) -> list[str]:
        """The programs of the config last written: the stack's own, then each group's."""
        files = [self.config_file, *sorted(self.groups_dir.glob("*.conf"))]
        return [name for path in files if path.exists() for name in _program_names(path.read_text())]

    def _main_programs(self) -> list[str]:
        return _program_names(self.config_file.read_text()) if self.config_file.exists() else []

    def stop(self, timeout: float = 90.0) -> bool:
        """Stop every component (reverse priority, each SIGTERM then SIGKILL after its stopwaitsecs),
        then supervisord; True when it was running."""
        pid = self._pid()
        if not self.running():
            if pid is not None:  # wedged: its children are in their own sessions, it is in its own
                _kill_session(pid)
            return False
        try:
            self.rpc(timeout=timeout).supervisor.shutdown()
        except (OSError, xmlrpc.client.Error):
            pass
        deadline = time.monotonic() + timeout
        while pid is not None and _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if pid is not None and _alive(pid):
            _kill_session(pid)
        if pid is not None:
            _reap(pid)
        self.socket.unlink(missing_ok=True)
        return True

    def processes(self) -> list[ProcessState]:
        """Each component as supervisord sees it (empty when supervisord is not running)."""
        if not self.running():
            return []
        restarts = self.restarts()
        found = []
        for info in self.rpc().supervisor.getAllProcessInfo():  # type: ignore[union-attr]
            running = info["statename"] in ("RUNNING", "STARTING") and info["pid"]
            found.append(ProcessState(
                info["name"], info["statename"], info["pid"] or None,
                float(info["now"] - info["start"]) if running else None,
                restarts.get(info["name"], 0), info["spawnerr"] or info["description"]))
        return found

    def restarts(self) -> dict[str, int]:
        """Restarts per component since supervisord last started: its ``spawned:`` lines minus the first."""
        spawns: dict[str, int] = {}
        try:
            lines = self.log_file.read_text(errors="replace").splitlines()
        except OSError:
            return {}
        for line in lines:
            if _STARTED.match(line):
                spawns = {}
            elif match := _SPAWNED.match(line):
                spawns[match["name"]] = spawns.get(match["name"], 0) + 1
        return {name: count - 1 for name, count in spawns.items()}

    def signal(self, name: str, signum: int = signal.SIGKILL) -> int:
        """Send ``signum`` to component ``name``'s process (fault tests, an administrator's last resort); its pid."""
        pid = int(self.rpc().supervisor.getProcessInfo(name)["pid"])  # type: ignore[index]
        if not pid:
            raise SupervisorError(f"{name} has no running process")
        os.kill(pid, signum)
        return pid

    def start_process(self, name: str) -> None:
        """Start ``name`` again (after FATAL: once its cause is fixed)."""
        self.rpc().supervisor.startProcess(name, False)

    def tail(self, chars: int = 3000, name: str | None = None) -> str:
        """The end of supervisord's log, or of component ``name``'s."""
        if name is not None:
            try:
                return (self.logs / f"{name}.log").read_text(errors="replace")[-chars:]
            except OSError:
                return f"(no log of {name})"
        try:
            return self.log_file.read_text(errors="replace")[-chars:]
        except OSError:
            try:
                return (self.logs / "supervisord.out").read_text(errors="replace")[-chars:]
            except OSError:
                return "(no supervisord log)"

    def _pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if _alive(pid) and "supervisord" in _cmdline(pid) else None


def _program_names(config: str) -> list[str]:
    return [line[len("[program:"):-1] for line in config.splitlines() if line.startswith("[program:")]


def _write_private(path: Path, text: str) -> None:
    """Write ``path`` 0600 (supervisord's configs hold the services' tokens) from the first byte on."""
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.chmod(path, 0o600)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:  # a zombie (our own unreaped child) is gone for every purpose here
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _set_niceness(pid: int, niceness: int) -> bool:
    """Set every thread of ``pid`` to ``niceness``; True when one changed (False: gone, or not allowed)."""
    changed = False
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return False
    for tid in map(int, threads):
        try:
            if os.getpriority(os.PRIO_PROCESS, tid) != niceness:
                os.setpriority(os.PRIO_PROCESS, tid, niceness)
                changed = True
        except OSError:  # the thread ended meanwhile, or lowering the niceness needs root
            continue
    return changed


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _reap(pid: int) -> None:
    """Collect supervisord's exit status when this process started it (no zombie left behind)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def _kill_session(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def format_uptime(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"
