"""The whole local stack, started the way `make up` starts it (``workbench.platform.stack``).

One REAL stack per module: configurable-http-proxy, JupyterHub, Dask Gateway (hub-managed
service, ``SafeLocalBackend``) and the idle culler, on free loopback ports with a temporary
state folder, real Unix users (prefix ``wbt<hex>-``, removed with their homes at
teardown), memory cgroups under this process's own cgroup (removed at teardown) and a tiny
demo lake. The lake lives in the test's own temp folder, which is made world-readable
(0755 folders, 0644 files): the analyst's Unix user reads it as any user would; role-based
zone permissions are a separate piece of the issue. Nothing outside folders these tests
create is chowned or chmodded, and the teardown checks that system paths kept their
owner and mode (the upstream LocalBackend bug chowns ``/``).
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests import hub_support as support
from tests.conftest import TINY_SEED
from tests.hub_support import owners, running_stack, spawn_and_wait, wait_until

SYSTEM_PATHS = ["/", "/usr", "/etc", "/home", "/tmp", "/root", "/work", "/opt", "/var"]
TINY_LAKE_SCALE = 0.02

pytestmark = [pytest.mark.hub,
              pytest.mark.filterwarnings("ignore::distributed.versions.VersionMismatchWarning")]

@dataclass
class Stack:
    profile: object  # HubProfile
    url: str
    root: Path
    lake: Path
    prefix: str
    passwords: dict[str, str]
    system_before: dict[str, tuple[int, int, int]]

    def uid(self, name: str) -> int:
        return pwd.getpwnam(self.prefix + name).pw_uid

    def log(self) -> str:
        from workbench.platform import stack

        return stack.tail(self.profile)  # type: ignore[arg-type]





def load_tiny_world(root: Path) -> dict[str, Any]:
    """The tiny world in the sandbox's lake, readable by the test users, and their audit folder.

    The audit folder the kernels' sessions append to when no audit service is configured:
    sticky and world-writable, in our own temp folder only (the loader's own records go to
    ``<root>/audit``).
    """
    from workbench.demo.load import load_world
    from workbench.session import connect

    lake, audit = root / "lake", root / "audit-users"
    audit.mkdir()
    os.chmod(audit, 0o1777)
    load_world(connect(str(lake), user="tester").lake, seed=TINY_SEED, scale=TINY_LAKE_SCALE, actor="tester")
    for folder, _dirs, files in os.walk(lake):  # only inside our own temp folder
        os.chmod(folder, 0o755)
        for name in files:
            os.chmod(os.path.join(folder, name), 0o644)
    return {"lake": str(lake), "audit_dir": str(audit)}


@pytest.fixture(scope="module")
def running() -> Iterator[Stack]:
    system_before = owners(SYSTEM_PATHS)
    with running_stack("stack", prepare=load_tiny_world, gateway_idle_timeout=600) as s:
        yield Stack(s.profile, s.url, s.root, Path(s.profile.lake), s.prefix, s.passwords, system_before)
    assert owners(SYSTEM_PATHS) == system_before, "a system path changed owner or mode"


def api_token(s: Stack, name: str) -> str:
    return support.api_token(s.url, name, s.passwords[name])


def gateway_config(s: Stack) -> dict[str, str]:
    from workbench.platform import gateway

    env = gateway.single_user_environment(s.profile)  # type: ignore[arg-type]
    return {"gateway.address": env["DASK_GATEWAY__ADDRESS"],
            "gateway.proxy_address": env["DASK_GATEWAY__PROXY_ADDRESS"],
            "gateway.auth.type": "jupyterhub"}


def declaration_files(lake: Path) -> list[str]:
    from deltalake import DeltaTable

    return list(DeltaTable(str(lake / "curated" / "declarations")).file_uris())


# --- the stack itself -----------------------------------------------------------------


def test_status_reports_each_component_and_cli_agrees(running: Stack) -> None:
    from click.testing import CliRunner

    from workbench.cli.platform import platform
    from workbench.platform import stack

    components = {c.name: c for c in stack.status(running.profile)}  # type: ignore[arg-type]
    assert set(components) == {"hub", "proxy", "dask-gateway", "dashboards", "idle-culler", "audit", "siem"}
    assert all(c.running and c.state in ("RUNNING", "STARTING") for c in components.values()), components
    assert len({c.pid for c in components.values()}) == len(components)
    env = running.profile.to_env()  # type: ignore[attr-defined]
    result = CliRunner().invoke(platform, ["status", "--format", "json"], env=env)
    assert result.exit_code == 0, result.output
    listed = json.loads(result.output)
    assert {c["name"]: c["running"] for c in listed} == dict.fromkeys(components, True)
    assert all({"state", "uptime", "restarts", "pid"} <= set(c) for c in listed)
    again = CliRunner().invoke(platform, ["up"], env=env)  # idempotent: finds the running stack, restarts nothing
    assert again.exit_code == 0, again.output
    assert running.url in again.output and "demo-credentials.tsv" in again.output
    assert {c.name: c.pid for c in stack.status(running.profile)} == {c.name: c.pid for c in components.values()}


def test_everything_listens_on_loopback_only(running: Stack) -> None:
    p = running.profile
    ports = {p.port, p.hub_port, p.proxy_api_port, p.gateway_port, p.gateway_api_port, p.gateway_tcp_port}  # type: ignore[attr-defined]
    listening = subprocess.run(["ss", "-Hltn"], capture_output=True, text=True).stdout.splitlines()
    for line in listening:
        local = line.split()[3]
        host, _, port = local.rpartition(":")
        if int(port) in ports:
            assert host in ("127.0.0.1", "[::ffff:127.0.0.1]"), line


# --- Dask Gateway as a hub service -----------------------------------------------------


def test_analyst_gets_a_gateway_cluster_as_own_unix_user_and_computes_on_the_lake(
        running: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    import dask
    import dask.dataframe as dd
    import pyarrow.dataset as ds
    import requests
    from dask_gateway import Gateway

    from workbench import compute

    token = api_token(running, "analyst")
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", token)  # what a notebook server has
    files = declaration_files(running.lake)
    expected = ds.dataset([f.removeprefix("file://") for f in files], format="parquet").count_rows()
    assert expected > 0
    with dask.config.set(gateway_config(running)):
        assert compute.gateway_address() is not None
        with Gateway() as gateway:
            options = gateway.cluster_options()
        assert set(options._fields) == {"worker_cores", "worker_memory"}
        assert options._fields["worker_cores"].max == 1  # analyst limits
        started = time.monotonic()
        cluster = compute.cluster(workers=2)
        try:
            client = cluster.get_client()
            client.wait_for_workers(2, timeout=120)
            seconds = time.monotonic() - started
            print(f"gateway cluster with 2 workers: {seconds:.2f} s")
            (running.root / "gateway_2_workers_seconds").write_text(f"{seconds:.2f}")
            uid = running.uid("analyst")
            assert set(client.run(os.getuid).values()) == {uid}  # workers run as the analyst
            assert client.run_on_scheduler(os.getuid) == uid
            rows = dd.read_parquet(files).map_partitions(len).compute().sum()
            assert rows == expected
            # The worker cap holds whatever the client asks for.
            from dask_gateway.client import GatewayWarning

            with pytest.warns(GatewayWarning, match="Scaling to 2"):
                cluster.scale(5)
            # The dashboard is off (it has no authentication; see gateway.dask_command): its link,
            # through the hub's proxy, answers 404.
            link = cluster.dashboard_link
            assert link.startswith(f"{running.url}/services/dask-gateway/clusters/"), link
            assert requests.get(link, timeout=20).status_code == 404
            wait_until(lambda: len(client.scheduler_info()["workers"]) <= 2, 5, what="worker cap")
            assert len(client.scheduler_info()["workers"]) == 2
            client.close()
        finally:
            cluster.close(shutdown=True)
    clusters = running.profile.state_dir / "gateway" / "clusters"  # type: ignore[attr-defined]
    wait_until(lambda: not any(clusters.iterdir()), 30, what="cluster workdir removed")
    assert owners(SYSTEM_PATHS) == running.system_before


def test_analyst_computes_on_the_lake_with_wb_dask_on_a_gateway_cluster(
        running: Stack, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """``wb.dask`` as an analyst on the analyst's gateway cluster: the answer of ``wb.sql``, written back in one
    commit; the workers read files as the analyst's Unix user, so a table folder the analyst cannot read fails."""
    import dask

    from workbench import compute
    from workbench.session import connect

    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", api_token(running, "analyst"))
    wb = connect(str(running.lake), user="analyst", role="analyst", audit_dir=str(tmp_path / "audit"))
    expected = wb.sql("SELECT port_code, count(*) AS n FROM curated.declarations GROUP BY 1")
    hidden = wb.sql("SELECT declaration_id FROM curated.declarations LIMIT 5")
    wb.write(hidden, "work.root_only", mode="overwrite")
    os.chmod(wb.lake.location.table_uri("work.root_only"), 0o700)  # only root (the writer) reads it
    with dask.config.set(gateway_config(running)):
        cluster = compute.cluster(workers=2)
        try:
            client = cluster.get_client()
            client.wait_for_workers(2, timeout=120)
            assert set(client.run(os.getuid).values()) == {running.uid("analyst")}
            ports = wb.dask("curated.declarations", columns=["port_code"]).groupby("port_code").size()
            assert ports.compute().to_dict() == dict(zip(expected["port_code"], expected["n"], strict=True))
            result = wb.write(ports.rename("n").reset_index(), "work.ports_on_gateway", mode="overwrite")
            assert result.rows_written == expected.height
            with pytest.raises(PermissionError):
                wb.dask("work.root_only").compute()  # the gate let it through; the worker's file permissions did not
            client.close()
        finally:
            cluster.close(shutdown=True)
    assert owners(SYSTEM_PATHS) == running.system_before


