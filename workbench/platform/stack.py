"""The local stack: every long-running component under one supervisord.

``up`` writes one ``supervisor.Program`` per component (``programs``) into supervisord's
config and starts supervisord, which starts them by priority; it returns once the hub
answers through the proxy (and the gateway and dashboards answer their health checks), or
raises ``StackError`` with the end of the logs. ``down`` asks supervisord to stop them all
(reverse priority: the audit service last, so the hub's last records land) and exit.
``status`` is supervisord's view (state, pid, uptime, restarts from its log) beside each
component's own health probe. Everything lives in the state folder: ``private/``
supervisord.conf (0600), ``run/`` its socket (0700), ``logs/`` one file per component.

The components, lowest priority first:

==============  =====================================================================
postgres        the demo's source PostgreSQL (``up(sources=...)``), as user postgres,
                with the options it was last started with (``postmaster.opts``)
audit           the audit service (``workbench audit serve``): everything else audits
proxy           configurable-http-proxy, external to the hub
hub             JupyterHub
dask-gateway,   the hub's services, run here instead of by the hub (``hand_over``);
dashboards,     ``scoring`` too when the lake holds a model registry
idle-culler,
scoring
siem            the SIEM loop (``workbench audit siem``), when the stack has a lake
==============  =====================================================================

Who restarts what, so nothing fights: supervisord restarts every component above, and
nothing else does. The hub is told to start neither the proxy
(``ConfigurableHTTPProxy.should_start = False``) nor its services (each becomes an
external service: its URL and token, no command). Left to the hub, a service is restarted
at once and forever with no back-off and no give-up; it outlives a SIGKILLed hub as an
orphan holding its port while the next hub starts another; and a hub-started proxy is
killed by the next hub at start, cutting every open notebook connection. Supervised, the
proxy keeps routing to running notebook servers while the hub restarts, the gateway keeps
its clusters, and the hub, once back, finds its servers by pid (``LocalProcessSpawner``)
and puts back any route a restarted proxy lost within ``ROUTE_CHECK_SECONDS``. Notebook
servers and Dask clusters are the hub's and the gateway's children, not supervised here:
their owners track them.

Adding a component (a scoring service, a feed, its followers) is one ``Program`` entry in
``programs``; a new hub service (an entry with a ``command`` in ``hubconfig.apply``) is
supervised without any entry. ``Program.ready`` is its health probe for ``status``.
"""

from __future__ import annotations

import json
import os
import shlex
import socket
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any
from unittest import mock

from workbench.errors import WorkbenchError
from workbench.platform.gateway import SERVICE_PREFIX
from workbench.platform.hubconfig import prepare
from workbench.platform.profile import DASHBOARDS_PREFIX, REPO, HubProfile, secret_file
from workbench.platform.supervised_hub import service_token, supervised_urls, urls_file
from workbench.platform.supervisor import Program, Supervisor, SupervisorError, format_uptime

HUB_CONFIG = REPO / "hub_config" / "jupyterhub_config.py"
SERVING = ("RUNNING", "STARTING")


class StackError(WorkbenchError):
    """The stack did not come up (or down) as asked; the message says which part and why."""


@dataclass
class Component:
    """One component in ``status``: supervisord's state beside its own health probe."""

    name: str
    running: bool
    """Its process runs and its health probe answers."""
    pid: int | None = None
    detail: str = ""
    state: str = "STOPPED"
    uptime: str = "-"
    restarts: int = 0

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def log_file(profile: HubProfile) -> Path:
    return profile.state_dir / "logs" / "hub.log"


def hub_url(profile: HubProfile) -> str:
    return f"http://{profile.ip}:{profile.port}"


def _get(url: str, timeout: float = 2.0) -> int | None:
    import requests

    try:
        return requests.get(url, timeout=timeout).status_code
    except requests.RequestException:
        return None


