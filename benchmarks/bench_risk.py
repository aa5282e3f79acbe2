"""Risk models on the synthetic world: ranking against truth, batch scoring and real-time latency.

On a generated world (default: the scale-1 world at /tmp/s1, read only; batch scoring
writes into a temporary copy):
- declaration_risk and crossing_risk trained as `workbench models train` would, every
  ranking (model and baselines from the same run) judged against truth.* over ALL rows of
  the validation period (inspected or not), and on the inspected rows (what the service
  can see of itself, and all selection sees: the selection metric is marked and a line
  says why the selected model won, and whether a baseline would have);
- batch scoring of curated.declarations into a scores table (`score_table`, end to end),
  rows/s now and with the previous scoring code in the same run (outputs compared), beside
  in-memory paths: features + predict, the estimator alone now and before the float-matrix
  change, and the model as an MLflow pyfunc (what `mlflow models serve` runs);
- network features: each model with and without them (``network_effect``), trained before and judged on
  the newest 8 weeks held out (ROC AUC and PR AUC on truth and on the inspected rows), on a copy of the
  world with its evidence graph resolved and built;
- the HTTP service (`workbench models serve`) at a fixed request rate from a client
  process on loopback: p50/p99 latency measured from each request's scheduled send time
  (so a stall delays the schedule and is counted, not hidden).

    python benchmarks/bench_risk.py [--lake /tmp/s1] [--rate 200] [--seconds 30] [--network-only] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.conftest import free_port, wait_for_port  # noqa: E402
from workbench import connect  # noqa: E402
from workbench.registry import Registry  # noqa: E402
from workbench.risk import evaluate, load_model_spec, score_table, train  # noqa: E402
from workbench.risk.data import check_frame, lake_query  # noqa: E402
from workbench.risk.specs import LakeData, Network  # noqa: E402
from workbench.risk.training import TrainingRun  # noqa: E402

TRUTH = {"declaration_risk": ("truth.illicit_declarations", "declaration_id"),
         "crossing_risk": ("truth.illicit_crossings", "crossing_id")}


def judged(run: TrainingRun, truth: set[str]) -> pd.DataFrame:
    """Every ranking of the run on truth over all validation rows, beside its inspected-rows figures
    and the selection metric (on inspected rows, the only labels training has), marked ``[selection]``."""
    spec = run.spec
    rate = spec.inspection.rate if spec.inspection else 0.05
    tag = f"{rate * 100:g}pct"
    y = run.data.validate[spec.model.id].isin(truth).to_numpy(dtype=int)
    inspected = run.results.set_index("name")
    shown = {"precision_at_1pct": "inspected p@1%", f"recall_at_{tag}": f"inspected recall@{tag}"}
    metric = spec.selection.metric
    shown[metric] = shown.get(metric, f"inspected {metric}") + " [selection]"
    rows = []
    for name, scores in run.rankings.items():
        m = evaluate(y, scores, [0.01, rate])
        rows.append({"ranking": name + (" *" if name == run.selected else ""), "kind": inspected.loc[name, "kind"],
                     "truth p@1%": m["precision_at_1pct"], f"truth recall@{tag}": m[f"recall_at_{tag}"],
                     "truth AUC": m["roc_auc"], **{label: inspected.loc[name, key] for key, label in shown.items()}})
    return pd.DataFrame(rows)


def selection_story(run: TrainingRun) -> str:
    """Why the selected model is the one it is: the selection metric on inspected rows, candidates vs best baseline.

    Truth judges every validation row; selection can only use the inspected ones, so a
    baseline that wins on truth may lose (or win narrowly) where training can see.
    """
    metric, known = run.spec.selection.metric, run.data.validate_known
    table = run.results.set_index("name")
    candidates = table[table["kind"] == "candidate"][metric].sort_values(ascending=False, kind="stable")
    baselines = table[table["kind"] == "baseline"][metric].sort_values(ascending=False, kind="stable")
    story = (f"selection: {metric} on the {int(known.sum()):,} inspected validation rows "
             f"({int(np.nansum(run.data.validate_labels[known])):,} hits): "
             + ", ".join(f"{name} {value:.3f}" for name, value in candidates.items()) + f" -> {run.selected}")
    best, value = baselines.index[0], float(baselines.iloc[0])
    if value > candidates.iloc[0]:
        return story + (f"\n  baseline {best} scores {value:.3f} there, above every candidate: it would be selected "
                        f"if the spec listed it as a candidate (see the spec's [[candidates]] note)")
    return story + f"; best baseline {best} {value:.3f}"


def client(url: str, token: str, records_file: Path, rate: float, seconds: float) -> None:
    """Send ``rate`` requests/s for ``seconds``, print latencies in ms as JSON.

    Bounded twice: at most ``rate * seconds`` requests, and nothing is sent after twice the
    planned duration (a saturated server would otherwise hold the run for many minutes);
    requests never sent are reported as ``unsent``.
    """
    import requests

    records = json.loads(records_file.read_text())
    session = requests.Session()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    bodies = [json.dumps(r).encode() for r in records]
    total = int(rate * seconds)
    latencies, failures = [], 0
    start = time.perf_counter()
    deadline = start + 2 * seconds
    for i in range(total):
        scheduled = start + i / rate
        if time.perf_counter() > deadline:
            break
        pause = scheduled - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        response = session.post(url, data=bodies[i % len(bodies)], headers=headers, timeout=10)
        latencies.append((time.perf_counter() - scheduled) * 1000)
        failures += response.status_code != 200
    print(json.dumps({"latencies": latencies, "failures": failures, "unsent": total - len(latencies),
                      "elapsed": time.perf_counter() - start}))


def service_latency(run: TrainingRun, world: Any, rate: float, seconds: float, tmp: Path) -> dict[str, float]:
    """Register the model, serve it from the CLI, drive it from a client process, return latency figures."""
    folder = tmp / "registry"
    Registry(folder).register(run)
    frame = world.sql(lake_query(run.spec, "curated.declarations", with_label=False) + " LIMIT 500").to_pandas()
    frame["lodged_at"] = frame["lodged_at"].dt.strftime("%Y-%m-%dT%H:%M:%S")
    records = [{k: (None if pd.isna(v) else v) for k, v in row.items()} for row in frame.to_dict("records")]
    records_file = tmp / "records.json"
    records_file.write_text(json.dumps(records))
    token, port = "bench-token", free_port()
    bin_dir = Path(sys.executable).parent
    server = subprocess.Popen([str(bin_dir / "workbench"), "models", "serve", run.spec.name, "--port", str(port),
                               "--registry", str(folder)], env={**os.environ, "WORKBENCH_SCORING_TOKEN": token})
    try:
        wait_for_port(port, timeout=120)
        out = subprocess.run([sys.executable, __file__, "--client", f"http://127.0.0.1:{port}/score", token,
                              str(records_file), str(rate), str(seconds)], capture_output=True, text=True, check=True)
    finally:
        server.terminate()
        server.wait(timeout=10)
    result = json.loads(out.stdout)
    lat = np.asarray(result["latencies"])
    return {"requests": len(lat), "failures": result["failures"], "unsent": result["unsent"], "achieved_rps": len(lat) / result["elapsed"],
            "p50_ms": float(np.percentile(lat, 50)), "p99_ms": float(np.percentile(lat, 99)),
            "max_ms": float(lat.max())}


class PyfuncRisk(mlflow.pyfunc.PythonModel):
    """The risk model as an MLflow pyfunc (what `mlflow models serve` would run): scores only, no reasons."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> np.ndarray:
        return self.model.predict(model_input)


