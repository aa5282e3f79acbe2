"""Lake tables as Dask DataFrames, through the session's gate: ``wb.dask(name, ...)``.

``frame(session, name, ...)`` resolves one snapshot of the table (the Delta version the
session sees, or ``version=``/``as_of=``), checks the role's access, lists that
snapshot's Parquet files and packs their row groups into partitions of about
``partition_bytes`` of uncompressed data in the columns asked for (one partition fits a
small worker; a few columns of many small files make few partitions).
Each partition is read by a ``SnapshotPart`` loader, a picklable function that Dask runs
on a worker (``dask.dataframe.from_map``); selecting columns of the frame later narrows
what every loader reads, as with ``read_parquet``.

What the masks guarantee. The role's masked columns are decided once, on the client,
by the gate (``Gate.masked``: need-to-know, semantic types and what flowed into a work
table) and travel inside each loader. The loader never reads a masked column from the
files: it scans the other columns and adds each masked one as the gate's constant
(``security.masks.mask_array``: text ``'***'`` on every row, other types NULL - what
``wb.sql`` shows), and only then applies filters that name a masked column. So no
masked value is ever decoded on a worker, let alone kept in a task result (what a worker
holds in memory, spills to disk, sends to another worker or the client, or shows on a
dashboard); a filter on a masked column compares the mask (as ``wb.sql`` does), and
Parquet statistics skip row groups only for unmasked columns. Not guaranteed: the
worker reads the files as its own Unix user (the analyst, on the gateway), so what stops
a person who controls their workers from reading a file directly is the lake's file
ACLs, not this module (roles that see masks have no notebooks or clusters).

Tables with deletion vectors or column mapping are refused: their Parquet files alone
do not say which rows are live or what a column is called. Partitioned tables are
refused too (partition values live in the Delta log, not the files); no lake table is
partitioned today.

``is_frame``/``write_stream`` are what ``Session.write`` uses to land a Dask frame: the
partitions are computed on the cluster and streamed here, one at a time, into a single
Delta commit through the table's contract; the lake tables (and versions) the frame
was computed from are found in its expression graph and become the write's lineage.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from workbench.compute import InProcess, partitions
from workbench.errors import UnknownColumn, WorkbenchError
from workbench.lake import TableStream
from workbench.security.masks import mask_array

if TYPE_CHECKING:
    import dask.dataframe as dd

    from workbench.session.session import Session

Filters = list[tuple[str, str, Any]] | list[list[tuple[str, str, Any]]]
"""``read_parquet``'s filters: a list of ``(column, op, value)`` (AND), or a list of such lists (OR of ANDs)."""

PARTITION_BYTES = 32 * 2**20
"""Uncompressed Parquet bytes of the columns read, per partition: about 100 MB as pandas,
so that a 1 GiB worker (an analyst's) reads one and still has room for a shuffle.

Parquet's uncompressed size undercounts memory for dictionary-encoded text (codes, names
repeated across rows): measured on the declarations' keys plus five text columns, 128 MiB
read as 1.5M rows, 351 MiB of pandas and +640 MiB of worker RSS while decoding, so 1 GiB
workers were killed by their nannies on the first read; 32 MiB: 0.4M rows, 91 MiB, +200 MiB."""

_UNSUPPORTED_FEATURES = {"deletionVectors": "deletion vectors", "columnMapping": "column mapping"}


