"""The ingestion runner's own lake tables (``system.watermarks``, ``system.ingest_runs``).

Their specs live next to this module in ``tables.toml`` and are added to a lake's specs
by ``install``. They are small, so they are read whole with Polars; a table that does
not exist yet reads as empty with the spec's columns.
"""

from __future__ import annotations

from importlib import resources

import polars as pl
from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError

from workbench.lake import Lake, TableSpec
from workbench.lake.specs import parse_specs

WATERMARKS = "system.watermarks"
RUNS = "system.ingest_runs"


def system_specs() -> dict[str, TableSpec]:
    text = (resources.files("workbench.ingest") / "tables.toml").read_text(encoding="utf-8")
    return parse_specs(text, "workbench/ingest/tables.toml")


def install(lake: Lake) -> Lake:
    """Make the lake know the ingestion tables' specs (idempotent)."""
    for name, spec in system_specs().items():
        lake.specs.setdefault(name, spec)
    return lake


def read(lake: Lake, name: str) -> pl.DataFrame:
    """A whole system table; empty with the spec's columns when nothing was written yet."""
    try:
        dt = DeltaTable(lake.location.table_uri(name), storage_options=lake.location.storage_options)
    except TableNotFoundError:
        frame = pl.from_arrow(lake.specs[name].arrow_schema().empty_table())
    else:
        frame = pl.from_arrow(dt.to_pyarrow_table())
    assert isinstance(frame, pl.DataFrame)
    return frame
