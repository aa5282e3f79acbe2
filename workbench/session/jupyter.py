"""Notebook wiring: ``%load_ext workbench`` gives ``wb`` and a ``%%sql`` cell magic over the lake.

JupySQL runs the ``%%sql`` cells; it is handed a PEP 249 connection (``LakeConnection``)
whose cursor resolves lake table names through the session before DuckDB runs the
query. So ``%%sql SELECT ... FROM curated.declarations`` reads the current table version
through the same gate as ``wb.sql``, never around it.
"""

from __future__ import annotations

from typing import Any

from workbench.session.session import Session, connect


class LakeCursor:
    """The cursor JupySQL drives; every statement goes through the session's engine."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._con = session.engine.con

    def execute(self, query: str, parameters: Any = None) -> LakeCursor:
        """Judged, run and audited by the session's engine (``GuardedSQL.execute``)."""
        self._con = self._session.engine.execute(query, parameters, via="%%sql")
        return self

    @property
    def description(self) -> Any:
        return self._con.description

    @property
    def rowcount(self) -> int:
        return -1

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self._con.fetchall()

    def fetchmany(self, size: int = 1) -> list[tuple[Any, ...]]:
        return self._con.fetchmany(size)

    def fetchone(self) -> tuple[Any, ...] | None:
        return self._con.fetchone()

    def close(self) -> None:
        """The session owns the DuckDB connection; closing a cursor leaves it open."""


class LakeConnection:
    """A PEP 249 connection over a session, in the shape JupySQL accepts."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def cursor(self) -> LakeCursor:
        return LakeCursor(self.session)

    def commit(self) -> None:
        """Lake writes commit themselves; nothing is pending here."""

    def close(self) -> None:
        """Kept open for the life of the kernel."""


def load_ipython_extension(ipython: Any, session: Session | None = None) -> None:
    """Put ``wb`` in the notebook and make ``%%sql`` query the lake (JupySQL, Polars results)."""
    wb = session or connect()
    ipython.push({"wb": wb, "lake_connection": LakeConnection(wb)})
    ipython.run_line_magic("load_ext", "sql")
    ipython.run_line_magic("config", "SqlMagic.autopolars = True")
    ipython.run_line_magic("config", "SqlMagic.displaylimit = 20")
    ipython.run_line_magic("config", "SqlMagic.feedback = 0")
    ipython.run_line_magic("sql", "lake_connection --alias lake")
