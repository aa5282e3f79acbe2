"""The SQL database kind: PostgreSQL read in bulk Arrow batches through ADBC.

ADBC's PostgreSQL driver reads with ``COPY ... TO STDOUT (FORMAT binary)`` and decodes
straight into Arrow, so rows never become Python objects. An incremental table reads
``WHERE <column> > <watermark>``; the watermark is the largest value read, kept with
the column's PostgreSQL type so it is bound back as that type (never spliced into SQL).

Connection: ``url_env`` (or a plain ``url`` without a password) holding a libpq or
SQLAlchemy URL; a SQLAlchemy driver suffix (``postgresql+psycopg://``) is dropped. The
connection is opened at the first read and kept, in autocommit mode, for the connector's
later runs: a follower (``ingest run --follow``) reads every second, and opening one (a
PostgreSQL backend start and the authentication) cost 0.2-0.6 s of each of its rounds here.
A read that fails or stops half-way drops it (the next read reconnects): a connection left
in the middle of a ``COPY`` is not reusable.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

import adbc_driver_manager
import adbc_driver_postgresql.dbapi as adbc_pg
import pyarrow as pa
import pyarrow.compute as pc

from workbench.errors import ConfigError
from workbench.ingest.base import Connector, Extract
from workbench.ingest.spec import TableSource
from workbench.ingest.watermarks import Marks

_WATERMARK_TYPES = ("int2", "int4", "int8", "date", "timestamp", "timestamptz", "text", "varchar")


def quote_ident(name: str) -> str:
    """A PostgreSQL identifier, dotted names quoted part by part."""
    return ".".join('"' + part.replace('"', '""') + '"' for part in name.split("."))


def libpq_url(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    base = scheme.split("+", 1)[0]
    if base not in ("postgresql", "postgres") or not sep:
        raise ConfigError(f"unsupported database URL scheme {scheme!r}: the sql kind reads PostgreSQL")
    return f"postgresql://{rest}"


def lake_field(f: pa.Field) -> pa.Field:
    """The type a column lands as: driver extension types as their storage, times as naive UTC."""
    kind = f.type.storage_type if isinstance(f.type, pa.BaseExtensionType) else f.type
    if pa.types.is_timestamp(kind) and kind.tz is not None:
        kind = pa.timestamp(kind.unit)
    return pa.field(f.name, kind, nullable=True)


class SQLConnector(Connector):
    """``kind = "sql"``: tables or queries of a PostgreSQL database."""

    kind = "sql"
    lists_keys = True
    transient_errors: ClassVar[tuple[type[BaseException], ...]] = (
        adbc_driver_manager.OperationalError, ConnectionError, TimeoutError,
    )

    def validate_table(self, source: TableSource) -> None:
        if not (source.query or source.source_table):
            raise self.config_error(source, "source_table", "a sql table needs source_table or query")
        super().validate_table(source)

    def is_incremental(self, source: TableSource) -> bool:
        return source.incremental is not None

    def statement(self, source: TableSource, marks: Marks) -> tuple[str, tuple[Any, ...]]:
        """The SQL to run and its bound parameters."""
        base = source.query or f"SELECT * FROM {quote_ident(source.source_table or '')}"
        if not source.incremental or "value" not in marks:
            return base, ()
        column = quote_ident(source.incremental)
        return f"SELECT * FROM ({base}) AS src WHERE src.{column} > CAST($1 AS {marks['type']})", (marks["value"],)

    _conn: adbc_pg.Connection | None = None

    def _connected(self) -> adbc_pg.Connection:
        """The kept source connection (module docstring), opened when there is none."""
        if self._conn is None:
            self._conn = adbc_pg.connect(libpq_url(self.connection()["url"]), autocommit=True)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            try:
                conn.close()
            except adbc_driver_manager.Error:
                pass  # a connection the server already dropped

    def __getstate__(self) -> dict[str, Any]:
        """A connector travels to a Dask worker without its connection (the worker opens its own)."""
        return {k: v for k, v in self.__dict__.items() if k != "_conn"}

    def source_keys(self, source: TableSource, key: tuple[str, ...]) -> pa.Table:
        """The key columns of every row the table or query returns now (one Arrow read)."""
        base = source.query or f"SELECT * FROM {quote_ident(source.source_table or '')}"
        columns = ", ".join(f"src.{quote_ident(k)}" for k in key)
        try:
            with self._connected().cursor() as cursor:
                cursor.execute(f"SELECT DISTINCT {columns} FROM ({base}) AS src")
                return cursor.fetch_arrow_table()
        except BaseException:
            self.close()
            raise

    def extract(self, source: TableSource, marks: Marks) -> Extract:
        try:
            cursor = self._connected().cursor()
            sql, params = self.statement(source, marks)
            cursor.execute(sql, params or None)
            reader = cursor.fetch_record_batch()
        except BaseException:
            self.close()
            raise
        schema = pa.schema([lake_field(f) for f in reader.schema])
        new_marks: Marks = {}
        if source.incremental:
            if source.incremental not in reader.schema.names:
                self.close()
                raise self.config_error(source, "incremental", f"the query returns no column {source.incremental!r}")
            pg_type = (reader.schema.field(source.incremental).metadata or {}).get(b"POSTGRESQL:type", b"").decode()
            if pg_type not in _WATERMARK_TYPES:
                self.close()
                raise self.config_error(source, "incremental", f"column type {pg_type or 'unknown'} cannot be a "
                                        f"watermark; use an integer, date or timestamp column")
            new_marks["type"] = pg_type
        return Extract(schema, self._batches(cursor, reader, schema, source.incremental, new_marks), marks=new_marks)

    def _batches(self, cursor: adbc_pg.Cursor, reader: pa.RecordBatchReader, schema: pa.Schema,
                 incremental: str | None, marks: Marks) -> Iterator[pa.RecordBatch]:
        """Batches cast to lake types; tracks the largest incremental value read into ``marks``.

        Holds the cursor until the end: the reader's stream closes when its cursor is collected.
        A read that does not reach the end (an error, a consumer that stopped) drops the connection.
        """
        high: Any = None
        finished = False
        try:
            for batch in reader:
                if incremental and batch.num_rows:
                    top = pc.max(batch.column(incremental)).as_py()
                    if top is not None and (high is None or top > high):
                        high = top
                yield pa.RecordBatch.from_arrays(
                    [col.storage if isinstance(col, pa.ExtensionArray) else col for col in batch.columns],
                    names=schema.names,
                ).cast(schema)
            finished = True
        finally:
            try:
                cursor.close()
            finally:
                if not finished:
                    self.close()
        if high is not None:
            marks["value"] = high.isoformat() if hasattr(high, "isoformat") else str(high)
