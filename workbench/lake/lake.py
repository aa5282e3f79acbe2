"""The lake: Delta tables by zone, written atomically through contracts, with a catalog.

Every write goes through ``Lake.write``: the contract splits each batch into conforming
rows and rejections; conforming rows are streamed into one Delta commit (so a write
killed half-way leaves the table at its previous version); rejections go to
``quarantine.rejections`` with record, field and rule; the catalog then records the new
version, size and lineage. Reads resolve names through the catalog.
"""

from __future__ import annotations

import difflib
import itertools
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset
from deltalake import ColumnProperties, CommitProperties, DeltaTable, WriterProperties, write_deltalake
from deltalake.exceptions import CommitFailedError, DeltaError

from workbench.errors import UnknownTable, WorkbenchError
from workbench.lake import retention
from workbench.lake.catalog import CATALOG, Catalog, KeptTables, Lineage
from workbench.lake.contracts import Contract, Rejection
from workbench.lake.locks import TableLock, table_lock
from workbench.lake.specs import ZONES, Classification, ColumnSpec, TableSpec, standard_specs
from workbench.lake.storage import LakeLocation
from workbench.lake.streams import TableStream

WriteMode = Literal["append", "overwrite", "merge", "insert"]
QUARANTINE = "quarantine.rejections"

DICTIONARY_PAGE_BYTES = 128 * 2**10
"""Dictionary page limit of every lake column but a unique key (see ``writer_properties``)."""


def writer_properties(key: tuple[str, ...]) -> WriterProperties:
    """Parquet settings for a table with primary key ``key``.

    Row groups of 128k rows: the Parquet writer holds a whole row group in memory (its
    default of 1M rows cost ~300 MB per wide table while streaming), and smaller groups give
    DuckDB more units to scan in parallel. ZSTD keeps files small at no measurable read cost.
    A one-column key is unique, so a dictionary can never pay for itself there: the writer
    would build one per page and throw it away, a third of its time on a 1M-row table with
    a string key (measured), for a larger file.

    Other columns of many distinct values (codes, timestamps, amounts) do the same up to
    the dictionary page limit before falling back to plain encoding: 128 KiB instead of
    the writer's 1 MiB gives up sooner. On the ingest benchmark's 1M rows that cut the
    write's CPU by 40% and the files to half their size (plain pages compress better than
    a spilled dictionary), with DuckDB's scans no slower; low-cardinality columns (ports,
    currencies, statuses) still fit a dictionary.
    """
    unique = {key[0]: ColumnProperties(dictionary_enabled=False)} if len(key) == 1 else None
    return WriterProperties(max_row_group_size=131_072, dictionary_page_size_limit=DICTIONARY_PAGE_BYTES,
                            compression="ZSTD", column_properties=unique)


TARGET_FILE_BYTES = 64 * 2**20
FRAGMENTED_FILES = 32
SMALL_FILE_BYTES = 8 * 2**20
"""A file of a table larger than one target file is small below this (``_compact_if_fragmented``)."""
SMALL_WRITE_ROWS = 65_536
"""A keyed write of at most this many rows is held in memory and its keys looked up (``_keyed_in_hand``)."""
STREAM_BATCH_ROWS = 16_384
"""delta-rs reads ahead a number of batches from the stream it is given; handing it small
batches bounds that read-ahead (100k-row batches cost ~250 MB more RSS than 16k-row ones
on a wide table, measured here), at no measurable cost in write speed."""

_ARROW_TO_SPEC = {
    pa.string(): "string",
    pa.large_string(): "string",
    pa.string_view(): "string",
    pa.int64(): "int64",
    pa.int32(): "int64",
    pa.float64(): "float64",
    pa.float32(): "float64",
    pa.bool_(): "bool",
    pa.date32(): "date",
}


