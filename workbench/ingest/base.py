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

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
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
        record = RunRecord(source=self.spec.name, kind=self.kind, table_name=source.target)
        self._undo_unfinished(source.target)
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="run-log") as log:
            # The "running" row commits while the source starts answering (a Delta merge and a
            # catalog entry: a tenth of a 1M-row PostgreSQL run). ``_land`` commits nothing
            # before it has landed, so a run killed at any point is still found and undone.
            logged = log.submit(self.runs.save, replace(record))
            marks = self.watermarks.get(self.spec.name, source.target)
            try:
                while True:
                    record.attempts += 1
                    try:
                        self._land(source, marks, record, progress, logged)
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
        record.finished_at = now()
        self.runs.save(record)
        return record

    def _land(self, source: TableSource, marks: Marks, record: RunRecord, progress: Progress | None,
              logged: Future[None]) -> None:
        extract = self.extract(source, dict(marks))
        batches = read_ahead(self._counted(extract.batches, record, progress))
        first = next(batches, None)
        logged.result()  # the run is in the log before any of its work commits
        if first is not None:
            result = self.write(source, TableStream(source.target, extract.schema, _chain(first, batches)), record)
            record.rows_written = result.rows_written
            record.rows_quarantined = result.rows_quarantined
            record.table_version = result.version
        if extract.rejections:
            self.lake.quarantine(extract.rejections, record.run_id, record.actor)
            record.rows_quarantined += len(extract.rejections)
        if source.deletes == "reconcile" and self.lake.catalog.entry(source.target) is not None:
            key = self.key_of(source)
            record.rows_deleted = self.lake.delete_missing(source.target, self.source_keys(source, key),
                                                           actor=record.actor, lineage=self.lineage())
        moved = {k: v for k, v in extract.marks.items() if marks.get(k) != v}  # a no-op run commits nothing
        self.watermarks.advance(self.spec.name, source.target, moved, record.run_id, record.actor)

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
