"""Lake tables as DuckDB views, addressable by name (``FROM curated.declarations``).

Only the tables a query names are attached, each at its current Delta version: the
snapshot is resolved by deltalake and handed to DuckDB as an Arrow dataset (DuckDB's own
delta extension downloads at first use, which this deployment cannot do). Projection and
filters push down into the Parquet scan, so the cost over raw DuckDB on the same files is
the snapshot lookup, measured in ``benchmarks/``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from datetime import datetime

import duckdb
import polars as pl
import pyarrow as pa
from deltalake import DeltaTable

from workbench.errors import QueryError, UnknownColumn, UnknownTable
from workbench.lake.lake import Lake
from workbench.lake.specs import ZONES

_ZONE_NAME = re.compile(rf'\b"?({"|".join(ZONES)})"?\."?([A-Za-z_][A-Za-z0-9_]*)"?', re.IGNORECASE)
_MISSING_TABLE = re.compile(r'Table with name "?([^"!\s]+)"? does not exist', re.IGNORECASE)
_MISSING_COLUMN = re.compile(r'Referenced column "?([^"\s]+)"? not found', re.IGNORECASE)
_CANDIDATES = re.compile(r"Candidate bindings: (.*)", re.IGNORECASE)
_PARSER = duckdb.connect()


def _base_tables(node: object, found: set[str]) -> None:
    if isinstance(node, dict):
        if node.get("type") == "BASE_TABLE" and str(node.get("schema_name", "")).lower() in ZONES:
            found.add(f"{node['schema_name'].lower()}.{node['table_name']}")
        for value in node.values():
            _base_tables(value, found)
    elif isinstance(node, list):
        for value in node:
            _base_tables(value, found)


@lru_cache(maxsize=512)
def referenced_tables(query: str) -> frozenset[str]:
    """The ``zone.table`` names a query reads (cached: dashboards re-run the same SQL).

    SELECTs are parsed by DuckDB's own parser (``json_serialize_sql``), so names inside
    strings, comments and CTEs are never mistaken for tables. Other statements (EXPLAIN,
    COPY ...) fall back to a token scan, which may over-attach but never misses a table.
    """
    tree = json.loads(_PARSER.execute("SELECT json_serialize_sql(?)", [query]).fetchone()[0])  # type: ignore[index]
    if tree.get("error"):
        if tree.get("error_type") == "parser":
            raise QueryError(f"SQL syntax error: {tree.get('error_message')}")
        return frozenset(f"{z.lower()}.{t}" for z, t in _ZONE_NAME.findall(query))
    found: set[str] = set()
    _base_tables(tree, found)
    return frozenset(found)


class LakeSQL:
    """A DuckDB connection that sees lake tables under their catalog names."""

    def __init__(self, lake: Lake, threads: int | None = None) -> None:
        self.lake = lake
        self.con = duckdb.connect(config={"threads": threads} if threads else {})
        self._tables: dict[str, DeltaTable] = {}
        self._attached: dict[str, int] = {}
        for zone in ZONES:
            self.con.execute(f'CREATE SCHEMA IF NOT EXISTS "{zone}"')

    def attach(self, name: str, version: int | None = None, as_of: datetime | None = None) -> int:
        """Make ``name`` queryable at its current (or a given) version; returns that version."""
        dt = self._tables.get(name)
        if dt is None or version is not None or as_of is not None:
            dt = self.lake.delta(name, version=version, as_of=as_of)
            if version is None and as_of is None:
                self._tables[name] = dt
        else:
            dt.update_incremental()
        current = dt.version()
        if self._attached.get(name) != current or version is not None or as_of is not None:
            zone, _, table = name.partition(".")
            self.con.execute(f'CREATE OR REPLACE VIEW "{zone}"."{table}" AS {self.view_sql(name, self._scan_sql(name, dt))}')
            self._attached[name] = current
        return current

    def _scan_sql(self, name: str, dt: DeltaTable) -> str:
        """SQL that reads one snapshot of ``dt``.

        On local disk DuckDB reads the snapshot's Parquet files itself, which parallelises
        over row groups (an Arrow dataset scan measured 2-5x slower on 10M rows here).
        Object stores go through deltalake's Arrow dataset, since DuckDB's own S3 support
        is an extension that cannot be downloaded in this deployment.
        """
        files = dt.file_uris()
        if files and not self.lake.location.is_remote and not dt.metadata().partition_columns:
            listed = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
            # Files written before the table gained a column lack it: matched by name, read as null,
            # in the table's column order.
            columns = ", ".join('"' + f.name.replace('"', '""') + '"' for f in dt.schema().fields)
            return f"SELECT {columns} FROM read_parquet([{listed}], union_by_name = true)"
        alias = "__lake_" + name.replace(".", "_")
        self.con.register(alias, dt.to_pyarrow_dataset())
        return f'SELECT * FROM "{alias}"'

    def view_sql(self, name: str, scan: str) -> str:
        """Override point: the SELECT behind the view of ``name`` given its snapshot ``scan``.

        The base shows the snapshot as is; the access gate (``workbench.security``)
        overrides this to mask columns a role may not see.
        """
        return scan

    def versions(self, query: str) -> dict[str, int]:
        """Attach every lake table ``query`` names; returns the versions it will read."""
        return {name: self.attach(name) for name in sorted(referenced_tables(query))}

    @contextmanager
    def engine_errors(self) -> Iterator[None]:
        """Turn DuckDB errors into workbench errors that name the table or column."""
        try:
            yield
        except (duckdb.CatalogException, duckdb.BinderException) as exc:
            raise self._translate(exc) from exc
        except duckdb.Error as exc:
            raise QueryError(str(exc).splitlines()[0]) from exc

    def relation(self, query: str, params: object = None) -> duckdb.DuckDBPyRelation | None:
        """Bind ``query`` over the lake; ``None`` for statements that return nothing."""
        self.versions(query)
        with self.engine_errors():
            return self.con.sql(query, params=params)

    def frame(self, query: str, params: object = None) -> pl.DataFrame:
        """Run ``query`` and return the whole result as a Polars frame."""
        rel = self.relation(query, params)
        if rel is None:
            return pl.DataFrame()
        with self.engine_errors():
            return rel.pl()

    def reader(self, query: str, params: object = None, batch_rows: int = 100_000) -> pa.RecordBatchReader:
        """Run ``query`` and stream the result in Arrow batches (bounded memory)."""
        rel = self.relation(query, params)
        if rel is None:
            raise QueryError("the statement returns no rows to read")
        with self.engine_errors():
            return rel.to_arrow_reader(batch_rows)

    def _translate(self, exc: duckdb.Error) -> Exception:
        text = str(exc)
        if match := _MISSING_TABLE.search(text):
            name = match.group(1)
            try:
                self.lake.check_name(name if "." in name else f"work.{name}")
            except UnknownTable as unknown:
                return UnknownTable(name, unknown.suggestions)
        if match := _MISSING_COLUMN.search(text):
            candidates = _CANDIDATES.search(text)
            names = re.findall(r'"([^"]+)"', candidates.group(1)) if candidates else []
            return UnknownColumn(match.group(1), [n.rpartition(".")[2] for n in names][:5])
        return QueryError(text.splitlines()[0])
