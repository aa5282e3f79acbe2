"""Choosing what to inspect: mandatory rules, a random monitoring quota, then the model fills the capacity.

Order matters. Rules come first because they are policy, not prediction (they may even
exceed the capacity; that is reported, not hidden). The random quota is drawn next from
every row the rules left, uniformly, so its outcomes estimate the hit rate of traffic the
model would not pick: the only unbiased label source for the next training run. The
model's highest scores fill what capacity remains. Every selected row says why.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime

import numpy as np
import pandas as pd
import polars as pl

from workbench.errors import WorkbenchError
from workbench.session import Session
from workbench.lake.contracts import Rejection
from workbench.risk.data import read_window
from workbench.risk.model import RiskModel
from workbench.risk.specs import Inspection

RANDOM = "random"


def rule_hits(rows: pd.DataFrame, inspection: Inspection) -> pd.Series:
    """Per row, the name of the first mandatory rule it meets, or None."""
    if not inspection.rules:
        return pd.Series([None] * len(rows), index=rows.index, dtype=object)
    columns = sorted({c for rule in inspection.rules for c in rule.columns()})
    frame = pl.from_pandas(rows[columns].reset_index(drop=True))
    matched = frame.select(*(pl.sql_expr(rule.when).fill_null(False).alias(str(i))
                             for i, rule in enumerate(inspection.rules)))
    first = pl.coalesce(*(pl.when(pl.col(str(i))).then(pl.lit(f"rule:{rule.name}"))
                          for i, rule in enumerate(inspection.rules)))
    return pd.Series(matched.select(first.alias("rule"))["rule"].to_list(), index=rows.index, dtype=object)


def select(ids: pd.Series, scores: np.ndarray, rows: pd.DataFrame, inspection: Inspection,
           seed: int = 0, quota: int | None = None) -> pd.DataFrame:
    """The rows to inspect out of one batch (a day's declarations, say), each with the reason it was chosen.

    Capacity is ``round(len(rows) * inspection.rate)``; the random quota is
    ``round(capacity * inspection.random_share)``. Returns ``id``, ``score``, ``score_rank``
    (1 = riskiest of the batch) and ``reason`` (``rule:<name>``, ``random`` or ``score``),
    rules first, then random draws, then the model's picks by rank. ``quota`` overrides the
    number of random draws (``select_by_week`` rounds it stochastically).
    """
    n = len(ids)
    s = np.asarray(scores, dtype=float)
    capacity = int(round(n * inspection.rate))
    rank = np.empty(n, dtype=int)
    rank[np.argsort(-s, kind="stable")] = np.arange(1, n + 1)
    reason = rule_hits(rows, inspection).to_numpy(dtype=object, copy=True)
    free = np.flatnonzero(pd.isna(reason))
    quota = min(int(round(capacity * inspection.random_share)) if quota is None else quota, len(free))
    drawn = np.random.default_rng(seed).choice(free, size=quota, replace=False)
    reason[drawn] = RANDOM
    left = max(0, capacity - int((~pd.isna(reason)).sum()))
    unpicked = np.flatnonzero(pd.isna(reason))
    reason[unpicked[np.argsort(rank[unpicked], kind="stable")[:left]]] = "score"
    chosen = np.flatnonzero(~pd.isna(reason))
    out = pd.DataFrame({"id": ids.to_numpy()[chosen], "score": s[chosen], "score_rank": rank[chosen],
                        "reason": reason[chosen].astype(str)})
    kind = out["reason"].map(lambda r: 0 if r.startswith("rule:") else 1 if r == RANDOM else 2)
    return out.assign(_kind=kind).sort_values(["_kind", "score_rank"], kind="stable").drop(columns="_kind") \
        .reset_index(drop=True)


def capacity_threshold(scores: np.ndarray, inspection: Inspection) -> float:
    """The score above which the model fills its share of the capacity (rate x (1 - random share)).

    Records arriving one at a time cannot be ranked within a batch, so the live loop selects
    a record by comparing its score with this quantile of the scores of the traffic the
    champion scored in batch; over a day the share selected by score matches the capacity.
    """
    share = inspection.rate * (1 - inspection.random_share)
    return float(np.quantile(scores, 1 - share)) if len(scores) else 1.0


def random_draw(ids: list[str], share: float, seed: int) -> np.ndarray:
    """Per record, whether it falls in the random quota: a hash of (seed, id) below ``share``.

    A hash, not a generator's draw, so the choice depends on the record alone: a scorer that
    is killed and redoes a record draws the same, and so does batch scoring.
    """
    if not ids:
        return np.zeros(0, dtype=bool)
    draws = [int.from_bytes(hashlib.blake2b(f"{seed}:{i}".encode(), digest_size=8).digest(), "big") for i in ids]
    return np.array(draws, dtype=float) / 2.0**64 < share


def decide(rows: pd.DataFrame, ids: list[str], scores: np.ndarray, inspection: Inspection, threshold: float,
           seed: int = 0) -> np.ndarray:
    """Per record its selection reason (``rule:<name>``, ``random``, ``score``) or None: rules first, then the
    random quota (``random_draw`` at rate x random share), then scores at or above ``threshold``."""
    reason = rule_hits(rows, inspection).to_numpy(dtype=object, copy=True)
    free = pd.isna(reason)
    drawn = free & random_draw(ids, inspection.rate * inspection.random_share, seed)
    reason[drawn] = RANDOM
    reason[free & ~drawn & (np.asarray(scores, dtype=float) >= threshold)] = "score"
    return reason


SELECTIONS = "curated.risk_selections"
"""Where selection jobs record what they chose and why (spec in ``workbench/risk/tables.toml``)."""


def week_start(days: pd.Series) -> pd.Series:
    """The Monday of each date's week: selection batches and monitoring windows are calendar weeks."""
    stamps = pd.to_datetime(days).dt.normalize()
    return (stamps - pd.to_timedelta(stamps.dt.day_of_week, unit="D")).dt.date


def select_by_week(ids: pd.Series, scores: np.ndarray, rows: pd.DataFrame, days: pd.Series, inspection: Inspection,
                   seed: int = 0) -> pd.DataFrame:
    """``select`` applied to each calendar week's rows as one batch; adds ``selected_on`` (the row's own day).

    The random quota is rounded stochastically (floor of capacity x share, plus one with
    the fractional part's probability): at a few hundred rows a week a 10% share of a 5%
    capacity would round to zero every week and the unbiased monitoring sample would
    silently vanish; this way its expected size is exact at any volume. Each week draws
    with its own seed (``seed`` + the Monday's ordinal), so a re-run chooses the same rows.
    """
    day = pd.to_datetime(days).dt.normalize().reset_index(drop=True)
    ids, rows = ids.reset_index(drop=True), rows.reset_index(drop=True)
    monday = week_start(day)
    parts = []
    for stamp, index in monday.groupby(monday, sort=True).groups.items():
        week_seed = seed + stamp.toordinal()
        expected = int(round(len(index) * inspection.rate)) * inspection.random_share
        quota = int(expected) + int(np.random.default_rng([week_seed, 1]).random() < expected % 1)
        chosen = select(ids[index], np.asarray(scores)[index], rows.loc[index], inspection, seed=week_seed,
                        quota=quota)
        on = pd.Series(day[index].dt.date.to_numpy(), index=ids[index].to_numpy())
        parts.append(chosen.assign(selected_on=on.reindex(chosen["id"].to_numpy()).to_numpy()))
    columns = ["id", "score", "score_rank", "reason", "selected_on"]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)


