"""KCS fraud benchmark: the chosen model beside every baseline on the validation quarter.

Trains ``models/kcs_fraud.toml`` on the 2020 train file and measures on 2021-Q1, all
rankings in one run (README reference: one-hot logistic regression p@5% .673, p@10% .589,
AUC .766; the paper's LightGBM p@5% .762 on its test quarter).

    python benchmarks/bench_kcs.py [--json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from workbench.risk import load_model_spec, train

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = ["precision_at_1pct", "precision_at_5pct", "precision_at_10pct", "recall_at_5pct", "recall_at_10pct",
           "revenue_at_10pct", "roc_auc", "brier"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the table as JSON records")
    args = parser.parse_args()
    spec = load_model_spec("kcs_fraud", ROOT / "models")
    started = time.perf_counter()
    run = train(spec)
    seconds = time.perf_counter() - started
    results = run.results.assign(name=[f"{n} *" if n == run.selected else n for n in run.results["name"]])
    if args.json:
        print(json.dumps({"seconds": seconds, "selected": run.selected,
                          "results": results[["kind", "name", *COLUMNS]].to_dict("records")}, indent=1))
        return
    table = Table(title=f"kcs_fraud on the validation quarter (n={len(run.data.validate)}, "
                        f"fraud rate {run.data.validate_labels.mean():.3f}); * = selected; train+select {seconds:.0f} s")
    for col in ["kind", "name", *COLUMNS]:
        table.add_column(col.replace("_at_", "@").replace("pct", "%"), justify="left" if col in ("kind", "name") else "right")
    for row in results.itertuples(index=False):
        table.add_row(row.kind, row.name, *(f"{getattr(row, c):.3f}" for c in COLUMNS))
    Console(width=200).print(table)


if __name__ == "__main__":
    main()
