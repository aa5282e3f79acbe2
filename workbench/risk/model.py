"""A trained risk model: the spec it came from, its feature builder and its estimator.

This is the object the registry stores and loads, so everything scoring needs travels
with it; scoring a file needs no training data and no further step.
"""

from __future__ import annotations

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
    what monitoring compares recent rows with; models registered before it existed lack it.
    """

    spec: ModelSpec
    builder: FeatureBuilder
    estimator: Estimator
    algorithm: str
    reference: Profile | None = None

    def profile(self, rows: pd.DataFrame) -> Profile:
        """Feature and score distributions of ``rows`` as scoring sees them (see ``risk.profile``)."""
        features = self.builder.features(rows)
        return build_profile(features, self.estimator.predict(features), self.builder.categorical,
                             rows[self.spec.model.date])

    def predict(self, rows: pd.DataFrame) -> np.ndarray:
        """Probability of the label per row (rows as ``risk.data`` returns them)."""
        return self.estimator.predict(self.builder.features(rows))

    def score(self, rows: pd.DataFrame, reasons: int = REASONS, explain_top: float | None = None) -> pd.DataFrame:
        """Id, score and the ``reasons`` features that pushed each score up most, as ``feature=value (+push)``.

        Explaining costs far more than scoring (tree SHAP: ~100x a prediction), so batch
        jobs may pass ``explain_top``: only that share of rows, the highest scores (the
        ones an officer may open), get reasons; the rest get blanks.
        """
        features = self.builder.features(rows)
        scores = self.estimator.predict(features)
        out = pd.DataFrame({self.spec.model.id: rows[self.spec.model.id].to_numpy(), "score": scores})
        chosen = np.arange(len(rows)) if explain_top is None else \
            np.argsort(-scores, kind="stable")[:int(np.ceil(len(rows) * explain_top))]
        codes = np.full((len(rows), reasons), "", dtype=object)
        if len(chosen):
            part = features.iloc[chosen]
            pushes = self.estimator.contributions(part)
            codes[chosen] = reason_codes(part.astype(object).to_numpy(), pushes.to_numpy(), list(pushes.columns),
                                         reasons)
        for i in range(reasons):
            out[f"reason_{i + 1}"] = codes[:, i]
        return out


def reason_codes(shown: np.ndarray, values: np.ndarray, names: list[str], count: int) -> np.ndarray:
    """The ``count`` largest positive pushes per row, labelled; blank where fewer push up.

    Arrays, not frames, so the service's fast path (``risk.online``) labels with this same code:
    ``shown`` holds each row's feature values (codes as text), ``values`` the pushes, per ``names``.
    """
    order = np.argsort(-values, axis=1, kind="stable")[:, :count]
    codes = np.full(order.shape, "", dtype=object)
    for r, c in np.ndindex(order.shape):
        j = order[r, c]
        if values[r, j] > 0:
            value = shown[r, j]
            label = f"{names[j]}={value}" if isinstance(value, str) else str(names[j])
            codes[r, c] = f"{label} (+{values[r, j]:.2f})"
    return codes
