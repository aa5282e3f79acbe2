"""What the hub and stack tests share: polling, login through the real form, tokens,
spawning, and cleaning up the Unix users a test created."""

from __future__ import annotations

import gc
import json
import os
import pwd
import shutil
import stat
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


class AlertWebhook(BaseHTTPRequestHandler):
    """A local webhook sink for SIEM alerts: each POSTed JSON body lands in ``received``."""

    received: list[dict[str, Any]] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def siem_alerts_to_webhook(interval: float) -> Iterator[list[dict[str, Any]]]:
    """Stacks started inside run their SIEM loop every ``interval`` seconds and post alerts to a
    local webhook (through the environment the stack inherits); yields the batches it received."""
    handler = type("Webhook", (AlertWebhook,), {"received": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    saved = {k: os.environ.get(k) for k in ("WORKBENCH_SIEM_INTERVAL", "WORKBENCH_SIEM_SINKS")}
    os.environ["WORKBENCH_SIEM_INTERVAL"] = str(interval)
    os.environ["WORKBENCH_SIEM_SINKS"] = json.dumps(
        [{"kind": "webhook", "url": f"http://127.0.0.1:{server.server_address[1]}/alerts"}])
    try:
        yield handler.received
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        server.shutdown()
        server.server_close()


def wait_until(predicate: Callable[[], T], timeout: float, interval: float = 0.1, what: str = "condition") -> T:
    """Poll ``predicate`` until it returns something truthy; never a fixed sleep."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"{what} not met after {timeout} s")


def owners(paths: list[str]) -> dict[str, tuple[int, int, int]]:
    """(uid, gid, mode) of each existing path: compared before and after to prove nothing was chowned."""
    result = {}
    for p in paths:
        if os.path.lexists(p):
            s = os.lstat(p)
            result[p] = (s.st_uid, s.st_gid, stat.S_IMODE(s.st_mode))
    return result


def remove_users(prefix: str) -> None:
    """Kill the processes of, and delete with their homes, every Unix user named ``prefix*``;
    then the role groups a hub with that user prefix created (``<prefix stem>r-<role>``)."""
    for entry in pwd.getpwall():
        if entry.pw_name.startswith(prefix):
            subprocess.run(["pkill", "-KILL", "-u", entry.pw_name], check=False)
            subprocess.run(["userdel", "--remove", "--force", entry.pw_name], check=False, capture_output=True)
    remove_groups(prefix.rstrip("-") + "r-")


def login(url: str, name: str, password: str) -> tuple[Any, Any]:
    """Log in through the real form: GET for the _xsrf cookie, POST it back as a field."""
    import requests

    session = requests.Session()
    session.get(f"{url}/hub/login", timeout=10).raise_for_status()
    xsrf = session.cookies.get("_xsrf")
    assert xsrf, "login page set no _xsrf cookie"
    response = session.post(f"{url}/hub/login", timeout=30, allow_redirects=False,
                            data={"username": name, "password": password, "_xsrf": xsrf})
    return session, response


def api_token(url: str, name: str, password: str) -> str:
    """Log in and make an API token carrying the user's own permissions."""
    session, response = login(url, name, password)
    assert response.status_code == 302, response.text[:300]
    made = session.post(f"{url}/hub/api/users/{name}/tokens", json={"note": "test", "expires_in": 900},
                        headers={"X-XSRFToken": session.cookies.get("_xsrf")}, timeout=10)
    assert made.status_code == 201, made.text
    return str(made.json()["token"])


def spawn_and_wait(url: str, name: str, token: str, timeout: float = 90) -> tuple[dict[str, Any], float]:
    """Start ``name``'s server through the REST API; return its model once ready and the seconds it took."""
    import requests

    headers = {"Authorization": f"token {token}"}
    started = time.monotonic()
    response = requests.post(f"{url}/hub/api/users/{name}/server", headers=headers, timeout=60)
    assert response.status_code in (201, 202), response.text

    def ready() -> dict[str, Any] | None:
        model = requests.get(f"{url}/hub/api/users/{name}", headers=headers, timeout=10).json()
        server = model.get("servers", {}).get("")
        return server if server and server.get("ready") else None

    server = wait_until(ready, timeout, what=f"{name}'s server ready")
    return server, time.monotonic() - started


REPO = Path(__file__).resolve().parents[1]
PROXY = REPO / "var" / "npm" / "node_modules" / ".bin" / "configurable-http-proxy"
IS_ROOT = os.geteuid() == 0


@dataclass(frozen=True)
class Sandbox:
    """A throwaway hub home: a unique Unix-user prefix and a temp folder the users can enter."""

    tag: str
    prefix: str
    root: Path
    homes: Path


def hub_sandbox(kind: str) -> Sandbox:
    """Check the machine can run a real hub, then make the folders a hub test owns.

    Skips without root or the cgroup v1 memory controller (users and caps need both);
    fails when the proxy `make test` installs is missing.
    """
    import pytest

    from workbench.platform.cgroups import MemoryCgroups

    if not IS_ROOT or not MemoryCgroups.available():
        pytest.skip(f"the {kind} tests need root (Unix users) and the cgroup v1 memory controller")
    assert PROXY.exists(), f"configurable-http-proxy is not installed at {PROXY}: `make test` installs it"
    tag = uuid.uuid4().hex[:4]
    root = Path(tempfile.mkdtemp(prefix=f"wbt-{kind}-"))
    os.chmod(root, 0o755)  # our own temp folder: the Unix users must reach userenv/, homes/ (and the lake)
    homes = root / "homes"
    homes.mkdir(mode=0o755)
    os.chmod(homes, 0o755)
    return Sandbox(tag, f"wbt{tag}-", root, homes)


def remove_cgroups(parent: Path) -> None:
    """Remove every child memory cgroup of ``parent`` (moving leftover processes up), then ``parent``."""
    from workbench.platform.cgroups import MemoryCgroups

    groups = MemoryCgroups(parent)
    if parent.exists():
        for child in parent.iterdir():
            if child.is_dir():
                groups.remove(child.name)
        groups.remove_parent()


@dataclass
class RunningStack:
    """A local stack started by ``running_stack``: where it answers and who may log in."""

    profile: Any  # HubProfile
    url: str
    root: Path
    prefix: str
    passwords: dict[str, str]
    cgroup_parent: Path


@contextmanager
def running_stack(kind: str, up_timeout: float = 120, prepare: Callable[[Path], Mapping[str, Any]] | None = None,
                  sources_of: Callable[[Path], Path] | None = None, **profile_fields: Any) -> Iterator[RunningStack]:
    """The whole local stack as `make up` starts it, in a sandbox; everything it made goes at exit.

    Free loopback ports, a temp state folder, Unix users ``wbt<hex>-*`` with temp homes and
    memory cgroups under this process's own cgroup; ``profile_fields`` override the rest
    of the ``HubProfile`` (lake, audit_dir, timeouts). ``prepare`` runs first, inside the
    sandbox (its root folder given), and returns more profile fields: a test that loads a
    lake before the stack starts. ``sources_of`` names the sandbox's ``demo publish-sources``
    folder, whose PostgreSQL supervisord then runs too.
    """
    from tests.conftest import free_port
    from workbench.platform import stack
    from workbench.platform.cgroups import own_memory_cgroup
    from workbench.platform.profile import HubProfile
    from workbench.security.accounts import read_credentials

    box = hub_sandbox(kind)
    cgroup_parent = own_memory_cgroup() / f"wbt-{kind}-{box.tag}"
    fields: dict[str, Any] = {
        "state_dir": box.root / "state", "port": free_port(), "hub_port": free_port(),
        "proxy_api_port": free_port(), "gateway_port": free_port(), "gateway_api_port": free_port(),
        "gateway_tcp_port": free_port(), "home_root": box.homes, "unix_prefix": box.prefix,
        "cgroup_parent": str(cgroup_parent),
        "lake": str(box.root / "lake"),  # also keeps the audit trail (<lake>/../audit) in the sandbox
        **profile_fields,
    }
    try:
        profile = HubProfile(**{**fields, **(prepare(box.root) if prepare else {})})
    except BaseException:
        shutil.rmtree(box.root, ignore_errors=True)
        raise
    try:
        url = stack.up(profile, timeout=up_timeout, sources=sources_of(box.root) if sources_of else None)
        yield RunningStack(profile, url, box.root, box.prefix, read_credentials(profile.credentials_file),
                           cgroup_parent)
    finally:
        stack.down(profile)
        remove_users(box.prefix)
        remove_cgroups(cgroup_parent)
        shutil.rmtree(box.root, ignore_errors=True)


def stop_server(url: str, name: str, token: str, timeout: float = 60) -> None:
    """Stop ``name``'s default server through the REST API and wait until the hub reports it gone."""
    import requests

    headers = {"Authorization": f"token {token}"}
    response = requests.delete(f"{url}/hub/api/users/{name}/server", headers=headers, timeout=timeout)
    assert response.status_code in (202, 204), response.text

    def stopped() -> bool:
        model = requests.get(f"{url}/hub/api/users/{name}", headers=headers, timeout=10).json()
        return "" not in model.get("servers", {})

    wait_until(stopped, timeout, what=f"{name}'s server stopped")


def remove_groups(prefix: str) -> None:
    """Delete every Unix group named ``prefix*`` (role groups a test hub or lake plan created)."""
    import grp

    for entry in grp.getgrall():
        if entry.gr_name.startswith(prefix):
            subprocess.run(["groupdel", entry.gr_name], check=False, capture_output=True)


@contextmanager
def gateway_cluster(gateway: Any, workers: int, timeout: float = 120) -> Iterator[tuple[Any, Any]]:
    """A new cluster from a dask_gateway ``Gateway``, scaled to ``workers`` that a client sees; shut down at exit.

    The garbage collector is paused meanwhile and run here afterwards: dask-gateway
    2026.3's ``Gateway.__del__`` closes the client synchronously on its own event loop,
    which deadlocks when a collection happens to run on that loop's thread (seen here:
    the benchmark hung in ``wait_for_workers``).
    """
    gc.collect()
    gc.disable()
    try:
        cluster = gateway.new_cluster()
        try:
            cluster.scale(workers)
            client = cluster.get_client()
            client.wait_for_workers(workers, timeout=timeout)
            yield cluster, client
            client.close()
        finally:
            cluster.close(shutdown=True)  # also closes the cluster's own gateway client
    finally:
        gc.enable()
        gc.collect()


# ----------------------------------------------------------------------------- the shared dashboards stack


@dataclass
class DashboardsStack:
    """The dashboards stack the publishing, devices and source viewer tests share (``dashboards_stack``)."""

    profile: Any  # HubProfile
    url: str
    lake: Path
    passwords: dict[str, str]
    artifacts: Path

    @property
    def dashboards(self) -> str:
        return self.url + "/services/dashboards"


def app_processes(profile: Any, name: str | None = None) -> dict[int, int]:
    """pid -> uid of the published-app servers (of ``name``, or all) this stack's service started."""
    base = str(profile.state_dir / "dashboards-apps") + "/"
    found = {}
    for entry in Path("/proc").iterdir():
        try:
            args = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
            uid = entry.stat().st_uid
        except (OSError, ValueError):
            continue
        folders = [a for a in args if a.startswith(base)]
        if "workbench.apps.published_server" in args and folders and name in (None, folders[0][len(base):]):
            found[int(entry.name)] = uid
    return found


def lingering_apps(profile: Any, timeout: float = 15.0) -> dict[int, int]:
    """Published-app servers of this stack still alive after ``timeout`` s (polled; none is expected)."""
    deadline = time.monotonic() + timeout
    while (left := app_processes(profile)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


@contextmanager
def dashboards_stack(world_lake: str, artifacts: Path) -> Iterator[DashboardsStack]:
    """Hub, proxy and the dashboards service (no gateway) over a copy of ``world_lake``, as `make up` starts them.

    Free ports, ``wbt<hex>-`` users, the published apps' memory cgroups under this
    process's own; an ``analyst2`` account besides the demo ones. At exit no published
    app's server may outlive ``stack.down``.
    """
    from tests.conftest import free_port
    from workbench.platform import stack
    from workbench.platform.cgroups import own_memory_cgroup
    from workbench.platform.profile import HubProfile
    from workbench.security.accounts import AccountStore, read_credentials

    box = hub_sandbox("dash")
    cgroup_parent = own_memory_cgroup() / f"wbt-dash-{box.tag}"  # the published apps' memory caps
    lake = box.root / "lake"
    shutil.copytree(world_lake, lake)
    for folder, _dirs, files in os.walk(lake):  # only inside our own temp folder
        os.chmod(folder, 0o755)
        for name in files:
            os.chmod(os.path.join(folder, name), 0o644)
    audit = box.root / "audit-users"
    audit.mkdir()
    os.chmod(audit, 0o1777)
    profile = HubProfile(state_dir=box.root / "state", port=free_port(), hub_port=free_port(),
                         proxy_api_port=free_port(), dashboards_port=free_port(), home_root=box.homes,
                         unix_prefix=box.prefix, lake=str(lake), audit_dir=str(audit), gateway=False,
                         cgroup_parent=str(cgroup_parent))
    print(f"\nbrowser artifacts: {artifacts}")
    try:
        started = time.monotonic()
        url = stack.up(profile, timeout=180)
        print(f"stack up (hub + proxy + dashboards service healthy): {time.monotonic() - started:.2f} s")
        passwords = read_credentials(profile.credentials_file)
        passwords["analyst2"] = AccountStore(profile.state_dir).add("analyst2", "analyst")
        yield DashboardsStack(profile, url, lake, passwords, artifacts)
    finally:
        stack.down(profile)
        left = lingering_apps(profile)  # checked before remove_users kills the test users' processes
        remove_users(box.prefix)
        remove_cgroups(cgroup_parent)
        shutil.rmtree(box.root, ignore_errors=True)
    assert not left, f"published app servers outlived `stack.down`: {left}"
