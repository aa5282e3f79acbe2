"""The access policy enforced by the operating system (``workbench.security.lake_permissions``).

The plan is checked against the policy without root; then, as root, real throwaway Unix
users (``wbt<hex>-<role>``) in real role groups (``wbt<hex>r-<role>``) try to read and
write a temp lake, through the same setuid path the spawner uses (JupyterHub's
``set_user_setuid``: ``getgrouplist`` + ``setgroups``). Finally a real hub: an analyst's
and an admin's kernels open lake files directly. Users, groups and folders are removed at
teardown; nothing outside the temp folders is touched (a planted symlink proves it).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import stat
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.hub_support import IS_ROOT, remove_groups, remove_users
from workbench.errors import ConfigError
from workbench.lake import Lake, LakeLocation
from workbench.security import lake_permissions as lp
from workbench.security.policy import load_policy

POLICY = load_policy()
PEOPLE = ("manager", "field_officer", "analyst", "modeller", "admin")
SPEC_TABLES = {  # spec'd tables of each classification / need-to-know rule, as files on disk
    "truth.rings": "secret",
    "security.events": "restricted (admin only)",
    "curated.traders": "restricted",
    "curated.declarations": "internal",
    "raw.ref_fx_rates": "public",
}
needs_root = pytest.mark.skipif(not IS_ROOT, reason="creates Unix users and groups: needs root")

PROBE = r"""
import json, os, sys
out = {}
for kind, path in json.load(sys.stdin):
    try:
        if kind == "read":
            with open(path, "rb") as f:
                f.read(1)
        elif kind == "list":
            os.listdir(path)
        elif kind == "create":
            fd = os.open(os.path.join(path, ".probe-%d" % os.getpid()), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            os.close(fd)
            os.unlink(os.path.join(path, ".probe-%d" % os.getpid()))
        elif kind == "mkdir":
            os.mkdir(path)
        elif kind == "rmdir":
            os.rmdir(path)
        elif kind == "symlink":
            target, link = path.split("|")
            os.symlink(target, link)
        out[kind + ":" + path] = True
    except PermissionError:
        out[kind + ":" + path] = False
print(json.dumps(out))
"""


def probe(user: str, actions: list[tuple[str, str]]) -> dict[str, bool]:
    """Run ``actions`` as ``user`` with the groups the spawner would give it; True = allowed."""
    from jupyterhub.spawner import set_user_setuid

    done = subprocess.run(["/usr/bin/python3", "-c", PROBE], input=json.dumps(actions), capture_output=True,
                          text=True, preexec_fn=set_user_setuid(user, chdir=False), timeout=60, check=True)
    return {k: v for k, v in json.loads(done.stdout).items()}


def tiny_table(folder: Path) -> Path:
    """A table folder with one Parquet file and a log entry, as delta-rs lays it out."""
    (folder / "_delta_log").mkdir(parents=True)
    (folder / "_delta_log" / "00000000000000000000.json").write_text("{}\n")
    pq.write_table(pa.table({"x": [1, 2, 3]}), folder / "part-00000.parquet")
    return folder / "part-00000.parquet"


# -- the plan, without root --------------------------------------------------------------


@pytest.mark.parametrize("root", ["/", "/usr", "/etc", "/home", "/root", "/var", "/work", "/work/main", "/tmp"])
def test_system_paths_are_refused(root: str) -> None:
    with pytest.raises(ConfigError, match="system path"):
        lp.compile_plan(LakeLocation(root), POLICY)


def test_symlinks_to_system_paths_non_lakes_and_object_stores_are_refused(tmp_path: Path) -> None:
    (tmp_path / "etc").symlink_to("/etc")
    with pytest.raises(ConfigError, match="system path"):
        lp.compile_plan(LakeLocation(str(tmp_path / "etc")), POLICY)
    (tmp_path / "parent" / "hub").mkdir(parents=True)  # e.g. the lake's parent by mistake
    with pytest.raises(ConfigError, match="not a lake"):
        lp.compile_plan(LakeLocation(str(tmp_path / "parent")), POLICY)
    assert lp.enforce_for_hub("s3://bucket/lake", "wb-") is None  # `platform up` skips it


@pytest.mark.s3
def test_object_store_plan_lists_each_roles_grants_but_is_not_applied(s3_server: dict[str, str]) -> None:
    from tests.conftest import _bucket

    location = LakeLocation(f"s3://{_bucket(s3_server)}/lake", s3_server)
    Lake(location).write(pa.table({"a": [1]}), "work.restricted_src", actor="t", classification="restricted")
    plan = lp.compile_plan(location, POLICY)  # what each role's storage credential must grant
    assert plan.rule("work/restricted_src").access.read == {"analyst", "modeller", "field_officer", "admin", "system"}
    assert plan.rule("truth/rings").access.read == {"system"}
    with pytest.raises(ConfigError, match="object-store lake has no file permissions"):
        lp.apply_plan(plan)


def make_small_lake(root: Path) -> LakeLocation:
    """Two real work tables (internal, restricted: classified in the catalog) and the spec'd cases as files."""
    location = LakeLocation(str(root))
    lake = Lake(location)
    lake.write(pa.table({"a": [1]}), "work.internal_src", actor="t", classification="internal")
    lake.write(pa.table({"a": [1]}), "work.restricted_src", actor="t", classification="restricted")
    for name in SPEC_TABLES:
        tiny_table(Path(location.table_uri(name)))
    return location


@pytest.fixture()
def small_lake(tmp_path: Path) -> LakeLocation:
    return make_small_lake(tmp_path / "lake")


EXPECTED_READ = {  # table -> the people roles that read it (the policy, written out)
    "truth/rings": set(),
    "security/events": {"admin"},
    "curated/traders": {"field_officer", "analyst", "modeller", "admin"},
    "curated/declarations": set(PEOPLE),
    "raw/ref_fx_rates": set(PEOPLE),
    "system/catalog": set(PEOPLE),
    "work/internal_src": set(PEOPLE),
    "work/restricted_src": {"field_officer", "analyst", "modeller", "admin"},
}


@pytest.mark.parametrize("role", PEOPLE)
def test_plan_grants_each_role_exactly_what_the_policy_allows(small_lake: LakeLocation, role: str) -> None:
    plan = lp.compile_plan(small_lake, POLICY, "wb-")
    assert plan.groups[role] == f"wbr-{role}"
    for path, readers in EXPECTED_READ.items():
        access = plan.rule(path).access
        assert (role in access.read | access.write) == (role in readers), (role, path)
        assert "system" in access.read | access.write  # services read everything
    writes = {p for p in EXPECTED_READ if role in plan.rule(p).access.write}
    # The models folder: restricted, and need-to-know keeps field officers out (they see scores in dashboards).
    assert (role in plan.rule("models").access.read) == (role in {"analyst", "modeller", "admin"})
    writer = role not in ("manager", "field_officer")  # they read only
    assert writes == ({"system/catalog"} if writer else set())  # every write records itself there
    assert (role in plan.rule("work").access.write) == writer
    assert plan.rule("work").sticky and not plan.rule("curated").sticky
    # Tables made later: truth's are for services only, security's for admins, work's private.
    assert not plan.rule("truth").new.read & set(PEOPLE)
    assert plan.rule("security").new.read & set(PEOPLE) == {"admin"}
    assert not plan.rule("work").new.read | plan.rule("work").new.write & set(PEOPLE)


def test_printed_plan_names_paths_groups_and_pending_changes(small_lake: LakeLocation) -> None:
    from click.testing import CliRunner

    from workbench.cli.lake import lake

    result = CliRunner().invoke(lake, ["permissions", "--lake", small_lake.root, "--unix-prefix", "wbzz-",
                                       "--format", "json"])
    assert result.exit_code == 0, result.output
    rows = {r["path"]: r for r in json.loads(result.stdout)}
    assert rows["truth/rings"]["read"] == "system"
    assert rows["security/events"]["read"] == "admin,system"
    assert rows["work"]["flags"] == "setgid,sticky"
    assert "groups to create first: wbzzr-manager, wbzzr-field_officer, wbzzr-analyst" in result.stderr  # a dry run changes nothing


def test_session_write_is_classified_by_what_the_session_read(small_lake: LakeLocation) -> None:
    from workbench.session import connect

    wb = connect(small_lake.root, user="ana", role="analyst")
    wb.table("work.restricted_src")
    wb.sql("SELECT * FROM work.internal_src")
    wb.write(pa.table({"b": [1]}), "work.derived_restricted")
    fresh = connect(small_lake.root, user="ana", role="analyst")
    fresh.sql("SELECT count(*) FROM work.internal_src")
    fresh.write(pa.table({"b": [1]}), "work.derived_internal")
    assert wb.lake.catalog.entry("work.derived_restricted")["classification"] == "restricted"  # type: ignore[index]
    assert wb.lake.catalog.entry("work.derived_internal")["classification"] == "internal"  # type: ignore[index]
    # Appending from a session that read nothing never lowers it (old versions stay readable).
    connect(small_lake.root, user="ana", role="analyst").write(pa.table({"b": [2]}), "work.derived_restricted")
    assert wb.lake.catalog.entry("work.derived_restricted")["classification"] == "restricted"  # type: ignore[index]
    # And the session's own gate then refuses the restricted result to a manager.
    manager = connect(small_lake.root, user="boss", role="manager")
    assert "work.derived_internal" in manager.tables()["name"].to_list()
    assert "work.derived_restricted" not in manager.tables()["name"].to_list()


def test_a_derived_tables_folder_gets_the_acl_of_its_strictest_input(small_lake: LakeLocation) -> None:
    """Need-to-know follows lineage on disk too: a table made from curated.people is not granted to field officers."""
    from workbench.lake.catalog import Lineage

    carried = json.dumps({"inputs": ["curated.people", "work.internal_src"], "columns": {}})
    Lake(small_lake).write(pa.table({"a": [1]}), "work.from_people", actor="t", classification="restricted",
                           lineage=Lineage("analyst's write", carried=carried))
    rules = {r.path: r for r in lp.compile_plan(small_lake, POLICY, "wb-").rules}
    assert rules["work/from_people"].access.read == {"analyst", "modeller", "admin", "system"}
    assert rules["work/restricted_src"].access.read >= {"field_officer"}  # the same classification, no such input


# -- the operating system, with throwaway users and groups -------------------------------


@dataclass
class Enforced:
    location: LakeLocation
    root: Path
    prefix: str
    homes: Path
    report: lp.Report
    seconds: float

    def user(self, role: str) -> str:
        return f"{self.prefix}{role}"

    def file(self, table: str) -> str:
        return str(next(Path(self.location.table_uri(table)).glob("*.parquet")))


@pytest.fixture(scope="module")
def enforced() -> Iterator[Enforced]:
    from workbench.platform import unix

    if not IS_ROOT:
        pytest.skip("creates Unix users and groups: needs root")
    tag = uuid.uuid4().hex[:4]
    prefix = f"wbt{tag}-"
    base = Path(tempfile.mkdtemp(prefix="wbt-osperm-"))
    os.chmod(base, 0o755)  # our own temp folder: the users must reach the lake inside it
    homes = base / "homes"
    homes.mkdir()
    location = make_small_lake(base / "lake")
    for folder, _, files in os.walk(base / "lake"):  # world-readable, as the stack's lake was before
        os.chmod(folder, 0o755)
        for name in files:
            os.chmod(os.path.join(folder, name), 0o644)
    try:
        started = time.monotonic()
        report = lp.apply_plan(lp.compile_plan(location, POLICY, prefix))
        seconds = time.monotonic() - started
        for role in PEOPLE:
            unix.ensure_user(f"{prefix}{role}", homes)
            unix.set_supplementary_groups(f"{prefix}{role}", {POLICY.unix_group(role, prefix)})
        unix.ensure_user(f"{prefix}nobody", homes)  # a disabled account: no role group
        yield Enforced(location, base / "lake", prefix, homes, report, seconds)
    finally:
        remove_users(prefix)
        remove_groups(f"wbt{tag}r-")
        shutil.rmtree(base, ignore_errors=True)


@needs_root
@pytest.mark.parametrize("role", [*PEOPLE, "nobody"])
def test_each_role_reads_and_writes_exactly_what_the_policy_allows(enforced: Enforced, role: str) -> None:
    files = {table.replace("/", "."): enforced.file(table.replace("/", ".")) for table in EXPECTED_READ}
    catalog_log = str(Path(enforced.location.table_uri("system.catalog")) / "_delta_log")
    rejections = enforced.location.table_uri("quarantine.rejections")  # made by the plan, for first rejections
    actions = [("read", f) for f in files.values()] + [
        ("list", str(enforced.root)), ("create", str(enforced.root / "work")), ("create", catalog_log),
        ("create", rejections),
        ("create", str(enforced.root / "curated")), ("create", str(Path(enforced.location.table_uri("curated.declarations")))),
        ("create", str(enforced.root / "truth"))]
    allowed = probe(enforced.user(role), actions)
    for table, path in files.items():
        assert allowed[f"read:{path}"] == (role in EXPECTED_READ[table.replace(".", "/")]), (role, table)
    writer = role in ("analyst", "modeller", "admin")
    assert allowed[f"create:{enforced.root / 'work'}"] == writer
    assert allowed[f"create:{catalog_log}"] == writer
    assert allowed[f"create:{rejections}"] == writer
    assert not allowed[f"create:{enforced.root / 'curated'}"]
    assert not allowed[f"create:{enforced.location.table_uri('curated.declarations')}"]
    assert not allowed[f"create:{enforced.root / 'truth'}"]
    assert allowed[f"list:{enforced.root}"] == (role != "nobody")


@needs_root
def test_files_written_later_by_services_keep_the_rights(enforced: Enforced) -> None:
    old = os.umask(0o022)
    try:
        later = {}
        for name in ("curated.declarations", "truth.rings"):
            path = Path(enforced.location.table_uri(name)) / "part-later.parquet"
            pq.write_table(pa.table({"x": [1]}), path)
            later[name] = str(path)
        new_table = Path(enforced.location.table_uri("security.alerts"))
        tiny_table(new_table)  # a table the SIEM creates after the plan ran
        later["security.alerts"] = str(new_table / "part-00000.parquet")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(later["curated.declarations"]).st_mode) & 0o007 == 0  # nothing for others
    assert os.stat(later["truth.rings"]).st_gid == 0  # setgid folder: the lake's group, not root's umask
    expected = {"manager": {"curated.declarations"}, "analyst": {"curated.declarations"},
                "modeller": {"curated.declarations"}, "admin": {"curated.declarations", "security.alerts"}}
    for role, readable in expected.items():
        allowed = probe(enforced.user(role), [("read", p) for p in later.values()])
        assert {n for n, p in later.items() if allowed[f"read:{p}"]} == readable, role


