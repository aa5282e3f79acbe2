"""Simple rankings measured beside every model in the same run.

A model is only worth deploying if it beats what an officer could do without it:
inspect at random, inspect the most valuable goods, inspect importers with a bad
record, or a plain one-hot logistic regression / default LightGBM on the same codes.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from workbench.risk.estimators import LightGBMEstimator, LogisticEstimator
from workbench.risk.features import FeatureBuilder
from workbench.risk.specs import FeatureSpec, History, ModelSpec

Ranking = Callable[[], np.ndarray]


def baseline_rankings(spec: ModelSpec, builder: FeatureBuilder, train: pd.DataFrame, labels: np.ndarray,
                      train_features: pd.DataFrame, validate: pd.DataFrame,
                      validate_features: pd.DataFrame) -> dict[str, Ranking]:
    """Baselines the spec asks for, each a deferred scoring of ``validate`` (so progress can be shown).

    ``labels`` may hold NaN (unlabelled rows): learned baselines fit on labelled rows only.
    """
    chosen = spec.baselines
    seed = spec.model.seed
    known = ~np.isnan(np.asarray(labels, dtype=float))
    fit_features, fit_labels = train_features[known], np.asarray(labels)[known]
    out: dict[str, Ranking] = {}
    if chosen.random:
        out["random"] = lambda: np.random.default_rng(seed).random(len(validate))
    if chosen.value_rule:
        column = chosen.value_rule
        out[f"value_rule:{column}"] = lambda: validate[column].astype(float).to_numpy()
    if chosen.history:
        key = chosen.history

        def history() -> np.ndarray:
            past = FeatureBuilder(FeatureSpec(history=(History(key=key),)), spec.model.date).fit(train, labels)
            return past.features(validate)[f"{key} history rate"].to_numpy()

        out[f"history:{key}"] = history
    codes = builder.categorical
    if chosen.logistic_onehot and codes:
        out["logistic_onehot"] = lambda: LogisticEstimator(codes, {}, seed).fit(
            fit_features[codes], fit_labels).predict(validate_features[codes])
    if chosen.lightgbm_label_encoded:
        out["lightgbm_label_encoded"] = lambda: LightGBMEstimator(codes, {}, seed, native_categories=False).fit(
            fit_features, fit_labels).predict(validate_features)
    return out
