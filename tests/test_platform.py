"""The multi-user platform: accounts, real hub login, RBAC, sandboxed servers, memory caps.

The hub tests start a REAL JupyterHub and configurable-http-proxy on free loopback ports
with a temporary state folder, real Unix users (prefix ``wbt<hex>-``, removed with their
homes at teardown) and memory cgroups nested under this process's own cgroup (removed
at teardown). Nothing outside folders the tests create is chowned or chmodded.
"""

from __future__ import annotations

import multiprocessing
import os
import pwd
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import free_port
from workbench.security.accounts import (
    MAX_FAILURES,
    AccountError,
    AccountStore,
    PasswordPolicyError,
    Role,
    check_password_policy,
    ensure_demo_accounts,
    read_credentials,
)
from tests import hub_support as support
from tests.hub_support import (
    IS_ROOT,
    REPO,
    gateway_cluster,
    hub_sandbox,
    owners,
    remove_cgroups,
    remove_users,
    spawn_and_wait,
    wait_until,
)
from workbench.platform.cgroups import MemoryCgroups, own_memory_cgroup

GOOD = "Correct-Horse-42-battery"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)





# --- accounts -----------------------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> AccountStore:
    return AccountStore(tmp_path)


@pytest.mark.parametrize(("name", "password", "rule"), [
    ("alice", "short-1A", "shorter than 12"),
    ("alice", "my-alice-password-1", "user name"),
    ("alice", "Password1234", "common"),
    ("alice", "aaaaabbbbbbbbbbb", "distinct"),
])
def test_password_policy_rejects_weak_passwords(name: str, password: str, rule: str) -> None:
    with pytest.raises(PasswordPolicyError, match=rule):
        check_password_policy(name, password)
    check_password_policy(name, GOOD)


def test_store_keeps_only_an_argon2_hash_in_private_files(store: AccountStore) -> None:
    store.add("alice", Role.ANALYST, GOOD)
    assert mode(store.folder) == 0o700
    assert mode(store.path) == 0o600
    raw = store.path.read_bytes()
    assert GOOD.encode() not in raw
    assert b"$argon2id$" in raw
    assert store.verify("alice", GOOD) is not None
    assert store.verify("alice", GOOD + "x") is None


def test_same_password_gets_different_hashes(store: AccountStore) -> None:
    import sqlite3

    store.add("alice", Role.ANALYST, GOOD)
    store.add("bob", Role.ANALYST, GOOD)
    hashes = [h for (h,) in sqlite3.connect(store.path).execute("SELECT hash FROM accounts")]
    assert len(set(hashes)) == 2  # per-user salt


def test_lockout_after_max_failures_until_admin_enables(store: AccountStore) -> None:
    store.add("alice", Role.ANALYST, GOOD)
    for _ in range(MAX_FAILURES):
        assert store.verify("alice", "wrong-password-123") is None
    account = store.get("alice")
    assert account is not None and account.locked
    assert store.verify("alice", GOOD) is None  # the right password no longer helps
    store.set_enabled("alice", True)
    assert store.verify("alice", GOOD) is not None


def test_success_resets_failure_count(store: AccountStore) -> None:
    store.add("alice", Role.ANALYST, GOOD)
    for _ in range(MAX_FAILURES - 1):
        store.verify("alice", "wrong-password-123")
    assert store.verify("alice", GOOD) is not None
    assert store.get("alice").failures == 0  # type: ignore[union-attr]


def test_disabled_account_is_refused_and_roles_change(store: AccountStore) -> None:
    store.add("alice", Role.ANALYST, GOOD)
    store.set_enabled("alice", False)
    assert store.verify("alice", GOOD) is None
    store.set_enabled("alice", True)
    store.set_role("alice", "manager")
    assert store.verify("alice", GOOD).role is Role.MANAGER  # type: ignore[union-attr]
    with pytest.raises(AccountError, match="unknown role"):
        store.set_role("alice", "wizard")
    with pytest.raises(AccountError, match="exists already"):
        store.add("alice", Role.ANALYST, GOOD)
    with pytest.raises(AccountError, match="no account"):
        store.set_enabled("nobody", False)


