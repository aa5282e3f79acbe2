"""Writers of one table: processes take turns on a local lake (``workbench.lake.locks``), and small keyed
writes look their keys up instead of a Delta merge's whole-table join.

Before the lock, the second of two processes merging into one table lost with
``CommitFailedError`` (``models up`` against the live scorer on ``curated.risk_scores``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable

from workbench.errors import WriteConflict
from workbench.lake import Lake, TableSpec
from workbench.lake.locks import LOCK_FILE, table_lock
from workbench.lake.storage import LakeLocation

SPEC = {"name": "curated.shared", "description": "two writers", "classification": "internal", "key": ["id"],
        "columns": {"id": {"type": "string"}, "writer": {"type": "string"}, "n": {"type": "int64"}}}

WRITER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    import pyarrow as pa
    from workbench.lake import Lake, TableSpec
    from workbench.lake.storage import LakeLocation

    root, writer, go, merges = sys.argv[1], sys.argv[2], Path(sys.argv[3]), int(sys.argv[4])
    spec = TableSpec.model_validate({spec!r})
    lake = Lake(LakeLocation(root), {{spec.name: spec}})
    while not go.exists():
        time.sleep(0.005)
    for i in range(merges):
        rows = pa.table({{"id": [f"{{writer}}-{{i}}-{{j}}" for j in range(200)], "writer": [writer] * 200,
                         "n": list(range(200))}})
        lake.write(rows, spec.name, mode="merge")
    print("done", flush=True)
""").format(spec=SPEC)


def _lake(root: Path) -> Lake:
    spec = TableSpec.model_validate(SPEC)
    return Lake(LakeLocation(str(root)), {spec.name: spec})


def test_two_processes_merging_one_table_both_land(tmp_path: Path) -> None:
    lake = _lake(tmp_path / "lake")
    lake.write(pa.table({"id": ["seed"], "writer": ["test"], "n": [0]}), "curated.shared", mode="merge")
    go, merges = tmp_path / "go", 6
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path / "lake"), name, str(go), str(merges)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env={**os.environ, "OMP_NUM_THREADS": "1"})
             for name in ("a", "b")]
    time.sleep(1.5)  # both imported and polling for the start
    go.touch()
    outcomes = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err[-800:] for _, err in outcomes]
    rows = DeltaTable(str(tmp_path / "lake" / "curated" / "shared")).to_pyarrow_table()
    assert rows.num_rows == 1 + 2 * merges * 200
    assert sorted(set(rows.column("writer").to_pylist())) == ["a", "b", "test"]


