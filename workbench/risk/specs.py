"""Declarative model specs: what a risk model reads, learns from, and is judged by.

A spec is data (``models/<name>.toml``) parsed into typed objects, the way table specs
are (``workbench.lake.specs``): a new model is a new file, not new code. File format::

    [model]
    name = "kcs_fraud"
    description = "..."
    id = "Declaration ID"            # one row per id; scores come back keyed by it
    label = "Fraud"                  # 0/1, present in training data only
    date = "Date"                    # orders history features; splits are by time
    value = "Item Price"             # weights revenue@k and drives the value-rule baseline
    seed = 7

    [data]                           # where training rows come from (paths relative to the spec)
    kind = "csv"
    train = "../data/train.csv"
    validate = "../data/valid.csv"   # a later period than train
    refit_on_validate = true         # after selection, refit the winner on train + validate

    [data]                           # ... or a lake table read through a session (``LakeData``)
    kind = "lake"
    table = "curated.declarations"
    labelled = "inspected"           # rows whose outcome is known; the others are unlabelled
    outcome = "inspection_result"
    positive = ["discrepancy", "seizure"]
    validate_from = 2024-01-01       # rows dated on or after this day are the validation period

    [input.columns]                  # raw columns a scored file must have, with value rules
    "Net Mass" = { type = "float64", min = 0 }

    [features]                       # see ``FeatureSpec``
    categorical = ["Office ID"]

    [[candidates]]                   # fitted on train, measured on validate; best one wins
    algorithm = "lightgbm"
    params = { num_leaves = 31 }

    [selection]
    metric = "precision_at_5pct"     # any metric ``evaluation.evaluate`` reports
    capacities = [0.01, 0.05, 0.10]  # inspection rates to report precision/recall/revenue at

    [baselines]                      # measured in the same run as the candidates
    value_rule = "Item Price"
    history = "Importer ID"
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any, Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from workbench.errors import ConfigError
from workbench.lake.specs import ColumnSpec, TableSpec
from workbench.risk.evaluation import metric_names
from workbench.specfiles import parse_toml

Algorithm = Literal["lightgbm", "lightgbm_label_encoded", "logistic"]
NumericTransform = Literal["log", "none"]
TimingPart = Literal["weekday", "hour"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelInfo(_Strict):
    """Identity and the columns with a special role."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    description: str
    intended_use: str = ""
    limits: str = ""
    id: str
    label: str
    date: str
    value: str | None = None
    seed: int = 0


class CsvData(_Strict):
    """Training data as two CSV files, split by time: train before validate."""

    kind: Literal["csv"] = "csv"
    train: Path
    validate_: Path = Field(alias="validate")
    refit_on_validate: bool = True

    def resolved(self, base: Path) -> CsvData:
        """The same source with paths relative to ``base`` (the spec file's folder) made absolute."""
        return self.model_copy(update={"train": base / self.train, "validate_": base / self.validate_})


class LakeData(_Strict):
    """Training data from one lake table, split by time at ``validate_from``.

    The label is derived, not stored: rows where ``labelled`` is true get 1 when
    ``outcome`` is one of ``positive``, else 0; other rows (never inspected) keep no label.
    They still feed label-free features (peer medians) and are scored in validation, so a
    held-back truth can judge the ranking over all rows, not only the inspected ones.
    """

    kind: Literal["lake"] = "lake"
    table: str = Field(pattern=r"^[a-z]+\.[a-z0-9_]+$")
    labelled: str
    outcome: str
    positive: tuple[str, ...] = Field(min_length=1)
    train_from: date | None = None
    validate_from: date
    refit_on_validate: bool = True
    weighting: Literal["none", "inverse_propensity"] = Field(
        default="none", description="inverse_propensity: weight labelled rows by 1 / P(labelled | features), "
        "so rows rarely inspected count for the many like them that were not (risk.propensity)")

    def resolved(self, base: Path) -> LakeData:
        """Nothing to resolve: a lake table is named, not located."""
        return self


class InputSpec(_Strict):
    """Raw columns a file to score must carry; checked per row by the lake's contract code."""

    columns: dict[str, ColumnSpec]