def snapshot_dataset(dt: DeltaTable) -> pyarrow.dataset.Dataset:
    """An Arrow dataset of ``dt``'s snapshot whose string columns are ``string_view``.

    A Delta merge (DataFusion) writes its files with ``string_view`` columns, ordinary
    writes with ``string``; a table holds both kinds once a merge has run. Over the table's
    ``string`` schema, pyarrow's scanner fails to compare a pushed-down filter with a
    ``string_view`` file's statistics ("no kernel matching input types (string,
    string_view)"), while over a ``string_view`` schema it reads files of both kinds and
    still prunes by statistics. Readers see plain strings either way (DuckDB: VARCHAR).
    """
    schema = pa.schema(dt.schema().to_arrow())  # what ``to_pyarrow_dataset`` uses by default, without its fragments
    viewed = pa.schema([f.with_type(pa.string_view()) if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)
                        else f for f in schema], metadata=schema.metadata)
    return dt.to_pyarrow_dataset(schema=viewed)


@dataclass
class WriteResult:
    """What one write did; ``rejections`` carry the reasons shown to the writer."""

    table: str
    version: int
    rows_written: int
    rows_quarantined: int
    rejections: list[Rejection] = field(default_factory=list)

    def summary(self) -> str:
        return (f"{self.table} v{self.version}: {self.rows_written:,} rows written, "
                f"{self.rows_quarantined:,} quarantined")


def infer_spec(name: str, schema: pa.Schema, **attrs: object) -> TableSpec:
    """A spec for a table nobody declared (an analyst's work table): types only, all nullable."""
    columns = {}
    for f in schema:
        kind = "timestamp" if pa.types.is_timestamp(f.type) else _ARROW_TO_SPEC.get(f.type)
        if kind is None:
            raise WorkbenchError(f"{name}: column {f.name!r} has type {f.type}, which lake tables do not store")
        columns[f.name] = ColumnSpec(type=kind, nullable=True)  # type: ignore[arg-type]
    return TableSpec.model_validate({"name": name, "columns": columns, "description": "", **attrs})


