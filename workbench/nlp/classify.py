"""Report classification: topic and triage priority of a document, with calibrated scores.

Design, and why: a frozen multilingual-e5-small encoder (``embed.Embedder``: ``passage:``
prefix, mean pooling, unit vectors) feeds two scikit-learn heads, each a logistic
regression trained on the corpus and then calibrated by temperature scaling on
hand-written documents. The topic head also reads a second view of the text: TF-IDF of
character 1-3-grams (``char_view``). A mean-pooled embedding of a whole note is dominated
by its boilerplate (boundary crossings, companies, sums), while the topic usually rests on
a few words naming the goods (香煙, 象牙, cigarettes, ivory); character n-grams keep those
words visible in both scripts without a word segmenter for Chinese, and the vocabulary is
fitted on training text only. The priority head also sees the largest sum the recognisers
parse from the text (a triage policy turns on HK$1m / HK$10m, which a sentence embedding
does not encode reliably). Fine-tuning a sequence classifier would cost several more
minutes of CPU per training on a shared 2-core machine for labels that a linear head over
e5 embeddings already separates; the head trains in seconds, and the embeddings are the
same ones semantic search stores.

Calibration, and why on hand-written text: the corpus (``workbench.nlp.corpus``) is
generated, so a head calibrated on it (or on another draw of it) is calibrated to the
generator's documents, not to reports people write (the raw heads are under-confident on
those by a wide margin). ``CALIBRATION_SET`` holds 120 short documents in English and
Traditional Chinese written by hand for this repository (press releases, court reports,
seizure and shipping notices, intelligence notes, forum and chat posts; labelled by the
triage policy of ``workbench.nlp.triage``); its sister split of 200 documents,
``benchmarks/data/topics_handwritten/test.jsonl``, is what the calibration error is
reported on and is never used for a choice. On the calibration split, each head's
regularisation ``C`` is chosen from ``C_GRID`` by the cross-validated log-loss of the
temperature-scaled head (a proper scoring rule: it rewards accuracy and calibration
together), then one temperature is fitted on the whole split (scikit-learn's
``CalibratedClassifierCV(FrozenEstimator(head), method="temperature")``). Temperature
scaling has one parameter and keeps the argmax, so 120 documents are enough for it;
Platt scaling one-vs-rest would fit two parameters per class.

Training data: ``workbench.nlp.corpus`` documents (their topic and priority labels) plus
the labels analysts gave documents in the labelling app (``workbench.labelling.document_labels``:
latest label per document and task). ``truth.*`` is never read here except by
``evaluate_labels``, which is handed the truth frame by its caller.

Public API (also used by the Dask batch job through ``processor``):

- ``train_classifier(encoder_dir, target, examples)`` -> card; ``DocumentClassifier(model_dir)``;
- ``DocumentClassifier.classify(texts)`` -> list of ``Triage``;
- ``classify_documents(wb, texts)`` -> Polars frame (topic, topic_score, priority, priority_score, model_version);
- ``processor(wb).update(wb)`` writes ``curated.document_topics`` incrementally with the registry's champion.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import polars as pl

from workbench.session import Session
from workbench.labelling import document_labels as analyst_labels
from workbench.nlp.corpus import generate_corpus
from workbench.nlp.embed import encoder_dir, load_embedder
from workbench.nlp.models import TOPICS_MODEL, Champion, ModelMissing, card_version, champion, load, register_trained
from workbench.nlp.processing import IncrementalProcessor
from workbench.nlp.recognisers import money_en, money_zh
from workbench.nlp.triage import PRIORITIES, TOPICS

if TYPE_CHECKING:
    from sklearn.feature_extraction.text import TfidfVectorizer

TOPICS_TABLE = "curated.document_topics"
MODEL_FILE = "heads.joblib"
CHARS_FILE = "chars.joblib"
"""The fitted character n-gram vectoriser of the topic head (absent in classifiers trained without it)."""
CARD_FILE = "card.json"
CORPUS_DOCUMENTS = 1200
"""Corpus documents the heads train on by default (embedding them takes ~1 min on 1 thread)."""
CALIBRATION_SET = Path(__file__).resolve().parent / "data" / "topics_calibration.jsonl"
"""Hand-written documents each head's ``C`` is chosen on and its temperature fitted on (see the module docstring)."""
C_GRID = (0.25, 1.0, 4.0, 16.0, 64.0, 256.0, 1024.0)
"""Inverse regularisation strengths tried (``calibrated_head``): wide enough that the choice is inside the grid."""
CALIBRATION_FOLDS = 5
TASKS = {"topic": TOPICS, "priority": PRIORITIES}
_TO_HKD = {"HKD": 1.0, "USD": 7.8, "CNY": 1.08, "EUR": 8.5}
_MONEY_EDGES = (5.0, 6.0, 7.0)
"""log10 HKD edges of the sum buckets (HK$100k, 1m, 10m): the triage policy's thresholds and one below."""
_SCHEMA = {"doc_id": pl.Utf8, "topic": pl.Utf8, "topic_score": pl.Float64, "priority": pl.Utf8,
           "priority_score": pl.Float64, "sha256": pl.Utf8, "model_version": pl.Utf8,
           "classified_at": pl.Datetime("us")}


