"""Benchmarks: the lake session against raw DuckDB and pandas, and world generation.

Every figure is a ratio against a baseline measured in the same run on the same files,
because timings on a shared machine swing by up to 2x between runs.

    python benchmarks/run.py --scale 100        # ~10 million declarations
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd
from rich.console import Console
from rich.table import Table

import workbench
from workbench.lake.curation import curate

ROOT = Path(__file__).resolve().parents[1]
console = Console()


Reader = Callable[[str, list[str]], pd.DataFrame]
"""pandas' side: read these columns of this lake table's Parquet files."""


@dataclass(frozen=True)
class AnalystQuery:
    """One typical question, written three ways: lake SQL, raw DuckDB SQL, pandas.

    ``columns`` maps each table to the columns pandas reads: a pandas user who knows
    Parquet reads only those, so the comparison is with good pandas, not naive pandas.
    """

    name: str
    lake_sql: str
    columns: dict[str, tuple[str, ...]]
    pandas: Callable[[Reader], pd.DataFrame]

    def raw_sql(self) -> str:
        return self.lake_sql.replace("curated.", "")


def _declarations(cols: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    return {"curated.declarations": cols}


QUERIES = [
    AnalystQuery(
        "value by port and mode",
        "SELECT port_code, mode, count(*) AS n, sum(value_hkd) AS value_hkd "
        "FROM curated.declarations GROUP BY port_code, mode ORDER BY value_hkd DESC",
        _declarations(("port_code", "mode", "value_hkd")),
        lambda read: read("curated.declarations", ["port_code", "mode", "value_hkd"]).groupby(["port_code", "mode"]).agg(n=("value_hkd", "size"), value_hkd=("value_hkd", "sum"))
        .sort_values("value_hkd", ascending=False),
    ),
    AnalystQuery(
        "top traders in tobacco (HS 24) in 2024",
        "SELECT trader_id, count(*) AS n, sum(value_hkd) AS value_hkd FROM curated.declarations "
        "WHERE hs_code LIKE '24%' AND lodged_on BETWEEN DATE '2024-01-01' AND DATE '2024-12-31' "
        "GROUP BY trader_id ORDER BY value_hkd DESC LIMIT 20",
        _declarations(("trader_id", "hs_code", "lodged_on", "value_hkd")),
        lambda read: (d := read("curated.declarations", ["trader_id", "hs_code", "lodged_on", "value_hkd"]))[
            d.hs_code.str.startswith("24")
            & d.lodged_on.between(pd.Timestamp("2024-01-01").date(), pd.Timestamp("2024-12-31").date())]
        .groupby("trader_id").agg(n=("value_hkd", "size"), value_hkd=("value_hkd", "sum"))
        .nlargest(20, "value_hkd"),
    ),
    AnalystQuery(
        "median unit value per HS code",
        "SELECT hs_code, median(value_hkd / gross_weight_kg) AS hkd_per_kg, count(*) AS n "
        "FROM curated.declarations WHERE gross_weight_kg > 0 GROUP BY hs_code ORDER BY hs_code",
        _declarations(("hs_code", "value_hkd", "gross_weight_kg")),
        lambda read: (d := read("curated.declarations", ["hs_code", "value_hkd", "gross_weight_kg"]))[
            d.gross_weight_kg > 0].assign(hkd_per_kg=lambda x: x.value_hkd / x.gross_weight_kg)
        .groupby("hs_code").agg(hkd_per_kg=("hkd_per_kg", "median"), n=("hkd_per_kg", "size")).sort_index(),
    ),
    AnalystQuery(
        "value by trader district (join)",
        "SELECT t.district, count(*) AS n, sum(d.value_hkd) AS value_hkd "
        "FROM curated.declarations d JOIN curated.traders t USING (trader_id) "
        "GROUP BY t.district ORDER BY value_hkd DESC",
        {"curated.declarations": ("trader_id", "value_hkd"), "curated.traders": ("trader_id", "district")},
        lambda read: read("curated.declarations", ["trader_id", "value_hkd"])
        .merge(read("curated.traders", ["trader_id", "district"]), on="trader_id")
        .groupby("district").agg(n=("value_hkd", "size"), value_hkd=("value_hkd", "sum"))
        .sort_values("value_hkd", ascending=False),
    ),
]


def interleaved(fns: dict[str, Callable[[], object]], repeat: int) -> dict[str, float]:
    """Median seconds of each function, run in alternating order so load drift hits all alike."""
    for fn in fns.values():
        fn()  # warm: file cache, lazy imports
    times: dict[str, list[float]] = {name: [] for name in fns}
    for round_ in range(repeat):
        order = list(fns.items())
        for name, fn in order if round_ % 2 == 0 else reversed(order):
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def ensure_world(lake: Path, seed: int, scale: float, regenerate: bool) -> dict[str, float]:
    """Generate the world once per (seed, scale) in a child process; measure it there."""
    marker = lake.parent / f"{lake.name}.generation.json"
    if marker.exists() and not regenerate:
        figures = json.loads(marker.read_text())
        figures["reused"] = True
        return figures
    started = time.perf_counter()
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "workbench"), "demo", "generate", "--seed", str(seed),
         "--scale", str(scale), "--no-curate", "--lake", str(lake)],
        check=True,
    )
    elapsed = time.perf_counter() - started
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    assert proc.returncode == 0
    wb = workbench.connect(str(lake))
    rows = int(wb.tables().filter(wb.tables()["zone"].is_in(["raw", "truth", "documents"]))["row_count"].sum())
    started_curate = time.perf_counter()
    curate(wb.lake)
    figures = {"rows": rows, "seconds": elapsed, "peak_rss_mib": peak_kib / 1024,
               "curate_seconds": time.perf_counter() - started_curate}
    marker.write_text(json.dumps(figures))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--lake", type=Path, default=None, help="default: var/bench/lake-s<scale>")
    parser.add_argument("--regenerate", action="store_true")
    args = parser.parse_args()
    lake = args.lake or ROOT / "var" / "bench" / f"lake-s{args.scale:g}-seed{args.seed}"
    lake.parent.mkdir(parents=True, exist_ok=True)

    gen = ensure_world(lake, args.seed, args.scale, args.regenerate)
    console.print(
        f"[bold]generation[/] scale {args.scale:g}: {gen['rows']:,.0f} rows in {gen['seconds']:.0f} s = "
        f"{gen['rows'] / gen['seconds']:,.0f} rows/s, peak RSS {gen['peak_rss_mib']:,.0f} MiB (target <= 2048)"
        f"{' (measured when the lake was generated)' if gen.get('reused') else ''}; "
        f"curation {gen['curate_seconds']:.0f} s"
    )

    # The analyst's session: the sandboxed, gated and audited engine analysts query through.
    wb = workbench.connect(str(lake), role="analyst", user="bench-analyst")
    files = {name: wb.lake.delta(name).file_uris() for q in QUERIES for name in q.columns}
    raw = duckdb.connect()
    for name, paths in files.items():
        raw.read_parquet(paths).create_view(name.partition(".")[2])
    rows = wb.sql("SELECT count(*) AS n FROM curated.declarations")["n"][0]

    def read(name: str, columns: list[str]) -> pd.DataFrame:
        return pd.read_parquet(files[name], columns=columns)

    table = Table(title=f"analyst queries on curated.declarations ({rows:,} rows, median of {args.repeat})")
    for col in ("query", "wb.sql (analyst) s", "raw DuckDB s", "pandas s", "wb / DuckDB (<= 1.10)", "pandas / wb (>= 10)"):
        table.add_column(col, justify="right" if col != "query" else "left")
    for q in QUERIES:
        t = interleaved({
            "wb": lambda q=q: wb.sql(q.lake_sql),
            "duckdb": lambda q=q: raw.sql(q.raw_sql()).pl(),
        }, args.repeat)
        t_pd = interleaved({"pandas": lambda q=q: q.pandas(read)},
                           max(1, args.repeat // 2))["pandas"]
        table.add_row(q.name, f"{t['wb']:.3f}", f"{t['duckdb']:.3f}", f"{t_pd:.2f}", f"{t['wb'] / t['duckdb']:.2f}x",
                      f"{t_pd / t['wb']:.1f}x")
    console.print(table)


if __name__ == "__main__":
    main()
