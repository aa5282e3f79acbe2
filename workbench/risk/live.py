"""The live scorer: each record that lands in a model's table is scored once, and queued when selected.

``workbench models live`` runs ``LiveScorer.run``: every tick it finds the records of each
model's table that have no row in ``curated.risk_scores`` yet (what the followers just
curated), scores them with the champion (every one explained: a handful per tick), and
commits the selected ones to ``curated.clearance_queue``, then all of them to
``curated.risk_scores``. Both are inserts keyed by record (``Lake.write`` mode ``insert``:
a row whose key is there already is left as it is), and "not scored yet" is read from the
scores table itself, so a scorer killed at any point redoes at most the records of the
tick it was in, and a redo adds nothing: every record ends up with exactly one score and
at most one queue entry, the first ones written. (The queue commits first: a kill
between the two commits leaves the record unscored, so the next tick queues it again under
the same key, never a scored record missing from the queue.)

When officers' decisions arrive (``curated.clearance_results``), the decided records
leave the queue and the realised hit rate per model version, week and selection reason
is merged into ``curated.model_monitoring`` (the random quota's rate is the unbiased one).
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import polars as pl

from workbench.lake.catalog import KeptTables
from workbench.session import Session
from workbench.risk.champions import Champions, Served
from workbench.risk.data import HITS, RESULTS, check_frame, lake_query
from workbench.risk.monitoring import MONITORING, SCHEMA as MONITORING_SCHEMA
from workbench.risk.scores import RISK_SCORES, record_kind, scored_frame, threshold_of
from workbench.risk.selection import write_mode
from workbench.risk.specs import LakeData

QUEUE = "curated.clearance_queue"
MAX_PER_TICK = 5000
"""Records one tick scores at most per model (a backlog drains over several ticks, each committed)."""


@dataclass
class Tick:
    """What one tick did."""

    scored: dict[str, int] = field(default_factory=dict)
    queued: int = 0
    rejected: int = 0
    decided: int = 0
    seconds: float = 0.0


class LiveScorer:
    """Scores new records of each served model's table (see the module docstring)."""

    def __init__(self, session: Session, champions: Champions) -> None:
        self.session, self.champions = session, champions
        self.thresholds: dict[tuple[str, int], float] = {}
        self.rejected: set[str] = set()
        self.results_version: int | None = None
        self.opened_with: set[str] | None = None
        self.settled: dict[str, int] = {}
        """Per model, the version of its table at which every record was found scored (its next tick skips
        the look-up while the table stays there)."""
        self.handles = KeptTables(self.session.lake.location.storage_options)

    def _tables(self) -> set[str]:
        """The lake's tables; a session is reopened when one of the loop's own tables has appeared since it opened
        (a session reads tables made after it opened through a path that fails on text filters)."""
        tables = set(self.session.tables()["name"].to_list())
        if self.opened_with is not None and (tables - self.opened_with) & {RISK_SCORES, QUEUE, RESULTS, MONITORING}:
            self.session = Session(self.session.settings)
        self.opened_with = tables if self.opened_with is None or tables - self.opened_with else self.opened_with
        return tables

    def _threshold(self, served: Served) -> float:
        name = served.model.spec.name
        if (name, served.version) not in self.thresholds:
            self.thresholds[name, served.version] = threshold_of(served.model, lambda: self.session.sql(
                f"SELECT score FROM {RISK_SCORES} WHERE model = $model", {"model": name})["score"].to_numpy())
        return self.thresholds[name, served.version]

    def _new_rows(self, served: Served, tables: set[str]) -> pl.DataFrame:
        spec = served.model.spec
        assert isinstance(spec.data, LakeData)
        query = lake_query(spec, spec.data.table, with_label=False)
        if RISK_SCORES in tables:
            query = (f"SELECT n.* FROM ({query}) n ANTI JOIN (SELECT record_id FROM {RISK_SCORES} "
                     f"WHERE model = $model) s ON s.record_id = n.\"{spec.model.id}\"")
        raw = self.session.sql(f"{query} LIMIT {MAX_PER_TICK + len(self.rejected)}",
                               {"model": spec.name} if RISK_SCORES in tables else None)
        return raw.filter(~pl.col(spec.model.id).is_in(list(self.rejected))) if self.rejected else raw

    def _version(self, table: str) -> int | None:
        """The table's current Delta version, through a kept handle (a few ms; opening it each tick would
        replay its log)."""
        handle = self.handles.current(self.session.lake.location.table_uri(table))
        return None if handle is None else int(handle.version())

    def tick(self) -> Tick:
        """Score and queue what landed since the last tick, then take in new decisions.

        Every model's new records commit together: one queue commit, then one scores commit
        per tick (each commit costs a catalog entry and a look-up of its keys, whatever its size).
        """
        started, done = time.perf_counter(), Tick()
        tables = self._tables()
        now = datetime.now(UTC).replace(tzinfo=None)
        scored: list[pl.DataFrame] = []
        settled: dict[str, int] = {}
        for name, served in list(self.champions.served.items()):
            spec = served.model.spec
            if not isinstance(spec.data, LakeData) or spec.data.table not in tables:
                continue
            version = self._version(spec.data.table)
            if version is not None and self.settled.get(name) == version:
                continue  # nothing landed since every record was found scored
            complete, scores = self._score_new(served, tables, now, done)
            if scores is not None:
                scored.append(scores)
                done.scored[spec.name] = scores.height
            if complete and version is not None:
                settled[name] = version
        if scored:
            self.session.lake.stream([QUEUE, RISK_SCORES])  # a commit a tick each (``lake.retention``)
            scores = pl.concat(scored)
            queued = scores.join(self.kinds, on="model").filter(pl.col("selection").is_not_null()).select(
                "record_id", "kind", "model", "version", "place", "record_at", "score", "selection",
                "reason_1", "reason_2", "reason_3", pl.col("scored_at").alias("queued_at"))
            if queued.height:
                self.session.write(queued, QUEUE, mode="insert", description="records awaiting an officer's decision")
            self.session.write(scores, RISK_SCORES, mode="insert", description="risk scores")
            done.queued = queued.height
        self.settled.update(settled)  # only once what they scored has committed
        if RESULTS in tables:
            done.decided = self._take_results(tables)
        done.seconds = time.perf_counter() - started
        return done

    @property
    def kinds(self) -> pl.DataFrame:
        """Each served model's record kind (the queue's ``kind``)."""
        return pl.DataFrame({"model": list(self.champions.served),
                             "kind": [record_kind(s.model.spec) if isinstance(s.model.spec.data, LakeData) else None
                                      for s in self.champions.served.values()]}, schema={"model": pl.Utf8, "kind": pl.Utf8})

    def _score_new(self, served: Served, tables: set[str], now: datetime,
                   done: Tick) -> tuple[bool, pl.DataFrame | None]:
        """The model's records not scored yet (up to ``MAX_PER_TICK``) scored, or None; whether that was all."""
        spec = served.model.spec
        assert isinstance(spec.data, LakeData)
        raw = self._new_rows(served, tables)
        if raw.is_empty():
            return True, None
        checked = check_frame(raw, spec, spec.data.table)
        for rejection in checked.rejections:  # never scorable: said once, then left alone
            print(f"live scorer: {rejection.reason}", file=sys.stderr)
            self.rejected.add(str(rejection.record))
        done.rejected += len(checked.rejections)
        scores = None if checked.rows.empty else scored_frame(
            served.model, served.version, checked, self._threshold(served), now, explain_all=True, fast=served.fast)
        return raw.height < MAX_PER_TICK, scores

    def _take_results(self, tables: set[str]) -> int:
        """When decisions arrived since the last look: drop decided records from the queue, update hit rates."""
        version = self._version(RESULTS)  # kept handle: opening the table every tick replayed its log
        if version == self.results_version:
            return 0
        self.results_version = version
        decided = 0
        if QUEUE in tables:
            ids = self.session.sql(f"SELECT record_id FROM {QUEUE} SEMI JOIN {RESULTS} USING (record_id)")["record_id"]
            if len(ids):
                quoted = ", ".join("'" + i.replace("'", "''") + "'" for i in ids.to_list())
                decided = self.session.lake.delete_where(QUEUE, f"record_id IN ({quoted})", actor=self.session.user)
        rates = hit_rates(self.session.sql(f"SELECT model, version, selection, decision, result, decided_at "
                                           f"FROM {RESULTS}"))
        if rates.height:
            self.session.write(rates.with_columns(pl.lit(datetime.now(UTC).replace(tzinfo=None)).alias("computed_at")),
                               MONITORING, mode=write_mode(self.session, MONITORING),  # type: ignore[arg-type]
                               description="realised hit rates of officers' decisions")
        return decided

    def run(self, every: float = 1.0, check_champions: float = 10.0, stop: threading.Event | None = None,
            on_tick: Callable[[Tick], None] = lambda _: None) -> None:
        """Tick every ``every`` seconds until ``stop``; look for new champions every ``check_champions`` seconds."""
        stop = stop or threading.Event()
        checked = time.monotonic()
        while not stop.is_set():
            began = time.monotonic()
            if began - checked >= check_champions:
                for name in self.champions.check():
                    print(f"live scorer: {name} now scores with v{self.champions.served[name].version}",
                          file=sys.stderr)
                checked = began
            try:
                on_tick(self.tick())
            except Exception as exc:  # a lost commit race or a source hiccup: the tables say what is left to do
                print(f"live scorer: tick failed, retried next tick: {type(exc).__name__}: {exc}", file=sys.stderr)
            stop.wait(max(0.0, every - (time.monotonic() - began)))


