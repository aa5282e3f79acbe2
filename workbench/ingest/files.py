"""The file drop kind: CSV (any Python encoding, e.g. Big5), JSON lines, Parquet and Excel
files landing in a folder.

Every file is read into text columns, so the table's contract (not the reader) decides
what a value means and rejects bad values row by row. What cannot be a row is rejected
here, with the file named: a file that does not decode or parse is quarantined whole
(its bytes kept in the payload, the file itself left in place); a file whose columns
differ from the contract (schema drift) is held back whole for a person to look at; a
broken line (wrong field count, a JSON line that is not an object) is rejected alone.

A file's mark is its size and modification time, recorded once its rows have committed,
so a file is read once; a file that is replaced is read again (merge by key).

Connection: ``path`` (or ``path_env``), the drop folder. Table: ``pattern`` (glob,
default ``*``), ``format`` (default: from the extension), ``encoding``, ``delimiter``.
"""

from __future__ import annotations

import base64
import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from workbench.ingest.base import Connector, Extract
from workbench.ingest.spec import TableSource
from workbench.ingest.watermarks import Marks
from workbench.lake import Rejection

FORMATS = {".csv": "csv", ".txt": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl",
           ".parquet": "parquet", ".pq": "parquet", ".xlsx": "excel"}
BATCH_ROWS = 50_000
SOURCE_COLUMNS = ("source_file", "source_line")
"""Carried with each row into the contract, so a rejected row's payload says where it came from."""


class FileRejected(Exception):
    """A whole file cannot be read as rows; the message says why."""


@dataclass
class Rows:
    """Rows of one file as text: header, values per row, and each row's line number."""

    header: list[str]
    rows: list[list[str | None]]
    lines: list[int]
    broken: list[tuple[int, str, str, str]] = field(default_factory=list)
    """Lines that are not rows: (line number, rule, what is wrong, the line as read)."""


def _text(data: bytes, encoding: str) -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise FileRejected(f"not valid {encoding} text at byte {exc.start}: {data[exc.start:exc.start + 8]!r}") from exc
    except LookupError as exc:
        raise FileRejected(f"unknown encoding {encoding!r}") from exc


def _lines_text(data: bytes, encoding: str) -> tuple[str, list[tuple[int, str, str, str]]]:
    """Text of a line-oriented file, dropping the few lines that do not decode (returned as broken).

    A file whose header or most lines do not decode is in another encoding: rejected whole.
    """
    try:
        return _text(data, encoding), []
    except FileRejected:
        pass
    lines = data.split(b"\n")
    kept: list[str] = []
    broken: list[tuple[int, str, str, str]] = []
    for number, line in enumerate(lines, start=1):
        try:
            kept.append(line.decode(encoding))
        except UnicodeDecodeError as exc:
            kept.append("")
            broken.append((number, f"encoding {encoding}", f"not valid {encoding} at byte {exc.start} of the line",
                           line.decode(encoding, errors="backslashreplace")))
    if broken and (broken[0][0] == 1 or len(broken) * 2 >= len([ln for ln in lines if ln.strip()])):
        return _text(data, encoding), []  # raises FileRejected naming the first bad byte
    return "\n".join(kept), broken


def pending_files(folder: Path, pattern: str, marks: Marks) -> list[tuple[Path, str, str]]:
    """(path, name, mark) of the files matching ``pattern`` that are new or changed since ``marks``.

    A file's mark is its size and modification time; its name is its path under ``folder``.
    A missing folder means the drop is not mounted: the source is down, not empty.
    """
    if not folder.is_dir():
        raise ConnectionError(f"drop folder {folder} does not exist or is not mounted")
    pending = []
    for path in sorted(p for p in folder.glob(pattern) if p.is_file()):
        stat = path.stat()
        mark = f"{stat.st_size}:{stat.st_mtime_ns}"
        name = str(path.relative_to(folder))
        if marks.get(name) != mark:
            pending.append((path, name, mark))
    return pending


