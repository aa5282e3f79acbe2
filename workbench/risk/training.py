"""Training: fit every candidate on the earlier period, judge it on the later one, keep the best.

The split is by time (train before validate) because a deployed model always scores a
future it has not seen. Baselines are scored on the same validation rows in the same
run, so the figures in a model card are comparable. The winner is then, if the spec
says so, refitted on train + validate so the registered model has seen the most recent
behaviour; the reported figures remain those of the train-only fit, measured honestly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from workbench.errors import WorkbenchError
from workbench.lake.contracts import Rejection
from workbench.risk.baselines import baseline_rankings
from workbench.risk.data import DataFile, read_csv, sha256
from workbench.risk.estimators import make_estimator
from workbench.risk.evaluation import evaluate, reliability
from workbench.risk.features import make_builder
from workbench.risk.model import RiskModel
from workbench.risk.specs import Candidate, ModelSpec

Progress = Callable[[str], None]


@dataclass(frozen=True)
class TrainingData:
    """The two periods, checked, with labels split off and what was read recorded."""

    train: pd.DataFrame
    train_labels: np.ndarray
    validate: pd.DataFrame
    validate_labels: np.ndarray
    files: list[DataFile]
    rejections: list[Rejection]


@dataclass(frozen=True)
class TrainingRun:
    """Everything a training run produced: the model, the comparison table, provenance."""

    spec: ModelSpec
    model: RiskModel
    selected: str
    results: pd.DataFrame
    """One row per ranking (candidates, then baselines): ``kind``, ``name`` and every metric."""
    calibration: pd.DataFrame
    data: TrainingData

    def metrics(self, name: str | None = None) -> dict[str, float]:
        """Metrics of one ranking (default: the selected model) on the validation period."""
        row = self.results.set_index("name").loc[name or self.selected]
        return {k: float(v) for k, v in row.items() if k != "kind"}


def load_training_data(spec: ModelSpec) -> TrainingData:
    """Read and check both periods; rows breaking the input contract are left out and counted."""
    parts, files, rejections = [], [], []
    for role, path in (("train", spec.data.train), ("validate", spec.data.validate_)):
        checked = read_csv(path, spec, with_label=True)
        rows = checked.rows
        if rows.empty:
            raise WorkbenchError(f"{path}: no usable {role} rows ({len(checked.rejections)} rejected)")
        parts.append((rows.drop(columns=spec.model.label), rows[spec.model.label].to_numpy(dtype=int)))
        files.append(DataFile(role, str(path), sha256(path), len(rows)))
        rejections += checked.rejections
    (train, y_train), (validate, y_validate) = parts
    return TrainingData(train, y_train, validate, y_validate, files, rejections)


def _fit(spec: ModelSpec, candidate: Candidate, rows: pd.DataFrame, labels: np.ndarray) -> RiskModel:
    builder = make_builder(spec.features, spec.model.date).fit(rows, labels)
    features = builder.training_features(rows, labels)
    estimator = make_estimator(candidate.algorithm, builder.categorical, candidate.params, spec.model.seed)
    return RiskModel(spec, builder, estimator.fit(features, labels), candidate.algorithm)


def _candidate_name(candidate: Candidate, index: int, spec: ModelSpec) -> str:
    same = [c for c in spec.candidates if c.algorithm == candidate.algorithm]
    return candidate.algorithm if len(same) == 1 else f"{candidate.algorithm}_{index}"


def train(spec: ModelSpec, progress: Progress = lambda _: None) -> TrainingRun:
    """Fit, compare with baselines, select on ``spec.selection.metric``, optionally refit; no side effects."""
    progress("reading data")
    data = load_training_data(spec)
    capacities = spec.selection.capacities
    values = data.validate[spec.model.value].astype(float).to_numpy() if spec.model.value else None

    def measure(kind: str, name: str, scores: np.ndarray) -> dict[str, object]:
        return {"kind": kind, "name": name, **evaluate(data.validate_labels, scores, capacities, values)}

    rows, fitted = [], {}
    for i, candidate in enumerate(spec.candidates):
        name = _candidate_name(candidate, i, spec)
        progress(f"fitting candidate {name}")
        model = _fit(spec, candidate, data.train, data.train_labels)
        fitted[name] = (candidate, model)
        rows.append(measure("candidate", name, model.predict(data.validate)))

    reference = next(iter(fitted.values()))[1].builder
    train_features = reference.training_features(data.train, data.train_labels)
    validate_features = reference.features(data.validate)
    rankings = baseline_rankings(spec, reference, data.train, data.train_labels, train_features,
                                 data.validate, validate_features)
    for name, ranking in rankings.items():
        progress(f"scoring baseline {name}")
        rows.append(measure("baseline", name, ranking()))
    results = pd.DataFrame(rows)

    ranked = results[results["kind"] == "candidate"].sort_values(spec.selection.metric, ascending=False, kind="stable")
    selected = str(ranked["name"].iloc[0])
    candidate, model = fitted[selected]
    calibration = reliability(data.validate_labels, model.predict(data.validate))
    if spec.data.refit_on_validate:
        progress(f"refitting {selected} on train + validate")
        model = _fit(spec, candidate, pd.concat([data.train, data.validate], ignore_index=True),
                     np.concatenate([data.train_labels, data.validate_labels]))
    return TrainingRun(spec, model, selected, results, calibration, data)
