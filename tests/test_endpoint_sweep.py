"""Unauthenticated sweep of EVERY endpoint the running stack exposes.

Nothing is listed by hand: with the real stack up (``running_stack``: proxy, hub, Dask
Gateway, idle culler, whatever services the hub config registers, the audit/SIEM
processes ``stack.up`` starts), plus one spawned notebook server and one gateway cluster
with a worker, the sweep enumerates

- every TCP port any process of the stack listens on: the processes named by the pid
  files under the state folder and all their descendants (psutil), so a service another
  engineer registers tomorrow is swept without touching this file;
- every route of the proxy's routing table (``/api/routes``, read with the proxy's token),
  whose prefixes are probed on every port (a target serves its prefix directly too);

and sends each port, for each prefix, the paths a client would use (APIs, UI pages,
files, websockets' HTTP side) without credentials. Each must be refused: 401/403, a
redirect chain that ends on the hub's login form, or 404/405 (nothing served there).
Ports that do not speak HTTP must refuse a TLS handshake without a client certificate
(Dask comms and the gateway's scheduler proxy use mutual TLS). The only 200s allowed are
``PUBLIC``, each with the reason it is public. A gateway cluster's scheduler dashboard is
checked closed on both ways in. The real-time scoring service, which is not part of the hub
stack, is swept on its own: every route of its route table, and the usual paths, with no
token and with wrong ones.
"""

from __future__ import annotations

import re
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from tests.hub_support import RunningStack, api_token, gateway_cluster, running_stack, spawn_and_wait, stop_server
from tests.test_risk_service import access_lines, served  # noqa: F401 - the scoring service, started by its CLI

pytestmark = [pytest.mark.hub, pytest.mark.filterwarnings("ignore::distributed.versions.VersionMismatchWarning")]

# path regex -> why an anonymous 200 is fine there. Matched against the path of the final
# response (after redirects), on any port.
PUBLIC = {
    r"^/hub/login$": "the login form itself",
    r"^/hub/static/.+": "the hub's CSS, JS and images, needed to draw the login form",
    r"^/hub/logo$": "the logo on the login form",
    r"^/hub/api/?$": "JupyterHub's API root: its version only, for clients to check compatibility",
    r"^/hub/health$": "the hub's liveness probe ('ok', no data)",
    r"^(/services/dask-gateway)?/api/health$": "the gateway's liveness probe ({'status': 'pass'}, no data)",
    r"^/user/[^/]+/api/?$": "Jupyter Server's API root: its version only (everything under it needs a token)",
    r"^/services/dashboards/health$": "the dashboards service's liveness probe ({'ok': true}, no data)",
    r"^(/services/dask-gateway/clusters/[^/]+)?/health$": "a Dask scheduler's or worker's liveness probe ('ok')",
}
# A gateway cluster's scheduler serves no dashboard (distributed has no authentication for it):
# its HTTP server keeps only the liveness probe, so the dashboard link dask-gateway hands out
# answers 404 through the gateway's proxy and on the scheduler's loopback port alike
# (workbench/platform/gateway.py). The owner's view is `performance_report` over the
# cluster's mutual-TLS client connection, checked in `busy_stack`.
DASHBOARD_PATHS = ["status", "individual-plots.json", "statics/css/base.css", "tasks", "workers", "graph",
                   "system", "profile", "info/main/workers.html", "metrics", "json/counts.json"]
