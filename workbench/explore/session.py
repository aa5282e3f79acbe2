"""The analyst session: the one gate through which a person reads and writes the lake.

``wb = workbench.connect()`` gives a ``Session``; every read (``sql``, ``scan``,
``table``, ``describe``) and write (``write``) goes through it, so access policy and the
audit trail (security issue) attach here and nowhere else. Results are Polars frames.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import polars as pl
import pyarrow as pa

from workbench.explore.profile import profile
from workbench.lake import Lake, LakeLocation, Lineage, TableStream, WriteMode, WriteResult
from workbench.lake.documents import DocumentStore
from workbench.lake.sql import LakeSQL
from workbench.settings import Settings, load_settings

Params = dict[str, Any] | list[Any] | tuple[Any, ...] | None


class Session:
    """An analyst's handle on the lake; cheap to create, one DuckDB connection inside."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.user = settings.user
        self.lake = Lake(LakeLocation(settings.lake, dict(settings.storage_options)))
        self.engine = LakeSQL(self.lake, threads=settings.threads)
        self.documents = DocumentStore(self.lake)

    def __repr__(self) -> str:
        return f"<workbench session user={self.user!r} lake={self.settings.lake!r}>"

    def tables(self, zone: str | None = None) -> pl.DataFrame:
        """The catalog: one row per table with description, classification, size and version."""
        frame = self.lake.catalog.frame()
        return frame.filter(pl.col("zone") == zone) if zone else frame

    def sql(self, query: str, params: Params = None) -> pl.DataFrame:
        """Run SQL over lake tables by name; ``params`` are bound (``$name`` or ``?``), never spliced."""
        return self.engine.frame(query, params)

    def scan(self, name: str, version: int | None = None) -> pl.LazyFrame:
        """A lazy Polars scan of a table, for pipelines that should not materialise it."""
        self.lake.check_name(name)
        return pl.scan_delta(
            self.lake.location.table_uri(name),
            version=version,
            storage_options=self.lake.location.storage_options or None,
        )

    def table(self, name: str, version: int | None = None, as_of: datetime | str | None = None) -> pl.DataFrame:
        """A whole table, now or as it was (``version=`` or ``as_of=`` a datetime / ISO string)."""
        dt = self.lake.delta(name, version=version, as_of=as_of)
        frame = pl.from_arrow(dt.to_pyarrow_table())
        assert isinstance(frame, pl.DataFrame)
        return frame

    def history(self, name: str) -> pl.DataFrame:
        """Versions of a table: when, what operation, by whom, produced by what."""
        rows = []
        for commit in self.lake.delta(name).history():
            rows.append({
                "version": commit.get("version"),
                "timestamp": commit.get("timestamp"),
                "operation": commit.get("operation"),
                "actor": commit.get("actor"),
                "produced_by": commit.get("produced_by"),
            })
        return pl.DataFrame(rows)

    def describe(self, name: str) -> pl.DataFrame:
        """Profile of a table: per column type, nulls, distinct, range and top values."""
        self.lake.check_name(name)
        return profile(self.engine, name)

    def write(
        self,
        data: pl.DataFrame | pa.Table | TableStream,
        name: str,
        mode: WriteMode = "append",
        description: str = "",
        inputs: dict[str, int] | None = None,
    ) -> WriteResult:
        """Write a frame (or a stream of batches, in one commit) to a lake table; bad rows are quarantined.

        Analysts write to ``work.*``. A ``TableStream`` lets a job write more rows than fit
        in memory and still land them atomically.
        """
        table = data.to_arrow() if isinstance(data, pl.DataFrame) else data
        lineage = Lineage(produced_by=f"session write by {self.user}", inputs=tuple((inputs or {}).items()))
        return self.lake.write(table, name, mode=mode, actor=self.user, lineage=lineage, description=description)


def connect(lake: str | None = None, **overrides: Any) -> Session:
    """Open a session on the configured lake (``lake=`` or any setting overrides it)."""
    return Session(load_settings(lake=lake, **overrides))