def previous_predict(estimator: Any, features: pd.DataFrame) -> np.ndarray:
    """The LightGBM predict path before the float-matrix change, kept here as the baseline it is measured against:
    codes looked up in a pandas index, a frame of pandas categoricals, the scikit-learn wrapper's predict_proba."""
    frame = features[estimator.columns].copy()
    for c in estimator.categorical:
        codes = estimator.categories[c].get_indexer(frame[c].astype(object).where(frame[c].notna(), None))
        frame[c] = pd.Categorical.from_codes(codes, categories=estimator.categories[c])
    frame.columns = [f"f{i}" for i in range(len(estimator.columns))]
    return estimator.model.predict_proba(frame)[:, 1]


class PreviousScoring:
    """``RiskModel.score`` as it was before one float matrix served predict and explain, the top rows were found
    by partition instead of a full sort and reasons were formatted over flat arrays: the baseline the batch
    figure is measured against, in the same run (``score_table`` only needs ``spec`` and ``score``)."""

    def __init__(self, model: Any) -> None:
        self.model, self.spec = model, model.spec

    def score(self, rows: pd.DataFrame, reasons: int = 3, explain_top: float | None = None) -> pd.DataFrame:
        model = self.model
        features = model.builder.features(rows)
        scores = model.estimator.predict(features)
        out = pd.DataFrame({self.spec.model.id: rows[self.spec.model.id].to_numpy(), "score": scores})
        chosen = np.arange(len(rows)) if explain_top is None else \
            np.argsort(-scores, kind="stable")[:int(np.ceil(len(rows) * explain_top))]
        codes = np.full((len(rows), reasons), "", dtype=object)
        if len(chosen):
            part = features.iloc[chosen]
            pushes = model.estimator.contributions(part)
            shown, values, names = part.astype(object).to_numpy(), pushes.to_numpy(), list(pushes.columns)
            order = np.argsort(-values, axis=1, kind="stable")[:, :reasons]
            labelled = np.full(order.shape, "", dtype=object)
            for r, c in np.ndindex(order.shape):
                j = order[r, c]
                if values[r, j] > 0:
                    label = f"{names[j]}={shown[r, j]}" if isinstance(shown[r, j], str) else str(names[j])
                    labelled[r, c] = f"{label} (+{values[r, j]:.2f})"
            codes[chosen] = labelled
        for i in range(reasons):
            out[f"reason_{i + 1}"] = codes[:, i]
        return out


