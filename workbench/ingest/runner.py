"""Run connectors and report on them: what the ``workbench ingest`` command stands on.

Connectors run one after another: each already streams its source in bulk, and on a
small machine running two at once mostly contends for the same cores. A failing source
fails alone - its error is in the run log and the other connectors still run.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import polars as pl

from workbench.errors import ConfigError
from workbench.ingest.base import Connector, Progress
from workbench.ingest.registry import connector_class
from workbench.ingest.runlog import RunLog, RunRecord, now
from workbench.ingest.spec import ConnectorSpec
from workbench.lake import Lake


def build(spec: ConnectorSpec, lake: Lake, env: Mapping[str, str] | None = None) -> Connector:
    """The connector object for a spec (validates its tables for its kind)."""
    return connector_class(spec.kind, spec.source_file)(spec, lake, env)


def select(specs: Mapping[str, ConnectorSpec], names: Iterable[str] | None) -> list[ConnectorSpec]:
    """The specs named (all when ``names`` is None); an unknown name is an error listing the known ones."""
    if names is None:
        return list(specs.values())
    chosen = []
    for name in names:
        if name not in specs:
            raise ConfigError(f"no connector named {name!r}; known: {', '.join(sorted(specs)) or 'none'}")
        chosen.append(specs[name])
    return chosen


def run_connectors(lake: Lake, specs: Mapping[str, ConnectorSpec], names: Iterable[str] | None = None,
                   env: Mapping[str, str] | None = None, progress: Progress | None = None) -> list[RunRecord]:
    """Run the chosen connectors; returns one record per target table, failures included."""
    records: list[RunRecord] = []
    for spec in select(specs, names):
        records.extend(build(spec, lake, env).run(progress=progress))
    return records


def status(lake: Lake) -> pl.DataFrame:
    """Per source table: the last run, its outcome, failures since the last success and the lag.

    ``lag_seconds`` is the time since the last successful run finished (null if none has).
    """
    runs = RunLog(lake).frame().sort("started_at")
    if runs.is_empty():
        return pl.DataFrame(schema={"source": pl.String, "table_name": pl.String, "last_status": pl.String,
                                    "last_started": pl.Datetime("us"), "last_ok": pl.Datetime("us"),
                                    "lag_seconds": pl.Float64, "failures_since_ok": pl.UInt32,
                                    "rows_written": pl.Int64, "rows_quarantined": pl.Int64, "error": pl.String})
    ok_at = pl.when(pl.col("status") == "ok").then(pl.col("finished_at"))
    summary = runs.group_by("source", "table_name").agg(
        last_status=pl.col("status").last(),
        last_started=pl.col("started_at").last(),
        last_ok=ok_at.max(),
        failures_since_ok=((pl.col("status") == "failed") & (pl.col("started_at") > ok_at.max().fill_null(
            pl.datetime(1900, 1, 1)))).sum(),
        rows_written=pl.col("rows_written").last(),
        rows_quarantined=pl.col("rows_quarantined").last(),
        error=pl.col("error").last(),
    )
    lag = (pl.lit(now()) - pl.col("last_ok")).dt.total_microseconds() / 1e6
    return summary.with_columns(lag_seconds=lag).select(
        "source", "table_name", "last_status", "last_started", "last_ok", "lag_seconds", "failures_since_ok",
        "rows_written", "rows_quarantined", "error",
    ).sort("source", "table_name")