def test_reset_password_applies_policy_and_replaces_old(store: AccountStore) -> None:
    store.add("alice", Role.ANALYST, GOOD)
    with pytest.raises(PasswordPolicyError):
        store.reset_password("alice", "short")
    new = store.reset_password("alice")
    assert store.verify("alice", GOOD) is None
    assert store.verify("alice", new) is not None


def test_demo_accounts_get_random_passwords_in_a_0600_file(tmp_path: Path) -> None:
    store = AccountStore(tmp_path)
    creds = ensure_demo_accounts(store, tmp_path / "private" / "creds.tsv")
    assert mode(creds) == 0o600
    passwords = read_credentials(creds)
    assert set(passwords) == {"analyst", "modeller", "manager", "field-officer", "admin"}
    assert len(set(passwords.values())) == 5
    for name, password in passwords.items():
        account = store.verify(name, password)
        assert account is not None and account.role.value == name.replace("-", "_")  # names take no "_"
    before = creds.read_text()
    ensure_demo_accounts(store, creds)  # second start: nothing changes
    assert creds.read_text() == before
    other = read_credentials(ensure_demo_accounts(AccountStore(tmp_path / "b"), tmp_path / "b.tsv"))
    assert other["analyst"] != passwords["analyst"]


def test_users_cli_adds_disables_and_lists(tmp_path: Path) -> None:
    import json

    from click.testing import CliRunner

    from workbench.cli.users import users

    runner = CliRunner()
    base = ["--base-dir", str(tmp_path)]
    result = runner.invoke(users, ["add", "carol", "--role", "modeller", *base])
    assert result.exit_code == 0, result.output
    password = re.search(r"password: (\S+)", result.output).group(1)  # type: ignore[union-attr]
    assert AccountStore(tmp_path).verify("carol", password) is not None
    assert runner.invoke(users, ["disable", "carol", *base]).exit_code == 0
    listed = json.loads(runner.invoke(users, ["list", "--format", "json", *base]).output)
    assert listed == [{**listed[0], "name": "carol", "role": "modeller", "enabled": False}]
    assert runner.invoke(users, ["set-role", "carol", "--role", "analyst", *base]).exit_code == 0
    assert runner.invoke(users, ["enable", "carol", *base]).exit_code == 0
    bad = runner.invoke(users, ["add", "dave", "--role", "wizard", *base])
    assert bad.exit_code != 0
    result = runner.invoke(users, ["reset-password", "carol", *base])
    new = re.search(r"password: (\S+)", result.output).group(1)  # type: ignore[union-attr]
    assert AccountStore(tmp_path).verify("carol", new).role is Role.ANALYST  # type: ignore[union-attr]


# --- the single-user environment ---------------------------------------------------

SERVER_CHECK = """
import sys
{boot}
from jupyter_server.serverapp import ServerApp
app = ServerApp()
app.initialize(["--allow-root", "--no-browser", "--ip=127.0.0.1", "--port=0", "--ServerApp.log_level=WARN"])
loaded = sorted(n for n, e in app.extension_manager.extensions.items() if e.enabled)
print(loaded, "panel" in sys.modules, sys.modules.get("rfc3987_syntax") is not None)
"""