def test_a_killed_holder_leaves_no_stale_lock(tmp_path: Path) -> None:
    """The kernel drops a dead process's flock: the next writer is not held up."""
    folder = tmp_path / "lake" / "curated" / "shared"
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        from workbench.lake.locks import table_lock
        import time
        with table_lock({str(folder)!r}, local=True).held():
            print("held", flush=True)
            time.sleep(60)
    """)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        lock = table_lock(str(folder), local=True)
        with pytest.raises(WriteConflict, match="write lock"), lock.held(wait=0.3):
            pass
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
        started = time.monotonic()
        with lock.held(wait=5):
            assert (folder / LOCK_FILE).exists()
        assert time.monotonic() - started < 1
    finally:
        holder.kill()
        holder.wait(timeout=10)


def test_vacuum_keeps_the_lock_file_and_the_table_reads_as_before(tmp_path: Path) -> None:
    lake = _lake(tmp_path / "lake")
    for i in range(3):
        lake.write(pa.table({"id": [f"r{i}"], "writer": ["test"], "n": [i]}), "curated.shared", mode="overwrite")
    dt = DeltaTable(lake.location.table_uri("curated.shared"))
    dt.vacuum(retention_hours=0, enforce_retention_duration=False, dry_run=False)
    assert (Path(lake.location.table_uri("curated.shared")) / LOCK_FILE).exists()
    assert DeltaTable(lake.location.table_uri("curated.shared")).to_pyarrow_table().column("id").to_pylist() == ["r2"]


def _operations(lake: Lake) -> list[str]:
    history = DeltaTable(lake.location.table_uri("curated.shared")).history()
    return [h["operation"] for h in sorted(history, key=lambda h: h["version"])]


def test_insert_adds_only_new_keys_and_a_merge_of_new_keys_is_an_append(tmp_path: Path) -> None:
    lake = _lake(tmp_path / "lake")
    lake.write(pa.table({"id": ["a", "b"], "writer": ["first", "first"], "n": [1, 2]}), "curated.shared")
    done = lake.write(pa.table({"id": ["b", "c"], "writer": ["again", "again"], "n": [20, 30]}), "curated.shared",
                      mode="insert")
    assert done.rows_written == 1 and done.rows_quarantined == 0
    lake.write(pa.table({"id": ["d"], "writer": ["merge"], "n": [4]}), "curated.shared", mode="merge")
    assert _operations(lake)[-2:] == ["WRITE", "WRITE"]  # no Delta merge: nothing was in the table yet
    lake.write(pa.table({"id": ["a", "e"], "writer": ["merge", "merge"], "n": [10, 5]}), "curated.shared",
               mode="merge")
    assert _operations(lake)[-1] == "MERGE"  # "a" is held: updated in place
    rows = DeltaTable(lake.location.table_uri("curated.shared")).to_pyarrow_table().sort_by("id").to_pylist()
    assert [(r["id"], r["writer"], r["n"]) for r in rows] == [
        ("a", "merge", 10), ("b", "first", 2), ("c", "again", 30), ("d", "merge", 4), ("e", "merge", 5)]


def test_insert_adds_only_new_keys_on_disk_and_on_an_object_store(lake_session) -> None:  # noqa: ANN001
    lake = lake_session.lake
    spec = TableSpec.model_validate(SPEC)
    lake.write(pa.table({"id": ["a"], "writer": ["first"], "n": [1]}), spec.name, spec=spec)
    done = lake.write(pa.table({"id": ["a", "b"], "writer": ["again", "again"], "n": [2, 3]}), spec.name,
                      spec=spec, mode="insert")
    assert done.rows_written == 1
    rows = lake.delta(spec.name).to_pyarrow_table().sort_by("id").to_pylist()
    assert [(r["id"], r["writer"]) for r in rows] == [("a", "first"), ("b", "again")]


def test_a_large_table_fed_small_appends_compacts_its_small_files_and_keeps_its_big_ones(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A live table (a follower's rounds into a large raw table) keeps a bounded file count: scaled down here
    (a "large" table is one over 40 kB, a small file one under 8 kB, compacted beyond 4 of them)."""
    import workbench.lake.lake as lake_module

    monkeypatch.setattr(lake_module, "TARGET_FILE_BYTES", 40_000)
    monkeypatch.setattr(lake_module, "SMALL_FILE_BYTES", 8_000)
    monkeypatch.setattr(lake_module, "FRAGMENTED_FILES", 4)
    lake = _lake(tmp_path / "lake")
    n = 20_000
    lake.write(pa.table({"id": [f"big-{i:06d}" for i in range(n)], "writer": [f"w{i}" for i in range(n)],
                        "n": list(range(n))}), "curated.shared")
    uri = lake.location.table_uri("curated.shared")
    big = set(DeltaTable(uri).file_uris())
    assert sum(os.path.getsize(f) for f in big) > 40_000
    for i in range(lake_module.FRAGMENTED_FILES + 3):
        lake.write(pa.table({"id": [f"new-{i}"], "writer": ["round"], "n": [i]}), "curated.shared", mode="insert")
    files = set(DeltaTable(uri).file_uris())
    assert big <= files and len(files - big) < lake_module.FRAGMENTED_FILES  # small ones compacted, big ones kept
    assert DeltaTable(uri).to_pyarrow_table().num_rows == n + lake_module.FRAGMENTED_FILES + 3
