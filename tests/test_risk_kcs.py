"""Risk models on the KCS declarations: spec errors, leakage, registry, reproducibility, CLI scoring.

Training runs on a subsample (every 6th train row, every 3rd validation row) written to a
temporary folder, so the file stays fast on a shared 2-core machine; the full data is
measured by benchmarks/bench_kcs.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest
from click.testing import CliRunner

from workbench.cli.main import main
from workbench.errors import ConfigError
from workbench.registry import Registry
from workbench.risk import MissingColumns, load_model_spec, parse_model_spec, score_file, train
from workbench.risk.features import history_features
from workbench.risk.specs import ModelSpec

KCS = Path(__file__).resolve().parents[2] / "shared" / "data" / "kcs-customs-declarations"
SPECS = Path(__file__).resolve().parents[1] / "models"
LABELS = ["Fraud", "Critical Fraud"]

pytestmark = pytest.mark.skipif(not KCS.is_dir(), reason="KCS data not present")


@pytest.fixture(scope="session")
def sample_specs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A specs folder whose kcs_fraud spec points at subsamples of the real files."""
    folder = tmp_path_factory.mktemp("kcs")
    text = (SPECS / "kcs_fraud.toml").read_text(encoding="utf-8")
    for name, step in (("df_syn_train_eng.csv", 6), ("df_syn_valid_eng.csv", 3)):
        pl.read_csv(KCS / name, infer_schema=False).gather_every(step).write_csv(folder / name)
        text = text.replace(f"../../shared/data/kcs-customs-declarations/{name}", str(folder / name))
    (folder / "kcs_fraud.toml").write_text(text, encoding="utf-8")
    return folder


@pytest.fixture(scope="session")
def sample_spec(sample_specs: Path) -> ModelSpec:
    return load_model_spec("kcs_fraud", sample_specs)


@pytest.fixture(scope="session")
def trained(sample_spec: ModelSpec):  # noqa: ANN201
    return train(sample_spec)


def unlabelled(tmp_path: Path, spec: ModelSpec, rows: int = 300) -> tuple[Path, pl.DataFrame]:
    frame = pl.read_csv(spec.data.validate_, infer_schema=False).head(rows).drop(LABELS)
    path = tmp_path / "to_score.csv"
    frame.write_csv(path)
    return path, frame


def test_shipped_spec_parses_and_points_at_the_data() -> None:
    spec = load_model_spec("kcs_fraud", SPECS)
    assert spec.data.train.is_file() and spec.data.validate_.is_file()
    assert spec.model.label == "Fraud" and "Fraud" not in spec.input.columns


@pytest.mark.parametrize(("change", "where"), [
    (("[selection]\nmetric = \"precision_at_5pct\"", "[selection]\nmetric = \"precision_at_50pct\""), "selection"),
    (('algorithm = "logistic"', 'algorithm = "xgboost"'), "candidates.1.algorithm: Input should be"),
    (('"Net Mass" = { type = "float64", min = 0 }', ""), "columns ['Net Mass']"),
    (("seed = 7", "seed = 7\ncolour = 1"), "model.colour"),
])
def test_spec_errors_name_file_key_and_reason(change: tuple[str, str], where: str) -> None:
    text = (SPECS / "kcs_fraud.toml").read_text(encoding="utf-8")
    assert change[0] in text
    with pytest.raises(ConfigError) as err:
        parse_model_spec(text.replace(*change), "models/broken.toml")
    assert str(err.value).startswith("models/broken.toml: ") and where in str(err.value)


def test_unknown_spec_lists_known_ones() -> None:
    with pytest.raises(ConfigError, match="kcs_fraud"):
        load_model_spec("nope", SPECS)


def test_history_features_ignore_labels_of_same_day_and_later_rows() -> None:
    rng = np.random.default_rng(0)
    n = 2000
    dates = pd.Series(pd.to_datetime("2020-01-01") + pd.to_timedelta(rng.integers(0, 60, n), unit="D"))
    keys = pd.Series(rng.choice(list("ABCDEFGH"), n))
    labels = rng.integers(0, 2, n)
    before = history_features(keys, dates, labels, prior=0.2, strength=20)
    cutoff = pd.Timestamp("2020-02-01")
    later = np.flatnonzero(dates >= cutoff)
    shuffled = labels.copy()
    shuffled[later] = rng.permutation(1 - labels[later])  # flip and shuffle every label from the cutoff on
    after = history_features(keys, dates, shuffled, prior=0.2, strength=20)
    past = (dates < cutoff).to_numpy()
    pd.testing.assert_frame_equal(before[past], after[past])
    assert not before[~past].equals(after[~past])  # the test would notice if later rows used them
    first_day = (dates == dates.min()).to_numpy()
    assert np.allclose(before["rate"][first_day], 0.2)  # nothing is known on the first day


def test_selected_model_beats_baselines_on_the_sample(trained) -> None:  # noqa: ANN001
    results = trained.results.set_index("name")
    chosen = results.loc[trained.selected, "precision_at_10pct"]
    assert chosen > results.loc["random", "precision_at_10pct"] + 0.2
    assert set(results.index) >= {"random", "value_rule:Item Price", "history:Importer ID", "logistic_onehot"}
    assert 0 < trained.metrics()["brier"] < 0.25