def batch_end_to_end(model: Any, copy: Any, repeat: int = 3) -> dict[str, dict[str, float]]:
    """``score_table`` (read, check, features, predict, reasons, write) now and with the previous scoring,
    interleaved ``repeat`` times each; median rows/s and seconds, and the two outputs compared."""
    paths = {"now": model, "previous": PreviousScoring(model)}
    seconds: dict[str, list[float]] = {name: [] for name in paths}
    outputs: dict[str, pd.DataFrame] = {}
    for round_ in range(repeat):
        for name, scorer in paths.items() if round_ % 2 == 0 else reversed(paths.items()):
            report = score_table(copy, scorer, f"work.scores_{name}", model_version="bench")
            seconds[name].append(report.seconds)
    for name in paths:
        outputs[name] = copy.sql(f"SELECT * EXCLUDE (scored_at) FROM work.scores_{name} ORDER BY 1").to_pandas()
    rows = len(outputs["now"])
    return {name: {"rows": rows, "seconds": float(np.median(times)), "rows_per_second": rows / float(np.median(times)),
                   "identical_to_previous": bool(outputs[name].equals(outputs["previous"]))}
            for name, times in seconds.items()}


def batch_paths(run: TrainingRun, world: Any, tmp: Path, repeat: int = 3) -> dict[str, float]:
    """Rows/s of in-memory scoring paths over the same checked rows, median of ``repeat`` interleaved runs.

    - ``features + predict``: ``RiskModel.predict`` (features, then the booster on a float matrix);
    - ``predict (float matrix)`` vs ``predict (previous)``: the estimator alone, now and before;
    - ``pyfunc (mlflow)``: the model saved and loaded as an MLflow pyfunc, predict on the pandas frame
      (what `mlflow models serve` runs per request batch).
    """
    model = run.model
    rows = check_frame(world.sql(lake_query(run.spec, "curated.declarations", with_label=False)), run.spec, "bench").rows
    features = model.builder.features(rows)
    estimator = model.estimator
    path = tmp / "pyfunc"
    mlflow.pyfunc.save_model(str(path), python_model=PyfuncRisk(model))
    loaded = mlflow.pyfunc.load_model(str(path))
    paths: dict[str, Any] = {
        "features + predict": lambda: model.predict(rows),
        "pyfunc (mlflow)": lambda: loaded.predict(rows),
        "predict (float matrix)": lambda: estimator.predict(features),
    }
    if run.model.algorithm == "lightgbm":
        paths["predict (previous: pandas categoricals)"] = lambda: previous_predict(estimator, features)
    seconds: dict[str, list[float]] = {name: [] for name in paths}
    for round_ in range(repeat):
        for name, fn in paths.items() if round_ % 2 == 0 else reversed(paths.items()):
            started = time.perf_counter()
            fn()
            seconds[name].append(time.perf_counter() - started)
    return {name: len(rows) / float(np.median(times)) for name, times in seconds.items()}


NETWORK = {"declaration_risk": Network(key="trader_id", source_table="traders"),
           "crossing_risk": Network(key="plate", source_table="vehicles")}
"""The actor whose network features each model would take: the importer, the vehicle (through its owner)."""
HELD_OUT_WEEKS = 8


