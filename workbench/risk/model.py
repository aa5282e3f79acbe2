"""A trained risk model: the spec it came from, its feature builder and its estimator.

This is the object the registry stores and loads, so everything scoring needs travels
with it; scoring a file needs no training data and no further step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from workbench.risk.estimators import Estimator
from workbench.risk.features import FeatureBuilder
from workbench.risk.profile import Profile, build_profile
from workbench.risk.specs import ModelSpec

REASONS = 3
"""Reason codes reported per scored row."""


@dataclass
class RiskModel:
    """Scores checked input rows; ``algorithm`` names the candidate that won selection.

    ``reference`` is the profile of the rows the model was fitted on (set by training),
    what monitoring compares recent rows with; models registered before it existed lack it,
    as they lack ``threshold``.
    """

    spec: ModelSpec
    builder: FeatureBuilder
    estimator: Estimator
    algorithm: str
    reference: Profile | None = None
    threshold: float | None = None
    """Score from which the model selects for inspection (``selection.capacity_threshold`` of the
    validation period's traffic, set by training); None for specs without ``[inspection]``."""

    def profile(self, rows: pd.DataFrame) -> Profile:
        """Feature and score distributions of ``rows`` as scoring sees them (see ``risk.profile``)."""
        features = self.builder.features(rows)
        return build_profile(features, self.estimator.predict(features), self.builder.categorical,
                             rows[self.spec.model.date])

    def predict(self, rows: pd.DataFrame) -> np.ndarray:
        """Probability of the label per row (rows as ``risk.data`` returns them)."""
        return self.estimator.predict(self.builder.features(rows))

    def score(self, rows: pd.DataFrame, reasons: int = REASONS, explain_top: float | None = None,
              explain: Callable[[np.ndarray], np.ndarray] | None = None) -> pd.DataFrame:
        """Id, score and the ``reasons`` features that pushed each score up most, as ``feature=value (+push)``.

        Explaining costs far more than scoring (tree SHAP: ~100x a prediction), so batch
        jobs may pass ``explain_top``: only that share of rows, the highest scores (the
        ones an officer may open), get reasons; the rest get blanks. ``explain`` chooses the
        rows to explain from the scores instead (row positions; e.g. the rows selected for
        inspection).
        """
        features = self.builder.features(rows)
        explained = int(np.ceil(len(rows) * explain_top)) if explain_top is not None else 0
        if explain is None:
            explain = (lambda s: np.arange(len(s))) if explain_top is None else (lambda s: top_rows(s, explained))
        scores, chosen, pushes = self.estimator.predict_and_explain(features, explain)
        out = pd.DataFrame({self.spec.model.id: rows[self.spec.model.id].to_numpy(), "score": scores})
        codes = np.full((len(rows), reasons), "", dtype=object)
        if len(chosen):
            part = features.iloc[chosen]
            shown = np.full(part.shape, None, dtype=object)  # only text is shown: float columns never are
            for j, column in enumerate(part.columns):
                if part[column].dtype.kind != "f":
                    shown[:, j] = part[column].to_numpy(dtype=object)
            codes[chosen] = reason_codes(shown, pushes.to_numpy(), list(pushes.columns), reasons)
        for i in range(reasons):
            out[f"reason_{i + 1}"] = codes[:, i]
        return out


def top_rows(scores: np.ndarray, count: int) -> np.ndarray:
    """Indices of the ``count`` highest scores, highest first, ties to the earlier row: the first ``count``
    of a stable descending sort, found by partitioning first (a full sort of a batch costs 30x more)."""
    negated = -scores
    if count >= len(scores):
        return np.argsort(negated, kind="stable")
    if count <= 0:
        return np.arange(0)
    kth = np.partition(negated, count - 1)[count - 1]
    candidates = np.flatnonzero(negated <= kth)
    return candidates[np.argsort(negated[candidates], kind="stable")[:count]]


def reason_codes(shown: np.ndarray, values: np.ndarray, names: list[str], count: int) -> np.ndarray:
    """The ``count`` largest positive pushes per row, labelled; blank where fewer push up.

    Arrays, not frames, so the service's fast path (``risk.online``) labels with this same code:
    ``shown`` holds each row's feature values (codes as text), ``values`` the pushes, per ``names``.
    Only the cells that push up are formatted, in one comprehension over flat arrays.
    """
    order = np.argsort(-values, axis=1, kind="stable")[:, :count]
    pushed = np.take_along_axis(values, order, axis=1)
    rows, ranks = np.nonzero(pushed > 0)
    features = order[rows, ranks]
    codes = np.full(order.shape, "", dtype=object)
    codes[rows, ranks] = [f"{names[j]}={value} (+{push:.2f})" if isinstance(value, str) else f"{names[j]} (+{push:.2f})"
                          for j, value, push in zip(features.tolist(), shown[rows, features].tolist(),
                                                    pushed[rows, ranks].tolist(), strict=True)]
    return codes
