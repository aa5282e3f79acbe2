"""PostgreSQL -> lake ingestion throughput, as a ratio to a raw ``COPY ... TO STDOUT``.

Both read the same table from the same throwaway server in the same run: the baseline
streams ``COPY (SELECT ...) TO STDOUT (FORMAT binary)`` through psycopg and discards the
bytes; the connector reads it through ADBC, checks the contract and commits to Delta.
The ratio (connector rows/s over COPY rows/s) is what to compare across machines.

    python benchmarks/bench_ingest.py --rows 1000000
"""

from __future__ import annotations

import argparse
import json
import socket
import tempfile
import time
from pathlib import Path

import psycopg

from workbench.session import connect
from workbench.ingest import parse_connector, run_connectors
from workbench.ingest.postgres_server import LocalPostgres

CONNECTOR = """
kind = "sql"
[connection]
url_env = "BENCH_URL"
[[tables]]
target = "raw.bench_declarations"
source_table = "declarations"
incremental = "updated_at"
merge_keys = ["declaration_id"]
[tables.columns]
declaration_id = { type = "string", pattern = '^D[0-9]{10}$' }
trader_id = { type = "string" }
hs_code = { type = "string", pattern = '^[0-9]{8}$' }
declared_value = { type = "float64", min = 0 }
currency = { type = "string", isin = ["HKD", "USD", "CNY"] }
weight_kg = { type = "float64", min = 0 }
lodged_on = { type = "date" }
updated_at = { type = "timestamp" }
"""

FILL = """
CREATE TABLE declarations AS
SELECT 'D' || lpad(g::text, 10, '0') AS declaration_id, 'T' || lpad((g % 50000)::text, 7, '0') AS trader_id,
       lpad(((g::bigint * 7919) % 100000000)::text, 8, '0') AS hs_code, ((g % 100000) * 1.25)::float8 AS declared_value,
       (ARRAY['HKD', 'USD', 'CNY'])[1 + g % 3] AS currency, (g % 5000 + 0.5)::float8 AS weight_kg,
       DATE '2024-01-01' + (g % 365) AS lodged_on, TIMESTAMP '2024-01-01' + g * INTERVAL '1 second' AS updated_at
FROM generate_series(1, {rows}) AS g
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def copy_seconds(url: str) -> float:
    started = time.perf_counter()
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        with cur.copy("COPY (SELECT * FROM declarations) TO STDOUT (FORMAT binary)") as copy:
            for _ in copy:
                pass
    return time.perf_counter() - started


def ingest_seconds(url: str, lake: Path) -> tuple[float, int]:
    spec = parse_connector(CONNECTOR, "benchmarks/bench_ingest.py", "bench")
    wb = connect(str(lake), user="bench")
    started = time.perf_counter()
    [record] = run_connectors(wb.lake, {"bench": spec}, env={"BENCH_URL": url})
    elapsed = time.perf_counter() - started
    if record.status != "ok":
        raise SystemExit(f"ingest failed: {record.error}")
    return elapsed, record.rows_written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5,
                        help="Best of N for each side (this host's timings swing by 15%% between runs).")
    args = parser.parse_args()
    with LocalPostgres(free_port()) as pg, tempfile.TemporaryDirectory(prefix="bench-lake-") as tmp:
        with psycopg.connect(pg.url, autocommit=True) as conn:
            conn.execute(FILL.format(rows=int(args.rows)))
            conn.execute("ANALYZE declarations")
        copy = min(copy_seconds(pg.url) for _ in range(args.repeat))
        runs = [ingest_seconds(pg.url, Path(tmp) / f"lake{i}") for i in range(args.repeat)]
        ingest, written = min(runs)
    result = {
        "rows": args.rows, "rows_written": written,
        "copy_rows_per_s": round(args.rows / copy), "ingest_rows_per_s": round(args.rows / ingest),
        "copy_s": round(copy, 2), "ingest_s": round(ingest, 2), "ratio": round(copy / ingest, 3),
    }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