class HsPrefixes(_Strict):
    """Code hierarchies (e.g. HS10 -> HS6/HS4/HS2): coarser levels generalise to unseen codes."""

    column: str
    width: int = Field(gt=0)
    lengths: tuple[int, ...]

    @model_validator(mode="after")
    def _check(self) -> HsPrefixes:
        if any(not 0 < n < self.width for n in self.lengths):
            raise ValueError(f"every prefix length must be between 1 and width-1 ({self.width - 1})")
        return self


class Ratio(_Strict):
    """A log ratio of two numeric columns, e.g. value per kilogram."""

    numerator: str
    denominator: str


class History(_Strict):
    """Past behaviour of an actor (importer, broker): count and smoothed label rate of earlier rows."""

    key: str
    strength: float = Field(default=20.0, gt=0, description="prior weight in pseudo-rows")


class Peer(_Strict):
    """A log value or log ratio against the median of peers sharing ``by`` in earlier months (e.g. value/kg vs HS)."""

    numerator: str
    denominator: str | None = None
    by: str
    window_months: int = Field(default=12, gt=0, description="trailing months the peer median covers")


class Network(_Strict):
    """Network features of an actor from the evidence graph (``workbench network build``), when it is built.

    ``key`` is the input column holding the actor's id in the register ``source_table`` (as
    ``curated.resolved_entities`` names it), which maps it to a graph node.
    Leakage-safe by construction (``risk.network``): a training row sees the graph and the
    case files as they stood on the first day of its month. Absent (no feature at all)
    when the lake has no graph tables.
    """

    key: str
    source_table: str = "traders"
    hops: int = Field(default=2, ge=1, le=4, description="radius within which known offenders are counted")


class FeatureSpec(_Strict):
    """Which raw columns become features and how; the builder named here does the work."""

    builder: str = "tabular"
    categorical: tuple[str, ...] = ()
    numeric: dict[str, NumericTransform] = Field(default_factory=dict)
    ratios: dict[str, Ratio] = Field(default_factory=dict)
    prefixes: tuple[HsPrefixes, ...] = ()
    history: tuple[History, ...] = ()
    peers: dict[str, Peer] = Field(default_factory=dict)
    combos: dict[str, tuple[str, ...]] = Field(
        default_factory=dict, description="code columns joined into one code, e.g. route = origin|mode|port")
    timing: tuple[TimingPart, ...] = Field(default=(), description="parts of the model's date column")
    network: Network | None = None

    @model_validator(mode="after")
    def _unique_outputs(self) -> FeatureSpec:
        names = [*self.categorical, *self.numeric, *self.ratios, *self.peers, *self.combos, *self.timing]
        clashes = sorted({n for n in names if names.count(n) > 1})
        if clashes:
            raise ValueError(f"features {clashes} are declared twice")
        return self

    def raw_columns(self) -> set[str]:
        """Every input column the features read."""
        cols = set(self.categorical) | set(self.numeric) | {p.column for p in self.prefixes}
        cols |= {h.key for h in self.history} | {c for parts in self.combos.values() for c in parts}
        cols |= {self.network.key} if self.network else set()
        for r in self.ratios.values():
            cols |= {r.numerator, r.denominator}
        for p in self.peers.values():
            cols |= {c for c in (p.numerator, p.denominator, p.by) if c}
        return cols


class Candidate(_Strict):
    """One algorithm with fixed parameters, competing on the validation period."""

    algorithm: Algorithm
    params: dict[str, Any] = Field(default_factory=dict)