def test_manager_and_anonymous_requests_are_refused_by_the_gateway(running: Stack) -> None:
    import requests
    from dask_gateway import Gateway, JupyterHubAuth

    base = f"{running.url}/services/dask-gateway"
    assert requests.get(f"{base}/api/v1/clusters/", timeout=10).status_code == 401
    bad = requests.get(f"{base}/api/v1/clusters/", headers={"Authorization": "jupyterhub nonsense"}, timeout=10)
    assert bad.status_code == 401
    proxy = gateway_config(running)["gateway.proxy_address"]
    manager = Gateway(base, proxy_address=proxy, auth=JupyterHubAuth(api_token=api_token(running, "manager")))
    try:
        with pytest.raises(Exception, match="401|Unauthorized|403|Forbidden"):
            manager.list_clusters()
    finally:
        manager.close()
    # The admin reaches the hub's services list but gets no cluster (no gateway scope).
    admin = Gateway(base, proxy_address=proxy, auth=JupyterHubAuth(api_token=api_token(running, "admin")))
    try:
        with pytest.raises(Exception, match="401|Unauthorized|403|Forbidden"):
            admin.new_cluster()
    finally:
        admin.close()


# --- the kernel in a spawned server -------------------------------------------------------


def run_cell(ws, code: str, timeout: float = 120.0) -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    """Execute ``code`` over the kernel websocket; streams, results and errors by kind."""
    session = uuid.uuid4().hex
    msg_id = uuid.uuid4().hex
    ws.send(json.dumps({
        "header": {"msg_id": msg_id, "username": "test", "session": session, "msg_type": "execute_request",
                   "version": "5.3"},
        "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
        "content": {"code": code, "silent": False, "store_history": False, "user_expressions": {},
                    "allow_stdin": False, "stop_on_error": True},
    }))
    out: dict[str, list[str]] = {"stream": [], "result": [], "error": []}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ws.settimeout(max(0.1, deadline - time.monotonic()))
        msg = json.loads(ws.recv())
        if msg.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        kind, content = msg["msg_type"], msg["content"]
        if kind == "stream":
            out["stream"].append(content["text"])
        elif kind in ("execute_result", "display_data"):
            out["result"].append(content["data"].get("text/plain", ""))
        elif kind == "error":
            out["error"].append(f"{content['ename']}: {content['evalue']}")
        elif kind == "status" and content["execution_state"] == "idle":
            return out
    raise TimeoutError(f"no idle status for {code!r} after {timeout} s")