def network_effect(lake: str, tmp: Path, weeks: int = HELD_OUT_WEEKS) -> dict[str, Any]:
    """Each model trained with and without network features, judged on the newest ``weeks`` held out.

    On a copy of the world the evidence graph is built as ``make up`` builds it (``network
    resolve``, ``network build``; reused when the lake has it). Both variants of a model
    differ only in ``features.network``: the same spec otherwise, LightGBM alone, trained
    on every row dated before the held-out weeks and scored on those weeks. No leakage:
    a training row's network features come from the graph replayed to its month's first
    day, and a held-out row's from the graph as it stood the day after the last training
    row (``risk.network``: edges first evidenced, cases opened and hits decided before it).
    Figures: ROC AUC and PR AUC (average precision) on truth over every held-out row, and
    on the rows inspected in those weeks (the labels a modeller has).
    """
    from sklearn.metrics import average_precision_score, roc_auc_score

    from workbench.graph.build import build_graph
    from workbench.graph.resolution import resolve
    from workbench.graph.tables import EDGES

    work = tmp / "network-lake"
    shutil.copytree(lake, work)
    wb = connect(str(work), user="bench")
    report: dict[str, Any] = {}
    if EDGES not in set(wb.tables()["name"].to_list()):
        started = time.perf_counter()
        resolve(wb)
        build_graph(wb)
        report["graph_seconds"] = time.perf_counter() - started
    for name, network in NETWORK.items():
        spec = load_model_spec(name, ROOT / "models")
        assert isinstance(spec.data, LakeData)
        last = wb.sql(f"SELECT max({spec.model.date}) AS t FROM {spec.data.table}")["t"][0]
        held_from = (last - timedelta(weeks=weeks)).date()
        lightgbm = [c for c in spec.candidates if c.algorithm == "lightgbm"][:1]
        base = spec.model_copy(update={
            "data": spec.data.model_copy(update={"validate_from": held_from, "refit_on_validate": False}),
            "candidates": lightgbm, "baselines": spec.baselines.model_copy(update={
                "random": False, "value_rule": None, "history": None, "logistic_onehot": False,
                "lightgbm_label_encoded": False})})
        truth_table, key = TRUTH[name]
        truth = set(wb.sql(f"SELECT {key} FROM {truth_table}")[key].to_list())
        rows, scored = {}, {}
        for variant, with_network in (("without network features", None), ("with network features", network)):
            variant_spec = base.model_copy(update={"features": base.features.model_copy(
                update={"network": with_network})})
            started = time.perf_counter()
            run = train(variant_spec, session=wb)
            seconds = time.perf_counter() - started
            scores = scored[variant] = run.rankings[run.selected]
            y = run.data.validate[spec.model.id].isin(truth).to_numpy(dtype=int)
            known = run.data.validate_known
            labels = run.data.validate_labels[known]
            rows[variant] = {
                "train_seconds": seconds, "features": len(run.model.builder.features(run.data.validate.head(1)).columns),
                "truth_auc": float(roc_auc_score(y, scores)), "truth_pr_auc": float(average_precision_score(y, scores)),
                "inspected_auc": float(roc_auc_score(labels, scores[known])),
                "inspected_pr_auc": float(average_precision_score(labels, scores[known])),
                "held_out_rows": len(y), "held_out_illicit": int(y.sum()), "inspected_rows": int(known.sum()),
                "inspected_hits": int(np.nansum(labels))}
        report[name] = {"held_out_from": str(held_from), "held_out_weeks": weeks, "network": network.model_dump(),
                        "variants": rows, "truth_gain_90pct": paired_bootstrap(
                            y, scored["without network features"], scored["with network features"])}
    return report