class Lake:
    """A lake rooted at a folder or object-store URL."""

    def __init__(self, location: LakeLocation, specs: Mapping[str, TableSpec] | None = None) -> None:
        location.create_root()  # a new local lake starts closed to other users (``LakeLocation.create_root``)
        self.location = location
        self.specs: dict[str, TableSpec] = {**standard_specs(), **(specs or {})}
        self.catalog = Catalog(location, self.specs[CATALOG])
        self._handles = KeptTables(location.storage_options)
        self.streamed: dict[str, retention.History] = {}
        """Tables this process commits to every second or so, and the history each keeps (``stream``)."""

    def __reduce__(self) -> tuple[type[Lake], tuple[LakeLocation, dict[str, TableSpec]]]:
        """A lake travels (to a Dask worker) as its location and specs; the receiver keeps its own handles."""
        return type(self), (self.location, self.specs)

    # -- reading -------------------------------------------------------------------------

    def check_name(self, name: str) -> str:
        """Return ``name`` if the catalog has it, else raise UnknownTable with close names."""
        names = self.catalog.names()
        if name in names:
            return name
        suggestions = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
        short = name.rpartition(".")[2]
        suggestions += [n for n in names if n.endswith(f".{short}") and n not in suggestions]
        raise UnknownTable(name, suggestions[:3])

    def delta(self, name: str, version: int | None = None, as_of: datetime | str | None = None) -> DeltaTable:
        """The Delta table behind ``name``, optionally at an older version or point in time."""
        self.check_name(name)
        dt = DeltaTable(self.location.table_uri(name), storage_options=self.location.storage_options)
        wanted = version if version is not None else as_of
        if wanted is None:
            return dt
        try:
            dt.load_as_version(wanted)
        except DeltaError as exc:  # older than the table keeps (``retention``), or not made yet
            raise self._not_kept(name, f"version {wanted}", f"{type(exc).__name__}: {str(exc).splitlines()[0]}") from exc
        if as_of is not None:  # delta-rs answers a time before the oldest kept version with that version: refuse
            at = datetime.fromisoformat(as_of) if isinstance(as_of, str) else as_of
            at = at if at.tzinfo else at.replace(tzinfo=UTC)
            # the commit's time from the newest table's history (a time-travelled table's ``history`` labels each
            # commit with the next one's time in delta-rs 1.6.6)
            newest = DeltaTable(self.location.table_uri(name), storage_options=self.location.storage_options)
            stamps = {h["version"]: h["timestamp"] for h in newest.history(newest.version() - dt.version() + 1)}
            committed = datetime.fromtimestamp(stamps[dt.version()] / 1000, UTC)
            if committed > at:
                raise self._not_kept(name, f"as of {as_of}", f"its oldest version kept, {dt.version()}, was "
                                     f"committed at {committed:%Y-%m-%d %H:%M:%S} UTC")
        return dt

    def _not_kept(self, name: str, what: str, why: str) -> WorkbenchError:
        """The error for a version (or time) of ``name`` older than its history (``retention``) or than the table."""
        now = DeltaTable(self.location.table_uri(name), storage_options=self.location.storage_options)
        kept = now.metadata().configuration.get("delta.logRetentionDuration", "interval 30 days (Delta's default)")
        return WorkbenchError(f"{name}: {what} cannot be read: the table keeps the versions of the last "
                              f"{kept.removeprefix('interval ')}, up to version {now.version()} ({why})")

    def small_table(self, name: str) -> pl.DataFrame:
        """A whole small table (run logs, watermarks, overrides) read directly, without the catalog.

        Empty, with the spec's columns, when nothing has been written yet, so bookkeeping
        code needs no first-run special case. Read through the table's kept handle (every
        connector run reads the run log and the watermarks).
        """
        uri = self.location.table_uri(name)
        with self._lock(uri).in_process():
            dt = self._handle(uri)
            table = self.specs[name].arrow_schema().empty_table() if dt is None else dt.to_pyarrow_table()
        frame = pl.from_arrow(table)
        assert isinstance(frame, pl.DataFrame)
        return frame

    # -- writing -------------------------------------------------------------------------

    def stream(self, names: Iterable[str], history: retention.History = retention.STREAMED) -> None:
        """Mark ``names`` as streamed: this process commits to them every second or so (a follower, the live
        scorer), so from their next upkeep on they keep only ``history`` (``workbench.lake.retention``)."""
        self.streamed.update(dict.fromkeys(names, history))

    def _live(self, spec: TableSpec) -> bool:
        """Whether ``spec``'s catalog entry leaves version and size to the table (``workbench.lake.catalog``)."""
        return spec.zone == "system" or spec.name in self.streamed

    def spec_for(self, name: str, schema: pa.Schema, **attrs: object) -> TableSpec:
        if name in self.specs:
            return self.specs[name]
        zone = name.partition(".")[0]
        if zone not in ZONES:
            raise WorkbenchError(f"table name {name!r} must be <zone>.<name> with zone in {', '.join(ZONES)}")
        return infer_spec(name, schema, **attrs)

    def write(
        self,
        data: TableStream | pa.Table,
        name: str | None = None,
        *,
        mode: WriteMode = "append",
        spec: TableSpec | None = None,
        actor: str = "system",
        lineage: Lineage | None = None,
        description: str = "",
        classification: Classification | str | None = None,
    ) -> WriteResult:
        """Land ``data`` in a table in one atomic commit; bad rows go to quarantine.

        ``merge`` upserts on the spec's key (re-landing the same rows changes nothing);
        ``insert`` adds only the rows whose key the table lacks and leaves the others as they
        are (a writer redoing its last batch after a kill adds nothing twice); ``append``
        rejects rows whose key is already in the table; ``overwrite`` replaces the content
        in one commit (older versions stay readable by time travel).

        A spec that has gained columns since the table was written adds them to the table
        in the same commit (rows written before read null there); Delta refuses a dropped or
        retyped column, so those need an explicit overwrite.

        Writers of one table take turns (``workbench.lake.locks``): in this process, and
        across processes on a local lake. Delta's optimistic concurrency would otherwise let
        only the first of two concurrent merges commit (two connectors feeding
        ``documents.index``; ``models up`` and the live scorer feeding
        ``curated.risk_scores``), and a streamed source cannot be replayed. On an object
        store, writers in other processes still race; the loser gets ``CommitFailedError``
        and nothing of its write is visible.
        """
        stream = data if isinstance(data, TableStream) else TableStream(
            name or "", data.schema, iter(data.to_batches())
        )
        table_name = name or stream.name
        with self._lock(self.location.table_uri(table_name)).held():
            return self._write(stream, table_name, mode, spec, actor, lineage, description, classification)

    def _write(self, stream: TableStream, table_name: str, mode: WriteMode, spec: TableSpec | None, actor: str,
               lineage: Lineage | None, description: str, classification: Classification | str | None) -> WriteResult:
        attrs: dict[str, object] = {"description": description}
        if classification is not None:
            attrs["classification"] = Classification(classification)
        spec = spec or self.spec_for(table_name, stream.schema, **attrs)
        lineage = lineage or Lineage(produced_by=f"write by {actor}")
        uri = self.location.table_uri(table_name)
        opts = self.location.storage_options
        batch_id = uuid.uuid4().hex[:12]
        contract = Contract(spec)

        existing = self._handle(uri)
        if mode in ("merge", "insert") and not spec.key:
            raise WorkbenchError(f"{table_name}: {mode} needs a key; the table declares none")
        grows = existing is not None and mode != "overwrite" and bool(
            set(contract.arrow_schema.names) - {f.name for f in existing.schema().fields})
        if existing is not None and mode == "append" and contract.keys is not None:
            for batch in snapshot_dataset(existing).to_batches(columns=list(spec.key)):
                contract.keys.add_existing(pl.from_arrow(batch))  # type: ignore[arg-type]

        rejections: list[Rejection] = []
        counts = {"written": 0, "seen": 0}

        def conforming() -> Iterator[pa.RecordBatch]:
            for batch in stream.batches:
                good, bad = contract.split(batch, offset=counts["seen"])
                counts["seen"] += batch.num_rows
                counts["written"] += good.num_rows
                rejections.extend(bad)
                yield from good.to_batches(max_chunksize=STREAM_BATCH_ROWS)

        batches: Iterator[pa.RecordBatch] = conforming()
        merge = mode in ("merge", "insert") and existing is not None
        if merge and self._lock(uri).across_processes:
            assert existing is not None
            in_hand, batches = _peek(batches, SMALL_WRITE_ROWS)
            if in_hand is not None:
                merge, in_hand = _keyed_in_hand(existing, in_hand, contract.arrow_schema, spec.key, mode)
                counts["written"] = sum(b.num_rows for b in in_hand)
                batches = iter(in_hand)
        reader = pa.RecordBatchReader.from_batches(contract.arrow_schema, batches)
        commit = _commit_properties(lineage, actor, batch_id=batch_id)
        if merge:
            assert existing is not None
            predicate = " AND ".join(f"t.{k} = s.{k}" for k in spec.key)
            merger = existing.merge(reader, predicate, source_alias="s", target_alias="t", commit_properties=commit,
                                    writer_properties=writer_properties(spec.key), merge_schema=grows)
            if mode == "merge":
                merger = merger.when_matched_update_all()
            metrics = merger.when_not_matched_insert_all().execute()
            if mode == "insert":
                counts["written"] = int(metrics.get("num_target_rows_inserted", counts["written"]))
        else:
            write_deltalake(
                uri if existing is None else existing,
                reader,
                mode="overwrite" if mode == "overwrite" else "append",
                name=table_name,
                description=spec.description or None,
                storage_options=opts if existing is None else None,
                commit_properties=commit,
                writer_properties=writer_properties(spec.key),
                target_file_size=TARGET_FILE_BYTES,
                schema_mode="merge" if grows else None,
            )
        dt = self._handle(uri)
        assert dt is not None
        if rejections:
            self.quarantine(rejections, batch_id, actor)
        self.catalog.record(spec, contract.arrow_schema, dt, actor, lineage, live=self._live(spec))
        version = dt.version()
        streamed = self.streamed.get(table_name)
        compacted = _compact_if_fragmented(dt, spec.key, (streamed and streamed.compact_above) or FRAGMENTED_FILES)
        if compacted or (version and version % FRAGMENTED_FILES == 0) or (
                streamed is not None and not retention.holds(dt, streamed)):
            # the run log and watermarks take a commit per follower round (a merge rewrites a file) and nobody
            # reads their past; streamed tables keep minutes of it from their first streamed write (``retention``)
            retention.trim(dt, streamed or (retention.BOOKKEEPING if spec.zone == "system" else None))
        return WriteResult(table_name, version, counts["written"], len(rejections), rejections)

    def _lock(self, uri: str) -> TableLock:
        return table_lock(uri, local=not self.location.is_remote)

    def _handle(self, uri: str) -> DeltaTable | None:
        """The table at ``uri`` at its latest version through its kept handle (``catalog.KeptTables``), or None
        before its first commit; hold its ``_lock``."""
        return self._handles.current(uri)

    def delete_missing(self, name: str, keys: pa.Table, actor: str = "system", lineage: Lineage | None = None) -> int:
        """Delete the rows of ``name`` whose key is not among ``keys`` (the source's full key set); one commit.

        How deletes in a source reach the lake when the source keeps no tombstones: the
        caller lists every key the source still holds, and a merge with
        ``when_not_matched_by_source_delete`` removes the rest. Returns the rows deleted.
        """
        spec = self.specs.get(name)
        key = list(spec.key) if spec else list(keys.column_names)

        def delete(dt: DeltaTable) -> int:
            schema = pa.schema(dt.schema().to_arrow())
            source = keys.select(key).cast(pa.schema([schema.field(k) for k in key]))
            held = pl.from_arrow(snapshot_dataset(dt).to_table(columns=key))
            if held.join(pl.from_arrow(source), on=key, how="anti").is_empty():  # type: ignore[union-attr, arg-type]
                return 0  # nothing to delete: no commit, so a re-run changes nothing
            metrics = (
                dt.merge(source, " AND ".join(f"t.{k} = s.{k}" for k in key), source_alias="s", target_alias="t",
                         commit_properties=_commit_properties(lineage, actor))
                .when_not_matched_by_source_delete()
                .execute()
            )
            return int(metrics.get("num_target_rows_deleted", 0))

        lineage = lineage or Lineage(produced_by=f"deletes by {actor}")
        return self._commit_deletes(name, delete, actor, lineage)

    def delete_where(self, name: str, predicate: str, actor: str = "system", lineage: Lineage | None = None) -> int:
        """Delete the rows of ``name`` matching the SQL ``predicate`` in one commit; returns the rows deleted.

        For the platform's own clean-ups (a killed ingest run's quarantine rows), so that they
        commit like every other write: under the table's lock, through its kept handle, with
        the actor in the commit and a catalog entry for the new version. A table that does not
        exist yet has nothing to delete.
        """
        lineage = lineage or Lineage(produced_by=f"deletes by {actor}")

        def delete(dt: DeltaTable) -> int:
            metrics = dt.delete(predicate, commit_properties=_commit_properties(lineage, actor))
            return int(metrics.get("num_deleted_rows", 0))

        return self._commit_deletes(name, delete, actor, lineage)

    def _commit_deletes(self, name: str, delete: Callable[[DeltaTable], int], actor: str, lineage: Lineage) -> int:
        """Run ``delete`` (one Delta commit, or none when it returns 0) on the kept handle and record the result."""
        uri = self.location.table_uri(name)
        with self._lock(uri).held():
            dt = self._handle(uri)
            if dt is None:
                return 0
            deleted = delete(dt)
            if deleted:
                dt = self._handle(uri)
                assert dt is not None
                schema = pa.schema(dt.schema().to_arrow())
                spec = self.spec_for(name, schema)
                self.catalog.record(spec, schema, dt, actor, lineage, live=self._live(spec))
            return deleted

    def quarantine(self, rejections: Iterable[Rejection], batch_id: str, actor: str) -> None:
        """Append rejections to ``quarantine.rejections`` (also for records rejected before any contract ran)."""
        spec = self.specs[QUARANTINE]
        now = datetime.now(UTC).replace(tzinfo=None)
        rows = [
            {"table_name": r.table, "batch_id": batch_id, "record": r.record, "field": r.field, "rule": r.rule,
             "value": r.value, "reason": r.reason, "payload": r.payload, "rejected_at": now, "rejected_by": actor}
            for r in rejections
        ]
        self.write(pa.Table.from_pylist(rows, schema=spec.arrow_schema()), QUARANTINE, actor=actor,
                   lineage=Lineage(produced_by=f"quarantine of batch {batch_id}"))


