"""Land the synthetic world in a lake: raw tables, documents, truth, then curation.

The generator streams; this module only routes each stream to its place (documents to
the documents zone, everything else through ``Lake.write`` and its contracts) and keeps
a progress display, so generating ten million declarations never holds them in memory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pyarrow as pa

from workbench.demo.world import generate_world
from workbench.lake import Lake, Lineage, TableStream, WriteResult
from workbench.lake.curation import curate
from workbench.lake.documents import Document, DocumentStore

DOCUMENTS_STREAM = "raw.documents"

Progress = Callable[[str, int], None]
"""Called with (table name, rows just produced) as batches flow."""


@dataclass
class LoadReport:
    """Per-table results of landing one world."""

    seed: int
    scale: float
    results: list[WriteResult] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return sum(r.rows_written for r in self.results)

    @property
    def quarantined(self) -> int:
        return sum(r.rows_quarantined for r in self.results)


def _counted(stream: TableStream, progress: Progress | None) -> Iterator[pa.RecordBatch]:
    for batch in stream.batches:
        if progress is not None:
            progress(stream.name, batch.num_rows)
        yield batch


def _documents(batches: Iterator[pa.RecordBatch]) -> Iterator[Document]:
    for batch in batches:
        for row in batch.to_pylist():
            yield Document(
                doc_id=row["doc_id"], kind=row["kind"], language=row["language"], title=row["title"],
                source=row["source"], published_at=row["published_at"], text=row["text"],
            )


def load_world(
    lake: Lake,
    seed: int,
    scale: float,
    actor: str = "system",
    progress: Progress | None = None,
    curated: bool = True,
) -> LoadReport:
    """Generate the world for (seed, scale) and land it; existing demo tables are replaced."""
    report = LoadReport(seed, scale)
    lineage = Lineage(produced_by=f"workbench demo generate --seed {seed} --scale {scale}")
    for stream in generate_world(seed, scale):
        batches = _counted(stream, progress)
        if stream.name == DOCUMENTS_STREAM:
            result = DocumentStore(lake).add(_documents(batches), actor=actor, produced_by=lineage.produced_by)
        else:
            result = lake.write(TableStream(stream.name, stream.schema, batches), mode="overwrite",
                                actor=actor, lineage=lineage)
        report.results.append(result)
    if curated:
        report.results.extend(curate(lake, actor=actor))
    return report