# What a client asks for under a prefix: APIs, UI pages, files, the HTTP side of websockets.
SUFFIXES = [
    "", "api", "api/status", "api/kernels", "api/sessions", "api/contents", "api/terminals", "api/kernelspecs",
    "api/me", "api/events", "lab", "tree", "files/secret.txt", "nbconvert/html/x.ipynb",
    "hub/api/users", "hub/api/users/analyst", "hub/api/users/analyst/tokens", "hub/api/proxy",
    "hub/api/services", "hub/api/info", "hub/admin", "hub/home", "hub/token", "hub/spawn", "hub/metrics",
    "api/v1/clusters/", "api/v1/options", "clusters/", "api/routes", "metrics", "status", "info/main/workers.html",
    "individual-plots.json", "login", "risk-overview", "lookup", "published/", "score", "health",
]
POSTS = ["api/kernels", "api/contents", "hub/api/users/analyst/server", "hub/api/users/analyst/tokens",
         "api/v1/clusters/", "api/routes/evil", "score"]


@dataclass
class Listener:
    port: int
    owner: str  # process name and the start of its command line
    http: bool = False
    verdicts: dict[str, str] = field(default_factory=dict)  # "GET path" -> status summary


def stack_processes(state: Path) -> dict[int, str]:
    """pid -> description of every process started for the stack: pid files and all descendants."""
    import psutil

    roots = []
    for pid_file in state.rglob("*.pid"):
        try:
            roots.append(psutil.Process(int(pid_file.read_text().strip())))
        except (ValueError, OSError, psutil.Error):
            continue
    found: dict[int, str] = {}
    for proc in roots:
        for p in [proc, *proc.children(recursive=True)]:
            try:
                found[p.pid] = f"{p.name()}: {' '.join(p.cmdline())[:140]}"
            except psutil.Error:
                continue
    return found


