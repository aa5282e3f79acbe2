"""Real-time scoring of a few typed records without pandas: the service's fast path.

Batch scoring builds features with pandas and hands LightGBM a frame of categoricals,
about 40 ms of fixed cost per call that is noise for a million rows but the whole budget
for one. Everything that depends only on the fitted model (history totals, peer medians,
category codes) is turned into plain lookup tables once, when the service loads the
model; a request then costs a few dict lookups, a handful of numpy operations and one
``Booster.predict`` on a float matrix (LightGBM, either category encoding), or, for the
logistic regression, the fitted pipeline as lookups (``LinearTables``: scikit-learn's
pipeline costs tens of milliseconds per call on a one-row frame). The arithmetic is the
batch path's, value for value (same numpy functions, same order), so both paths give
identical scores and reasons (pinned by tests/test_risk_online.py for every algorithm a
spec can select).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
from scipy.special import expit

from workbench.risk.asof import HistoryFeature, PeerFeature, smoothed
from workbench.risk.estimators import LightGBMEstimator, LogisticEstimator
from workbench.risk.features import FeatureBuilder, prefix_name
from workbench.risk.model import REASONS, RiskModel, reason_codes
from workbench.risk.network import NetworkFeature
from workbench.risk.records import RecordChecker

Column = list[Any] | np.ndarray


def _floats(records: list[dict[str, Any]], column: str) -> np.ndarray:
    return np.array([np.nan if r[column] is None else r[column] for r in records], dtype=float)


def _log_ratio(records: list[dict[str, Any]], numerator: str, denominator: str | None = None) -> np.ndarray:
    """``asof.log_ratio`` over records: log1p of values clipped at zero (NaN stays NaN), minus the denominator's."""
    def log1p(column: str) -> np.ndarray:
        values = _floats(records, column)
        return np.log1p(np.where(values < 0, 0.0, values))
    return log1p(numerator) - log1p(denominator) if denominator else log1p(numerator)


def _history_table(feature: HistoryFeature) -> tuple[dict[Any, tuple[float, float]], tuple[float, float]]:
    """Per known key its (log count, smoothed rate), and the pair an unknown or missing key gets."""
    totals = feature.totals
    known = smoothed(totals["y"].to_numpy(dtype=float), totals["known"].to_numpy(dtype=float), feature.prior,
                     feature.spec.strength)
    pairs = dict(zip(totals.index, zip(known["count"].tolist(), known["rate"].tolist(), strict=True), strict=True))
    unknown = smoothed(np.zeros(1), np.zeros(1), feature.prior, feature.spec.strength)
    return pairs, (float(unknown["count"].iloc[0]), float(unknown["rate"].iloc[0]))


