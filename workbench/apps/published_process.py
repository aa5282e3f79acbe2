"""Each published app in its own server process, as its publisher; the dashboards service supervises them.

Why: a published app is someone's code. Run inside the dashboards service it would have
the service's rights (root on the local stack), so anyone allowed to publish could run
code as root. Instead each app gets its own Panel server (``published_server.py``)
running as the Unix user the hub spawns its publisher's notebook server as
(``<unix_prefix><name>``, see ``platform/spawner.py``), with that user's groups only
(``os.getgrouplist``, as JupyterHub's ``set_user_setuid`` does), so the lake's ACLs
(``security/lake_permissions.py``) apply to the app exactly as to the publisher's kernel.
The service keeps the hub OAuth check and the per-app roles, and relays HTTP and the
Bokeh websocket to the app (``published_proxy.py``).

The shape is JupyterHub's ``Spawner`` (and dask-gateway's backends): ``AppProcess`` is
a small class with ``start`` / ``ready`` / ``poll`` / ``stop`` hooks, and the setting
``dashboards_app_class`` names the subclass, so a Kubernetes deployment can run each app
as a pod of its publisher's identity instead of ``LocalAppProcess``'s local process.
``PublishedApps`` starts every published app when the service starts, (re)starts one on
publish, stops it on remove and when the service stops, restarts one that died
(with a growing delay, so a broken app does not spin), and restarts one whose publisher's
Unix groups changed (a role change or a disabled account, ``accounts.sync_unix_groups``).

``LocalAppProcess``, and why no process outlives the service:

- the app's files are copied into ``<run>/<name>/`` (``<run>`` is root's, 0711; the app's
  folder is the publisher's, 0700, made fresh by root at each start so nothing the
  publisher planted there is written through); its server listens on ``app.sock`` in that
  folder (mode 0600): only the publisher and root can connect, not other local users, so
  there is no unauthenticated port to bypass the hub login with;
- the environment is built from the settings, as the spawner's is trimmed: no hub token,
  OAuth client or cookie secret of the service reaches the publisher's code;
- the process is its own session (stop signals its whole process group) and asks the
  kernel to kill it when the service dies (``PR_SET_PDEATHSIG``, set by the app itself
  after the uid change, which would clear it), so a service killed with SIGKILL leaves no
  app behind either. ``Popen`` runs on the event loop's thread, which lives as long as
  the service (the signal follows the thread that forked);
- like the publisher's notebook server, it runs in a memory cgroup capped at the limit of
  the publisher's role (``role_mem_limits``), which it joins before running any of the
  app's code (it waits for the service's go-ahead on stdin); at stop every process left
  in that group is killed too, even one the app's code detached into a session of its own.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import pwd
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from workbench.apps.publishing import META, PublishedApp, PublishedStore
from workbench.errors import WorkbenchError
from workbench.platform.cgroups import CgroupError, MemoryCgroups
from workbench.settings import Settings

log = logging.getLogger(__name__)
SOCKET = "app.sock"
STOP_GRACE = 5.0
MAX_RESTART_DELAY = 60.0


class AppStartError(WorkbenchError):
    """A published app's server could not be started or did not answer; the message says why."""


@dataclass(frozen=True)
class Upstream:
    """Where a running app answers: an HTTP base URL, through a Unix socket when ``unix_socket`` is set."""

    url: str
    unix_socket: str | None = None


@dataclass(frozen=True)
class AppHost:
    """What every app process of one service shares: where apps run, as whom, and with which settings."""

    run_dir: Path  # root-owned 0711; one publisher-owned folder per running app
    log_dir: Path  # the service's own folder: one log per app (the last start's)
    python: Path  # an interpreter the publisher may execute (the hub's user environment)
    unix_prefix: str  # hub user NAME runs as <unix_prefix>NAME
    prefix: str  # the service's URL prefix (/services/dashboards)
    origins: tuple[str, ...]  # host:port the browsers use, for the apps' websocket origin check
    settings: Settings
    start_timeout: float = 120.0
    cgroups: MemoryCgroups | None = None  # None: no memory controller here, apps run uncapped
    role_limits: dict[str, str] = field(default_factory=dict)  # role -> memory cap (512M, 2G)

    def app_prefix(self, name: str) -> str:
        return f"{self.prefix}/published/{name}"


