"""Batch NLP over the documents zone on a Dask cluster: mentions, embeddings and (when built) topics.

Every job is a *processor*: a picklable object with

- ``name``, ``table`` and ``version`` (the model version written beside its results);
- ``apply(texts) -> list`` — pure computation on a list of texts, one result per text; it
  runs on Dask workers and loads its model through a per-process cache, so a worker
  loads each model once however many partitions it gets;
- ``update(wb, compute) -> counts`` — picks the new or changed documents (sha256 or
  model version differ), has ``compute(apply, texts)`` run ``apply`` over them, and writes
  its tables, each in one commit, after every partition has come back.

So a worker that dies mid-run costs at most a rescheduled partition (Dask retries it on
another worker) or, if the run fails, nothing: no table was half-written, and the next
run redoes exactly the documents still pending. The topic classifier plugs in by
exposing ``workbench.nlp.classify.processor(wb) -> processor | None``; until that module
exists, ``process`` runs mentions and embeddings only.
"""

from __future__ import annotations

import importlib
import json
import math
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache, partial
from pathlib import Path
from typing import Any, Protocol

from workbench.explore import Session
from workbench.nlp.embed import ChunkIndexer, Compute, encoder_dir, run_locally
from workbench.nlp.extract import MENTIONS, RULES_ONLY, Extractor, model_cache, update_mentions
from workbench.nlp.gazetteer import Gazetteer
from workbench.nlp.spans import Span
from workbench.nlp.tagger import CARD_FILE, Precision, Tagger

PARTITION_DOCS = 64
"""Documents per Dask partition: large enough to batch the encoder, small enough to spread."""


class Processor(Protocol):
    name: str
    table: str

    @property
    def version(self) -> str: ...

    def apply(self, texts: list[str]) -> list[Any]: ...

    def update(self, wb: Session, compute: Compute = run_locally) -> dict[str, int]: ...


@lru_cache(maxsize=2)
def load_tagger(model_dir: Path, threads: int | None = 1, precision: Precision = "bf16") -> Tagger:
    """One tagger per process and folder (a Dask worker loads it once)."""
    return Tagger(model_dir, threads, precision)


def tagger_version(model_dir: Path) -> str:
    """The version ``Tagger`` reports for ``model_dir``, read without loading the weights."""
    card = model_dir / CARD_FILE
    return json.loads(card.read_text())["version"] if card.exists() else model_dir.name


@dataclass(frozen=True)
class _PrecomputedExtractor:
    """What ``update_mentions`` needs of an extractor, with the work sent through ``compute``."""

    version: str
    extract: Callable[[list[str]], list[list[Span]]]

    def extract_many(self, texts: Sequence[str]) -> list[list[Span]]:
        return self.extract(list(texts))


@dataclass(frozen=True)
class MentionExtractor:
    """The mentions processor: recognisers + gazetteer + tagger (if trained) -> ``curated.document_mentions``."""

    gazetteer: Gazetteer = field(compare=False)
    model_dir: Path | None
    threads: int | None = 1
    precision: Precision = "bf16"
    name: str = "mentions"
    table: str = MENTIONS

    @classmethod
    def from_lake(cls, wb: Session, model_dir: Path | None = None) -> MentionExtractor:
        model_dir = model_dir or model_cache(wb) / "ner"
        return cls(Gazetteer.from_lake(wb), model_dir if (model_dir / "config.json").exists() else None,
                   precision=wb.settings.nlp_precision)

    @property
    def version(self) -> str:
        return tagger_version(self.model_dir) if self.model_dir else RULES_ONLY

    def apply(self, texts: list[str]) -> list[list[Span]]:
        tagger = load_tagger(self.model_dir, self.threads, self.precision) if self.model_dir else None
        return Extractor(self.gazetteer, tagger).extract_many(texts)

    def update(self, wb: Session, compute: Compute = run_locally) -> dict[str, int]:
        """``extract.update_mentions`` with the extraction done by ``compute`` in one pass (one batch)."""
        counts = update_mentions(wb, _PrecomputedExtractor(self.version, partial(compute, self.apply)),
                                 batch_docs=sys.maxsize)
        return {"documents": counts["documents"], "processed": counts["extracted"], "rows": counts["mentions"]}


def default_processors(wb: Session, tagger_dir: Path | None = None, encoder: Path | None = None) -> list[Processor]:
    """Mentions, embeddings and, when ``workbench.nlp.classify`` offers one, the topic classifier."""
    processors: list[Processor] = [MentionExtractor.from_lake(wb, tagger_dir), ChunkIndexer(encoder or encoder_dir(wb))]
    try:
        classify = importlib.import_module("workbench.nlp.classify")
    except ModuleNotFoundError:
        return processors
    make = getattr(classify, "processor", None)
    extra = make(wb) if callable(make) else None
    return processors + ([extra] if extra is not None else [])


def dask_compute(client: Any, apply: Callable[[list[str]], list[Any]], texts: list[str]) -> list[Any]:
    """Run ``apply`` over ``texts`` in partitions on ``client``'s cluster; results in input order."""
    import dask.bag as db

    if not texts:
        return []
    workers = max(1, len(client.nthreads()))
    partitions = max(workers, math.ceil(len(texts) / PARTITION_DOCS))
    bag = db.from_sequence(texts, npartitions=min(partitions, len(texts)))
    return list(client.compute(bag.map_partitions(apply)).result())


def process(wb: Session, processors: Iterable[Processor], client: Any) -> dict[str, dict[str, int]]:
    """Run each processor over new or changed documents on ``client``; counts per processor."""
    compute = partial(dask_compute, client)
    return {p.name: p.update(wb, compute) for p in processors}