def write_mode(session: Session, table: str) -> str:
    """``merge`` into tables whose spec has a key (a re-run replaces its own rows), else ``append``."""
    spec = session.lake.specs.get(table)
    return "merge" if spec is not None and spec.key else "append"


@dataclass(frozen=True)
class SelectionReport:
    """A selection job: rows considered, rows chosen per reason, rows the input contract kept out."""

    into: str
    considered: int
    chosen: dict[str, int]
    rejections: list[Rejection]


def select_table(session: Session, model: RiskModel, version: int, since: date, until: date,
                 into: str = SELECTIONS) -> SelectionReport:
    """Score the model's table rows dated ``since <= date < until`` and record each week's selection in ``into``.

    Scores come from ``model`` itself (what batch scoring writes for the same rows), the
    rules and capacity from its spec's ``[inspection]``. Rows are keyed by (model, record
    id): re-selecting a week replaces its rows.
    """
    spec = model.spec
    if spec.inspection is None:
        raise WorkbenchError(f"model {spec.name!r} has no [inspection] section: nothing says how to select")
    read = read_window(session, spec, since, until)
    rows = read.checked.rows
    chosen = select_by_week(rows[spec.model.id], model.predict(rows) if len(rows) else np.zeros(0), rows,
                           rows[spec.model.date], spec.inspection, seed=spec.model.seed)
    frame = pl.DataFrame({
        "model": [spec.name] * len(chosen), "version": [version] * len(chosen),
        "record_id": chosen["id"].astype(str).tolist(), "selected_on": list(chosen["selected_on"]),
        "score": chosen["score"].astype(float).tolist(), "score_rank": chosen["score_rank"].astype(int).tolist(),
        "reason": chosen["reason"].astype(str).tolist(),
    }, schema={"model": pl.Utf8, "version": pl.Int64, "record_id": pl.Utf8, "selected_on": pl.Date,
               "score": pl.Float64, "score_rank": pl.Int64, "reason": pl.Utf8}).with_columns(
        pl.lit(datetime.now(UTC).replace(tzinfo=None)).alias("selected_at"))
    if len(frame):
        session.write(frame, into, mode=write_mode(session, into), inputs=read.versions,  # type: ignore[arg-type]
                      description=f"inspection selections of {spec.name} v{version}")
    counts = chosen["reason"].map(reason_group).value_counts().to_dict() if len(chosen) else {}
    return SelectionReport(into, len(rows), {str(k): int(v) for k, v in counts.items()}, read.checked.rejections)


def reason_group(reason: str) -> str:
    """How monitoring groups reasons: ``rule:<name>`` -> ``rule``, ``score`` -> ``model``, ``random`` -> ``random``."""
    if reason.startswith("rule:"):
        return "rule"
    return {"score": "model", RANDOM: "random"}[reason]
