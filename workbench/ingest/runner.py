"""Run connectors and report on them: what the ``workbench ingest`` command stands on.

Connectors run through the execution seam (``workbench.compute.executor``), one connector
per task (its tables in order): in this process, ``workers`` threads at a time (the work
is I/O and Arrow/Delta code that releases the GIL, so two sources overlap their waits on
the network and the disk), or, given a Dask client (``workbench ingest run --dask``), as
tasks on the cluster's workers - the gateway's when the hub configures one - so many
sources spread over machines. A connector travels to a worker as its spec, environment
and lake location (``Lake`` pickles as its location); progress is reported only for
connectors run in this process. Each connector writes its own lake tables; the shared system tables serialise their small commits
(``systables.committed``). A failing source fails alone - its error is in the run log and
the other connectors still run. ``follow`` keeps running connectors at their schedules
until told to stop.
"""

from __future__ import annotations

import math
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import polars as pl

from workbench.compute import Executor, executor
from workbench.errors import ConfigError
from workbench.ingest.base import Connector, Progress
from workbench.ingest.kinds import connector_class
from workbench.ingest.runlog import RunLog, RunRecord, now
from workbench.ingest.spec import ConnectorSpec
from workbench.lake import Lake
from workbench.lake.curation import NewRows


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
                   env: Mapping[str, str] | None = None, progress: Progress | None = None,
                   workers: int = 1, client: Any = None) -> list[RunRecord]:
    """Run the chosen connectors, ``workers`` at a time or on ``client``'s Dask cluster; one record per target table.

    Every connector is built (its file validated) before any runs, so a config error stops
    the command before it has touched a source. A failed source never raises (its record
    says why), so one bad source does not cancel the others. On Dask the connection
    variables the connectors name travel with the tasks: the cluster must be trusted with them.
    """
    connectors = [build(spec, lake, env) for spec in select(specs, names)]
    return _run_all(connectors, executor(client, threads=workers), None if client is not None else progress)


def _run_one(connector: Connector, progress: Progress | None, targets: set[str] | None = None,
             keep: bool = False) -> list[RunRecord]:
    """One connector's run; ``keep``: it runs again soon (a follower's round), so it keeps its source connection."""
    try:
        return connector.run(targets=targets, progress=progress)
    finally:
        if not keep:
            connector.close()


def _run_all(connectors: list[Connector], run: Executor, progress: Progress | None,
             targets: set[str] | None = None, keep: bool = False) -> list[RunRecord]:
    return [record for records in run.map(_run_one, connectors, progress, targets, keep) for record in records]


QUIET_SECONDS = 60.0
"""A follower logs a run that moved nothing at most this often per table (``Connector.quiet_seconds``), or once
per its schedule's interval when that is shorter."""