def test_analyst_kernel_runs_sql_on_the_lake_and_reaches_the_gateway(running: Stack) -> None:
    import requests
    import websocket

    token = api_token(running, "analyst")
    headers = {"Authorization": f"token {token}"}
    server, spawn_seconds = spawn_and_wait(running.url, "analyst", token)
    print(f"spawn-to-ready: {spawn_seconds:.2f} s")
    base = f"{running.url}{server['url']}"
    try:
        made = requests.post(f"{base}api/kernels", json={"name": "customs-workbench"}, headers=headers, timeout=60)
        assert made.status_code == 201, made.text
        kernel = made.json()["id"]
        ws_url = base.replace("http://", "ws://") + f"api/kernels/{kernel}/channels"
        ws = websocket.create_connection(ws_url, header=[f"Authorization: token {token}"], timeout=60)
        try:
            who = run_cell(ws, "import os; print(os.getuid(), os.environ['WORKBENCH_LAKE'], os.environ['WORKBENCH_ROLE'])")
            assert who["error"] == [], who
            uid, lake, role = who["stream"][0].split()
            assert int(uid) == running.uid("analyst") and lake == str(running.lake) and role == "analyst"
            # The kernelspec loaded the workbench extension: %%sql runs on the lake (Polars result).
            counted = run_cell(ws, "%%sql\nSELECT count(*) AS n FROM curated.declarations")
            assert counted["error"] == [], counted
            expected = 0
            import pyarrow.dataset as ds

            expected = ds.dataset([f.removeprefix("file://") for f in declaration_files(running.lake)],
                                  format="parquet").count_rows()
            assert str(expected) in "".join(counted["result"]), counted
            assert "shape: (1, 1)" in "".join(counted["result"]), counted  # a Polars frame
            # The server's own token reaches the gateway: a cluster from inside the notebook.
            gw = run_cell(ws, "\n".join([
                "from workbench import compute",
                "cl = compute.cluster(workers=1)",
                "c = cl.get_client(); c.wait_for_workers(1, timeout=90)",
                "print(type(cl).__name__, c.submit(lambda x: x + 1, 41).result(timeout=60))",
                "c.close(); cl.close(shutdown=True)",
            ]), timeout=150)
            assert gw["error"] == [], gw
            assert "GatewayCluster 42" in "".join(gw["stream"]), gw
        finally:
            ws.close()
    finally:
        requests.delete(f"{running.url}/hub/api/users/analyst/server", headers=headers, timeout=60)


