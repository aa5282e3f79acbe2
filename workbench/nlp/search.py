"""Cross-lingual semantic search over ``curated.document_chunks``: best chunk per document.

The query is embedded with the ``"query: "`` prefix; every chunk vector is unit length,
so the score is one matrix-vector product. Why numpy and not DuckDB's
``array_cosine_similarity``: ``benchmarks/bench_nlp_search.py`` times both over the same
vectors, and a BLAS product over a float32 matrix held in memory took 96 ms for 100k
chunks where DuckDB scanning a ``FLOAT[384]`` column took 248 ms (1.6x at 10k, 2.6x at
100k, same top-10, on the shared 2-core machine); no vector database is needed at
100k chunks. The matrix is decoded once per table version and role and kept in this
process; every search still passes the session's gate (``Session.scan`` checks access and
audits) before the cached matrix is used, so a refused role gets no result from a cache
another role filled.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from workbench.errors import WorkbenchError
from workbench.session import Session
from workbench.nlp.embed import CHUNKS, encoder_dir, load_embedder, unpack

SNIPPET_CHARS = 200
_INDEX = "documents.index"


@dataclass(frozen=True)
class ChunkMatrix:
    """The chunk table of one version, decoded: metadata rows aligned with unit vectors."""

    rows: pl.DataFrame  # doc_id, title, language, chunk_no, start, end, text
    vectors: np.ndarray


_cache: dict[tuple[str, int, int, str], ChunkMatrix] = {}


def _matrix(wb: Session) -> ChunkMatrix:
    """The decoded chunk table; gate and audit run on every call, decoding only per new version."""
    if CHUNKS not in wb.lake.catalog.names():  # the whole catalog: a refused role gets AccessDenied below
        raise WorkbenchError(f"{CHUNKS} does not exist yet: run `workbench nlp process` to embed the documents")
    chunks, index = wb.scan(CHUNKS), wb.scan(_INDEX)
    key = (wb.lake.location.table_uri(CHUNKS), wb.lake.delta(CHUNKS).version(), wb.lake.delta(_INDEX).version(),
           wb.role)
    if key not in _cache:
        frame = chunks.join(index.select("doc_id", "title", "language"), on="doc_id", how="left").select(
            "doc_id", "title", "language", "chunk_no", "start", "end", "text", "embedding").collect()
        _cache.clear()  # one lake version at a time is enough for an analyst's process
        _cache[key] = ChunkMatrix(frame.drop("embedding"), unpack(frame["embedding"]))
    return _cache[key]


def search(wb: Session, query: str, k: int = 10, language: str | None = None,
           model_dir: Path | None = None) -> pl.DataFrame:
    """The ``k`` documents whose best chunk is closest to ``query`` (any language), best first.

    Columns: doc_id, title, language, score (cosine), chunk_no, start, end (character
    offsets of the chunk in the document's text) and snippet (the chunk, cut to
    ``SNIPPET_CHARS``). ``language`` ("en", "zh") keeps only documents in it.

    The search is an audited action of its own (the query a person typed is what an
    investigator looks for), and its reads go through the session's gate like any other.
    """
    if not query or not query.strip():
        raise WorkbenchError("search: the query is empty")
    if k < 1:
        raise WorkbenchError(f"search: k must be at least 1, not {k}")
    with wb.audit.action("search", query=query, k=k, language=language) as done:
        frame = _ranked(wb, query, k, language, model_dir)
        done["rows"] = frame.height
    return frame


def _ranked(wb: Session, query: str, k: int, language: str | None, model_dir: Path | None) -> pl.DataFrame:
    matrix = _matrix(wb)
    rows, vectors = matrix.rows, matrix.vectors
    if language is not None:
        keep = (rows["language"] == language).to_numpy()
        rows, vectors = rows.filter(pl.Series(keep)), vectors[keep]
    embedder = load_embedder(model_dir or encoder_dir(wb))
    scores = vectors @ embedder.encode([query], "query")[0]
    return (rows.with_columns(pl.Series("score", scores, dtype=pl.Float64))
            .sort("score", descending=True)
            .unique("doc_id", keep="first", maintain_order=True)
            .head(k)
            .select("doc_id", "title", "language", "score", "chunk_no", "start", "end",
                    pl.col("text").str.slice(0, SNIPPET_CHARS).alias("snippet")))
