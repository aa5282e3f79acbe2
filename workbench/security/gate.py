"""The policy applied to lake reads: a guarded SQL engine and masking for Polars reads.

``Gate`` binds one policy to one role and one lake; ``GuardedSQL`` is ``LakeSQL`` with two
hooks filled in: ``attach`` refuses a table above the role's clearance before anything is
read, and ``view_sql`` replaces masked columns in the view it attaches. Every path that
resolves a lake name through the engine (``wb.sql``, ``describe``, the ``%%sql`` cursor)
therefore sees the same policy without knowing about it.

Masking choice: masked text reads ``'***'`` (other types NULL), not a salted hash. A salt
used inside the analyst's own process is visible to that process (it would sit in the
view's SQL), and phone numbers or HKIDs are few enough to hash them all, so a hash would
only pretend to hide them. Joins still work because tables join on surrogate keys
(``person_id``, ``driver_id``, ``address_id``), which are not masked.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TypeVar

import polars as pl

from workbench.errors import AccessDenied
from workbench.lake.lake import Lake
from workbench.lake.specs import Classification
from workbench.lake.sql import LakeSQL
from workbench.security.policy import AccessPolicy, table_classification

_FILE_FUNCTIONS = re.compile(
    r"\b(read_parquet|parquet_scan|read_csv(_auto)?|read_json(_auto|_objects)?|read_ndjson\w*|delta_scan|"
    r"iceberg_scan|read_text|read_blob|glob|sniff_csv|parquet_metadata|parquet_schema)\s*\(",
    re.IGNORECASE,
)
FrameT = TypeVar("FrameT", pl.DataFrame, pl.LazyFrame)
_ATTACH = re.compile(r"^\s*(ATTACH|COPY|INSTALL|LOAD|EXPORT|IMPORT)\b", re.IGNORECASE)


class Gate:
    """One role's view of the policy over one lake."""

    def __init__(self, lake: Lake, policy: AccessPolicy, role: str) -> None:
        self.lake, self.policy, self.role = lake, policy, role
        policy.role(role)  # an unknown role is refused here, before anything is read

    @property
    def unrestricted(self) -> bool:
        """Cleared for everything, with no need-to-know rule in the way (services)."""
        return self.policy.clearance(self.role) == Classification.secret and not self.policy.tables

    def classification(self, name: str) -> Classification:
        entry = None if name in self.lake.specs else self.lake.catalog.entry(name)
        return table_classification(self.lake.specs, entry, name)

    def check_read(self, name: str) -> None:
        self.policy.check_read(self.role, name, self.classification(name))

    def check_write(self, name: str) -> None:
        self.policy.check_write(self.role, name, self.classification(name))

    def masked(self, name: str, columns: list[str]) -> list[str]:
        if not self.policy.masking_applies(self.role, name):
            return []
        return self.policy.masked_columns(self.role, name, columns)

    def check_query_text(self, query: str) -> None:
        """Refuse file-reading SQL for roles below full clearance: lake data is read by name.

        The OS-level file permissions are what really stop a kernel; this keeps the
        honest path and the audit trail in one place and gives a clear message.
        """
        if self.policy.clearance(self.role) == Classification.secret:
            return
        if _FILE_FUNCTIONS.search(query) or _ATTACH.match(query):
            raise AccessDenied("<files>", "secret", self.role,
                               reason="read lake data by table name (FROM zone.table), not by file path or ATTACH")

    def mask_frame(self, name: str, frame: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame | pl.LazyFrame:
        """``frame`` with this role's masked columns of ``name`` replaced (``mask_columns``)."""
        columns = frame.collect_schema() if isinstance(frame, pl.LazyFrame) else frame.schema
        masked = self.masked(name, list(columns))
        return mask_columns(frame, masked, self.policy.mask) if masked else frame


def mask_columns(frame: FrameT, masked: Sequence[str], mask: str) -> FrameT:
    """``frame`` with the ``masked`` columns replaced: text reads ``mask`` (nulls stay null), other types NULL.

    Public so that every reader that masks outside DuckDB (Polars reads here, Dask
    partitions in ``explore.dask_frames``) masks the same way.
    """
    columns = frame.collect_schema() if isinstance(frame, pl.LazyFrame) else frame.schema
    exprs = []
    for col in masked:
        dtype = columns[col]
        if dtype == pl.String:
            exprs.append(pl.when(pl.col(col).is_null()).then(None).otherwise(pl.lit(mask)).alias(col))
        else:
            exprs.append(pl.lit(None, dtype=dtype).alias(col))
    return frame.with_columns(exprs)


class GuardedSQL(LakeSQL):
    """``LakeSQL`` that refuses tables above the role's clearance and masks columns.

    ``on_denied`` is called with each refusal before it is raised, so the session can
    audit denials that happen on any path through the engine.
    """

    def __init__(self, lake: Lake, gate: Gate, threads: int | None = None,
                 on_denied: Callable[[AccessDenied, str | None], None] | None = None) -> None:
        super().__init__(lake, threads=threads)
        self.gate = gate
        self.on_denied = on_denied
        self._query: str | None = None

    def attach(self, name: str, version: int | None = None, as_of: datetime | None = None) -> int:
        try:
            self.gate.check_read(name)
        except AccessDenied as refused:
            if self.on_denied is not None:
                self.on_denied(refused, self._query)
            raise
        return super().attach(name, version=version, as_of=as_of)

    def versions(self, query: str) -> dict[str, int]:
        self._query = query
        try:
            try:
                self.gate.check_query_text(query)
            except AccessDenied as refused:
                if self.on_denied is not None:
                    self.on_denied(refused, query)
                raise
            return super().versions(query)
        finally:
            self._query = None

    def view_sql(self, name: str, scan: str) -> str:
        if not self.gate.policy.masking_applies(self.gate.role, name):
            return scan
        described = self.con.execute(f"DESCRIBE {scan}").fetchall()
        types = {row[0]: str(row[1]) for row in described}
        masked = self.gate.masked(name, list(types))
        if not masked:
            return scan
        mask = self.gate.policy.mask.replace("'", "''")
        replaced = []
        for col in masked:
            quoted = '"' + col.replace('"', '""') + '"'
            if types[col].upper() in ("VARCHAR", "STRING", "TEXT"):
                replaced.append(f"CASE WHEN {quoted} IS NULL THEN NULL ELSE '{mask}' END AS {quoted}")
            else:
                replaced.append(f"CAST(NULL AS {types[col]}) AS {quoted}")
        return f"SELECT * REPLACE ({', '.join(replaced)}) FROM ({scan})"

