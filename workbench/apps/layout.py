"""Pieces the dashboards share: empty states, escaped HTML, number formatting."""

from __future__ import annotations

import html
from collections.abc import Iterable
from typing import Any


def esc(value: object) -> str:
    """Data as HTML text: every value that came from the lake goes through here before it enters markup."""
    return html.escape("" if value is None else str(value), quote=True)


def number_text(value: float | int) -> str:
    """``12,345`` (whole numbers with thousands separators), as the dashboards and their tests show it."""
    return f"{value:,.0f}"


def empty_state(tables: Iterable[str], part: str) -> Any:
    """A clear message in place of a part whose tables are missing or unreadable for this role."""
    import panel as pn

    names = ", ".join(tables)
    return pn.pane.Alert(
        f"<b>{esc(part).capitalize()}: not available yet.</b> It needs {esc(names)}, which this lake does not "
        "have (or your role may not read). It appears here once the table is loaded.",
        alert_type="warning", sizing_mode="stretch_width")
