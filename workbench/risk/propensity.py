"""Inverse propensity weights: correcting for learning only from the rows someone chose to inspect.

Labels exist only where an officer (or a rule, or the old model) chose to inspect, and that
choice leaned on the same things the model sees (value, origin, unit value). Trained on
inspected rows as they are, a model learns the inspected population, over-represented
where inspection was frequent. Weighting each labelled row by 1 / P(inspected | its
features) makes the labelled rows stand for all rows like them, inspected or not: the
classical correction for selection on observables.

The propensity is a LightGBM classifier of "was labelled" over every row of the fitted
period, cross-fitted in two halves (each row's propensity comes from the model that did not
see it, so a row's own inspection does not inflate it). Propensities are clipped at
``FLOOR`` so a handful of unlikely inspections cannot carry the fit, and weights are
scaled to mean 1 over labelled rows. It reads features and the inspected flag, never an
outcome: no label leaks into the weights.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from workbench.risk.estimators import LightGBMEstimator

FLOOR = 0.02
"""Lowest propensity used: caps a weight at 50x the mean before normalising."""

PARAMS = {"n_estimators": 100, "learning_rate": 0.1, "num_leaves": 15, "min_child_samples": 50, "n_jobs": 1}


def propensity_weights(features: pd.DataFrame, labelled: np.ndarray, categorical: list[str], seed: int) -> np.ndarray:
    """Weights of the labelled rows (in their order): 1 / clipped cross-fitted P(labelled), mean 1."""
    labelled = np.asarray(labelled, dtype=bool)
    halves = np.arange(len(features)) % 2
    propensity = np.empty(len(features))
    for half in (0, 1):
        fit, apply = halves != half, halves == half
        model = LightGBMEstimator(categorical, PARAMS, seed).fit(features[fit], labelled[fit].astype(int))
        propensity[apply] = model.predict(features[apply])
    weights = 1.0 / np.clip(propensity[labelled], FLOOR, 1.0)
    return weights / weights.mean()
