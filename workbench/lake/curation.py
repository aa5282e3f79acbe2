"""Curation: raw tables become curated ones by the SQL their specs declare.

Each curated spec carries ``sql`` over lake tables by name; the result is streamed (in
Arrow batches, never whole) through the curated table's contract into one overwrite
commit, with lineage naming the exact input versions read. Specs that read other curated
tables run after them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from graphlib import TopologicalSorter

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
