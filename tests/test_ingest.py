"""Ingestion against a real PostgreSQL server and a real drop folder.

The server is started once per session on a free loopback port (initdb into a temporary
folder, run as the postgres user when the tests run as root) and each test gets its own
database. Lakes are local folders: the lake's S3 path is covered by the lake tests.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import free_port
from workbench.errors import ConfigError
from workbench.session import Session, connect
from workbench.ingest import RunRecord, parse_connector, run_connectors, status
from workbench.ingest.postgres_server import LocalPostgres

SQL_CONNECTOR = """
kind = "sql"
description = "Test trader register"
classification = "restricted"
retries = 2
backoff_seconds = 0.5
[connection]
url_env = "SRC_URL"
[[tables]]
target = "raw.test_traders"
source_table = "traders"
incremental = "updated_at"
merge_keys = ["trader_id"]
[tables.columns]
trader_id = { type = "string", pattern = '^T[0-9]{7}$' }
name = { type = "string" }
turnover = { type = "float64", min = 0 }
registered_on = { type = "date" }
updated_at = { type = "timestamp" }
"""


@pytest.fixture(scope="session")
def postgres() -> Iterator[LocalPostgres]:
    with LocalPostgres(free_port()) as server:
        yield server


@pytest.fixture
def source_url(postgres: LocalPostgres) -> Iterator[str]:
    """A fresh database on the session's server, dropped after the test."""
    name = f"src_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(postgres.url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    url = postgres.url.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE traders (trader_id text PRIMARY KEY, name text, turnover numeric(14, 2), "
                     "registered_on date, updated_at timestamp NOT NULL)")
    yield url
    with psycopg.connect(postgres.url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE {name} WITH (FORCE)")


def _load(url: str, rows: list[tuple[object, ...]]) -> None:
    with psycopg.connect(url, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute("CREATE TEMP TABLE incoming (LIKE traders)")
        with cur.copy("COPY incoming FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        cur.execute("INSERT INTO traders SELECT * FROM incoming ON CONFLICT (trader_id) DO UPDATE SET "
                    "name = EXCLUDED.name, turnover = EXCLUDED.turnover, updated_at = EXCLUDED.updated_at")


def traders(ids: range, version: int, bad_every: int = 0) -> list[tuple[object, ...]]:
    """Rows for ``ids`` as of ``version`` (later versions have later ``updated_at``)."""
    return [
        (f"T{i:07d}", f"Trader {i} v{version}", -1 if bad_every and i % bad_every == 0 else i * 10.5 + version,
         f"2020-01-{1 + i % 28:02d}", f"2024-01-{1 + version:02d} {i % 24:02d}:{i % 60:02d}:00")
        for i in ids
    ]


def run_sql(wb: Session, url: str) -> RunRecord:
    spec = parse_connector(SQL_CONNECTOR, "connectors/test_traders.toml", "test_traders")
    [record] = run_connectors(wb.lake, {spec.name: spec}, env={"SRC_URL": url})
    assert record.status == "ok", record.error
    return record


def content_hash(frame: pl.DataFrame, drop: tuple[str, ...] = ()) -> str:
    """Order-independent hash of a table's rows."""
    frame = frame.drop([c for c in drop if c in frame.columns])
    rows = sorted(json.dumps(r, default=str, sort_keys=True) for r in frame.to_dicts())
    return hashlib.sha256("\n".join(rows).encode()).hexdigest()


QUARANTINE_VOLATILE = ("batch_id", "rejected_at", "rejected_by")


# -- connector files -----------------------------------------------------------------------


@pytest.mark.parametrize(("text", "where"), [
    ('kind = "sql"\n[connection]\npassword = "hunter2"\n[[tables]]\ntarget = "raw.x"\nsource_table = "x"\n',
     "connection: password: secrets must not be inline"),
    ('kind = "sql"\n[connection]\nurl = "postgresql://u:hunter2@db/x"\n[[tables]]\ntarget = "raw.x"\n',
     "connection: url: the URL carries an inline password"),
    ('kind = "sql"\nschedule = "often"\ntables = []\n', "schedule: schedule must be"),
    ('kind = "sql"\n[[tables]]\ntarget = "raw.x"\nquery = "SELECT 1"\nsource_table = "x"\n',
     "tables.0: give either query or source_table"),
    ('kind = "sql"\n[[tables]]\ntarget = "raw.x"\nbogus = 1\n', "tables.0.bogus: Extra inputs are not permitted"),
])
def test_connector_file_errors_name_file_key_and_reason(text: str, where: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_connector(text, "connectors/bad.toml", "bad")
    assert str(err.value).startswith("connectors/bad.toml: ") and where in str(err.value)


def test_kind_rules_and_unknown_kind_are_config_errors(tmp_path: Path) -> None:
    wb = connect(str(tmp_path / "lake"), user="tester")
    unknown = parse_connector('kind = "ftp"\n[[tables]]\ntarget = "raw.x"\n', "connectors/f.toml", "f")
    with pytest.raises(ConfigError, match=r"connectors/f.toml: kind: unknown connector kind 'ftp'"):
        run_connectors(wb.lake, {"f": unknown})
    keyless = parse_connector('kind = "sql"\n[connection]\nurl_env = "U"\n[[tables]]\ntarget = "raw.x"\n'
                              'source_table = "x"\nincremental = "updated_at"\n', "connectors/k.toml", "k")
    with pytest.raises(ConfigError, match=r"connectors/k.toml: tables\[raw.x\].merge_keys: an incremental source"):
        run_connectors(wb.lake, {"k": keyless})


# -- SQL kind -------------------------------------------------------------------------------


def test_sql_initial_load_then_incremental_changes_then_noop(tmp_path: Path, source_url: str) -> None:
    wb = connect(str(tmp_path / "lake"), user="tester")
    _load(source_url, traders(range(1, 1001), version=1))
    first = run_sql(wb, source_url)
    assert (first.rows_read, first.rows_written) == (1000, 1000)
    assert wb.lake.catalog.entry("raw.test_traders")["produced_by"] == "ingest test_traders"  # type: ignore[index]

    _load(source_url, traders(range(991, 1011), version=2))  # 10 updates, 10 inserts
    second = run_sql(wb, source_url)
    assert (second.rows_read, second.rows_written) == (20, 20)
    lake = wb.table("raw.test_traders")
    assert lake.height == 1010
    updated = lake.filter(pl.col("trader_id") == "T0000995").row(0, named=True)
    assert updated["name"] == "Trader 995 v2" and updated["turnover"] == pytest.approx(995 * 10.5 + 2)

    version = wb.lake.delta("raw.test_traders").version()
    third = run_sql(wb, source_url)
    assert third.rows_read == 0 and third.table_version is None
    assert wb.lake.delta("raw.test_traders").version() == version
    runs = status(wb.lake).row(0, named=True)
    assert runs["last_status"] == "ok" and runs["failures_since_ok"] == 0


def test_sql_contract_violations_go_to_quarantine_with_reason(tmp_path: Path, source_url: str) -> None:
    wb = connect(str(tmp_path / "lake"), user="tester")
    _load(source_url, traders(range(1, 101), version=1, bad_every=10))
    record = run_sql(wb, source_url)
    assert (record.rows_written, record.rows_quarantined) == (90, 10)
    rejected = wb.table("quarantine.rejections")
    assert rejected.height == 10
    assert rejected["reason"].str.contains("field 'turnover' breaks rule greater_than_or_equal_to").all()


def test_source_down_is_retried_with_backoff_and_fails_alone(tmp_path: Path, source_url: str) -> None:
    wb = connect(str(tmp_path / "lake"), user="tester")
    _load(source_url, traders(range(1, 11), version=1))
    good = parse_connector(SQL_CONNECTOR, "connectors/up.toml", "up")
    down = parse_connector(SQL_CONNECTOR.replace("SRC_URL", "DOWN_URL"), "connectors/down.toml", "down")
    delays: list[float] = []
    from workbench.ingest import build

    env = {"SRC_URL": source_url, "DOWN_URL": f"postgresql://postgres@127.0.0.1:{free_port()}/nothing"}
    broken = build(down, wb.lake, env)
    broken.sleep = delays.append
    [failed] = broken.run()
    [ok] = run_connectors(wb.lake, {"up": good}, env=env)
    assert failed.status == "failed" and "source unavailable after 3 attempts" in (failed.error or "")
    assert delays == [0.5, 1.0]
    assert ok.status == "ok" and ok.rows_written == 10
    table = status(wb.lake)
    assert dict(zip(table["source"], table["last_status"], strict=True)) == {"down": "failed", "up": "ok"}


# -- file drop ------------------------------------------------------------------------------

FILE_CONNECTOR = """
kind = "files"
[connection]
path_env = "DROP"
[[tables]]
target = "raw.test_items"
pattern = "{pattern}"
encoding = "{encoding}"
merge_keys = ["item_id"]
[tables.columns]
item_id = {{ type = "string", pattern = '^I[0-9]{{4}}$' }}
name = {{ type = "string" }}
amount = {{ type = "float64", min = 0 }}
count = {{ type = "int64" }}
day = {{ type = "date" }}
note = {{ type = "string", nullable = true }}
"""

HEADER = "item_id,name,amount,count,day\n"


def good(*ids: int) -> str:
    return "".join(f"I{i:04d},item {i},{i}.5,{i},2024-03-{1 + i % 28:02d}\n" for i in ids)


def write_corpus(drop: Path) -> tuple[int, dict[str, str]]:
    """Files with one kind of breakage each; returns (good rows, {breakage: expected reason text})."""
    drop.mkdir()
    drawn: list[int] = []
    ok = (drawn.append(i) or i for i in range(1, 800))  # every id drawn from `ok` is a good row

    def two() -> str:
        return good(next(ok), next(ok))

    files: dict[str, bytes] = {
        "00_good.csv": (HEADER + good(*range(900, 920))).encode(),
        "01_wrong_encoding.csv": (HEADER + "I0801,貿易有限公司,1,1,2024-01-01\n").encode("big5"),
        "02_truncated_line.csv": (HEADER + two() + "I0802,item").encode(),
        "03_extra_column.csv": (HEADER.strip() + ",colour\n" + "I0803,x,1,1,2024-01-01,red\n").encode(),
        "04_missing_column.csv": ("item_id,name,amount,day\nI0804,x,1,2024-01-01\n").encode(),
        "05_retyped_column.csv": (HEADER + two() + "I0805,x,true,1,2024-01-01\n").encode(),
        "06_bad_date.csv": (HEADER + two() + "I0806,x,1,1,2024-02-30\n").encode(),
        "07_negative_value.csv": (HEADER + two() + "I0807,x,-3,1,2024-01-01\n").encode(),
        "08_duplicate_key.csv": (HEADER + two() + "I0808,x,1,1,2024-01-01\nI0808,y,2,2,2024-01-02\n").encode(),
        "09_null_key.csv": (HEADER + two() + ",x,1,1,2024-01-01\n").encode(),
        "10_non_utf8_bytes.csv": (HEADER + two()).encode() + b"I0810,caf\xe9,1,1,2024-01-01\n",
        "11_empty.csv": b"",
        "12_header_only.csv": HEADER.encode(),
        "13_not_an_object.jsonl": (json.dumps({"item_id": f"I{next(ok):04d}", "name": "j", "amount": 1, "count": 2,
                                               "day": "2024-01-01"}) + "\n[1, 2, 3]\n").encode(),
        "14_invalid_json.jsonl": (json.dumps({"item_id": f"I{next(ok):04d}", "name": "j", "amount": 1, "count": 2,
                                              "day": "2024-01-01"}) + '\n{"item_id": "I0814", "name": \n').encode(),
        "16_not_parquet.parquet": (HEADER + good(815)).encode(),
        "17_unparsable_number.csv": (HEADER + two() + "I0817,x,1,12x,2024-01-01\n").encode(),
        "18_unbalanced_quote.csv": (HEADER + 'I0818,"x,1,1,2024-01-01\n').encode(),
        "19_bad_pattern_key.csv": (HEADER + two() + "X-819,x,1,1,2024-01-01\n").encode(),
        "20_binary_as_csv.csv": b"\x00\x01\x02PK\x03\x04" + bytes(range(256)),
        "21_not_excel.xlsx": (HEADER + good(821)).encode(),
    }
    for name, data in files.items():
        (drop / name).write_bytes(data)
    ids = [next(ok), next(ok)]
    pq.write_table(pa.table({"item_id": [f"I{i:04d}" for i in ids] + ["I0815"], "name": ["p", "q", "r"],
                             "amount": ["1.5", "2", "abc"], "count": [1, 2, 3],
                             "day": ["2024-01-01", "2024-01-02", "2024-01-03"]}), drop / "15_parquet_wrong_types.parquet")
    good_rows = 20 + len(drawn) + 1  # + the first of the two I0808 rows
    reasons = {
        "01_wrong_encoding.csv": "not valid utf-8 text at byte",
        "02_truncated_line.csv": "rule field count (value '2 fields where the header has 5')",
        "03_extra_column.csv": "schema drift: unexpected column(s) ['colour']",
        "04_missing_column.csv": "schema drift: missing required column(s) ['count']",
        "05_retyped_column.csv": "field 'amount' breaks rule type float64 (value 'true')",
        "06_bad_date.csv": "field 'day' breaks rule type date (value '2024-02-30')",
        "07_negative_value.csv": "field 'amount' breaks rule greater_than_or_equal_to(0",
        "08_duplicate_key.csv": "field 'item_id' breaks rule unique key (value 'I0808')",
        "09_null_key.csv": "field 'item_id' breaks rule required",
        "10_non_utf8_bytes.csv": "rule encoding utf-8 (value 'not valid utf-8 at byte 9 of the line')",
        "11_empty.csv": "the file is empty",
        "12_header_only.csv": "the file has a header but no rows",
        "13_not_an_object.jsonl": "rule JSON object (value 'a JSON list, not an object')",
        "14_invalid_json.jsonl": "rule JSON object (value 'not valid JSON",
        "15_parquet_wrong_types.parquet": "field 'amount' breaks rule type float64 (value 'abc')",
        "16_not_parquet.parquet": "not a readable Parquet file",
        "17_unparsable_number.csv": "field 'count' breaks rule type int64 (value '12x')",
        "18_unbalanced_quote.csv": "not valid CSV",
        "19_bad_pattern_key.csv": "field 'item_id' breaks rule str_matches",
        "20_binary_as_csv.csv": "not valid utf-8 text at byte",
        "21_not_excel.xlsx": "not a readable Excel workbook",
    }
    return good_rows, reasons


def file_connector(pattern: str = "*", encoding: str = "utf-8") -> object:
    return parse_connector(FILE_CONNECTOR.format(pattern=pattern, encoding=encoding), "connectors/drop.toml", "drop")


def test_bad_input_corpus_is_quarantined_with_reasons_and_no_good_row_lost(tmp_path: Path) -> None:
    wb = connect(str(tmp_path / "lake"), user="tester")
    good_rows, reasons = write_corpus(tmp_path / "drop")
    spec = file_connector()
    [record] = run_connectors(wb.lake, {"drop": spec}, env={"DROP": str(tmp_path / "drop")})
    assert record.status == "ok", record.error
    landed = wb.table("raw.test_items")
    assert landed.height == good_rows == record.rows_written
    rejected = wb.table("quarantine.rejections")
    text = rejected.with_columns(all=pl.concat_str(["record", "reason", "payload"], separator=" | "))["all"]
    for file, reason in reasons.items():
        key = file.split("_", 1)[0]
        hits = [t for t in text if (file in t or f'"{file}"' in t) and reason in t]
        assert hits, f"{key} {file}: no quarantine row with {reason!r}"
    assert record.rows_quarantined == rejected.height
    # a re-run reads nothing: every file, good or bad, is recorded as processed
    [again] = run_connectors(wb.lake, {"drop": spec}, env={"DROP": str(tmp_path / "drop")})
    assert again.rows_read == 0 and wb.table("quarantine.rejections").height == rejected.height


def test_big5_csv_and_excel_drops_land(tmp_path: Path) -> None:
    import openpyxl

    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "items.csv").write_bytes((HEADER + "I0001,貿易有限公司,1.5,2,2024-01-01\n").encode("big5"))
    book = openpyxl.Workbook()
    book.active.append(["item_id", "name", "amount", "count", "day", "note"])
    book.active.append(["I0002", "海關", 3.25, 4, "2024-01-02", None])
    book.save(drop / "items.xlsx")
    wb = connect(str(tmp_path / "lake"), user="tester")
    big5 = file_connector("*.csv", "big5")
    excel = parse_connector(FILE_CONNECTOR.format(pattern="*.xlsx", encoding="utf-8").replace("raw.test_items",
                                                                                                "raw.test_items_x"),
                            "connectors/xl.toml", "xl")
    records = run_connectors(wb.lake, {"drop": big5, "xl": excel}, env={"DROP": str(drop)})
    assert [r.status for r in records] == ["ok", "ok"]
    assert wb.table("raw.test_items")["name"].to_list() == ["貿易有限公司"]
    assert wb.table("raw.test_items_x").row(0, named=True)["amount"] == 3.25


@pytest.mark.slow
def test_connectors_run_as_dask_tasks_on_worker_processes(tmp_path: Path) -> None:
    from distributed import Client, LocalCluster

    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "a.csv").write_text(HEADER + good(*range(1, 301)))
    (drop / "b.csv").write_text(HEADER + good(*range(301, 401)) + "I0401,bad,-1,1,2024-01-01\n")
    specs = {"drop": file_connector("*.csv"),
             "b_only": parse_connector(FILE_CONNECTOR.format(pattern="b.csv", encoding="utf-8").replace(
                 "raw.test_items", "raw.test_items_b"), "connectors/b.toml", "b_only"),
             "nowhere": parse_connector(FILE_CONNECTOR.format(pattern="*", encoding="utf-8").replace(
                 'path_env = "DROP"', 'path_env = "MISSING_DROP"'), "connectors/n.toml", "nowhere")}
    wb = connect(str(tmp_path / "lake"), user="tester")
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster, \
            Client(cluster) as client:
        records = run_connectors(wb.lake, specs, env={"DROP": str(drop)}, client=client)
        worker_pids = set(client.run(os.getpid).values())
    outcome = {r.source: r.status for r in records}
    assert outcome == {"drop": "ok", "b_only": "ok", "nowhere": "failed"}, [r.summary() for r in records]
    assert os.getpid() not in worker_pids
    assert wb.table("raw.test_items").height == 400 and wb.table("raw.test_items_b").height == 100
    assert wb.table("quarantine.rejections").filter(pl.col("record").str.contains("I0401")).height == 2
    runs = wb.table("system.ingest_runs")
    assert set(runs["source"]) == set(specs) and runs.filter(pl.col("status") == "running").is_empty()


def test_rows_deleted_in_the_source_are_deleted_in_the_lake_with_reconcile(tmp_path: Path, source_url: str) -> None:
    wb = connect(str(tmp_path / "lake"), user="tester")
    text = SQL_CONNECTOR.replace('merge_keys = ["trader_id"]', 'merge_keys = ["trader_id"]\ndeletes = "reconcile"')
    spec = parse_connector(text, "connectors/test_traders.toml", "test_traders")
    _load(source_url, traders(range(1, 501), version=1))
    [first] = run_connectors(wb.lake, {spec.name: spec}, env={"SRC_URL": source_url})
    assert (first.status, first.rows_written, first.rows_deleted) == ("ok", 500, 0)
    with psycopg.connect(source_url, autocommit=True) as conn:
        conn.execute("DELETE FROM traders WHERE trader_id IN ('T0000007', 'T0000300')")
    _load(source_url, traders(range(501, 511), version=2))
    [second] = run_connectors(wb.lake, {spec.name: spec}, env={"SRC_URL": source_url})
    assert (second.rows_read, second.rows_deleted) == (10, 2), second.summary()
    logged = wb.table("system.ingest_runs").filter(pl.col("run_id") == second.run_id)
    assert logged["rows_deleted"].to_list() == [2]
    assert status(wb.lake).row(0, named=True)["rows_deleted"] == 2
    ids = set(wb.table("raw.test_traders")["trader_id"])
    assert len(ids) == 508 and not ids & {"T0000007", "T0000300"}
    assert wb.lake.catalog.entry("raw.test_traders")["row_count"] == 508  # type: ignore[index]
    version = wb.lake.delta("raw.test_traders").version()
    [third] = run_connectors(wb.lake, {spec.name: spec}, env={"SRC_URL": source_url})
    assert (third.rows_read, third.rows_deleted) == (0, 0)
    assert wb.lake.delta("raw.test_traders").version() == version, "nothing deleted, nothing committed"
    with pytest.raises(ConfigError, match=r"deletes: reconcile needs .*files cannot"):
        run_connectors(wb.lake, {"drop": parse_connector(FILE_CONNECTOR.format(pattern="*", encoding="utf-8").replace(
            'merge_keys = ["item_id"]', 'merge_keys = ["item_id"]\ndeletes = "reconcile"'), "connectors/d.toml", "drop")},
            env={"DROP": str(tmp_path)})


def test_a_run_log_from_before_rows_deleted_existed_gains_the_column(tmp_path: Path, source_url: str) -> None:
    wb = connect(str(tmp_path / "lake"), user="tester")
    spec = parse_connector(SQL_CONNECTOR, "connectors/test_traders.toml", "test_traders")
    _load(source_url, traders(range(1, 11), version=1))
    current = wb.lake.specs["system.ingest_runs"]
    wb.lake.specs["system.ingest_runs"] = current.model_copy(
        update={"columns": {k: v for k, v in current.columns.items() if k != "rows_deleted"}})
    [old] = run_connectors(wb.lake, {spec.name: spec}, env={"SRC_URL": source_url})
    assert "rows_deleted" not in wb.lake.delta("system.ingest_runs").to_pyarrow_table().column_names
    wb.lake.specs["system.ingest_runs"] = current
    assert status(wb.lake)["rows_deleted"].to_list() == [None]
    [new] = run_connectors(wb.lake, {spec.name: spec}, env={"SRC_URL": source_url})
    logged = dict(wb.table("system.ingest_runs").select("run_id", "rows_deleted").iter_rows())
    assert logged == {old.run_id: None, new.run_id: 0}
