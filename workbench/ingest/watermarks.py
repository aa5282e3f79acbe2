"""Watermarks: how far each connector has read each source, stored in ``system.watermarks``.

A watermark is a small set of named marks per (source, target table): a SQL kind keeps
its incremental column's high-water mark, a file drop one mark per processed file. The
runner advances them only after the data they cover has committed, so a run killed
anywhere re-reads from the last committed point, and merging by key makes that re-read
land nothing twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

import polars as pl
import pyarrow as pa

from workbench.ingest import systables
from workbench.lake import Lake

Marks = dict[str, str]


class Watermarks:
    """Reads and advances the marks of one lake."""

    def __init__(self, lake: Lake) -> None:
        self.lake = lake

    def get(self, source: str, table: str) -> Marks:
        frame = self.lake.small_table(systables.WATERMARKS).filter(
            (pl.col("source") == source) & (pl.col("table_name") == table)
        )
        return dict(zip(frame["mark"].to_list(), frame["value"].to_list(), strict=True))

    def advanced_by(self, source: str, table: str) -> set[str]:
        """Ids of runs whose marks are stored: their data, and what they quarantined, is complete."""
        frame = self.lake.small_table(systables.WATERMARKS).filter(
            (pl.col("source") == source) & (pl.col("table_name") == table)
        )
        return set(frame["run_id"].to_list())

    def advance(self, source: str, table: str, marks: Mapping[str, str], run_id: str, actor: str) -> None:
        """Merge ``marks`` in one commit; marks not named keep their value."""
        if not marks:
            return
        now = datetime.now(UTC).replace(tzinfo=None)
        rows = [{"source": source, "table_name": table, "mark": k, "value": v, "run_id": run_id, "updated_at": now}
                for k, v in marks.items()]
        spec = self.lake.specs[systables.WATERMARKS]
        systables.merge(self.lake, systables.WATERMARKS, pa.Table.from_pylist(rows, schema=spec.arrow_schema()),
                        actor, f"ingest {source}")
