"""Benchmark of NLP: entity extraction quality and speed, training time, report classification.

- Strict entity P/R/F1 per label, EN and ZH, on the world's documents, which the tagger
  never trains on (it learns from workbench/nlp/corpus.py), for: recognisers + gazetteer
  (the baseline), the tagger alone and the merged extractor, each with the tagger in each
  ``settings.nlp_precision`` (fp32, bf16 as shipped, int8), so what lower precision costs
  is measured, not assumed.
- Short documents (the world's sentences) per second with torch on every core, in the
  same run and interleaved over ``--rounds`` rounds (the median is reported; the machine
  is shared): a raw transformers ``token-classification`` pipeline on the same checkpoint
  (the baseline; goal: ours >= 0.9x of it and >= 200 docs/s), the same pipeline under
  bf16 autocast, our tagger (bf16) and our extractor in each precision. CPU-seconds rates are printed
  beside the wall-clock ones because other work on the machine steals wall time.
- Training time of the tagger and of the topic classifier, from their cards.
- Topic and priority classification on the world's documents, overall and per language:
  macro-F1 and accuracy beside the majority-class baseline, and expected calibration error
  of the raw and the calibrated heads, for the shipped classifier (e5 embeddings plus
  character n-grams on the topic head) and the embeddings-only one on the same documents
  (needs ``truth.document_labels`` in the world).

The world's lake is copied so the source stays read-only; the models are trained into the
copy's cache unless ``--model`` / ``--topics-model`` point at trained ones.

    python benchmarks/bench_nlp.py --world /tmp/s1 --model /tmp/s1/models/nlp/ner --topics-model /tmp/s1/models/nlp/topics
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import workbench  # noqa: E402
from workbench.nlp.encoder import ENCODER_DIR, convert  # noqa: E402
from workbench.nlp.extract import Extractor, model_cache  # noqa: E402
from workbench.nlp.gazetteer import Gazetteer  # noqa: E402
from workbench.nlp.tagger import Tagger  # noqa: E402
from workbench.nlp.classify import classifier_dir, evaluate_labels, load_classifier, train_from_lake  # noqa: E402
from workbench.nlp.training import score, train, training_sentences, world_sentences  # noqa: E402


def _f1_table(report: dict[str, dict]) -> dict[str, dict[str, float]]:
    return {language: {label: m["f1-score"] for label, m in labels.items() if label != "weighted avg"}
            for language, labels in report.items()}


def _rates(systems: dict[str, Callable[[list[str]], object]], texts: list[str], rounds: int) -> dict[str, dict]:
    """Documents per second (wall and CPU) per system: median of ``rounds`` interleaved runs over ``texts``."""
    wall: dict[str, list[float]] = {name: [] for name in systems}
    cpu: dict[str, list[float]] = {name: [] for name in systems}
    for _ in range(rounds):
        for name, func in systems.items():
            started, started_cpu = time.perf_counter(), time.process_time()
            func(texts)
            wall[name].append(len(texts) / (time.perf_counter() - started))
            cpu[name].append(len(texts) / (time.process_time() - started_cpu))
    return {name: {"docs_per_second": round(statistics.median(wall[name]), 1),
                   "docs_per_cpu_second": round(statistics.median(cpu[name]), 1)} for name in systems}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--world", default=str(Path(__file__).resolve().parents[1] / "var" / "bench" / "world-s1"), help="Lake holding a generated world (copied, never written).")
    parser.add_argument("--model", type=Path, default=None, help="A trained tagger folder; trained here if absent.")
    parser.add_argument("--topics-model", type=Path, default=None, help="A trained classifier folder; trained here if absent.")
    parser.add_argument("--baseline-topics-model", type=Path, default=None,
                        help="A classifier trained without the character n-gram view; trained here if absent.")
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--speed-docs", type=int, default=600, help="Short documents per timed run.")
    parser.add_argument("--rounds", type=int, default=3, help="Interleaved timed runs per system.")
    parser.add_argument("--tasks", choices=("ner", "topics", "all"), default="all")
    args = parser.parse_args()

    import torch

    threads = os.cpu_count() or 1
    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copytree(args.world, f"{tmp}/lake", ignore=shutil.ignore_patterns("models"))
        wb = workbench.connect(f"{tmp}/lake", user="bench")
        report: dict[str, object] = {}
        if args.tasks in ("ner", "all"):
            held = world_sentences(wb, wb.sql('SELECT doc_id, "start", "end", label FROM truth.document_entities'))
            model_dir = args.model
            if model_dir is None:
                model_dir = model_cache(wb) / "ner"
                train(convert(model_cache(wb) / ENCODER_DIR), model_dir, training_sentences(wb), epochs=args.epochs,
                      threads=threads)
            report = {"world_sentences": len(held),
                      **_extraction(wb, model_dir, held, args.speed_docs, args.rounds, threads)}
        if args.tasks in ("topics", "all"):
            report["topics"] = _topics(wb, args.topics_model, args.baseline_topics_model, threads)
        print(json.dumps(report, indent=1, ensure_ascii=False))


def _extraction(wb: workbench.Session, model_dir: Path, held: list, speed_docs: int, rounds: int,
                threads: int) -> dict:
    """Strict F1 of the rules, the tagger and the extractor per precision; short documents per second."""
    import torch
    from transformers import AutoTokenizer, pipeline

    gazetteer = Gazetteer.from_lake(wb)
    extractors = {p: Extractor(gazetteer, Tagger(model_dir, threads, p)) for p in ("fp32", "bf16", "int8")}
    texts = [s.text for s in held]
    f1: dict[str, dict] = {"rules_baseline": _f1_table(score(held, Extractor(gazetteer).extract_many(texts)))}
    for name, extractor in extractors.items():
        assert extractor.tagger is not None and extractor.tagger.precision == name, "this CPU lacks native bf16"
        model = extractor.tagger.predict(texts)
        f1[f"model_only_{name}"] = _f1_table(score(held, model))
        f1[f"combined_{name}"] = _f1_table(score(held, extractor.combine(texts, model)))
    raw = pipeline("token-classification", model=str(model_dir), device="cpu", aggregation_strategy="simple",
                   tokenizer=AutoTokenizer.from_pretrained(model_dir, local_files_only=True))

    def raw_bf16(xs: list[str]) -> object:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return raw(xs, batch_size=16)

    sample = (texts * (speed_docs // max(1, len(texts)) + 1))[:speed_docs]
    shipped = extractors["bf16"]
    assert shipped.tagger is not None
    systems = {"raw_pipeline_fp32": lambda xs: raw(xs, batch_size=16), "raw_pipeline_bf16": raw_bf16,
               "tagger_bf16": shipped.tagger.predict,
               **{f"extractor_{name}": e.extract_many for name, e in extractors.items()}}
    for func in systems.values():
        func(sample[:64])  # warm up
    rates = _rates(systems, sample, rounds)
    ours, baseline = rates["extractor_bf16"]["docs_per_second"], rates["raw_pipeline_fp32"]["docs_per_second"]
    return {"card": json.loads((model_dir / "card.json").read_text()), "f1": f1, "speed_short_docs": {
        "torch_threads": torch.get_num_threads(), "docs": len(sample),
        "mean_chars": round(statistics.mean(map(len, sample)), 1), "rounds": rounds, **rates,
        "extractor_bf16_vs_raw_pipeline_fp32": round(ours / baseline, 2),
        "extractor_bf16_vs_raw_pipeline_bf16": round(ours / rates["raw_pipeline_bf16"]["docs_per_second"], 2),
        "extractor_int8_vs_raw_pipeline_fp32": round(rates["extractor_int8"]["docs_per_second"] / baseline, 2),
        "goal_met": ours >= 0.9 * baseline and ours >= 200}}


def _topics(wb: workbench.Session, model_dir: Path | None, baseline_dir: Path | None, threads: int) -> dict:
    """Classification figures on the world for the shipped classifier (e5 + character n-grams on topic)
    and the embeddings-only one it replaced, on the same documents, beside the majority class."""
    if "truth.document_labels" not in set(wb.tables()["name"].to_list()):
        return {"missing": "truth.document_labels is not in this world (regenerate it with the current demo)"}
    if model_dir is None:
        train_from_lake(wb, threads=threads)
        model_dir = classifier_dir(wb)
    if baseline_dir is None:
        baseline_dir = classifier_dir(wb).with_name("topics-e5-only")
        train_from_lake(wb, threads=threads, target=baseline_dir, chars=False)
    truth = wb.table("truth.document_labels")
    out: dict[str, dict] = {}
    for name, folder in (("e5_only", baseline_dir), ("e5_plus_chars", model_dir)):
        classifier = load_classifier(folder, threads)
        scores = evaluate_labels(wb, classifier, truth)
        for task in ("topic", "priority"):
            majority = truth[task].value_counts(sort=True)[0, "count"] / truth.height
            scores[task]["majority_accuracy"] = round(float(majority), 4)
        texts = wb.sql("SELECT text FROM documents.index")["text"].to_list()
        start = time.perf_counter()
        classifier.classify(texts)
        scores["documents_per_second"] = round(len(texts) / (time.perf_counter() - start), 1)
        scores["train_seconds"] = classifier.card["train_seconds"]
        out[name] = scores
    return out


if __name__ == "__main__":
    main()
