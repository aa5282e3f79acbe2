"""Lake tables as DuckDB views, addressable by name (``FROM curated.declarations``).

Only the tables a query names are attached, each at its current Delta version: the
snapshot is resolved by deltalake and handed to DuckDB as an Arrow dataset (DuckDB's own
delta extension downloads at first use, which this deployment cannot do). Projection and
filters push down into the Parquet scan, so the cost over raw DuckDB on the same files is
the snapshot lookup, measured in ``benchmarks/``.

What a query reads is learnt from DuckDB's own parser (``inspect_query``): the statement
type of every statement (``extract_statements``), and for a SELECT every relation, table
function and function call in its parse tree (``json_serialize_sql``). Names inside
strings, comments and CTEs are never mistaken for tables, and nothing is guessed from the
text with patterns.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from datetime import datetime

import duckdb
import polars as pl
import pyarrow as pa
from deltalake import DeltaTable

from workbench.errors import QueryError, UnknownColumn, UnknownTable
from workbench.lake.lake import Lake, snapshot_dataset
from workbench.lake.macros import install_macros
from workbench.lake.specs import ZONES

_MISSING_TABLE = re.compile(r'Table with name "?([^"!\s]+)"? does not exist', re.IGNORECASE)
_MISSING_COLUMN = re.compile(r'Referenced column "?([^"\s]+)"? not found', re.IGNORECASE)
_CANDIDATES = re.compile(r"Candidate bindings: (.*)", re.IGNORECASE)
_PARSER = duckdb.connect()
_PARSER_LOCK = threading.Lock()
_DEFAULT_CATALOGS = ("", "memory")


@dataclass(frozen=True)
class QueryShape:
    """What DuckDB's parser says a query is and what it reads.

    ``count`` is the number of statements in the text; ``statements`` holds each one's type
    (``SELECT``, ``EXPLAIN``, ``COPY`` ...; what an EXPLAIN explains follows it, and
    ``UNKNOWN`` where that cannot be found). For SELECTs (and what an EXPLAIN
    explains): ``tables`` the lake tables read (``zone.table``, lower case); ``functions``
    the table functions called; ``scalars`` every other function called; ``others`` the
    relations named that are neither lake tables nor CTEs of the query (a bare file path,
    a system view, a registered name); ``time_travel`` lake tables read with an ``AT``
    clause; ``tree`` the parse trees (JSON), for column lineage.
    """

    count: int
    statements: tuple[str, ...]
    tables: frozenset[str] = frozenset()
    functions: frozenset[str] = frozenset()
    scalars: frozenset[str] = frozenset()
    others: frozenset[str] = frozenset()
    time_travel: frozenset[str] = frozenset()
    tree: tuple[str, ...] = ()


class _Walk:
    """Collects relations and functions from ``json_serialize_sql`` trees."""

    def __init__(self) -> None:
        self.tables: set[str] = set()
        self.functions: set[str] = set()
        self.scalars: set[str] = set()
        self.relations: set[tuple[str, str, str]] = set()
        self.ctes: set[str] = set()
        self.time_travel: set[str] = set()
        self.listings: set[str] = set()

    def visit(self, node: object) -> None:
        if isinstance(node, dict):
            kind = node.get("type")
            if kind == "BASE_TABLE":
                ref = (str(node.get("catalog_name") or "").lower(), str(node.get("schema_name") or "").lower(),
                       str(node.get("table_name") or "").lower())
                self.relations.add(ref)
                if ref[1] in ZONES and ref[0] in _DEFAULT_CATALOGS:
                    self.tables.add(f"{ref[1]}.{ref[2]}")
                    if node.get("at_clause"):
                        self.time_travel.add(f"{ref[1]}.{ref[2]}")
            elif kind == "SHOW_REF" and not node.get("query"):
                self.listings.add(f"SHOW {node.get('table_name') or ''}".strip())  # SHOW TABLES, SHOW ALL TABLES
            elif kind == "TABLE_FUNCTION":
                function = node.get("function") or {}
                self.functions.add(str(function.get("function_name", "")).lower())
            elif node.get("class") == "FUNCTION" and "function_name" in node:
                self.scalars.add(str(node["function_name"]).lower())
            cte_map = node.get("cte_map")
            if isinstance(cte_map, dict):
                self.ctes.update(str(entry.get("key", "")).lower() for entry in cte_map.get("map", []))
            for value in node.values():
                self.visit(value)
        elif isinstance(node, list):
            for value in node:
                self.visit(value)

    def others(self) -> frozenset[str]:
        named = set(self.listings)
        for catalog, schema, table in self.relations:
            if schema in ZONES and catalog in _DEFAULT_CATALOGS:
                continue
            if not catalog and not schema and table in self.ctes:
                continue
            named.add(".".join(p for p in (catalog, schema, table) if p))
        return frozenset(named)


def _explained(text: str) -> str | None:
    """The statement an ``EXPLAIN [ANALYZE] [(options)] ...`` explains, found with DuckDB's tokenizer; None if not."""
    every = duckdb.tokenize(text)
    ends = {start: every[n + 1][0] if n + 1 < len(every) else len(text) for n, (start, _) in enumerate(every)}
    tokens = [t for t in every if t[1] != duckdb.token_type.comment]

    def word(i: int) -> str:
        return text[tokens[i][0]:ends[tokens[i][0]]].strip().upper()

    if not tokens or word(0) != "EXPLAIN":
        return None
    i = 1
    if i < len(tokens) and word(i) == "ANALYZE":
        i += 1
    if i < len(tokens) and text[tokens[i][0]] == "(" and tokens[i][1] == duckdb.token_type.operator:
        depth = 0
        while i < len(tokens):
            if tokens[i][1] == duckdb.token_type.operator:
                depth += text[tokens[i][0]] == "("
                depth -= text[tokens[i][0]] == ")"
            i += 1
            if depth == 0:
                break
    return text[tokens[i][0]:] if i < len(tokens) else None


