"""From per-word tag probabilities to whole-word entity spans.

The tagger scores every *word* of ``tagger.split_words`` (a Latin run, or one CJK
character, or one punctuation mark). Taking each word's best tag on its own, as the tagger
used to, emits what the tags say even where they make no sense: a Chinese name cut after
one character, ``I-`` tags that start a span, an amount split at ``-``. Here the tags of a
whole text are chosen together (Viterbi over the BIO grammar: ``I-X`` only after ``B-X``
or ``I-X``), and a span boundary *inside* a token costs ``boundary_penalty`` in log
probability:

- an English token is a run of non-space characters without its edge punctuation
  (``Kar-ho``, ``HK$4.8``, ``M.V``, ``No.3``): a span never splits it unless the model is
  very sure;
- a Chinese token is a word of the jieba segmenter (its dictionary ships in the wheel;
  the text is mapped character by character to Simplified script for it, which keeps
  every offset, because jieba's dictionary is a Simplified one). jieba mis-cuts
  Traditional text and rare names now and then, so its boundaries are evidence that
  the model's probabilities can overrule, not a rule.

Finally a span never keeps a leading qualifier the conventions leave outside (``about``,
``約``, ``suspected``, ``懷疑``; see ``benchmarks/data/ner_handwritten/README.md``), and a
lone Chinese character or punctuation mark is no entity: none of the nine labels is
written with one character (names of one character, such as 港 for Hong Kong, are
abbreviations that only the gazetteer and the recognisers may claim).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from workbench.nlp.spans import Span

LATIN_PENALTY = 6.0
"""Log-probability cost of a span edge inside an English token (e^-6: the model must be ~400x surer)."""
CJK_PENALTY = 3.0
"""Log-probability cost of a span edge inside a jieba word (chosen on the hand-written dev split)."""
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_EDGE = "\"'“”‘’「」『』()[]{}（）【】《》,，.。;；:：!！?？、"
_QUALIFIERS = {
    "MONEY": re.compile(r"^(?:(?:about|approximately|approx\.|around|over|nearly|some|almost|roughly|more than|"
                        r"less than|up to|at least|worth|valued at)\s+|(?:約|约|逾|近|超過|大約|多達|至少|值|價值|市值)+)",
                        re.IGNORECASE),
    "COMMODITY": re.compile(r"^(?:(?:suspected|alleged|smuggled|suspected smuggled)\s+|(?:懷疑|疑似|走私)+)",
                            re.IGNORECASE),
}


@lru_cache(maxsize=1)
def _jieba():
    """The jieba tokenizer and a Traditional -> Simplified map of single characters, loaded once per process."""
    import jieba
    import zhconv

    jieba.setLogLevel(logging.WARNING)
    tokenizer = jieba.Tokenizer()
    tokenizer.initialize()
    return tokenizer, zhconv


def _simplified(text: str) -> str:
    """``text`` with each character mapped to Simplified script where that is one character (offsets kept)."""
    _, zhconv = _jieba()
    out = []
    for ch in text:
        mapped = zhconv.convert(ch, "zh-cn") if _CJK.match(ch) else ch
        out.append(mapped if len(mapped) == 1 else ch)
    return "".join(out)


def tokens(text: str) -> list[tuple[int, int, bool]]:
    """``(start, end, cjk)`` of the tokens a span should not split (see the module docstring)."""
    out: list[tuple[int, int, bool]] = []
    for m in re.finditer(r"\S+", text):
        start, end = m.span()
        while start < end and text[start] in _EDGE:
            start += 1
        while end > start and text[end - 1] in _EDGE:
            end -= 1
        if end - start < 2:
            continue
        chunk = text[start:end]
        if not _CJK.search(chunk):
            out.append((start, end, False))
            continue
        tokenizer, _ = _jieba()
        for word, a, b in tokenizer.tokenize(_simplified(chunk)):
            if b - a > 1:
                out.append((start + a, start + b, bool(_CJK.search(word))))
    return out


def inside_penalties(text: str, words: Sequence[tuple[int, int]], latin: float = LATIN_PENALTY,
                     cjk: float = CJK_PENALTY) -> np.ndarray:
    """Per word, the cost of a span edge between it and the word before (0 where a token starts)."""
    cost = np.zeros(len(words), dtype=np.float32)
    if not words:
        return cost
    starts = np.array([a for a, _ in words])
    for start, end, is_cjk in tokens(text):
        first, last = np.searchsorted(starts, start), np.searchsorted(starts, end)
        cost[first + 1 : last] = np.maximum(cost[first + 1 : last], cjk if is_cjk else latin)
    return cost


def _transitions(tags: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Allowed (0) / forbidden (-inf) transitions of the BIO grammar, the start scores, and which
    transitions put a span edge between two words (1.0) or not (0.0, ``X -> I-X`` and ``O -> O``)."""
    n = len(tags)
    allowed = np.zeros((n, n), dtype=np.float32)
    edge = np.ones((n, n), dtype=np.float32)
    for j, to in enumerate(tags):
        for i, frm in enumerate(tags):
            if to.startswith("I-") and frm[2:] != to[2:]:
                allowed[i, j] = -np.inf
            if (to.startswith("I-") and frm[2:] == to[2:]) or (to == "O" and frm == "O"):
                edge[i, j] = 0.0
    start = np.array([-np.inf if t.startswith("I-") else 0.0 for t in tags], dtype=np.float32)
    return allowed, start, edge


def viterbi(log_probs: np.ndarray, tags: Sequence[str], penalties: np.ndarray | None = None) -> list[int]:
    """The best tag sequence under the BIO grammar; ``penalties[w]`` is charged for a span edge before word w."""
    n_words = log_probs.shape[0]
    if n_words == 0:
        return []
    allowed, start, edge = _transitions(tuple(tags))
    penalties = np.zeros(n_words, dtype=np.float32) if penalties is None else penalties
    score = start + log_probs[0]
    back = np.zeros((n_words, len(tags)), dtype=np.int64)
    for w in range(1, n_words):
        step = score[:, None] + allowed - penalties[w] * edge
        back[w] = step.argmax(axis=0)
        score = step.max(axis=0) + log_probs[w]
    path = [int(score.argmax())]
    for w in range(n_words - 1, 0, -1):
        path.append(int(back[w, path[-1]]))
    return path[::-1]


def trim_qualifier(text: str, span: Span) -> Span | None:
    """``span`` without a leading qualifier its label's convention leaves outside; None if nothing is left."""
    pattern = _QUALIFIERS.get(span.label)
    m = pattern.match(span.text) if pattern else None
    if not m:
        return span
    start = span.start + m.end()
    while start < span.end and text[start].isspace():
        start += 1
    if start >= span.end:
        return None
    return Span(start, span.end, span.label, text[start:span.end], span.value, span.source, span.score)


def lone_character(text: str) -> bool:
    """Whether ``text`` is one CJK character or one punctuation mark (never an entity on its own)."""
    return len(text) == 1 and not text.isascii() or (len(text) == 1 and not text.isalnum())
