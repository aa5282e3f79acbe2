"""Monitoring a deployed risk model week by week: score drift, feature drift, realised hit rates.

- Drift: each week's rows of the model's table are featurised and scored as batch scoring
  does, binned on the model's training reference (``RiskModel.reference``, see
  ``risk.profile``) and compared with PSI; scores can come from a batch scores table
  (``score-table`` output) instead, so what is judged is what officers were given.
- Hit rate: selections (``curated.risk_selections``) joined to the outcomes in the model's
  own table (``inspected`` / ``inspection_result`` for declarations), per week and per
  reason (rule, model, random quota). Only rows whose result has arrived count, so the
  figure fills in as inspections close. The random quota's rate is the unbiased estimate
  of the hit rate of traffic nobody chose; the model's rate beside it is its lift.

One long table (``curated.model_monitoring``, spec in ``workbench/risk/tables.toml``) holds
every figure keyed by model, version, week, kind and subject, so a dashboard draws
"performance over time" with one query; drift rows with PSI > 0.25 over at least 200 rows
carry ``alert = true`` (smaller weeks report PSI but never alert: see ``ALERT_MIN_ROWS``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import polars as pl

from workbench.errors import WorkbenchError
from workbench.session import Session
from workbench.risk.data import last_day, read_window
from workbench.risk.evaluation import evaluate
from workbench.risk.model import RiskModel
from workbench.risk.profile import ALERT_MIN_ROWS, ALERT_PSI, Profile, shift
from workbench.risk.scoring import model_label
from workbench.risk.selection import SELECTIONS, reason_group, week_start, write_mode

MONITORING = "curated.model_monitoring"

SCHEMA = {"model": pl.Utf8, "version": pl.Int64, "window_start": pl.Date, "window_end": pl.Date, "kind": pl.Utf8,
          "subject": pl.Utf8, "value": pl.Float64, "rows": pl.Int64, "labelled": pl.Int64, "hits": pl.Int64,
          "detail": pl.Utf8, "alert": pl.Boolean}
"""Columns of the monitoring table, without ``computed_at`` (added when written)."""


def whole_weeks(since: date, until: date) -> tuple[date, date]:
    """``[since, until)`` widened to the Monday of ``since``'s week and cut to the last whole week before ``until``.

    A part week is not comparable with the reference: its weekday mix alone reads as a
    large drift. The week in progress is measured once it has ended.
    """
    start = since - timedelta(days=since.weekday())
    end = until - timedelta(days=until.weekday())
    if end <= start:
        raise WorkbenchError(f"no whole calendar week (Monday to Sunday) between {since} and {until}")
    return start, end


def drift(reference: Profile, features: pd.DataFrame, scores: np.ndarray) -> list[dict[str, object]]:
    """Score and per-feature PSI of one window against the reference (rows with kind, subject, value, detail)."""
    out: list[dict[str, object]] = []
    measured = shift(reference.score, scores)
    out.append({"kind": "score_drift", "subject": "score", "value": measured.psi, "rows": len(scores),
                "detail": measured.detail})
    for name, distribution in reference.features.items():
        if name not in features.columns:
            continue
        measured = shift(distribution, features[name])
        out.append({"kind": "feature_drift", "subject": name, "value": measured.psi, "rows": len(features),
                    "detail": measured.detail})
    return out


def hit_rates(selections: pd.DataFrame, outcomes: pd.DataFrame) -> pd.DataFrame:
    """Realised hit rate per week and reason group (and ``all``), from selections and outcomes so far.

    ``selections``: ``record_id``, ``reason``, ``selected_on``; ``outcomes``: ``record_id``,
    ``label`` (1 hit, 0 clear, NaN no result yet). A selected row missing from the outcomes
    has no result yet. Returns ``window_start``, ``subject``, ``rows`` (selected),
    ``labelled``, ``hits`` and ``value`` (hits / labelled; NaN when nothing is labelled).
    """
    joined = selections.merge(outcomes[["record_id", "label"]], on="record_id", how="left")
    joined = joined.assign(window_start=week_start(joined["selected_on"]), subject=joined["reason"].map(reason_group),
                           known=joined["label"].notna(), hit=joined["label"].fillna(0).astype(float))
    frames = [joined, joined.assign(subject="all")]
    table = pd.concat(frames).groupby(["window_start", "subject"], sort=True).agg(
        rows=("record_id", "size"), labelled=("known", "sum"), hits=("hit", "sum")).reset_index()
    table["value"] = table["hits"] / table["labelled"].where(table["labelled"] > 0)
    return table.astype({"rows": int, "labelled": int, "hits": int})


@dataclass(frozen=True)
class MonitoringReport:
    """What a monitoring run measured (the rows written to ``into``) and which of them alert."""

    into: str
    frame: pl.DataFrame

    @property
    def alerts(self) -> pl.DataFrame:
        return self.frame.filter(pl.col("alert"))

    def top_drifting(self, n: int = 5) -> pl.DataFrame:
        """Features with the largest PSI in any week, one row each, largest first."""
        drifting = self.frame.filter(pl.col("kind") == "feature_drift").drop_nulls("value")
        return drifting.sort("value", descending=True).unique("subject", keep="first", maintain_order=True).head(n)


def _batch_scores(session: Session, table: str, id_column: str, label: str) -> pd.Series:
    """Scores by id that a batch scores table holds from model ``label`` (written by ``score-table``)."""
    return session.sql(f'SELECT "{id_column}" AS id, score FROM {table} WHERE model = $model',
                       {"model": label}).to_pandas().set_index("id")["score"]


def monitor(session: Session, model: RiskModel, version: int, since: date, until: date,
            selections: str | None = SELECTIONS, scores: str | None = None, into: str | None = MONITORING,
            ) -> MonitoringReport:
    """Measure drift and hit rates per whole calendar week within ``[since, until)`` and write them to ``into``.

    ``selections`` names the selections table (skipped when the lake has none yet; only this
    version's selections count);
    ``scores`` a batch scores table to judge instead of re-scoring (rows it lacks are left
    out of score drift). ``into=None`` measures without writing. Raises when the model
    carries no training reference (registered before monitoring existed: retrain it).
    """
    spec = model.spec
    reference = getattr(model, "reference", None)
    if reference is None:
        raise WorkbenchError(f"{spec.name} v{version} has no training reference to monitor against: retrain it")
    since, until = whole_weeks(since, until)
    read = read_window(session, spec, since, until)
    rows = read.checked.rows.reset_index(drop=True)
    weeks = week_start(rows[spec.model.date]) if len(rows) else pd.Series(dtype=object)
    batch = _batch_scores(session, scores, spec.model.id, model_label(spec, f"v{version}")) if scores else None
    found: list[dict[str, object]] = []
    for week, index in rows.groupby(weeks.to_numpy(), sort=True).groups.items():
        part = rows.loc[index]
        features = model.builder.features(part)
        if batch is None:
            scored = model.estimator.predict(features)
        else:
            scored = batch.reindex(part[spec.model.id].to_numpy()).dropna().to_numpy()
        found += [{"window_start": week, **row} for row in drift(reference, features, scored)]
    if selections is not None and selections in set(session.tables()["name"].to_list()):
        chosen = session.sql(f"SELECT record_id, reason, selected_on FROM {selections} "
                             "WHERE model = $model AND version = $version AND selected_on >= $since "
                             "AND selected_on < $until",
                             {"model": spec.name, "version": version, "since": since, "until": until}).to_pandas()
        outcomes = pd.DataFrame({"record_id": rows[spec.model.id].astype(str),
                                 "label": rows[spec.model.label].astype(float)})
        for row in hit_rates(chosen, outcomes).to_dict("records"):
            found.append({**row, "kind": "hit_rate"})
    frame = _frame(found, spec.name, version)
    if into is not None and len(frame):
        session.write(frame.with_columns(pl.lit(datetime.now(UTC).replace(tzinfo=None)).alias("computed_at")), into,
                      mode=write_mode(session, into), inputs=read.versions,  # type: ignore[arg-type]
                      description=f"monitoring of {spec.name} v{version}")
    return MonitoringReport(into or "", frame)


def _frame(found: list[dict[str, object]], name: str, version: int) -> pl.DataFrame:
    """The measured rows in the monitoring table's shape, ordered by week, kind and subject."""
    if not found:
        return pl.DataFrame(schema=SCHEMA)
    table = pd.DataFrame(found)
    for column in ("labelled", "hits", "detail"):
        if column not in table:
            table[column] = None
    value = table["value"].astype(float)
    drift_rows = table["kind"] != "hit_rate"
    frame = pl.DataFrame({
        "model": [name] * len(table), "version": [version] * len(table),
        "window_start": list(table["window_start"]),
        "window_end": [w + timedelta(days=7) for w in table["window_start"]],
        "kind": table["kind"].tolist(), "subject": table["subject"].astype(str).tolist(),
        "value": [None if np.isnan(v) else float(v) for v in value],
        "rows": table["rows"].astype(int).tolist(),
        "labelled": [None if pd.isna(v) else int(v) for v in table["labelled"]],
        "hits": [None if pd.isna(v) else int(v) for v in table["hits"]],
        "detail": [None if pd.isna(v) else str(v) for v in table["detail"]],
        "alert": (drift_rows & (value > ALERT_PSI) & (table["rows"] >= ALERT_MIN_ROWS)).tolist(),
    }, schema=SCHEMA)
    order = {"score_drift": 0, "feature_drift": 1, "hit_rate": 2}
    return frame.with_columns(pl.col("kind").replace_strict(order, return_dtype=pl.Int8).alias("_order")) \
        .sort("window_start", "_order", "subject").drop("_order")



def compare_recent(session: Session, models: dict[str, RiskModel], weeks: int = 8) -> pd.DataFrame:
    """Each model's ranking metrics on the labelled rows of its table's newest ``weeks`` whole weeks.

    How a challenger is judged beside the champion before a modeller promotes it: on the
    same, most recent traffic (what the registry's figures, measured at training on each
    version's own validation period, cannot tell). Rows: one per model label, with
    ``rows`` (labelled rows measured) and every metric ``evaluation.evaluate`` reports.
    Rows the models were refitted on are in-sample for them: say so when reading it.
    """
    if not models:
        return pd.DataFrame()
    spec = next(iter(models.values())).spec
    latest = last_day(session, spec)
    if latest is None:
        raise WorkbenchError(f"{spec.name}: its table has no rows to compare on")
    since, until = whole_weeks(latest + timedelta(days=1) - timedelta(weeks=weeks), latest + timedelta(days=1))
    rows = read_window(session, spec, since, until).checked.rows
    labels = rows[spec.model.label].to_numpy(dtype=float)
    known = ~np.isnan(labels)
    if not known.any():
        raise WorkbenchError(f"{spec.name}: no labelled rows between {since} and {until} to compare on")
    values = rows[spec.model.value].astype(float).to_numpy()[known] if spec.model.value else None
    out = []
    for label, model in models.items():
        scores = model.predict(rows)[known]
        out.append({"model": label, "since": since, "until": until, "rows": int(known.sum()),
                    **evaluate(labels[known], scores, spec.selection.capacities, values)})
    return pd.DataFrame(out)