class AppProcess:
    """One published app's server: the hooks a deployment overrides (a ``Spawner`` for apps).

    ``start`` launches it (returning before it answers), ``ready`` waits until it answers
    and says where, ``poll`` is None while it runs (else an exit status), ``stop`` ends it
    and everything it started.
    """

    def __init__(self, app: PublishedApp, source: Path, host: AppHost) -> None:
        self.app = app
        self.source = source  # the published folder of this version (file + meta.json)
        self.host = host

    @property
    def version(self) -> tuple[str, str]:
        return self.app.sha256, self.app.published_at

    async def start(self) -> None:
        raise NotImplementedError

    async def ready(self, timeout: float) -> Upstream:
        raise NotImplementedError

    async def poll(self) -> int | None:
        raise NotImplementedError

    async def stale(self) -> bool:
        """Whether it runs with rights its publisher no longer has (the service then restarts it)."""
        return False

    async def stop(self) -> None:
        raise NotImplementedError


def app_environment(settings: Settings, user: pwd.struct_passwd, hub_name: str, python: Path) -> dict[str, str]:
    """The app process's whole environment, from the settings (never the service's own environment).

    Like the spawner's trimmed environment: the user's identity, a plain ``PATH`` and the
    platform's ``WORKBENCH_*`` settings; the process's own role is the service's (the least
    privileged), each document is built with its viewer's (``hosted``).
    """
    env = {"PATH": f"{python.parent}:/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": user.pw_dir,
           "USER": user.pw_name, "LOGNAME": user.pw_name, "SHELL": user.pw_shell or "/bin/sh",
           "WORKBENCH_USER": hub_name, "WORKBENCH_LAKE": settings.lake}
    optional = {"WORKBENCH_ROLE": settings.role, "WORKBENCH_POLICY_FILE": settings.policy_file,
                "WORKBENCH_AUDIT_SOCKET": settings.audit_socket,
                "WORKBENCH_AUDIT_DIR": None if settings.audit_socket else settings.audit_dir}
    env.update({key: value for key, value in optional.items() if value})
    if settings.storage_options:
        import json

        env["WORKBENCH_STORAGE_OPTIONS"] = json.dumps(settings.storage_options)
    return env


