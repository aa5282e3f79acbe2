"""Backup while the stack writes, restore into empty folders: same tables, verified chain, working accounts.

The "running stack" here is what writes a stack's data, in threads during the backup: a
session appending to a lake table and the audit trail gaining records. The sources are a
copy of the tiny world, a real account store with the demo accounts, a real MLflow
registry inside the lake, a published app and a hub database in the state folder. Through
the CLI as an administrator runs it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
import threading
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from tests.conftest import world_copy
from workbench.session import Session

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="backup and restore are for root")


def table_hash(path: Path, version: int | None = None) -> str:
    """Order-independent hash of a Delta table's rows at ``version``."""
    from deltalake import DeltaTable

    frame = pl.from_arrow(DeltaTable(str(path), version=version).to_pyarrow_table())
    rows = sorted(json.dumps(r, default=str, sort_keys=True) for r in frame.to_dicts())  # type: ignore[union-attr]
    return hashlib.sha256("\n".join(rows).encode()).hexdigest()


def _stack_data(wb: Session, root: Path) -> tuple[Path, Path, dict[str, str]]:
    """Accounts, a hub database and a published app in a state folder; a registry in the lake."""
    from workbench.security.accounts import AccountStore, ensure_demo_accounts, read_credentials
    from workbench.registry.store import Registry, registry_folder

    state = root / "state"
    credentials = ensure_demo_accounts(AccountStore(state), state / "private" / "demo-credentials.tsv")
    with sqlite3.connect(state / "private" / "jupyterhub.sqlite") as hub_db:
        hub_db.execute("CREATE TABLE users (name TEXT)")
        hub_db.execute("INSERT INTO users VALUES ('analyst')")
    hub_db.close()
    app = state / "dashboards" / "published" / "seizures" / "app.py"
    app.parent.mkdir(parents=True)
    app.write_text("import panel as pn\npn.panel('seizures').servable()\n")
    for runtime in ("logs", "run", "userenv"):
        (state / runtime).mkdir()
        (state / runtime / "left.txt").write_text("not part of a backup")
    registry = Registry(registry_folder(wb.settings.lake))
    registry._experiment("risk")
    return state, Path(wb.settings.lake) / "models" / "registry", read_credentials(credentials)


