"""Curation: raw tables become curated ones by the SQL their specs declare.

Each curated spec carries ``sql`` over lake tables by name; the result is streamed (in
Arrow batches, never whole) through the curated table's contract into one overwrite
commit, with lineage naming the exact input versions read. Specs that read other curated
tables run after them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from graphlib import TopologicalSorter

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

    The follower's step after each round (``ingest.runner.follow``): new source records
    reach the curated tables within a second instead of at the next full ``curate``. Only
    curated tables with a key that exist already are touched; rows changed at the source
    under a key the curated table holds wait for the next full ``curate``. Inserted by key
    (``Lake.write`` mode ``insert``), so a step repeated after a kill adds nothing twice.
    The curated SQL reads only the changed inputs' rows whose key it lacks (``_Unseen``).
    """
    changed = set(changed)
    present = set(lake.catalog.names())
    results = []
    for spec in curated_specs(lake):
        assert spec.sql is not None
        if not spec.key or not changed & referenced_tables(spec.sql) or spec.name not in present:
            continue
        engine = _Unseen(lake, spec, changed)
        key = ", ".join(spec.key)
        query = f"SELECT n.* FROM ({spec.sql}) n ANTI JOIN {spec.name} c USING ({key})"
        inputs = engine.versions(query)
        reader = engine.reader(query, batch_rows=BATCH_ROWS)
        batches = list(reader)
        if not any(b.num_rows for b in batches):
            continue
        results.append(lake.write(TableStream(spec.name, reader.schema, iter(batches)), mode="insert", actor=actor,
                                  lineage=Lineage(produced_by=f"curate new rows of {spec.name}",
                                                  inputs=tuple(inputs.items()))))
    return results


class _Unseen(LakeSQL):
    """The lake as ``curate_new`` reads it for one curated table: each changed input that holds the table's key
    columns shows only its rows whose key the curated table lacks.

    A curated spec's SQL (name keys, currency conversion) costs CPU per row, and the whole
    input grows with every round of a live feed while a round brings a few rows: filtering
    the input on its key first makes a round's curation cost what the new rows cost (the
    largest part of a follower round before, measured in benchmarks/bench_clearance.py).
    Relies on the curated key carrying the input's key values, as every curated spec here
    does; the query's own anti-join on the curated key still decides what is new.
    """

    def __init__(self, lake: Lake, spec: TableSpec, changed: set[str]) -> None:
        super().__init__(lake)
        self.spec, self.changed = spec, changed

    def scan_sql(self, name: str, dt: DeltaTable) -> str:
        scan = super().scan_sql(name, dt)
        if name not in self.changed or not set(self.spec.key) <= {f.name for f in dt.schema().fields}:
            return scan
        held = super().scan_sql(self.spec.name, self.lake.delta(self.spec.name))
        key = ", ".join('"' + k.replace('"', '""') + '"' for k in self.spec.key)
        return f"SELECT n.* FROM ({scan}) n ANTI JOIN (SELECT {key} FROM ({held})) c USING ({key})"
