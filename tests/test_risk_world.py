"""Risk models on the synthetic world: leakage, truth-judged ranking, registry, batch scoring, selection.

A world at scale 0.2 (20k declarations, ~1.3k inspected) is generated once for this file:
the tiny world has too few inspection hits to tell a model from chance. truth.* is read
here only to judge rankings, never by anything that trains or scores.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from workbench.errors import ConfigError
from workbench.session import Session, connect
from workbench.registry import Registry
from workbench.risk import evaluate, load_model_spec, parse_model_spec, score_table, select, train
from workbench.risk.asof import peer_reference
from workbench.risk.features import make_builder
from workbench.risk.model import top_rows
from workbench.risk.specs import Inspection, ModelSpec, Rule
from workbench.risk.training import TrainingRun, load_training_data

SPECS = Path(__file__).resolve().parents[1] / "models"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Session:
    from workbench.demo.load import load_world

    wb = connect(str(tmp_path_factory.mktemp("risk_world") / "lake"), user="modeller")
    load_world(wb.lake, seed=7, scale=0.2, actor="modeller")
    return wb


@pytest.fixture(scope="module")
def spec() -> ModelSpec:
    return load_model_spec("declaration_risk", SPECS)


@pytest.fixture(scope="module")
def run(world: Session, spec: ModelSpec) -> TrainingRun:
    return train(spec, session=world)


def truth_labels(world: Session, run: TrainingRun) -> np.ndarray:
    illicit = set(world.sql("SELECT declaration_id FROM truth.illicit_declarations")["declaration_id"].to_list())
    return run.data.validate["declaration_id"].isin(illicit).to_numpy(dtype=int)


def test_shipped_lake_specs_parse() -> None:
    crossing = load_model_spec("crossing_risk", SPECS)
    assert crossing.data.kind == "lake" and crossing.inspection is not None


def test_future_labels_do_not_change_past_features(world: Session, spec: ModelSpec) -> None:
    data = load_training_data(spec, world)
    rows, labels = data.train, data.train_labels
    builder = make_builder(spec.features, spec.model.date)
    before = builder.training_features(rows, labels)
    cutoff = pd.Timestamp("2023-01-01")
    later = (pd.to_datetime(rows[spec.model.date]) >= cutoff).to_numpy()
    rng = np.random.default_rng(0)
    shuffled = labels.copy()
    known_later = np.flatnonzero(later & ~np.isnan(labels))
    shuffled[known_later] = rng.permutation(1 - labels[known_later])  # flip and shuffle every later label
    after = builder.training_features(rows, shuffled)
    pd.testing.assert_frame_equal(before[~later], after[~later])
    assert not before[later].equals(after[later])  # the test would notice if later rows used them


def test_peer_medians_come_from_earlier_months_only() -> None:
    dates = pd.Series(pd.to_datetime(["2023-01-05", "2023-01-20", "2023-02-03", "2023-03-01"]))
    keys = pd.Series(["A", "A", "A", "A"])
    values = pd.Series([1.0, 3.0, 100.0, 5.0])
    reference = peer_reference(keys, values, dates, window=12)
    assert np.isnan(reference[0]) and np.isnan(reference[1])  # January has no earlier month
    assert reference[2] == 2.0 and reference[3] == 3.0  # February sees January; March sees Jan+Feb
    changed = peer_reference(keys, values.where(dates < "2023-03-01", 1e6), dates, window=12)
    assert np.array_equal(reference[:3], changed[:3], equal_nan=True)


def test_model_beats_baselines_against_truth_over_all_declarations(world: Session, run: TrainingRun) -> None:
    y = truth_labels(world, run)
    judged = {name: evaluate(y, scores, [0.01, 0.05]) for name, scores in run.rankings.items()}
    model = judged[run.selected]
    assert model["precision_at_1pct"] > 0.6 > judged["random"]["precision_at_1pct"] + 0.5
    assert model["recall_at_5pct"] > judged["value_rule:value_hkd"]["recall_at_5pct"] + 0.4
    assert model["recall_at_5pct"] > judged["history:trader_id"]["recall_at_5pct"]
    assert set(run.data.versions) == {"curated.declarations"}  # nothing but the curated table was read
    inspected = run.results.set_index("name")
    assert inspected.loc[run.selected, "recall_at_5pct"] > inspected.loc["random", "recall_at_5pct"]


def test_same_data_version_and_seed_give_same_metrics(world: Session, spec: ModelSpec, run: TrainingRun) -> None:
    again = train(spec, session=world)
    pd.testing.assert_frame_equal(again.results, run.results)
    assert again.data.versions == run.data.versions


def test_registry_logs_lake_versions_and_scores_identically(tmp_path: Path, world: Session,
                                                            run: TrainingRun) -> None:
    registry = Registry(tmp_path / "registry")
    version = registry.register(run)
    loaded = registry.load("declaration_risk")
    assert registry.version_of("declaration_risk") == version
    assert np.array_equal(loaded.predict(run.data.validate), run.model.predict(run.data.validate))
    params = registry.client.get_run(registry.client.get_model_version("declaration_risk", str(version)).run_id) \
        .data.params
    assert params["data.version.curated.declarations"] == str(run.data.versions["curated.declarations"])


def test_score_table_writes_every_row_with_model_and_reasons(world: Session, run: TrainingRun) -> None:
    report = score_table(world, run.model, "work.declaration_scores", model_version="v1", batch_rows=7_000)
    total = world.sql("SELECT count(*) AS n FROM curated.declarations")["n"][0]
    assert report.scored == total and not report.rejections
    scores = world.sql("SELECT * FROM work.declaration_scores").to_pandas().set_index("declaration_id")
    assert len(scores) == total and scores["model"].eq("declaration_risk v1").all()
    sample = run.data.validate.head(50)
    expected = run.model.predict(sample)
    assert np.allclose(scores.loc[sample["declaration_id"], "score"].to_numpy(), expected)
    explained = scores["reason_1"].ne("")
    assert 0.04 < explained.mean() < 0.07  # the top 5% of each batch are explained
    assert scores.loc[explained, "score"].min() >= scores.loc[~explained, "score"].quantile(0.9)


def test_selection_records_rule_random_and_score_reasons(run: TrainingRun) -> None:
    rows = run.data.validate
    scores = run.rankings[run.selected]
    inspection = Inspection(rate=0.05, random_share=0.2, rules=(Rule(name="big", when="value_hkd > 5000000"),))
    chosen = select(rows["declaration_id"], scores, rows, inspection, seed=3)
    capacity = round(len(rows) * 0.05)
    big = set(rows.loc[rows["value_hkd"] > 5_000_000, "declaration_id"])
    reasons = chosen.groupby("reason")["id"].agg(set)
    assert reasons["rule:big"] == big and len(chosen) == max(capacity, len(big))
    assert len(reasons["random"]) == round(capacity * 0.2)
    by_score = chosen[chosen["reason"] == "score"]
    others = set(rows["declaration_id"]) - set(chosen["id"])
    assert by_score["score"].min() >= scores[rows["declaration_id"].isin(others).to_numpy()].max()
    again = select(rows["declaration_id"], scores, rows, inspection, seed=3)
    pd.testing.assert_frame_equal(chosen, again)


def spec_error(change: tuple[str, str]) -> str:
    """The ConfigError message of the shipped declaration spec with one edit applied."""
    text = (SPECS / "declaration_risk.toml").read_text(encoding="utf-8")
    assert change[0] in text
    with pytest.raises(ConfigError) as err:
        parse_model_spec(text.replace(*change), "models/broken.toml")
    return str(err.value)


def test_lake_spec_errors_name_file_key_and_reason() -> None:
    rule = "when = \"hs_chapter = '93'\""
    assert "inspection.rate 0.07 must be one of" in spec_error(("rate = 0.05\nrandom", "rate = 0.07\nrandom"))
    assert spec_error((rule, "when = \"hs_chapter = \"")).startswith("models/broken.toml: inspection.rules.1.when")
    assert "['colour']" in spec_error((rule, "when = \"colour = 'red'\""))
    assert "data.lake.colour" in spec_error(('kind = "lake"', 'kind = "lake"\ncolour = 1'))


def test_top_rows_are_the_head_of_a_stable_descending_sort() -> None:
    rng = np.random.default_rng(3)
    for scores in (rng.random(5000), rng.integers(0, 20, 5000).astype(float), np.zeros(50)):  # ties: earlier row first
        for count in (0, 1, 7, 250, len(scores), len(scores) + 3):
            expected = np.argsort(-scores, kind="stable")[:count]
            assert np.array_equal(top_rows(scores, count), expected), count
