"""The lake's write path: contracts, quarantine, merge, time travel, atomicity, catalog.

Every test runs twice through the ``lake_session`` fixture: on local disk and on a local
S3-compatible server, since production reaches an object store through the same code.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest

from workbench.errors import UnknownColumn, UnknownTable, WorkbenchError
from workbench.session import Session
from workbench.lake import TableSpec, TableStream
from workbench.lake.specs import ColumnSpec
from workbench.lake.contracts import KeyLedger
from workbench.lake.streams import read_ahead

SPEC = TableSpec.model_validate({
    "name": "raw.shipments",
    "description": "Test shipments",
    "classification": "internal",
    "key": ["shipment_id"],
    "columns": {
        "shipment_id": {"type": "string", "pattern": r"^S\d{4}$"},
        "value_hkd": {"type": "float64", "min": 0},
        "pieces": {"type": "int64", "min": 1},
        "currency": {"type": "string", "isin": ["HKD", "USD", "CNY"]},
        "arrived_on": {"type": "date"},
        "remarks": {"type": "string", "nullable": True},
    },
})


def good_rows(n: int, start: int = 0) -> pa.Table:
    ids = [f"S{i:04d}" for i in range(start, start + n)]
    return pa.table({
        "shipment_id": ids,
        "value_hkd": [float(i) for i in range(n)],
        "pieces": [1 + i % 5 for i in range(n)],
        "currency": ["HKD"] * n,
        "arrived_on": [date(2024, 1, 1 + i % 28) for i in range(n)],
        "remarks": [None] * n,
    })


@pytest.fixture
def wb(lake_session: Session) -> Session:
    lake_session.lake.specs[SPEC.name] = SPEC
    return lake_session


def test_bad_batch_lands_good_rows_and_quarantines_each_bad_one_with_reason(wb: Session) -> None:
    batch = pa.table({
        "shipment_id": ["S0001", "S0002", "S0002", "X9", None, "S0006", "S0007", "S0008"],
        "value_hkd": ["10.5", "20", "30", "1", "2", "-5", "lots", "8"],
        "pieces": ["1", "2", "3", "1", "1", "1", "1", "0"],
        "currency": ["HKD", "USD", "HKD", "HKD", "HKD", "EUR", "HKD", "CNY"],
        "arrived_on": ["2024-02-01", "2024-02-02", "2024-02-03", "2024-02-04", "2024-02-05", "2024-02-06",
                       "2024-02-07", "not a date"],
        "remarks": [None, "ok", None, None, None, None, None, None],
    })
    result = wb.lake.write(batch, "raw.shipments")
    assert result.rows_written == 2
    landed = wb.sql("SELECT shipment_id, value_hkd, pieces FROM raw.shipments ORDER BY 1")
    assert landed.to_dicts() == [
        {"shipment_id": "S0001", "value_hkd": 10.5, "pieces": 1},
        {"shipment_id": "S0002", "value_hkd": 20.0, "pieces": 2},
    ]
    quarantined = wb.sql(
        "SELECT record, field, rule, payload FROM quarantine.rejections WHERE table_name = 'raw.shipments' ORDER BY 1"
    )
    by_record = {r["record"]: r for r in quarantined.to_dicts()}
    assert by_record["shipment_id=S0002"]["rule"] == "unique key"
    assert "str_matches" in by_record["shipment_id=X9"]["rule"]
    assert by_record["#4"]["field"] == "shipment_id" and by_record["#4"]["rule"] == "required"
    assert by_record["shipment_id=S0006"]["field"] == "value_hkd"  # negative value, and EUR too
    assert by_record["shipment_id=S0007"]["rule"] == "type float64"
    assert by_record["shipment_id=S0008"]["field"] in {"pieces", "arrived_on"}
    assert len(by_record) == 6
    # nothing is lost: every rejected record is kept whole
    assert json.loads(by_record["shipment_id=S0007"]["payload"])["value_hkd"] == "lots"
    assert any("EUR" in r.reason or "isin" in r.reason for r in result.rejections)


def test_append_rejects_keys_already_in_the_table(wb: Session) -> None:
    wb.lake.write(good_rows(5), "raw.shipments")
    result = wb.lake.write(good_rows(3, start=4), "raw.shipments")
    assert (result.rows_written, result.rows_quarantined) == (2, 1)
    assert result.rejections[0].record == "shipment_id=S0004"
    assert wb.sql("SELECT count(*) AS n FROM raw.shipments")["n"][0] == 7


def test_merge_upserts_and_rerunning_it_changes_nothing(wb: Session) -> None:
    wb.lake.write(good_rows(4), "raw.shipments")
    update = good_rows(3, start=2).to_pandas()
    update["value_hkd"] = 999.0
    wb.lake.write(pa.Table.from_pandas(update, preserve_index=False), "raw.shipments", mode="merge")
    first = wb.sql("SELECT * FROM raw.shipments ORDER BY shipment_id")
    wb.lake.write(pa.Table.from_pandas(update, preserve_index=False), "raw.shipments", mode="merge")
    second = wb.sql("SELECT * FROM raw.shipments ORDER BY shipment_id")
    assert first.equals(second)
    assert first["value_hkd"].to_list() == [0.0, 1.0, 999.0, 999.0, 999.0]
    # The merge wrote its files with string_view columns beside the first write's string ones: a filter the
    # engine pushes into the scan meets both kinds of file statistics (an Arrow dataset's scan failed on it)
    picked = wb.sql("SELECT shipment_id FROM raw.shipments WHERE shipment_id >= 'S0001' AND "
                    "list_contains(['S0001', 'S0003', 'S0009'], shipment_id) ORDER BY 1")
    assert picked["shipment_id"].to_list() == ["S0001", "S0003"]


def test_concurrent_merges_into_one_table_from_one_process_all_land(wb: Session) -> None:
    wb.lake.write(good_rows(1), "raw.shipments")
    start = threading.Barrier(4)

    def merge(part: int) -> None:
        def batches() -> Iterator[pa.RecordBatch]:  # a slow source: the four writes overlap in time
            for batch in good_rows(50, start=100 * (part + 1)).to_batches(max_chunksize=5):
                time.sleep(0.01)
                yield batch

        start.wait()
        wb.lake.write(TableStream("raw.shipments", good_rows(0).schema, batches()), mode="merge")

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(merge, range(4)))
    assert wb.sql("SELECT count(*) AS n FROM raw.shipments")["n"].item() == 1 + 4 * 50


def next_second() -> None:
    """Wait (polling) until the wall clock enters the next second."""
    start = int(time.time())
    while int(time.time()) == start:
        time.sleep(0.02)


def test_time_travel_returns_older_versions(wb: Session) -> None:
    wb.lake.write(good_rows(3), "raw.shipments")
    wb.lake.write(good_rows(2, start=3), "raw.shipments")
    next_second()  # object stores stamp commits to the second: two boundaries keep v2 clearly after v1
    next_second()
    wb.lake.write(good_rows(1, start=10), "raw.shipments", mode="overwrite")
    assert wb.table("raw.shipments").height == 1
    assert wb.table("raw.shipments", version=0).height == 3
    assert wb.table("raw.shipments", version=1).height == 5
    history = wb.history("raw.shipments")
    assert history["version"].to_list() == [2, 1, 0]
    committed_v1 = datetime.fromtimestamp(history.filter(pl.col("version") == 1)["timestamp"][0] / 1000 + 1, tz=UTC)
    assert wb.table("raw.shipments", as_of=committed_v1).height == 5
    assert wb.table("raw.shipments", as_of=committed_v1.isoformat()).height == 5
    assert wb.scan("raw.shipments", version=1).select(pl.len()).collect().item() == 5


def test_catalog_records_version_size_schema_and_lineage(wb: Session) -> None:
    from workbench.lake import Lineage

    wb.lake.write(good_rows(3), "raw.shipments")
    wb.lake.write(good_rows(2, start=3), "raw.shipments", lineage=Lineage("test job", (("raw.source", 4),)))
    entry = wb.tables().filter(pl.col("name") == "raw.shipments").row(0, named=True)
    assert entry["row_count"] == 5 and entry["version"] == 1
    assert entry["classification"] == "internal" and entry["zone"] == "raw"
    assert entry["produced_by"] == "test job"
    assert json.loads(entry["inputs"]) == [{"table": "raw.source", "version": 4}]
    assert [c["name"] for c in json.loads(entry["schema"])][:2] == ["shipment_id", "value_hkd"]
    # bookkeeping: a system table's entry describes it; its writes (a follower's every round) add no entry
    from deltalake import DeltaTable

    from workbench.lake.catalog import CATALOG

    def catalog_version() -> int:
        return DeltaTable(wb.lake.location.table_uri(CATALOG), storage_options=wb.lake.location.storage_options).version()

    marks = wb.lake.specs["system.watermarks"].arrow_schema()
    for value in ("1", "2"):
        row = {"source": "s", "table_name": "raw.shipments", "mark": "value", "value": value, "run_id": value,
               "updated_at": datetime(2026, 1, 1)}
        written = wb.lake.write(pa.Table.from_pylist([row], schema=marks), "system.watermarks", mode="merge")
        if value == "1":
            described = catalog_version()
    assert written.version == 1 and catalog_version() == described
    assert wb.lake.catalog.entry("system.watermarks")["version"] == 0  # type: ignore[index]
    shown = wb.tables("system").filter(pl.col("name") == "system.watermarks").row(0, named=True)
    assert (shown["version"], shown["row_count"]) == (1, 1)  # the listing reads the table, not the old entry


def test_a_streamed_tables_commits_add_no_catalog_entries_yet_every_reader_sees_its_current_figures(
        wb: Session) -> None:
    """A streamed table (a follower's target, the live queue) commits every second or so: its entry is written once
    it is marked, and each reader (a listing, an app's query cache, another process that never marked it) reads its
    version, size and last commit from the table itself."""
    from deltalake import DeltaTable

    from workbench.apps.queries import QueryCache, run_cached
    from workbench.lake.catalog import CATALOG
    from workbench.session import connect

    def catalog_version() -> int:
        return DeltaTable(wb.lake.location.table_uri(CATALOG), storage_options=wb.lake.location.storage_options).version()

    def listed(session: Session) -> dict[str, object]:
        return session.tables().filter(pl.col("name") == SPEC.name).row(0, named=True)

    wb.lake.write(good_rows(2), SPEC.name)
    assert listed(wb)["live"] is False
    wb.lake.stream([SPEC.name])
    wb.lake.write(good_rows(1, start=2), SPEC.name)  # now described as live: one entry
    described = catalog_version()
    cache, query = QueryCache(), f"SELECT count(*) AS n FROM {SPEC.name}"
    assert run_cached(wb, query, [SPEC.name], cache=cache)["n"].item() == 3
    before = datetime.now(UTC).replace(tzinfo=None)
    for i in range(3, 6):
        last = wb.lake.write(good_rows(1, start=i), SPEC.name)
    assert wb.lake.delete_where(SPEC.name, "shipment_id = 'S0000'") == 1
    assert catalog_version() == described  # four commits, no entry
    version = DeltaTable(wb.lake.location.table_uri(SPEC.name), storage_options=wb.lake.location.storage_options).version()
    assert version > last.version and wb.lake.catalog.version(SPEC.name) == version
    assert wb.lake.catalog.entry(SPEC.name)["version"] < version  # type: ignore[index,operator]
    assert run_cached(wb, query, [SPEC.name], cache=cache)["n"].item() == 5  # not the cached 3
    reader = connect(wb.settings.lake, storage_options=wb.lake.location.storage_options, user="reader")
    reader.lake.specs[SPEC.name] = SPEC
    for session in (wb, reader):
        shown = listed(session)
        assert (shown["live"], shown["version"], shown["row_count"]) == (True, version, 5)
        assert before <= shown["updated_at"] <= datetime.now(UTC).replace(tzinfo=None)
    # a writer that does not stream it (a batch reload) describes it again, with the figures of its write
    written = reader.lake.write(good_rows(1, start=9), SPEC.name)
    assert catalog_version() == described + 1
    assert (listed(wb)["live"], listed(wb)["version"], listed(wb)["row_count"]) == (False, written.version, 6)


def test_catalog_log_and_small_tables_stay_compact_and_an_entry_appended_during_a_snapshot_survives(
        wb: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    from deltalake import DeltaTable, write_deltalake

    from workbench.lake import retention as histories
    from workbench.lake.catalog import CATALOG, SNAPSHOT_FILES
    from workbench.lake.lake import FRAGMENTED_FILES

    # no retention: a snapshot takes the catalog's replaced files with it (a minute's worth stay in the stack)
    monkeypatch.setattr(histories, "BOOKKEEPING", histories.History(timedelta(0)))
    retention = histories.BOOKKEEPING.properties
    location = wb.lake.location
    log = location.table_uri(CATALOG)
    for i in range(SNAPSHOT_FILES + 8):  # an entry per write, a small file per write
        last = wb.lake.write(good_rows(1, start=i), "raw.shipments")
    kept = DeltaTable(log, storage_options=location.storage_options)
    assert kept.metadata().configuration.items() >= retention.items()
    # so does a compaction of a system table (the run log and watermarks gain a file per follower round); on local
    # disk only: the trimming is the catalog's above, which ran on S3 too, and 33 merges there cost ~15 s
    if not location.is_remote:
        marks = wb.lake.specs["system.watermarks"].arrow_schema()
        for i in range(FRAGMENTED_FILES + 1):
            row = {"source": "s", "table_name": "t", "mark": str(i), "value": "v", "run_id": "r",
                   "updated_at": datetime(2026, 1, 1)}
            wb.lake.write(pa.Table.from_pylist([row], schema=marks), "system.watermarks", mode="merge")
        watermarks = DeltaTable(location.table_uri("system.watermarks"))
        assert len(watermarks.file_uris()) == 1 and watermarks.to_pyarrow_table().num_rows == FRAGMENTED_FILES + 1
        # the files the snapshots and the compaction replaced are gone, not only out of the log
        assert {str(f) for f in Path(log).glob("*.parquet")} == set(DeltaTable(log).file_uris())
        assert {str(f) for f in Path(location.table_uri("system.watermarks")).glob("*.parquet")} == set(watermarks.file_uris())
    entry = wb.lake.catalog.entry("raw.shipments")
    assert entry is not None and (entry["version"], entry["row_count"]) == (last.version, SNAPSHOT_FILES + 8)
    shipments = DeltaTable(location.table_uri("raw.shipments"), storage_options=location.storage_options)
    assert len(shipments.file_uris()) <= FRAGMENTED_FILES and shipments.to_pyarrow_table().num_rows == SNAPSHOT_FILES + 8
    assert len(DeltaTable(log, storage_options=location.storage_options).file_uris()) <= SNAPSHOT_FILES
    assert DeltaTable(log, storage_options=location.storage_options).to_pyarrow_table().num_rows < SNAPSHOT_FILES

    # A snapshot overwrites what it read; an entry another writer appended meanwhile is not lost.
    read = DeltaTable(log, storage_options=location.storage_options)
    entries = read.to_pyarrow_table()
    wb.lake.write(pa.table({"k": [1]}), "work.landed_meanwhile")
    write_deltalake(read, entries, mode="overwrite")
    assert "work.landed_meanwhile" in wb.lake.catalog.names()
    assert wb.lake.catalog.entry("raw.shipments")["version"] == last.version  # type: ignore[index]
    # the entries a reader keeps (the files the log gained read on top of its cache) equal a fresh read
    wb.lake.write(good_rows(1, start=100), "raw.shipments")
    from workbench.lake.catalog import _current_entries

    fresh = _current_entries(DeltaTable(log, storage_options=location.storage_options))
    assert wb.lake.catalog.frame().select(fresh.columns).equals(fresh)


def test_a_streamed_table_keeps_only_its_window_of_history_and_pinned_readers_and_offsets_survive_the_trimming(
        tmp_path: Path) -> None:
    """Many small commits to a streamed table (a 1 s history here, 5 minutes in the stack): its log stops growing,
    a reader's snapshot resolved before a compaction still reads after it, the replaced files go once the window has
    passed, versions inside the window read back and older ones are refused, and a follower's offsets in
    ``system.watermarks`` (streamed too) stay whole. On local disk only: the trimming is delta-rs's own on either
    store (the catalog test above trims on S3 too), and a commit on the S3 server takes several times as long."""
    from workbench.errors import WorkbenchError
    from workbench.ingest.watermarks import Watermarks
    from workbench.lake import retention
    from workbench.session import connect

    wb = connect(str(tmp_path / "lake"), user="tester")
    wb.lake.specs[SPEC.name] = SPEC

    def files(name: str) -> tuple[int, int]:
        """(log commits, Parquet files in the folder) of ``name``."""
        folder = Path(wb.lake.location.table_uri(name))
        return len(list((folder / "_delta_log").glob("*.json"))), len(list(folder.glob("*.parquet")))

    history = retention.History(timedelta(seconds=1), checkpoint_every=5, compact_above=4)
    wb.lake.stream(["raw.shipments", "system.watermarks"], history)
    offsets = Watermarks(wb.lake)
    written: dict[int, int] = {}  # version -> rows then

    def commit() -> None:
        n = len(written)
        written[wb.lake.write(good_rows(1, start=n), "raw.shipments").version] = n + 1
        if n % 3 == 0:
            offsets.advance("feed", "raw.shipments", {"updated_at": str(n)}, f"run-{n}", "test")

    began = datetime.now(UTC)
    commit()
    pinned, rows = wb.lake.delta("raw.shipments"), len(written)  # a reader resolves its snapshot
    listed = set(pinned.file_uris())
    for _ in range(4 + 2):  # until a compaction (past the history's 4 small files) replaces the reader's files
        commit()
        if not listed <= set(wb.lake.delta("raw.shipments").file_uris()):
            break
    assert not listed <= set(wb.lake.delta("raw.shipments").file_uris())
    assert pinned.to_pyarrow_dataset().count_rows() == rows  # replaced within the window: still there
    compacted = time.monotonic()
    while time.monotonic() - compacted < 1.2 or (  # past the window, and until the log holds about its window
            files("raw.shipments")[0] > len(written) / 2 and time.monotonic() - compacted < 20):
        commit()
    newest = max(written)
    assert wb.table("raw.shipments", version=newest).height == written[newest]  # inside the window
    time.sleep(1.2)  # the window is wall time: a compaction among the last commits replaced files less than 1 s ago
    dt = wb.lake.delta("raw.shipments")
    retention.trim(dt)  # the upkeep a later write runs
    log, folder = files("raw.shipments")
    assert dt.metadata().configuration.items() >= history.properties.items()
    assert log <= len(written) / 2 < dt.version(), (log, dt.version())
    assert folder == len(dt.file_uris())  # replaced files gone
    with pytest.raises(WorkbenchError, match="version 0 cannot be read: the table keeps the versions of the last 1 s"):
        wb.table("raw.shipments", version=min(written))  # aged out: refused, never answered wrong
    with pytest.raises(WorkbenchError, match="cannot be read"):  # delta-rs would answer with the oldest version kept
        wb.table("raw.shipments", as_of=began)
    assert wb.sql("SELECT count(*) AS n FROM raw.shipments")["n"][0] == len(written)

    last = max(n for n in range(len(written)) if n % 3 == 0)
    assert files("system.watermarks")[0] < wb.lake.delta("system.watermarks").version() * 0.75  # trimmed log
    assert offsets.get("feed", "raw.shipments") == {"updated_at": str(last)}  # and whole rows
    assert f"run-{last}" in offsets.advanced_by("feed", "raw.shipments")


def test_new_rows_are_curated_once_from_the_files_a_round_added_and_after_a_rewrite(wb: Session) -> None:
    from workbench.lake.curation import NewRows, curate

    curated = TableSpec.model_validate({
        "name": "curated.shipments", "description": "", "key": ["shipment_id"],
        "sql": "SELECT shipment_id, value_hkd * 2 AS double_hkd FROM raw.shipments",
        "columns": {"shipment_id": {"type": "string"}, "double_hkd": {"type": "float64"}}})
    wb.lake.specs[curated.name] = curated
    wb.lake.write(good_rows(3), "raw.shipments")
    curate(wb.lake, [curated.name])
    follower = NewRows(wb.lake)
    rounds = [good_rows(2, start=3), good_rows(1, start=5), good_rows(0, start=6)]
    for rows in rounds:  # the first call anti-joins (a follower just started), the next read only the files added
        if rows.num_rows:
            wb.lake.write(rows, "raw.shipments", mode="merge")
        follower.curate({"raw.shipments"})
    engine = follower.engines[curated.name]
    assert engine.incremental is (not wb.lake.location.is_remote)
    changed = good_rows(2, start=5).set_column(1, "value_hkd", pa.array([50.0, 60.0]))
    wb.lake.write(changed, "raw.shipments", mode="merge")  # S0005 rewritten (a Delta merge), S0006 new
    follower.curate({"raw.shipments"})
    assert not engine.incremental  # files were rewritten: what the curated table lacks, by key
    table = wb.table(curated.name).sort("shipment_id")
    assert table["shipment_id"].to_list() == [f"S{i:04d}" for i in range(7)]  # each once
    assert table["double_hkd"].to_list()[5:] == [0.0, 120.0]  # a held key keeps its row until a full curate


def test_sql_parameters_are_bound_never_spliced(wb: Session) -> None:
    wb.lake.write(good_rows(3), "raw.shipments")
    attacks = ["S0001' OR '1'='1", "S0001'; DROP TABLE raw.shipments; --", "' UNION SELECT * FROM quarantine.rejections --"]
    for attack in attacks:
        assert wb.sql("SELECT * FROM raw.shipments WHERE shipment_id = $id", {"id": attack}).height == 0
        assert wb.sql("SELECT * FROM raw.shipments WHERE shipment_id = ?", [attack]).height == 0
    assert wb.sql("SELECT count(*) AS n FROM raw.shipments")["n"][0] == 3


def test_unknown_names_get_close_suggestions(wb: Session) -> None:
    wb.lake.write(good_rows(1), "raw.shipments")
    with pytest.raises(UnknownTable) as table_error:
        wb.sql("SELECT * FROM raw.shipment")
    assert "raw.shipments" in table_error.value.suggestions
    with pytest.raises(UnknownColumn) as column_error:
        wb.sql("SELECT value_hdk FROM raw.shipments")
    assert "value_hkd" in column_error.value.suggestions
    with pytest.raises(UnknownTable):
        wb.table("curated.shipments")


def test_analyst_work_tables_take_their_schema_from_the_data(wb: Session) -> None:
    frame = pl.DataFrame({"port": ["Kwai Chung", "HKIA"], "n": [3, 4]})
    result = wb.write(frame, "work.port_counts", description="my counts")
    assert result.rows_written == 2
    assert wb.sql("SELECT sum(n) AS s FROM work.port_counts")["s"][0] == 7
    with pytest.raises(WorkbenchError):
        wb.write(frame, "nowhere.port_counts")


def test_describe_profiles_every_column(wb: Session) -> None:
    wb.lake.write(good_rows(10), "raw.shipments")
    profile = wb.describe("raw.shipments")
    assert profile["column"].to_list() == list(SPEC.columns)
    pieces = profile.filter(pl.col("column") == "pieces").row(0, named=True)
    assert (pieces["min"], pieces["max"], pieces["rows"]) == ("1", "5", 10)
    assert profile.filter(pl.col("column") == "remarks")["nulls"][0] == 10
    assert profile.filter(pl.col("column") == "currency")["top_values"][0] == "HKD (10)"


KILLED_WRITER = textwrap.dedent("""
    import json, sys, time
    import workbench
    from workbench.lake import TableStream
    from tests.test_lake import SPEC, good_rows
    wb = workbench.connect(sys.argv[1], storage_options=json.loads(sys.argv[2]))
    wb.lake.specs[SPEC.name] = SPEC
    def batches():
        for i in range(1000):
            yield from good_rows(2000, start=100 + i * 2000).to_batches()
            print(i, flush=True)
            time.sleep(0.01)
    wb.lake.write(TableStream("raw.shipments", good_rows(1).schema, batches()), "raw.shipments")
""")


def test_write_killed_half_way_leaves_previous_version(wb: Session) -> None:
    wb.lake.write(good_rows(10), "raw.shipments")
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, wb.settings.lake, json.dumps(wb.settings.storage_options)],
        stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parents[1],
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if int(line.split()[0]) >= 30:  # 60,000 rows already streamed towards data files
            break
    proc.kill()
    proc.wait()
    assert wb.table("raw.shipments").height == 10
    assert wb.lake.delta("raw.shipments").version() == 0
    result = wb.lake.write(good_rows(5, start=50), "raw.shipments")  # the table still takes writes
    assert result.version == 1 and wb.table("raw.shipments").height == 15


def test_documents_keep_their_original_bytes_and_re_landing_replaces(wb: Session) -> None:
    from datetime import datetime

    from workbench.lake.documents import Document

    note = Document(doc_id="N1", kind="intel_note", language="zh-Hant", title="線報", source="cirms",
                    published_at=datetime(2024, 5, 1, 9, 30), text="貨車 粵Z·1234港 於落馬洲運載香煙。")
    pdf = Document(doc_id="P1", kind="press_release", language="en", title="Seizure", source="https://example.test/p1",
                   published_at=datetime(2024, 5, 2), text="Customs seized cigarettes.", content=b"%PDF-1.4 ...",
                   filename="p1.pdf", media_type="application/pdf")
    wb.documents.add([note, pdf])
    wb.documents.add([note])
    index = wb.sql("SELECT doc_id, path, size_bytes FROM documents.index ORDER BY doc_id")
    assert index["doc_id"].to_list() == ["N1", "P1"]
    paths = dict(zip(index["doc_id"], index["path"], strict=True))
    assert wb.documents.read(paths["P1"]) == b"%PDF-1.4 ..."
    assert wb.documents.read(paths["N1"]).decode() == note.text


def test_read_ahead_keeps_order_reraises_where_the_source_failed_and_stops_the_source() -> None:
    closed: list[str] = []

    def source(n: int, fail_at: int | None = None) -> Iterator[int]:
        try:
            for i in range(n):
                if i == fail_at:
                    raise ValueError(f"row {i} unreadable")
                yield i
        finally:
            closed.append(threading.current_thread().name)

    assert list(read_ahead(source(1000))) == list(range(1000))
    seen = []
    with pytest.raises(ValueError, match="row 70 unreadable"):
        for item in read_ahead(source(100, fail_at=70)):
            seen.append(item)
    assert seen == list(range(70))
    early = read_ahead(source(10**9), depth=2)
    assert [next(early), next(early)] == [0, 1]
    early.close()  # the consumer gave up (a failed write): the producer stops and the source is closed
    assert closed == ["read-ahead"] * 3


def test_key_ledger_keeps_the_first_occurrence_within_and_across_batches() -> None:
    ledger = KeyLedger(("id", "day"))
    ledger.add_existing(pl.DataFrame({"id": ["a"], "day": [1]}))
    first = ledger.admit(pl.DataFrame({"id": ["a", "b", "c", "b", "a"], "day": [1, 1, 1, 1, 2]}))
    assert first.tolist() == [True, False, False, True, False]  # a/1 existed; b/1 repeats; a/2 is a new key
    second = ledger.admit(pl.DataFrame({"id": ["c", "d", "d", "a"], "day": [1, 1, 1, 2]}))
    assert second.tolist() == [True, False, True, True]


@pytest.mark.parametrize("mode", ["merge", "append"])
def test_a_spec_that_gains_a_column_adds_it_to_the_table(wb: Session, mode: str) -> None:
    wb.lake.write(good_rows(3), "raw.shipments", mode=mode)
    grown = SPEC.model_copy(update={"columns": {**SPEC.columns, "port": ColumnSpec(type="string", nullable=True)}})
    wb.lake.specs[SPEC.name] = grown
    later = good_rows(2, start=3).append_column("port", pa.array(["HKG", "KTQ"]))
    result = wb.lake.write(later, "raw.shipments", mode=mode)
    assert (result.rows_written, result.rows_quarantined) == (2, 0)
    rows = wb.sql("SELECT shipment_id, port FROM raw.shipments ORDER BY 1").rows()
    assert rows == [("S0000", None), ("S0001", None), ("S0002", None), ("S0003", "HKG"), ("S0004", "KTQ")]


def test_a_new_local_lake_root_starts_closed_to_other_users(tmp_path: Path) -> None:
    """Readers get a lake through ACLs (``lake permissions --apply``), never through its "other" bits: a root the
    lake makes is 0750 from the start, and a first write does not open it; an existing root keeps its mode."""
    import os
    import stat

    from workbench.lake import Lake, LakeLocation

    old_umask = os.umask(0o022)  # the common default, under which a plain mkdir would give 0755
    try:
        root = tmp_path / "new" / "lake"
        lake = Lake(LakeLocation(str(root)))
        assert stat.S_IMODE(root.stat().st_mode) == 0o750
        lake.write(pa.table({"n": [1, 2]}), "raw.numbers")
        assert stat.S_IMODE(root.stat().st_mode) == 0o750
        assert lake.catalog.names() == ["raw.numbers"]
        opened = tmp_path / "opened"
        opened.mkdir(mode=0o755)
        Lake(LakeLocation(f"file://{opened}"))
        assert stat.S_IMODE(opened.stat().st_mode) == 0o755
    finally:
        os.umask(old_umask)
