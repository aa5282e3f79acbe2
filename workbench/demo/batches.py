"""From generator columns to lake batches that match the declared table specs.

The schemas are not written twice: every stream takes its Arrow schema from the TOML
spec of its table (``workbench/lake/tables/raw.toml`` and ``truth.toml``), so a column
added to a spec without its generator fails loudly here rather than in the lake.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from functools import cache
from importlib import resources
from typing import Any

import pyarrow as pa

from workbench.lake.specs import TableSpec, merge_specs
from workbench.lake.streams import TableStream

SPEC_FILES = ("raw.toml", "truth.toml")


@cache
def demo_specs() -> dict[str, TableSpec]:
    """Specs of every table the demo world produces."""
    folder = resources.files("workbench.lake") / "tables"
    return merge_specs(((folder / f).read_text(encoding="utf-8"), f"workbench/lake/tables/{f}") for f in SPEC_FILES)


def schema_of(name: str) -> pa.Schema:
    return demo_specs()[name].arrow_schema()


def make_batch(name: str, columns: Mapping[str, Any]) -> pa.RecordBatch:
    """Build one batch of table ``name`` from arrays or lists keyed by column name.

    Raises ``KeyError``/``ValueError`` when the columns do not match the spec exactly.
    """
    schema = schema_of(name)
    if list(columns) != schema.names:
        missing = [c for c in schema.names if c not in columns]
        extra = [c for c in columns if c not in schema.names]
        raise ValueError(f"{name}: columns differ from spec (missing {missing}, extra {extra}, or order)")
    arrays = []
    for field in schema:
        value = columns[field.name]
        if isinstance(value, pa.ChunkedArray):
            value = value.combine_chunks()
        arrays.append(value.cast(field.type) if isinstance(value, pa.Array) else pa.array(value, type=field.type))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def slices(batch: pa.RecordBatch | pa.Table, rows: int) -> Iterator[pa.RecordBatch]:
    """Split an in-memory table into batches of at most ``rows`` rows."""
    table = batch if isinstance(batch, pa.Table) else pa.Table.from_batches([batch])
    yield from table.to_batches(max_chunksize=rows)


def stream(name: str, batches: Iterable[pa.RecordBatch]) -> TableStream:
    """A ``TableStream`` for ``name`` with its spec schema; ``batches`` stays lazy."""
    return TableStream(name=name, schema=schema_of(name), batches=iter(batches))
