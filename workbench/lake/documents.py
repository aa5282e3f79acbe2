"""The documents zone: original files kept as they arrived, plus a metadata table.

Files are stored under ``documents/files/<doc_id>/<file name>`` with the lake's own
filesystem (local or object store); ``documents.index`` holds their metadata and
extracted text, merged on ``doc_id`` so re-landing a document replaces it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pyarrow as pa

from workbench.lake.catalog import Lineage
from workbench.lake.lake import Lake, WriteResult
from workbench.lake.streams import TableStream

INDEX = "documents.index"


@dataclass(frozen=True)
class Document:
    """One unstructured document and what is known about it."""

    doc_id: str
    kind: str
    language: str
    title: str
    source: str
    published_at: datetime
    text: str
    content: bytes | None = None
    filename: str | None = None
    media_type: str = "text/plain"
    attachments: dict[str, bytes] | None = None
    """Files kept beside the original in its folder (a fetched document's record and image)."""

    @property
    def original(self) -> bytes:
        return self.content if self.content is not None else self.text.encode("utf-8")


class DocumentStore:
    """Adds documents to a lake's documents zone."""

    def __init__(self, lake: Lake) -> None:
        self.lake = lake
        self.fs, self.root = lake.location.filesystem()

    def add(self, documents: Iterable[Document], actor: str = "system", produced_by: str = "documents.add",
            batch_rows: int = 2_000) -> WriteResult:
        """Store originals, then merge their metadata; files land before the index names them."""
        schema = self.lake.specs[INDEX].arrow_schema()

        def batches() -> Iterator[pa.RecordBatch]:
            rows: list[dict[str, object]] = []
            for doc in documents:
                rows.append(self._store(doc))
                if len(rows) >= batch_rows:
                    yield pa.RecordBatch.from_pylist(rows, schema=schema)
                    rows = []
            if rows:
                yield pa.RecordBatch.from_pylist(rows, schema=schema)

        return self.lake.write(TableStream(INDEX, schema, batches()), mode="merge", actor=actor,
                               lineage=Lineage(produced_by=produced_by))

    def _store(self, doc: Document) -> dict[str, object]:
        data = doc.original
        relative = f"documents/files/{doc.doc_id}/{doc.filename or doc.doc_id + '.txt'}"
        self.fs.create_dir(f"{self.root}/documents/files/{doc.doc_id}", recursive=True)
        with self.fs.open_output_stream(f"{self.root}/{relative}") as out:
            out.write(data)
        for name, attached in (doc.attachments or {}).items():
            with self.fs.open_output_stream(f"{self.root}/documents/files/{doc.doc_id}/{name}") as out:
                out.write(attached)
        return {
            "doc_id": doc.doc_id, "kind": doc.kind, "language": doc.language, "title": doc.title,
            "source": doc.source, "published_at": doc.published_at,
            "retrieved_at": datetime.now(UTC).replace(tzinfo=None), "path": relative,
            "media_type": doc.media_type, "sha256": hashlib.sha256(data).hexdigest(),
            "size_bytes": len(data), "text": doc.text,
        }

    def read(self, path: str) -> bytes:
        """The original bytes of a document by its index ``path``."""
        with self.fs.open_input_stream(f"{self.root}/{path}") as src:
            return src.read()
