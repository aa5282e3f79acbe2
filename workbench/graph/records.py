"""The record file contract of ``workbench network resolve --input records.csv --output entities.csv``.

Input: a UTF-8 CSV with a header holding at least ``record_id`` and ``name``; the columns
``source_system``, ``address``, ``phone`` and ``br_no`` are used when present and may be
empty; any other column is ignored. Output: one row per input record, ``record_id,
entity_id``, in input order. A file that breaks the contract (bytes that are not UTF-8, a
missing required column, an empty or duplicate ``record_id``) is refused whole with the
line and the problem, and nothing is written: a partial entity file would silently drop
records from every join made on it.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import tempfile
from pathlib import Path

import polars as pl

from workbench.errors import WorkbenchError
from workbench.graph.linker import THRESHOLD, link

REQUIRED = ("record_id", "name")
OPTIONAL = ("source_system", "address", "phone", "br_no")


class RecordFileError(WorkbenchError):
    """A record file that breaks the contract: says which line and what is wrong."""

    def __init__(self, path: Path, line: int | None, problem: str) -> None:
        self.path, self.line, self.problem = path, line, problem
        where = f"{path}, line {line}" if line else str(path)
        super().__init__(f"{where}: {problem}")


def read_records(path: Path) -> pl.DataFrame:
    """The records of a contract CSV as a frame of strings (missing optional columns as nulls)."""
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        column = exc.start - data.rfind(b"\n", 0, exc.start)
        raise RecordFileError(path, line, f"bytes that are not UTF-8 at byte {column} of the line "
                                          f"({data[exc.start:exc.start + 4]!r}); save the file as UTF-8") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None:
        raise RecordFileError(path, None, f"empty file; expected a header with {', '.join(REQUIRED)}")
    header = [h.strip() for h in header]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise RecordFileError(path, 1, f"missing required column(s) {', '.join(missing)} in the header {header}")
    index = {c: header.index(c) for c in (*REQUIRED, *OPTIONAL) if c in header}
    rows: dict[str, list[str | None]] = {c: [] for c in (*REQUIRED, *OPTIONAL)}
    seen: dict[str, int] = {}
    for row in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise RecordFileError(path, line, f"{len(row)} fields where the header has {len(header)}")
        record_id = row[index["record_id"]].strip()
        if not record_id:
            raise RecordFileError(path, line, "empty record_id")
        if record_id in seen:
            raise RecordFileError(path, line, f"duplicate record_id {record_id!r} (first on line {seen[record_id]})")
        seen[record_id] = line
        for column in rows:
            value = row[index[column]].strip() if column in index else ""
            rows[column].append(value or None)
    return pl.DataFrame(rows, schema={c: pl.Utf8 for c in rows})


def to_linker_records(records: pl.DataFrame) -> pl.DataFrame:
    """The contract's columns in the linker's shape (one name per record, BR number as the identifier)."""
    return records.select(
        "record_id", "source_system", pl.concat_list(pl.col("name")).alias("names"), "address", "phone",
        pl.col("br_no").alias("id_no"))


def entity_ids(roots: dict[str, str]) -> dict[str, str]:
    """Stable entity ids: derived from the cluster's smallest record id."""
    return {rec: "E-" + hashlib.sha1(root.encode()).hexdigest()[:12] for rec, root in roots.items()}


def resolve_file(source: Path, output: Path, threshold: float = THRESHOLD) -> pl.DataFrame:
    """Resolve a record file and write ``record_id, entity_id`` atomically (all or nothing)."""
    records = read_records(source)
    linked = link(to_linker_records(records), threshold=threshold) if records.height else None
    ids = entity_ids(linked.roots) if linked else {}
    result = records.select("record_id").with_columns(
        pl.col("record_id").replace_strict(ids, default=None, return_dtype=pl.Utf8).alias("entity_id"))
    output.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=output.parent, prefix=f".{output.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            result.write_csv(out)
        os.replace(tmp, output)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return result