def test_user_env_server_starts_without_the_trimmed_extensions_and_parsers() -> None:
    from workbench.platform.userenv import SERVER_BOOT, SERVER_EXTENSIONS_OFF, build_user_env, singleuser_cmd

    root = Path(tempfile.mkdtemp(prefix="wbt-userenv-"))
    try:
        os.chmod(root, 0o755)
        python = build_user_env(root / "env")
        assert build_user_env(root / "env") == python  # idempotent
        assert singleuser_cmd(python) == [str(python), "-c", SERVER_BOOT]
        boot = SERVER_BOOT.replace("from jupyterhub.singleuser import main; sys.exit(main())", "")
        out = subprocess.run([str(python), "-c", SERVER_CHECK.format(boot=boot)], capture_output=True, text=True,
                             timeout=180, cwd=root)
        assert out.returncode == 0, out.stderr[-2000:]
        loaded, panel_imported, parser_imported = out.stdout.strip().rsplit(" ", 2)
        assert "'jupyterlab'" in loaded and "'jupyter_server_terminals'" in loaded
        assert not any(f"'{name}'" in loaded for name in SERVER_EXTENSIONS_OFF)
        assert (panel_imported, parser_imported) == ("False", "False")
        # Every file other users need is readable by them (links resolve into the world-readable venv).
        for path in (root / "env").rglob("*"):
            assert path.stat().st_mode & 0o004, path
    finally:
        shutil.rmtree(root, ignore_errors=True)


# --- memory cgroup ------------------------------------------------------------------

needs_cgroups = pytest.mark.skipif(not (IS_ROOT and MemoryCgroups.available()),
                                   reason="needs root and a writable cgroup v1 memory controller")

ALLOCATE = "import sys; b = b'x' * (300 << 20); print('survived'); sys.exit(0)"
IDLE = "import sys; b = b'y' * (10 << 20); sys.stdin.read(); print('alive', len(b))"


@needs_cgroups
def test_memory_cap_kills_the_over_allocating_process_only() -> None:
    groups = MemoryCgroups(own_memory_cgroup() / f"wbt-{uuid.uuid4().hex[:8]}")
    group = groups.create("cap", "100M")
    assert int((group / "memory.limit_in_bytes").read_text()) == 100 << 20
    sibling = subprocess.Popen([sys.executable, "-c", IDLE], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               preexec_fn=lambda: MemoryCgroups.join(group))
    try:
        hog = subprocess.run([sys.executable, "-c", ALLOCATE], capture_output=True, timeout=60,
                             preexec_fn=lambda: MemoryCgroups.join(group))
        assert hog.returncode == -signal.SIGKILL, hog
        assert b"survived" not in hog.stdout
        assert groups.oom_kills("cap") >= 1
        assert sibling.poll() is None
        out, _ = sibling.communicate(b"", timeout=30)
        assert sibling.returncode == 0 and out.startswith(b"alive")
    finally:
        if sibling.poll() is None:
            sibling.kill()
            sibling.wait()
        groups.remove("cap")
        groups.remove_parent()
    assert not groups.parent.exists()


def _make_and_drop_groups(parent: str, worker: int, rounds: int) -> int:
    """One process's share of the race: make a group, list the parent, remove the group and the parent."""
    groups = MemoryCgroups(parent)
    for i in range(rounds):
        name = f"w{worker}-{i}"
        groups.create(name, "64M")
        groups.names("w")
        groups.remove(name)
        groups.remove_parent()
    return rounds


@needs_cgroups
def test_processes_sharing_a_parent_group_never_trip_over_its_removal() -> None:
    """Fetchers of concurrent ingest processes share one parent and each removes it once empty:
    a fetch must never fail because another process removed the parent under it (a CI run did)."""
    parent = own_memory_cgroup() / f"wbt-{uuid.uuid4().hex[:8]}"
    try:
        with multiprocessing.get_context("fork").Pool(4) as pool:
            done = pool.starmap(_make_and_drop_groups, [(str(parent), w, 150) for w in range(4)])
        assert done == [150] * 4
        assert not parent.exists()
    finally:
        remove_cgroups(parent)  # what a failed run left


# --- the real hub -------------------------------------------------------------------


@dataclass
class Hub:
    url: str
    root: Path
    state: Path
    prefix: str
    passwords: dict[str, str]
    cgroup_parent: Path
    proc: subprocess.Popen[bytes]

    @property
    def store(self) -> AccountStore:
        return AccountStore(self.state)

    def log(self) -> str:
        return (self.root / "hub.log").read_text(errors="replace")[-4000:]