class Selection(_Strict):
    """How the winner is chosen and at which inspection rates models are reported."""

    metric: str = "precision_at_5pct"
    capacities: tuple[float, ...] = (0.01, 0.05, 0.10)

    @field_validator("capacities")
    @classmethod
    def _rates(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if not value or any(not 0 < c <= 1 for c in value):
            raise ValueError("capacities must be a non-empty list of rates in (0, 1]")
        return value


class Baselines(_Strict):
    """Simple rankings every model must beat, measured in the same run."""

    random: bool = True
    value_rule: str | None = None
    history: str | None = None
    logistic_onehot: bool = True
    lightgbm_label_encoded: bool = True


class Rule(_Strict):
    """A mandatory inspection rule: rows where the SQL expression ``when`` holds are always selected."""

    name: str
    when: str = Field(description="Polars SQL boolean expression over input columns, e.g. hs_chapter = '93'")

    @field_validator("when")
    @classmethod
    def _parses(cls, value: str) -> str:
        try:
            pl.sql_expr(value)
        except Exception as exc:  # polars raises several error types for bad SQL
            raise ValueError(f"not a SQL expression: {exc}") from None
        return value

    def columns(self) -> set[str]:
        """Input columns the rule reads."""
        return set(pl.sql_expr(self.when).meta.root_names())


class Inspection(_Strict):
    """How rows are selected for inspection: rules first, then a random quota, then the model fills the rest."""

    rate: float = Field(gt=0, le=1, description="inspection capacity as a share of rows")
    random_share: float = Field(default=0.1, ge=0, lt=1,
                                description="share of the capacity drawn at random, for unbiased monitoring")
    rules: tuple[Rule, ...] = ()
    place: str | None = Field(default=None, description="input column naming where a record is cleared (port, "
                              "control point): officers' queues are per place")


class ModelSpec(_Strict):
    """A whole model spec; cross-field rules are checked here so training never starts on a bad one."""

    model: ModelInfo
    data: CsvData | LakeData = Field(discriminator="kind")
    input: InputSpec
    features: FeatureSpec
    candidates: tuple[Candidate, ...] = Field(min_length=1)
    selection: Selection = Selection()
    baselines: Baselines = Baselines()
    inspection: Inspection | None = None

    @model_validator(mode="after")
    def _check(self) -> ModelSpec:
        declared = set(self.input.columns)
        for role in ("id", "date"):
            if getattr(self.model, role) not in declared:
                raise ValueError(f"model.{role} {getattr(self.model, role)!r} is not declared in input.columns")
        needed = self.features.raw_columns() | {c for c in (self.model.value, self.baselines.value_rule,
                                                            self.baselines.history) if c}
        if self.inspection is not None:
            needed |= {c for rule in self.inspection.rules for c in rule.columns()}
            needed |= {self.inspection.place} if self.inspection.place else set()
            if self.inspection.rate not in self.selection.capacities:
                raise ValueError(f"inspection.rate {self.inspection.rate} must be one of selection.capacities, "
                                 "so the model is judged at the rate it is used")
        missing = sorted(needed - declared)
        if missing:
            raise ValueError(f"columns {missing} are used but not declared in input.columns")
        if self.model.label in declared:
            raise ValueError(f"label {self.model.label!r} must not be an input column (it is absent when scoring)")
        known = metric_names(self.selection.capacities)
        if self.selection.metric not in known:
            raise ValueError(f"selection.metric {self.selection.metric!r} is not one of {known}")
        return self

    @property
    def name(self) -> str:
        return self.model.name

    def input_table(self, with_label: bool = False) -> TableSpec:
        """The lake table spec an input file is checked against (ids unique, values per rule)."""
        columns = dict(self.input.columns)
        if with_label:
            columns[self.model.label] = ColumnSpec(type="int64", min=0, max=1, nullable=self.data.kind == "lake")
        return TableSpec(name=f"work.{self.name}_input", description=f"rows scored by {self.name}",
                         key=(self.model.id,), columns=columns)


def parse_model_spec(text: str, source: str, base: Path | None = None) -> ModelSpec:
    """Parse one spec; errors name the file, the key and the reason. Data paths resolve against ``base``."""
    spec = parse_toml(ModelSpec, text, source)
    return spec.model_copy(update={"data": spec.data.resolved(base)}) if base is not None else spec


def load_model_spec(name_or_path: str | Path, folder: Path) -> ModelSpec:
    """Load ``<folder>/<name>.toml`` (or a spec file path); the file name must match ``model.name``."""
    path = Path(name_or_path)
    if path.suffix != ".toml":
        path = folder / f"{name_or_path}.toml"
    if not path.is_file():
        known = sorted(p.stem for p in folder.glob("*.toml")) if folder.is_dir() else []
        raise ConfigError(f"{path}: no such model spec (known in {folder}: {', '.join(known) or 'none'})")
    spec = parse_model_spec(path.read_text(encoding="utf-8"), str(path), base=path.resolve().parent)
    if spec.name != path.stem:
        raise ConfigError(f"{path}: model.name: {spec.name!r} differs from the file name {path.stem!r}")
    return spec
