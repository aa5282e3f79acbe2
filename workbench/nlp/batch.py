"""Batch NLP over the documents zone on a Dask cluster: mentions, embeddings and (when trained) topics.

Each job is an ``IncrementalProcessor`` (``workbench.nlp.processing``): it picks the new or
changed documents, runs its model over them in partitions through the execution seam
(``workbench.compute.OnDask`` here: the processor is sent to each worker once, and its
model travels as a folder - taggers, embedders and classifiers pickle as a path and are
loaded once per worker by ``models.load``), and writes its tables, each in one commit,
after every partition has come back. So a worker that dies mid-run costs at most a rescheduled partition
(Dask retries it on another worker) or, if the run fails, nothing: no table was
half-written, and the next run redoes exactly the documents still pending.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from workbench.compute import OnDask
from workbench.session import Session
from workbench.nlp.classify import processor as topics_processor
from workbench.nlp.embed import ChunkIndexer, encoder_dir
from workbench.nlp.extract import Extractor, Mentions
from workbench.nlp.processing import IncrementalProcessor


def default_processors(wb: Session, tagger_dir: Path | None = None, encoder: Path | None = None,
                       rules_only: bool = False) -> list[IncrementalProcessor]:
    """Mentions, embeddings and, once a classifier is trained, topics.

    Mentions need the trained tagger (``ModelMissing`` names the command that trains it)
    unless ``rules_only`` asks for recognisers and gazetteer alone.
    """
    processors: list[IncrementalProcessor] = [
        Mentions(Extractor.from_lake(wb, tagger_dir, threads=1, rules_only=rules_only)),
        ChunkIndexer(encoder or encoder_dir(wb))]
    topics = topics_processor(wb)
    return processors + ([topics] if topics is not None else [])


def process(wb: Session, processors: Iterable[IncrementalProcessor], client: Any) -> dict[str, dict[str, int]]:
    """Run each processor over new or changed documents on ``client``'s cluster; counts per processor."""
    executor = OnDask(client)
    return {p.name: p.update(wb, executor) for p in processors}
