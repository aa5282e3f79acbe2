"""The local stack in the background: proxy + hub (+ gateway and idle culler as hub services).

``up`` starts ``jupyterhub -f hub_config/jupyterhub_config.py`` detached (its own session,
log in ``<state>/logs/hub.log``, pid in ``<state>/run/hub.pid``); the hub starts
configurable-http-proxy and its managed services (Dask Gateway, idle culler) itself and
stops them when it stops. ``up`` returns once ``/hub/api`` answers through the proxy
(and the gateway's health check, when the gateway is on), or raises ``StackError`` with
the end of the hub's log. ``down`` sends the hub SIGTERM (it stops servers, services and
the proxy), waits, and only then falls back to SIGKILL of the hub's own process group and
the proxy pid it recorded. ``status`` probes each component.

Everything binds where the ``HubProfile`` says (127.0.0.1 by default). Processes are
identified by their pid files and checked against their command line before any signal,
so a recycled pid is never signalled.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from workbench.errors import WorkbenchError
from workbench.platform import unix
from workbench.platform.gateway import SERVICE_PREFIX
from workbench.platform.hubconfig import DASHBOARDS_PREFIX, REPO, HubProfile, prepare

HUB_CONFIG = REPO / "hub_config" / "jupyterhub_config.py"


class StackError(WorkbenchError):
    """The stack did not come up (or down) as asked; the message says which part and why."""


@dataclass
class Component:
    name: str
    running: bool
    pid: int | None = None
    detail: str = ""

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def run_dir(profile: HubProfile) -> Path:
    return profile.state_dir / "run"


def log_file(profile: HubProfile) -> Path:
    return profile.state_dir / "logs" / "hub.log"


def hub_pid_file(profile: HubProfile) -> Path:
    return run_dir(profile) / "hub.pid"


def hub_url(profile: HubProfile) -> str:
    return f"http://{profile.ip}:{profile.port}"


def _cmdline(pid: int, settle: float = 1.0) -> str:
    """The process's command line; "" when it is gone.

    Right after ``Popen`` returns, the kernel may still be setting up the new program and
    ``/proc/PID/cmdline`` reads empty (measured here: 1 in 10 starts); an empty line of a
    live, non-zombie process is therefore re-read for up to ``settle`` seconds.
    """
    deadline = time.monotonic() + settle
    while True:
        try:
            line = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
        except (OSError, IndexError):
            return ""
        if line or state == "Z" or time.monotonic() > deadline:
            return line
        time.sleep(0.01)


def _alive(pid: int | None, marker: str) -> bool:
    """True when ``pid`` runs and its command line contains ``marker`` (no recycled pids)."""
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return marker in _cmdline(pid)


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _get(url: str, timeout: float = 2.0) -> int | None:
    import requests

    try:
        return requests.get(url, timeout=timeout).status_code
    except requests.RequestException:
        return None


def _wait(predicate, timeout: float, what: str, proc: subprocess.Popen[bytes] | None,  # type: ignore[no-untyped-def]
          profile: HubProfile) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise StackError(f"the hub exited (rc {proc.returncode}) before {what}:\n{tail(profile)}")
        if predicate():
            return
        time.sleep(0.2)
    raise StackError(f"{what} not reached after {timeout:.0f} s:\n{tail(profile)}")


def tail(profile: HubProfile, chars: int = 3000) -> str:
    try:
        return log_file(profile).read_text(errors="replace")[-chars:]
    except OSError:
        return "(no hub log)"


def hub_answers(profile: HubProfile) -> bool:
    return _get(f"{hub_url(profile)}/hub/api/") == 200


def dashboards_answers(profile: HubProfile) -> bool:
    """The dashboards service answers its health check through the proxy (its route exists once it is up)."""
    return _get(f"{hub_url(profile)}{DASHBOARDS_PREFIX}/health") == 200


def gateway_answers(profile: HubProfile) -> bool:
    return _get(f"http://127.0.0.1:{profile.gateway_port}{SERVICE_PREFIX}/api/health") == 200


def up(profile: HubProfile, timeout: float = 90.0, env: dict[str, str] | None = None) -> str:
    """Start the stack unless it runs; return the hub URL once it (and the gateway) answer."""
    from workbench.security.audit_service import security_env, start_security

    pid = _read_pid(hub_pid_file(profile))
    if _alive(pid, "jupyterhub"):
        start_security(profile)  # restarts the audit service or SIEM loop if one died
        _wait(lambda: hub_answers(profile), timeout, "the hub answering", None, profile)
        return hub_url(profile)
    profile.state_dir.mkdir(parents=True, exist_ok=True)
    prepare(profile)  # user environment and demo accounts: made here, not by loading the hub config
    if profile.lake:  # the OS enforces the access policy on the lake before anyone can log in
        from workbench.security.lake_permissions import enforce_for_hub

        enforce_for_hub(profile.lake, profile.unix_prefix)
    for folder in (run_dir(profile), log_file(profile).parent):
        folder.mkdir(exist_ok=True)
        os.chmod(folder, 0o700)
    start_security(profile)  # before the hub: its logins are audited through the service
    full_env = {**os.environ, **(env or {}), **profile.to_env(), **security_env(profile)}
    with open(log_file(profile), "ab") as log:
        os.chmod(log_file(profile), 0o600)
        proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "jupyterhub"), "-f", str(HUB_CONFIG)],
            env=full_env, cwd=profile.state_dir, stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )
    hub_pid_file(profile).write_text(str(proc.pid))
    try:
        _wait(lambda: hub_answers(profile), timeout, "the hub answering at /hub/api", proc, profile)
        if profile.gateway:
            _wait(lambda: gateway_answers(profile), timeout, "the Dask Gateway health check", proc, profile)
        if profile.dashboards:
            _wait(lambda: dashboards_answers(profile), timeout, "the dashboards service health check", proc, profile)
    except BaseException:
        down(profile)
        raise
    return hub_url(profile)


def down(profile: HubProfile, timeout: float = 30.0) -> bool:
    """Stop the stack; True when something was running. Safe to call when nothing runs."""
    pid_file = hub_pid_file(profile)
    pid = _read_pid(pid_file)
    proxy_pid = _read_pid(profile.private_dir / "proxy.pid")
    was_running = _alive(pid, "jupyterhub")
    if was_running:
        assert pid is not None
        # SIGTERM: the hub stops its servers, services and the proxy; SIGKILL reaches its own session only
        unix.terminate(pid, lambda: _alive(pid, "jupyterhub"), timeout)
    if _alive(proxy_pid, "configurable-http-proxy"):
        assert proxy_pid is not None
        os.kill(proxy_pid, signal.SIGTERM)
    pid_file.unlink(missing_ok=True)
    from workbench.security.audit_service import stop_security

    return stop_security(profile) or was_running  # after the hub: its last records still land


def status(profile: HubProfile) -> list[Component]:
    """Each component: hub, proxy, gateway and dashboards (when on), with pid and a one-line detail."""
    hub_pid = _read_pid(hub_pid_file(profile))
    hub_running = _alive(hub_pid, "jupyterhub")
    answers = hub_answers(profile)
    components = [Component("hub", hub_running and answers, hub_pid if hub_running else None,
                            f"{hub_url(profile)}/hub/api " + ("answers" if answers else "does not answer"))]
    proxy_pid = _read_pid(profile.private_dir / "proxy.pid")
    proxy_running = _alive(proxy_pid, "configurable-http-proxy")
    components.append(Component("proxy", proxy_running, proxy_pid if proxy_running else None,
                                f"public {hub_url(profile)}, api 127.0.0.1:{profile.proxy_api_port}"))
    if profile.gateway:
        healthy = gateway_answers(profile)
        components.append(Component("dask-gateway", healthy, None,
                                    f"hub service at {hub_url(profile)}{SERVICE_PREFIX}, "
                                    f"scheduler proxy 127.0.0.1:{profile.gateway_tcp_port}"
                                    + ("" if healthy else " (no health answer)")))
    if profile.dashboards:
        healthy = dashboards_answers(profile)
        components.append(Component("dashboards", healthy, None, f"hub service at {hub_url(profile)}{DASHBOARDS_PREFIX}/"
                                    + ("" if healthy else " (no health answer)")))
    from workbench.security.audit_service import security_status

    return components + security_status(profile)