class LocalAppProcess(AppProcess):
    """The app's Panel server as a local process of its publisher's Unix user (see the module docstring)."""

    proc: subprocess.Popen[bytes] | None = None
    group: Path | None = None
    groups: frozenset[int] = frozenset()  # the Unix groups it was started with

    @property
    def cgroup_name(self) -> str:
        """Unique per app and per hub (several hubs may share the cgroup parent): the Unix prefix is in it."""
        return f"published.{self.host.unix_prefix}{self.app.name}"

    @property
    def folder(self) -> Path:
        return self.host.run_dir / self.app.name

    @property
    def socket_path(self) -> Path:
        return self.folder / SOCKET

    @property
    def log_file(self) -> Path:
        return self.host.log_dir / f"{self.app.name}.log"

    def user(self) -> pwd.struct_passwd:
        from workbench.platform.unix import system_name

        name = system_name(self.app.runs_as, self.host.unix_prefix)
        try:
            return pwd.getpwnam(name)
        except KeyError:
            raise AppStartError(f"{self.app.name}: its publisher {self.app.runs_as} has no Unix user {name} "
                                "(made when they log in to the hub)") from None

    def _prepare_folder(self, user: pwd.struct_passwd) -> None:
        """A fresh folder of the publisher's with a copy of the app; made by root, given away last."""
        shutil.rmtree(self.folder, ignore_errors=True)  # fd-based: never follows a planted link
        self.folder.mkdir(mode=0o700)
        for name in (self.app.file, META):
            shutil.copyfile(self.source / name, self.folder / name, follow_symlinks=False)
            os.chown(self.folder / name, user.pw_uid, user.pw_gid)
            os.chmod(self.folder / name, 0o600)
        os.chown(self.folder, user.pw_uid, user.pw_gid)

    def command(self) -> list[str]:
        return [str(self.host.python), "-m", "workbench.apps.published_server", "--folder", str(self.folder),
                "--prefix", self.host.app_prefix(self.app.name), "--parent-pid", str(os.getpid()),
                *[f"--origin={origin}" for origin in self.host.origins]]

    async def start(self) -> None:
        if os.geteuid() != 0:
            raise AppStartError(f"{self.app.name}: running a published app as its publisher needs the service "
                                "to run as root (as the hub does)")
        user = self.user()
        groups = os.getgrouplist(user.pw_name, user.pw_gid)
        self.groups = frozenset(groups)
        self._prepare_folder(user)
        self.host.log_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        limit = self.host.role_limits.get(self.app.owner_role or "")
        if self.host.cgroups is not None and limit:
            try:
                self.group = self.host.cgroups.create(self.cgroup_name, limit)
            except OSError as exc:  # CgroupError is one
                raise AppStartError(f"{self.app.name}: cannot make its memory cgroup: {exc}") from exc
        with open(self.log_file, "wb") as out:
            self.proc = subprocess.Popen(
                self.command(), env=app_environment(self.host.settings, user, self.app.runs_as, self.host.python),
                cwd=user.pw_dir, user=user.pw_uid, group=user.pw_gid, extra_groups=groups,
                stdin=subprocess.PIPE, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                close_fds=True)
        assert self.proc.stdin is not None
        try:
            if self.group is not None:
                MemoryCgroups.add_pid(self.group, self.proc.pid)
            self.proc.stdin.write(b"start\n")  # the app's server waits for this before doing anything
            self.proc.stdin.close()
        except OSError as exc:
            self.kill()
            raise AppStartError(f"{self.app.name}: cannot cap its server's memory: {exc}") from exc
        log.info("published app %s started as %s (pid %d, groups %s)", self.app.name, user.pw_name,
                 self.proc.pid, groups)

    def _log_tail(self, chars: int = 1500) -> str:
        try:
            return self.log_file.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    async def ready(self, timeout: float) -> Upstream:
        deadline = time.monotonic() + timeout
        while True:
            status = await self.poll()
            if status is not None:
                raise AppStartError(f"{self.app.name}: its server exited (status {status}):\n{self._log_tail()}")
            if await _answers(self.socket_path):
                return Upstream(f"http://{self.app.name}.published", str(self.socket_path))
            if time.monotonic() > deadline:
                raise AppStartError(f"{self.app.name}: its server did not answer within {timeout:.0f} s")
            await asyncio.sleep(0.1)

    async def poll(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    async def stale(self) -> bool:
        """Its publisher's groups changed since it started (``workbench users set-role|disable``): a
        process keeps the groups it started with, so only a restart drops the old role's."""
        try:
            user = self.user()
        except AppStartError:
            return True  # the publisher's Unix user is gone
        return frozenset(os.getgrouplist(user.pw_name, user.pw_gid)) != self.groups

    async def stop(self) -> None:
        proc = self.proc
        if proc is not None and proc.poll() is None:
            _signal_group(proc.pid, signal.SIGTERM)
            deadline = time.monotonic() + STOP_GRACE
            while proc.poll() is None and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
        if proc is not None:
            _signal_group(proc.pid, signal.SIGKILL)  # anything the app started and left behind, too
            proc.wait()
        self._empty_group()
        shutil.rmtree(self.folder, ignore_errors=True)

    def _empty_group(self) -> None:
        """Kill whatever is left in the app's memory cgroup (detached children too), then remove it."""
        cgroups = self.host.cgroups
        if self.group is None or cgroups is None:
            return
        try:
            for pid in cgroups.pids(self.cgroup_name):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            cgroups.remove(self.cgroup_name)
        except (OSError, CgroupError) as exc:
            log.warning("could not remove %s's memory cgroup: %s", self.app.name, exc)
        self.group = None

    def kill(self) -> None:
        """Last resort when the event loop is gone: SIGKILL the app's process group and cgroup."""
        if self.proc is not None:
            _signal_group(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self._empty_group()


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)  # the app is its own session: its pid is its group id
    except (ProcessLookupError, PermissionError):
        pass


async def _answers(path: Path) -> bool:
    """True when something accepts connections on the Unix socket ``path``."""
    try:
        _reader, writer = await asyncio.open_unix_connection(str(path))
    except OSError:
        return False
    writer.close()
    return True


def app_class(settings: Settings) -> type[AppProcess]:
    """The ``AppProcess`` subclass the setting ``dashboards_app_class`` names."""
    module, _, name = settings.dashboards_app_class.rpartition(".")
    cls = getattr(importlib.import_module(module), name, None)
    if not (isinstance(cls, type) and issubclass(cls, AppProcess)):
        raise WorkbenchError(f"dashboards_app_class: {settings.dashboards_app_class} is not an AppProcess subclass")
    return cls


@dataclass
class _Restart:
    delay: float = 1.0  # before the next restart
    at: float = 0.0  # when it is due (0: none due)
    since: float = 0.0  # when the last restart happened


@dataclass
class PublishedApps:
    """The running published apps of one service: started, replaced, restarted and stopped with it."""

    store: PublishedStore
    host: AppHost
    process_class: type[AppProcess] = LocalAppProcess
    running: dict[str, AppProcess] = field(default_factory=dict)
    _locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    _restarts: dict[str, _Restart] = field(default_factory=dict)

    def _lock(self, name: str) -> asyncio.Lock:
        return self._locks.setdefault(name, asyncio.Lock())

    async def launch(self, name: str) -> AppProcess | None:
        """Make the stored version of ``name`` run (stopping an older version); None when it is not published."""
        async with self._lock(name):
            meta = self.store.meta(name)
            current = self.running.get(name)
            if current is not None and (meta is None or current.version != (meta.sha256, meta.published_at)
                                        or await current.poll() is not None or await current.stale()):
                del self.running[name]
                await current.stop()
                current = None
            if meta is None or current is not None:
                return current
            process = self.process_class(meta, self.store.folder / name, self.host)
            self.running[name] = process
            try:
                await process.start()
            except BaseException:
                del self.running[name]
                await process.stop()
                raise
            return process

    async def retire(self, name: str) -> None:
        """Stop ``name``'s server (unpublished)."""
        async with self._lock(name):
            process = self.running.pop(name, None)
            self._restarts.pop(name, None)
            if process is not None:
                await process.stop()

    async def upstream(self, name: str) -> Upstream:
        """Where ``name`` answers, starting it first if it does not run; AppStartError if it cannot."""
        process = self.running.get(name)
        if process is None or await process.poll() is not None:
            process = await self.launch(name)
        if process is None:
            raise AppStartError(f"{name}: not published")
        return await process.ready(self.host.start_timeout)

    async def start_all(self) -> None:
        """Start every published app (the service just started); one that fails is logged, and tried
        again when someone opens it."""
        for app in self.store.list():
            try:
                await self.launch(app.name)
            except AppStartError as exc:
                log.error("%s", exc)

    async def watch(self) -> None:
        """Restart apps that died: after 1 s, then twice as long after each further death, up to a minute;
        an app that has run for a minute since its restart starts again from 1 s. Restart at once an
        app whose publisher's rights changed (``AppProcess.stale``)."""
        now = time.monotonic()
        for name, process in list(self.running.items()):
            status = await process.poll()
            restart = self._restarts.get(name)
            if status is None:
                if restart is not None and restart.at == 0.0 and now - restart.since > MAX_RESTART_DELAY:
                    del self._restarts[name]
                if await process.stale():
                    log.warning("published app %s: its publisher's rights changed; restarting it with the new ones",
                                name)
                    try:
                        await self.launch(name)
                    except AppStartError as exc:
                        log.error("%s", exc)
                continue
            restart = self._restarts.setdefault(name, _Restart())
            if restart.at == 0.0:
                log.warning("published app %s exited (status %s); restarting in %.0f s", name, status, restart.delay)
                restart.at = now + restart.delay
            elif now >= restart.at:
                restart.at, restart.since, restart.delay = 0.0, now, min(restart.delay * 2, MAX_RESTART_DELAY)
                try:
                    await self.launch(name)
                except AppStartError as exc:
                    log.error("%s", exc)

    async def stop_all(self) -> None:
        for name in list(self.running):
            await self.retire(name)

    def kill_all(self) -> None:
        """The service is exiting without its event loop: SIGKILL whatever still runs."""
        for process in self.running.values():
            kill = getattr(process, "kill", None)
            if kill is not None:
                kill()
        self.running.clear()


def ensure_run_dir(run_dir: Path) -> Path:
    """``run_dir`` as root's 0711 folder: publishers reach their own app folder in it, list nothing."""
    run_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(run_dir, 0o711)
    return run_dir


def local_host(published_dir: Path, prefix: str, origins: list[str], settings: Settings) -> AppHost:
    """The ``AppHost`` of the hub's dashboards service, from the hub profile it was started with.

    The apps run from ``<hub state>/dashboards-apps`` (the service's own folder is 0700, so
    publishers could not reach a folder inside it) with the hub's user environment's
    interpreter, which every Unix user may execute (``platform/userenv.py``).
    """
    from workbench.platform.profile import HubProfile

    profile = HubProfile.from_env()
    cgroups = None
    try:
        cgroups = MemoryCgroups(profile.cgroup_parent or None) if MemoryCgroups.available() else None
    except CgroupError as exc:
        log.warning("published apps run without a memory cap: %s", exc)
    return AppHost(run_dir=ensure_run_dir(profile.state_dir / "dashboards-apps"),
                   log_dir=published_dir.parent / "app-logs", python=profile.user_env / "bin" / "python",
                   unix_prefix=profile.unix_prefix, prefix=prefix, origins=tuple(origins), settings=settings,
                   start_timeout=settings.dashboards_app_start_timeout, cgroups=cgroups,
                   role_limits=dict(profile.role_mem_limits))