@dataclass(frozen=True)
class Triage:
    """A document's topic and priority, each with its calibrated probability."""

    topic: str
    topic_score: float
    priority: str
    priority_score: float


def money_features(texts: Sequence[str]) -> np.ndarray:
    """One-hot bucket of the largest stated sum in HKD: none, <100k, <1m, <10m, >=10m."""
    out = np.zeros((len(texts), len(_MONEY_EDGES) + 2), dtype=np.float32)
    for row, text in enumerate(texts):
        amounts = [float(s.value.split()[1]) * _TO_HKD[s.value.split()[0]]
                   for s in [*money_en(text), *money_zh(text)] if s.value]
        top = max(amounts, default=0.0)
        out[row, 0 if top <= 0 else 1 + int(np.searchsorted(_MONEY_EDGES, math.log10(top), side="right"))] = 1.0
    return out


def char_view() -> TfidfVectorizer:
    """TF-IDF of character 1-3-grams (sublinear counts, L2 rows): see the module docstring for why."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True, min_df=2)


def _features(encoder: Path, texts: Sequence[str], threads: int | None,
              chars: TfidfVectorizer | None = None) -> tuple[Any, np.ndarray]:
    """The topic head's input (embeddings, plus ``chars``' n-grams when given) and the priority head's
    (embeddings + sum buckets)."""
    from scipy import sparse

    embedded = load_embedder(encoder, threads).encode(list(texts), "passage")
    topic = embedded if chars is None else sparse.hstack([sparse.csr_matrix(embedded),
                                                          chars.transform(list(texts))], format="csr")
    return topic, np.hstack([embedded, money_features(texts)])


def calibrated_head(train_x: Any, train_y: Sequence[str], calibration_x: Any, calibration_y: Sequence[str],
                    seed: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """The raw logistic regression (kept to measure calibration) and its temperature-scaled twin, plus what was chosen.

    For each ``C_GRID`` value the head is fitted on the training documents and scored on the
    calibration documents by cross-validated log-loss after temperature scaling (the
    temperature fitted on the other folds); the best ``C`` keeps its head, whose temperature
    is then fitted on all calibration documents. Returns ``({"raw", "calibrated"}, choice)``
    with ``choice = {"C", "temperature", "log_loss_by_C"}``.
    """
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.frozen import FrozenEstimator
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import log_loss
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    folds = StratifiedKFold(CALIBRATION_FOLDS, shuffle=True, random_state=seed)
    heads, losses = {}, {}
    for c in C_GRID:
        heads[c] = LogisticRegression(C=c, max_iter=3000, random_state=seed).fit(train_x, train_y)
        scaled = CalibratedClassifierCV(FrozenEstimator(heads[c]), method="temperature")
        held = cross_val_predict(scaled, calibration_x, calibration_y, cv=folds, method="predict_proba").astype(float)
        held /= held.sum(axis=1, keepdims=True)  # float32 features leave rows summing to 1 only within ~1e-7
        losses[c] = round(float(log_loss(calibration_y, held, labels=heads[c].classes_)), 4)
    best = min(C_GRID, key=lambda c: (losses[c], abs(np.log(c))))
    calibrated = CalibratedClassifierCV(FrozenEstimator(heads[best]), method="temperature").fit(calibration_x,
                                                                                                  calibration_y)
    temperature = 1.0 / float(calibrated.calibrated_classifiers_[0].calibrators[0].beta_)
    return ({"raw": heads[best], "calibrated": calibrated},
            {"C": best, "temperature": round(temperature, 4), "log_loss_by_C": {str(c): v for c, v in losses.items()}})


def handwritten_examples(path: Path = CALIBRATION_SET) -> dict[str, tuple[list[str], list[str]]]:
    """Per task, (texts, labels) of a hand-written set's JSON lines (``{"text", "topic", "priority", ...}``)."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return {task: ([r["text"] for r in rows], [r[task] for r in rows]) for task in TASKS}