class LinearTables:
    """A fitted ``LogisticEstimator`` as plain numbers: the coefficient of each code value, and per number
    column its imputed median, standardisation and coefficient.

    Scores and pushes are summed in the encoded column order (codes, then numbers), the
    order scikit-learn's sparse product adds them in, so both equal the pipeline's bit for
    bit. ``of`` returns None for a pipeline this does not mirror (a column the imputer dropped).
    """

    def __init__(self, codes: list[tuple[str, dict[Any, float]]], numbers: list[tuple[str, float, float, float, float]],
                 intercept: float) -> None:
        self.codes, self.numbers, self.intercept = codes, numbers, intercept

    @classmethod
    def of(cls, estimator: LogisticEstimator) -> LinearTables | None:
        assert estimator.pipeline is not None
        encode, regression = estimator.pipeline.named_steps["encode"], estimator.pipeline.named_steps["regression"]
        onehot, numbers = encode.named_transformers_["codes"], encode.named_transformers_["numbers"]
        impute, scale = numbers.named_steps["impute"], numbers.named_steps["scale"]
        coef = regression.coef_[0]
        numeric = [c for c in estimator.columns if c not in estimator.categorical]
        widths = [len(categories) for categories in onehot.categories_]
        if sum(widths) + len(numeric) != len(coef) or len(impute.statistics_) != len(numeric):
            return None
        starts = np.cumsum([0, *widths])
        codes = [(c, {v: float(coef[start + i]) for i, v in enumerate(categories)})
                 for c, categories, start in zip(estimator.categorical, onehot.categories_, starts, strict=False)]
        numbers_at = [(c, float(impute.statistics_[k]), float(scale.mean_[k]), float(scale.scale_[k]),
                       float(coef[starts[-1] + k])) for k, c in enumerate(numeric)]
        return cls(codes, numbers_at, float(regression.intercept_[0]))

    def score(self, features: dict[str, Column], columns: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Probabilities and per-feature pushes (coefficient x encoded value) of the rows in ``features``."""
        rows = len(features[columns[0]])
        decision, pushes = np.zeros(rows), np.zeros((rows, len(columns)))
        for column, weights in self.codes:
            pushed = np.array([weights.get("" if v is None else v, 0.0) for v in features[column]], dtype=float)
            decision += pushed
            pushes[:, columns.index(column)] = pushed
        for column, median, mean, scale, weight in self.numbers:
            values = np.asarray(features[column], dtype=float)
            pushed = (np.where(np.isnan(values), median, values) - mean) / scale * weight
            decision += pushed
            pushes[:, columns.index(column)] = pushed
        return expit(decision + self.intercept), pushes


def _mirrors_batch(model: RiskModel) -> bool:
    """Whether ``OnlineScorer.features`` computes what this model's builder does, value for value.

    It mirrors the plain tabular builder (no ``extra_features``) over text code columns
    (the builder reads codes through ``astype("string")``, which this path does not
    imitate for numbers) and a timestamp date, for LightGBM (either encoding) or a
    logistic regression that ``LinearTables`` mirrors.
    """
    builder, columns = model.builder, model.spec.input.columns
    spec = builder.spec
    codes = {*spec.categorical, *(p.column for p in spec.prefixes),
             *(c for parts in spec.combos.values() for c in parts)}
    known = all(isinstance(f, HistoryFeature | PeerFeature | NetworkFeature) for f in builder.asof)
    estimator = model.estimator
    served = isinstance(estimator, LightGBMEstimator) or (isinstance(estimator, LogisticEstimator)
                                                           and LinearTables.of(estimator) is not None)
    return (type(builder) is FeatureBuilder and known and served and all(columns[c].type == "string" for c in codes)
            and (not spec.timing or columns[builder.date_column].type == "timestamp"))


class OnlineScorer:
    """Checks and scores records exactly as the contract and ``RiskModel.score`` would, or declines to."""

    def __init__(self, model: RiskModel, checker: RecordChecker, reasons: int = REASONS) -> None:
        builder, estimator = model.builder, model.estimator
        self.checker = checker
        self.spec, self.reasons, self.id = builder.spec, reasons, model.spec.model.id
        self.date_column = builder.date_column
        self.columns = estimator.columns
        self.booster, self.codes, self.linear = None, {}, None
        if isinstance(estimator, LightGBMEstimator):
            assert estimator.model is not None
            self.booster = estimator.model.booster_
            self.codes = {c: {v: float(i) for i, v in enumerate(estimator.categories[c])} for c in estimator.categorical}
        else:
            assert isinstance(estimator, LogisticEstimator)
            self.linear = LinearTables.of(estimator)
        self.histories = [(f.spec.key, *_history_table(f)) for f in builder.asof if isinstance(f, HistoryFeature)]
        self.peers = [(f.name, f.spec, f.medians.to_dict()) for f in builder.asof if isinstance(f, PeerFeature)]
        self.networks = [(f.spec.key, f.names, f.state.to_dict("index")) for f in builder.asof
                         if isinstance(f, NetworkFeature)]

    @classmethod
    def for_model(cls, model: RiskModel) -> OnlineScorer | None:
        """A scorer for ``model``, or ``None`` when its rules, builder or estimator have no fast path (batch serves)."""
        checker = RecordChecker.for_model(model.spec)
        return cls(model, checker) if checker is not None and _mirrors_batch(model) else None

    def try_score(self, texts: list[dict[str, str | None]]) -> list[dict[str, Any]] | None:
        """Results for records given as text (a CSV cell's view), or ``None`` if the contract must judge them."""
        records = self.checker.typed(texts)
        return None if records is None else self.score(records)

    def features(self, records: list[dict[str, Any]]) -> dict[str, Column]:
        """Feature columns by name, as ``FeatureBuilder.features`` computes them (categories as ``str | None``)."""
        spec, out = self.spec, {}
        for c in spec.categorical:
            out[c] = [r[c] for r in records]
        for p in spec.prefixes:
            codes = [None if r[p.column] is None else r[p.column].zfill(p.width) for r in records]
            for n in p.lengths:
                out[prefix_name(p.column, n)] = [None if code is None else code[:n] for code in codes]
        for name, parts in spec.combos.items():
            out[name] = ["|".join("" if r[c] is None else r[c] for c in parts) for r in records]
        for c, how in spec.numeric.items():
            out[c] = _log_ratio(records, c) if how == "log" else _floats(records, c)
        for name, ratio in spec.ratios.items():
            out[name] = _log_ratio(records, ratio.numerator, ratio.denominator)
        stamps: list[datetime] = [r[self.date_column] for r in records]
        for part in spec.timing:
            out[part] = np.array([s.weekday() if part == "weekday" else s.hour for s in stamps], dtype=float)
        for key, table, unknown in self.histories:
            pairs = [table.get(r[key], unknown) if r[key] is not None else unknown for r in records]
            out[f"{key} history count"] = np.array([p[0] for p in pairs])
            out[f"{key} history rate"] = np.array([p[1] for p in pairs])
        for name, peer, medians in self.peers:
            reference = np.array([medians.get(r[peer.by], np.nan) for r in records], dtype=float)
            out[name] = _log_ratio(records, peer.numerator, peer.denominator) - reference
        for key, names, states in self.networks:
            found = [states.get(r[key], {}) for r in records]
            for name in names:
                out[name] = np.array([f.get(name, np.nan) for f in found], dtype=float)
        return out

    def score(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Id, score and reasons per record, in order (the service's response items)."""
        features = self.features(records)
        shown = np.empty((len(records), len(self.columns)), dtype=object)
        for j, c in enumerate(self.columns):
            shown[:, j] = features[c]
        if self.linear is not None:
            scores, pushes = self.linear.score(features, self.columns)
        else:
            assert self.booster is not None
            matrix = np.empty(shown.shape)
            for j, c in enumerate(self.columns):
                lookup = self.codes.get(c)
                matrix[:, j] = features[c] if lookup is None else [lookup.get(v, np.nan) for v in features[c]]
            scores = self.booster.predict(matrix, num_threads=1)
            pushes = np.asarray(self.booster.predict(matrix, pred_contrib=True, num_threads=1))[:, :-1]
        codes = reason_codes(shown, pushes, self.columns, self.reasons)
        return [{"id": r[self.id], "score": float(s), "reasons": [c for c in row if c]}
                for r, s, row in zip(records, scores, codes, strict=True)]