def _peek(batches: Iterator[pa.RecordBatch], limit: int) -> tuple[list[pa.RecordBatch] | None, Iterator[pa.RecordBatch]]:
    """The whole of ``batches`` when it holds at most ``limit`` rows (else None), and the batches to write."""
    head, rows = [], 0
    for batch in batches:
        head.append(batch)
        rows += batch.num_rows
        if rows > limit:
            return None, itertools.chain(head, batches)
    return head, iter(head)


def _keyed_in_hand(dt: DeltaTable, batches: list[pa.RecordBatch], schema: pa.Schema, key: tuple[str, ...],
                   mode: WriteMode) -> tuple[bool, list[pa.RecordBatch]]:
    """A small merge or insert whose rows are all in hand: whether it still needs a Delta merge, and its rows.

    A Delta merge joins the source with the whole table to find matching keys and costs
    seconds on a table of a million rows however few rows it brings (3-4 s for 40 rows here);
    the live loop commits a few rows a second into such tables. Looking the few keys up
    (a filtered read of the key columns) takes milliseconds, and when none is in the table
    a merge and an insert both come down to an append, which Delta commits without reading
    the table. An insert drops the rows whose key is held and appends the rest. Only under
    the cross-process write lock: between the look-up and the commit nobody else may land a key.
    """
    table = pa.Table.from_batches(batches, schema=schema)
    incoming = pl.from_arrow(table.select(list(key)))
    assert isinstance(incoming, pl.DataFrame)
    # Polars prunes files and row groups by their statistics (pyarrow's scanner fails comparing the
    # string statistics of files a Delta merge wrote with string_view values)
    held = pl.scan_delta(dt).select(list(key)).filter(
        [pl.col(k).is_in(incoming[k].unique().implode()) for k in key]).collect()
    if held.is_empty():
        return False, batches
    if mode == "merge":
        return True, batches
    new = incoming.with_row_index("row").join(held, on=list(key), how="anti")["row"].sort()
    return False, table.take(pa.array(new.to_numpy())).to_batches(max_chunksize=STREAM_BATCH_ROWS)