@needs_root
def test_work_zone_is_sticky_and_planted_links_are_not_followed(enforced: Enforced) -> None:
    mine = enforced.root / "work" / "analysts_table"
    assert probe(enforced.user("analyst"), [("mkdir", str(mine))])[f"mkdir:{mine}"]
    assert not probe(enforced.user("modeller"), [("rmdir", str(mine))])[f"rmdir:{mine}"]  # sticky
    target = "/etc/hostname"
    before = os.lstat(target)
    link = enforced.root / "work" / "evil"
    assert probe(enforced.user("analyst"), [("symlink", f"{target}|{link}")])[f"symlink:{target}|{link}"]
    report = lp.apply_plan(lp.compile_plan(enforced.location, POLICY, enforced.prefix))
    after = os.lstat(target)
    assert (after.st_mode, after.st_uid, after.st_gid) == (before.st_mode, before.st_uid, before.st_gid)
    assert any(str(link) in s for s in report.skipped)
    assert os.stat(mine).st_uid == os.stat(enforced.homes / enforced.user("analyst")).st_uid  # still theirs
    shutil.rmtree(mine)
    link.unlink()


@needs_root
def test_reapplying_changes_nothing_and_repairs_drift(enforced: Enforced) -> None:
    assert enforced.report.changed, "the first run changed the world-readable lake"
    started = time.monotonic()
    again = lp.apply_plan(lp.compile_plan(enforced.location, POLICY, enforced.prefix))
    seconds = time.monotonic() - started
    print(f"first apply {enforced.seconds:.3f} s ({len(enforced.report.changed)} changes); "
          f"re-apply {seconds:.3f} s ({again.checked} paths checked)")
    assert again.changed == [] and again.created_groups == []
    # A run skips only files changed more than CTIME_MARGIN_NS before the run before it started: wait that out past
    # the lake's newest change (a quick run did all of the below within the margin, and every file was reopened).
    newest = max(p.lstat().st_ctime_ns for p in Path(enforced.location.root).rglob("*"))
    time.sleep(max(0.0, (newest + lp.CTIME_MARGIN_NS - time.time_ns()) / 1e9 + 0.05))
    later = Path(enforced.location.table_uri("curated.declarations")) / "part-inherited.parquet"
    pq.write_table(pa.table({"x": [1]}), later)  # inherits the default ACL: nothing to change
    assert lp.apply_plan(lp.compile_plan(enforced.location, POLICY, enforced.prefix)).changed == []
    truth = enforced.file("truth.rings")
    os.chmod(truth, 0o644)  # someone "fixes" a permission by hand
    repaired = lp.apply_plan(lp.compile_plan(enforced.location, POLICY, enforced.prefix))
    assert repaired.changed == [truth]
    assert repaired.unchanged > 0  # the files nothing touched since the last run were not reopened
    assert not probe(enforced.user("analyst"), [("read", truth)])[f"read:{truth}"]
    # A rule that asks something else than at the last run reopens its files, however old their last change:
    # the record says that run started an hour from now, and that truth/rings' rule was another.
    record = enforced.root / lp.VERIFIED
    assert oct(record.stat().st_mode & 0o777) == "0o600" and record.stat().st_uid == 0
    verified = json.loads(record.read_text())
    os.chmod(truth, 0o644)
    record.write_text(json.dumps({"started_ns": verified["started_ns"] + 3600 * 10**9,
                                  "rules": {**verified["rules"], "truth/rings": "another rule"}}))
    assert lp.apply_plan(lp.compile_plan(enforced.location, POLICY, enforced.prefix)).changed == [truth]
    full = lp.apply_plan(lp.compile_plan(enforced.location, POLICY, enforced.prefix), full=True)
    assert full.unchanged == 0 and full.changed == []


