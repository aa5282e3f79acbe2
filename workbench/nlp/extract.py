"""Entity extraction: recognisers + gazetteer + tagger, merged; and the batch job over the documents zone.

``Extractor.extract(text)`` is the single-text entry point; the ``Mentions`` processor
(``workbench.nlp.processing``) runs it over ``documents.index`` into
``curated.document_mentions``, incrementally. Nothing here reads ``truth.*``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import ClassVar

import polars as pl

from workbench.compute import Executor, InProcess
from workbench.session import Session
from workbench.nlp.gazetteer import Gazetteer
from workbench.nlp.merge import merge
from workbench.nlp.models import MAKE_UP_HINT, NER_MODEL, champion, load, require
from workbench.nlp.processing import IncrementalProcessor
from workbench.nlp.recognisers import recognise
from workbench.nlp.spans import Span
from workbench.nlp.tagger import Tagger

MENTIONS = "curated.document_mentions"
RUNS = "curated.document_mention_runs"
RULES_ONLY = "rules-only"
"""Model version recorded when extraction runs without a tagger (recognisers + gazetteer, asked for explicitly)."""
TRAIN_NER = "workbench nlp train --task ner"


class Extractor:
    """Recognisers, a gazetteer and optionally a tagger, combined by the merge policy."""

    def __init__(self, gazetteer: Gazetteer, tagger: Tagger | None = None, version: str | None = None) -> None:
        self.gazetteer = gazetteer
        self.tagger = tagger
        self.version = version or (tagger.version if tagger else RULES_ONLY)

    @classmethod
    def from_lake(cls, wb: Session, model_dir: Path | None = None, threads: int | None = None,
                  rules_only: bool = False) -> Extractor:
        """Gazetteer from the lake, tagger from ``model_dir`` (default: the registry's ``ner`` champion, whose
        version name, ``ner/<n>``, the mentions record).

        Without a trained tagger this raises ``ModelMissing`` naming the command that trains
        one, unless ``rules_only`` asks for recognisers and gazetteer alone: extraction
        never quietly runs without its model.
        """
        gazetteer = Gazetteer.from_lake(wb)
        if rules_only:
            return cls(gazetteer)
        chosen = champion(wb, NER_MODEL, TRAIN_NER, MAKE_UP_HINT) if model_dir is None else None
        folder = require(chosen.folder if chosen else model_dir, "config.json", TRAIN_NER, MAKE_UP_HINT)
        return cls(gazetteer, load(Tagger, folder, threads, wb.settings.nlp_precision),
                   chosen.version if chosen else None)

    def extract_many(self, texts: Sequence[str]) -> list[list[Span]]:
        """Merged spans per text; the tagger sees the texts in batches."""
        return self.combine(texts, self.tagger.predict(texts) if self.tagger else [[] for _ in texts])

    def combine(self, texts: Sequence[str], model: Sequence[Sequence[Span]]) -> list[list[Span]]:
        """Recogniser and gazetteer spans of each text merged with the tagger's spans ``model`` of it."""
        return [merge([*recognise(text), *self.gazetteer.find(text), *spans]) for text, spans in zip(texts, model)]

    def extract(self, text: str) -> list[Span]:
        """Merged, non-overlapping spans of one text, with character offsets into it."""
        return self.extract_many([text])[0]


@dataclass(frozen=True)
class Mentions(IncrementalProcessor):
    """The mentions processor: ``extractor`` over new or changed documents -> ``curated.document_mentions``.

    A document may have no mention at all, so which text and model each document was
    extracted with is kept in ``curated.document_mention_runs``.
    """

    extractor: Extractor = field(compare=False)
    name: ClassVar[str] = "mentions"
    table: ClassVar[str] = MENTIONS
    runs: ClassVar[str | None] = RUNS
    schema: ClassVar[dict] = {"doc_id": pl.Utf8, "start": pl.Int64, "end": pl.Int64, "label": pl.Utf8,
                              "text": pl.Utf8, "value": pl.Utf8, "source": pl.Utf8, "score": pl.Float64,
                              "model_version": pl.Utf8}
    description: ClassVar[str] = ("Entity mentions in documents: recognisers, gazetteer and the NER model, merged "
                                  "(character offsets into documents.index.text).")
    runs_description: ClassVar[str] = ("Which document version each mention set was extracted from, and with which "
                                       "model (for incremental extraction).")

    @property
    def version(self) -> str:
        return self.extractor.version

    def apply(self, texts: list[str]) -> list[list[Span]]:
        return self.extractor.extract_many(texts)

    def rows(self, result: list[Span]) -> list[dict]:
        return [asdict(span) for span in result]


def update_mentions(wb: Session, extractor: Extractor, everything: bool = False,
                    executor: Executor = InProcess()) -> dict[str, int]:
    """Extract mentions of new or changed documents (all with ``everything``): ``Mentions(extractor).update``."""
    return Mentions(extractor).update(wb, executor, everything)
