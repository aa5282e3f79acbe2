"""The ingestion runner's own lake tables (``system.watermarks``, ``system.ingest_runs``).

Their specs live next to this module in ``tables.toml`` and are added to a lake's specs
by ``install``. They are small, so they are read whole with Polars; a table that does
not exist yet reads as empty with the spec's columns. Connectors running in parallel
threads all merge into them, and two Delta merges into one table conflict, so writes go
through ``merge`` (one at a time per process, retried when another process won the race).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from importlib import resources

import polars as pl
import pyarrow as pa
from deltalake import DeltaTable
from deltalake.exceptions import CommitFailedError, TableNotFoundError

from workbench.errors import WriteConflict
from workbench.lake import Lake, Lineage, TableSpec
from workbench.lake.specs import parse_specs

WATERMARKS = "system.watermarks"
RUNS = "system.ingest_runs"
COMMIT_ATTEMPTS = 20

_writing = threading.Lock()


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


def committed(name: str, commit: Callable[[], object]) -> None:
    """Run ``commit`` (one Delta commit to table ``name``) one at a time in this process, retrying
    when a concurrent writer (another process, or a data write appending quarantine rows) won."""
    for attempt in range(COMMIT_ATTEMPTS):
        try:
            with _writing:
                commit()
            return
        except CommitFailedError:
            time.sleep(0.05 * (attempt + 1))
    raise WriteConflict(f"{name}: could not commit after {COMMIT_ATTEMPTS} attempts: too many concurrent writers")


def merge(lake: Lake, name: str, rows: pa.Table, actor: str, produced_by: str) -> None:
    """Merge ``rows`` into a system table by its key."""
    committed(name, lambda: lake.write(rows.cast(lake.specs[name].arrow_schema()), name, mode="merge", actor=actor,
                                       lineage=Lineage(produced_by=produced_by)))
