"""The policy applied to lake reads: a DuckDB connection sandboxed by DuckDB, and masking.

``Gate`` binds one policy to one role and one lake. ``GuardedSQL`` is ``LakeSQL`` on a
connection that DuckDB itself confines, so what stops a hostile query is the engine, not
a text filter:

- **Files.** Before the session's first query the connection is limited to the folders of
  the tables the role may read whole (``allowed_directories``), external access is
  switched off and the configuration locked (``lock_configuration``): a bare path, a
  ``read_*`` function, ``glob``, ``COPY``, ``ATTACH`` or an extension outside those folders
  is refused by DuckDB (``PermissionException``), and no statement can undo it.
- **Masks.** A table with a column masked for the role never reaches DuckDB as files: it
  is registered as an Arrow dataset of its snapshot *without* the masked columns, and its
  view adds them back as constants (text ``'***'`` on every row, other types NULL), so the
  engine never reads a masked value and no name on the connection holds one. Projection
  and filters still push down into that dataset; a manager's queries over a masked
  ``curated.declarations`` measured 1.6-6x raw DuckDB on its files (``bench_security.py``).
- **Statements.** Every query is parsed by DuckDB (``lake.sql.inspect_query``) before it
  runs: one statement per call; SELECT (with WITH, DESCRIBE, SUMMARIZE, PIVOT) or EXPLAIN
  only; relations only ``zone.table`` lake views or the query's own CTEs; table functions
  only those that compute rather than read (``range``, ``generate_series``, ``unnest``);
  no function that reads settings, variables or the environment. A refusal is an
  ``AccessDenied`` naming the statement, relation or function, audited before it is raised.
- **Audit.** Every query through the engine (``frame``, ``relation``, ``reader``, the
  ``%%sql`` cursor's ``execute``) is audited here, with the lake tables and versions it
  resolved, whichever caller ran it.

Masking choice: masked text reads ``'***'`` (other types NULL), not a salted hash. A salt
used inside the analyst's own process is visible to that process, and phone numbers or
HKIDs are few enough to hash them all, so a hash would only pretend to hide them. Joins
still work because tables join on surrogate keys (``person_id``, ``driver_id``), which are
not masked.

What this cannot do: the session runs in the person's own Python process, so Python code
there can open files the operating system lets it open; that layer is the lake's file
ACLs (``lake_permissions.py``), which cannot mask a column. Roles that see masked
columns (managers, field officers) have no notebook servers; they reach data through
dashboards, whose SQL this engine judges.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TypeVar

import duckdb
import polars as pl
import pyarrow as pa
from deltalake import DeltaTable

from workbench.errors import AccessDenied, QueryError, WorkbenchError
from workbench.lake.catalog import row_count
from workbench.lake.lake import Lake, snapshot_dataset
from workbench.lake.specs import Classification
from workbench.lake.sql import LakeSQL, QueryShape, inspect_query
from workbench.security.masks import masked_view
from workbench.security.policy import AccessPolicy, table_classification

STATEMENTS = frozenset({"SELECT", "EXPLAIN"})
"""Statement types a session may run (DESCRIBE, SUMMARIZE, SHOW of a table and PIVOT parse as SELECT)."""

TABLE_FUNCTIONS = frozenset({"range", "generate_series", "unnest"})
"""Table functions that compute rows and read nothing: every other one is refused."""

REFUSED_FUNCTIONS = frozenset({
    "getenv", "current_setting", "getvariable", "which_secret", "json_execute_serialized_sql", "query",
    "query_table",
})
"""Scalar functions that read the process's environment, settings or variables, or run SQL from a string."""

Sources = frozenset[tuple[str, str, str]]
"""Where a column's sensitive values come from: ``(table, column, semantic type)``."""

FrameT = TypeVar("FrameT", pl.DataFrame, pl.LazyFrame)