@needs_root
def test_authenticator_gives_exactly_the_role_group_and_none_when_disabled(enforced: Enforced, tmp_path: Path) -> None:
    from workbench.platform import unix
    from workbench.security.accounts import AccountStore
    from workbench.platform.authenticator import WorkbenchAuthenticator

    store_dir = tmp_path / "accounts"
    store = AccountStore(store_dir)
    store.add("carol", "analyst")
    auth = WorkbenchAuthenticator(accounts_dir=str(store_dir), unix_prefix=enforced.prefix,
                                  home_root=str(enforced.homes))
    user = SimpleNamespace(name="carol")
    system_user = enforced.user("carol")
    unix.ensure_user(system_user, enforced.homes)
    group = {role: POLICY.unix_group(role, enforced.prefix) for role in PEOPLE}
    assert asyncio.run(auth.refresh_user(user)) is not False
    assert unix.supplementary_groups(system_user) == {group["analyst"]}
    store.set_role("carol", "manager")
    asyncio.run(auth.refresh_user(user))
    assert unix.supplementary_groups(system_user) == {group["manager"]}
    restricted = enforced.file("curated.traders")
    assert not probe(system_user, [("read", restricted)])[f"read:{restricted}"]  # the spawner's view
    store.set_enabled("carol", False)
    assert asyncio.run(auth.refresh_user(user)) is False
    assert unix.supplementary_groups(system_user) == set()


