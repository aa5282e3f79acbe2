"""The analyst session: the one gate through which a person reads and writes the lake.

``wb = workbench.connect()`` gives a ``Session``; every read (``sql``, ``scan``,
``table``, ``describe``) and write (``write``) goes through it, so access policy and the
audit trail (security issue) attach here and nowhere else. Results are Polars frames.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import polars as pl
import pyarrow as pa

from workbench.explore import dask_frames
from workbench.explore.dask_frames import Filters
from workbench.explore.profile import profile
from workbench.lake import Lake, LakeLocation, Lineage, TableStream, WriteMode, WriteResult
from workbench.lake.documents import DocumentStore
from workbench.errors import AccessDenied
from workbench.lake.sql import referenced_tables
from workbench.security import Gate, GuardedSQL, configured_role, load_policy, policy_path
from workbench.security.audit import open_trail
from workbench.security.lake_permissions import share_table
from workbench.security.policy import derived_classification
from workbench.settings import Settings, load_settings

Params = dict[str, Any] | list[Any] | tuple[Any, ...] | None


class ReadRecordingGate(Gate):
    """The session's gate; remembers the classification of every table it let the session read.

    Every read path (``sql``, ``%%sql``, ``describe`` through the engine; ``scan``,
    ``table``, ``history`` directly) asks the gate first, so this is where a table the
    session then writes learns what it was derived from (``policy.derived_classification``).
    """

    def __init__(self, lake: Lake, policy: Any, role: str) -> None:
        super().__init__(lake, policy, role)
        self.read: dict[str, str] = {}

    def check_read(self, name: str) -> None:
        super().check_read(name)
        self.read[name] = self.classification(name)


class Session:
    """An analyst's handle on the lake; cheap to create, one DuckDB connection inside."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.user = settings.user
        self.lake = Lake(LakeLocation(settings.lake, dict(settings.storage_options)))
        self.policy = load_policy(policy_path(settings))
        self.role = configured_role(settings, self.policy)
        self.gate = ReadRecordingGate(self.lake, self.policy, self.role)
        self.audit = open_trail(settings, self.user, self.role)
        self.engine = GuardedSQL(self.lake, self.gate, threads=settings.threads, on_denied=self.audit.denied)
        self.documents = DocumentStore(self.lake)
        self.audit.record("session_start", lake=settings.lake)

    def __repr__(self) -> str:
        return f"<workbench session user={self.user!r} role={self.role!r} lake={self.settings.lake!r}>"

    def _check(self, name: str, action: str = "read") -> None:
        """Apply the access policy to one table; a refusal is audited, then raised."""
        try:
            self.gate.check_write(name) if action == "write" else self.gate.check_read(name)
        except AccessDenied as refused:
            self.audit.denied(refused, action=action)
            raise

    def tables(self, zone: str | None = None) -> pl.DataFrame:
        """The catalog: one row per table the session's role may read, with description, classification, size and version."""
        frame = self.lake.catalog.frame()
        frame = frame.filter(pl.Series([self.policy.may_read(self.role, n, c) for n, c in
                                        zip(frame["name"], frame["classification"], strict=True)], dtype=pl.Boolean))
        return frame.filter(pl.col("zone") == zone) if zone else frame

    def sql(self, query: str, params: Params = None) -> pl.DataFrame:
        """Run SQL over lake tables by name; ``params`` are bound (``$name`` or ``?``), never spliced."""
        with self.audit.action("query", wait=False, query=query, params=params) as done:
            done["tables"] = sorted(referenced_tables(query))
            frame = self.engine.frame(query, params)
            done["rows"] = frame.height
        return frame

    def scan(self, name: str, version: int | None = None) -> pl.LazyFrame:
        """A lazy Polars scan of a table, for pipelines that should not materialise it."""
        self.lake.check_name(name)
        self._check(name)
        lazy = pl.scan_delta(
            self.lake.location.table_uri(name),
            version=version,
            storage_options=self.lake.location.storage_options or None,
        )
        self.audit.record("scan", tables=[name], version=version, wait=False)
        return self.gate.mask_frame(name, lazy)  # type: ignore[return-value]

    def table(self, name: str, version: int | None = None, as_of: datetime | str | None = None) -> pl.DataFrame:
        """A whole table, now or as it was (``version=`` or ``as_of=`` a datetime / ISO string)."""
        self._check(name)
        dt = self.lake.delta(name, version=version, as_of=as_of)
        frame = pl.from_arrow(dt.to_pyarrow_table())
        assert isinstance(frame, pl.DataFrame)
        self.audit.record("table", tables=[name], rows=frame.height, version=version, as_of=as_of, wait=False)
        return self.gate.mask_frame(name, frame)  # type: ignore[return-value]

    def history(self, name: str) -> pl.DataFrame:
        """Versions of a table: when, what operation, by whom, produced by what."""
        self._check(name)
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
        self._check(name)
        with self.audit.action("describe", tables=[name]):
            return profile(self.engine, name)

    def search(self, query: str, k: int = 10, language: str | None = None) -> pl.DataFrame:
        """Cross-lingual semantic search of the documents (``workbench.nlp.search``): best chunk per document.

        Its reads go through ``scan``, so the access gate and the audit trail apply as to any read.
        """
        from workbench.nlp.search import search

        with self.audit.action("search", query=query, k=k, language=language) as done:
            frame = search(self, query, k=k, language=language)
            done["rows"] = frame.height
        return frame

    def dask(self, name: str, columns: Sequence[str] | None = None, filters: Filters | None = None,
             version: int | None = None, as_of: datetime | str | None = None) -> Any:
        """A Dask DataFrame over one snapshot of a table, for work beyond this session's memory.

        Masks and need-to-know apply inside the task graph (``explore.dask_frames`` says
        exactly what that guarantees); ``filters`` are ``read_parquet``'s (``[("port_code",
        "==", "HKG")]``); the call is audited with table, version, columns and filters.
        Compute it on ``workbench.compute.cluster()`` and land results with ``write``.
        """
        return dask_frames.frame(self, name, columns=columns, filters=filters, version=version, as_of=as_of)

    def write(
        self,
        data: pl.DataFrame | pa.Table | TableStream | Any,
        name: str,
        mode: WriteMode = "append",
        description: str = "",
        inputs: dict[str, int] | None = None,
    ) -> WriteResult:
        """Write a frame (or a stream of batches, in one commit) to a lake table; bad rows are quarantined.

        Analysts write to ``work.*``. A ``TableStream`` lets a job write more rows than fit
        in memory and still land them atomically; so does a Dask DataFrame (``dask``),
        whose partitions are computed on the cluster and streamed into the one commit,
        with the lake tables it was computed from as lineage. A table without a spec is classified as
        the highest classification among what this session has read (and never lower than
        it already was); in a personal zone its files are then shared with exactly the
        roles cleared for that (``lake_permissions.share_table``).
        """
        self._check(name, "write")
        if dask_frames.is_frame(data):
            inputs = {**dask_frames.lineage(data), **(inputs or {})}
            data = dask_frames.write_stream(data, name)
        table = data.to_arrow() if isinstance(data, pl.DataFrame) else data
        lineage = Lineage(produced_by=f"session write by {self.user}", inputs=tuple((inputs or {}).items()))
        classification = None
        if name not in self.lake.specs:
            existing = self.lake.catalog.entry(name)
            # What the gate let through is within the role's clearance, so this never exceeds it.
            classification = derived_classification(self.gate.read.values(),
                                                    existing["classification"] if existing else None)
        with self.audit.action("write", tables=[name], mode=mode) as done:
            result = self.lake.write(table, name, mode=mode, actor=self.user, lineage=lineage, description=description,
                                     classification=classification)
            if classification is not None and name.partition(".")[0] in self.policy.unix.personal_zones:
                share_table(self.lake.location, self.policy, name, classification)
            done.update(rows=result.rows_written, version=result.version, quarantined=result.rows_quarantined)
        return result


def connect(lake: str | None = None, **overrides: Any) -> Session:
    """Open a session on the configured lake (``lake=`` or any setting overrides it)."""
    return Session(load_settings(lake=lake, **overrides))