def tail(profile: HubProfile, chars: int = 3000, dying: Iterable[str] = ()) -> str:
    """The end of the hub's log, of supervisord's (which says what died and when) and of each ``dying`` component's
    own (which says why)."""
    try:
        hub = log_file(profile).read_text(errors="replace")[-chars:]
    except OSError:
        hub = "(no hub log)"
    supervisor = Supervisor(profile.state_dir)
    own = "".join(f"\n--- {name} ---\n{supervisor.tail(chars // 2, name)}" for name in dying)
    return f"{hub}\n--- supervisord ---\n{supervisor.tail(chars // 2)}{own}"


def hub_answers(profile: HubProfile) -> bool:
    """The hub answers through the proxy (what a browser reaches)."""
    return _get(f"{hub_url(profile)}/hub/api/") == 200


def proxy_answers(profile: HubProfile) -> bool:
    """The proxy answers on the public port (whatever the hub behind it says)."""
    return _get(f"{hub_url(profile)}/hub/api/") is not None


def dashboards_answers(profile: HubProfile) -> bool:
    """The dashboards service answers its health check through the proxy (its route exists once it is up)."""
    return _get(f"{hub_url(profile)}{DASHBOARDS_PREFIX}/health") == 200


def gateway_answers(profile: HubProfile) -> bool:
    return _get(f"http://127.0.0.1:{profile.gateway_port}{SERVICE_PREFIX}/api/health") == 200