def test_same_data_and_seed_give_same_metrics(sample_spec: ModelSpec, trained) -> None:  # noqa: ANN001
    again = train(sample_spec)
    pd.testing.assert_frame_equal(again.results, trained.results)


def test_registry_round_trip_scores_identically(tmp_path: Path, trained) -> None:  # noqa: ANN001
    registry = Registry(tmp_path / "registry")
    first = registry.register(trained)
    second = registry.register(trained)
    versions = registry.versions("kcs_fraud").set_index("version")
    assert versions.loc[first, "aliases"] == "champion" and versions.loc[second, "aliases"] == "challenger"
    registry.promote("kcs_fraud", second)
    loaded = registry.load("kcs_fraud", alias="champion")
    rows = trained.data.validate
    assert np.array_equal(loaded.predict(rows), trained.model.predict(rows))
    compared = registry.compare("kcs_fraud")
    assert list(compared.columns) == ["metric", "v1", "v2 (challenger,champion)"]
    run = registry.client.get_run(registry.client.get_model_version("kcs_fraud", "2").run_id)
    assert len(run.data.params["data.train.sha256"]) == 64 and "code_version" in run.data.tags


def test_cli_train_then_score_a_label_less_file(tmp_path: Path, sample_specs: Path, sample_spec: ModelSpec) -> None:
    runner = CliRunner()
    lake = str(tmp_path / "lake")
    trained = runner.invoke(main, ["models", "train", "kcs_fraud", "--specs", str(sample_specs), "--lake", lake,
                                   "--format", "json"])
    assert trained.exit_code == 0, trained.output
    source, frame = unlabelled(tmp_path, sample_spec)
    frame = frame.with_columns(pl.when(pl.int_range(pl.len()) == 5).then(pl.lit("9999999999"))
                               .otherwise(pl.col("HS10 Code")).alias("HS10 Code"),  # a code never seen
                               pl.when(pl.int_range(pl.len()) == 6).then(pl.lit("ZZ"))
                               .otherwise(pl.col("Country of Origin")).alias("Country of Origin"))
    frame.write_csv(source)
    out = tmp_path / "scores.csv"
    scored = runner.invoke(main, ["models", "score", "kcs_fraud", "--input", str(source), "--output", str(out),
                                  "--lake", lake, "--format", "json"])
    assert scored.exit_code == 0, scored.output
    result = pd.read_csv(out, dtype={"Declaration ID": str})
    assert sorted(result["Declaration ID"]) == sorted(frame["Declaration ID"].to_list())
    assert result["score"].between(0, 1).all() and {"reason_1", "reason_2", "reason_3"} <= set(result.columns)
    assert json.loads(scored.output)["scored"] == frame.height
    listed = runner.invoke(main, ["models", "list", "--lake", lake, "--format", "json"])
    assert json.loads(listed.output)[0]["aliases"] == "challenger,champion"


def test_bad_rows_are_named_and_the_rest_still_scores(tmp_path: Path, trained, sample_spec: ModelSpec) -> None:  # noqa: ANN001
    source, frame = unlabelled(tmp_path, sample_spec, rows=50)
    bad_id = frame["Declaration ID"][3]
    frame.with_columns(pl.when(pl.col("Declaration ID") == bad_id).then(pl.lit("heavy"))
                       .otherwise(pl.col("Net Mass")).alias("Net Mass")).write_csv(source)
    report = score_file(trained.model, source, tmp_path / "out.csv")
    assert report.scored == 49 and len(report.rejections) == 1
    assert report.rejections[0].reason.startswith(f"record Declaration ID={bad_id}: field 'Net Mass' breaks rule type float64")

    frame.drop("Item Price").write_csv(source)
    with pytest.raises(MissingColumns, match="'Item Price'"):
        score_file(trained.model, source, tmp_path / "out.csv")
    runner = CliRunner()
    result = runner.invoke(main, ["models", "score", "kcs_fraud", "--input", str(source), "--output",
                                  str(tmp_path / "o.csv"), "--registry", str(tmp_path / "empty")])
    assert result.exit_code == 1 and "no alias 'champion'" in result.output


def _open_registry(folder: str) -> None:
    from workbench.registry.versions import ModelStore

    ModelStore(Path(folder)).client.search_registered_models(max_results=1)


def test_processes_opening_a_new_registry_together_all_succeed(tmp_path: Path) -> None:
    """MLflow makes its tables at first use; `make up`'s jobs and the live scorer did that together on a
    new lake and all but one died ("table ... already exists", a failed migration)."""
    import multiprocessing

    fork = multiprocessing.get_context("fork")
    opened = [fork.Process(target=_open_registry, args=(str(tmp_path / "registry"),)) for _ in range(4)]
    for process in opened:
        process.start()
    for process in opened:
        process.join(120)
    assert [p.exitcode for p in opened] == [0, 0, 0, 0]
