"""The connector base: the lifecycle every kind shares, around one narrow hook.

A kind implements ``extract`` (how to read a source table's batches since its
watermark) and may override ``validate_table``, ``is_incremental`` and
``transient_errors``; kinds whose rows are documents also override ``write`` (see
``documents.py``). The base owns
the rest, in this order per target table:

1. undo any earlier run of the same table that was killed (its quarantine rows go, its
   log row is marked ``abandoned``) - the re-read below redoes its work;
2. log the run as ``running`` (while the source starts answering; before anything commits);
3. read the watermark, extract, and land the batches through ``Lake.write`` (contract
   checks, quarantine, one atomic commit, catalog lineage ``ingest <connector>``),
   merging by key so a re-read lands nothing twice; then quarantine what the kind itself
   rejected (unparsable files, broken lines);
4. advance the watermark - only now, after the data commit;
5. log the outcome.

A source that is down raises one of the kind's ``transient_errors``: the attempt is
retried with exponential backoff and, when retries run out, that table's run fails
while other tables and connectors carry on.
"""

from __future__ import annotations

import math
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import ClassVar

import pyarrow as pa

from workbench.errors import ConfigError, WorkbenchError
from workbench.ingest import systables
from workbench.ingest.runlog import RunLog, RunRecord, now
from workbench.ingest.spec import ConnectorSpec, TableSource
from workbench.ingest.watermarks import Marks, Watermarks
from workbench.lake import Lake, Lineage, Rejection, TableSpec, TableStream, WriteResult
from workbench.lake.lake import QUARANTINE
from workbench.lake.streams import read_ahead

Progress = Callable[[RunRecord, int], None]
"""Called with the run and the number of rows just read."""


class SourceUnavailable(WorkbenchError):
    """A source could not be reached after all retries."""


@dataclass
class Extract:
    """What a kind hands the base for one target table.

    ``marks`` and ``rejections`` may be filled while ``batches`` is consumed; the base
    reads them only after the batches are exhausted and the data has committed.
    """

    schema: pa.Schema
    batches: Iterator[pa.RecordBatch]
    marks: Marks = field(default_factory=dict)
    rejections: list[Rejection] = field(default_factory=list)