def _compact_if_fragmented(dt: DeltaTable, key: tuple[str, ...], most: int) -> bool:
    """Rewrite a table's many small files as few: all of a table smaller than one target file once it is spread
    over more than ``most`` files, or a larger table's files under ``SMALL_FILE_BYTES`` once there are more than
    ``most`` of them.

    The bookkeeping tables (run log, watermarks, quarantine, annotations) gain a small file
    with nearly every write, and so do the live loop's large tables (a follower's round
    appends a few rows to a million-row raw table, the scorer a few scores): every read
    opens all their files, and a table fed every second would pass 80,000 files a day.
    A large table's big files are left as they are (delta-rs compacts only files below
    the target size it is given), so a compaction costs what the small files hold.
    Compaction is a commit that changes no data; one that loses a race with another
    writer is skipped (the next write tries again). Returns whether it compacted.
    """
    files = pa.table(dt.get_add_actions(flatten=True))
    sizes = files.column("size_bytes")
    if (pc.sum(sizes).as_py() or 0) <= TARGET_FILE_BYTES:  # a table of no files sums to null
        if files.num_rows <= most:
            return False
        target = TARGET_FILE_BYTES
    else:
        if pc.sum(pc.less(sizes, SMALL_FILE_BYTES)).as_py() <= most:
            return False
        target = SMALL_FILE_BYTES
    try:
        dt.optimize.compact(target_size=target, writer_properties=writer_properties(key))
        return True
    except CommitFailedError:
        return False


def _commit_properties(lineage: Lineage, actor: str, **extra: str) -> CommitProperties:
    """What every lake commit says about itself in the Delta log: who, from what."""
    return CommitProperties(custom_metadata={
        "produced_by": lineage.produced_by, "inputs": lineage.inputs_json(), "actor": actor, **extra})