def _socket_answers(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(str(path))
            return True
        except OSError:
            return False


def _port_answers(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


# -- the components ------------------------------------------------------------------------


def audit_socket(profile: HubProfile) -> Path:
    from workbench.security.audit_service import socket_path

    return socket_path(profile.state_dir)


def security_env(profile: HubProfile) -> dict[str, str]:
    """What the hub, its services and the SIEM need to write through the audit service."""
    return {"WORKBENCH_AUDIT_SOCKET": str(audit_socket(profile))}


def dashboards_log(state_dir: str | os.PathLike[str]) -> Path:
    """Where the dashboards server should write its access log for the SIEM (``collectors.dashboard_logging``)."""
    return Path(state_dir) / "logs" / "dashboards-access.log"


def security_programs(profile: HubProfile) -> list[Program]:
    """The audit service and (with a lake) the SIEM loop.

    The audit folder is the lake's (``audit_dir_for``), so ``workbench audit verify --lake``
    checks what the service wrote; a stack without a lake keeps it in its state folder and
    runs no SIEM (``security.events`` is a lake table). The SIEM reads every component's log
    and supervisord's (what died, what gave up), the scoring service's access log (beside the
    lake's audit folder) and the audit trail.
    """
    from workbench.security.access_log import scoring_access_log_path
    from workbench.security.audit import audit_dir_for
    from workbench.settings import load_settings

    settings = load_settings(lake=profile.lake)
    state, logs = profile.state_dir, profile.state_dir / "logs"
    folder = str(audit_dir_for(settings) if profile.lake else state / "audit")
    sock = audit_socket(profile)
    cli = [sys.executable, "-m", "workbench.cli.audit"]  # not the whole CLI: restarts load this command only
    as_system = {"WORKBENCH_ROLE": "system", "WORKBENCH_USER": "siem"}
    found = [Program(
        "audit", [*cli, "serve", "--dir", folder, "--socket", str(sock), "--unix-prefix", profile.unix_prefix,
                  "--accounts", str(state)],
        environment=as_system, priority=10, startsecs=2, ready=lambda: _socket_answers(sock),
        detail=f"audit service on {sock}")]
    if profile.lake:
        scoring_log = scoring_access_log_path(settings)
        found.append(Program(
            "siem", [*cli, "siem", "--lake", profile.lake, "--dir", folder, "--hub-log", str(logs / "hub.log"),
                     "--proxy-log", str(logs / "proxy.log"), "--gateway-log", str(logs / "dask-gateway.log"),
                     "--supervisor-log", str(Supervisor(state).log_file),
                     "--dashboards-log", str(dashboards_log(state)), "--accounts", str(state),
                     *(["--scoring-log", str(scoring_log)] if scoring_log else []),
                     "--every", str(settings.siem_interval)],
            environment=as_system, priority=40, startsecs=5,  # stops with the services: one phase less at down
            detail=f"SIEM cycle every {settings.siem_interval:g} s into security.events / security.alerts"))
    return found


def proxy_program(profile: HubProfile) -> Program:
    """configurable-http-proxy with the arguments the hub would give it, and the hub as its default target
    (so the login page answers the moment a restarted proxy does, before the hub puts the routes back)."""
    hub = f"http://127.0.0.1:{profile.hub_port}"
    token = secret_file(profile.private_dir / "proxy_token")
    return Program(
        "proxy", [profile.proxy_command, "--ip", profile.ip, "--port", str(profile.port), "--api-ip", "127.0.0.1",
                  "--api-port", str(profile.proxy_api_port), "--default-target", hub,
                  "--error-target", f"{hub}/hub/error", "--log-level", "info"],
        environment={"CONFIGPROXY_AUTH_TOKEN": token}, priority=20, startsecs=2,
        ready=lambda: proxy_answers(profile),
        detail=f"public {hub_url(profile)}, api 127.0.0.1:{profile.proxy_api_port}")


HUB_BOOT = "import sys; sys.modules['rfc3987_syntax'] = None; from jupyterhub.app import main; sys.exit(main())"
"""``jupyterhub`` without jsonschema's RFC 3987 parser build: importing ``jupyterhub.app`` imports
``jupyter_events`` -> ``jsonschema``, which builds an Earley parser for the "iri" format that no hub
schema uses; measured here (``-X importtime``) as 55% of the hub's import time, which is most of
a restarted hub's time to answer. The single-user servers skip it the same way (``userenv``)."""


def hub_program(profile: HubProfile) -> Program:
    return Program(
        "hub", [sys.executable, "-c", HUB_BOOT, "-f", str(HUB_CONFIG)],
        environment={"WORKBENCH_HUB_SUPERVISED": "1"}, priority=30, startsecs=8, stopwaitsecs=60,
        directory=str(profile.state_dir),
        ready=lambda: _get(f"http://127.0.0.1:{profile.hub_port}/hub/api/") == 200,
        detail=f"{hub_url(profile)}/hub/")


def service_programs(profile: HubProfile) -> list[Program]:
    """The hub's services (each entry of ``hubconfig.apply`` with a ``command``) as supervised programs,
    with the ``JUPYTERHUB_*`` variables the hub would have given them."""
    from traitlets.config import Config

    from workbench.platform.hubconfig import apply

    c = Config()
    with mock.patch.dict(os.environ, security_env(profile)):  # the hub computes them with the audit socket set
        apply(c, replace(profile, supervised=False))  # the entries before the hub's hand-over strips their commands
    probes = {"dask-gateway": lambda: gateway_answers(profile), "dashboards": lambda: dashboards_answers(profile)}
    # A running stack keeps its services' ports: the hub routes to them until it restarts.
    previous = supervised_urls(profile) if Supervisor(profile.state_dir).running() else {}
    found = []
    urls = {}
    for service in c.JupyterHub.services:
        if "command" not in service:
            continue
        name = service["name"]
        if service.get("url"):
            service = _same_port(service, previous.get(name))
            urls[name] = service["url"]
        found.append(Program(
            name, service["command"], environment={**service.get("environment", {}),
                                                   **service_environment(service, profile)},
            priority=40, startsecs=5, directory=service.get("cwd"), ready=probes.get(name),
            detail=f"hub service at {hub_url(profile)}/services/{name}/" if service.get("url") else "hub service"))
    urls_file(profile).write_text(json.dumps(urls))  # what the supervised hub routes to (hand_over)
    return found


def _same_port(service: dict[str, Any], url: str | None) -> dict[str, Any]:
    """``service`` listening where ``url`` says: a service that picks a free port at each config read
    names it in its URL and as an argument of its command; both are swapped for the old one."""
    if url is None or url == service["url"]:
        return service
    new, old = service["url"].rsplit(":", 1)[1], url.rsplit(":", 1)[1]
    return {**service, "url": url, "command": [old if arg == new else arg for arg in service["command"]]}


def service_environment(service: dict[str, Any], profile: HubProfile) -> dict[str, str]:
    """What JupyterHub puts in a managed service's environment (``Service.start``, ``Spawner.get_env``):
    its API token and URL, and its OAuth client for HubOAuth."""
    name = service["name"]
    prefix = f"/services/{name}/"
    scopes = json.dumps(["access:services", f"access:services!service={name}"])
    env = {
        "JUPYTERHUB_SERVICE_NAME": name, "JUPYTERHUB_API_TOKEN": service_token(service, profile),
        "JUPYTERHUB_API_URL": f"http://127.0.0.1:{profile.hub_port}/hub/api", "JUPYTERHUB_BASE_URL": "/",
        "JUPYTERHUB_CLIENT_ID": f"service-{name}", "JUPYTERHUB_HOST": "",
        "JUPYTERHUB_OAUTH_CALLBACK_URL": f"{prefix}oauth_callback",
        "JUPYTERHUB_OAUTH_SCOPES": scopes, "JUPYTERHUB_OAUTH_ACCESS_SCOPES": scopes,
        "JUPYTERHUB_OAUTH_CLIENT_ALLOWED_SCOPES": "[]",
    }
    if service.get("url"):
        env.update({"JUPYTERHUB_SERVICE_URL": service["url"], "JUPYTERHUB_SERVICE_PREFIX": prefix})
    return env


def postgres_program(sources: Path, supervised: bool) -> Program | None:
    """The demo's source PostgreSQL (``demo publish-sources``), run in the foreground with the
    options it was last started with; None when that folder holds no database. One that
    ``publish-sources`` started (``pg_ctl``) is stopped first: supervisord runs it from then on."""
    from workbench.ingest.postgres_server import LocalPostgres, postgres_bin

    server = LocalPostgres(0, folder=sources.resolve() / "postgres", durable=True)
    opts = server.data / "postmaster.opts"
    if not opts.exists():
        return None
    if server.running and not supervised:
        server.stop()
    args = shlex.split(opts.read_text())[1:]
    port = int(args[args.index("-p") + 1]) if "-p" in args else 5432
    return Program(
        "postgres", [str(postgres_bin() / "postgres"), *args], priority=5, startsecs=3, stopwaitsecs=30,
        stopsignal="INT",  # PostgreSQL's fast shutdown (TERM waits for every client to leave)
        user="postgres" if os.geteuid() == 0 else None, ready=lambda: _port_answers(port),
        detail=f"demo source database on 127.0.0.1:{port}, data {server.data}")


def programs(profile: HubProfile, sources: Path | None = None) -> list[Program]:
    """Every component of the stack ``profile`` describes, as supervisord runs it.

    Each gets the profile's ``WORKBENCH_HUB_*`` settings and the audit socket in its own
    environment (not only supervisord's), so a later ``up`` with a changed profile restarts
    exactly the components it changes. ``sources`` (the demo's source systems) is
    remembered: a later ``up`` without it keeps supervising that PostgreSQL.
    """
    remembered = profile.private_dir / "sources"
    if sources is not None:
        remembered.write_text(str(Path(sources).resolve()))
    elif remembered.exists():
        sources = Path(remembered.read_text())
    found = [*security_programs(profile), proxy_program(profile), hub_program(profile), *service_programs(profile)]
    supervisor = Supervisor(profile.state_dir)
    postgres = postgres_program(sources, "postgres" in {p.name for p in supervisor.processes()}) if sources else None
    shared = {**profile.to_env(), **security_env(profile)}
    return [replace(p, environment={**shared, **p.environment}) for p in ([postgres] if postgres else []) + found]


# -- up, down, status ----------------------------------------------------------------------


def up(profile: HubProfile, timeout: float = 90.0, env: Mapping[str, str] | None = None,
       sources: Path | None = None) -> str:
    """Start the stack under supervisord (or bring a running one in line, restarting FATAL
    components); return the hub URL once it (and the gateway and dashboards) answer."""
    profile.state_dir.mkdir(parents=True, exist_ok=True)
    prepare(profile)  # user environment and demo accounts: made here, not by loading the hub config
    for folder in (profile.state_dir / "run", profile.state_dir / "logs", profile.private_dir):
        folder.mkdir(exist_ok=True)
        os.chmod(folder, 0o700)
    if profile.lake:  # the OS enforces the access policy on the lake before anyone can log in
        from workbench.security.lake_permissions import enforce_for_hub

        enforce_for_hub(profile.lake, profile.unix_prefix)
    supervisor = Supervisor(profile.state_dir)
    try:
        supervisor.start(programs(profile, sources), {**os.environ, **(env or {})})
        _wait(lambda: hub_answers(profile), timeout, "the hub answering at /hub/api through the proxy", profile)
        if profile.gateway:
            _wait(lambda: gateway_answers(profile), timeout, "the Dask Gateway health check", profile)
        if profile.dashboards:
            _wait(lambda: dashboards_answers(profile), timeout, "the dashboards service health check", profile)
        _wait(lambda: _socket_answers(audit_socket(profile)), timeout, "the audit service", profile)
    except BaseException:
        down(profile)
        raise
    return hub_url(profile)


def _wait(predicate: Any, timeout: float, what: str, profile: HubProfile) -> None:
    supervisor = Supervisor(profile.state_dir)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        fatal = [p.name for p in supervisor.processes() if p.state == "FATAL"]
        if fatal:
            raise StackError(f"{', '.join(fatal)} kept dying at start (FATAL) before {what}:\n"
                             f"{tail(profile, dying=fatal)}")
        time.sleep(0.2)
    raise StackError(f"{what} not reached after {timeout:.0f} s:\n{tail(profile)}")


def down(profile: HubProfile, timeout: float = 120.0) -> bool:
    """Stop every component and supervisord; True when it was running. Safe to call when nothing runs."""
    try:
        return Supervisor(profile.state_dir).stop(timeout)
    except SupervisorError as exc:
        raise StackError(str(exc)) from exc


def status(profile: HubProfile) -> list[Component]:
    """Each component: supervisord's state, pid, uptime and restarts, and whether it answers its probe.

    Works from the state folder alone (``make status``): the components are those of the
    config ``up`` last wrote, whether or not supervisord still runs.
    """
    supervisor = Supervisor(profile.state_dir)
    states = {p.name: p for p in supervisor.processes()}
    probes = _probes(profile)
    found = []
    for name in supervisor.declared() or list(probes):
        state = states.get(name)
        ready_probe, detail = probes.get(name, (None, ""))
        serving = state is not None and state.state in SERVING
        ready = serving and (ready_probe is None or ready_probe())
        if serving and not ready:
            detail += " (no health answer)"
        found.append(Component(name, bool(ready), state.pid if state else None, detail,
                               state.state if state else "STOPPED", format_uptime(state.uptime if state else None),
                               state.restarts if state else 0))
    return sorted(found, key=lambda c: c.name != "hub")  # the hub first: `platform status` exits 1 without it


def _probes(profile: HubProfile) -> dict[str, tuple[Any, str]]:
    """Health probe and one-line detail per component name (what answers where)."""
    known = {p.name: (p.ready, p.detail) for p in [*security_programs(profile), hub_program(profile)]}
    return {
        "siem": (None, "SIEM cycle into security.events / security.alerts"),
        "idle-culler": (None, "stops notebook servers idle too long"),
        "postgres": (None, "the demo's source database (make up: var/sources/postgres)"),
        **known,
        "proxy": (lambda: proxy_answers(profile), f"public {hub_url(profile)}, api 127.0.0.1:{profile.proxy_api_port}"),
        "dask-gateway": (lambda: gateway_answers(profile), f"hub service at {hub_url(profile)}{SERVICE_PREFIX}, "
                                                           f"scheduler proxy 127.0.0.1:{profile.gateway_tcp_port}"),
        "dashboards": (lambda: dashboards_answers(profile), f"hub service at {hub_url(profile)}{DASHBOARDS_PREFIX}/"),
    }
