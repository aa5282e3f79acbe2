"""Batch scoring: a file shaped like the model's input, or a whole lake table into a scores table.

Rows that break the input contract are reported (id or row number, field, rule) and
left out; every other row is scored, so one bad line never blocks a whole file or table.
A file missing a required column cannot be scored at all and raises ``MissingColumns``.
Lake tables are streamed in batches through the session, so memory stays bounded by the
batch size whatever the table's size.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa

from workbench.compute import executor
from workbench.errors import AccessDenied, WorkbenchError
from workbench.session import Session
from workbench.lake import TableStream
from workbench.lake.contracts import Rejection
from workbench.risk.data import check_frame, lake_query, read_csv
from workbench.risk.model import RiskModel
from workbench.risk.specs import LakeData, ModelSpec


@dataclass(frozen=True)
class ScoringReport:
    """What happened to a file: how many rows were scored, which were rejected and why."""

    output: str
    scored: int
    rejections: list[Rejection]


def score_file(model: RiskModel, source: Path, output: Path) -> ScoringReport:
    """Score ``source`` into ``output`` (CSV: id, score, reason_1..3), ranked riskiest first."""
    checked = read_csv(source, model.spec)
    scores = model.score(checked.rows).sort_values("score", ascending=False, kind="stable")
    output.parent.mkdir(parents=True, exist_ok=True)
    scores.to_csv(output, index=False)
    return ScoringReport(str(output), len(scores), checked.rejections)


@dataclass(frozen=True)
class TableScoringReport:
    """A scored lake table: rows written, rows rejected, versions read, and the throughput reached."""

    table: str
    into: str
    scored: int
    rejections: list[Rejection]
    versions: dict[str, int]
    seconds: float

    @property
    def rows_per_second(self) -> float:
        return self.scored / self.seconds if self.seconds else float("nan")


def model_label(spec: ModelSpec, model_version: str) -> str:
    """The ``model`` column of a scores table: ``"<name> <version>"`` (monitoring reads scores back by it)."""
    return f"{spec.name} {model_version}".strip()


def score_part(part: pa.RecordBatch | str, model: RiskModel, source: str, storage_options: dict[str, str],
               explain_top: float | None, label: str, scored_at: datetime) -> tuple[pa.Table | None, list[Rejection]]:
    """One batch of ``source``'s rows (a record batch read here, or a data file's URI read by a Dask worker),
    checked against the model's input contract and scored: the scores and the rejections."""
    if isinstance(part, str):
        raw = pl.read_parquet(part, columns=list(model.spec.input.columns), storage_options=storage_options or None)
    else:
        raw = pl.from_arrow(part)  # type: ignore[assignment]
    checked = check_frame(raw, model.spec, part if isinstance(part, str) else source)  # type: ignore[arg-type]
    if checked.rows.empty:
        return None, checked.rejections
    scores = pl.from_pandas(model.score(checked.rows, explain_top=explain_top)).with_columns(
        pl.lit(label).alias("model"), pl.lit(scored_at).alias("scored_at"))
    return scores.to_arrow(), checked.rejections


def readable_files(session: Session, source: str, model: RiskModel) -> tuple[list[str], int]:
    """The data files of ``source``'s current snapshot, after the session's access checks (Dask workers read
    them directly, without a session: the role must read the table, no input column may be masked for it,
    and the read is audited here). Tables with deletion vectors or column mapping are refused: their files
    alone do not say which rows are live."""
    if source not in set(session.tables()["name"].to_list()):
        raise WorkbenchError(f"{source}: no such table, or role {session.role!r} may not read it")
    masked = session.gate.masked(source, list(model.spec.input.columns))
    if masked:
        raise AccessDenied(source, "masked", session.role, reason=f"columns {masked} are masked for this role; "
                           "distributed scoring reads files directly: score in this process")
    delta = session.lake.delta(source)
    features = delta.protocol().reader_features or []
    if "deletionVectors" in features or "columnMapping" in features:
        raise WorkbenchError(f"{source}: deletion vectors or column mapping; score it in this process")
    version = int(delta.version())
    session.audit.record("scan", tables=[source], version=version)
    return list(delta.file_uris()), version


def score_table(session: Session, model: RiskModel, into: str, table: str | None = None, model_version: str = "",
                batch_rows: int = 200_000, explain_top: float | None = 0.05,
                progress: Callable[[int], None] = lambda _: None, client: Any = None) -> TableScoringReport:
    """Score every row of ``table`` (default: the model's own lake table) into ``into``, batch by batch.

    The target is replaced in one commit (readers never see a half-scored table), with the
    source table versions as lineage; batches stream through, so memory stays bounded. Columns: the id, ``score``, reasons,
    ``model`` (name and version) and ``scored_at``. Reasons are given to the ``explain_top``
    share of each batch with the highest scores (None: every row; see ``RiskModel.score``).
    ``progress`` gets the rows done so far.

    Where the work runs is the execution seam's choice (``workbench.compute.executor``): in
    this process, batches of ``batch_rows`` read through the session; with a Dask ``client``,
    one task per data file of the table's current snapshot (the file is the batch; the model
    is sent to each worker once), in whatever order they finish. The output is the same.
    """
    spec = model.spec
    source = table or (spec.data.table if isinstance(spec.data, LakeData) else None)
    if source is None:
        raise ValueError(f"model {spec.name!r} has no lake table of its own: name the table to score")
    started, scored, rejections = time.perf_counter(), 0, []
    if client is None:
        query = lake_query(spec, source, with_label=False)
        versions = session.engine.versions(query)
        relation = session.engine.relation(query)
        assert relation is not None
        parts: Iterable[pa.RecordBatch | str] = relation.to_arrow_reader(batch_rows)
    else:
        files, version = readable_files(session, source, model)
        versions, parts = {source: version}, files
    scored_at = datetime.now(UTC).replace(tzinfo=None)
    results = executor(client).map(score_part, parts, model, source, dict(session.lake.location.storage_options),
                                   explain_top, model_label(spec, model_version), scored_at, ordered=False)

    def batches() -> Iterator[pa.RecordBatch]:
        nonlocal scored
        for part, rejected in results:
            rejections.extend(rejected)
            if part is None:
                continue
            scored += part.num_rows
            progress(scored)
            yield from part.to_batches()

    stream = batches()
    first = next(stream, None)
    if first is not None:
        session.write(TableStream(into, first.schema, itertools.chain([first], stream)), into, mode="overwrite",
                      inputs=versions, description=f"risk scores of {source} by {spec.name}")
    return TableScoringReport(source, into, scored, rejections, versions, time.perf_counter() - started)