@pytest.fixture(scope="module")
def hub() -> Iterator[Hub]:
    box = hub_sandbox("hub")
    tag, prefix, root, homes = box.tag, box.prefix, box.root, box.homes
    cgroup_parent = own_memory_cgroup() / f"wbt-hub-{tag}"
    port = free_port()
    env = {
        **os.environ,
        "WORKBENCH_HUB_STATE": str(root / "state"),
        "WORKBENCH_HUB_PORT": str(port),
        "WORKBENCH_HUB_HUB_PORT": str(free_port()),
        "WORKBENCH_HUB_PROXY_API_PORT": str(free_port()),
        "WORKBENCH_HUB_HOME_ROOT": str(homes),
        "WORKBENCH_HUB_UNIX_PREFIX": prefix,
        "WORKBENCH_HUB_CGROUP_PARENT": str(cgroup_parent),
    }
    from workbench.platform.hubconfig import prepare
    from workbench.platform.profile import HubProfile

    prepare(HubProfile(state_dir=root / "state", home_root=homes, unix_prefix=prefix))  # what `platform up` makes
    log = open(root / "hub.log", "wb")
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "jupyterhub"), "-f", str(REPO / "hub_config" / "jupyterhub_config.py")],
        env=env, cwd=root, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        import requests

        def ready() -> bool:
            if proc.poll() is not None:
                raise RuntimeError(f"hub exited: {(root / 'hub.log').read_text()[-3000:]}")
            try:
                return requests.get(f"{url}/hub/api/", timeout=2).status_code == 200
            except requests.RequestException:
                return False

        wait_until(ready, 120, what="hub answering through the proxy")
        state = root / "state"
        passwords = read_credentials(state / "private" / "demo-credentials.tsv")
        yield Hub(url, root, state, prefix, passwords, cgroup_parent, proc)
    finally:
        proxy_pid = root / "state" / "private" / "proxy.pid"
        proxy = int(proxy_pid.read_text()) if proxy_pid.exists() else None
        proc.send_signal(signal.SIGTERM)  # the hub stops its servers, services and proxy
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
        if proxy is not None:
            try:
                os.kill(proxy, signal.SIGTERM)
            except ProcessLookupError:
                pass
        remove_users(prefix)
        remove_cgroups(cgroup_parent)
        shutil.rmtree(root, ignore_errors=True)


def login(hub: Hub, name: str, password: str):  # type: ignore[no-untyped-def]
    return support.login(hub.url, name, password)


def api_token(hub: Hub, name: str) -> str:
    return support.api_token(hub.url, name, hub.passwords[name])


def logged_in(session) -> bool:  # type: ignore[no-untyped-def]
    return any(c.name.startswith("jupyterhub-session") or c.name == "jupyterhub-hub-login" for c in session.cookies)


@pytest.mark.hub
@pytest.mark.parametrize("name", ["analyst", "modeller", "manager", "admin"])
def test_each_demo_account_logs_in_through_the_form(hub: Hub, name: str) -> None:
    session, response = login(hub, name, hub.passwords[name])
    assert response.status_code == 302, (response.status_code, hub.log())
    assert logged_in(session)
    me = session.get(f"{hub.url}/hub/api/user", headers={"X-XSRFToken": session.cookies.get("_xsrf")}, timeout=10)
    assert me.status_code == 200, me.text
    assert me.json()["name"] == name
    assert me.json()["groups"] == [name]  # the role arrives as the user's one group
    home = Path(pwd.getpwnam(hub.prefix + name).pw_dir)
    assert home.parent == hub.root / "homes" and mode(home) == 0o700
    assert home.stat().st_uid == pwd.getpwnam(hub.prefix + name).pw_uid


@pytest.mark.hub
def test_wrong_password_and_unknown_user_are_refused(hub: Hub) -> None:
    for name, password in [("analyst", "not-the-password-1"), ("nobody", "whatever-password-1")]:
        session, response = login(hub, name, password)
        assert response.status_code == 403
        assert not logged_in(session)
    assert not any(e.pw_name == hub.prefix + "nobody" for e in pwd.getpwall())


