"""How far back a lake table reads, and the upkeep that keeps its Delta log and folder bounded.

Every commit adds a file to a table's ``_delta_log``, and a commit that replaces files (a
compaction, a merge, an overwrite) leaves the replaced ones in the folder for time travel.
A table written a few times a day never notices. A table the live loop feeds does: a
follower lands each round (about a second) in its raw table and in the curated table that
reads it, and the scorer commits scores and queue entries each tick, so each gained 86,400
log files a day; opening a table (every new session's first query does) lists its whole
log, and at a day's log that was 13.4x slower (measured). Compaction
(``lake._compact_if_fragmented``) bounds the files a read opens; this module bounds what
the commits leave behind.

Decision (issue 17): three histories, set as Delta table properties so that the engine
does the work and any reader can see them (``DeltaTable.metadata().configuration``).

- **Batch tables** (world loads, curation runs, model outputs, analysts' work tables):
  Delta's defaults, never vacuumed. Every version of the last 30 days (the log's default
  retention) reads back with ``wb.table(name, version=)`` or ``as_of=``.
- **Streamed tables** (``STREAMED``): the tables a writer commits to every second or so.
  Their writers mark them (``Lake.stream``): a follower that polls every minute or more
  often its targets (``ingest.follow``), the curation of its new rows the curated tables
  they feed (``curation.NewRows``), the live scorer ``curated.risk_scores`` and
  ``curated.clearance_queue``. They keep **the versions of the last 5 minutes**: delta-rs
  deletes log files older than that when it writes a checkpoint (its post-commit hook,
  every ``checkpoint_every`` commits, ``delta.logRetentionDuration``), and ``trim``
  vacuums the data files replaced longer ago than that (``delta.deletedFileRetentionDuration``).
  At a write a second that is 5 minutes of log entries (each write's, and the compactions,
  vacuums and deletes among them: 210-571 in the day run) plus the commits since the last
  checkpoint, and 5 minutes of replaced files (153-422), whatever the uptime: "a few
  hundred files per table" (issue 17's goal; ``bench_clearance --day``, figures in the README).
  They are read as often as they are written (the officers' queue), so they also
  checkpoint every 10 commits, not 100 (a table opens from the newest checkpoint plus
  the commits since), and are compacted past 4 small files, not 32 (``compact_above``):
  over a day's queue commits, opening and counting the queue took 3.8-8.6 ms (10-65 ms with 32
  and 100; 2.6 ms for a freshly written table, 4.0 ms for the same with one checkpoint), and
  the officers' queue query 1.06x its time on the freshly written table (README, "The live
  clearance loop"). To see a streamed table as it
  was an hour ago, ask its rows' own times (``scored_at``, ``queued_at``, a source's
  ``updated_at``): these tables are append-mostly, and what leaves the queue is kept in
  ``curated.clearance_results``. Model training never needed table versions: it cuts its
  snapshots by the rows' dates and fingerprints their content (``risk.data.snapshot_digest``).
- **Bookkeeping** (``BOOKKEEPING``): the catalog and the system zone (run log, watermarks):
  a minute; nobody reads their past.

Why 5 minutes: a reader resolves a snapshot (the list of its files) and reads those files
afterwards: a session's query moments later, a Dask job (``wb.dask``) for as long as it runs
(26 s for the scale-100 question measured here). A file the snapshot lists must outlive the
read, so the window is a comfortable multiple of the longest read, and short enough that the
log stays small. A read that holds its snapshot longer than the window may find some of its
files gone and fails (file not found); asking for a version or time older than the window is
refused naming what the table keeps (``Lake.delta``); neither ever answers with wrong rows.
Why not fewer commits instead: the goal of p95 <= 5 s from a source commit to the queue
needs a commit every second or two per table; halving the commits halves the growth but
does not bound it.

What retention never removes is a table's current version. So a follower's offsets (the
current rows of ``system.watermarks``), the run log and the scorer's record of what it
scored (the scores table itself) survive any trimming. A kept handle (a session's, the
catalog's) whose version's log went meanwhile still updates: delta-rs re-reads from the
newest checkpoint, and ``catalog.refreshed`` reopens the table when that fails.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from deltalake import DeltaTable

DELETED_FILES = "delta.deletedFileRetentionDuration"


@dataclass(frozen=True)
class History:
    """How long a table keeps superseded log entries and the data files its commits replaced."""

    keep: timedelta
    checkpoint_every: int = 100
    """Commits between checkpoints (Delta's default): the log is trimmed at each, and a table opens from the
    newest one plus the commits since."""
    compact_above: int | None = None
    """Small files a read may meet before the writer compacts them (``lake._compact_if_fragmented``); None: the
    lake's default for every table."""

    @property
    def properties(self) -> dict[str, str]:
        interval = f"interval {max(0, round(self.keep.total_seconds()))} seconds"
        return {"delta.logRetentionDuration": interval, DELETED_FILES: interval,
                "delta.checkpointInterval": str(self.checkpoint_every)}


STREAMED = History(timedelta(minutes=5), checkpoint_every=10, compact_above=4)
BOOKKEEPING = History(timedelta(minutes=1))


def trim(table: DeltaTable, history: History | None = None) -> None:
    """Give ``table`` ``history`` (once: a commit that changes no data) and, when it has a short history (its own
    or one given earlier, by any writer), delete the data files it replaced longer ago than that.

    A full vacuum (every file in the folder the log does not reference): a writer killed
    between writing a file and committing leaves one, and ``full=False`` found none of the
    replaced files here. Files newer than the window stay, so a concurrent writer's file not
    committed yet, and a reader's snapshot resolved within the window, are safe. A table with
    Delta's defaults is left alone (batch tables keep their past).
    """
    if history is not None and not holds(table, history):
        table.alter.set_table_properties(history.properties)
    if DELETED_FILES in table.metadata().configuration:
        table.vacuum(dry_run=False, full=True)


def holds(table: DeltaTable, history: History) -> bool:
    """Whether ``table`` keeps ``history`` already (its properties say so)."""
    return table.metadata().configuration.items() >= history.properties.items()
