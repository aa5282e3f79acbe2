"""The catalog: one Delta table (``system.catalog``) describing every table in the lake.

It is updated by the same call that writes a table, right after the table's commit, so it
names the version that write produced. Readers never scan the lake's folders to learn
what exists: a table is in the lake when it is in the catalog.

The Delta table is a log of entries: each write appends one, and a table's entry is its
latest (by the table's version, which only grows, then by time). An append is a blind
commit: it never conflicts with another writer's, where an upsert (a Delta merge) had to
be retried when two writers raced, and it costs a third of one (8 ms against 25 ms here;
three of them close every connector run). So that readers do not read a growing history,
a writer that finds the log spread over more than ``SNAPSHOT_FILES`` files replaces it
with the current entries in one file: an overwrite of the snapshot it read, so an entry
another writer appended meanwhile stays (Delta removes only the files the overwrite had
read).

The catalog's own history is not kept: what the lake promises to time-travel are its tables
(``wb.table(name, version=)``), whose versions the entries name. A live loop appends ten
entries a second (every follower round's and scorer tick's writes), which left 5,700 versions
and 85 MB of log and replaced files in ten minutes. So the catalog table carries the short
``retention.BOOKKEEPING`` history: delta-rs drops log files older than that at each checkpoint
(every 100 commits, its own post-commit hook), and each snapshot vacuums the files replaced
more than that ago; a reader whose kept handle or cached file list fell behind meanwhile
reads the table afresh.

Most of those entries did not describe anything new. Half were the ingestion runner's
bookkeeping (``system.ingest_runs``, ``system.watermarks``: two or three commits per table a
follower round lands), the rest the streamed tables' (``Lake.stream``: a follower's targets,
the curated tables fed from them, the live scorer's scores and queue), each committed every
second or so. These tables are **live**: they gain an entry only when what the entry
describes of them changes (``DESCRIBES``), and their version, row count and time of last
commit are read from the table itself (``live_figures``, ``version``; kept handles, a
millisecond or so a table). With an entry per commit, the catalog was the lake's hottest
table, and every query of an app brought it up to date first: an officer's queue query took
8.2 ms against 5.5 ms once the catalog was rewritten as one commit (measured on the lake of
``bench_clearance --day`` 1,000 commits in). The lineage an
entry of a live table names is that of the write that made the entry; each commit's own
(``produced_by``, ``inputs``, ``actor``) is in the table's Delta log.
"""

from __future__ import annotations

import json
import time
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

import polars as pl
import pyarrow as pa
from deltalake import DeltaTable, write_deltalake
from deltalake.exceptions import CommitFailedError, DeltaError, TableNotFoundError

from workbench.errors import WriteConflict
from workbench.lake import retention
from workbench.lake.specs import TableSpec
from workbench.lake.storage import LakeLocation

T = TypeVar("T")

CATALOG = "system.catalog"
SNAPSHOT_FILES = 32


@dataclass(frozen=True)
class Lineage:
    """What produced a table version and from which table versions."""

    produced_by: str
    inputs: tuple[tuple[str, int], ...] = ()
    carried: str | None = None
    """JSON of what a session's write carries from its inputs (``workbench.security.lineage``)."""

    def inputs_json(self) -> str:
        return json.dumps([{"table": t, "version": v} for t, v in self.inputs])


def schema_json(schema: pa.Schema) -> str:
    return json.dumps([{"name": f.name, "type": str(f.type), "nullable": f.nullable} for f in schema])


DESCRIBES = ("zone", "description", "owner", "classification", "key", "schema", "live")
"""What a live table's entry says that is not its version, size or last writer (module docstring)."""


