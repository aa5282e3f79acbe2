"""Real-time scoring of a few typed records without pandas: the service's fast path.

Batch scoring builds features with pandas and hands LightGBM a frame of categoricals,
about 40 ms of fixed cost per call that is noise for a million rows but the whole budget
for one. Everything that depends only on the fitted model (history totals, peer medians,
category codes) is turned into plain lookup tables once, when the service loads the
model; a request then costs a few dict lookups, a handful of numpy operations and one
``Booster.predict`` on a float matrix. The arithmetic is the batch path's, value for
value (same numpy functions, same order), so both paths give identical scores and reasons
(pinned by tests/test_risk_online.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np

from workbench.risk.asof import HistoryFeature, PeerFeature, smoothed
from workbench.risk.estimators import LightGBMEstimator
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


def _mirrors_batch(model: RiskModel) -> bool:
    """Whether ``OnlineScorer.features`` computes what this model's builder does, value for value.

    It mirrors the plain tabular builder (no ``extra_features``) over text code columns
    (the builder reads codes through ``astype("string")``, which this path does not
    imitate for numbers) and a timestamp date, feeding LightGBM with native categories.
    """
    builder, estimator, columns = model.builder, model.estimator, model.spec.input.columns
    spec = builder.spec
    codes = {*spec.categorical, *(p.column for p in spec.prefixes),
             *(c for parts in spec.combos.values() for c in parts)}
    known = all(isinstance(f, HistoryFeature | PeerFeature | NetworkFeature) for f in builder.asof)
    return (type(builder) is FeatureBuilder and known and isinstance(estimator, LightGBMEstimator)
            and estimator.native_categories and all(columns[c].type == "string" for c in codes)
            and (not spec.timing or columns[builder.date_column].type == "timestamp"))


class OnlineScorer:
    """Checks and scores records exactly as the contract and ``RiskModel.score`` would, or declines to."""

    def __init__(self, model: RiskModel, checker: RecordChecker, reasons: int = REASONS) -> None:
        builder, estimator = model.builder, model.estimator
        self.checker = checker
        assert isinstance(estimator, LightGBMEstimator) and estimator.model is not None
        self.spec, self.reasons, self.id = builder.spec, reasons, model.spec.model.id
        self.date_column = builder.date_column
        self.columns = estimator.columns
        self.booster = estimator.model.booster_
        self.codes = {c: {v: float(i) for i, v in enumerate(estimator.categories[c])} for c in estimator.categorical}
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
        matrix = np.empty((len(records), len(self.columns)))
        shown = np.empty(matrix.shape, dtype=object)
        for j, c in enumerate(self.columns):
            shown[:, j] = features[c]
            if c in self.codes:
                lookup = self.codes[c]
                matrix[:, j] = [lookup.get(v, np.nan) for v in features[c]]
            else:
                matrix[:, j] = features[c]
        scores = self.booster.predict(matrix, num_threads=1)
        pushes = np.asarray(self.booster.predict(matrix, pred_contrib=True, num_threads=1))[:, :-1]
        codes = reason_codes(shown, pushes, self.columns, self.reasons)
        return [{"id": r[self.id], "score": float(s), "reasons": [c for c in row if c]}
                for r, s, row in zip(records, scores, codes, strict=True)]
