"""The administrators' security events app: SIEM alerts by severity, each drilled down to its evidence events.

Data functions (``alerts``, ``evidence``, ``recent_events``) read ``security.alerts`` and
``security.events`` (written by ``workbench.siem.pipeline``; readable by admin and system
only) through the session; ``security_app`` lays them out with a severity filter. A
viewer whose role may not read them, or a lake where the SIEM has not run, gets an empty
state naming the table.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import polars as pl

from workbench.apps.queries import missing_tables, run_cached
from workbench.session import Session

ALERTS = "security.alerts"
EVENTS = "security.events"
SEVERITIES = ("critical", "high", "medium", "low")
"""Most severe first: the order alerts are listed in."""
EVENT_COLUMNS = "event_id, ts, source, user_name, source_ip, action, resource, rows_returned, status"


def alerts(wb: Session, severities: list[str] | None = None) -> pl.DataFrame:
    """Alerts with a severity in ``severities`` (all when empty), most severe then most recent first."""
    frame = run_cached(wb, f"""SELECT alert_id, severity, detector, user_name, first_ts, last_ts, summary, evidence,
               raised_at FROM {ALERTS}""", [ALERTS])
    if severities:
        frame = frame.filter(pl.col("severity").is_in(severities))
    rank = pl.col("severity").replace_strict({s: i for i, s in enumerate(SEVERITIES)}, default=len(SEVERITIES))
    return frame.sort(rank, pl.col("last_ts"), descending=[False, True])


def severity_counts(frame: pl.DataFrame) -> dict[str, int]:
    """Alerts per severity (every severity present, zero when none)."""
    counts = dict(frame.group_by("severity").len().iter_rows())
    return {s: int(counts.get(s, 0)) for s in SEVERITIES}


def evidence(wb: Session, alert: dict[str, Any]) -> pl.DataFrame:
    """The events an alert cites (its comma-separated ``evidence`` ids), oldest first."""
    ids = [i.strip() for i in (alert.get("evidence") or "").split(",") if i.strip()]
    return run_cached(wb, f"SELECT {EVENT_COLUMNS} FROM {EVENTS} WHERE event_id IN (SELECT unnest($ids)) "
                          "ORDER BY ts, event_id", [EVENTS], {"ids": ids})


def recent_events(wb: Session, user: str = "", action: str = "", since: datetime | None = None,
                  limit: int = 200) -> pl.DataFrame:
    """The latest ``limit`` events, optionally of one user (substring) and one action, newest first."""
    return run_cached(wb, f"""SELECT {EVENT_COLUMNS} FROM {EVENTS}
        WHERE ($user = '' OR user_name ILIKE '%' || $user || '%') AND ($action = '' OR action = $action)
          AND ($since IS NULL OR ts >= $since)
        ORDER BY ts DESC, event_id LIMIT {int(limit)}""", [EVENTS], {"user": user, "action": action, "since": since})


# ----------------------------------------------------------------------------- layout

SEVERITY_COLOURS = {"critical": "#862e9c", "high": "#c92a2a", "medium": "#e8590c", "low": "#495057"}


def security_app(wb: Session | None = None, lake: str | None = None) -> Any:
    """The security events app as a Panel layout (one per browser session); ``wb`` defaults to ``connect(lake)``."""
    import panel as pn

    from workbench.apps.layout import data_table, empty_state, esc, off_loop, open_app

    wb, title, blank = open_app(wb, lake, "Security events", [EVENTS],
                                "security events (the SIEM collects them: `workbench platform up` runs it)")
    if blank is not None:
        return blank
    absent = missing_tables(wb, [ALERTS])

    severity = pn.widgets.CheckButtonGroup(name="Severity", options=list(SEVERITIES), value=list(SEVERITIES),
                                           button_type="light")
    counts = pn.pane.HTML("", stylesheets=[SEVERITY_CSS], sizing_mode="stretch_width")
    alert_table = pn.widgets.Tabulator(pl.DataFrame().to_pandas(), disabled=True, selectable=1, show_index=False,
                                       height=300, sizing_mode="stretch_width")
    drill = pn.Column(sizing_mode="stretch_width")
    user = pn.widgets.TextInput(name="User", placeholder="any", width=200)
    action = pn.widgets.TextInput(name="Action", placeholder="e.g. login_failed", width=200)
    events_pane = pn.Column(sizing_mode="stretch_width")

    async def show_alerts(_event: Any = None) -> None:
        if ALERTS in absent:
            alert_table.visible = False
            counts.object = ""
            drill.objects = [empty_state([ALERTS], "alerts (no detector has raised one yet)")]
            return
        frame = await off_loop(wb, alerts, wb, list(severity.value))
        everything = await off_loop(wb, alerts, wb, None)
        counts.object = "".join(
            f'<span class="sev" style="background:{SEVERITY_COLOURS[s]}">{esc(s)}: {n}</span>'
            for s, n in severity_counts(everything).items()) + f"<span> · showing {frame.height}</span>"
        shown = frame.drop("evidence").with_columns(pl.col(pl.Datetime).dt.strftime("%Y-%m-%d %H:%M:%S"))
        table = shown.to_pandas()
        alert_table.formatters = {c: {"type": "plaintext"} for c in table.columns}
        alert_table.value = table
        alert_table.selection = []
        drill.objects = [pn.pane.Markdown("*Pick an alert for its evidence events.*")] if frame.height else \
            [pn.pane.Alert("No alert of the chosen severities.", alert_type="info")]

    async def show_evidence(event: Any) -> None:
        if not event.new:
            return
        chosen = alert_table.value.iloc[event.new[0]]
        row = (await off_loop(wb, alerts, wb, None)).filter(pl.col("alert_id") == chosen["alert_id"]).row(0, named=True)
        events = await off_loop(wb, evidence, wb, row)
        head = (f'<div class="alert-head"><b>{esc(row["detector"])}</b> · {esc(row["severity"])} · '
                f'{esc(row["user_name"])}<div>{esc(row["summary"])}</div>'
                f'<div>{events.height} evidence events, {esc(row["first_ts"])} to {esc(row["last_ts"])}</div></div>')
        drill.objects = [pn.pane.HTML(head, sizing_mode="stretch_width"), data_table(events, height=260)]

    async def show_events(_event: Any = None) -> None:
        frame = await off_loop(wb, recent_events, wb, (user.value or "").strip(), (action.value or "").strip())
        events_pane.objects = [data_table(frame, height=320, pagination="local", page_size=50)]

    severity.param.watch(show_alerts, "value")
    alert_table.param.watch(show_evidence, "selection")
    user.param.watch(show_events, "enter_pressed")
    action.param.watch(show_events, "enter_pressed")
    pn.state.onload(show_alerts)
    pn.state.onload(show_events)
    return pn.Column(
        title, severity, counts, alert_table, drill,
        pn.pane.Markdown("### Recent events"), pn.Row(user, action), events_pane,
        sizing_mode="stretch_width",
    )


SEVERITY_CSS = ".sev { color: white; padding: 2px 8px; border-radius: 10px; margin-right: 6px; }"