@pytest.mark.hub
def test_disabled_account_is_refused_even_with_its_password(hub: Hub) -> None:
    password = hub.store.add("retired", Role.ANALYST)
    _, response = login(hub, "retired", password)
    assert response.status_code == 302  # works while enabled
    hub.store.set_enabled("retired", False)
    session, response = login(hub, "retired", password)
    assert response.status_code == 403
    assert not logged_in(session)


@pytest.mark.hub
def test_unauthenticated_api_requests_are_refused(hub: Hub) -> None:
    import requests

    for path in ["/hub/api/users", "/hub/api/users/analyst", "/hub/api/users/analyst/tokens"]:
        assert requests.get(hub.url + path, timeout=10).status_code == 403, path
    assert requests.post(f"{hub.url}/hub/api/users/analyst/server", timeout=10).status_code == 403
    bad = requests.get(f"{hub.url}/hub/api/users", headers={"Authorization": "token nonsense"}, timeout=10)
    assert bad.status_code == 403


@pytest.mark.hub
def test_rbac_only_admin_lists_users_and_manager_cannot_spawn(hub: Hub) -> None:
    import requests

    def get(name: str, path: str) -> int:
        token = api_token(hub, name)
        return requests.get(hub.url + path, headers={"Authorization": f"token {token}"}, timeout=10).status_code

    assert get("admin", "/hub/api/users") == 200
    assert get("analyst", "/hub/api/users") == 403
    manager = api_token(hub, "manager")
    spawn = requests.post(f"{hub.url}/hub/api/users/manager/server",
                          headers={"Authorization": f"token {manager}"}, timeout=10)
    assert spawn.status_code == 403, spawn.text
    other = requests.post(f"{hub.url}/hub/api/users/analyst/server",
                          headers={"Authorization": f"token {manager}"}, timeout=10)
    assert other.status_code in (403, 404)


@pytest.mark.hub
def test_analyst_server_runs_as_own_user_capped_and_private(hub: Hub) -> None:
    import requests

    token = api_token(hub, "analyst")
    headers = {"Authorization": f"token {token}"}
    server, spawn_seconds = spawn_and_wait(hub.url, "analyst", token)
    print(f"spawn-to-ready: {spawn_seconds:.2f} s")
    (hub.root / "spawn_seconds").write_text(f"{spawn_seconds:.2f}")

    # Reachable through the proxy with the analyst's token.
    api = requests.get(f"{hub.url}{server['url']}api/status", headers=headers, timeout=10)
    assert api.status_code == 200, api.text
    specs = requests.get(f"{hub.url}{server['url']}api/kernelspecs", headers=headers, timeout=10).json()
    assert specs["kernelspecs"]["customs-workbench"]["spec"]["display_name"] == "Customs Workbench"
    # ...and not without a token.
    assert requests.get(f"{hub.url}{server['url']}api/status", timeout=10,
                        allow_redirects=False).status_code in (302, 403)

    pid = int(server["state"]["pid"]) if "state" in server and server["state"] else None
    group = hub.cgroup_parent / "analyst.default"
    assert int((group / "memory.limit_in_bytes").read_text()) == 2 << 30
    pids = [int(p) for p in (group / "cgroup.procs").read_text().split()]
    assert pids, "the server process is not in its memory cgroup"
    if pid is not None:
        assert pid in pids
    user = pwd.getpwnam(hub.prefix + "analyst")
    for p in pids:
        assert os.stat(f"/proc/{p}").st_uid == user.pw_uid  # not root

    # Another analyst's Unix user cannot read this home.
    home = Path(user.pw_dir)
    (home / "secret.txt").write_text("mine")
    os.chown(home / "secret.txt", user.pw_uid, user.pw_gid)
    login(hub, "modeller", hub.passwords["modeller"])  # makes sure the other Unix user exists
    other = hub.prefix + "modeller"
    peek = subprocess.run(["su", other, "-s", "/bin/sh", "-c", f"cat {home}/secret.txt"],
                          capture_output=True, text=True)
    assert peek.returncode != 0 and "mine" not in peek.stdout

    stop = requests.delete(f"{hub.url}/hub/api/users/analyst/server", headers=headers, timeout=60)
    assert stop.status_code in (202, 204)
    wait_until(lambda: not group.exists(), 30, what="memory cgroup removed after stop")