class Connector(ABC):
    """One configured source system; subclasses are the kinds (``sql``, ``files``, ...)."""

    kind: ClassVar[str]
    transient_errors: ClassVar[tuple[type[BaseException], ...]] = (ConnectionError, TimeoutError)
    """Errors meaning "the source is down or flaky, try again later"; anything else fails at once."""

    def __init__(self, spec: ConnectorSpec, lake: Lake, env: Mapping[str, str] | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.spec = spec
        self.lake = lake
        self.env = env or {}
        self.sleep = sleep
        self.watermarks = Watermarks(lake)
        self.runs = RunLog(lake)
        self._marks: dict[str, Marks] = {}
        """Per target, the marks this connector's last run stored (a follower's next round starts from them)."""
        self._recovered: set[str] = set()
        """Targets whose killed runs this connector has looked for (once: it runs its tables one at a time)."""
        self.quiet_seconds: float | None = None
        """When set (a follower, polling every second): a run that moved nothing is logged only if the table's
        last logged run is older than this, so an idle source adds no run-log row per poll, and ``status``
        still sees the table followed (its lag stays under this)."""
        self._logged_at: dict[str, float] = {}
        self.on_landed: Callable[[str], None] | None = None
        """Called with a target right after its rows commit, before the run's bookkeeping (a follower curates
        them there, so they do not wait for the watermark, the run log and the connector's other tables)."""
        for source in spec.tables:
            self.validate_table(source)

    # -- hooks for kinds ---------------------------------------------------------------

    @abstractmethod
    def extract(self, source: TableSource, marks: Marks) -> Extract:
        """Start reading ``source`` from where ``marks`` say the last committed run stopped."""

    def validate_table(self, source: TableSource) -> None:
        """Reject a table entry this kind cannot serve; raise ``self.config_error``."""
        if self.is_incremental(source) and not self.key_of(source):
            raise self.config_error(source, "merge_keys", "an incremental source needs merge_keys (or a contract "
                                    "with a key) so that a re-read after a failure lands nothing twice")
        if source.deletes == "reconcile" and not (self.key_of(source) and self.lists_keys):
            raise self.config_error(source, "deletes", f"reconcile needs merge keys and a kind that can list its "
                                    f"source's keys ({self.kind} cannot)" if self.key_of(source) else
                                    "reconcile needs merge_keys (or a contract with a key)")

    lists_keys: ClassVar[bool] = False
    """Whether ``source_keys`` is implemented (sources whose deletes ``deletes = "reconcile"`` can follow)."""

    def source_keys(self, source: TableSource, key: tuple[str, ...]) -> pa.Table:
        """Every key the source holds now, as columns ``key`` (kinds with ``lists_keys``)."""
        raise NotImplementedError(f"{self.kind} connectors cannot list their source's keys")

    def is_incremental(self, source: TableSource) -> bool:
        """Whether a run reads only what is new; otherwise each run is a full snapshot."""
        return True

    def close(self) -> None:
        """Release what the connector keeps between runs (a source connection); it may run again afterwards."""

    def write(self, source: TableSource, stream: TableStream, record: RunRecord) -> WriteResult:
        """Land one source table's rows: through its contract, merged by key (a snapshot when keyless).

        Kinds whose rows are documents override this to keep the original files as well.
        """
        key = self.key_of(source)
        return self.lake.write(stream, mode="merge" if key else "overwrite",
                               spec=self._contract(source, stream.schema, key), actor=record.actor,
                               lineage=self.lineage())

    # -- helpers for kinds -------------------------------------------------------------

    def config_error(self, source: TableSource, key: str, reason: str) -> ConfigError:
        return ConfigError(f"{self.spec.source_file}: tables[{source.target}].{key}: {reason}")

    def connection(self) -> dict[str, str]:
        """Connection values with secrets resolved from the environment."""
        return self.spec.resolve_connection(self.env)

    def lineage(self) -> Lineage:
        return Lineage(produced_by=f"ingest {self.spec.name}")

    def key_of(self, source: TableSource) -> tuple[str, ...]:
        if source.merge_keys:
            return source.merge_keys
        contract = self.spec.table_spec(source, self.lake.specs)
        return contract.key if contract else ()

    # -- lifecycle ---------------------------------------------------------------------

    def run(self, targets: set[str] | None = None, progress: Progress | None = None) -> list[RunRecord]:
        """Run every table of this connector (or only ``targets``); never raises for a failed source."""
        return [self.run_table(s, progress) for s in self.spec.tables if targets is None or s.target in targets]

    def run_table(self, source: TableSource, progress: Progress | None = None) -> RunRecord:
        """Run one table. Killed runs are looked for, and the watermark read, at the connector's first run of
        the table; later runs (a follower's rounds) start from the marks the previous one stored. A follower
        is the table's one runner, so nothing else moves them meanwhile; if something did, a re-read
        merges by key and lands nothing twice."""
        record = RunRecord(source=self.spec.name, kind=self.kind, table_name=source.target)
        if source.target not in self._recovered:
            self._undo_unfinished(source.target)
            self._recovered.add(source.target)
        quiet = self.quiet_seconds is not None
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="run-log") as log:
            # The "running" row commits while the source starts answering (a Delta merge and a
            # catalog entry: a tenth of a 1M-row PostgreSQL run). ``_land`` commits nothing
            # before it has landed, so a run killed at any point is still found and undone.
            # A quiet connector (a follower) commits it only once the run is about to commit something.
            future = None if quiet else log.submit(self.runs.save, replace(record))
            written: list[bool] = []

            def logged() -> None:
                """The run is in the log before any of its work commits."""
                if future is not None:
                    future.result()
                elif not written:
                    self.runs.save(replace(record))
                    written.append(True)

            marks = self._marks.get(source.target)
            if marks is None:
                marks = self.watermarks.get(self.spec.name, source.target)
            try:
                while True:
                    record.attempts += 1
                    try:
                        self._land(source, marks, record, progress, logged)
                        if future is not None:
                            future.result()  # its failure is the run's
                        break
                    except self.transient_errors as exc:
                        if record.attempts > self.spec.retries:
                            raise SourceUnavailable(f"{self.spec.name}: source unavailable after "
                                                    f"{record.attempts} attempts: {exc}") from exc
                        record.rows_read = 0
                        self.sleep(self.spec.backoff_seconds * 2 ** (record.attempts - 1))
                record.status = "ok"
            except Exception as exc:  # a failing source must not stop the others; the log keeps why
                record.status, record.error = "failed", f"{type(exc).__name__}: {exc}".strip()
        idle = quiet and record.status == "ok" and not written and not record.rows_read
        if idle and time.monotonic() - self._logged_at.get(source.target, -math.inf) < (self.quiet_seconds or 0):
            return record  # nothing moved and a recent row says the table is followed: no trace
        record.finished_at = now()
        self.runs.save(record)
        self._logged_at[source.target] = time.monotonic()
        return record

    def _land(self, source: TableSource, marks: Marks, record: RunRecord, progress: Progress | None,
              logged: Callable[[], None]) -> None:
        """Read, land, quarantine, reconcile and advance the marks; ``logged()`` before the first commit."""
        extract = self.extract(source, dict(marks))
        batches = read_ahead(self._counted(extract.batches, record, progress))
        first = next(batches, None)
        if first is not None:
            logged()
            result = self.write(source, TableStream(source.target, extract.schema, _chain(first, batches)), record)
            record.rows_written = result.rows_written
            record.rows_quarantined = result.rows_quarantined
            record.table_version = result.version
            if result.rows_written and self.on_landed is not None:
                self.on_landed(source.target)
        if extract.rejections:
            logged()
            self.lake.quarantine(extract.rejections, record.run_id, record.actor)
            record.rows_quarantined += len(extract.rejections)
        if source.deletes == "reconcile" and self.lake.catalog.entry(source.target) is not None:
            logged()
            key = self.key_of(source)
            record.rows_deleted = self.lake.delete_missing(source.target, self.source_keys(source, key),
                                                           actor=record.actor, lineage=self.lineage())
        moved = {k: v for k, v in extract.marks.items() if marks.get(k) != v}  # a no-op run commits nothing
        if moved:
            logged()
            self.watermarks.advance(self.spec.name, source.target, moved, record.run_id, record.actor)
        self._marks[source.target] = {**marks, **moved}

    def _contract(self, source: TableSource, schema: pa.Schema, key: tuple[str, ...]) -> TableSpec:
        spec = self.spec.table_spec(source, self.lake.specs)
        if spec is None:
            return self.lake.spec_for(source.target, schema, key=key, classification=self.spec.classification,
                                      owner=self.spec.owner, description=source.description or self.spec.description)
        return spec if spec.key == key else spec.model_copy(update={"key": key})

    @staticmethod
    def _counted(batches: Iterator[pa.RecordBatch], record: RunRecord,
                 progress: Progress | None) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            if batch.num_rows:
                record.rows_read += batch.num_rows
                if progress:
                    progress(record, batch.num_rows)
                yield batch

    def _undo_unfinished(self, target: str) -> None:
        """Remove what killed runs of ``target`` quarantined; the next read redoes their work.

        A killed run that had already advanced the watermark finished its work (only its log
        row is missing): the next read will not redo it, so its quarantine rows stay.
        """
        run_ids = self.runs.unfinished(self.spec.name, target)
        if not run_ids:
            return
        done = self.watermarks.advanced_by(self.spec.name, target)
        undo = [r for r in run_ids if r not in done]
        if undo:
            self._drop_quarantined([RunRecord(self.spec.name, self.kind, target, run_id=r).actor for r in undo])
        self.runs.mark_abandoned(run_ids)

    def _drop_quarantined(self, actors: list[str]) -> None:
        """Delete quarantine rows written by ``actors`` in one commit (retried while another writer wins)."""
        quoted = ", ".join("'" + a.replace("'", "''") + "'" for a in actors)
        lineage = Lineage(produced_by=f"ingest {self.spec.name} recovery")
        systables.committed(QUARANTINE, lambda: self.lake.delete_where(
            QUARANTINE, f"rejected_by IN ({quoted})", actor="ingest recovery", lineage=lineage))


def _chain(first: pa.RecordBatch, rest: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    yield first
    yield from rest
