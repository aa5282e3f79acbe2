"""The ingestion runner's own lake tables (``system.watermarks``, ``system.ingest_runs``).

Their specs live next to this module in ``tables.toml`` (every lake loads them). They are
small, so they are read whole with ``Lake.small_table``. Connectors running in parallel
threads all merge into them, and two Delta merges into one table conflict, so writes go
through ``merge`` (one at a time per process, retried when another process won the race).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import pyarrow as pa

from workbench.lake import Lake, Lineage
from workbench.lake.catalog import retry_on_conflict

WATERMARKS = "system.watermarks"
RUNS = "system.ingest_runs"
COMMIT_ATTEMPTS = 20

_writing = threading.Lock()


def committed(name: str, commit: Callable[[], object]) -> None:
    """Run ``commit`` (one Delta commit to table ``name``) one at a time in this process, retrying
    when a concurrent writer (another process, or a data write appending quarantine rows) won."""

    def serialised() -> None:
        with _writing:
            commit()

    retry_on_conflict(name, serialised, COMMIT_ATTEMPTS)


def merge(lake: Lake, name: str, rows: pa.Table, actor: str, produced_by: str) -> None:
    """Merge ``rows`` into a system table by its key."""
    committed(name, lambda: lake.write(rows.cast(lake.specs[name].arrow_schema()), name, mode="merge", actor=actor,
                                       lineage=Lineage(produced_by=produced_by)))