def cell(value: object) -> str | None:
    """A JSON or Parquet value as the text the contract will parse (nested values as JSON)."""
    if value is None:
        return None
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


class FileDropConnector(Connector):
    """``kind = "files"``: new files in a drop folder."""

    kind = "files"

    def validate_table(self, source: TableSource) -> None:
        if source.query or source.source_table or source.incremental:
            raise self.config_error(source, "query", "a file drop reads files by pattern; query, source_table "
                                    "and incremental do not apply")
        super().validate_table(source)

    def folder(self) -> Path:
        return Path(self.connection()["path"])

    def extract(self, source: TableSource, marks: Marks) -> Extract:
        pending = pending_files(self.folder(), source.pattern or "*", marks)
        contract = self.spec.table_spec(source, self.lake.specs)
        columns = list(contract.columns) if contract else None
        schema = pa.schema([pa.field(c, pa.string()) for c in [*(columns or self._header_union(pending, source)),
                                                                *SOURCE_COLUMNS]])
        extract = Extract(schema, iter(()))
        extract.batches = self._batches(pending, source, schema, contract.columns if contract else None, extract)
        return extract

    def _header_union(self, pending: list[tuple[Path, str, str]], source: TableSource) -> list[str]:
        """Columns of a table without a contract: every column any readable file has."""
        seen: dict[str, None] = {}
        for path, _, _ in pending:
            try:
                seen.update(dict.fromkeys(self.read(path, source).header))
            except FileRejected:
                continue
        return list(seen)

    def _batches(self, pending: list[tuple[Path, str, str]], source: TableSource, schema: pa.Schema,
                 contract: dict | None, extract: Extract) -> Iterator[pa.RecordBatch]:
        names = [n for n in schema.names if n not in SOURCE_COLUMNS]
        for path, name, mark in pending:
            try:
                rows = self.read(path, source)
                if not rows.rows:
                    raise FileRejected("the file has a header but no rows" if rows.header else "the file is empty")
                self._check_drift(rows.header, names, contract)
            except FileRejected as exc:
                extract.rejections.append(file_rejection(source.target, path, name, str(exc), source.encoding))
                extract.marks[name] = mark
                continue
            width = len(rows.header)
            good: list[tuple[list[str | None], int]] = []
            broken = list(rows.broken)
            for values, line in zip(rows.rows, rows.lines, strict=True):
                if len(values) != width:
                    broken.append((line, "field count", f"{len(values)} fields where the header has {width}",
                                   json.dumps(values, ensure_ascii=False)))
                else:
                    good.append((values, line))
            extract.rejections.extend(
                Rejection(table=source.target, record=f"file {name} line {line}", field="(line)", rule=rule,
                          value=detail, payload=raw)
                for line, rule, detail, raw in broken
            )
            position = {h: i for i, h in enumerate(rows.header)}
            for start in range(0, len(good), BATCH_ROWS):
                chunk = good[start:start + BATCH_ROWS]
                arrays = [pa.array([v[position[c]] if c in position else None for v, _ in chunk], pa.string())
                          for c in names]
                arrays += [pa.array([name] * len(chunk), pa.string()), pa.array([str(ln) for _, ln in chunk])]
                yield pa.RecordBatch.from_arrays(arrays, schema=schema)
            extract.marks[name] = mark

    @staticmethod
    def _check_drift(header: list[str], names: list[str], contract: dict | None) -> None:
        if contract is None:
            return
        extra = [h for h in header if h not in contract]
        missing = [c for c, spec in contract.items() if c not in header and not spec.nullable]
        if extra or missing:
            parts = ([f"unexpected column(s) {extra}"] if extra else []) + (
                [f"missing required column(s) {missing}"] if missing else [])
            raise FileRejected("schema drift: " + "; ".join(parts))

    # -- readers: bytes -> Rows, or FileRejected naming what is wrong ---------------------

    def read(self, path: Path, source: TableSource) -> Rows:
        fmt = source.format or FORMATS.get(path.suffix.lower())
        if fmt is None:
            raise FileRejected(f"cannot tell the format of {path.suffix or 'a file without extension'}; "
                               f"set format in the connector")
        data = path.read_bytes()
        if not data.strip():
            raise FileRejected("the file is empty")
        reader = {"csv": self._csv, "jsonl": self._jsonl, "parquet": self._parquet, "excel": self._excel}[fmt]
        return reader(data, source)

    @staticmethod
    def _csv(data: bytes, source: TableSource) -> Rows:
        text, undecodable = _lines_text(data, source.encoding)
        text = text.removeprefix("\ufeff")
        if "\x00" in text:
            raise FileRejected("not a CSV file: it contains NUL bytes (binary data?)")
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=source.delimiter, strict=True)
        try:
            header = [h.strip() for h in next(reader)]
            rows, lines = [], []
            for values in reader:
                if values:
                    rows.append([v if v != "" else None for v in values])
                    lines.append(reader.line_num)
        except csv.Error as exc:
            raise FileRejected(f"not valid CSV at line {reader.line_num}: {exc}") from exc
        if len(set(header)) != len(header) or "" in header:
            raise FileRejected(f"the header has empty or repeated column names: {header}")
        return Rows(header, rows, lines, undecodable)

    @staticmethod
    def _jsonl(data: bytes, source: TableSource) -> Rows:
        text = _text(data, source.encoding)
        records: list[tuple[int, dict[str, object]]] = []
        broken: list[tuple[int, str, str, str]] = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as exc:
                broken.append((number, "JSON object", f"not valid JSON: {exc.msg}", line))
                continue
            if isinstance(value, dict):
                records.append((number, value))
            else:
                broken.append((number, "JSON object", f"a JSON {type(value).__name__}, not an object", line))
        if not records:
            raise FileRejected("no line is a JSON object")
        header = list(dict.fromkeys(k for _, r in records for k in r))
        rows = [[cell(r.get(h)) for h in header] for _, r in records]
        return Rows(header, rows, [n for n, _ in records], broken)

    @staticmethod
    def _parquet(data: bytes, source: TableSource) -> Rows:
        try:
            table = pq.read_table(pa.BufferReader(data))
        except (pa.ArrowInvalid, OSError) as exc:
            raise FileRejected(f"not a readable Parquet file: {exc}") from exc
        columns = [table.column(i).to_pylist() for i in range(table.num_columns)]
        rows = [[cell(col[i]) for col in columns] for i in range(table.num_rows)]
        return Rows(table.column_names, rows, list(range(1, table.num_rows + 1)))

    @staticmethod
    def _excel(data: bytes, source: TableSource) -> Rows:
        import openpyxl  # only Excel drops need it

        try:
            sheet = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True).worksheets[0]
        except Exception as exc:  # openpyxl raises zip, XML and key errors alike for a broken workbook
            raise FileRejected(f"not a readable Excel workbook: {type(exc).__name__}: {exc}") from exc
        values = [list(r) for r in sheet.iter_rows(values_only=True)]
        if not values:
            raise FileRejected("the workbook's first sheet is empty")
        header = [str(h).strip() if h is not None else "" for h in values[0]]
        rows = [[cell(v) for v in r] for r in values[1:] if any(v is not None for v in r)]
        return Rows(header, rows, list(range(2, len(rows) + 2)))


def file_rejection(target: str, path: Path, name: str, reason: str, encoding: str = "utf-8") -> Rejection:
    """A whole file kept out of ``target``: its bytes go in the payload (as text, or base64 when binary)."""
    data = path.read_bytes()
    try:
        payload = data.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        payload = "base64:" + base64.b64encode(data).decode()
    return Rejection(table=target, record=f"file {name}", field="(file)", rule="readable file", value=reason,
                     payload=payload)
