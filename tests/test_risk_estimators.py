"""The estimators' explanation path on edge cases the batch scorer meets (a batch where nothing is chosen)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from workbench.risk.estimators import LightGBMEstimator


def _fitted() -> tuple[LightGBMEstimator, pd.DataFrame]:
    rng = np.random.default_rng(0)
    features = pd.DataFrame({"value": rng.normal(size=300), "weight": rng.normal(size=300)})
    labels = (features["value"] + rng.normal(size=300) > 0).astype(int).to_numpy()
    return LightGBMEstimator([], {"n_estimators": 10}, seed=0).fit(features, labels), features


def test_a_batch_where_no_row_is_chosen_is_scored_with_no_explanations() -> None:
    estimator, features = _fitted()
    scores, chosen, contributions = estimator.predict_and_explain(features, lambda s: np.zeros(len(s), dtype=bool))
    assert len(scores) == len(features) and not chosen.any()
    assert contributions.shape == (0, 2) and list(contributions.columns) == ["value", "weight"]


def test_chosen_rows_are_explained_one_contribution_per_feature() -> None:
    estimator, features = _fitted()
    scores, chosen, contributions = estimator.predict_and_explain(features, lambda s: s > 0.5)
    assert 0 < chosen.sum() < len(features)
    assert contributions.shape == (int(chosen.sum()), 2)
    assert contributions.index.equals(features.index[chosen])
