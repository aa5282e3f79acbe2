"""The ingestion runner's own lake tables (``system.watermarks``, ``system.ingest_runs``).

Their specs live next to this module in ``tables.toml`` (every lake loads them). They are
small, so they are read whole with ``Lake.small_table``. Connectors running in parallel
threads all merge into them: ``Lake`` serialises one process's writers of a table, and
``committed`` retries when another process won the race (two Delta merges into one table
conflict).
"""

from __future__ import annotations

from collections.abc import Callable

import pyarrow as pa

from workbench.lake import Lake, Lineage
from workbench.lake.catalog import retry_on_conflict

WATERMARKS = "system.watermarks"
RUNS = "system.ingest_runs"
COMMIT_ATTEMPTS = 20


def committed(name: str, commit: Callable[[], object]) -> None:
    """Run ``commit`` (one ``Lake`` write to table ``name``), retrying when a writer in another process won."""
    retry_on_conflict(name, commit, COMMIT_ATTEMPTS)


def merge(lake: Lake, name: str, rows: pa.Table, actor: str, produced_by: str) -> None:
    """Merge ``rows`` into a system table by its key."""
    committed(name, lambda: lake.write(rows.cast(lake.specs[name].arrow_schema()), name, mode="merge", actor=actor,
                                       lineage=Lineage(produced_by=produced_by)))
