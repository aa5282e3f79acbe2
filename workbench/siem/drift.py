"""Drift alerts of model monitoring, raised to administrators through the SIEM's alert path.

``models monitor`` flags drift rows (PSI > 0.25 over >= 200 rows) in
``curated.model_monitoring``; a flag in a table nobody watches reaches nobody. Here each
flag becomes a SIEM ``Alert`` (detector ``model_drift``), stored in ``security.alerts``
and delivered to the sinks configured in ``settings.siem_sinks`` (webhook, e-mail), the
same place, format and delivery as the SIEM's own detections, so administrators have one
inbox and one table of alerts.

An alert is raised once (``siem.raise_alerts``): its id is the SIEM's stable
``Alert.alert_id``, derived from the monitoring row's key (model, version, kind, subject,
week), so re-running ``monitor`` on the same window finds it already stored and delivers
nothing. Whoever runs ``monitor`` writes curated tables (the system's scheduled run), so
it may write ``security.alerts`` as well.
"""

from __future__ import annotations

from datetime import date, datetime, time

import polars as pl

from workbench.risk.monitoring import MONITORING
from workbench.risk.profile import ALERT_PSI
from workbench.siem.detectors import Alert

DETECTOR = "model_drift"
"""The ``detector`` of model monitoring alerts in ``security.alerts``."""


def severity(kind: str, psi: float) -> str:
    """``high`` when the scores themselves moved (the ranking officers work from) or PSI > 2x the threshold,
    else ``medium``: one drifting input is worth a look, not an emergency."""
    return "high" if kind == "score_drift" or psi > 2 * ALERT_PSI else "medium"


def drift_alerts(frame: pl.DataFrame, source: str = MONITORING) -> list[Alert]:
    """One SIEM alert per flagged drift row of a monitoring frame (``MonitoringReport.frame``).

    ``user_name`` is the model (an alert about a model has no account behind it, and the id
    must not depend on who ran the monitor); ``evidence`` starts with the monitoring row's
    key in ``source``, then the figures as ``name=value``.
    """
    alerts = []
    for row in frame.filter(pl.col("alert")).iter_rows(named=True):
        start, end = row["window_start"], row["window_end"]
        what = "scores" if row["kind"] == "score_drift" else f"feature {row['subject']!r}"
        alerts.append(Alert(
            detector=DETECTOR, severity=severity(row["kind"], row["value"]), user_name=row["model"],
            first_ts=_midnight(start), last_ts=_midnight(end),
            summary=(f"{row['model']} v{row['version']}: {what} drifted, PSI {row['value']:.2f} > {ALERT_PSI} "
                     f"over {row['rows']} rows, week {start}..{end} (largest moves: {row['detail']})")[:500],
            evidence=(f"{source}/{row['model']}/v{row['version']}/{row['kind']}/{row['subject']}/{start}",
                      f"model={row['model']}", f"version={row['version']}", f"feature={row['subject']}",
                      f"psi={row['value']:.4f}", f"rows={row['rows']}", f"window={start}/{end}")))
    return alerts


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time())