def paired_bootstrap(y: np.ndarray, before: np.ndarray, after: np.ndarray, rounds: int = 1000,
                     seed: int = 5) -> dict[str, list[float]]:
    """90% intervals of the gain in ROC AUC and PR AUC (``after`` - ``before``) over held-out rows resampled
    together for both rankings: with a few dozen illicit records a point gain alone says little."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    rng = np.random.default_rng(seed)
    gains: dict[str, list[float]] = {"auc": [], "pr_auc": []}
    for _ in range(rounds):
        i = rng.integers(0, len(y), len(y))
        if y[i].min() == y[i].max():
            continue
        gains["auc"].append(roc_auc_score(y[i], after[i]) - roc_auc_score(y[i], before[i]))
        gains["pr_auc"].append(average_precision_score(y[i], after[i]) - average_precision_score(y[i], before[i]))
    return {k: [float(np.percentile(v, 5)), float(np.percentile(v, 95))] for k, v in gains.items()}


def print_network_effect(report: dict[str, Any]) -> None:
    if "graph_seconds" in report:
        print(f"\nevidence graph resolved and built for the comparison in {report['graph_seconds']:.0f} s")
    for name in NETWORK:
        effect = report[name]
        print(f"\n{name} with and without network features of {effect['network']['key']}: trained before "
              f"{effect['held_out_from']}, judged on the newest {effect['held_out_weeks']} weeks")
        table = pd.DataFrame(effect["variants"]).T
        print(table[["truth_auc", "truth_pr_auc", "inspected_auc", "inspected_pr_auc", "held_out_rows",
                     "held_out_illicit", "inspected_rows", "inspected_hits", "features", "train_seconds"]].to_string(
            float_format=lambda v: f"{v:.3f}"))
        without, with_ = effect["variants"]["without network features"], effect["variants"]["with network features"]
        print(f"  network features: truth AUC {with_['truth_auc'] - without['truth_auc']:+.3f}, truth PR AUC "
              f"{with_['truth_pr_auc'] - without['truth_pr_auc']:+.3f}, inspected AUC "
              f"{with_['inspected_auc'] - without['inspected_auc']:+.3f}, inspected PR AUC "
              f"{with_['inspected_pr_auc'] - without['inspected_pr_auc']:+.3f}; 90% interval of the truth gain "
              f"(paired bootstrap): AUC {effect['truth_gain_90pct']['auc'][0]:+.3f} .. "
              f"{effect['truth_gain_90pct']['auc'][1]:+.3f}, PR AUC {effect['truth_gain_90pct']['pr_auc'][0]:+.3f} .. "
              f"{effect['truth_gain_90pct']['pr_auc'][1]:+.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lake", default=str(Path(__file__).resolve().parents[1] / "var" / "bench" / "world-s1"))
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--network-only", action="store_true",
                        help="only the comparison with and without network features (held-out newest weeks)")
    args = parser.parse_args()
    world = connect(args.lake, user="bench")
    report: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench_risk_network_") as tmp_name:
        report["network_effect"] = network_effect(args.lake, Path(tmp_name))
    if not args.json:
        print_network_effect(report["network_effect"])
    if args.network_only:
        if args.json:
            print(json.dumps(report, indent=1, default=float))
        return
    runs = {}
    for name, (truth_table, key) in TRUTH.items():
        started = time.perf_counter()
        runs[name] = run = train(load_model_spec(name, ROOT / "models"), session=world)
        truth = set(world.sql(f"SELECT {key} FROM {truth_table}")[key].to_list())
        table = judged(run, truth)
        report[name] = {"train_seconds": time.perf_counter() - started, "validation_rows": len(run.data.validate),
                        "rankings": table.to_dict("records"), "selection": selection_story(run)}
        if not args.json:
            print(f"\n{name}: {len(run.data.validate):,} validation rows, trained in "
                  f"{report[name]['train_seconds']:.0f} s (* = selected)")
            print(table.round(3).to_string(index=False))
            print(selection_story(run))
    with tempfile.TemporaryDirectory(prefix="bench_risk_") as tmp_name:
        tmp = Path(tmp_name)
        shutil.copytree(args.lake, tmp / "lake")
        copy = connect(str(tmp / "lake"), user="bench")
        report["batch"] = batch = batch_end_to_end(runs["declaration_risk"].model, copy)
        report["batch_paths"] = batch_paths(runs["declaration_risk"], world, tmp)
        if not args.json:
            now, before = batch["now"], batch["previous"]
            print(f"\nbatch scoring (score_table: read, check, score, reasons for the top 5% of each batch, write; "
                  f"median of 3): {now['rows']:,} rows in {now['seconds']:.2f} s = {now['rows_per_second']:,.0f} rows/s "
                  f"(goal >= 100k/s), previous scoring in the same run {before['rows_per_second']:,.0f} rows/s "
                  f"(x{now['rows_per_second'] / before['rows_per_second']:.2f}); outputs identical: "
                  f"{now['identical_to_previous']}")
            for name, rate in report["batch_paths"].items():
                print(f"  in memory, {name}: {rate:,.0f} rows/s")
        report["service"] = service_latency(runs["declaration_risk"], world, args.rate, args.seconds, tmp)
    s = report["service"]
    if args.json:
        print(json.dumps(report, indent=1, default=float))
    else:
        print(f"service at {args.rate:g} req/s for {args.seconds:g} s: {s['requests']} requests ({s['unsent']} "
              f"never sent), {s['failures']} failed, achieved {s['achieved_rps']:.0f} req/s; p50 {s['p50_ms']:.1f} ms, p99 {s['p99_ms']:.1f} ms "
              f"(goal <= 20), max {s['max_ms']:.0f} ms")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--client":
        client(sys.argv[2], sys.argv[3], Path(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6]))
    else:
        main()