@needs_root
def test_session_shares_its_work_table_with_the_roles_cleared_for_what_it_read(enforced: Enforced) -> None:
    from workbench.platform.userenv import build_user_env

    python = build_user_env(enforced.root.parent / "userenv")
    audit = enforced.root.parent / "audit"
    audit.mkdir(exist_ok=True)
    os.chmod(audit, 0o1777)
    # A frame changed after wb.sql returned it may hold anything the session read: restricted_src too.
    script = ("import workbench; wb = workbench.connect(); wb.table('work.restricted_src');"
              "wb.write(wb.sql('SELECT * FROM work.internal_src').head(1000), 'work.derived');"
              "print(wb.lake.catalog.entry('work.derived')['classification'])")
    from jupyterhub.spawner import set_user_setuid

    env = {"PATH": "/usr/bin:/bin", "WORKBENCH_LAKE": enforced.location.root, "WORKBENCH_ROLE": "analyst",
           "WORKBENCH_USER": "analyst", "WORKBENCH_AUDIT_DIR": str(audit), "HOME": str(enforced.homes)}
    done = subprocess.run([str(python), "-c", script], env=env, capture_output=True, text=True, timeout=120,
                          preexec_fn=set_user_setuid(enforced.user("analyst"), chdir=False))
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "restricted"
    derived = enforced.file("work.derived")
    assert os.stat(derived).st_uid == pwd_uid(enforced.user("analyst"))  # the analyst's own table
    readable = {role: probe(enforced.user(role), [("read", derived)])[f"read:{derived}"] for role in PEOPLE}
    assert readable == {"manager": False, "field_officer": True, "analyst": True, "modeller": True, "admin": True}


