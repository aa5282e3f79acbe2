"""The run log: one row per connector run per target table, in ``system.ingest_runs``.

A run writes a ``running`` row before it touches the source and replaces it with the
outcome at the end. A ``running`` row that is still there when the next run of the same
source table starts belongs to a run that was killed: the runner marks it ``abandoned``
and removes what it had quarantined, because the re-run will quarantine it again.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

import polars as pl
import pyarrow as pa

from workbench.ingest import systables
from workbench.lake import Lake


def now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def new_run_id() -> str:
    """A run id that sorts by start time (microseconds, hex) and ends in 7 random hex digits.

    Ids in time order keep writes to the run log cheap however long it grows: a run's
    update touches only the newest file, since Delta's merge and Polars' key look-up skip
    every file whose id range (its Parquet statistics) cannot hold the id, where random ids
    spread every file's range over all ids (a follower logs a run every second).
    """
    return f"{time.time_ns() // 1000:013x}{uuid.uuid4().hex[:7]}"


@dataclass
class RunRecord:
    """What one run of one source table did; mirrors a row of ``system.ingest_runs``."""

    source: str
    kind: str
    table_name: str
    run_id: str = field(default_factory=lambda: new_run_id())
    started_at: datetime = field(default_factory=now)
    finished_at: datetime | None = None
    rows_read: int = 0
    rows_written: int = 0
    rows_quarantined: int = 0
    rows_deleted: int = 0
    """Lake rows removed because the source no longer holds their key (``deletes = "reconcile"``)."""
    status: str = "running"
    attempts: int = 0
    table_version: int | None = None
    error: str | None = None

    @property
    def actor(self) -> str:
        """Who the run writes as; also tags its quarantine rows so a killed run can be undone."""
        return f"ingest {self.source} run {self.run_id}"

    def summary(self) -> str:
        outcome = self.status if not self.error else f"{self.status}: {self.error}"
        deleted = f", {self.rows_deleted:,} deleted" if self.rows_deleted else ""
        return (f"{self.source} -> {self.table_name}: {self.rows_read:,} read, {self.rows_written:,} written, "
                f"{self.rows_quarantined:,} quarantined{deleted} ({outcome})")


class RunLog:
    """Appends and updates rows of ``system.ingest_runs``."""

    def __init__(self, lake: Lake) -> None:
        self.lake = lake

    def save(self, record: RunRecord) -> None:
        table = pa.Table.from_pylist([asdict(record)], schema=self.lake.specs[systables.RUNS].arrow_schema())
        systables.merge(self.lake, systables.RUNS, table, record.actor, f"ingest {record.source}")

    def frame(self) -> pl.DataFrame:
        """The log; a column added to the spec after the table was written reads null until the next save."""
        empty = pl.from_arrow(self.lake.specs[systables.RUNS].arrow_schema().empty_table())
        return pl.concat([empty, self.lake.small_table(systables.RUNS)], how="diagonal_relaxed")  # type: ignore[list-item]

    def unfinished(self, source: str, table: str) -> list[str]:
        """Run ids of runs of this source table that started and never finished."""
        frame = self.frame().filter(
            (pl.col("source") == source) & (pl.col("table_name") == table) & (pl.col("status") == "running")
        )
        return frame["run_id"].to_list()

    def mark_abandoned(self, run_ids: list[str]) -> None:
        if not run_ids:
            return
        frame = self.frame().filter(pl.col("run_id").is_in(run_ids)).with_columns(
            status=pl.lit("abandoned"), finished_at=pl.lit(now()),
            error=pl.lit("the run was interrupted; its work was undone and redone by the next run"),
        )
        systables.merge(self.lake, systables.RUNS, frame.to_arrow(), "ingest recovery", "ingest recovery")