def test_run_as_starts_a_persons_process_in_their_cgroup_with_their_groups_only(tmp_path: Path) -> None:
    """``unix.run_as``: the one way the spawner and the gateway start a person's code."""
    from workbench.platform import unix
    from workbench.platform.cgroups import MemoryCgroups, own_memory_cgroup

    box = support.hub_sandbox("runas")
    user = f"{box.prefix}ana"
    groups = MemoryCgroups(own_memory_cgroup() / f"wbt-runas-{box.tag}")
    try:
        entry = unix.ensure_user(user, box.homes)
        role_group = f"{box.prefix.rstrip('-')}r-analyst"
        unix.ensure_group(role_group)
        unix.set_supplementary_groups(user, {role_group})
        cap = groups.create("ana", "200M")
        probe = "import os; print(os.getuid(), sorted(os.getgroups()), os.getcwd(), open('/proc/self/cgroup').read())"
        done = subprocess.run(["/usr/bin/python3", "-c", probe], capture_output=True, text=True, timeout=60,
                              preexec_fn=unix.run_as(user, cap, entry.pw_dir))
        assert done.returncode == 0, done.stderr
        uid, rest = done.stdout.split(" ", 1)
        assert int(uid) == entry.pw_uid
        assert rest.startswith(str(sorted({entry.pw_gid, grp.getgrnam(role_group).gr_gid})))
        assert f" {entry.pw_dir} " in rest and f"/wbt-runas-{box.tag}/ana" in rest
    finally:
        support.remove_users(box.prefix)
        groups.remove("ana")
        groups.remove_parent()
        shutil.rmtree(box.root, ignore_errors=True)