def listeners(processes: dict[int, str]) -> tuple[dict[int, Listener], list[str]]:
    """The stack's listening TCP ports, and the ones bound beyond loopback (each one a finding)."""
    import psutil

    ports: dict[int, Listener] = {}
    exposed = []
    for conn in psutil.net_connections(kind="tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.pid in processes:
            if conn.laddr.ip not in ("127.0.0.1", "::ffff:127.0.0.1"):
                exposed.append(f"port {conn.laddr.port} ({processes[conn.pid]}) listens on {conn.laddr.ip}")
            ports.setdefault(conn.laddr.port, Listener(conn.laddr.port, processes[conn.pid]))
    return ports, exposed


def speaks_http(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        s.settimeout(5)
        try:
            return s.recv(5) == b"HTTP/"
        except (TimeoutError, ConnectionError):
            return False


def refuses_tls_without_client_cert(port: int) -> bool:
    """True when a TLS client without a certificate cannot finish a session (mutual TLS or SNI routing)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            with context.wrap_socket(raw, server_hostname="daskgateway") as tls:
                tls.sendall(b"\x00" * 8)  # TLS 1.3 reports a missing client cert on first use
                tls.settimeout(5)
                return tls.recv(1) == b""
    except (ssl.SSLError, ConnectionError, TimeoutError, OSError):
        return True


def public_reason(path: str) -> str | None:
    return next((why for pattern, why in PUBLIC.items() if re.match(pattern, path)), None)


def judge(response: requests.Response) -> str | None:
    """None when the (redirect-followed) response refuses the anonymous client; else what leaked."""
    from urllib.parse import urlsplit

    path = urlsplit(response.url).path
    status = response.status_code
    if status in (401, 403, 404, 405):
        return None
    if status == 200 and public_reason(path):
        return None
    if 300 <= status < 400:  # a redirect left the sweep's hosts, or too many
        return f"redirects to {response.headers.get('location')}"
    return f"{status} at {path}: {response.text[:120]!r}"


@pytest.fixture(scope="module")
def stack() -> Iterator[RunningStack]:
    with running_stack("sweep", gateway_idle_timeout=600) as s:
        yield s


@pytest.fixture(scope="module")
def busy_stack(stack: RunningStack) -> Iterator[RunningStack]:
    """The stack with a notebook server and a gateway cluster (scheduler + 1 worker) running."""
    from dask_gateway import Gateway, JupyterHubAuth

    from workbench.platform import gateway

    token = api_token(stack.url, "analyst", stack.passwords["analyst"])
    spawn_and_wait(stack.url, "analyst", token)
    gw = Gateway(gateway.public_address(stack.profile), proxy_address=gateway.proxy_address(stack.profile),
                 auth=JupyterHubAuth(api_token=token))
    try:
        with gateway_cluster(gw, 1) as (cluster, client):
            (stack.root / "dashboard_link").write_text(cluster.dashboard_link)
            # The owner's authenticated view of what the dashboard showed: a report over the client's TLS link.
            from distributed import performance_report

            with performance_report(filename=str(stack.root / "report.html")):
                assert client.submit(sum, [1, 2]).result() == 3
            yield stack
    finally:
        gw.close()
        stop_server(stack.url, "analyst", token)


def proxy_routes(s: RunningStack) -> dict[str, dict[str, object]]:
    token = (s.profile.private_dir / "proxy_token").read_text().strip()
    api = f"http://127.0.0.1:{s.profile.proxy_api_port}/api/routes"
    assert requests.get(api, timeout=10).status_code == 403
    assert requests.get(api, headers={"Authorization": "token nonsense"}, timeout=10).status_code == 403
    response = requests.get(api, headers={"Authorization": f"token {token}"}, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def test_every_endpoint_refuses_anonymous_requests(busy_stack: RunningStack) -> None:
    from urllib.parse import urlsplit

    s = busy_stack
    routes = proxy_routes(s)
    # The gateway's own proxy routes clusters' dashboards below its prefix (not in CHP's table).
    dashboard = urlsplit((s.root / "dashboard_link").read_text()).path.rsplit("/", 1)[0] + "/"
    prefixes = sorted({"/", dashboard, *[r if r.endswith("/") else r + "/" for r in routes]})
    # The enumeration found the parts the stack is made of (so it would find new ones too).
    assert {"/", "/user/analyst/", "/services/dask-gateway/"} <= set(prefixes), prefixes
    processes = stack_processes(s.profile.state_dir)
    ports, leaks = listeners(processes)
    p = s.profile
    assert {p.port, p.proxy_api_port, p.hub_port, p.gateway_port, p.gateway_api_port, p.gateway_tcp_port} <= set(ports)
    route_targets = {int(t.rsplit(":", 1)[1].split("/")[0]) for t in (r["target"] for r in routes.values())}
    assert route_targets <= set(ports), "a route points at a port no stack process listens on"

    for listener in ports.values():
        listener.http = speaks_http(listener.port)
        if not listener.http:
            if not refuses_tls_without_client_cert(listener.port):
                leaks.append(f"port {listener.port} ({listener.owner}): non-HTTP, accepts a TLS client without a cert")
            continue
        base = f"http://127.0.0.1:{listener.port}"
        for prefix in prefixes:
            for suffix in SUFFIXES:
                path = prefix + suffix
                response = requests.get(base + path, timeout=15)
                verdict = judge(response)
                listener.verdicts[f"GET {path}"] = str(response.status_code)
                if verdict:
                    leaks.append(f"port {listener.port} ({listener.owner}) GET {path}: {verdict}")
            for suffix in POSTS:
                path = prefix + suffix
                response = requests.post(base + path, json={}, timeout=15, allow_redirects=False)
                listener.verdicts[f"POST {path}"] = str(response.status_code)
                if response.status_code not in (301, 302, 303, 307, 308, 401, 403, 404, 405):
                    leaks.append(f"port {listener.port} ({listener.owner}) POST {path}: {response.status_code}")
    for listener in sorted(ports.values(), key=lambda x: x.port):
        print(f"{listener.port:>6} {'http' if listener.http else 'tls '} {len(listener.verdicts):>4} probes  "
              f"{listener.owner[:110]}")
    assert not leaks, "endpoints answering anonymous requests:\n" + "\n".join(leaks)


def test_the_scheduler_serves_no_dashboard_through_the_gateway_or_on_its_port(busy_stack: RunningStack) -> None:
    """The dashboard dask-gateway links to is gone on both ways in; the route itself still works
    (its liveness probe answers), so the 404s are the scheduler's, not a missing route's."""
    import psutil

    link = (busy_stack.root / "dashboard_link").read_text()
    base = link.rsplit("/", 1)[0]
    assert requests.get(f"{base}/health", timeout=15).status_code == 200
    for path in DASHBOARD_PATHS:
        response = requests.get(f"{base}/{path}", timeout=15)
        assert response.status_code == 404, (path, response.status_code, response.text[:120])
    # The scheduler's own HTTP port on loopback, found from its process (run as the analyst).
    schedulers = [psutil.Process(pid) for pid in stack_processes(busy_stack.profile.state_dir)
                  if "dask_gateway.scheduler_preload" in psutil.Process(pid).cmdline()]
    assert len(schedulers) == 1, schedulers
    assert "--no-dashboard" in schedulers[0].cmdline()
    http_ports = [c.laddr.port for c in schedulers[0].net_connections(kind="tcp")
                  if c.status == psutil.CONN_LISTEN and speaks_http(c.laddr.port)]
    # Its HTTP server (the liveness probe) and dask-gateway's preload API (heartbeats, token-checked).
    probes = [port for port in http_ports if requests.get(f"http://127.0.0.1:{port}/health", timeout=15).ok]
    assert len(probes) == 1, f"the scheduler's HTTP server is not among {http_ports}"
    for port in http_ports:
        for path in DASHBOARD_PATHS:
            status = requests.get(f"http://127.0.0.1:{port}/{path}", timeout=15).status_code
            assert status in (401, 403, 404), (port, path, status)
    report = (busy_stack.root / "report.html").read_text()
    assert "Task Stream" in report and "bokeh" in report.lower()  # the owner still sees the plots


# The real-time scoring service is not part of the hub stack (see README, security): it is
# started by `workbench models serve` wherever a model is promoted, with its own bearer token.
SCORING_PUBLIC = {r"^/health$": "the scoring service's liveness probe (model name and version, no data)"}


def test_the_scoring_service_refuses_every_route_without_the_right_token(served: dict[str, object]) -> None:
    """Every route of the service's own table, and the sweep's usual paths, with no token and a wrong one."""
    from workbench.risk.service import make_app

    app = make_app(served["model"], served["version"], "unused")  # type: ignore[arg-type]
    routes = {route.path: set(route.methods or ()) for route in app.routes}  # type: ignore[attr-defined]
    assert "/score" in routes and "POST" in routes["/score"], routes
    probes = {(method, path) for path, methods in routes.items() for method in methods | {"GET", "POST"}}
    probes |= {("GET", "/" + suffix) for suffix in SUFFIXES} | {("POST", "/" + suffix) for suffix in POSTS}
    before = len(access_lines(served))
    leaks, sent = [], 0
    for method, path in sorted(probes):
        for headers in ({}, {"Authorization": "Bearer wrong-token"}, {"Authorization": "token wrong-token"}):
            response = requests.request(method, f"{served['url']}{path}", headers=headers, json={}, timeout=15)
            sent += 1
            public = response.status_code == 200 and method in ("GET", "HEAD") and any(
                re.match(pattern, path) for pattern in SCORING_PUBLIC)
            if not public and response.status_code not in (401, 403, 404, 405):
                leaks.append(f"{method} {path} {headers or 'no token'}: {response.status_code} {response.text[:80]!r}")
    assert not leaks, "scoring service answers without the right token:\n" + "\n".join(leaks)
    logged = access_lines(served, before, expect=sent)
    assert len(logged) == sent and {line["identity"] for line in logged} == {"anonymous"}
    refused = [line for line in logged if line["path"] == "/score" and line["method"] == "POST"]
    assert refused and {line["status"] for line in refused} == {401}