def follow(lake: Lake, specs: Mapping[str, ConnectorSpec], names: Iterable[str] | None = None,
           env: Mapping[str, str] | None = None, progress: Progress | None = None, workers: int = 1,
           stop: threading.Event | None = None, rounds: int | None = None,
           on_round: Callable[[list[RunRecord]], None] | None = None, every: float | None = None,
           curate: bool = False, targets: Iterable[str] | None = None) -> int:
    """Run the chosen connectors now, then each again whenever its schedule's interval has passed.

    Stops when ``stop`` is set, after ``rounds`` rounds, or when no chosen connector has a
    schedule (manual ones run once). An interval counts from the start of the connector's
    last run; ``every`` replaces every connector's interval (a live feed is followed every
    second or so, whatever the nightly schedule says). With ``curate``, the rows a table run
    lands are curated as soon as they commit (``Connector.on_landed``, ``lake.curation.NewRows``),
    so a new record reaches the curated tables, and the live scorer, a second or so after its
    source commit; a curation that failed is retried at the round's end. Returns the
    number of rounds run; ``on_round`` sees each round's records. ``targets`` limits the
    rounds to those lake tables (a live feed adds crossings, not vehicles: each table run
    costs its source query and run-log commits).
    """
    chosen = set(targets) if targets is not None else None
    connectors = {spec.name: build(spec, lake, env) for spec in select(specs, names)
                  if chosen is None or chosen & {t.target for t in spec.tables}}
    if not connectors:
        raise ConfigError(f"no chosen connector writes any of {sorted(chosen or [])}")
    due = dict.fromkeys(connectors, time.monotonic())
    stop = stop or threading.Event()
    done, curator, curating = 0, NewRows(lake), threading.Lock()
    # the first round also curates what a killed predecessor landed and never curated
    uncurated = {t.target for c in connectors.values() for t in c.spec.tables if chosen is None or t.target in chosen}
    # followed every minute or more often: a commit a round, so their log and folder keep minutes of history
    lake.stream(t.target for name, c in connectors.items() if (every or c.spec.interval_seconds or math.inf) <= 60
                for t in c.spec.tables if chosen is None or t.target in chosen)  # (``lake.retention``)

    def curated(targets: set[str]) -> bool:
        with curating:  # connectors may run in parallel threads; one curator
            try:
                curator.curate(targets, actor="ingest follow")
                return True
            except Exception as exc:  # e.g. a commit race with a full curate: the round's end tries again
                uncurated.update(targets)
                print(f"follow: curating new rows of {', '.join(sorted(targets))} failed, retried: "
                      f"{type(exc).__name__}: {exc}", file=sys.stderr)
                return False

    def landed(target: str) -> None:
        curated({target})

    for connector in connectors.values():  # within its schedule's interval, so ``status`` never finds it overdue
        connector.quiet_seconds = min(QUIET_SECONDS, connector.spec.interval_seconds or QUIET_SECONDS)
        connector.on_landed = landed if curate else None
    try:
        while not stop.is_set() and (rounds is None or done < rounds):
            started = time.monotonic()
            ready = [name for name, at in due.items() if at <= started]
            if ready:
                records = _run_all([connectors[n] for n in ready], executor(threads=workers), progress, chosen,
                                   keep=True)
                for name in ready:
                    interval = every or connectors[name].spec.interval_seconds
                    due[name] = started + interval if interval else math.inf
                if curate and uncurated:
                    retry = set(uncurated)
                    uncurated.clear()
                    curated(retry)
                done += 1
                if on_round:
                    on_round(records)
            upcoming = min(due.values())
            if upcoming == math.inf or (rounds is not None and done >= rounds):
                break
            stop.wait(max(0.0, upcoming - time.monotonic()))
    finally:
        for connector in connectors.values():
            connector.close()
    return done


def status(lake: Lake, specs: Mapping[str, ConnectorSpec] | None = None) -> pl.DataFrame:
    """Per source table: the last run, its outcome, failures since the last success and the lag.

    ``lag_seconds`` is the time since the last successful run finished (null if none has).
    Given the connector specs, ``schedule`` and ``overdue`` (no success within two
    intervals) say which scheduled feeds have fallen behind.
    """
    frame = _last_runs(lake)
    if specs is None:
        return frame
    schedules = pl.DataFrame({"source": list(specs), "schedule": [s.schedule for s in specs.values()],
                              "interval": [s.interval_seconds for s in specs.values()]},
                             schema={"source": pl.String, "schedule": pl.String, "interval": pl.Float64})
    overdue = pl.col("interval").is_not_null() & (pl.col("lag_seconds").is_null()
                                                  | (pl.col("lag_seconds") > 2 * pl.col("interval")))
    return frame.join(schedules, on="source", how="left").with_columns(overdue=overdue).drop("interval")


def _last_runs(lake: Lake) -> pl.DataFrame:
    runs = RunLog(lake).frame().sort("started_at")
    if runs.is_empty():
        return pl.DataFrame(schema={"source": pl.String, "table_name": pl.String, "last_status": pl.String,
                                    "last_started": pl.Datetime("us"), "last_ok": pl.Datetime("us"),
                                    "lag_seconds": pl.Float64, "failures_since_ok": pl.UInt32,
                                    "rows_written": pl.Int64, "rows_quarantined": pl.Int64, "rows_deleted": pl.Int64,
                                    "error": pl.String})
    ok_at = pl.when(pl.col("status") == "ok").then(pl.col("finished_at"))
    summary = runs.group_by("source", "table_name").agg(
        last_status=pl.col("status").last(),
        last_started=pl.col("started_at").last(),
        last_ok=ok_at.max(),
        failures_since_ok=((pl.col("status") == "failed") & (pl.col("started_at") > ok_at.max().fill_null(
            pl.datetime(1900, 1, 1)))).sum(),
        rows_written=pl.col("rows_written").last(),
        rows_quarantined=pl.col("rows_quarantined").last(),
        rows_deleted=pl.col("rows_deleted").last(),
        error=pl.col("error").last(),
    )
    lag = (pl.lit(now()) - pl.col("last_ok")).dt.total_microseconds() / 1e6
    return summary.with_columns(lag_seconds=lag).select(
        "source", "table_name", "last_status", "last_started", "last_ok", "lag_seconds", "failures_since_ok",
        "rows_written", "rows_quarantined", "rows_deleted", "error",
    ).sort("source", "table_name")
