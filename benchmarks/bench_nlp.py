"""Benchmark of entity extraction: quality on unseen templates and speed on one thread.

- Strict entity P/R/F1 per label, EN and ZH, on the held-out sentences (templates and
  entity values never trained on; see workbench/nlp/training.py) for three systems:
  recognisers + gazetteer (the baseline), the tagger alone, and the merged extractor.
- Sentences per second on 1 torch thread for the tagger, the full extractor, and a raw
  transformers ``token-classification`` pipeline on the same model in the same run.
- The model's training time, from its card.

The world's lake is copied so the source stays read-only; the model is trained into the
copy's cache unless ``--model`` points at one (e.g. made by ``workbench nlp train``).

    python benchmarks/bench_nlp.py --world /tmp/s1 --model /tmp/s1-copy/models/nlp/ner
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import workbench  # noqa: E402
from workbench.nlp.encoder import ENCODER_DIR, convert  # noqa: E402
from workbench.nlp.extract import Extractor, model_cache  # noqa: E402
from workbench.nlp.training import load_gold, score, split, train  # noqa: E402


def _f1_table(report: dict[str, dict]) -> dict[str, dict[str, float]]:
    return {language: {label: m["f1-score"] for label, m in labels.items() if label != "weighted avg"}
            for language, labels in report.items()}


def _rate(func, texts: list[str]) -> float:
    start = time.perf_counter()
    func(texts)
    return round(len(texts) / (time.perf_counter() - start), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--world", default=str(Path(__file__).resolve().parents[1] / "var" / "bench" / "world-s1"), help="Lake holding a generated world (copied, never written).")
    parser.add_argument("--model", type=Path, default=None, help="A trained tagger folder; trained here if absent.")
    parser.add_argument("--epochs", type=float, default=2.0)
    parser.add_argument("--speed-sentences", type=int, default=300)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copytree(args.world, f"{tmp}/lake", ignore=shutil.ignore_patterns("models"))
        wb = workbench.connect(f"{tmp}/lake", user="bench")
        training, held = split(load_gold(wb))
        model_dir = args.model
        if model_dir is None:
            model_dir = model_cache(wb) / "ner"
            train(convert(model_cache(wb) / ENCODER_DIR), model_dir, training, epochs=args.epochs, threads=1)
        full = Extractor.from_lake(wb, model_dir, threads=1)
        assert full.tagger is not None
        baseline = Extractor(full.gazetteer)
        texts = [s.text for s in held]
        report = {
            "held_out_sentences": len(held), "train_sentences": len(training),
            "card": json.loads((model_dir / "card.json").read_text()),
            "f1": {
                "rules_baseline": _f1_table(score(held, baseline.extract_many(texts))),
                "model_only": _f1_table(score(held, full.tagger.predict(texts))),
                "combined": _f1_table(score(held, full.extract_many(texts))),
            },
        }
        from transformers import AutoTokenizer, pipeline

        raw = pipeline("token-classification", model=str(model_dir), device="cpu", aggregation_strategy="simple",
                       tokenizer=AutoTokenizer.from_pretrained(model_dir, local_files_only=True))
        sample = (texts * (args.speed_sentences // max(1, len(texts)) + 1))[: args.speed_sentences]
        full.tagger.predict(sample[:16])  # warm up
        report["sentences_per_second_1_thread"] = {
            "tagger": _rate(full.tagger.predict, sample),
            "extractor": _rate(full.extract_many, sample),
            "raw_transformers_pipeline": _rate(lambda xs: raw(xs, batch_size=16), sample),
        }
        print(json.dumps(report, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
