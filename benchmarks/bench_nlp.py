"""Benchmark of NLP: entity extraction on hand-written text and on the world, training time, classification.

- **Hand-written text** (``benchmarks/data/ner_handwritten``, written by hand, never
  trained on): strict entity P/R/F1 per label and per language on the dev and the test
  split, for the recognisers alone (the baseline), the tagger alone and the full
  extractor. This is the figure that says whether the tagger reads.
- **The world's documents**, which the tagger never trains on: the tagger alone, and the
  full extractor with a gazetteer built from a *different* world (``--foreign-seed``: the
  names it knows are not the ones in these documents, as with real reports), beside the
  full extractor with the world's own gazetteer, which is a lookup of the very tables the
  documents were filled from and so an upper bound, not a measure of reading. Each with
  the tagger in each ``settings.nlp_precision`` (fp32, bf16 as shipped, int8).
- Short documents per second with torch on every core, interleaved over ``--rounds``
  rounds (median; the machine is shared): a raw transformers ``token-classification``
  pipeline on the same checkpoint (the baseline), our tagger (bf16) and our extractor in
  each precision. CPU-seconds rates are printed beside the wall-clock ones.
- Training time of the tagger (goal: <= 180 s on 2 cores) and of the classifier, from their cards.
- Topic and priority classification on the hand-written test split
  (``benchmarks/data/topics_handwritten/test.jsonl``: 200 documents, nothing fitted or
  chosen on them; ``C`` and the temperature come from the hand-written calibration split)
  and on the world's documents (needs ``truth.document_labels`` in the world), overall and
  per language: macro-F1, accuracy and expected calibration error (10 equal-width bins) of
  the raw and calibrated heads, beside a majority-class baseline and a TF-IDF (character
  1-3-grams) + logistic regression baseline trained on the same corpus documents and
  calibrated the same way.

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
from workbench.nlp.classify import (  # noqa: E402
    CORPUS_DOCUMENTS,
    char_view,
    evaluate_labels,
    load_classifier,
    score_labels,
    train_from_lake,
)
from workbench.nlp.corpus import generate_corpus  # noqa: E402
from workbench.nlp.encoder import ENCODER_DIR, convert  # noqa: E402
from workbench.nlp.extract import Extractor  # noqa: E402
from workbench.nlp.gazetteer import Gazetteer  # noqa: E402
from workbench.nlp.models import NER_MODEL, TOPICS_MODEL, model_cache  # noqa: E402
from workbench.nlp.tagger import Tagger  # noqa: E402
from workbench.nlp.training import gold_sentences, score, train, training_sentences, world_sentences  # noqa: E402

HANDWRITTEN = Path(__file__).resolve().parent / "data" / "ner_handwritten"
TOPICS_TEST = Path(__file__).resolve().parent / "data" / "topics_handwritten" / "test.jsonl"


def _f1_table(report: dict[str, dict]) -> dict[str, dict[str, float]]:
    return {language: {label: m["f1-score"] for label, m in labels.items() if label != "weighted avg"}
            for language, labels in report.items()}


def _prf_table(report: dict[str, dict]) -> dict[str, dict[str, dict[str, float]]]:
    """Per language and label: precision, recall, F1 and support."""
    return {language: {label: {k: m[k] for k in ("precision", "recall", "f1-score", "support")}
                       for label, m in labels.items() if label != "weighted avg"} for language, labels in report.items()}


def _handwritten(model_dir: Path, threads: int) -> dict:
    """Strict scores on the hand-written dev and test splits: recognisers alone, tagger alone, full extractor
    (no gazetteer: these sentences name parties no lake knows)."""
    tagger = Tagger(model_dir, threads, "bf16")
    out: dict[str, dict] = {}
    for split in ("dev", "test"):
        gold = gold_sentences(HANDWRITTEN / f"{split}.jsonl")
        texts = [s.text for s in gold]
        model = tagger.predict(texts)
        rules = Extractor(Gazetteer([]))
        out[split] = {"sentences": {lang: sum(s.language == lang for s in gold) for lang in ("en", "zh")},
                      "recognisers_only": _prf_table(score(gold, rules.extract_many(texts))),
                      "tagger_only": _prf_table(score(gold, model)),
                      "extractor": _prf_table(score(gold, Extractor(Gazetteer([]), tagger).combine(texts, model)))}
    return out


def _foreign_gazetteer(seed: int, scale: float, folder: str) -> Gazetteer:
    """The gazetteer of another world (another seed): names the documents being scored were not filled from."""
    from workbench.demo.load import load_world

    wb = workbench.connect(f"{folder}/foreign", user="bench")
    load_world(wb.lake, seed=seed, scale=scale, actor="bench")
    return Gazetteer.from_lake(wb)


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
    parser.add_argument("--foreign-seed", type=int, default=20_261_206,
                        help="Seed of the other world whose gazetteer the full extractor uses on this world.")
    parser.add_argument("--foreign-scale", type=float, default=0.2, help="Scale of that other world.")
    parser.add_argument("--speed-docs", type=int, default=600, help="Short documents per timed run (0: no timing).")
    parser.add_argument("--precisions", nargs="+", choices=("fp32", "bf16", "int8"), default=["fp32", "bf16", "int8"],
                        help="Tagger precisions scored on the world (bf16 is the shipped one).")
    parser.add_argument("--rounds", type=int, default=3, help="Interleaved timed runs per system.")
    parser.add_argument("--tasks", choices=("ner", "topics", "all"), default="all")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                        help="Torch threads (default: one per core; 1 on a busy machine).")
    args = parser.parse_args()

    import torch

    threads = args.threads
    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copytree(args.world, f"{tmp}/lake", ignore=shutil.ignore_patterns("models"))
        wb = workbench.connect(f"{tmp}/lake", user="bench")
        report: dict[str, object] = {}
        if args.tasks in ("ner", "all"):
            held = world_sentences(wb, wb.sql('SELECT doc_id, "start", "end", label FROM truth.document_entities'))
            model_dir = args.model
            if model_dir is None:
                model_dir = model_cache(wb) / NER_MODEL
                train(convert(model_cache(wb) / ENCODER_DIR), model_dir, training_sentences(wb), threads=threads)
            report = {"handwritten": _handwritten(model_dir, threads), "world_sentences": len(held),
                      **_extraction(wb, model_dir, held, _foreign_gazetteer(args.foreign_seed, args.foreign_scale, tmp),
                                    args.speed_docs, args.rounds, threads, args.precisions)}
        if args.tasks in ("topics", "all"):
            report["topics"] = _topics(wb, args.topics_model, args.baseline_topics_model, threads)
        print(json.dumps(report, indent=1, ensure_ascii=False))


def _extraction(wb: workbench.Session, model_dir: Path, held: list, foreign: Gazetteer, speed_docs: int,
                rounds: int, threads: int, precisions: list[str]) -> dict:
    """Strict F1 on the world: rules, tagger alone, the extractor with a foreign and with the world's own
    gazetteer, per precision; short documents per second (all three precisions; skipped for ``speed_docs=0``)."""
    import torch
    from transformers import AutoTokenizer, pipeline

    own = Gazetteer.from_lake(wb)
    extractors = {p: Extractor(foreign, Tagger(model_dir, threads, p)) for p in precisions}
    texts = [s.text for s in held]
    f1: dict[str, dict] = {"rules_foreign_gazetteer": _f1_table(score(held, Extractor(foreign).extract_many(texts))),
                           "rules_own_gazetteer_lookup": _f1_table(score(held, Extractor(own).extract_many(texts)))}
    for name, extractor in extractors.items():
        assert extractor.tagger is not None and extractor.tagger.precision == name, "this CPU lacks native bf16"
        model = extractor.tagger.predict(texts)
        f1[f"tagger_only_{name}"] = _f1_table(score(held, model))
        f1[f"extractor_foreign_gazetteer_{name}"] = _f1_table(score(held, extractor.combine(texts, model)))
        f1[f"extractor_own_gazetteer_lookup_{name}"] = _f1_table(
            score(held, Extractor(own, extractor.tagger).combine(texts, model)))
    card = json.loads((model_dir / "card.json").read_text())
    if not speed_docs:
        return {"card": card, "f1": f1}
    extractors.update({p: Extractor(foreign, Tagger(model_dir, threads, p)) for p in ("fp32", "bf16", "int8")
                       if p not in extractors})
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
    return {"card": card, "f1": f1, "speed_short_docs": {
        "torch_threads": torch.get_num_threads(), "docs": len(sample),
        "mean_chars": round(statistics.mean(map(len, sample)), 1), "rounds": rounds, **rates,
        "extractor_bf16_vs_raw_pipeline_fp32": round(ours / baseline, 2),
        "extractor_bf16_vs_raw_pipeline_bf16": round(ours / rates["raw_pipeline_bf16"]["docs_per_second"], 2),
        "extractor_int8_vs_raw_pipeline_fp32": round(rates["extractor_int8"]["docs_per_second"] / baseline, 2),
        "goal_met": ours >= 0.9 * baseline and ours >= 200}}


def _topics(wb: workbench.Session, model_dir: Path | None, baseline_dir: Path | None, threads: int) -> dict:
    """Classification on the hand-written test split and on the world (both held out) for the shipped classifier
    (e5 + character n-grams on topic) and the embeddings-only one, beside the majority class and a TF-IDF +
    logistic regression baseline."""
    if model_dir is None:
        model_dir = model_cache(wb) / TOPICS_MODEL
        train_from_lake(wb, threads=threads, target=model_dir)
    if baseline_dir is None:
        baseline_dir = model_cache(wb) / "topics-e5-only"
        train_from_lake(wb, threads=threads, target=baseline_dir, chars=False)
    test_rows = [json.loads(line) for line in TOPICS_TEST.read_text(encoding="utf-8").splitlines() if line.strip()]
    test = {"texts": [r["text"] for r in test_rows], "languages": [r["language"] for r in test_rows],
            "truth": {task: [r[task] for r in test_rows] for task in ("topic", "priority")}}
    world = None
    if "truth.document_labels" in set(wb.tables()["name"].to_list()):
        docs = wb.sql("SELECT doc_id, language, text FROM documents.index ORDER BY doc_id").join(
            wb.table("truth.document_labels"), on="doc_id")
        world = {"texts": [t or "" for t in docs["text"].to_list()], "languages": docs["language"].to_list(),
                 "truth": {task: docs[task].to_list() for task in ("topic", "priority")}}
    out: dict[str, dict] = {"handwritten_test": {"baselines": _baselines(test)},
                            "world": {"baselines": _baselines(world)} if world else
                            {"missing": "truth.document_labels is not in this world (regenerate it with the current demo)"}}
    for name, folder in (("e5_only", baseline_dir), ("e5_plus_chars", model_dir)):
        classifier = load_classifier(folder, threads)
        chosen = {"C": classifier.card.get("C"), "temperature": classifier.card.get("temperature"),
                  "calibration_log_loss_by_C": classifier.card.get("calibration_log_loss_by_C"),
                  "train_seconds": classifier.card["train_seconds"]}
        out["handwritten_test"][name] = {**score_labels(classifier, test["texts"], test["truth"], test["languages"]),
                                         **chosen}
        if world:
            start = time.perf_counter()
            out["world"][name] = evaluate_labels(wb, classifier, wb.table("truth.document_labels"))
            out["world"][name]["documents_per_second"] = round(len(world["texts"]) / (time.perf_counter() - start), 1)
    return out


def _baselines(held: dict | None) -> dict:
    """Majority class and TF-IDF (character 1-3-grams) + logistic regression, trained on the same corpus documents
    as the classifier and calibrated the same way (``calibrated_head`` on the hand-written calibration split),
    scored on ``held`` (texts, truth per task)."""
    import numpy as np
    from sklearn.metrics import f1_score

    from workbench.nlp.classify import calibrated_head, expected_calibration_error, handwritten_examples

    if held is None:
        return {}
    corpus = generate_corpus(CORPUS_DOCUMENTS, seed=0)
    calibration = handwritten_examples()
    view = char_view().fit([d.text for d in corpus])
    out: dict[str, dict] = {}
    for task in ("topic", "priority"):
        truth = np.array(held["truth"][task])
        labels = [getattr(d, task) for d in corpus]
        majority = max(set(labels), key=labels.count)
        heads, chosen = calibrated_head(view.transform([d.text for d in corpus]), labels,
                                        view.transform(calibration[task][0]), calibration[task][1], seed=0)
        probs = heads["calibrated"].predict_proba(view.transform(held["texts"]))
        predicted = np.array(heads["calibrated"].classes_)[probs.argmax(axis=1)]
        out[task] = {
            "majority": {"label": majority, "accuracy": round(float((truth == majority).mean()), 4),
                         "macro_f1": round(float(f1_score(truth, np.full(len(truth), majority), average="macro",
                                                          zero_division=0)), 4)},
            "tfidf_chars_logreg": {"accuracy": round(float((predicted == truth).mean()), 4),
                                   "macro_f1": round(float(f1_score(truth, predicted, average="macro",
                                                                    zero_division=0)), 4),
                                   "ece": expected_calibration_error(probs.max(axis=1), predicted == truth),
                                   "C": chosen["C"], "temperature": chosen["temperature"]}}
    return out


if __name__ == "__main__":
    main()
