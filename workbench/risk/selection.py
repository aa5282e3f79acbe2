"""Choosing what to inspect: mandatory rules, a random monitoring quota, then the model fills the capacity.

Order matters. Rules come first because they are policy, not prediction (they may even
exceed the capacity; that is reported, not hidden). The random quota is drawn next from
every row the rules left, uniformly, so its outcomes estimate the hit rate of traffic the
model would not pick: the only unbiased label source for the next training run. The
model's highest scores fill what capacity remains. Every selected row says why.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl

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
           seed: int = 0) -> pd.DataFrame:
    """The rows to inspect out of one batch (a day's declarations, say), each with the reason it was chosen.

    Capacity is ``round(len(rows) * inspection.rate)``; the random quota is
    ``round(capacity * inspection.random_share)``. Returns ``id``, ``score``, ``score_rank``
    (1 = riskiest of the batch) and ``reason`` (``rule:<name>``, ``random`` or ``score``),
    rules first, then random draws, then the model's picks by rank.
    """
    n = len(ids)
    s = np.asarray(scores, dtype=float)
    capacity = int(round(n * inspection.rate))
    rank = np.empty(n, dtype=int)
    rank[np.argsort(-s, kind="stable")] = np.arange(1, n + 1)
    reason = rule_hits(rows, inspection).to_numpy(dtype=object, copy=True)
    free = np.flatnonzero(pd.isna(reason))
    quota = min(int(round(capacity * inspection.random_share)), len(free))
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
