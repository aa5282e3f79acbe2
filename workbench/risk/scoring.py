"""Batch scoring of a file shaped like the model's input (labels absent).

Rows that break the input contract are reported (id or row number, field, rule) and
left out; every other row is scored, so one bad line never blocks a whole file. A file
missing a required column cannot be scored at all and raises ``MissingColumns``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from workbench.lake.contracts import Rejection
from workbench.risk.data import read_csv
from workbench.risk.model import RiskModel


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
