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
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pyarrow as pa

from workbench.explore import Session
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


def score_table(session: Session, model: RiskModel, into: str, table: str | None = None, model_version: str = "",
                batch_rows: int = 200_000, explain_top: float | None = 0.05,
                progress: Callable[[int], None] = lambda _: None) -> TableScoringReport:
    """Score every row of ``table`` (default: the model's own lake table) into ``into``, batch by batch.

    The target is replaced in one commit (readers never see a half-scored table), with the
    source table versions as lineage; batches stream through, so memory stays bounded. Columns: the id, ``score``, reasons,
    ``model`` (name and version) and ``scored_at``. Reasons are given to the ``explain_top``
    share of each batch with the highest scores (None: every row; see ``RiskModel.score``).
    ``progress`` gets the rows done so far.
    """
    spec = model.spec
    source = table or (spec.data.table if isinstance(spec.data, LakeData) else None)
    if source is None:
        raise ValueError(f"model {spec.name!r} has no lake table of its own: name the table to score")
    query = lake_query(spec, source, with_label=False)
    versions = session.engine.versions(query)
    relation = session.engine.relation(query)
    assert relation is not None
    started, scored, rejections = time.perf_counter(), 0, []
    scored_at = datetime.now(UTC).replace(tzinfo=None)

    def batches() -> Iterator[pa.RecordBatch]:
        nonlocal scored
        for batch in relation.to_arrow_reader(batch_rows):
            checked = check_frame(pl.from_arrow(batch), spec, source)  # type: ignore[arg-type]
            rejections.extend(checked.rejections)
            if checked.rows.empty:
                continue
            scores = pl.from_pandas(model.score(checked.rows, explain_top=explain_top)).with_columns(
                pl.lit(model_label(spec, model_version)).alias("model"), pl.lit(scored_at).alias("scored_at"))
            scored += len(scores)
            progress(scored)
            yield from scores.to_arrow().to_batches()

    stream = batches()
    first = next(stream, None)
    if first is not None:
        session.write(TableStream(into, first.schema, itertools.chain([first], stream)), into, mode="overwrite",
                      inputs=versions, description=f"risk scores of {source} by {spec.name}")
    return TableScoringReport(source, into, scored, rejections, versions, time.perf_counter() - started)
