"""Pieces the dashboards share: empty states, escaped HTML, number formatting, tables, work off the event loop."""

from __future__ import annotations

import asyncio
import html
import threading
from collections.abc import Callable, Iterable
from typing import Any, TypeVar
from weakref import WeakKeyDictionary

T = TypeVar("T")


def esc(value: object) -> str:
    """Data as HTML text: every value that came from the lake goes through here before it enters markup."""
    return html.escape("" if value is None else str(value), quote=True)


def number_text(value: float | int) -> str:
    """``12,345`` (whole numbers with thousands separators), as the dashboards and their tests show it."""
    return f"{value:,.0f}"


def empty_state(tables: Iterable[str], part: str) -> Any:
    """A clear message in place of a part whose tables are missing or unreadable for this role.

    When a background job of the stack makes one of them, the message says how far it is
    ("being built: 60%, about 2 min"; ``workbench.platform.jobs.building``).
    """
    import panel as pn

    from workbench.platform.jobs import building

    tables = list(tables)
    names = ", ".join(tables)
    if progress := building(tables):
        return pn.pane.Alert(f"<b>{esc(part).capitalize()}: {esc(progress)}.</b> It needs {esc(names)}; "
                             "reload this page once it is built.", alert_type="info", sizing_mode="stretch_width")
    return pn.pane.Alert(
        f"<b>{esc(part).capitalize()}: not available yet.</b> It needs {esc(names)}, which this lake does not "
        "have (or your role may not read). It appears here once the table is loaded.",
        alert_type="warning", sizing_mode="stretch_width")


def plain_formatters(frame: Any) -> dict[str, dict[str, str]]:
    """Tabulator formatters that render every text column as escaped plain text."""
    return {col: {"type": "plaintext"} for col, dtype in frame.dtypes.items() if dtype == object or str(dtype) == "string"}


_SESSION_LOCKS: WeakKeyDictionary[Any, threading.Lock] = WeakKeyDictionary()
_LOCKS_GUARD = threading.Lock()


async def off_loop(wb: Any, fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` in a worker thread, so the server's event loop keeps serving other sessions.

    Every dashboard callback that reads the lake awaits its work through this: Bokeh
    serves all sessions from one event loop, so a long query run inline would freeze every
    other user's page until it finished. Only the returned data comes back to the loop,
    where the callback updates its widgets (Bokeh models are not thread-safe). Work for
    one lake session ``wb`` runs one at a time (its DuckDB connection is not thread-safe),
    work for different sessions in parallel.
    """
    with _LOCKS_GUARD:
        lock = _SESSION_LOCKS.setdefault(wb, threading.Lock())

    def run() -> T:
        with lock:
            return fn(*args)

    return await asyncio.to_thread(run)


def data_table(frame: Any, **options: Any) -> Any:
    """A read-only Tabulator of a Polars frame: text shown as escaped plain text, dates as ``YYYY-MM-DD``."""
    import panel as pn
    import polars as pl

    table = frame.with_columns(pl.col(pl.Date).cast(pl.Utf8)).to_pandas()
    return pn.widgets.Tabulator(table, disabled=True, show_index=False, formatters=plain_formatters(table),
                                **{"sizing_mode": "stretch_width", **options})


def viewer_session(wb: Any, lake: str | None) -> tuple[Any, Any | None]:
    """``wb``, or the viewer's new lake session; or (None, a refusal) when the audit trail cannot record it.

    No audit, no access: a session whose start cannot be recorded is refused
    (``AuditUnavailable``). Left to Panel, that refusal was an HTTP 500 with a traceback;
    here the page says what happened and that it passes once the audit service is back
    (the supervisor restarts it within seconds; administrators see the outage as a SIEM alert).
    """
    import panel as pn

    from workbench.security.audit import AuditUnavailable
    from workbench.session import connect

    if wb is not None:
        return wb, None
    try:
        return connect(lake), None
    except AuditUnavailable:
        return None, pn.pane.Alert(
            "<b>Refused for now: the audit trail cannot record this view.</b> Every view is recorded, so "
            "none is shown while the audit service is unavailable; reload this page in a moment.",
            alert_type="danger", sizing_mode="stretch_width")


def open_app(wb: Any, lake: str | None, title: str, needs: Iterable[str], part: str) -> tuple[Any, Any, Any | None]:
    """Start one browser session's app: its lake session, its title, and, when a table in ``needs`` is missing
    (or unreadable for the viewer's role), the whole app as an empty state naming it (else None).

    ``wb`` defaults to ``connect(lake)``: inside the dashboards service that session carries
    the viewer's role, so the check below is made as the viewer.
    """
    import panel as pn

    from workbench.apps.queries import missing_tables

    pn.extension("tabulator", loading_indicator=True)
    heading = pn.pane.Markdown(f"## {esc(title)}", margin=(0, 10))
    wb, refused = viewer_session(wb, lake)
    if refused is not None:
        return None, heading, pn.Column(heading, refused, sizing_mode="stretch_width")
    absent = missing_tables(wb, needs)
    blank = pn.Column(heading, empty_state(absent, part), sizing_mode="stretch_width") if absent else None
    return wb, heading, blank
