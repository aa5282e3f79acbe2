"""Algorithms behind one small interface: fit, predict a probability, explain per feature.

Each estimator does its own encoding of code columns, because the right encoding is
what decides the KCS data set: LightGBM splits on native categories, the logistic
regression needs one-hot columns. Categories are fixed at fit time, so a code first
seen when scoring is simply unknown (missing for LightGBM, all-zero one-hot), never a crash.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import polars as pl
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler


class Estimator(ABC):
    """A fitted-or-not model over a feature frame with known categorical columns."""

    def __init__(self, categorical: list[str], params: dict[str, Any], seed: int) -> None:
        self.categorical = list(categorical)
        self.params = dict(params)
        self.seed = seed
        self.columns: list[str] = []

    @abstractmethod
    def fit(self, features: pd.DataFrame, labels: np.ndarray, weights: np.ndarray | None = None) -> Estimator:
        """Learn from features (rows weighted by ``weights`` if given); remembers the column order for scoring."""

    @abstractmethod
    def predict(self, features: pd.DataFrame) -> np.ndarray:
        """Probability of the positive label per row."""

    @abstractmethod
    def contributions(self, features: pd.DataFrame) -> pd.DataFrame:
        """Per row and input feature, the push on the log-odds (positive = riskier)."""

    def predict_and_explain(self, features: pd.DataFrame, choose: Callable[[np.ndarray], np.ndarray],
                            ) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
        """Scores of every row, the row positions ``choose`` picks from them, and those rows' contributions.

        One call, so an estimator can encode the features once for both steps (LightGBM does).
        """
        scores = self.predict(features)
        chosen = choose(scores)
        return scores, chosen, self.contributions(features.iloc[chosen])


class LightGBMEstimator(Estimator):
    """Gradient-boosted trees; code columns as native categories (or integer codes, for the baseline)."""

    def __init__(self, categorical: list[str], params: dict[str, Any], seed: int, native_categories: bool = True) -> None:
        super().__init__(categorical, params, seed)
        self.native_categories = native_categories
        self.categories: dict[str, pd.Index] = {}
        self.model: lgb.LGBMClassifier | None = None

    def _codes(self, column: str, values: pd.Series) -> np.ndarray:
        """Category codes of a code column (-1 for a code unseen at fit or missing).

        Mapped in Polars (``replace_strict`` over the Arrow strings): a pandas index lookup
        first copies every string into a Python object, 3x slower on 100k rows.
        """
        categories = self.categories[column]
        texts = pl.from_pandas(values.astype("string"))
        return texts.replace_strict(list(categories), list(range(len(categories))), default=-1,
                                    return_dtype=pl.Int64).fill_null(-1).to_numpy()

    def _encode(self, features: pd.DataFrame) -> pd.DataFrame:
        """The training frame: native pandas categories (or integer codes for the label-encoded baseline)."""
        out = features[self.columns].copy()
        for c in self.categorical:
            codes = self._codes(c, out[c])
            out[c] = (pd.Categorical.from_codes(codes, categories=self.categories[c]) if self.native_categories
                      else np.where(codes < 0, np.nan, codes))
        out.columns = [f"f{i}" for i in range(len(self.columns))]  # LightGBM rejects names with [ ] : , "
        return out

    def _matrix(self, features: pd.DataFrame) -> np.ndarray:
        """Rows to score as one float matrix, codes as category indices (NaN: unseen), for ``Booster.predict``.

        A pandas frame of categoricals makes LightGBM re-derive the same codes in Python on
        every call (a third of batch scoring time); the booster reads category features of a
        float matrix as these indices, so the scores are identical (pinned by the registry
        round-trip and fast-path tests) and the service's fast path feeds it the same way.
        """
        matrix = np.empty((len(features), len(self.columns)))
        for j, c in enumerate(self.columns):
            if c in self.categories:
                codes = self._codes(c, features[c])
                matrix[:, j] = np.where(codes < 0, np.nan, codes)
            else:
                matrix[:, j] = features[c].to_numpy(dtype=float, na_value=np.nan)
        return matrix

    def fit(self, features: pd.DataFrame, labels: np.ndarray, weights: np.ndarray | None = None) -> LightGBMEstimator:
        self.columns = list(features.columns)
        self.categories = {c: pd.Index(sorted(features[c].dropna().unique()), dtype=object) for c in self.categorical}
        params = {"n_jobs": 1, "verbose": -1, "deterministic": True, **self.params, "random_state": self.seed}
        self.model = lgb.LGBMClassifier(**params)
        self.model.fit(self._encode(features), np.asarray(labels, dtype=int), sample_weight=weights)
        return self

    def predict(self, features: pd.DataFrame) -> np.ndarray:
        """Probabilities on every core (``num_threads=0``: trees are read-only, results do not depend on it)."""
        assert self.model is not None, "fit first"
        return self.model.booster_.predict(self._matrix(features), num_threads=0)

    def contributions(self, features: pd.DataFrame) -> pd.DataFrame:
        return self._contributions(self._matrix(features), features.index)

    def _contributions(self, matrix: np.ndarray, index: pd.Index) -> pd.DataFrame:
        """Per-feature contributions of each row; none for no rows (LightGBM divides by the row count)."""
        assert self.model is not None, "fit first"
        if not len(matrix):
            return pd.DataFrame(np.empty((0, len(self.columns))), columns=self.columns, index=index)
        raw = self.model.booster_.predict(matrix, pred_contrib=True, num_threads=0)
        return pd.DataFrame(np.asarray(raw)[:, :-1], columns=self.columns, index=index)

    def predict_and_explain(self, features: pd.DataFrame, choose: Callable[[np.ndarray], np.ndarray],
                            ) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
        """As the base, from one float matrix: explaining the chosen rows re-encodes nothing."""
        assert self.model is not None, "fit first"
        matrix = self._matrix(features)
        scores = self.model.booster_.predict(matrix, num_threads=0)
        chosen = choose(scores)
        return scores, chosen, self._contributions(matrix[chosen], features.index[chosen])


class LogisticEstimator(Estimator):
    """One-hot codes plus standardised numbers into an L2 logistic regression."""

    def __init__(self, categorical: list[str], params: dict[str, Any], seed: int) -> None:
        super().__init__(categorical, params, seed)
        self.pipeline: Pipeline | None = None

    def fit(self, features: pd.DataFrame, labels: np.ndarray, weights: np.ndarray | None = None) -> LogisticEstimator:
        self.columns = list(features.columns)
        numeric = [c for c in self.columns if c not in self.categorical]
        encode = ColumnTransformer([
            ("codes", OneHotEncoder(handle_unknown="ignore"), self.categorical),
            ("numbers", Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]), numeric),
        ], sparse_threshold=1.0)
        regression = LogisticRegression(**{"max_iter": 2000, **self.params, "random_state": self.seed})
        self.pipeline = Pipeline([("encode", encode), ("regression", regression)])
        self.pipeline.fit(self._text(features), np.asarray(labels, dtype=int), regression__sample_weight=weights)
        return self

    def _text(self, features: pd.DataFrame) -> pd.DataFrame:
        out = features[self.columns].copy()
        for c in self.categorical:
            out[c] = out[c].astype(object).where(out[c].notna(), "")
        return out

    def predict(self, features: pd.DataFrame) -> np.ndarray:
        assert self.pipeline is not None, "fit first"
        return self.pipeline.predict_proba(self._text(features))[:, 1]

    def contributions(self, features: pd.DataFrame) -> pd.DataFrame:
        """coefficient x encoded value, summed back onto the input feature each column came from."""
        assert self.pipeline is not None, "fit first"
        encode, regression = self.pipeline.named_steps["encode"], self.pipeline.named_steps["regression"]
        encoded = encode.transform(self._text(features))
        weighted = encoded.multiply(regression.coef_[0]).tocsr() if hasattr(encoded, "multiply") \
            else encoded * regression.coef_[0]
        sources = self._output_sources(encode)
        out = pd.DataFrame(0.0, index=features.index, columns=self.columns)
        for i, column in enumerate(self.columns):
            mask = sources == i
            if mask.any():
                out[column] = np.asarray(weighted[:, mask].sum(axis=1)).ravel()
        return out

    def _output_sources(self, encode: ColumnTransformer) -> np.ndarray:
        """For every encoded column, the index of the input feature it came from."""
        onehot = encode.named_transformers_["codes"]
        sources = [self.columns.index(c) for c, cats in zip(self.categorical, onehot.categories_, strict=True)
                   for _ in cats]
        sources += [self.columns.index(c) for c in self.columns if c not in self.categorical]
        return np.asarray(sources)


def make_estimator(algorithm: str, categorical: list[str], params: dict[str, Any], seed: int) -> Estimator:
    """The estimator a spec's candidate names (``lightgbm``, ``lightgbm_label_encoded`` or ``logistic``).

    ``lightgbm_label_encoded`` splits on category codes as ordered numbers (what the
    ``lightgbm_label_encoded`` baseline does), which can beat native categories when codes
    are many and labelled rows few.
    """
    if algorithm in ("lightgbm", "lightgbm_label_encoded"):
        return LightGBMEstimator(categorical, params, seed, native_categories=algorithm == "lightgbm")
    if algorithm == "logistic":
        return LogisticEstimator(categorical, params, seed)
    raise ValueError(f"unknown algorithm {algorithm!r}")
