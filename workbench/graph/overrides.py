"""Analysts' review of merges: accept or reject a pair of mentions, kept in the lake.

A resolver re-run must not undo a person's decision, so decisions live in
``curated.entity_overrides`` (one row per pair, the latest decision wins through a merge
on the pair key) and ``resolution.cluster`` applies them on every run: an accepted pair
is linked whatever the model says; a rejected pair is never in one entity.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

import polars as pl

from workbench.errors import UnknownTable
from workbench.session import Session
from workbench.graph.tables import OVERRIDES

Decision = Literal["accept", "reject"]


@dataclass(frozen=True)
class OverrideSet:
    """The pairs analysts accepted and rejected (each pair ordered, smaller id first)."""

    accepted: frozenset[tuple[str, str]] = field(default_factory=frozenset)
    rejected: frozenset[tuple[str, str]] = field(default_factory=frozenset)


def _ordered(left: str, right: str) -> tuple[str, str]:
    return (left, right) if left <= right else (right, left)


def record_override(wb: Session, left_id: str, right_id: str, decision: Decision, note: str = "") -> None:
    """Persist one decision about two mentions (``unique_id`` as in ``curated.resolved_entities``)."""
    left, right = _ordered(left_id, right_id)
    row = pl.DataFrame({
        "left_id": [left], "right_id": [right], "decision": [decision], "analyst": [wb.user],
        "decided_at": [datetime.now()], "note": [note],
    })
    wb.write(row, OVERRIDES, mode="merge")


def load_overrides(wb: Session) -> OverrideSet:
    """Every decision so far; an empty set when nobody has reviewed anything yet."""
    try:
        frame = wb.table(OVERRIDES)
    except UnknownTable:
        return OverrideSet()
    pairs = {d: frozenset(_ordered(a, b) for a, b in frame.filter(pl.col("decision") == d)
                          .select("left_id", "right_id").iter_rows()) for d in ("accept", "reject")}
    return OverrideSet(accepted=pairs["accept"], rejected=pairs["reject"])
