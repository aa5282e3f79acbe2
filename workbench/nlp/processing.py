"""Incremental processing of the documents zone: one base for mentions, embeddings and topics.

Every NLP result table follows the same life: read ``documents.index``; keep the results of
documents whose text (``sha256``) and model version are unchanged; run the model over the
rest; rewrite the table in one commit, so a reader never sees a half-updated document, and
documents that left the index leave the table. A processor says only what differs:

- ``apply(texts) -> list``: pure computation, one result per text. It runs on partitions
  of ``PARTITION_DOCS`` texts through the project's execution seam (``workbench.compute``:
  ``InProcess`` here, ``OnDask`` on a cluster, where the processor is sent to each worker
  once and its model travels as a folder that ``models.load`` reads once per process);
- ``rows(result) -> list[dict]``: the table rows of one document's result;
- ``schema``, ``table``, ``description`` and ``version``;
- ``runs``: for a table where a processed document may have no row at all (a note with no
  mentions), the name of a small table recording which text and model version each
  document was processed with; ``None`` when every processed document leaves rows that
  carry ``sha256`` and ``model_version`` themselves.

A run that fails part-way writes nothing, and the next run redoes exactly the documents
still pending; a Dask worker that dies costs a rescheduled partition.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

import polars as pl

from workbench.compute import Executor, InProcess
from workbench.session import Session

PARTITION_DOCS = 64
"""Documents per task: large enough to batch the encoder, small enough to spread over workers."""
INDEX = "documents.index"
_RUNS_SCHEMA = {"doc_id": pl.Utf8, "sha256": pl.Utf8, "model_version": pl.Utf8, "processed_at": pl.Datetime("us")}


def _apply(texts: list[str], processor: IncrementalProcessor) -> list[Any]:
    return processor.apply(texts)


def existing(wb: Session, name: str) -> pl.DataFrame | None:
    """Table ``name`` if the lake has it yet."""
    return wb.table(name) if name in set(wb.tables()["name"].to_list()) else None


def table_version(wb: Session, name: str) -> int:
    """The catalog's current version of ``name``, recorded as the input of what a processor writes."""
    catalog = wb.tables()
    return int(catalog.filter(pl.col("name") == name)["version"].item())


class IncrementalProcessor:
    """Base of the NLP batch processors (see the module docstring); subclasses set the class attributes."""

    name: ClassVar[str]
    table: ClassVar[str]
    schema: ClassVar[dict[str, Any]]
    description: ClassVar[str]
    time_column: ClassVar[str | None] = None
    skip_blank: ClassVar[bool] = False
    runs: ClassVar[str | None] = None
    runs_description: ClassVar[str] = ""

    @property
    def version(self) -> str:
        raise NotImplementedError

    def apply(self, texts: list[str]) -> list[Any]:
        raise NotImplementedError

    def rows(self, result: Any) -> list[dict[str, Any]]:
        """Table rows of one document's ``result`` (``doc_id``, ``sha256``, ``model_version`` and the time
        column are added by ``update``)."""
        raise NotImplementedError

    def update(self, wb: Session, executor: Executor = InProcess(), everything: bool = False) -> dict[str, int]:
        """Process new or changed documents (all with ``everything``); counts: documents, processed, rows."""
        docs = wb.sql(f"SELECT doc_id, sha256, text FROM {INDEX} ORDER BY doc_id")
        old = existing(wb, self.table)
        tracked = existing(wb, self.runs) if self.runs else old
        done = pl.DataFrame(schema={"doc_id": pl.Utf8, "sha256": pl.Utf8})
        if tracked is not None and not everything and "sha256" in tracked.columns:
            done = (tracked.filter(pl.col("model_version") == self.version).select("doc_id", "sha256").unique()
                    .join(docs.select("doc_id", "sha256"), on=["doc_id", "sha256"], how="semi"))
        todo = docs.join(done, on=["doc_id", "sha256"], how="anti")
        if self.skip_blank:
            todo = todo.filter(pl.col("text").fill_null("").str.strip_chars() != "")
        texts = [t or "" for t in todo["text"].to_list()]
        parts = [texts[i : i + PARTITION_DOCS] for i in range(0, len(texts), PARTITION_DOCS)]
        results = [result for part in executor.map(_apply, parts, self) for result in part]
        now = datetime.now(UTC).replace(tzinfo=None)
        extra = {"sha256": None, "model_version": self.version, **({self.time_column: now} if self.time_column else {})}
        fresh = pl.DataFrame([{k: v for k, v in {"doc_id": doc_id, **row, **extra, "sha256": sha}.items()
                               if k in self.schema}
                              for doc_id, sha, result in zip(todo["doc_id"], todo["sha256"], results)
                              for row in self.rows(result)], schema=self.schema)
        kept = (old.filter(pl.col("doc_id").is_in(done["doc_id"].to_list())).select(list(self.schema))
                if old is not None else fresh.clear())
        if todo.height == 0 and old is not None and kept.height == old.height:
            return {"documents": docs.height, "processed": 0, "rows": 0}
        inputs = {INDEX: table_version(wb, INDEX)}
        order = [c for c in ("doc_id", "chunk_no", "start") if c in self.schema]
        wb.write(pl.concat([kept, fresh]).sort(order), self.table, mode="overwrite", inputs=inputs,
                 description=self.description)
        if self.runs:
            previous = (tracked.filter(pl.col("doc_id").is_in(done["doc_id"].to_list())).select(list(_RUNS_SCHEMA))
                        if tracked is not None and "processed_at" in tracked.columns else
                        done.with_columns(pl.lit(self.version).alias("model_version"), pl.lit(now).alias("processed_at")))
            new_runs = todo.select("doc_id", "sha256").with_columns(pl.lit(self.version).alias("model_version"),
                                                                     pl.lit(now).alias("processed_at"))
            wb.write(pl.concat([previous.cast(_RUNS_SCHEMA), new_runs.cast(_RUNS_SCHEMA)]).sort("doc_id"), self.runs,
                     mode="overwrite", inputs=inputs, description=self.runs_description)
        return {"documents": docs.height, "processed": todo.height, "rows": fresh.height}