def document_labels(wb: Session, task: str) -> pl.DataFrame:
    """Analysts' labels in force for documents and ``task`` (topic | priority): columns doc_id, value."""
    frame = analyst_labels(wb, task)
    return frame.filter(pl.col("target_kind") == "document").select(pl.col("target_id").alias("doc_id"), "value")


def training_examples(wb: Session, task: str, n_documents: int = CORPUS_DOCUMENTS,
                      seed: int = 0) -> tuple[list[str], list[str]]:
    """(texts, labels) for ``task``: corpus documents plus analysts' labelled documents."""
    corpus = generate_corpus(n_documents, seed)
    texts, labels = [d.text for d in corpus], [getattr(d, task) for d in corpus]
    labelled = document_labels(wb, task)
    if labelled.height:
        docs = wb.sql("SELECT doc_id, text FROM documents.index").join(labelled, on="doc_id")
        texts += [t or "" for t in docs["text"].to_list()]
        labels += docs["value"].to_list()
    return texts, labels


def train_classifier(encoder: Path, target: Path, examples: dict[str, tuple[list[str], list[str]]], *,
                     calibration: dict[str, tuple[list[str], list[str]]] | None = None, threads: int = 1,
                     seed: int = 0, chars: bool = True, extra_card: dict | None = None) -> dict:
    """Fit the topic and priority heads on ``examples[task] = (texts, labels)``, calibrate them; save to ``target``.

    ``calibration`` (same shape; default the hand-written ``CALIBRATION_SET``) is where each
    head's ``C`` is chosen and its temperature fitted (``calibrated_head``). ``chars=False``
    trains the topic head on the embeddings alone (the earlier design, kept so the benchmark
    can measure both in one run). Returns the card (also ``target/card.json``); its
    ``version`` is what ``curated.document_topics.model_version`` records.
    """
    import joblib

    started = time.perf_counter()
    calibration = calibration or handwritten_examples()
    unique = list(dict.fromkeys(t for part in (examples, calibration) for texts, _ in part.values() for t in texts))
    row = {text: i for i, text in enumerate(unique)}
    vectoriser = char_view().fit(examples["topic"][0]) if chars else None
    topic_x, priority_x = _features(encoder, unique, threads, vectoriser)
    heads, chosen = {}, {}
    for task, (texts, labels) in examples.items():
        x = topic_x if task == "topic" else priority_x
        calibration_texts, calibration_labels = calibration[task]
        heads[task], chosen[task] = calibrated_head(x[[row[t] for t in texts]], labels,
                                                    x[[row[t] for t in calibration_texts]], calibration_labels, seed)
    target.mkdir(parents=True, exist_ok=True)
    card = {"version": f"topics-e5small-{time.strftime('%Y%m%d%H%M%S')}", "encoder": os.path.relpath(encoder, target),
            "head": "LogisticRegression + temperature scaling (CalibratedClassifierCV(FrozenEstimator, "
                    "method='temperature')) on the calibration documents",
            "C": {task: c["C"] for task, c in chosen.items()},
            "temperature": {task: c["temperature"] for task, c in chosen.items()},
            "calibration_log_loss_by_C": {task: c["log_loss_by_C"] for task, c in chosen.items()},
            "topic_views": ["e5 mean-pooled", *(["char 1-3-gram tf-idf"] if chars else [])],
            "train_documents": {task: len(texts) for task, (texts, _) in examples.items()},
            "calibration_documents": {task: len(texts) for task, (texts, _) in calibration.items()},
            "train_seconds": round(time.perf_counter() - started, 1), **(extra_card or {})}
    joblib.dump(heads, target / MODEL_FILE)
    (target / CHARS_FILE).unlink(missing_ok=True)
    if vectoriser is not None:
        joblib.dump(vectoriser, target / CHARS_FILE)
    (target / CARD_FILE).write_text(json.dumps(card, indent=1))
    return card


