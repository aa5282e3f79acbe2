"""Reference distributions of a model's features and scores, and the population stability index.

A trained model carries a ``Profile`` of the rows it was fitted on: for every feature and
for the score, the bins and the share of rows in each. Monitoring later bins recent rows
the same way and compares shares with PSI, so drift is judged without the training data
(CSV models and models trained on a lake version long gone can still be monitored).

Both sides are computed the way scoring computes them (``FeatureBuilder.features``: history
and peers frozen at the end of training), not the as-of way the estimator learned from, so
a drift figure measures the data moving, not the difference between the two forms: scoring
the training rows again gives PSI 0 by construction.

PSI = sum over bins of (recent - reference) * ln(recent / reference), shares floored at
1e-4 so an empty bin does not make it infinite. Conventional reading: < 0.1 stable,
0.1-0.25 worth a look, > 0.25 a shift that calls for review (``ALERT_PSI``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

ALERT_PSI = 0.25
"""PSI above which monitoring raises an alert."""

ALERT_MIN_ROWS = 200
"""Fewest rows in a window for a drift alert: with ~10 bins, sampling noise alone gives a PSI
of about bins / rows (0.05 at 200 rows, 0.8 at 13), so a small week reports its PSI but never alerts."""

QUANTILES = np.linspace(0.1, 0.9, 9)
"""Numeric bins: reference deciles (ties collapse, so a mostly-constant feature gets few bins)."""

TOP_CATEGORIES = 30
"""Categorical bins: the most frequent reference codes; the rest share one ``(other)`` bin."""

FLOOR = 1e-4


@dataclass(frozen=True)
class Distribution:
    """One variable's reference bins and shares; the last bin holds missing values.

    Numeric: ``edges`` are inner cut points (bin i holds values in [edges[i-1], edges[i])).
    Categorical: ``categories`` are the binned codes, then ``(other)``, then missing.
    """

    edges: tuple[float, ...] = ()
    categories: tuple[str, ...] | None = None
    shares: tuple[float, ...] = ()

    @property
    def categorical(self) -> bool:
        return self.categories is not None

    def bin_labels(self) -> list[str]:
        """Human-readable names of the bins, in order (for the detail of a shift)."""
        if self.categories is not None:
            return [*self.categories, "(other)", "(missing)"]
        bounds = ["-inf", *(f"{e:.4g}" for e in self.edges), "inf"]
        return [*(f"[{lo}, {hi})" for lo, hi in zip(bounds, bounds[1:], strict=False)), "(missing)"]

    def counts(self, values: pd.Series | np.ndarray) -> np.ndarray:
        """Rows per bin of ``values`` under this distribution's bins."""
        series = pd.Series(values).reset_index(drop=True)
        missing = series.isna().to_numpy()
        if self.categories is not None:
            index = pd.Index(self.categories, dtype=object)
            found = index.get_indexer(series.astype(object).where(~missing, None))
            which = np.where(found >= 0, found, len(self.categories))
            slots = len(self.categories) + 2
        else:
            which = np.searchsorted(np.asarray(self.edges, dtype=float), series.to_numpy(dtype=float, na_value=np.nan),
                                    side="right")
            slots = len(self.edges) + 2
        which = np.where(missing, slots - 1, which)
        return np.bincount(which, minlength=slots)


def numeric_distribution(values: pd.Series | np.ndarray) -> Distribution:
    """Decile bins of the non-missing reference values, and the reference's shares in them."""
    array = pd.Series(values).to_numpy(dtype=float, na_value=np.nan)
    present = array[~np.isnan(array)]
    edges = tuple(float(e) for e in np.unique(np.quantile(present, QUANTILES))) if len(present) else ()
    return _with_shares(Distribution(edges=edges), array)


def categorical_distribution(values: pd.Series) -> Distribution:
    """The ``TOP_CATEGORIES`` most frequent reference codes as bins, and the reference's shares."""
    top = values.dropna().astype(str).value_counts(sort=True).head(TOP_CATEGORIES).index
    return _with_shares(Distribution(categories=tuple(sorted(top))), values.astype(object))


def _with_shares(shell: Distribution, values: pd.Series | np.ndarray) -> Distribution:
    counts = shell.counts(values)
    shares = counts / max(int(counts.sum()), 1)
    return Distribution(edges=shell.edges, categories=shell.categories, shares=tuple(float(s) for s in shares))


def psi(reference: np.ndarray, recent: np.ndarray) -> float:
    """Population stability index of two share vectors over the same bins (see the module docstring)."""
    e = np.maximum(np.asarray(reference, dtype=float), FLOOR)
    a = np.maximum(np.asarray(recent, dtype=float), FLOOR)
    return float(np.sum((a - e) * np.log(a / e)))


@dataclass(frozen=True)
class Shift:
    """How one variable moved: PSI, and the bin whose share moved most (``code +4.1 pts``)."""

    psi: float
    detail: str


def shift(reference: Distribution, values: pd.Series | np.ndarray) -> Shift:
    """PSI of ``values`` against ``reference`` and the bin that moved most; NaN PSI for no rows."""
    counts = reference.counts(values)
    if counts.sum() == 0:
        return Shift(float("nan"), "no rows")
    shares = counts / counts.sum()
    delta = shares - np.asarray(reference.shares)
    worst = int(np.argmax(np.abs(delta)))
    return Shift(psi(np.asarray(reference.shares), shares),
                 f"{reference.bin_labels()[worst]} {delta[worst] * 100:+.1f} pts")


@dataclass(frozen=True)
class Profile:
    """The reference a model is monitored against: its score and every feature, over its fit rows."""

    rows: int
    period: tuple[str, str]
    """First and last date of the reference rows (ISO)."""
    score: Distribution
    features: dict[str, Distribution]


def build_profile(features: pd.DataFrame, scores: np.ndarray, categorical: list[str], dates: pd.Series) -> Profile:
    """The profile of scored rows: ``features`` as ``FeatureBuilder.features`` returns them, ``scores`` aligned."""
    distributions = {c: categorical_distribution(features[c]) if c in categorical else numeric_distribution(features[c])
                     for c in features.columns}
    stamps = pd.to_datetime(dates)
    period = (stamps.min().date().isoformat(), stamps.max().date().isoformat()) if len(stamps) else ("", "")
    return Profile(len(features), period, numeric_distribution(scores), distributions)