class Catalog:
    """Reads and updates ``system.catalog``; a small table, read whole."""

    def __init__(self, location: LakeLocation, spec: TableSpec) -> None:
        self.location = location
        self.spec = spec
        self.uri = location.table_uri(CATALOG)
        self._cache: tuple[int, frozenset[str], pl.DataFrame] | None = None
        self._table: DeltaTable | None = None
        self._lock = threading.Lock()
        self._live = KeptTables(location.storage_options)
        self._live_lock = threading.Lock()
        empty = pl.from_arrow(spec.arrow_schema().empty_table())
        assert isinstance(empty, pl.DataFrame)
        self._empty = empty

    def frame(self) -> pl.DataFrame:
        """The catalog as a Polars frame, sorted by name; empty (with columns) for a new lake."""
        with self._lock:
            table = self._current()
            if table is None:
                return self._empty
            version = table.version()
            if self._cache is None or self._cache[0] != version:
                version, files, entries = self._entries(table, version)
                # a catalog written before the spec gained a column: its entries read it as null
                self._cache = version, files, entries.with_columns(
                    pl.lit(None, dtype).alias(column) for column, dtype in self._empty.schema.items()
                    if column not in entries.columns)
            return self._cache[2]

    def _entries(self, table: DeltaTable, version: int) -> tuple[int, frozenset[str], pl.DataFrame]:
        """The current entries at ``version``: on a local lake whose log only gained files since the cached
        version (appended entries), the cache plus those files' entries; else the whole log read again.

        Every write appends an entry, so a reader that reads the whole log after each one
        (every access check and every write asks the catalog) paid a read of up to
        ``SNAPSHOT_FILES`` files per write: a fifth of a live follower's round.
        """
        files = frozenset(table.file_uris())
        if self._cache is not None and not self.location.is_remote and self._cache[1] <= files:
            added = sorted(files - self._cache[1])
            try:
                frame = self._cache[2] if not added else _latest(pl.concat(
                    [self._cache[2], pl.read_parquet(added)], how="diagonal_relaxed"))
                return version, files, frame
            except FileNotFoundError:  # replaced by another writer's snapshot and vacuumed since
                pass
        return version, files, _current_entries(table)

    def _current(self) -> DeltaTable | None:
        """The kept table handle brought up to date (``refreshed``), or None before the first entry; hold ``_lock``.

        Every access check and every write asks the catalog. One handle serves many threads
        (parallel connectors), so its users take turns.
        """
        self._table = refreshed(self._table, self.uri, self.location.storage_options)
        return self._table

    def names(self) -> list[str]:
        return self.frame()["name"].to_list()

    def entry(self, name: str) -> dict[str, object] | None:
        rows = self.frame().filter(pl.col("name") == name)
        return rows.row(0, named=True) if rows.height else None

    def last_lineage(self, names: Sequence[str]) -> Lineage | None:
        """The one lineage all of ``names`` were last written with, or ``None`` (missing, or written apart).

        A step that writes several tables in one run (resolve, build) compares this with
        its current run key and input versions to skip work whose inputs have not changed.
        """
        entries = [self.entry(name) for name in names]
        if any(e is None for e in entries):
            return None
        runs = {(str(e["produced_by"]), json.dumps(json.loads(str(e["inputs"] or "[]")), sort_keys=True))
                for e in entries if e is not None}
        if len(runs) != 1:
            return None
        key, inputs = runs.pop()
        return Lineage(key, tuple(sorted((i["table"], int(i["version"])) for i in json.loads(inputs))))

    def record(self, spec: TableSpec, schema: pa.Schema, dt: DeltaTable, actor: str, lineage: Lineage,
               live: bool) -> None:
        """Append an entry for ``spec.name`` describing ``dt``'s current version (its current entry from now on);
        a ``live`` table's only when its description changed (module docstring)."""
        described = {"zone": spec.zone, "description": spec.description, "owner": spec.owner,
                     "classification": spec.classification.value, "key": ",".join(spec.key),
                     "schema": schema_json(schema), "live": live}
        if live and (held := self.entry(spec.name)) is not None and all(
                held.get(k) == described[k] for k in DESCRIBES):
            return
        entry = {
            "name": spec.name,
            **described,
            "row_count": row_count(dt),
            "version": dt.version(),
            "updated_at": datetime.now(UTC).replace(tzinfo=None),
            "updated_by": actor,
            "produced_by": lineage.produced_by,
            "inputs": lineage.inputs_json(),
            "carried": lineage.carried,
        }
        batch = pa.Table.from_pylist([entry], schema=self.spec.arrow_schema())

        def append() -> None:
            with self._lock:
                table = self._current()
                if table is None:  # the lake's first entry: two processes may race to create the log
                    write_deltalake(self.uri, batch, mode="append", storage_options=self.location.storage_options,
                                    configuration=retention.BOOKKEEPING.properties)
                    return
                # moves the handle to the new version; a catalog written before the spec gained a column gains it
                write_deltalake(table, batch, mode="append", schema_mode="merge")
                if len(table.file_uris()) > SNAPSHOT_FILES:
                    self._snapshot(table)

        retry_on_conflict(f"{CATALOG} entry of {spec.name}", append)

    def live_figures(self, frame: pl.DataFrame) -> pl.DataFrame:
        """``frame`` (entries) with each live table's version, row count and time of last commit read from the table.

        A table this process cannot open (gone, or its files closed to this user) keeps its
        entry's figures.
        """
        live = {}
        for name in frame.filter(is_live())["name"]:
            dt = self._live_table(name)
            if dt is not None:
                committed = dt.history(1)[0]["timestamp"]
                live[name] = {"version": dt.version(), "row_count": row_count(dt),
                              "updated_at": datetime.fromtimestamp(committed / 1000, UTC).replace(tzinfo=None)}
        if not live:
            return frame
        return frame.with_columns(
            pl.col("name").replace_strict({n: figures[column] for n, figures in live.items()}, default=pl.col(column),
                                          return_dtype=frame.schema[column]).alias(column)
            for column in ("version", "row_count", "updated_at"))

    def version(self, name: str) -> int | None:
        """The current version of ``name`` (a live table's own), or None when the lake has no such table."""
        rows = self.frame().filter(pl.col("name") == name)
        if rows.is_empty():
            return None
        dt = self._live_table(name) if rows.select(is_live()).item() else None
        return int(rows["version"].item()) if dt is None else dt.version()

    def _live_table(self, name: str) -> DeltaTable | None:
        """The kept handle of live table ``name`` brought up to date, or None when this process cannot open it."""
        with self._live_lock:
            try:
                return self._live.current(self.location.table_uri(name))
            except (DeltaError, OSError):
                return None

    def _snapshot(self, table: DeltaTable) -> None:
        """Replace the log with its current entries in one file (module docstring); hold ``_lock``."""
        try:
            write_deltalake(table, _current_entries(table).to_arrow().cast(self.spec.arrow_schema()), mode="overwrite")
            retention.trim(table, retention.BOOKKEEPING)
        except CommitFailedError:
            pass  # another writer's snapshot won; the next entry tries again


