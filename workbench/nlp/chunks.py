"""Cut a document into overlapping token windows whose character offsets are exact.

Search embeds chunks, not whole documents: multilingual-e5 reads at most 512 tokens and
a short passage embeds one topic, so a note about several seizures is found by each of
them. Chunks reuse the tagger's word split and token windows (``tagger.split_words``,
``tagger.windows``): a chunk always starts and ends on a word edge (never inside a Latin
word, a CJK character or an emoji), so ``text[start:end]`` is the chunk's text whatever
the script, and neighbouring chunks overlap by ``overlap`` tokens so a sentence cut by one
boundary is whole in the next chunk.
"""

from __future__ import annotations

from dataclasses import dataclass

from workbench.nlp.tagger import WordEncoder, split_words, windows

CHUNK_TOKENS = 128
"""Tokens per chunk: about three template sentences, short enough for one topic."""
CHUNK_OVERLAP = 32


@dataclass(frozen=True)
class Chunk:
    """``text == document[start:end]``; ``chunk_no`` counts from 0 within the document."""

    chunk_no: int
    start: int
    end: int
    text: str


def chunk_text(text: str, encoder: WordEncoder, size: int = CHUNK_TOKENS, overlap: int = CHUNK_OVERLAP) -> list[Chunk]:
    """Chunks of ``text`` (none for empty or whitespace-only text), in document order."""
    words = split_words(text)
    if not words:
        return []
    encoded = encoder.encode(text, words)
    chunks: list[Chunk] = []
    for first, last in windows(len(encoded.ids), size=size, overlap=overlap):
        start = words[encoded.word_of_token[first]][0]
        end = words[encoded.word_of_token[last - 1]][1]
        if chunks and (start, end) == (chunks[-1].start, chunks[-1].end):
            continue  # one word longer than a window yields the same range twice
        chunks.append(Chunk(len(chunks), start, end, text[start:end]))
    return chunks