class Gate:
    """One role's view of the policy over one lake."""

    def __init__(self, lake: Lake, policy: AccessPolicy, role: str) -> None:
        self.lake, self.policy, self.role = lake, policy, role
        policy.role(role)  # an unknown role is refused here, before anything is read

    def catalog_entries(self) -> dict[str, dict[str, Any]]:
        """The catalog's current entries by name, rebuilt only when the catalog has moved (every check asks)."""
        frame = self.lake.catalog.frame()
        if self._entries_of is not frame:
            self._entries_by_name = {row["name"]: row for row in frame.iter_rows(named=True)}
            self._entries_of = frame
        return self._entries_by_name

    _entries_of: pl.DataFrame | None = None
    _entries_by_name: dict[str, dict[str, Any]] = {}

    def classification(self, name: str, entries: dict[str, dict[str, Any]] | None = None) -> Classification:
        entry = None if name in self.lake.specs else (entries or self.catalog_entries()).get(name)
        return table_classification(self.lake.specs, entry, name)

    def carried(self, name: str, entries: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
        """What a table written by a session carries from its inputs (``{"inputs", "columns"}``), else empty."""
        if name in self.lake.specs:
            return {}
        entry = (entries or self.catalog_entries()).get(name)
        text = entry.get("carried") if entry else None
        return json.loads(str(text)) if text else {}

    def check_read(self, name: str, entries: dict[str, dict[str, Any]] | None = None) -> None:
        """Refuse ``name`` above the role's clearance, outside its need-to-know, or derived from such a table.

        ``entries`` (``catalog_entries()``) lets a caller checking many tables read the catalog once.
        """
        entries = entries or self.catalog_entries()
        self.policy.check_read(self.role, name, self.classification(name, entries))
        for source in self.carried(name, entries).get("inputs", []):
            if source == name:
                continue
            refused = self.policy.refusal(self.role, source, self.classification(source, entries))
            if refused is not None:
                raise AccessDenied(name, refused.clearance, self.role,
                                   reason=f"it was derived from {source}, which role {self.role!r} may not read "
                                          f"({str(refused).partition(': ')[2]})")

    def may_read(self, name: str, entries: dict[str, dict[str, Any]] | None = None) -> bool:
        try:
            self.check_read(name, entries)
        except AccessDenied:
            return False
        return True

    def check_write(self, name: str) -> None:
        self.policy.check_write(self.role, name, self.classification(name))

    def sources(self, name: str, columns: list[str],
                entries: dict[str, dict[str, Any]] | None = None) -> dict[str, Sources]:
        """Per column, the sensitive values it carries: its own semantic type, and what flowed into it."""
        spec = self.lake.specs.get(name)
        flowed = self.carried(name, entries).get("columns", {})
        found: dict[str, Sources] = {}
        for column in columns:
            declared = spec.columns[column].semantic if spec and column in spec.columns else None
            semantic = declared or self.policy.semantic_of(column)
            own = {(name, column, semantic)} if semantic else set()
            found[column] = frozenset(own | {tuple(s) for s in flowed.get(column, [])})  # type: ignore[misc]
        return found

    def masked(self, name: str, columns: list[str], entries: dict[str, dict[str, Any]] | None = None) -> list[str]:
        """The columns of ``name`` this role sees masked, in the order given."""
        sources = self.sources(name, columns, entries)
        return [c for c in columns
                if any(self.policy.masked_for(self.role, table, semantic) for table, _, semantic in sources[c])]

    def mask_frame(self, name: str, frame: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame | pl.LazyFrame:
        """``frame`` with this role's masked columns of ``name`` replaced (``mask_columns``)."""
        columns = frame.collect_schema() if isinstance(frame, pl.LazyFrame) else frame.schema
        masked = self.masked(name, list(columns))
        return mask_columns(frame, masked, self.policy.mask) if masked else frame


    def columns(self, name: str) -> list[str]:
        """The columns of ``name`` as the catalog records its current version."""
        entry = self.catalog_entries().get(name)
        return [c["name"] for c in json.loads(str(entry["schema"] or "[]"))] if entry else []

    def readable_whole(self) -> list[str]:
        """Catalogued tables this role may read with no column masked: the only ones DuckDB may open as files."""
        catalog = self.lake.catalog.frame()
        entries = self.catalog_entries()
        whole = []
        for name, schema in zip(catalog["name"].to_list(), catalog["schema"].to_list(), strict=True):
            columns = [c["name"] for c in json.loads(schema or "[]")]
            if self.may_read(name, entries) and not self.masked(name, columns, entries):
                whole.append(name)
        return whole


def mask_columns(frame: FrameT, masked: Sequence[str], mask: str) -> FrameT:
    """``frame`` with the ``masked`` columns replaced: text reads ``mask`` (nulls stay null), other types NULL.

    What ``wb.scan``/``wb.table`` apply to Polars frames.
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
    """``LakeSQL`` on a connection DuckDB confines to what the role may read (module docstring).

    ``on_denied`` is called with each refusal before it is raised and ``on_query`` with each
    query that runs, so the session audits every path through the engine.
    """

    def __init__(self, lake: Lake, gate: Gate, threads: int | None = None,
                 on_denied: Callable[[AccessDenied, str | None], None] | None = None,
                 on_query: Callable[..., Any] | None = None,
                 on_attach: Callable[[str], None] | None = None) -> None:
        super().__init__(lake, threads=threads)
        self.gate = gate
        self.on_denied = on_denied
        self.on_query = on_query
        self.on_attach = on_attach
        self._folders: dict[str, str] = {}
        self._sandbox()

    def _sandbox(self) -> None:
        """Confine the connection (module docstring); after this no statement can widen it."""
        location = self.lake.location
        if not location.is_remote:
            self._folders = {name: location.table_uri(name).rstrip("/") + "/" for name in self.gate.readable_whole()}
        settings = [
            ("python_enable_replacements", False),  # no Python variable is readable by naming it in FROM
            ("autoinstall_known_extensions", False),
            ("autoload_known_extensions", False),
            ("allowed_directories", sorted(self._folders.values())),
            ("enable_external_access", False),
            ("lock_configuration", True),
        ]
        for name, value in settings:
            self.con.execute(f"SET {name} = ?", [value])

    # -- what a query may do -------------------------------------------------------------

    def _refuse(self, refused: AccessDenied, query: str | None) -> AccessDenied:
        if self.on_denied is not None:
            self.on_denied(refused, query)
        return refused

    def authorize(self, query: str) -> QueryShape:
        """Judge ``query`` by DuckDB's parse of it; raise ``AccessDenied`` naming what is refused."""
        role = self.gate.role
        shape = inspect_query(query)

        def refuse(what: str, reason: str) -> AccessDenied:
            return self._refuse(AccessDenied(what, "n/a", role, reason=reason), query)

        if shape.count != 1:
            raise refuse("a multi-statement string", f"run one statement per call (found {', '.join(shape.statements)})")
        for kind in shape.statements:
            if kind not in STATEMENTS:
                raise refuse(f"{kind} statement", "a session runs SELECT, WITH, DESCRIBE, SUMMARIZE and EXPLAIN over "
                                                  "lake tables; it writes only through wb.write")
        if shape.others:
            raise refuse(min(shape.others), "read lake data by table name (FROM zone.table), not by file path, "
                                             "registered or system name")
        if called := shape.functions - TABLE_FUNCTIONS:
            raise refuse(f"function {min(called)}", "table functions that read files, settings, the catalog or SQL "
                                                     "strings are refused; read lake data by table name (FROM zone.table)")
        if leaks := shape.scalars & REFUSED_FUNCTIONS:
            raise refuse(f"function {min(leaks)}", "it reads the environment, settings or variables, or runs SQL "
                                                   "from a string")
        if shape.time_travel:
            raise QueryError(f"time travel in SQL ({', '.join(sorted(shape.time_travel))} AT ...) is not supported: "
                             "use wb.table(name, version=...) or as_of=")
        return shape

    def attach(self, name: str, version: int | None = None, as_of: datetime | None = None) -> int:
        try:
            self.gate.check_read(name)
        except AccessDenied as refused:
            raise self._refuse(refused, self._query) from None
        if self.on_attach is not None:
            self.on_attach(name)
        return super().attach(name, version=version, as_of=as_of)

    _query: str | None = None
    """The query being run, named in the audit record of a refusal found while attaching or running it."""

    def versions(self, query: str) -> dict[str, int]:
        """Judge ``query`` (``authorize``), then attach the lake tables it reads; returns their versions."""
        previous, self._query = self._query, query
        try:
            self.authorize(query)
            return super().versions(query)
        finally:
            self._query = previous

    def scan_sql(self, name: str, dt: DeltaTable) -> str:
        """Files for a table the role reads whole (in the sandbox's folders); else an Arrow dataset of
        the snapshot, without the columns masked for the role (``masked_view``)."""
        folder = self._folders.get(name)
        if folder is not None and all(f.startswith(folder) for f in dt.file_uris()):
            return super().scan_sql(name, dt)
        dataset = snapshot_dataset(dt)
        masked = self.gate.masked(name, dataset.schema.names)
        kept = pa.schema([f for f in dataset.schema if f.name not in masked])
        if len(kept) == 0:  # every column masked: only the row count remains
            return masked_view(f"range({row_count(dt)})", dataset.schema, masked, self.gate.policy.mask)
        alias = self.register(name, dataset.replace_schema(kept) if masked else dataset)
        return masked_view(alias, dataset.schema, masked, self.gate.policy.mask)

    @contextmanager
    def engine_errors(self) -> Iterator[None]:
        """DuckDB's own refusals (the sandbox) become ``AccessDenied``; other errors as ``LakeSQL``'s."""
        try:
            with super().engine_errors():
                try:
                    yield
                except duckdb.PermissionException as exc:
                    raise AccessDenied("a file outside the lake tables this role reads whole", "n/a", self.gate.role,
                                       reason=f"refused by the engine: {str(exc).splitlines()[0]}") from exc
        except AccessDenied as refused:
            raise self._refuse(refused, self._query) from None

    # -- audited entry points --------------------------------------------------------------

    @contextmanager
    def _audited(self, query: str, params: object, via: str) -> Iterator[dict[str, Any]]:
        """Audit one query: what it resolved and returned, or the error it ended with (refusals are audited
        where they happen)."""
        done: dict[str, Any] = {}
        previous, self._query = self._query, query
        try:
            yield done
        except AccessDenied:
            raise
        except WorkbenchError as exc:
            if self.on_query is not None:
                self.on_query(query=query, params=params, via=via, status="error", error=str(exc), **done)
            raise
        finally:
            self._query = previous
        if self.on_query is not None:
            self.on_query(query=query, params=params, via=via, **done)

    def _bind(self, query: str, params: object, done: dict[str, Any]) -> duckdb.DuckDBPyRelation | None:
        versions = self.versions(query)
        done.update(tables=sorted(versions), versions=versions)
        with self.engine_errors():
            return self.con.sql(query, params=params)

    def relation(self, query: str, params: object = None, via: str = "engine") -> duckdb.DuckDBPyRelation | None:
        with self._audited(query, params, via) as done:
            return self._bind(query, params, done)

    def frame(self, query: str, params: object = None, via: str = "engine") -> pl.DataFrame:
        with self._audited(query, params, via) as done:
            rel = self._bind(query, params, done)
            with self.engine_errors():
                frame = pl.DataFrame() if rel is None else rel.pl()
            done["rows"] = frame.height
        return frame

    def reader(self, query: str, params: object = None, batch_rows: int = 100_000,
               via: str = "engine") -> pa.RecordBatchReader:
        with self._audited(query, params, via) as done:
            rel = self._bind(query, params, done)
            if rel is None:
                raise QueryError("the statement returns no rows to read")
            with self.engine_errors():
                return rel.to_arrow_reader(batch_rows)

    def execute(self, query: str, params: object = None, via: str = "%%sql") -> duckdb.DuckDBPyConnection:
        """Run ``query`` on the connection (a PEP 249 cursor's ``execute``); fetch from the returned connection."""
        with self._audited(query, params, via) as done:
            versions = self.versions(query)
            done.update(tables=sorted(versions), versions=versions)
            with self.engine_errors():
                return self.con.execute(query, params)
