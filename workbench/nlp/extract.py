"""Entity extraction: recognisers + gazetteer + tagger, merged; and the batch job over the documents zone.

``Extractor.extract(text)`` is the single-text entry point; ``update_mentions`` runs it
over ``documents.index`` and writes ``curated.document_mentions``. The batch job is
incremental: ``curated.document_mention_runs`` remembers, per document, the sha256 of the
text and the model version it was extracted with, and only documents that are new, whose
content changed, or that an older model processed are extracted again. Nothing here
reads ``truth.*``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from workbench.explore import Session
from workbench.nlp.gazetteer import Gazetteer
from workbench.nlp.merge import merge
from workbench.nlp.recognisers import recognise
from workbench.nlp.spans import Span
from workbench.nlp.tagger import Tagger

MENTIONS = "curated.document_mentions"
RUNS = "curated.document_mention_runs"
RULES_ONLY = "rules-only"
"""Model version recorded when no trained tagger is available (recognisers + gazetteer)."""
_MENTION_SCHEMA = {"doc_id": pl.Utf8, "start": pl.Int64, "end": pl.Int64, "label": pl.Utf8, "text": pl.Utf8,
                   "value": pl.Utf8, "source": pl.Utf8, "score": pl.Float64, "model_version": pl.Utf8}


def model_cache(wb: Session) -> Path:
    """Where NLP models live: ``<lake root>/models/nlp`` for a local lake, else the user's cache."""
    if wb.lake.location.is_remote:
        return Path.home() / ".cache" / "workbench" / "models" / "nlp"
    return Path(wb.settings.lake).expanduser() / "models" / "nlp"


class Extractor:
    """Recognisers, a gazetteer and optionally a tagger, combined by the merge policy."""

    def __init__(self, gazetteer: Gazetteer, tagger: Tagger | None = None) -> None:
        self.gazetteer = gazetteer
        self.tagger = tagger
        self.version = tagger.version if tagger else RULES_ONLY

    @classmethod
    def from_lake(cls, wb: Session, model_dir: Path | None = None, threads: int | None = None) -> Extractor:
        """Gazetteer from the lake, tagger from ``model_dir`` (default: the cache's ``ner``) if it exists."""
        model_dir = model_dir or model_cache(wb) / "ner"
        tagger = (Tagger(model_dir, threads, wb.settings.nlp_precision) if (model_dir / "config.json").exists()
                  else None)
        return cls(Gazetteer.from_lake(wb), tagger)

    def extract_many(self, texts: Sequence[str]) -> list[list[Span]]:
        """Merged spans per text; the tagger sees the texts in batches."""
        return self.combine(texts, self.tagger.predict(texts) if self.tagger else [[] for _ in texts])

    def combine(self, texts: Sequence[str], model: Sequence[Sequence[Span]]) -> list[list[Span]]:
        """Recogniser and gazetteer spans of each text merged with the tagger's spans ``model`` of it."""
        return [merge([*recognise(text), *self.gazetteer.find(text), *spans]) for text, spans in zip(texts, model)]

    def extract(self, text: str) -> list[Span]:
        """Merged, non-overlapping spans of one text, with character offsets into it."""
        return self.extract_many([text])[0]


def _existing(wb: Session, name: str) -> pl.DataFrame | None:
    return wb.table(name) if name in set(wb.tables()["name"].to_list()) else None


def _version(wb: Session, name: str) -> int:
    """The catalog's current version of ``name``, recorded as the input of what we write."""
    catalog = wb.tables()
    return int(catalog.filter(pl.col("name") == name)["version"].item())


def update_mentions(wb: Session, extractor: Extractor, everything: bool = False, batch_docs: int = 64,
                    progress: Callable[[Iterable[int]], Iterable[int]] = iter) -> dict[str, int]:
    """Extract mentions of new or changed documents (all with ``everything``) and rewrite the tables.

    Returns counts: documents seen, extracted, mentions written. The mentions table is
    rewritten in one commit (mentions of untouched documents are carried over), so a
    reader never sees a half-updated document.
    """
    docs = wb.sql("SELECT doc_id, sha256, text FROM documents.index ORDER BY doc_id")
    runs = None if everything else _existing(wb, RUNS)
    if runs is not None:
        done = runs.filter(pl.col("model_version") == extractor.version).select("doc_id", "sha256")
        todo = docs.join(done, on=["doc_id", "sha256"], how="anti")
    else:
        todo = docs
    rows: list[dict] = []
    ids, texts = todo["doc_id"].to_list(), [t or "" for t in todo["text"].to_list()]
    for b in progress(range(0, len(ids), batch_docs)):
        for doc_id, spans in zip(ids[b : b + batch_docs], extractor.extract_many(texts[b : b + batch_docs])):
            rows += [{"doc_id": doc_id, **asdict(s), "model_version": extractor.version}
                     for s in spans]
    fresh = pl.DataFrame(rows, schema=_MENTION_SCHEMA)
    old = None if everything else _existing(wb, MENTIONS)
    kept = old.filter(~pl.col("doc_id").is_in(ids)).select(list(_MENTION_SCHEMA)) if old is not None else None
    mentions = pl.concat([kept, fresh]) if kept is not None else fresh
    now = datetime.now(UTC).replace(tzinfo=None)
    run_rows = todo.select("doc_id", "sha256").with_columns(
        pl.lit(extractor.version).alias("model_version"), pl.lit(now).alias("extracted_at"))
    old_runs = runs.filter(~pl.col("doc_id").is_in(ids)) if runs is not None else None
    inputs = {"documents.index": _version(wb, "documents.index")}
    if ids or old is None:
        wb.write(mentions.sort("doc_id", "start"), MENTIONS, mode="overwrite", inputs=inputs,
                 description="Entity mentions in documents: recognisers, gazetteer and the NER model, merged "
                             "(character offsets into documents.index.text).")
        wb.write(pl.concat([old_runs, run_rows]) if old_runs is not None else run_rows, RUNS, mode="overwrite",
                 inputs=inputs, description="Which document version each mention set was extracted from, "
                                            "and with which model (for incremental extraction).")
    return {"documents": docs.height, "extracted": len(ids), "mentions": fresh.height}
