"""Benchmark of NLP: entity extraction quality and speed, training time, report classification.

- Strict entity P/R/F1 per label, EN and ZH, on the world's documents, which the tagger
  never trains on (it learns from workbench/nlp/corpus.py), for three systems:
  recognisers + gazetteer (the baseline), the tagger alone, and the merged extractor.
- Sentences per second on 1 torch thread for the tagger, the full extractor, and a raw
  transformers ``token-classification`` pipeline on the same model in the same run.
- Training time of the tagger and of the topic classifier, from their cards.
- Topic and priority classification on the world's documents: macro-F1 and accuracy
  beside the majority-class baseline, and expected calibration error of the raw and the
  calibrated heads (needs ``truth.document_labels`` in the world).

The world's lake is copied so the source stays read-only; the models are trained into the
copy's cache unless ``--model`` / ``--topics-model`` point at trained ones.

    python benchmarks/bench_nlp.py --world /tmp/s1 --model /tmp/s1/models/nlp/ner --topics-model /tmp/s1/models/nlp/topics
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
from workbench.nlp.classify import classifier_dir, evaluate_labels, load_classifier, train_from_lake  # noqa: E402
from workbench.nlp.training import score, train, training_sentences, world_sentences  # noqa: E402


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
    parser.add_argument("--topics-model", type=Path, default=None, help="A trained classifier folder; trained here if absent.")
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--speed-sentences", type=int, default=300)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copytree(args.world, f"{tmp}/lake", ignore=shutil.ignore_patterns("models"))
        wb = workbench.connect(f"{tmp}/lake", user="bench")
        held = world_sentences(wb, wb.sql('SELECT doc_id, "start", "end", label FROM truth.document_entities'))
        model_dir = args.model
        if model_dir is None:
            model_dir = model_cache(wb) / "ner"
            train(convert(model_cache(wb) / ENCODER_DIR), model_dir, training_sentences(wb), epochs=args.epochs,
                  threads=1)
        full = Extractor.from_lake(wb, model_dir, threads=1)
        assert full.tagger is not None
        baseline = Extractor(full.gazetteer)
        texts = [s.text for s in held]
        report = {
            "world_sentences": len(held), "card": json.loads((model_dir / "card.json").read_text()),
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
        report["topics"] = _topics(wb, args.topics_model)
        print(json.dumps(report, indent=1, ensure_ascii=False))


def _topics(wb: workbench.Session, model_dir: Path | None) -> dict:
    """Classification figures on the world beside the majority-class baseline, and the training time."""
    if "truth.document_labels" not in set(wb.tables()["name"].to_list()):
        return {"missing": "truth.document_labels is not in this world (regenerate it with the current demo)"}
    if model_dir is None:
        train_from_lake(wb, threads=1)
        model_dir = classifier_dir(wb)
    classifier = load_classifier(model_dir, 1)
    truth = wb.table("truth.document_labels")
    scores = evaluate_labels(wb, classifier, truth)
    for task in ("topic", "priority"):
        majority = truth[task].value_counts(sort=True)[0, "count"] / truth.height
        scores[task]["majority_accuracy"] = round(float(majority), 4)
    texts = wb.sql("SELECT text FROM documents.index")["text"].to_list()
    start = time.perf_counter()
    classifier.classify(texts)
    scores["documents_per_second_1_thread"] = round(len(texts) / (time.perf_counter() - start), 1)
    scores["train_seconds"] = classifier.card["train_seconds"]
    return scores


if __name__ == "__main__":
    main()
