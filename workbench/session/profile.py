"""Column profiles for ``describe``: what an analyst checks before trusting a table."""

from __future__ import annotations

import polars as pl

from workbench.security.gate import GuardedSQL

TOP_VALUES = 3


def profile(engine: GuardedSQL, name: str) -> pl.DataFrame:
    """One row per column: type, rows, nulls, distinct (approximate), min, max, top values.

    DuckDB's SUMMARIZE computes the per-column statistics in one parallel pass; top values
    need one small GROUP BY per column, limited to a sample of a million rows so profiling
    a 10-million-row table stays interactive.
    """
    zone, _, table = name.partition(".")
    summary = engine.frame(f'SUMMARIZE "{zone}"."{table}"', via="describe")
    tops = []
    for column in summary["column_name"]:
        rows = engine.frame(
            f'SELECT CAST("{column}" AS VARCHAR) AS v, count(*) AS n '
            f'FROM (SELECT "{column}" FROM "{zone}"."{table}" LIMIT 1000000) '
            f'WHERE "{column}" IS NOT NULL GROUP BY 1 ORDER BY n DESC, v LIMIT {TOP_VALUES}', via="describe"
        ).rows()
        tops.append(", ".join(f"{v} ({n})" for v, n in rows))
    return summary.select(
        pl.col("column_name").alias("column"),
        pl.col("column_type").alias("type"),
        pl.col("count").alias("rows"),
        (pl.col("null_percentage").cast(pl.Float64) * pl.col("count") / 100).round().cast(pl.Int64).alias("nulls"),
        pl.col("approx_unique").alias("distinct"),
        pl.col("min"),
        pl.col("max"),
    ).with_columns(pl.Series("top_values", tops))
