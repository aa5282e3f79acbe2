"""The risk scores table: every record of a model's table scored by its champion, with why it would be selected.

One shape for batch and live scoring (``scored_frame``): the record's id, place and time,
the score, the selection reason (``selection.decide``: a mandatory rule, the random quota,
a score at or above the model's capacity threshold; null when not selected) and reason
codes. Every selected record is explained (officers open those); unselected ones are
explained only when the caller asks (the live loop explains every record: a few per call).
Rows are keyed by (model, record id) and merged, so scoring a record again replaces its
row and a table scored by a new champion keeps one row per record.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa

from workbench.errors import WorkbenchError
from workbench.session import Session
from workbench.lake import TableStream
from workbench.lake.contracts import Rejection
from workbench.risk.data import CheckedFrame, check_frame, lake_query
from workbench.risk.model import REASONS, RiskModel
from workbench.risk.online import OnlineScorer
from workbench.risk.selection import capacity_threshold, decide
from workbench.risk.specs import Inspection, LakeData, ModelSpec

RISK_SCORES = "curated.risk_scores"
SCHEMA = {"model": pl.Utf8, "version": pl.Int64, "record_id": pl.Utf8, "place": pl.Utf8,
          "record_at": pl.Datetime("us"), "score": pl.Float64, "selection": pl.Utf8,
          **{f"reason_{i + 1}": pl.Utf8 for i in range(REASONS)}, "scored_at": pl.Datetime("us")}


def inspection_of(spec: ModelSpec) -> Inspection:
    """The spec's ``[inspection]``: without it nothing says how records are selected."""
    if spec.inspection is None:
        raise WorkbenchError(f"model {spec.name!r} has no [inspection] section: nothing says how to select")
    return spec.inspection


def record_kind(spec: ModelSpec) -> str:
    """What one record of the model's table is (``curated.declarations`` -> ``declaration``)."""
    assert isinstance(spec.data, LakeData), "records of a CSV model have no table"
    return spec.data.table.rpartition(".")[2].removesuffix("s")


def scored_frame(model: RiskModel, version: int, rows: CheckedFrame, threshold: float, scored_at: datetime,
                 explain_all: bool = False, fast: OnlineScorer | None = None) -> pl.DataFrame:
    """``rows`` (checked input rows) scored into the risk scores table's shape.

    ``fast`` (the live scorer's, built once per model): every record is scored and explained
    by ``risk.online`` from its typed values, identically to the batch path (pinned by
    tests/test_risk_online.py) and without the batch path's ~0.2 s of fixed pandas and
    scikit-learn cost per call, which a live tick of a few records paid whole. Without it,
    only the selected records are explained (officers open those), or all with ``explain_all``.
    """
    spec, frame = model.spec, rows.rows
    inspection = inspection_of(spec)
    ids = frame[spec.model.id].astype(str).tolist()
    decided: dict[str, np.ndarray] = {}
    if fast is not None:
        answers = fast.score(rows.records())
        scores = np.array([a["score"] for a in answers], dtype=float)
        decided["reason"] = decide(frame, ids, scores, inspection, threshold, spec.model.seed)
        reasons = [[*a["reasons"], *[""] * (REASONS - len(a["reasons"]))] for a in answers]
        explained = {f"reason_{i + 1}": [r[i] for r in reasons] for i in range(REASONS)}
    else:
        def explain(scores: np.ndarray) -> np.ndarray:
            decided["reason"] = decide(frame, ids, scores, inspection, threshold, spec.model.seed)
            return np.arange(len(scores)) if explain_all else np.flatnonzero(~pd.isna(decided["reason"]))

        scored = model.score(frame, explain=explain)
        scores = scored["score"].to_numpy(dtype=float)
        explained = {f"reason_{i + 1}": scored[f"reason_{i + 1}"].astype(str).tolist() for i in range(REASONS)}
    place = frame[inspection.place].astype(object).tolist() if inspection.place else [None] * len(frame)
    return pl.DataFrame({
        "model": [spec.name] * len(frame), "version": [version] * len(frame), "record_id": ids, "place": place,
        "record_at": pd.to_datetime(frame[spec.model.date]).dt.tz_localize(None).to_list(),
        "score": scores.tolist(),
        "selection": [None if pd.isna(r) else str(r) for r in decided["reason"]],
        **explained,
        "scored_at": [scored_at] * len(frame),
    }, schema=SCHEMA)


def threshold_of(model: RiskModel, scores: Callable[[], np.ndarray]) -> float:
    """The model's capacity threshold (set by training); models trained before it existed get it from
    ``scores`` (a sample of the traffic it scores)."""
    if model.threshold is not None:
        return model.threshold
    return capacity_threshold(scores(), inspection_of(model.spec))


@dataclass(frozen=True)
class ScoresReport:
    """A model's table scored into the risk scores table."""

    model: str
    version: int
    scored: int
    selected: int
    rejections: list[Rejection]
    versions: dict[str, int]
    seconds: float


def score_into_scores(session: Session, model: RiskModel, version: int, batch_rows: int = 100_000,
                      progress: Callable[[int], None] = lambda _: None) -> ScoresReport:
    """Score every record of the model's own table into ``curated.risk_scores`` in one merge commit.

    Rows breaking the input contract are reported and left out; the rest stream through in
    batches, so memory is bounded by ``batch_rows`` whatever the table's size.
    """
    spec = model.spec
    assert isinstance(spec.data, LakeData), f"model {spec.name!r} has no lake table to score"
    query = lake_query(spec, spec.data.table, with_label=False)
    versions = session.engine.versions(query)
    threshold = threshold_of(model, lambda: model.predict(check_frame(
        session.sql(f"{query} USING SAMPLE 20000 ROWS"), spec, spec.data.table).rows))
    relation = session.engine.relation(query)
    assert relation is not None
    started, counts, rejections = time.perf_counter(), {"scored": 0, "selected": 0}, []
    scored_at = datetime.now(UTC).replace(tzinfo=None)

    def batches() -> Iterator[pa.RecordBatch]:
        for batch in relation.to_arrow_reader(batch_rows):
            checked = check_frame(pl.from_arrow(batch), spec, spec.data.table)  # type: ignore[arg-type]
            rejections.extend(checked.rejections)
            if checked.rows.empty:
                continue
            frame = scored_frame(model, version, checked, threshold, scored_at)
            counts["scored"] += frame.height
            counts["selected"] += frame["selection"].is_not_null().sum()
            progress(counts["scored"])
            yield from frame.to_arrow().to_batches()

    stream = batches()
    first = next(stream, None)
    if first is not None:
        session.write(TableStream(RISK_SCORES, first.schema, itertools.chain([first], stream)), RISK_SCORES,
                      mode="merge", inputs=versions, description=f"risk scores of {spec.data.table} by {spec.name}")
    return ScoresReport(spec.name, version, counts["scored"], counts["selected"], rejections, versions,
                        time.perf_counter() - started)