@dataclass(frozen=True)
class SnapshotPart:
    """The loader of one partition: some row groups of some data files of one table snapshot.

    Picklable and small (the table's schema, column names and the masked names; the
    files and row groups come per call). Dask passes ``columns`` when a frame's columns
    are selected later, narrowing the read (``from_map``'s column projection).
    """

    table: str
    version: int
    schema: pa.Schema
    filesystem: pafs.FileSystem
    selected: tuple[str, ...]
    masked: tuple[str, ...]
    mask: str
    filters: Filters | None

    def __repr__(self) -> str:  # shown in task graphs and dashboards
        return f"SnapshotPart({self.table} v{self.version}, {len(self.selected)} columns, masked {list(self.masked)})"

    def __call__(self, part: tuple[Piece, ...], columns: Sequence[str] | None = None) -> Any:
        if columns is not None:
            return replace(self, selected=tuple(c for c in self.selected if c in set(columns)))(part)
        return_freed_memory()
        needed = self._needed()
        masked = set(self.masked)
        read = [c for c in needed if c not in masked]  # a masked column is never read from the files
        pushed, after = self._split_filters()
        pieces = [self._read(path, list(groups), read, pushed) for path, groups in part]
        scanned = pa.concat_tables(pieces, promote_options="permissive")  # an older file may lack a newer column
        rows = sum(piece.num_rows for piece in pieces)  # what concatenating no columns loses
        fields = [self.schema.field(c).with_nullable(True) for c in needed]
        table = pa.Table.from_arrays([self._column(scanned, f, rows, masked) for f in fields], schema=pa.schema(fields))
        if after is not None:
            table = table.filter(after)
        return to_pandas(table.select(list(self.selected)))

    def _read(self, path: str, groups: list[int], columns: list[str], pushed: ds.Expression | None) -> pa.Table:
        """Some row groups of one file, read as ``read_parquet`` reads them: on the task's own thread (a
        worker's threads are the cores it was given; Arrow's thread pools would take more, and Dask's
        per-task CPU figures would miss that work) and, with no filter to push, by ``ParquetFile``
        (column chunks fetched in few requests). ``columns`` may be empty (only masked columns asked):
        the table then has no columns but the row groups' rows.
        """
        if pushed is not None:  # row groups skipped by their statistics, rows by the filter while decoding
            fragment = ds.ParquetFileFormat().make_fragment(path, filesystem=self.filesystem, row_groups=groups)
            schema = pa.schema([self.schema.field(c).with_nullable(True) for c in columns])
            return fragment.to_table(schema=schema, columns=columns, filter=pushed, use_threads=False)
        with self.filesystem.open_input_file(path) as source:
            return pq.ParquetFile(source, pre_buffer=True).read_row_groups(groups, columns=columns, use_threads=False)

    def _column(self, scanned: pa.Table, field: pa.Field, rows: int, masked: set[str]) -> pa.ChunkedArray | pa.Array:
        """``field`` in the partition: the mask, the files' values in the snapshot's type, or NULL if no file has it."""
        if field.name in masked:
            return mask_array(field, rows, self.mask)
        if field.name not in scanned.column_names:
            return pa.nulls(rows, field.type)
        column = scanned.column(field.name)
        return column if column.type == field.type else column.cast(field.type)

    def _needed(self) -> list[str]:
        """The selected columns plus those the filters name, in the table's order."""
        wanted = set(self.selected) | set(filter_columns(self.filters))
        return [name for name in self.schema.names if name in wanted]

    def _split_filters(self) -> tuple[ds.Expression | None, ds.Expression | None]:
        """(pushed into the scan, applied after masking): a filter touching a masked column is never pushed."""
        if not self.filters:
            return None, None
        expression = pq.filters_to_expression(self.filters)
        if set(filter_columns(self.filters)) & set(self.masked):
            return None, expression
        return expression, None


def return_freed_memory() -> None:
    """Make this process's Arrow allocations come from jemalloc, which hands freed pages back to the OS.

    pyarrow's default pool (mimalloc) keeps the pages it frees for reuse, so a worker's
    RSS stays near its high-water mark after every partition, and pandas' pyarrow-backed
    strings (most of a partition, and what the shuffle and join move) live in that pool.
    A worker whose RSS stays above Dask's pause threshold (80% of its memory) with no
    managed data left to spill stops running tasks for good. Measured on a partition of
    90 MiB: mimalloc left RSS 165-200 MiB above where it started after the partition was
    dropped. The C library's malloc gives everything back, but at a price: the nanny's
    ``MALLOC_TRIM_THRESHOLD_`` pins glibc's mmap threshold at 128 KiB, so every Arrow buffer
    is a fresh mmap, faulted in page by page; the whole question of ``bench_dask`` then took
    +20-30% worker CPU (scale 10, each reader on its own cluster: 3.0-3.5 CPU s against
    2.4-2.7 with mimalloc). Arrow's jemalloc reuses freed pages for a second and a background
    thread returns them after that (decay 1 s), so memory goes back even to a worker that runs
    nothing: same run, 2.4-2.8 CPU s; RSS 2 s after the question 279 MiB (system 270, mimalloc
    355), peak 379 MiB (344, 440) on 2 x 1 GiB workers. Without jemalloc in the build, the system
    pool. Buffers allocated before the switch keep their own pool, so switching at any time is safe.
    """
    if pa.default_memory_pool().backend_name in ("jemalloc", "system"):
        return
    try:
        pa.set_memory_pool(pa.jemalloc_memory_pool())
    except NotImplementedError:  # a pyarrow built without jemalloc
        pa.set_memory_pool(pa.system_memory_pool())


def _pandas_type(arrow_type: pa.DataType) -> Any:
    """The pandas dtypes ``dask.dataframe.read_parquet`` gives (so frames from both mix and compare).

    Strings as pyarrow-backed strings, dates and decimals as Arrow dtypes; the rest as
    pyarrow's default conversion.
    """
    if arrow_type in (pa.string(), pa.large_string()):
        return pd.StringDtype("pyarrow")
    if pa.types.is_date(arrow_type) or pa.types.is_decimal(arrow_type):
        return pd.ArrowDtype(arrow_type)
    return None


def to_pandas(table: pa.Table) -> pd.DataFrame:
    """``table`` as a pandas partition, releasing Arrow buffers as columns convert."""
    return table.to_pandas(types_mapper=_pandas_type, split_blocks=True, self_destruct=True, use_threads=False)


def filter_columns(filters: Filters | None) -> list[str]:
    """The column names ``filters`` refer to."""
    if not filters:
        return []
    clauses = filters if isinstance(filters[0], list) else [filters]
    return [term[0] for clause in clauses for term in clause]  # type: ignore[index, union-attr]