class DocumentClassifier:
    """Loaded heads plus the encoder they were trained on; ``classify`` texts -> topic and priority."""

    def __init__(self, model_dir: Path, threads: int | None = 1) -> None:
        import joblib

        self.model_dir, self.threads = model_dir, threads
        self.card = json.loads((model_dir / CARD_FILE).read_text())
        self.version: str = self.card["version"]
        self.encoder = (model_dir / self.card["encoder"]).resolve()  # stored relative: the cache may move
        self.heads: dict[str, dict[str, Any]] = joblib.load(model_dir / MODEL_FILE)
        self.chars = joblib.load(model_dir / CHARS_FILE) if (model_dir / CHARS_FILE).exists() else None

    def __reduce__(self):
        """Pickled as its folder: a Dask worker loads the heads itself, once."""
        return load, (DocumentClassifier, self.model_dir, self.threads)

    def probabilities(self, texts: Sequence[str], kinds: Sequence[str] = ("calibrated",)
                      ) -> dict[str, dict[str, tuple[list[str], np.ndarray]]]:
        """Per head kind (``calibrated``, ``raw``) and task, (class names, probability matrix).

        The texts are embedded once whatever the number of kinds asked for.
        """
        topic_x, priority_x = _features(self.encoder, texts, self.threads, self.chars)
        out: dict[str, dict[str, tuple[list[str], np.ndarray]]] = {}
        for kind in kinds:
            out[kind] = {}
            for task, x in (("topic", topic_x), ("priority", priority_x)):
                head = self.heads[task][kind]
                classes = [str(c) for c in head.classes_]
                out[kind][task] = (classes, head.predict_proba(x) if x.shape[0] else np.zeros((0, len(classes))))
        return out

    def classify(self, texts: Sequence[str]) -> list[Triage]:
        """Most probable topic and priority per text, with calibrated probabilities; [] for no texts."""
        if not texts:
            return []
        probs = self.probabilities(texts)["calibrated"]
        (topics, tp), (priorities, pp) = probs["topic"], probs["priority"]
        return [Triage(topics[int(t.argmax())], round(float(t.max()), 4),
                               priorities[int(p.argmax())], round(float(p.max()), 4)) for t, p in zip(tp, pp)]


TRAIN_TOPICS = "workbench nlp train --task topics"


def registered_classifier(wb: Session, hint: str = "") -> Champion:
    """The registry's ``topics`` champion (``ModelMissing`` naming the command that trains one, and ``hint``)."""
    return champion(wb, TOPICS_MODEL, TRAIN_TOPICS, hint)


def load_classifier(model_dir: Path, threads: int | None = 1) -> DocumentClassifier:
    """The classifier of ``model_dir``, loaded once per process (``models.load``)."""
    return load(DocumentClassifier, model_dir, threads)


def classify_documents(wb: Session, texts: Sequence[str], model_dir: Path | None = None) -> pl.DataFrame:
    """Topic and priority of each text with ``model_dir``'s classifier, default the registry's champion
    (one row per text, in order; ``model_version`` names the registry version, ``topics/<n>``)."""
    chosen = registered_classifier(wb) if model_dir is None else None
    classifier = load_classifier(chosen.folder if chosen else model_dir)
    rows = [vars(c) for c in classifier.classify(texts)]
    return pl.DataFrame(rows, schema={k: _SCHEMA[k] for k in ("topic", "topic_score", "priority", "priority_score")}
                        ).with_columns(pl.lit(chosen.version if chosen else classifier.version).alias("model_version"))


@dataclass(frozen=True)
class TopicClassifier(IncrementalProcessor):
    """The topics processor (``workbench.nlp.processing``): classifies new or changed documents.

    ``version`` is what ``model_version`` records: the registry version (``topics/<n>``), or the card's
    for a folder that is no registry version (``of_folder``)."""

    model_dir: Path
    model_version: str
    threads: int | None = 1
    name: ClassVar[str] = "topics"
    table: ClassVar[str] = TOPICS_TABLE
    schema: ClassVar[dict] = _SCHEMA
    time_column: ClassVar[str | None] = "classified_at"
    description: ClassVar[str] = "Topic and triage priority of each document, with calibrated scores."

    @property
    def version(self) -> str:
        return self.model_version

    @classmethod
    def of_folder(cls, model_dir: Path, threads: int | None = 1) -> TopicClassifier:
        return cls(model_dir, card_version(model_dir), threads)

    def apply(self, texts: list[str]) -> list[Triage]:
        return load_classifier(self.model_dir, self.threads).classify(texts)

    def rows(self, result: Triage) -> list[dict[str, Any]]:
        return [vars(result)]


