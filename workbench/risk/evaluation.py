"""How a ranking is judged: inspection-capacity metrics, discrimination and calibration.

Customs inspects a fixed share of declarations, so what matters is the top of the
ranking: precision@k (hit rate of inspections), recall@k (share of frauds caught) and
revenue@k (share of fraudulent value caught) at exact top-k, k = round(n * rate). AUC
and calibration (Brier score, reliability bins) describe the whole ranking and whether a
score can be read as a probability.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import brier_score_loss, roc_auc_score


def capacity_label(rate: float) -> str:
    """``0.05`` -> ``"5pct"``, the suffix of metric names (MLflow keys allow no ``%``)."""
    return f"{rate * 100:g}pct".replace(".", "_")


def metric_names(capacities: Sequence[float]) -> list[str]:
    """Names ``evaluate`` reports for these capacities, in report order."""
    names = [f"{m}_at_{capacity_label(c)}" for c in capacities for m in ("precision", "recall", "revenue")]
    return [*names, "roc_auc", "brier"]


def top_k(scores: np.ndarray, rate: float) -> np.ndarray:
    """Indices of the exact top k = round(n * rate) scores; ties keep input order, so runs repeat."""
    k = int(round(len(scores) * rate))
    return np.argsort(-np.asarray(scores, dtype=float), kind="stable")[:k]


def evaluate(labels: np.ndarray, scores: np.ndarray, capacities: Sequence[float],
             values: np.ndarray | None = None) -> dict[str, float]:
    """All metrics of one ranking. ``values`` weight revenue@k (all ones when absent).

    Brier is only meaningful for scores in [0, 1]; rankings that are not probabilities
    (a value rule) get NaN there.
    """
    y = np.asarray(labels, dtype=int)
    s = np.asarray(scores, dtype=float)
    w = np.ones(len(y)) if values is None else np.asarray(values, dtype=float)
    positives, fraud_value = y.sum(), (w * y).sum()
    out: dict[str, float] = {}
    for rate in capacities:
        idx = top_k(s, rate)
        hits = y[idx]
        tag = capacity_label(rate)
        out[f"precision_at_{tag}"] = float(hits.mean()) if len(idx) else float("nan")
        out[f"recall_at_{tag}"] = float(hits.sum() / positives) if positives else float("nan")
        out[f"revenue_at_{tag}"] = float((w[idx] * hits).sum() / fraud_value) if fraud_value else float("nan")
    both = 0 < positives < len(y)
    out["roc_auc"] = float(roc_auc_score(y, s)) if both else float("nan")
    probabilities = bool(s.min() >= 0 and s.max() <= 1) if len(s) else False
    out["brier"] = float(brier_score_loss(y, s)) if probabilities else float("nan")
    return out


def reliability(labels: np.ndarray, probabilities: np.ndarray, bins: int = 10) -> pd.DataFrame:
    """Calibration table: per equal-width probability bin, rows, mean predicted and observed rate."""
    p = np.asarray(probabilities, dtype=float)
    which = np.minimum((p * bins).astype(int), bins - 1)
    frame = pd.DataFrame({"bin": which, "predicted": p, "observed": np.asarray(labels, dtype=float)})
    table = frame.groupby("bin").agg(rows=("predicted", "size"), predicted=("predicted", "mean"),
                                     observed=("observed", "mean")).reset_index()
    table.insert(1, "low", table["bin"] / bins)
    table.insert(2, "high", (table["bin"] + 1) / bins)
    return table.drop(columns="bin")