def pwd_uid(user: str) -> int:
    import pwd

    return pwd.getpwnam(user).pw_uid


# -- the real stack: kernels open lake files directly --------------------------------------


@dataclass
class Hub:
    stack: object  # hub_support.RunningStack
    lake: LakeLocation

    def file(self, table: str) -> str:
        from deltalake import DeltaTable

        return DeltaTable(self.lake.table_uri(table)).file_uris()[0].removeprefix("file://")


@pytest.fixture(scope="module")
def hub() -> Iterator[Hub]:
    from tests.hub_support import running_stack
    from workbench.lake.lake import infer_spec

    if not IS_ROOT:
        pytest.skip("starts a real hub with Unix users: needs root")
    base = Path(tempfile.mkdtemp(prefix="wbt-oshub-"))
    os.chmod(base, 0o755)
    audit = base / "audit-users"  # the kernels' audit records (<lake>/../audit is the audit service's)
    audit.mkdir()
    os.chmod(audit, 0o1777)
    location = LakeLocation(str(base / "lake"))
    prefixes: list[str] = []
    try:
        lake = Lake(location)  # one small real Delta table per case; their specs' classifications apply
        for name in ("truth.rings", "security.events", "curated.declarations"):
            data = pa.table({"x": [1, 2, 3]})
            lake.write(data, name, spec=infer_spec(name, data.schema), actor="tester")
        with running_stack("oshub", lake=location.root, audit_dir=str(audit), gateway=False) as stack:
            prefixes.append(stack.prefix)
            yield Hub(stack, location)
    finally:
        for prefix in prefixes:
            remove_groups(prefix.rstrip("-") + "r-")
        shutil.rmtree(base, ignore_errors=True)