def _statement_type(statement: duckdb.Statement) -> str:
    return str(statement.type).rpartition(".")[2].upper()


def _unexplained(statement: duckdb.Statement) -> tuple[list[str], duckdb.Statement | None]:
    """The types down an EXPLAIN chain and the statement explained (None if it cannot be found)."""
    kinds = [_statement_type(statement)]
    while kinds[-1] == "EXPLAIN":
        inner = _explained(statement.query)
        try:
            found = _PARSER.extract_statements(inner) if inner else []
        except duckdb.Error:
            found = []
        if len(found) != 1:
            return [*kinds, "UNKNOWN"], None
        statement = found[0]
        kinds.append(_statement_type(statement))
    return kinds, statement


@lru_cache(maxsize=1024)
def inspect_query(query: str) -> QueryShape:
    """Parse ``query`` with DuckDB and say what it is and reads (cached: dashboards re-run the same SQL).

    Raises ``QueryError`` for a syntax error.
    """
    with _PARSER_LOCK:
        try:
            statements = _PARSER.extract_statements(query)
        except duckdb.Error as exc:
            raise QueryError(f"SQL syntax error: {str(exc).splitlines()[0]}") from exc
        kinds: list[str] = []
        walk = _Walk()
        trees = []
        for statement in statements:
            chain, explained = _unexplained(statement)
            kinds.extend(chain)
            if explained is None or chain[-1] != "SELECT":
                continue
            serialized = _PARSER.execute("SELECT json_serialize_sql(?)", [explained.query]).fetchone()[0]  # type: ignore[index]
            tree = json.loads(serialized)
            if tree.get("error"):
                raise QueryError(f"SQL syntax error: {tree.get('error_message')}")
            walk.visit(tree)
            trees.append(serialized)
    return QueryShape(len(statements), tuple(kinds), frozenset(walk.tables), frozenset(walk.functions),
                      frozenset(walk.scalars), walk.others(), frozenset(walk.time_travel), tuple(trees))


def referenced_tables(query: str) -> frozenset[str]:
    """The ``zone.table`` names a query reads, as DuckDB's parser sees them."""
    return inspect_query(query).tables


class LakeSQL:
    """A DuckDB connection that sees lake tables under their catalog names."""

    def __init__(self, lake: Lake, threads: int | None = None) -> None:
        self.lake = lake
        self.con = duckdb.connect(config={"threads": threads} if threads else {})
        self._tables: dict[str, DeltaTable] = {}
        self._attached: dict[str, int] = {}
        for zone in ZONES:
            self.con.execute(f'CREATE SCHEMA IF NOT EXISTS "{zone}"')
        install_macros(self.con)

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
            self.con.execute(f'CREATE OR REPLACE VIEW "{zone}"."{table}" AS {self.scan_sql(name, dt)}')
            self._attached[name] = current
        return current

    def scan_sql(self, name: str, dt: DeltaTable) -> str:
        """SQL that reads one snapshot of ``dt`` (override point: the access gate masks here).

        On local disk DuckDB reads the snapshot's Parquet files itself, which parallelises
        over row groups (an Arrow dataset scan measured 2-5x slower on 10M rows here).
        Object stores go through deltalake's Arrow dataset, since DuckDB's own S3 support
        is an extension that cannot be downloaded in this deployment.
        """
        files = dt.file_uris()
        if files and not self.lake.location.is_remote and not dt.metadata().partition_columns:
            return self.parquet_scan(dt, files)
        return f"SELECT * FROM {self.register(name, snapshot_dataset(dt))}"

    @staticmethod
    def parquet_scan(dt: DeltaTable, files: list[str]) -> str:
        """SQL reading ``files`` (some of ``dt``'s, local paths, at least one) in the table's columns.

        Files written before the table gained a column lack it: matched by name, read as null,
        in the table's column order.
        """
        columns = ", ".join('"' + f.name.replace('"', '""') + '"' for f in dt.schema().fields)
        listed = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
        return f"SELECT {columns} FROM read_parquet([{listed}], union_by_name = true)"

    def register(self, name: str, source: object) -> str:
        """Register an Arrow ``source`` for ``name`` on the connection; returns its quoted name."""
        alias = "__lake_" + name.replace(".", "_")
        self.con.register(alias, source)
        return f'"{alias}"'

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
