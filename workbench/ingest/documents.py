"""Kinds whose rows are documents: they land in the documents zone, original kept, text extracted.

``DocumentConnector`` is the base of the ``documents`` (a drop folder of text, PDF, DOCX
and image files) and ``web`` (pages and RSS/Atom feeds) kinds. A kind implements only
``documents``: which documents are new since the marks, read into ``Document`` objects.
The base streams them as Arrow batches through the common lifecycle (progress, retries,
run log, watermarks after the commit) and lands them with ``DocumentStore.add``: the
original bytes under ``documents/files/<doc_id>/`` first, then the ``documents.index``
row (metadata, extracted text, retrieval time) merged on ``doc_id`` through its contract.
"""

from __future__ import annotations

import re
from abc import abstractmethod
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa

from workbench.ingest.base import Connector, Extract
from workbench.ingest.fetcher import (
    DEFAULT_USER,
    FETCHER_USER_ENV,
    Fetcher,
    FetchRefused,
    Parsed,
)
from workbench.ingest.files import file_rejection, pending_files
from workbench.ingest.runlog import RunRecord
from workbench.ingest.spec import TableSource
from workbench.ingest.text import MEDIA_TYPES, guess_language, utc_naive
from workbench.ingest.watermarks import Marks
from workbench.lake import TableStream, WriteResult
from workbench.lake.documents import INDEX, Document, DocumentStore

BATCH_DOCUMENTS = 200
RECORD_FILE, IMAGE_FILE = "fetch.json", "snapshot.png"
"""Beside each fetched document in its folder: the fetch record (provenance) and the image the fetcher made."""
DOCUMENT_SCHEMA = pa.schema([
    ("doc_id", pa.string()), ("kind", pa.string()), ("language", pa.string()), ("title", pa.string()),
    ("source", pa.string()), ("published_at", pa.timestamp("us")), ("text", pa.string()),
    ("content", pa.binary()), ("filename", pa.string()), ("media_type", pa.string()),
    ("attachments", pa.map_(pa.string(), pa.binary())),
])
"""A ``Document`` as an Arrow row: how documents travel through the lifecycle to ``write``."""


def safe_id(text: str) -> str:
    """A document id usable as a folder name in the documents zone."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text).strip("._") or "document"


class DocumentConnector(Connector):
    """Base of the document kinds; its tables all target ``documents.index``."""

    def validate_table(self, source: TableSource) -> None:
        if source.target != INDEX:
            raise self.config_error(source, "target", f"documents land in {INDEX}; set target = \"{INDEX}\"")
        super().validate_table(source)

    def fetcher(self) -> Fetcher:
        """The isolated fetcher for this run: its own user, unable to read this lake."""
        from workbench.ingest.fetcher import raw_store_for

        return Fetcher(user=self.env.get(FETCHER_USER_ENV, DEFAULT_USER), forbidden=[Path(self.lake.location.uri(""))],
                       raw_store=raw_store_for(self.lake.location.root))

    @staticmethod
    def attachments(parsed: Parsed, record: bool = True) -> dict[str, bytes]:
        """The files kept beside a document: its fetch record (unless it is the document's own file) and its image."""
        files = {RECORD_FILE: parsed.provenance()} if record else {}
        return files | ({IMAGE_FILE: parsed.image} if parsed.image is not None else {})

    @abstractmethod
    def documents(self, source: TableSource, marks: Marks, extract: Extract) -> Iterator[Document]:
        """Yield the documents new or changed since ``marks``; record new marks and rejections in ``extract``."""

    def extract(self, source: TableSource, marks: Marks) -> Extract:
        extract = Extract(DOCUMENT_SCHEMA, iter(()))
        extract.batches = self._batches(self.documents(source, marks, extract))
        return extract

    def write(self, source: TableSource, stream: TableStream, record: RunRecord) -> WriteResult:
        rows = (Document(**{**row, "attachments": dict(row["attachments"] or ())})
                for batch in stream.batches for row in batch.to_pylist())
        return DocumentStore(self.lake).add(rows, actor=record.actor, produced_by=self.lineage().produced_by)

    @staticmethod
    def _batches(documents: Iterator[Document]) -> Iterator[pa.RecordBatch]:
        rows: list[dict[str, object]] = []
        for doc in documents:
            rows.append({name: getattr(doc, name) for name in DOCUMENT_SCHEMA.names})
            if len(rows) >= BATCH_DOCUMENTS:
                yield pa.RecordBatch.from_pylist(rows, schema=DOCUMENT_SCHEMA)
                rows = []
        if rows:
            yield pa.RecordBatch.from_pylist(rows, schema=DOCUMENT_SCHEMA)


class DocumentDropConnector(DocumentConnector):
    """``kind = "documents"``: text, HTML, PDF, DOCX and image files landing in a folder.

    Connection: ``path`` (or ``path_env``). Table: ``pattern`` (glob) and
    ``document_kind``. A document's id is its file name without extension; title,
    language and date come from the file's own metadata, else from the file name, the
    text (en/zh) and the file's modification time. Each file is read once (its size and
    modification time are its mark); an unreadable file is quarantined whole.

    The ingest process only reads the file's bytes: parsing (PDF, DOCX, HTML, images) and
    the image happen in the isolated fetcher, without any network. The original is kept
    (these are the agency's own files), with the fetch record and image beside it.
    """

    kind = "documents"

    def documents(self, source: TableSource, marks: Marks, extract: Extract) -> Iterator[Document]:
        folder = Path(self.connection()["path"])
        fetcher = self.fetcher()
        for path, name, mark in pending_files(folder, source.pattern or "*", marks):
            media_type = MEDIA_TYPES.get(path.suffix.lower())
            try:
                if media_type is None:
                    raise FetchRefused(name, f"no text extractor for {path.suffix or 'a file without extension'} files")
                data = path.read_bytes()
                found = fetcher.parse(data, media_type, name, snapshot=self.spec.snapshot)
            except FetchRefused as exc:
                extract.rejections.append(file_rejection(source.target, path, name, exc.reason))
            else:
                yield Document(
                    doc_id=safe_id(path.stem), kind=source.document_kind,
                    language=found.language or guess_language(found.text), title=found.title or path.stem,
                    source=f"{self.spec.name}:{name}",
                    published_at=found.published_at or utc_naive(datetime.fromtimestamp(path.stat().st_mtime, UTC)),
                    text=found.text, content=data, filename=path.name, media_type=media_type,
                    attachments=self.attachments(found),
                )
            extract.marks[name] = mark
