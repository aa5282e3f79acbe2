"""The analyst session: the one gate through which a person reads and writes the lake.

``wb = workbench.connect()`` gives a ``Session``; every read (``sql``, ``scan``,
``table``, ``describe``) and write (``write``) goes through it, so access policy and the
audit trail (security issue) attach here and nowhere else. Results are Polars frames.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import polars as pl
import pyarrow as pa

from workbench.session import dask_frames
from workbench.session.dask_frames import Filters
from workbench.session.profile import profile
from workbench.lake import Lake, LakeLocation, Lineage, TableStream, WriteMode, WriteResult
from workbench.lake.documents import DocumentStore
from workbench.errors import AccessDenied
from workbench.lake.sql import inspect_query
from workbench.security import Gate, GuardedSQL, configured_role, load_policy, policy_path
from workbench.security.audit_service import open_trail
from workbench.security.lake_permissions import share_table
from workbench.security.lineage import FrameLineage, Produced, Source, carry, merge_carried
from workbench.security.masks import is_text
from workbench.security.policy import derived_classification
from workbench.security.recognisers import recognised
from workbench.settings import Settings, load_settings

Params = dict[str, Any] | list[Any] | tuple[Any, ...] | None


class Session:
    """An analyst's handle on the lake; cheap to create, one DuckDB connection inside."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.user = settings.user
        self.lake = Lake(LakeLocation(settings.lake, dict(settings.storage_options)))
        self.policy = load_policy(policy_path(settings))
        self.role = configured_role(settings, self.policy)
        self.gate = Gate(self.lake, self.policy, self.role)
        self.audit = open_trail(settings, self.user, self.role)
        self.read: dict[str, str] = {}
        """Every table this session has read, with its classification: what its frames may carry."""
        self._produced = FrameLineage()
        self.engine = GuardedSQL(self.lake, self.gate, threads=settings.threads, on_denied=self._denied,
                                 on_query=self._queried, on_attach=self._note_read)
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
        if action == "read":
            self._note_read(name)

    def _note_read(self, name: str) -> None:
        self.read[name] = self.gate.classification(name)

    def _denied(self, refused: AccessDenied, query: str | None) -> None:
        self.audit.denied(refused, query)

    def _queried(self, query: str, via: str, params: Any = None, tables: list[str] | None = None,
                 status: str = "ok", **detail: Any) -> None:
        """The audit record of one query through the engine, by whatever path it came."""
        rows = detail.pop("rows", None)
        self.audit.record("query", status=status, tables=tables or [], rows=rows, query=query, wait=False,
                          params=params, via=via, **detail)

    def tables(self, zone: str | None = None) -> pl.DataFrame:
        """The catalog: one row per table the session's role may read, with description, classification, size and version."""
        frame = self.lake.catalog.frame()
        entries = self.gate.catalog_entries()
        frame = frame.filter(pl.Series([self.gate.may_read(n, entries) for n in frame["name"]], dtype=pl.Boolean))
        frame = frame.filter(pl.col("zone") == zone) if zone else frame
        return self.lake.catalog.live_figures(frame)

    def sql(self, query: str, params: Params = None) -> pl.DataFrame:
        """Run SQL over lake tables by name; ``params`` are bound (``$name`` or ``?``), never spliced."""
        frame = self.engine.frame(query, params, via="sql")
        self._produced.remember(frame, Produced(query, tuple(sorted(inspect_query(query).tables))))
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
        self.audit.record("history", tables=[name], rows=len(rows), wait=False)
        return pl.DataFrame(rows)

    def describe(self, name: str) -> pl.DataFrame:
        """Profile of a table: per column type, nulls, distinct, range and top values, and for access:
        the sensitive values each column carries (its own semantic type, what flowed into it) and
        the roles that see it masked."""
        self.lake.check_name(name)
        self._check(name)
        with self.audit.action("describe", tables=[name]):
            frame = profile(self.engine, name)
        sources = self.gate.sources(name, frame["column"].to_list())
        carries = [", ".join(sorted(f"{t}.{c} ({s})" for t, c, s in sources[col])) for col in frame["column"]]
        masked_for = [", ".join(r for r in self.policy.roles
                                if any(self.policy.masked_for(r, t, s) for t, _, s in sources[col]))
                      for col in frame["column"]]
        return frame.with_columns(pl.Series("carries", carries, dtype=pl.String),
                                  pl.Series("masked_for", masked_for, dtype=pl.String))

    def dask(self, name: str, columns: Sequence[str] | None = None, filters: Filters | None = None,
             version: int | None = None, as_of: datetime | str | None = None,
             partition_bytes: int = dask_frames.PARTITION_BYTES) -> Any:
        """A Dask DataFrame over one snapshot of a table, for work beyond this session's memory.

        Masks and need-to-know apply inside the task graph (``session.dask_frames`` says
        exactly what that guarantees); ``filters`` are ``read_parquet``'s (``[("port_code",
        "==", "HKG")]``); ``partition_bytes`` sizes partitions (uncompressed bytes of the
        columns read). The call is audited with table, version, columns and filters.
        Compute it on ``workbench.compute.cluster()`` and land results with ``write``.
        """
        return dask_frames.frame(self, name, columns=columns, filters=filters, version=version, as_of=as_of,
                                 partition_bytes=partition_bytes)

    def write(
        self,
        data: pl.DataFrame | pa.Table | TableStream | Any,
        name: str,
        mode: WriteMode = "append",
        description: str = "",
        inputs: dict[str, int] | None = None,
        produced_by: str | None = None,
    ) -> WriteResult:
        """Write a frame (or a stream of batches, in one commit) to a lake table; bad rows are quarantined.

        Analysts write to ``work.*``; services (graph builds, NLP and risk jobs) write
        through here too, naming themselves in ``produced_by``, so every write is gated and
        audited. A ``TableStream`` lets a job write more rows than fit in memory and still
        land them atomically; so does a Dask DataFrame (``dask``), whose partitions
        are computed on the cluster and streamed into the one commit.

        A table without a spec carries what its data came from (``security.lineage``): the
        tables it was computed from (their need-to-know applies to it) and, per column, the
        sensitive columns that flowed in (their masks apply). When ``data`` is a frame
        ``wb.sql`` returned, unchanged, that is the query's tables and column flows; else
        every table this session has read, and every column carries all of their
        sensitive columns. Its classification is the highest of those inputs' (never lower
        than it already was); in a personal zone its files are shared with exactly the
        roles that may read every input (``lake_permissions.share_table``).
        """
        self._check(name, "write")
        if dask_frames.is_frame(data):
            inputs = {**dask_frames.lineage(data), **(inputs or {})}
            data = dask_frames.write_stream(data, name)
        table = data.to_arrow() if isinstance(data, pl.DataFrame) else data
        classification = carried = existing = None
        if name not in self.lake.specs:
            existing = self.lake.catalog.entry(name)
            produced = self._produced.of(data)
            read = list(produced.tables) if produced is not None else sorted(self.read)
            # What the gate let through is within the role's clearance, so this never exceeds it.
            classification = derived_classification([self.gate.classification(t) for t in read],
                                                    existing["classification"] if existing else None)
            carried = merge_carried(self._carried(read, table.schema.names, produced), self.gate.carried(name))
            if isinstance(table, pa.Table):
                carried = merge_carried(typed_in(table, name), carried)
        # The writer is the entry's updated_by; produced_by stays as given (jobs compare it to skip unchanged runs).
        lineage = Lineage(produced_by=produced_by or f"session write by {self.user}",
                          inputs=tuple((inputs or {}).items()), carried=json.dumps(carried) if carried else None)
        personal = classification is not None and name.partition(".")[0] in self.policy.unix.personal_zones

        def share() -> None:
            share_table(self.lake.location, self.policy, name, classification,  # type: ignore[arg-type]
                        inputs={t: self.gate.classification(t) for t in (carried or {}).get("inputs", [])})

        with self.audit.action("write", tables=[name], mode=mode, produced_by=produced_by,
                               carried=carried["inputs"] if carried else None) as done:
            if personal and existing is not None:
                share()  # narrow the folder's ACL before new files land in it (they inherit its default ACL)
            result = self.lake.write(table, name, mode=mode, actor=self.user, lineage=lineage, description=description,
                                     classification=classification)
            if personal:
                share()
            done.update(rows=result.rows_written, version=result.version, quarantined=result.rows_quarantined)
        return result

    def _carried(self, read: list[str], columns: list[str], produced: Produced | None) -> dict[str, Any]:
        """What a write carries from the tables ``read`` (``security.lineage.carry``)."""
        sources: dict[str, dict[str, set[Source]]] = {}
        carried_inputs: set[str] = set()
        for name in read:
            sources[name] = {c: set(s) for c, s in self.gate.sources(name, self.gate.columns(name)).items()}
            carried_inputs.update(self.gate.carried(name).get("inputs", []))
        return carry(sources, carried_inputs, columns, inspect_query(produced.query) if produced else None)


def typed_in(table: pa.Table, name: str) -> dict[str, Any]:
    """Identifiers found by their form in ``table``'s text columns (``security.recognisers``), as carried sources.

    Covers values no input carried (typed or pasted into a notebook). Streams are not
    scanned: they can be read once only.
    """
    columns = {}
    for field in table.schema:
        if is_text(field.type):
            found = recognised(pl.Series(table.column(field.name)))
            if found:
                columns[field.name] = [[name, field.name, kind] for kind in sorted(found)]
    return {"inputs": [], "columns": columns}


def connect(lake: str | None = None, **overrides: Any) -> Session:
    """Open a session on the configured lake (``lake=`` or any setting overrides it)."""
    return Session(load_settings(lake=lake, **overrides))