def is_live() -> pl.Expr:
    """Entries of live tables (module docstring); a system table's entry written before entries said so too."""
    return pl.col("live").fill_null(False) | (pl.col("zone") == "system")


def row_count(dt: DeltaTable) -> int:
    """Rows in ``dt``'s snapshot, from the log's per-file statistics (no data file opened)."""
    actions = pa.table(dt.get_add_actions(flatten=True))
    return int(sum(r or 0 for r in actions.column("num_records").to_pylist())) if actions.num_rows else 0


def refreshed(kept: DeltaTable | None, uri: str, storage_options: dict[str, str] | None) -> DeltaTable | None:
    """``kept`` brought up to date, else the table at ``uri`` opened; None before its first commit.

    Handles are kept because ``update_incremental`` reads only the commits since, where
    opening a table replays its log from the last checkpoint (up to 100 commits: 12-23 ms on
    the catalog and the bookkeeping tables, which every write and access check touch).
    """
    try:
        if kept is not None:
            try:
                kept.update_incremental()
                return kept
            except DeltaError:  # the log it stopped at has been cleaned up since (``retention``): open afresh
                pass
        return DeltaTable(uri, storage_options=storage_options)
    except TableNotFoundError:
        return None


class KeptTables:
    """Delta table handles kept by URI, each brought up to date when asked for (``refreshed``), for readers and
    writers that come back to the same tables every second or so."""

    def __init__(self, storage_options: dict[str, str] | None) -> None:
        self.storage_options = storage_options
        self._handles: dict[str, DeltaTable] = {}

    def current(self, uri: str) -> DeltaTable | None:
        """The table at ``uri`` at its latest version, or None before its first commit; not thread-safe."""
        dt = refreshed(self._handles.get(uri), uri, self.storage_options)
        if dt is None:
            self._handles.pop(uri, None)
        else:
            self._handles[uri] = dt
        return dt


def _current_entries(table: DeltaTable) -> pl.DataFrame:
    """Each table's latest entry of the log, sorted by name."""
    entries = pl.from_arrow(table.to_pyarrow_table())
    assert isinstance(entries, pl.DataFrame)
    return _latest(entries)


def _latest(entries: pl.DataFrame) -> pl.DataFrame:
    """Each table's latest entry (by the table's version, then time), sorted by name."""
    return entries.sort("version", "updated_at").unique("name", keep="last", maintain_order=True).sort("name")


def retry_on_conflict(name: str, commit: Callable[[], T], attempts: int = 20) -> T:
    """Run ``commit`` (one Delta commit to ``name``) and return what it returns, retrying with a
    growing pause while a concurrent writer keeps winning; small shared tables (catalog, run
    logs) and tables a daemon writes too (the live scorer's ``curated.risk_scores``) need this."""
    for attempt in range(attempts):
        try:
            return commit()
        except CommitFailedError:
            time.sleep(0.05 * (attempt + 1))
    raise WriteConflict(f"{name}: could not commit after {attempts} attempts: too many concurrent writers")