READ_FILES = """
import json, grp, os
import pyarrow.parquet as pq
out = {"groups": sorted(grp.getgrgid(g).gr_name for g in os.getgroups())}
for name, path in json.loads(%r).items():
    for how, read in (("open", lambda p: open(p, "rb").read(4)), ("pyarrow", pq.read_table)):
        try:
            read(path)
            out[f"{how}:{name}"] = "ok"
        except PermissionError:
            out[f"{how}:{name}"] = "PermissionError"
print(json.dumps(out))
"""


@pytest.mark.hub
def test_analyst_kernel_cannot_read_truth_or_security_files_but_reads_curated(hub: Hub) -> None:
    import requests
    import websocket

    from tests.hub_support import api_token, spawn_and_wait, stop_server
    from tests.test_platform_stack import run_cell

    stack = hub.stack
    token = api_token(stack.url, "analyst", stack.passwords["analyst"])  # type: ignore[attr-defined]
    server, _ = spawn_and_wait(stack.url, "analyst", token)  # type: ignore[attr-defined]
    base = f"{stack.url}{server['url']}"  # type: ignore[attr-defined]
    headers = {"Authorization": f"token {token}"}
    try:
        made = requests.post(f"{base}api/kernels", json={"name": "customs-workbench"}, headers=headers, timeout=60)
        assert made.status_code == 201, made.text
        ws = websocket.create_connection(base.replace("http://", "ws://") + f"api/kernels/{made.json()['id']}/channels",
                                         header=[f"Authorization: token {token}"], timeout=60)
        try:
            files = {t: hub.file(t) for t in ("truth.rings", "security.events", "curated.declarations")}
            cell = run_cell(ws, READ_FILES % json.dumps(files))
            assert cell["error"] == [], cell
            seen = json.loads(cell["stream"][-1])
            assert POLICY.unix_group("analyst", stack.prefix) in seen["groups"]  # type: ignore[attr-defined]
            for how in ("open", "pyarrow"):
                assert seen[f"{how}:truth.rings"] == "PermissionError", seen
                assert seen[f"{how}:security.events"] == "PermissionError", seen
                assert seen[f"{how}:curated.declarations"] == "ok", seen
            # The session itself works on top of the ACLs (catalog, curated tables).
            counted = run_cell(ws, "import workbench\nsession = workbench.connect()\n"
                                   "print(session.sql('SELECT count(*) AS n FROM curated.declarations')['n'][0] > 0)")
            assert counted["error"] == [] and counted["stream"][-1].strip() == "True", counted
        finally:
            ws.close()
    finally:
        stop_server(stack.url, "analyst", token)  # type: ignore[attr-defined]


@pytest.mark.hub
def test_admin_processes_read_security_but_not_truth(hub: Hub) -> None:
    """Admins get no notebook server of their own (hub RBAC), so their Unix user's view is
    checked through the spawner's setuid path after a real login set its groups."""
    from tests.hub_support import login

    stack = hub.stack
    _, response = login(stack.url, "admin", stack.passwords["admin"])  # type: ignore[attr-defined]
    assert response.status_code == 302
    user = f"{stack.prefix}admin"  # type: ignore[attr-defined]
    truth, security = hub.file("truth.rings"), hub.file("security.events")
    allowed = probe(user, [("read", truth), ("read", security)])
    assert allowed == {f"read:{truth}": False, f"read:{security}": True}
