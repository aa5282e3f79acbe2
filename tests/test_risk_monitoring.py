"""Monitoring a risk model: PSI drift against the training reference, realised hit rates per selection reason.

The model is declaration_risk (LightGBM only, for speed) trained on the tiny world; what
is pinned is the arithmetic (PSI 0 on the rows the model was fitted on, large on a
deliberately shifted sample; hit rates equal to a hand count) and the select -> monitor
round trip through the CLI into curated.risk_selections and curated.model_monitoring.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest
from click.testing import CliRunner

from tests.conftest import world_copy
from tests.hub_support import AlertWebhook
from tests.test_security import _SMTP, sinks  # noqa: F401 - sinks: the SIEM tests' local webhook and SMTP
from workbench.cli.main import main
from workbench.errors import WorkbenchError
from workbench.session import Session
from workbench.registry import Registry
from workbench.risk import load_model_spec, train
from workbench.risk.monitoring import MONITORING, drift, hit_rates, whole_weeks
from workbench.risk.profile import ALERT_MIN_ROWS, ALERT_PSI, numeric_distribution, psi, shift
from workbench.risk.selection import SELECTIONS
from workbench.risk.training import TrainingRun
from workbench.siem.sinks import EmailSink, WebhookSink

SPECS = Path(__file__).resolve().parents[1] / "models"


@pytest.fixture(scope="module")
def run(tiny_world: Session) -> TrainingRun:
    spec = load_model_spec("declaration_risk", SPECS)
    lightgbm = spec.model_copy(update={"candidates": tuple(c for c in spec.candidates if c.algorithm == "lightgbm")})
    return train(lightgbm, session=tiny_world)


def fitted_rows(run: TrainingRun) -> pd.DataFrame:
    """The rows the registered model was fitted on (the spec refits on train + validate)."""
    assert run.spec.data.refit_on_validate
    return pd.concat([run.data.train, run.data.validate], ignore_index=True)


def measured(run: TrainingRun, rows: pd.DataFrame) -> pd.DataFrame:
    model = run.model
    features = model.builder.features(rows)
    assert model.reference is not None
    return pd.DataFrame(drift(model.reference, features, model.estimator.predict(features))).set_index("subject")


def test_psi_is_zero_for_equal_shares_and_grows_with_the_shift() -> None:
    assert psi(np.array([0.5, 0.5]), np.array([0.5, 0.5])) == 0
    small, large = psi(np.array([0.5, 0.5]), np.array([0.45, 0.55])), psi(np.array([0.5, 0.5]), np.array([0.1, 0.9]))
    assert 0 < small < 0.1 < ALERT_PSI < large
    reference = numeric_distribution(np.arange(1000.0))
    assert shift(reference, np.arange(1000.0)).psi == 0
    moved = shift(reference, np.arange(1000.0) + 500)
    assert moved.psi > ALERT_PSI and moved.detail.startswith("[899.1, inf) +")


def test_drift_is_zero_on_the_training_rows_and_large_on_a_shifted_sample(run: TrainingRun) -> None:
    rows = fitted_rows(run)
    same = measured(run, rows)
    assert set(same.index) >= {"score", "value_hkd", "mode", "trader_id history rate", "value per kg vs hs peers"}
    assert same["value"].abs().max() < 1e-12

    half = rows.sample(frac=0.5, random_state=0)
    unshifted = measured(run, half)
    assert unshifted["value"].max() < 0.1  # a random half of the reference is stable
    moved = measured(run, half.assign(value_hkd=half["value_hkd"] * 30, mode="air"))
    assert moved.loc["value_hkd", "value"] > ALERT_PSI and moved.loc["mode", "value"] > ALERT_PSI
    assert moved.loc["mode", "detail"].startswith("air +")
    assert moved.loc["score", "value"] > 3 * unshifted.loc["score", "value"]
    assert moved.loc["hs_code", "value"] == unshifted.loc["hs_code", "value"]  # untouched columns do not move


def test_hit_rate_per_reason_matches_a_hand_count() -> None:
    selections = pd.DataFrame({
        "record_id": ["a", "b", "c", "d", "e", "f", "g", "h", "i"],
        "reason": ["rule:arms", "score", "score", "score", "random", "random", "score", "random", "rule:big"],
        "selected_on": [date(2024, 3, 4)] * 6 + [date(2024, 3, 11)] * 3,  # two Mondays: weeks of 4th and 11th
    })
    outcomes = pd.DataFrame({"record_id": ["a", "b", "c", "d", "e", "g", "h", "i", "zz"],
                             "label": [1, 1, 0, np.nan, 0, 1, 0, np.nan, 1]})  # f: no result; zz: not selected
    table = hit_rates(selections, outcomes).set_index(["window_start", "subject"])
    first, second = date(2024, 3, 4), date(2024, 3, 11)
    expected = {  # (rows, labelled, hits) counted by hand
        (first, "rule"): (1, 1, 1), (first, "model"): (3, 2, 1), (first, "random"): (2, 1, 0), (first, "all"): (6, 4, 2),
        (second, "model"): (1, 1, 1), (second, "random"): (1, 1, 0), (second, "rule"): (1, 0, 0),
        (second, "all"): (3, 2, 1),
    }
    assert set(table.index) == set(expected)
    for key, (rows, labelled, hits) in expected.items():
        got = table.loc[key]
        assert (got["rows"], got["labelled"], got["hits"]) == (rows, labelled, hits), key
        assert (np.isnan(got["value"]) if labelled == 0 else got["value"] == hits / labelled), key


def test_monitoring_windows_are_whole_calendar_weeks() -> None:
    assert whole_weeks(date(2024, 9, 4), date(2024, 10, 2)) == (date(2024, 9, 2), date(2024, 9, 30))
    with pytest.raises(WorkbenchError, match="no whole calendar week"):
        whole_weeks(date(2024, 9, 4), date(2024, 9, 8))


def test_select_then_monitor_write_weekly_figures(tmp_path: Path, run: TrainingRun, tiny_world: Session) -> None:
    folder = tmp_path / "registry"
    version = Registry(folder).register(run)
    lake = tiny_world.settings.lake
    window = ["--since", "2024-01-01", "--until", "2024-12-30"]
    common = ["--lake", lake, "--registry", str(folder), "--format", "json"]
    runner = CliRunner()
    chosen = runner.invoke(main, ["models", "select", "declaration_risk", *window, *common])
    assert chosen.exit_code == 0, chosen.output
    summary = json.loads(chosen.output)
    assert summary["chosen"]["model"] > 0 and summary["chosen"].get("random", 0) > 0
    selected = tiny_world.sql(f"SELECT * FROM {SELECTIONS}")
    assert selected.height == sum(summary["chosen"].values()) and set(selected["version"]) == {version}

    for _ in range(2):  # a re-run replaces its own rows (merge on the table key), it does not add to them
        result = runner.invoke(main, ["models", "monitor", "declaration_risk", *window, *common])
        assert result.exit_code == 0, result.output
    figures = tiny_world.sql(f"SELECT * FROM {MONITORING}")
    keys = ["model", "version", "window_start", "kind", "subject"]
    assert figures.height == figures.unique(keys).height
    weeks = figures.filter(pl.col("kind") == "score_drift")
    assert weeks.height == 52 and weeks["window_start"].min() == date(2024, 1, 1)
    assert (figures["window_end"] - figures["window_start"]).dt.total_days().unique().to_list() == [7]
    rates = figures.filter(pl.col("kind") == "hit_rate")
    assert set(rates["subject"]) >= {"all", "model", "random"}
    assert rates.group_by("window_start").agg(
        (pl.col("rows").filter(pl.col("subject") == "all").sum() * 2 == pl.col("rows").sum()).alias("ok"))["ok"].all()
    drifted = figures.filter(pl.col("kind") != "hit_rate")
    alerting = (pl.col("value") > ALERT_PSI) & (pl.col("rows") >= ALERT_MIN_ROWS)
    assert (drifted["alert"] == drifted.select(alerting.fill_null(False))["value"]).all()
    assert not rates["alert"].any()
    assert json.loads(result.output)["rows"] == figures.height

    scored = runner.invoke(main, ["models", "score-table", "declaration_risk", "--into", "work.scores", *common])
    assert scored.exit_code == 0, scored.output
    from_table = runner.invoke(main, ["models", "monitor", "declaration_risk", *window, "--scores", "work.scores",
                                      "--into", "work.monitoring", *common])
    assert from_table.exit_code == 0, from_table.output
    judged = tiny_world.sql("SELECT window_start, value FROM work.monitoring WHERE kind = 'score_drift' "
                            "ORDER BY window_start")  # the batch scores are the champion's: same drift figures
    assert judged.equals(weeks.sort("window_start").select("window_start", "value"))


def test_drift_alerts_reach_the_siem_sinks_once(tmp_path: Path, run: TrainingRun, tiny_world: Session,
                                                sinks: tuple[WebhookSink, EmailSink],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    webhook, email = sinks
    monkeypatch.setenv("WORKBENCH_SIEM_SINKS", json.dumps([
        {"kind": "webhook", "url": webhook.url},
        {"kind": "email", "host": email.host, "port": email.port, "sender": "siem@workbench.local",
         "recipients": ["admins@workbench.local"]}]))
    lake = world_copy(tiny_world, tmp_path, user="monitor")
    # One week after the world ends with >= ALERT_MIN_ROWS declarations, valued 30x and all flown in.
    sample = lake.sql("SELECT * FROM curated.declarations ORDER BY declaration_id LIMIT 260")
    lake.write(sample.with_columns(
        (pl.lit("D9") + pl.int_range(pl.len()).cast(pl.Utf8).str.zfill(9)).alias("declaration_id"),
        (pl.datetime(2025, 1, 7, 9) + pl.duration(minutes=pl.int_range(pl.len()))).alias("lodged_at"),
        (pl.col("value_hkd") * 30).alias("value_hkd"), pl.lit("air").alias("mode")), "curated.declarations",
        mode="append")
    folder = tmp_path / "registry"
    version = Registry(folder).register(run)
    command = ["models", "monitor", "declaration_risk", "--since", "2025-01-06", "--until", "2025-01-13",
               "--lake", lake.settings.lake, "--registry", str(folder), "--format", "json"]

    first = CliRunner().invoke(main, command)
    assert first.exit_code == 0, first.output
    summary = json.loads(first.output)
    flagged = {a["subject"]: a["value"] for a in summary["alerts"]}
    assert {"value_hkd", "mode"} <= set(flagged), summary
    assert len(summary["raised"]["new"]) == len(flagged) and summary["raised"]["delivered"] == 2

    sent = {a["alert_id"]: a for batch in AlertWebhook.received for a in batch["alerts"]}  # type: ignore[union-attr]
    assert len(AlertWebhook.received) == 1 and set(sent) == set(summary["raised"]["new"])
    for alert in sent.values():
        facts = dict(e.split("=", 1) for e in alert["evidence"][1:])
        assert alert["detector"] == "model_drift" and alert["user"] == "declaration_risk"
        assert facts["model"] == "declaration_risk" and facts["version"] == str(version)
        assert facts["window"] == "2025-01-06/2025-01-13" and int(facts["rows"]) >= ALERT_MIN_ROWS
        assert float(facts["psi"]) == pytest.approx(flagged[facts["feature"]], abs=1e-4)
        assert alert["severity"] == ("high" if facts["feature"] == "score" or float(facts["psi"]) > 2 * ALERT_PSI
                                     else "medium")
    assert len(_SMTP.messages) == 1 and "value_hkd" in _SMTP.messages[0]
    stored = lake.sql("SELECT alert_id, detector FROM security.alerts")
    assert set(stored["alert_id"]) == set(sent) and set(stored["detector"]) == {"model_drift"}

    again = CliRunner().invoke(main, command)  # the same window again: nothing new, nothing sent
    assert again.exit_code == 0, again.output
    assert json.loads(again.output)["raised"] == {"new": [], "known": len(sent), "delivered": 0, "failures": {}}
    assert len(AlertWebhook.received) == 1 and len(_SMTP.messages) == 1
    assert lake.sql("SELECT count(*) AS n FROM security.alerts")["n"][0] == len(sent)
