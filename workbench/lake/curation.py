"""Curation: raw tables become curated ones by the SQL their specs declare.

Each curated spec carries ``sql`` over lake tables by name; the result is streamed (in
Arrow batches, never whole) through the curated table's contract into one overwrite
commit, with lineage naming the exact input versions read. Specs that read other curated
tables run after them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from graphlib import TopologicalSorter

import pyarrow as pa
from deltalake import DeltaTable

from workbench.errors import WorkbenchError
from workbench.lake.catalog import Lineage
from workbench.lake.lake import Lake, WriteResult
from workbench.lake.specs import TableSpec
from workbench.lake.sql import LakeSQL, referenced_tables
from workbench.lake.streams import TableStream

BATCH_ROWS = 100_000


def curated_specs(lake: Lake, names: Iterable[str] | None = None) -> list[TableSpec]:
    """Curated specs in an order where every input is built before its readers."""
    specs = {n: s for n, s in lake.specs.items() if s.sql is not None}
    wanted = set(names) if names is not None else set(specs)
    unknown = wanted - set(specs)
    if unknown:
        raise WorkbenchError(f"no curation is declared for {', '.join(sorted(unknown))}")
    graph = {n: {d for d in referenced_tables(specs[n].sql or "") if d in specs} for n in specs}
    order = TopologicalSorter(graph).static_order()
    return [specs[n] for n in order if n in wanted]


def curate(
    lake: Lake,
    names: Iterable[str] | None = None,
    actor: str = "system",
    on_table: Callable[[WriteResult], None] | None = None,
) -> list[WriteResult]:
    """Rebuild curated tables from their inputs; returns one result per table."""
    engine = LakeSQL(lake)
    results = []
    for spec in curated_specs(lake, names):
        assert spec.sql is not None
        inputs = engine.versions(spec.sql)
        reader = engine.reader(spec.sql, batch_rows=BATCH_ROWS)
        result = lake.write(
            TableStream(spec.name, reader.schema, iter(reader)),
            mode="overwrite",
            actor=actor,
            lineage=Lineage(produced_by=f"curate {spec.name}", inputs=tuple(inputs.items())),
        )
        results.append(result)
        if on_table is not None:
            on_table(result)
    return results


def curate_new(lake: Lake, changed: Iterable[str], actor: str = "system") -> list[WriteResult]:
    """Add to the curated tables that read any of the ``changed`` tables the rows whose key they lack yet.

    One call of ``NewRows.curate`` (see there); a follower keeps one ``NewRows`` across its
    rounds instead, so each round reads only the files its inputs gained.
    """
    return NewRows(lake).curate(changed, actor)


class NewRows:
    """Curates the rows that land in raw tables between calls: the follower's step after each round.

    New source records reach the curated tables within a second instead of at the next full
    ``curate``. Only curated tables with a key that exist already are touched; rows changed
    at the source under a key the curated table holds wait for the next full ``curate``.
    Inserted by key (``Lake.write`` mode ``insert``), so a step repeated after a kill adds
    nothing twice.

    What a call reads of a changed input: at the first call for a curated table (a follower
    just started, perhaps after a kill), or when the input's files were rewritten since
    (a merge that updated rows, a compaction), the input's rows whose key the curated table
    lacks (``_Unseen``: an anti-join on the key, which costs a scan of both key columns);
    otherwise only the Parquet files the input gained since the last call that succeeded,
    which is what a round landed (a round's commit appends files), so a round costs what
    its rows cost however large the tables have grown. Insert mode drops any of them the
    curated table holds already. One DuckDB connection per curated table is kept (opening
    one costs ~50 ms here, each round). Local lakes only for the file-list read (object
    stores take the anti-join).
    """

    def __init__(self, lake: Lake) -> None:
        self.lake = lake
        self.engines: dict[str, _Unseen] = {}
        self.seen: dict[tuple[str, str], frozenset[str]] = {}
        """(curated table, input) -> the input's files when its rows were last curated."""

    def curate(self, changed: Iterable[str], actor: str = "system") -> list[WriteResult]:
        changed = set(changed)
        present = set(self.lake.catalog.names())
        results = []
        for spec in curated_specs(self.lake):
            assert spec.sql is not None
            inputs = referenced_tables(spec.sql)
            if not spec.key or not changed & inputs or spec.name not in present:
                continue
            engine = self.engines.get(spec.name) or self.engines.setdefault(spec.name, _Unseen(self.lake, spec))
            engine.prepare(changed & inputs, {i: self.seen.get((spec.name, i)) for i in changed & inputs})
            if engine.incremental:
                query = spec.sql
            else:
                query = f"SELECT n.* FROM ({spec.sql}) n ANTI JOIN {spec.name} c USING ({', '.join(spec.key)})"
            versions = engine.versions(query)
            if engine.nothing_new():
                continue
            reader = engine.reader(query, batch_rows=BATCH_ROWS)
            batches = list(reader)
            if any(b.num_rows for b in batches):
                fed_by = [self.lake.streamed[i] for i in sorted(changed & inputs) if i in self.lake.streamed]
                if fed_by:  # a commit per commit of a streamed input: streamed too (``lake.retention``)
                    self.lake.stream([spec.name], fed_by[0])
                results.append(self.lake.write(TableStream(spec.name, reader.schema, iter(batches)), mode="insert",
                                               actor=actor, lineage=Lineage(produced_by=f"curate new rows of {spec.name}",
                                                                            inputs=tuple(versions.items()))))
            self.seen.update({(spec.name, i): files for i, files in engine.read_files.items()})
        return results


class _Unseen(LakeSQL):
    """The lake as ``NewRows`` reads it for one curated table: each changed input shows only its new rows.

    An input whose files at the last curation are known (``prepare``) and are all still there
    shows the files added since; otherwise an input that holds the table's key columns shows
    its rows whose key the curated table lacks. A curated spec's SQL (name keys, currency
    conversion) costs CPU per row, and the whole input grows with every round of a live feed
    while a round brings a few rows: filtering the input first makes a round's curation cost
    what the new rows cost. Relies on the curated key carrying the input's key values, as
    every curated spec here does; the anti-join query of ``NewRows`` still decides what is new.
    """

    def __init__(self, lake: Lake, spec: TableSpec) -> None:
        super().__init__(lake)
        self.spec = spec
        self.changed: set[str] = set()
        self.before: dict[str, frozenset[str] | None] = {}
        self.read_files: dict[str, frozenset[str]] = {}
        self.added: dict[str, int] = {}

    def prepare(self, changed: set[str], before: dict[str, frozenset[str] | None]) -> None:
        """Read ``changed`` anew at the next query; ``before``: each one's files at its last curation (or None)."""
        self.changed, self.read_files, self.added = changed, {}, {}
        self.before = {name: files if files is not None and not self.lake.location.is_remote
                       and files <= self._files(name) else None for name, files in before.items()}
        for name in {*changed, self.spec.name}:
            self._attached.pop(name, None)  # the views of these change with every call

    def _files(self, name: str) -> frozenset[str]:
        """The current files of input ``name``, through the handle ``attach`` keeps."""
        dt = self._tables.get(name)
        if dt is None:
            dt = self._tables[name] = self.lake.delta(name)
        else:
            dt.update_incremental()
        return frozenset(dt.file_uris())

    @property
    def incremental(self) -> bool:
        """Whether every changed input is read as the files it gained (so the query needs no anti-join)."""
        return all(files is not None for files in self.before.values())

    def nothing_new(self) -> bool:
        """After ``versions``: whether the changed inputs, all read as gained files, gained none."""
        return self.incremental and not any(self.added.values())

    def scan_sql(self, name: str, dt: DeltaTable) -> str:
        if name not in self.changed:
            return super().scan_sql(name, dt)
        files = frozenset(dt.file_uris())
        self.read_files[name] = files
        before = self.before.get(name)
        if before is not None and before <= files:
            added = sorted(files - before)
            self.added[name] = len(added)
            if not added:
                return f"SELECT * FROM {self.register(name, pa.schema(dt.schema().to_arrow()).empty_table())}"
            return self.parquet_scan(dt, added)
        self.before[name] = None  # rewritten since: read what the curated table lacks (the query anti-joins)
        scan = super().scan_sql(name, dt)
        if not set(self.spec.key) <= {f.name for f in dt.schema().fields}:
            return scan
        held = super().scan_sql(self.spec.name, self.lake.delta(self.spec.name))
        key = ", ".join('"' + k.replace('"', '""') + '"' for k in self.spec.key)
        return f"SELECT n.* FROM ({scan}) n ANTI JOIN (SELECT {key} FROM ({held})) c USING ({key})"
