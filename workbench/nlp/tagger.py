"""The transformer token classifier: words in, character-offset spans out.

Text is first cut into *words* of our own: runs of Latin letters and digits, and every
other non-space character on its own (each CJK character, each punctuation mark, each
emoji). Each word is tokenised separately, so no word piece can straddle an entity edge
(XLM-R pieces such as ``在香港`` or ``80)`` would otherwise cross 1-3.5% of entity edges)
and every prediction maps back to exact character offsets. A word gets the ``▁`` prefix
only when whitespace precedes it, as SentencePiece would have produced, so Chinese text
is not sprinkled with word starts the pretrained encoder never saw.

Long texts are cut into windows of at most ``MAX_TOKENS`` tokens that overlap by
``OVERLAP`` tokens; a word takes its tag probabilities from the window in which it sits
farthest from an edge, so an entity on a window boundary is still seen with context on
both sides. The tags of a text are then chosen together, under the BIO grammar and with
English tokens and Chinese words kept whole (``workbench.nlp.decode``).

Speed on CPU (short notes are the common case), and why each choice:

- ``precision`` (``settings.nlp_precision``): ``bf16`` (the default) runs the matrix
  products in bfloat16 under ``torch.autocast`` (LayerNorm, softmax and the weights'
  master copy stay fp32). On a CPU with native bf16 (AVX512-BF16/AMX) it ran 1.4x fp32
  in the same benchmark run (1.6x per core alone) with the same strict F1 on the world's
  documents (.852 vs .853 tagger alone, .965 both merged).
  ``int8`` quantises every Linear layer dynamically (per-channel weights, per-batch
  activations; ``torch.ao.quantization.quantize_dynamic``): 2.2x fp32 (2.4x per core), but the
  tagger alone lost .038 F1 (.815) and the merged extractor .006 (.959 vs .965), and a
  text's result then depends slightly on its batch-mates (activation scales are per
  batch), so it is opt-in. Those figures are of the 12-layer tagger; the 10-layer one
  trained since loses more: tagger alone .666 int8 against .794 bf16 on a scale-0.2
  world (bench_nlp, session 8), a reason more to keep it opt-in. ``fp32`` is the reference; ``bf16`` falls back to it on a CPU
  without native bf16, where emulation is slower than fp32. ``benchmarks/bench_nlp.py``
  measures all three;
- windows are sorted by length and packed into batches of at most ``BATCH_TOKENS`` padded
  tokens, so short texts go through in large batches with almost no padding and long ones
  in small batches;
- per-token results leave torch as one numpy array per batch, not one tensor index per token.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from workbench.nlp.decode import CJK_PENALTY, LATIN_PENALTY, inside_penalties, lone_character, trim_qualifier, viterbi
from workbench.nlp.encoder import load_normalisation, normalise
from workbench.nlp.spans import LABELS, Span

MAX_TOKENS = 256
OVERLAP = 64
BATCH_TOKENS = 4096
"""Padded tokens per forward pass: ~150 short sentences, or 16 full windows."""
TAGS: tuple[str, ...] = ("O",) + tuple(f"{p}-{label}" for label in LABELS for p in ("B", "I"))
CARD_FILE = "card.json"
Precision = Literal["fp32", "bf16", "int8"]
_WORD = re.compile(r"[A-Za-z0-9\u00C0-\u024F]+|\S")


@dataclass(frozen=True)
class Encoded:
    """Token ids of a word sequence and, per token, the index of its word (first piece only labelled)."""

    ids: list[int]
    word_of_token: list[int]
    first_piece: list[bool]


def split_words(text: str) -> list[tuple[int, int]]:
    """Character ranges of the words of ``text`` (see the module docstring)."""
    return [m.span() for m in _WORD.finditer(text)]


class WordEncoder:
    """Turns words into token ids with the converted tokenizer, caching pieces per word."""

    def __init__(self, tokenizer, normalisation: dict[int, str]) -> None:  # tokenizer: PreTrainedTokenizerFast
        self._model = tokenizer.backend_tokenizer.model
        self._norm = normalisation
        self._cache: dict[str, list[int]] = {}
        self.bos, self.eos, self.pad = tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id
        self.unk = tokenizer.unk_token_id

    def pieces(self, word: str, after_space: bool) -> list[int]:
        key = ("▁" if after_space else "") + normalise(word, self._norm)
        ids = self._cache.get(key)
        if ids is None:
            ids = [t.id for t in self._model.tokenize(key)] if key else []
            self._cache[key] = ids = ids or [self.unk]
        return ids

    def encode(self, text: str, words: Sequence[tuple[int, int]]) -> Encoded:
        ids: list[int] = []
        word_of: list[int] = []
        first: list[bool] = []
        for i, (start, end) in enumerate(words):
            pieces = self.pieces(text[start:end], start == 0 or text[start - 1].isspace())
            ids += pieces
            word_of += [i] * len(pieces)
            first += [True] + [False] * (len(pieces) - 1)
        return Encoded(ids, word_of, first)


def windows(n_tokens: int, size: int = MAX_TOKENS - 2, overlap: int = OVERLAP) -> list[tuple[int, int]]:
    """Token ranges covering ``n_tokens`` with ``overlap`` shared tokens between neighbours."""
    if n_tokens <= size:
        return [(0, n_tokens)]
    step = size - overlap
    starts = list(range(0, n_tokens - size, step)) + [n_tokens - size]
    return [(s, s + size) for s in starts]


def bio_spans(text: str, words: Sequence[tuple[int, int]], tags: Sequence[str],
              scores: Sequence[float]) -> list[Span]:
    """Decode word tags into spans; an ``I-X`` after anything but ``B/I-X`` starts a span (lenient BIO)."""
    spans: list[Span] = []
    current: tuple[int, int, str, list[float]] | None = None

    def close() -> None:
        if current:
            first, last, label, probs = current
            start, end = words[first][0], words[last][1]
            spans.append(Span(start, end, label, text[start:end], None, "model", round(float(np.mean(probs)), 4)))

    for i, (tag, score) in enumerate(zip(tags, scores)):
        prefix, _, label = tag.partition("-")
        if prefix == "I" and current and current[2] == label:
            current = (current[0], i, label, current[3] + [score])
            continue
        close()
        current = (i, i, label, [score]) if prefix in ("B", "I") else None
    close()
    return spans


class Tagger:
    """A fine-tuned token classifier loaded from a local folder (never from a hub)."""

    def __init__(self, model_dir: Path, threads: int | None = None, precision: Precision = "bf16") -> None:
        """``threads``: torch intra-op threads (None: torch's default, one per core); ``precision``: see the
        module docstring (``self.precision`` is the one in use after the bf16 fallback)."""
        import torch
        from transformers import AutoTokenizer, BertForTokenClassification

        if threads:
            torch.set_num_threads(threads)
        self.model_dir, self.threads, self._asked = model_dir, threads, precision
        model = BertForTokenClassification.from_pretrained(model_dir, local_files_only=True).eval()
        self.precision: Precision = "fp32" if precision == "bf16" and not native_bf16() else precision
        self.model = quantize_linear(model) if self.precision == "int8" else model
        self.encoder = WordEncoder(AutoTokenizer.from_pretrained(model_dir, local_files_only=True),
                                   load_normalisation(model_dir))
        self.tags = [model.config.id2label[i] for i in range(model.config.num_labels)]
        card = model_dir / CARD_FILE
        self.version = json.loads(card.read_text())["version"] if card.exists() else model_dir.name
        self.penalties: tuple[float, float] = (LATIN_PENALTY, CJK_PENALTY)
        """Span-edge costs inside an English token and inside a jieba word (``decode.inside_penalties``)."""

    def __reduce__(self):
        """Pickled as its folder and options: a Dask worker loads the weights itself, once (``models.load``)."""
        from workbench.nlp.models import load

        return load, (Tagger, self.model_dir, self.threads, self._asked)

    def predict(self, texts: Sequence[str], batch_tokens: int = BATCH_TOKENS) -> list[list[Span]]:
        """Spans per text, character-aligned and whole-word (``decode``); empty texts give no spans."""
        words = [split_words(t) for t in texts]
        return [self.decode(text, w, probs) for text, w, probs in zip(texts, words, self.word_log_probs(texts, words,
                                                                                                         batch_tokens))]

    def word_log_probs(self, texts: Sequence[str], words: Sequence[Sequence[tuple[int, int]]],
                       batch_tokens: int = BATCH_TOKENS) -> list[np.ndarray]:
        """Per text, a ``(words, tags)`` matrix of log probabilities, each word read in its most central window."""
        encoded = [self.encoder.encode(t, w) for t, w in zip(texts, words)]
        jobs = sorted(((doc, start, end) for doc, enc in enumerate(encoded) for start, end in windows(len(enc.ids))
                       if end > start), key=lambda job: job[2] - job[1])
        out = [np.zeros((len(w), len(self.tags)), dtype=np.float32) for w in words]
        margins = [np.full(len(w), -1, dtype=np.int64) for w in words]
        for batch in token_batches(jobs, batch_tokens):
            log_probs = self._forward([[self.encoder.bos, *encoded[doc].ids[start:end], self.encoder.eos]
                                       for doc, start, end in batch])
            for (doc, start, end), rows in zip(batch, log_probs):
                enc, n = encoded[doc], len(encoded[doc].ids)
                for t in range(start, end):
                    if not enc.first_piece[t]:
                        continue
                    margin = min(t - start if start else n, end - 1 - t if end < n else n)
                    word = enc.word_of_token[t]
                    if margin > margins[doc][word]:
                        margins[doc][word] = margin
                        out[doc][word] = rows[t - start + 1]  # +1 for <s>
        return out

    def decode(self, text: str, words: Sequence[tuple[int, int]], log_probs: np.ndarray) -> list[Span]:
        """Whole-word spans from word log probabilities (``workbench.nlp.decode``)."""
        path = viterbi(log_probs, self.tags, inside_penalties(text, words, *self.penalties))
        tags = [self.tags[i] for i in path]
        probs = [float(np.exp(log_probs[w, i])) for w, i in enumerate(path)]
        return [t for s in bio_spans(text, words, tags, probs)
                if (t := trim_qualifier(text, s)) is not None and not lone_character(t.text)]

    def _forward(self, rows: list[list[int]]) -> np.ndarray:
        """Log probabilities ``(rows, width, tags)`` per token of each row (rows right-padded into one batch)."""
        import torch

        width = max(map(len, rows))
        ids = torch.full((len(rows), width), self.encoder.pad, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for row, piece in enumerate(rows):
            ids[row, : len(piece)] = torch.tensor(piece)
            mask[row, : len(piece)] = 1
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.precision == "bf16"):
            logits = self.model(input_ids=ids, attention_mask=mask).logits
        return torch.log_softmax(logits.float(), dim=-1).numpy()


def token_batches(jobs: Sequence[tuple[int, int, int]], batch_tokens: int) -> list[list[tuple[int, int, int]]]:
    """Consecutive runs of length-sorted ``(doc, start, end)`` windows whose padded size fits ``batch_tokens``.

    Padded size is rows x (longest window + 2); a single window larger than the budget
    still gets a batch of its own.
    """
    batches: list[list[tuple[int, int, int]]] = []
    current: list[tuple[int, int, int]] = []
    for job in jobs:
        if current and (len(current) + 1) * (job[2] - job[1] + 2) > batch_tokens:
            batches.append(current)
            current = []
        current.append(job)
    return batches + ([current] if current else [])


def native_bf16() -> bool:
    """Whether this CPU multiplies bfloat16 natively (oneDNN's own check; False if torch cannot tell)."""
    import torch

    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def quantize_linear(model):  # torch.nn.Module -> torch.nn.Module
    """``model`` with every ``nn.Linear`` as a dynamically quantised int8 layer (per-channel int8 weights,
    activations quantised per batch); embeddings and LayerNorms stay fp32. See the module docstring."""
    import warnings

    import torch
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    with warnings.catch_warnings():  # torch 2.10+ points to torchao, whose CPU int8 path needs torch.compile
        warnings.simplefilter("ignore")
        return quantize_dynamic(model, {torch.nn.Linear: per_channel_dynamic_qconfig})
