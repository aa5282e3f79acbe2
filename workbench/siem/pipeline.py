"""The SIEM loop: collect the platform's logs into ``security.events``, detect, alert.

One ``run_cycle`` does everything once: collectors append what is new since the last cycle
(each source keeps its own watermark, read back from ``security.events``), the detectors
run over the events, new alerts (``alert_id`` is stable, so an alert is raised once) are
merged into ``security.alerts`` and delivered to every sink. ``run_every`` repeats it
every ``settings.siem_interval`` seconds: ``workbench platform up`` runs it as a stack
component (``workbench audit siem``); detection latency is one cycle.

Collectors are small classes with one method (``new_events``); the access log and the
audit trail ship here, the hub, proxy, gateway and dashboards logs in
``workbench.siem.collectors``. The SIEM runs through a session with the ``system``
or ``admin`` role.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from workbench.errors import ConfigError, UnknownTable, WorkbenchError
from workbench.security.audit import read_records
from workbench.siem.detectors import Alert, DetectionContext, Detector, run_detectors
from workbench.siem.sinks import AlertSink

if TYPE_CHECKING:
    from workbench.session.session import Session

EVENTS = "security.events"
ALERTS = "security.alerts"
EVENT_SCHEMA = {
    "event_id": pl.String, "source": pl.String, "ts": pl.Datetime("us"), "user_name": pl.String,
    "source_ip": pl.String, "action": pl.String, "resource": pl.String, "rows_returned": pl.Int64,
    "status": pl.String,
}
_AUDIT_ACTIONS = {"session_start": "session_start", "query": "query", "table": "query", "scan": "query",
                  "describe": "query", "denied": "access_denied", "write": "write", "login": "login_ok",
                  "login_failed": "login_failed", "role_change": "role_change", "export": "export",
                  "dashboard_view": "view_dashboard", "dashboard_export": "export"}


class Collector:
    """One log source: returns its events newer than the watermark, in ``EVENT_SCHEMA``."""

    source = "source"

    def new_events(self, wb: Session, watermark: str | None) -> pl.DataFrame:
        raise NotImplementedError

    def watermark(self, events: pl.DataFrame) -> str | None:
        """The watermark after ``events`` (this source's rows of ``security.events``)."""
        return None if events.is_empty() else str(events["ts"].max())


class AccessLogCollector(Collector):
    """``raw.platform_access_log``: the platform's own access log, landed by ingest."""

    source = "access_log"
    table = "raw.platform_access_log"

    def new_events(self, wb: Session, watermark: str | None) -> pl.DataFrame:
        where = "WHERE ts > CAST($since AS TIMESTAMP)" if watermark else ""
        frame = wb.sql(
            f"SELECT event_id, '{self.source}' AS source, ts, user_name, source_ip, action, resource, rows_returned, "
            f"status FROM {self.table} {where} ORDER BY ts", {"since": watermark} if watermark else None)
        return frame.cast(EVENT_SCHEMA)  # type: ignore[arg-type]


class AuditCollector(Collector):
    """The session audit trail: queries, writes, denials and logins of every person."""

    source = "audit"

    def __init__(self, folder: str | Path | None = None, exclude_users: Sequence[str] = ()) -> None:
        """``exclude_users``: the SIEM's own session, whose reads of its tables would feed back every cycle."""
        self.folder = folder
        self.exclude_users = set(exclude_users)

    def new_events(self, wb: Session, watermark: str | None) -> pl.DataFrame:
        after = int(watermark) if watermark else -1
        folder = self.folder or wb.audit.folder
        if folder is None:
            raise ConfigError("the audit collector needs the audit folder: the session writes through the "
                              "audit service, so pass AuditCollector(folder)")
        rows = []
        for rec in read_records(folder):
            seq = int(rec.get("seq", -1))
            if seq <= after or rec.get("user") in self.exclude_users:
                continue
            detail = rec.get("detail") or {}
            rows.append({
                "event_id": f"audit:{seq}", "source": self.source,
                "ts": datetime.fromisoformat(str(rec["ts"])).astimezone(UTC).replace(tzinfo=None),
                "user_name": rec.get("user"), "source_ip": detail.get("source_ip"),
                "action": _AUDIT_ACTIONS.get(str(rec.get("event")), str(rec.get("event"))),
                "resource": ",".join(rec.get("tables") or []) or detail.get("resource"),
                "rows_returned": rec.get("rows"), "status": str(rec.get("status")),
            })
        return pl.DataFrame(rows, schema=EVENT_SCHEMA)

    def watermark(self, events: pl.DataFrame) -> str | None:
        if events.is_empty():
            return None
        return str(events["event_id"].str.strip_prefix("audit:").cast(pl.Int64).max())


def store_accounts(base_dir: str | Path) -> dict[str, bool]:
    """The hub's account directory (name -> enabled) from the platform account store."""
    from workbench.security.accounts import AccountStore

    return {a.name: a.enabled and not a.locked for a in AccountStore(base_dir).list()}


def _existing(wb: Session, name: str) -> pl.DataFrame | None:
    try:
        return wb.table(name)
    except UnknownTable:
        return None


def collect(wb: Session, collectors: Sequence[Collector] | None = None) -> int:
    """Append every collector's new events to ``security.events``; returns rows added."""
    collectors = collectors if collectors is not None else [AccessLogCollector(), AuditCollector()]
    events = _existing(wb, EVENTS)
    added = 0
    for collector in collectors:
        mine = events.filter(pl.col("source") == collector.source) if events is not None else pl.DataFrame()
        try:
            fresh = collector.new_events(wb, collector.watermark(mine))
        except UnknownTable:
            continue  # the source has not landed anything yet
        if fresh.height:
            added += wb.write(fresh, EVENTS, mode="merge").rows_written
    return added


@dataclass
class CycleResult:
    """What one cycle did; ``failures`` names sinks that could not deliver."""

    collected: int
    alerts: list[Alert]
    new_alerts: list[Alert]
    delivered: int
    seconds: float
    failures: dict[str, str] = field(default_factory=dict)


def raise_alerts(wb: Session, alerts: Sequence[Alert], sinks: Sequence[AlertSink] = ()
                 ) -> tuple[list[Alert], int, dict[str, str]]:
    """Store the alerts not yet in ``security.alerts`` and deliver them to every sink: (new, delivered, failures).

    The last step of a cycle, public so alerts raised outside the detectors (model drift,
    ``workbench.siem.drift``) take the same path. An alert the table quarantines is
    not delivered (it would be re-sent every cycle, never appearing as stored).
    """
    stored = _existing(wb, ALERTS)
    known = set(stored["alert_id"].to_list()) if stored is not None else set()
    new = list({a.alert_id: a for a in alerts if a.alert_id not in known}.values())
    failures: dict[str, str] = {}
    delivered = 0
    if new:
        now = datetime.now(UTC).replace(tzinfo=None)
        written = wb.write(pl.DataFrame([a.row(now) for a in new]).cast({"first_ts": pl.Datetime("us"),
                                                                        "last_ts": pl.Datetime("us"),
                                                                        "raised_at": pl.Datetime("us")}),
                           ALERTS, mode="merge")
        if written.rows_quarantined:
            raise WorkbenchError(f"{ALERTS} quarantined {written.rows_quarantined} of {len(new)} alert(s) "
                                 "(see quarantine.rejections); nothing was delivered")
        for sink in sinks:
            try:
                sink.send(new)
                delivered += 1
            except Exception as exc:  # a dead sink must not stop the others; the result reports it
                failures[type(sink).__name__] = str(exc)
    return new, delivered, failures


def run_cycle(wb: Session, sinks: Sequence[AlertSink] = (), accounts: Mapping[str, bool] | None = None,
              detectors: Sequence[Detector] | None = None, collectors: Sequence[Collector] | None = None) -> CycleResult:
    """Collect, detect, store new alerts and deliver them: one SIEM cycle."""
    started = time.perf_counter()
    collected = collect(wb, collectors)
    events = _existing(wb, EVENTS)
    if events is None:
        return CycleResult(collected, [], [], 0, time.perf_counter() - started)
    alerts = run_detectors(events, DetectionContext(accounts=accounts), detectors)
    new, delivered, failures = raise_alerts(wb, alerts, sinks)
    wb.audit.record("siem_cycle", collected=collected, alerts=len(new), delivered=delivered,
                    failed_sinks=sorted(failures))
    return CycleResult(collected, alerts, new, delivered, time.perf_counter() - started, failures)


def run_every(wb: Session, interval: float, stop: threading.Event, *, sinks: Sequence[AlertSink] = (),
              accounts: Callable[[], Mapping[str, bool]] | None = None,
              collectors: Sequence[Collector] | None = None,
              report: Callable[[str], None] = print) -> None:
    """Run ``run_cycle`` every ``interval`` seconds until ``stop`` is set (the stack's SIEM component);
    at least one cycle runs, so a set ``stop`` means exactly one.

    A failing cycle (a locked table, a dead sink) is reported and the next one runs on time:
    detection must not stop because one source misbehaved once.
    """
    while True:
        started = time.monotonic()
        try:
            result = run_cycle(wb, sinks, accounts=accounts() if accounts else None, collectors=collectors)
            failed = f", failed sinks {sorted(result.failures)}" if result.failures else ""
            report(f"{datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ} siem cycle: {result.collected} events, "
                   f"{len(result.new_alerts)} new alerts, {result.seconds:.2f} s{failed}")
        except Exception as exc:  # noqa: BLE001 - reported; the loop goes on
            report(f"{datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ} siem cycle failed: {type(exc).__name__}: {exc}")
        if stop.wait(max(0.0, interval - (time.monotonic() - started))):
            return