# --- Dask Gateway, local backend (patched) ------------------------------------------

GATEWAY_CONFIG = """
from workbench.platform.gateway import SafeLocalBackend
c.DaskGateway.address = "127.0.0.1:{api}"
c.Proxy.address = "127.0.0.1:{http}"
c.Proxy.tcp_address = "127.0.0.1:{tcp}"
c.DaskGateway.backend_class = SafeLocalBackend
c.DaskGateway.authenticator_class = "dask_gateway_server.auth.SimpleAuthenticator"
c.SimpleAuthenticator.password = {password!r}
c.SafeLocalBackend.clusters_directory = {clusters!r}
c.ClusterConfig.scheduler_cmd = [{python!r}, "-m", "dask", "scheduler"]
c.ClusterConfig.worker_cmd = [{python!r}, "-m", "dask", "worker"]
c.ClusterConfig.worker_cores = 1
c.ClusterConfig.worker_memory = "512M"
c.ClusterConfig.scheduler_memory = "1G"
c.ClusterConfig.idle_timeout = 120
c.SafeLocalBackend.cgroup_parent = {cgroup_parent!r}
c.SafeLocalBackend.worker_status_period = 0.5  # notice the killed worker at once (default 30 s)
"""

SYSTEM_PATHS = ["/", "/usr", "/etc", "/home", "/tmp", "/root", "/work"]





def assert_worker_past_its_cap_dies_and_scheduler_lives(client, groups: MemoryCgroups, log: Path) -> None:  # type: ignore[no-untyped-def]
    """The scheduler and the worker each sit in a group capped at their grant; a task that
    allocates past the worker's cap gets that worker killed by the kernel, nothing else."""
    (scheduler_group,) = [n for n in groups.names() if n.endswith(".scheduler")]
    (worker_group,) = [n for n in groups.names() if ".worker-" in n]
    assert int((groups.path(scheduler_group) / "memory.limit_in_bytes").read_text()) == 1 << 30
    assert int((groups.path(worker_group) / "memory.limit_in_bytes").read_text()) == 512 << 20
    scheduler_pid = client.run_on_scheduler(os.getpid)
    (worker_pid,) = client.run(os.getpid).values()
    assert scheduler_pid in groups.pids(scheduler_group) and worker_pid in groups.pids(worker_group)

    hog = client.submit(lambda: len(b"x" * (900 << 20)), pure=False)  # 900 MB against a 512 MB cap
    try:
        wait_until(lambda: not os.path.exists(f"/proc/{worker_pid}"), 60, what="the over-allocating worker killed")
        # The kernel's own counter says why the worker died; the gateway also logs it when it releases
        # the worker's group, but in about one run in three that report did not come (not yet understood)
        # while the counter showed the kill, so either proves it.
        def oom_killed() -> bool:
            reported = "passed its memory cap and was killed by the kernel" in log.read_text(errors="replace")
            return reported or (groups.path(worker_group).exists() and groups.oom_kills(worker_group) > 0)

        wait_until(oom_killed, 60, what="the kernel's OOM kill of the worker, counted or reported")
    finally:
        hog.cancel()
    assert client.run_on_scheduler(os.getpid) == scheduler_pid  # the scheduler lives on
    assert groups.oom_kills(scheduler_group) == 0