def processor(wb: Session, model_dir: Path | None = None) -> TopicClassifier | None:
    """The topic processor for the batch job (``model_dir``'s, default the registry champion's), or None while
    no classifier is trained."""
    if model_dir is not None:
        return TopicClassifier.of_folder(model_dir) if (model_dir / CARD_FILE).exists() else None
    try:
        chosen = registered_classifier(wb)
    except ModelMissing:
        return None
    return TopicClassifier(chosen.folder, chosen.version)


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = 10) -> float:
    """ECE of top-label confidences: the bin-weighted gap between confidence and accuracy."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        in_bin = index == b
        if in_bin.any():
            total += in_bin.mean() * abs(float(correct[in_bin].mean()) - float(confidence[in_bin].mean()))
    return round(total, 4)


def evaluate_labels(wb: Session, classifier: DocumentClassifier, truth: pl.DataFrame) -> dict[str, dict]:
    """``score_labels`` on the lake's documents.

    ``truth`` (doc_id, topic, priority) is passed in by the caller; documents analysts
    labelled are training data and are skipped.
    """
    labelled = set(document_labels(wb, "topic")["doc_id"]) | set(document_labels(wb, "priority")["doc_id"])
    docs = wb.sql("SELECT doc_id, language, text FROM documents.index ORDER BY doc_id").join(
        truth.select("doc_id", "topic", "priority"), on="doc_id").filter(~pl.col("doc_id").is_in(list(labelled)))
    return score_labels(classifier, [t or "" for t in docs["text"].to_list()],
                        {task: docs[task].to_list() for task in TASKS}, docs["language"].to_list())


def score_labels(classifier: DocumentClassifier, texts: Sequence[str], truth: dict[str, Sequence[str]],
                 languages: Sequence[str], bins: int = 10) -> dict[str, dict]:
    """Per task: macro-F1, accuracy, per-language and per-class figures, and the ECE of the raw and the calibrated
    heads (``bins`` equal-width bins), for ``texts`` whose labels are ``truth[task]``."""
    from sklearn.metrics import classification_report, f1_score

    probs = classifier.probabilities(texts, kinds=("raw", "calibrated"))
    out: dict[str, dict] = {"documents": {"count": len(texts), "ece_bins": bins}}
    languages = np.array(languages)
    for task in TASKS:
        truth_labels = np.array(truth[task])
        report: dict[str, Any] = {}
        for kind in ("raw", "calibrated"):
            classes, matrix = probs[kind][task]
            predicted = np.array(classes)[matrix.argmax(axis=1)]
            report[f"ece_{kind}"] = expected_calibration_error(matrix.max(axis=1), predicted == truth_labels, bins)
            if kind == "calibrated":
                present = sorted(set(truth_labels) | set(predicted))
                report["macro_f1"] = round(float(f1_score(truth_labels, predicted, labels=present, average="macro",
                                                          zero_division=0)), 4)
                report["accuracy"] = round(float((predicted == truth_labels).mean()), 4)
                report["per_language"] = {
                    language: {"documents": int(mine.sum()),
                               "macro_f1": round(float(f1_score(truth_labels[mine], predicted[mine], average="macro",
                                                                zero_division=0)), 4),
                               "accuracy": round(float((predicted[mine] == truth_labels[mine]).mean()), 4),
                               "ece": expected_calibration_error(matrix.max(axis=1)[mine],
                                                                 predicted[mine] == truth_labels[mine], bins)}
                    for language in sorted(set(languages)) for mine in [languages == language]}
                report["per_class"] = {k: {m: round(float(v), 4) for m, v in vals.items()} for k, vals in
                                       classification_report(truth_labels, predicted, output_dict=True,
                                                             zero_division=0).items() if isinstance(vals, dict)}
        out[task] = report
    return out


def train_from_lake(wb: Session, *, n_documents: int = CORPUS_DOCUMENTS, threads: int = 1, seed: int = 0,
                    target: Path | None = None, chars: bool = True) -> dict:
    """Train the heads from the corpus and the lake's analyst labels into ``target``, or without one into a
    new registry version of ``topics`` (``card["registered"]`` names it); the card."""
    examples = {task: training_examples(wb, task, n_documents, seed) for task in TASKS}

    def fit(folder: Path) -> dict:
        return train_classifier(encoder_dir(wb), folder, examples, threads=threads, seed=seed, chars=chars)

    if target is not None:
        return fit(target)
    version, card = register_trained(wb, TOPICS_MODEL, fit, "Topic and triage priority of documents")
    return {**card, "registered": version}