def frame(session: Session, name: str, columns: Sequence[str] | None = None, filters: Filters | None = None,
          version: int | None = None, as_of: datetime | str | None = None,
          partition_bytes: int = PARTITION_BYTES) -> dd.DataFrame:
    """The body of ``Session.dask``: see the module docstring for what is guaranteed."""
    import dask.dataframe as dd

    session._check(session.lake.check_name(name))
    with session.audit.action("dask", wait=False, tables=[name], columns=columns, filters=filters) as done:
        delta = session.lake.delta(name, version=version, as_of=as_of)
        _check_readable(name, delta)
        schema = pa.schema(delta.schema().to_arrow())
        selected = list(columns) if columns is not None else schema.names
        unknown = [c for c in [*selected, *filter_columns(filters)] if c not in schema.names]
        if unknown:
            raise UnknownColumn(unknown[0], difflib.get_close_matches(unknown[0], schema.names, n=5, cutoff=0.5))
        snapshot = int(delta.version())
        filesystem, _ = session.lake.location.filesystem()
        parts = pack_row_groups([_fs_path(uri) for uri in delta.file_uris()], filesystem, selected, partition_bytes)
        done.update(version=snapshot, columns=selected, partitions=len(parts))
    loader = SnapshotPart(name, snapshot, schema, filesystem, tuple(selected),
                          tuple(session.gate.masked(name, schema.names)), session.policy.mask, filters)
    meta = to_pandas(schema.empty_table().select(selected))
    if not parts:
        return dd.from_pandas(meta, npartitions=1)
    return dd.from_map(loader, parts, meta=meta, label=f"lake-{name}-v{snapshot}", enforce_metadata=False)


def _check_readable(name: str, delta: Any) -> None:
    features = set(delta.protocol().reader_features or [])
    for feature, what in _UNSUPPORTED_FEATURES.items():
        if feature in features:
            raise WorkbenchError(f"{name}: the table uses {what}, which wb.dask cannot read yet; use wb.sql or wb.scan")
    if delta.metadata().partition_columns:
        raise WorkbenchError(f"{name}: the table is partitioned by {delta.metadata().partition_columns}, "
                             "which wb.dask cannot read yet; use wb.sql or wb.scan")


def _fs_path(uri: str) -> str:
    """A Delta file URI as a path inside the lake's pyarrow filesystem (``s3://b/k`` -> ``b/k``)."""
    return uri.split("://", 1)[1] if "://" in uri else uri


Piece = tuple[str, tuple[int, ...]]
"""Some row groups of one data file: (path, row group numbers)."""


def pack_row_groups(paths: Sequence[str], filesystem: pafs.FileSystem, columns: Sequence[str],
                    partition_bytes: int) -> list[tuple[Piece, ...]]:
    """The snapshot's row groups packed, in file order, into partitions of about ``partition_bytes``.

    Sizes are the uncompressed bytes of ``columns`` only (what the partition will read),
    as ``read_parquet`` sizes its partitions after projection, so a few columns of many
    small files make a few partitions, not one per file; a row group larger than the
    target is a partition of its own. The footers are read by 8 threads (one small read
    each; on an object store, one request each).
    """
    wanted = set(columns)

    def sizes(path: str) -> list[tuple[str, int, int]]:
        meta = pq.read_metadata(path, filesystem=filesystem)
        found = []
        for i in range(meta.num_row_groups):
            group = meta.row_group(i)
            found.append((path, i, sum(group.column(c).total_uncompressed_size for c in range(group.num_columns)
                                       if group.column(c).path_in_schema in wanted)))
        return found

    parts: list[tuple[Piece, ...]] = []
    current: dict[str, list[int]] = {}
    size = 0
    for path, group, nbytes in (g for groups in InProcess(threads=8).map(sizes, paths) for g in groups):
        if current and size + nbytes > partition_bytes:
            parts.append(tuple((p, tuple(gs)) for p, gs in current.items()))
            current, size = {}, 0
        current.setdefault(path, []).append(group)
        size += nbytes
    if current:
        parts.append(tuple((p, tuple(gs)) for p, gs in current.items()))
    return parts


def is_frame(data: object) -> bool:
    """Whether ``data`` is a Dask DataFrame (without importing Dask for sessions that never use it)."""
    module = type(data).__module__
    if not module.startswith("dask"):
        return False
    import dask.dataframe as dd

    return isinstance(data, dd.DataFrame)


def lineage(data: dd.DataFrame) -> dict[str, int]:
    """The lake tables (name -> version) a Dask frame was computed from, found in its expression graph."""
    found: dict[str, int] = {}
    for node in data.expr.walk():
        func = getattr(node, "operands", None) and next(
            (op for op in node.operands if isinstance(op, SnapshotPart)), None)
        if func is not None:
            found[func.table] = func.version
    return found


def write_stream(data: dd.DataFrame, name: str) -> TableStream:
    """The partitions of ``data`` as one ``TableStream`` (computed on the cluster, one partition here at a time)."""
    schema = pa.Schema.from_pandas(data._meta, preserve_index=False)

    def batches() -> Iterator[pa.RecordBatch]:
        for part in partitions(data):
            yield from pa.Table.from_pandas(part, schema=schema, preserve_index=False).to_batches()

    return TableStream(name, schema, batches())