def test_backup_while_writing_restores_identical_tables_verified_audit_and_working_accounts(
        tiny_world: Session, tmp_path: Path) -> None:
    from deltalake import DeltaTable

    from workbench.cli.main import main
    from workbench.session import connect
    from workbench.security.accounts import AccountStore
    from workbench.platform.backup import read_manifest
    from workbench.registry.store import Registry
    from workbench.security.audit import AuditTrail, checkpoint_now, ensure_signing_key, read_records, verify

    wb = world_copy(tiny_world, tmp_path / "live")
    lake = Path(wb.settings.lake)
    audit = lake.parent / "audit"
    state, registry, passwords = _stack_data(wb, tmp_path / "live")
    ensure_signing_key(audit)  # as the audit service keeps it
    wb.sql("SELECT count(*) FROM curated.declarations")  # something in the trail before, signed
    checkpoint_now(audit)
    stop = threading.Event()
    writes: list[int] = []

    def keep_writing() -> None:  # the stack at work while the backup runs
        writer = connect(str(lake), user="tester", audit_dir=str(audit))
        trail = AuditTrail(audit, "analyst", "analyst")
        i = 0
        while not stop.is_set():
            i += 1
            writer.write(pl.DataFrame({"n": [i], "note": [f"row {i}"]}), "work.backup_probe", mode="append")
            trail.record("query", query=f"SELECT {i}")
            writes.append(i)

    thread = threading.Thread(target=keep_writing, daemon=True)
    thread.start()
    paths = ["--lake", str(lake), "--audit-dir", str(audit), "--state", str(state)]
    try:
        while len(writes) < 3:
            stop.wait(0.05)
        done = CliRunner().invoke(main, ["backup", "--to", str(tmp_path / "backup"), *paths])
        assert done.exit_code == 0, done.output
        while len(writes) < 8:  # and goes on after it
            stop.wait(0.05)
    finally:
        stop.set()
        thread.join(timeout=60)
    folder = tmp_path / "backup"
    assert oct(folder.stat().st_mode & 0o777) == "0o700"
    manifest = read_manifest(folder)
    tables = manifest["tables"]
    assert {"curated/declarations", "work/backup_probe"} <= set(tables)
    assert tables["work/backup_probe"] < DeltaTable(str(lake / "work" / "backup_probe")).version()  # pinned mid-run
    listed = {f["path"] for f in manifest["files"]}
    assert not any(p.startswith(("state/logs/", "state/run/", "state/userenv/")) for p in listed)
    assert "audit/keys/checkpoint.key" in listed and "state/accounts/accounts.db" in listed
    assert any(p.startswith("config/connectors/") for p in listed)
    assert any(r["event"] == "backup" and r["user"] == "root" for r in read_records(audit))

    restored = tmp_path / "restored"
    target = ["--lake", str(restored / "lake"), "--audit-dir", str(restored / "audit"),
              "--state", str(restored / "state")]
    done = CliRunner().invoke(main, ["restore", "--from", str(folder), *target])
    assert done.exit_code == 0, done.output
    for name, version in tables.items():
        assert table_hash(restored / "lake" / name) == table_hash(lake / name, version), name
    assert verify(restored / "audit").ok
    kept = list(read_records(restored / "audit"))
    assert kept[-1]["event"] == "restore" and len(kept) == manifest["audit"]["records"] + 1
    store = AccountStore(restored / "state")
    for name in ("analyst", "manager", "admin"):
        assert store.verify(name, passwords[name]) is not None, name  # what the hub's login checks
    assert store.verify("analyst", "not-the-password") is None
    assert Registry(restored / "lake" / "models" / "registry").client.get_experiment_by_name("risk") is not None
    assert (restored / "state" / "dashboards" / "published" / "seizures" / "app.py").read_text().startswith("import")
    with sqlite3.connect(restored / "state" / "private" / "jupyterhub.sqlite") as hub_db:
        assert hub_db.execute("SELECT name FROM users").fetchall() == [("analyst",)]
    assert not (restored / "state" / "logs").exists()
    restored_wb = connect(str(restored / "lake"), user="tester", audit_dir=str(tmp_path / "reader-audit"))
    assert restored_wb.sql("SELECT count(*) AS n FROM curated.declarations")["n"][0] == \
        wb.sql("SELECT count(*) AS n FROM curated.declarations")["n"][0]
    assert oct((restored / "state" / "private").stat().st_mode & 0o777) == "0o700"
    assert registry.exists()


def test_restore_refuses_a_damaged_backup_and_a_folder_in_use(tiny_world: Session, tmp_path: Path) -> None:
    from workbench.platform.backup import BackupError, Sources, backup, restore

    wb = world_copy(tiny_world, tmp_path / "live")
    lake = Path(wb.settings.lake)
    wb.sql("SELECT 1")
    sources = Sources(lake, lake.parent / "audit", tmp_path / "live" / "state")
    result = backup(sources, tmp_path / "backup")
    with pytest.raises(BackupError, match="not empty"):
        backup(sources, tmp_path / "backup")
    busy = tmp_path / "busy"
    (busy / "lake").mkdir(parents=True)
    (busy / "lake" / "something").write_text("x")
    with pytest.raises(BackupError, match="not empty"):
        restore(tmp_path / "backup", Sources(busy / "lake", busy / "audit", busy / "state"))
    victim = next(f for f in json.loads((tmp_path / "backup" / "manifest.json").read_text())["files"]
                  if f["path"].endswith(".parquet") and "/_delta_log/" not in f["path"])
    data = bytearray((tmp_path / "backup" / victim["path"]).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (tmp_path / "backup" / victim["path"]).write_bytes(bytes(data))
    target = Sources(tmp_path / "t" / "lake", tmp_path / "t" / "audit", tmp_path / "t" / "state")
    with pytest.raises(BackupError, match=re.escape(victim["path"])):
        restore(tmp_path / "backup", target)
    assert not (tmp_path / "t").exists()  # checked before anything is written
    assert result.files > 10 and result.audit_records >= 1