def hit_rates(results: pl.DataFrame) -> pl.DataFrame:
    """Realised hit rate per model version, week (of the decision) and selection reason, and ``all``.

    ``rows``: decisions on records selected for that reason; ``labelled``: inspections with
    a result; ``hits``: results that were a discrepancy or a seizure; ``value``: hits /
    labelled (null while nothing is labelled). Rows in ``curated.model_monitoring``'s shape.
    """
    if results.is_empty():
        return pl.DataFrame(schema=MONITORING_SCHEMA)
    group = (pl.when(pl.col("selection").str.starts_with("rule:")).then(pl.lit("rule"))
             .when(pl.col("selection") == "score").then(pl.lit("model")).otherwise(pl.col("selection")))
    frame = results.with_columns(
        subject=group, window_start=pl.col("decided_at").dt.truncate("1w").cast(pl.Date),
        known=(pl.col("decision") == "inspect") & pl.col("result").is_not_null(),
        hit=pl.col("result").is_in(list(HITS)).fill_null(False))
    both = pl.concat([frame, frame.with_columns(subject=pl.lit("all"))])
    table = both.group_by("model", "version", "window_start", "subject").agg(
        rows=pl.len().cast(pl.Int64), labelled=pl.col("known").sum().cast(pl.Int64),
        hits=(pl.col("hit") & pl.col("known")).sum().cast(pl.Int64))
    value = pl.when(pl.col("labelled") > 0).then(pl.col("hits") / pl.col("labelled"))
    return table.with_columns(
        window_end=pl.col("window_start") + pl.duration(days=7), kind=pl.lit("hit_rate"), value=value,
        detail=pl.lit(None, pl.Utf8), alert=pl.lit(False)).select(list(MONITORING_SCHEMA)).cast(
        MONITORING_SCHEMA).sort("model", "version", "window_start", "subject")

