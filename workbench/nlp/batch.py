"""Batch NLP over the documents zone on a Dask cluster: mentions, embeddings and (when trained) topics.

Each job is an ``IncrementalProcessor`` (``workbench.nlp.processing``): it picks the new or
changed documents, has ``compute(apply, texts)`` run its model over them, and writes its
tables, each in one commit, after every partition has come back. Here ``compute`` is
``dask_compute``: texts go out in partitions, and a processor's model travels as its folder
(taggers, embedders and classifiers pickle as a path and are loaded once per worker by
``models.load``). So a worker that dies mid-run costs at most a rescheduled partition
(Dask retries it on another worker) or, if the run fails, nothing: no table was
half-written, and the next run redoes exactly the documents still pending.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import Any

from workbench.explore import Session
from workbench.nlp.classify import processor as topics_processor
from workbench.nlp.embed import ChunkIndexer, encoder_dir
from workbench.nlp.extract import Extractor, Mentions
from workbench.nlp.processing import IncrementalProcessor

PARTITION_DOCS = 64
"""Documents per Dask partition: large enough to batch the encoder, small enough to spread."""


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


def dask_compute(client: Any, apply: Callable[[list[str]], list[Any]], texts: list[str]) -> list[Any]:
    """Run ``apply`` over ``texts`` in partitions on ``client``'s cluster; results in input order."""
    import dask.bag as db

    if not texts:
        return []
    workers = max(1, len(client.nthreads()))
    partitions = max(workers, math.ceil(len(texts) / PARTITION_DOCS))
    bag = db.from_sequence(texts, npartitions=min(partitions, len(texts)))
    return list(client.compute(bag.map_partitions(apply)).result())


def process(wb: Session, processors: Iterable[IncrementalProcessor], client: Any) -> dict[str, dict[str, int]]:
    """Run each processor over new or changed documents on ``client``; counts per processor."""
    compute = partial(dask_compute, client)
    return {p.name: p.update(wb, compute) for p in processors}