def test_safe_backend_refuses_chown_outside_the_workdir(tmp_path: Path) -> None:
    from workbench.platform.gateway import SafeLocalBackend, UnsafePathError

    backend = SafeLocalBackend.__new__(SafeLocalBackend)  # no gateway needed for the guard
    workdir = tmp_path / "clusters" / "c1"
    workdir.mkdir(parents=True)
    for bad in [["/"], ["t"], [str(workdir / ".." / "..")], ["/etc/passwd"]]:
        with pytest.raises(UnsafePathError):
            backend._confined_chown([str(workdir), *bad], "root", workdir)
    with pytest.raises(UnsafePathError):
        backend.set_file_permissions(["/"], "root")


@pytest.mark.hub
@needs_cgroups
@pytest.mark.filterwarnings("ignore::distributed.versions.VersionMismatchWarning")  # 3.11.7 client, 3.11.2 user env
def test_gateway_cluster_runs_as_user_and_system_paths_keep_their_owner() -> None:
    import secrets

    from dask_gateway import BasicAuth, Gateway

    from workbench.platform import unix
    from workbench.platform.userenv import build_user_env

    tag = uuid.uuid4().hex[:4]
    user = f"wbt{tag}-gw"
    root = Path(tempfile.mkdtemp(prefix="wbt-gw-"))
    os.chmod(root, 0o755)
    (root / "homes").mkdir(mode=0o755)
    clusters = root / "clusters"
    clusters.mkdir(mode=0o755)
    os.chmod(clusters, 0o755)
    python = build_user_env(root / "userenv")
    before = owners(SYSTEM_PATHS + [str(root)])
    password = secrets.token_hex(12)
    api, http, tcp = free_port(), free_port(), free_port()
    cgroup_parent = own_memory_cgroup() / f"wbt-gw-{tag}"
    (root / "dask_gateway_config.py").write_text(GATEWAY_CONFIG.format(
        api=api, http=http, tcp=tcp, password=password, clusters=str(clusters), python=str(python),
        cgroup_parent=str(cgroup_parent)))
    log = open(root / "gateway.log", "wb")
    proc = None
    try:
        unix.ensure_user(user, root / "homes")
        proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "dask-gateway-server"), "-f", str(root / "dask_gateway_config.py")],
            cwd=root, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        import requests

        def up() -> bool:
            assert proc.poll() is None, (root / "gateway.log").read_text()[-3000:]
            try:
                return requests.get(f"http://127.0.0.1:{http}/api/health", timeout=2).status_code == 200
            except requests.RequestException:
                return False

        wait_until(up, 60, what="gateway healthy")
        gateway = Gateway(f"http://127.0.0.1:{http}", proxy_address=f"tls://127.0.0.1:{tcp}",
                          auth=BasicAuth(user, password))
        started = time.monotonic()
        try:
            with gateway_cluster(gateway, 1, timeout=90) as (_, client):
                print(f"gateway cluster + 1 worker: {time.monotonic() - started:.2f} s")
                assert client.submit(lambda x: x + 1, 41).result(timeout=60) == 42
                uid = pwd.getpwnam(user).pw_uid
                workdirs = list(clusters.iterdir())
                assert len(workdirs) == 1 and workdirs[0].stat().st_uid == uid
                assert client.run_on_scheduler(os.getuid) == uid  # the scheduler runs as the user
                assert_worker_past_its_cap_dies_and_scheduler_lives(client, MemoryCgroups(cgroup_parent),
                                                                    root / "gateway.log")
        finally:
            gateway.close()
        wait_until(lambda: not any(clusters.iterdir()), 30, what="cluster workdir removed")
        wait_until(lambda: not MemoryCgroups(cgroup_parent).names(), 30, what="cluster cgroups removed")
        assert owners(SYSTEM_PATHS + [str(root)]) == before
        assert not [p for p in root.iterdir() if len(p.name) == 1], "one-letter paths appeared (upstream bug)"
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log.close()
        subprocess.run(["pkill", "-KILL", "-u", user], check=False)
        unix.delete_user(user)
        remove_cgroups(cgroup_parent)
        after = owners(SYSTEM_PATHS)
        shutil.rmtree(root, ignore_errors=True)
    assert after == {p: before[p] for p in SYSTEM_PATHS}
