"""Training: fit every candidate on the earlier period, judge it on the later one, keep the best.

The split is by time (train before validate) because a deployed model always scores a
future it has not seen. Baselines are scored on the same validation rows in the same
run, so the figures in a model card are comparable. The winner is then, if the spec
says so, refitted on train + validate so the registered model has seen the most recent
behaviour; the reported figures remain those of the train-only fit, measured honestly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from workbench.errors import WorkbenchError
from workbench.session import Session
from workbench.lake.contracts import Rejection
from workbench.risk.baselines import baseline_rankings
from workbench.risk.data import DataFile, read_csv, read_lake, sha256
from workbench.risk.estimators import make_estimator
from workbench.risk.evaluation import evaluate, reliability
from workbench.risk.features import make_builder
from workbench.risk.model import RiskModel
from workbench.risk.network import NetworkSnapshots, month_starts, network_snapshots
from workbench.risk.propensity import propensity_weights
from workbench.risk.selection import capacity_threshold
from workbench.risk.specs import Candidate, CsvData, LakeData, ModelSpec

Progress = Callable[[str], None]


@dataclass(frozen=True)
class TrainingData:
    """The two periods, checked, with labels split off and what was read recorded.

    Labels are NaN where the outcome is unknown (lake rows never inspected); CSV data is
    fully labelled. ``versions`` holds the Delta versions of lake tables read.
    """

    train: pd.DataFrame
    train_labels: np.ndarray
    validate: pd.DataFrame
    validate_labels: np.ndarray
    files: list[DataFile]
    rejections: list[Rejection]
    versions: dict[str, int] = field(default_factory=dict)
    network: NetworkSnapshots | None = None
    """Evidence-graph snapshots for ``features.network`` (None: no graph in the lake, or none asked for)."""

    @property
    def validate_known(self) -> np.ndarray:
        """Mask of validation rows with a label: the rows metrics are measured on."""
        return ~np.isnan(self.validate_labels)


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
    rankings: dict[str, np.ndarray] = field(default_factory=dict)
    """Scores of every validation row (labelled or not) per ranking, aligned with ``data.validate``."""

    def metrics(self, name: str | None = None) -> dict[str, float]:
        """Metrics of one ranking (default: the selected model) on the validation period."""
        row = self.results.set_index("name").loc[name or self.selected]
        return {k: float(v) for k, v in row.items() if k != "kind"}


def _split(rows: pd.DataFrame, spec: ModelSpec, where: str) -> tuple[pd.DataFrame, np.ndarray]:
    if rows.empty:
        raise WorkbenchError(f"{where}: no usable rows")
    return rows.drop(columns=spec.model.label).reset_index(drop=True), rows[spec.model.label].to_numpy(dtype=float)


def _load_lake(spec: ModelSpec, session: Session, as_of: datetime | None) -> TrainingData:
    assert isinstance(spec.data, LakeData)
    read = read_lake(session, spec, as_of)
    rows = read.checked.rows
    later = pd.to_datetime(rows[spec.model.date]) >= pd.Timestamp(spec.data.validate_from)
    train, y_train = _split(rows[~later], spec, f"{spec.data.table} before {spec.data.validate_from}")
    validate, y_validate = _split(rows[later], spec, f"{spec.data.table} from {spec.data.validate_from}")
    network = None
    if spec.features.network is not None:
        dates = pd.to_datetime(rows[spec.model.date])
        after = [pd.to_datetime(part[spec.model.date]).max().date() + timedelta(days=1) for part in (train, rows)]
        network = network_snapshots(session, spec.features.network,
                                    month_starts(dates.min().date(), dates.max().date()) + after)
    return TrainingData(train, y_train, validate, y_validate, [], read.checked.rejections, read.versions, network)


def _load_csv(spec: ModelSpec) -> TrainingData:
    assert isinstance(spec.data, CsvData)
    parts, files, rejections = [], [], []
    for role, path in (("train", spec.data.train), ("validate", spec.data.validate_)):
        checked = read_csv(path, spec, with_label=True)
        parts.append(_split(checked.rows, spec, f"{path} ({len(checked.rejections)} rejected)"))
        files.append(DataFile(role, str(path), sha256(path), len(checked.rows)))
        rejections += checked.rejections
    (train, y_train), (validate, y_validate) = parts
    return TrainingData(train, y_train, validate, y_validate, files, rejections)


def load_training_data(spec: ModelSpec, session: Session | None = None, as_of: datetime | None = None
                       ) -> TrainingData:
    """Read and check both periods; rows breaking the input contract are left out and counted.

    Lake specs read through ``session`` (required for them), CSV specs from their files;
    ``as_of`` keeps lake rows dated before it (``data.read_lake``).
    """
    if isinstance(spec.data, LakeData):
        if session is None:
            raise WorkbenchError(f"model {spec.name!r} reads {spec.data.table}: training needs a lake session")
        return _load_lake(spec, session, as_of)
    return _load_csv(spec)


def _fit(spec: ModelSpec, candidate: Candidate, rows: pd.DataFrame, labels: np.ndarray,
         network: NetworkSnapshots | None = None) -> RiskModel:
    """Fit features on every row (unlabelled ones feed peers), the estimator on labelled rows only."""
    known = ~np.isnan(labels)
    outcomes = np.unique(labels[known])
    if len(outcomes) < 2:
        raise WorkbenchError(f"model {spec.name!r}: its {int(known.sum())} labelled training rows all have "
                             f"label {outcomes.tolist() or '(none)'}: nothing to learn a ranking from")
    builder = make_builder(spec.features, spec.model.date, network).fit(rows, labels)
    features = builder.training_features(rows, labels)
    weights = None
    if isinstance(spec.data, LakeData) and spec.data.weighting == "inverse_propensity":
        weights = propensity_weights(features, known, builder.categorical, spec.model.seed)
    estimator = make_estimator(candidate.algorithm, builder.categorical, candidate.params, spec.model.seed)
    return RiskModel(spec, builder, estimator.fit(features[known], labels[known], weights), candidate.algorithm)


def _candidate_name(candidate: Candidate, index: int, spec: ModelSpec) -> str:
    same = [c for c in spec.candidates if c.algorithm == candidate.algorithm]
    return candidate.algorithm if len(same) == 1 else f"{candidate.algorithm}_{index}"


def train(spec: ModelSpec, progress: Progress = lambda _: None, session: Session | None = None,
          as_of: datetime | None = None) -> TrainingRun:
    """Fit, compare with baselines, select on ``spec.selection.metric``, optionally refit; no side effects.

    Metrics are measured on labelled validation rows; every validation row is scored by
    every ranking (``TrainingRun.rankings``) so a held-back truth can judge them all.
    ``as_of``: lake rows dated before it only (a training snapshot, ``data.read_lake``).
    """
    progress("reading data")
    data = load_training_data(spec, session, as_of)
    if spec.features.network is not None and data.network is None:
        progress("no evidence graph in the lake (workbench network build): network features left out")
    known = data.validate_known
    values = data.validate[spec.model.value].astype(float).to_numpy()[known] if spec.model.value else None
    rankings: dict[str, np.ndarray] = {}
    rows, fitted = [], {}

    def measure(kind: str, name: str, scores: np.ndarray) -> None:
        rankings[name] = scores
        rows.append({"kind": kind, "name": name, **evaluate(data.validate_labels[known], scores[known],
                                                              spec.selection.capacities, values)})

    for i, candidate in enumerate(spec.candidates):
        name = _candidate_name(candidate, i, spec)
        progress(f"fitting candidate {name}")
        model = _fit(spec, candidate, data.train, data.train_labels, data.network)
        fitted[name] = (candidate, model)
        measure("candidate", name, model.predict(data.validate))

    reference = next(iter(fitted.values()))[1].builder
    train_features = reference.training_features(data.train, data.train_labels)
    validate_features = reference.features(data.validate)
    for name, ranking in baseline_rankings(spec, reference, data.train, data.train_labels, train_features,
                                           data.validate, validate_features).items():
        progress(f"scoring baseline {name}")
        measure("baseline", name, ranking())
    results = pd.DataFrame(rows)

    ranked = results[results["kind"] == "candidate"].sort_values(spec.selection.metric, ascending=False, kind="stable")
    selected = str(ranked["name"].iloc[0])
    candidate, model = fitted[selected]
    calibration = reliability(data.validate_labels[known], rankings[selected][known])
    fit_rows = data.train
    if spec.data.refit_on_validate:
        progress(f"refitting {selected} on train + validate")
        fit_rows = pd.concat([data.train, data.validate], ignore_index=True)
        model = _fit(spec, candidate, fit_rows, np.concatenate([data.train_labels, data.validate_labels]), data.network)
    progress("profiling the fitted rows for monitoring")
    model.reference = model.profile(fit_rows)
    if spec.inspection is not None:  # the newest period's traffic sets where selection by score starts
        model.threshold = capacity_threshold(model.predict(data.validate), spec.inspection)
    return TrainingRun(spec, model, selected, results, calibration, data, rankings)
