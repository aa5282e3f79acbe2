"""Collectors for the platform's own logs: hub, proxy, Dask Gateway, dashboards, scoring service,
and supervisord's (components that died or that it gave up on).

Each collector is a small ``LogFileCollector`` subclass with one ``parse`` method that
turns the lines of one program's log into ``security.events`` rows. The stack writes the
hub, configurable-http-proxy and the gateway into one file (the hub starts the other two
and they inherit its output), so three collectors read ``hub.log``, each picking its own
lines. Lines that say nothing about security (static files, health checks, tracebacks)
give no event.

Watermark: an event's id is ``<source>:<inode>:<byte offset of its line>``; the next
cycle re-reads from the newest event's line (``security.events`` is merged on
``event_id``, so that line is not counted twice), and a rotated file (new inode) is
read from its start. Timestamps are stored as naive UTC like the rest of the table.

Why hand-written regexes: these are three fixed, documented line formats (JupyterHub's
``log_request``, configurable-http-proxy's winston lines, tornado's access log) and one JSON
line (the scoring service's, ``access_log``); a log shipper (Vector, Fluent Bit) would be one
more daemon for the same few patterns.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from workbench.security.access_log import ANONYMOUS_CALLER
from workbench.siem.detectors import ANONYMOUS
from workbench.siem.log_formats import DASHBOARD_LOG_FORMAT, HUB_LOG_FORMAT
from workbench.siem.pipeline import EVENT_SCHEMA, AuditCollector, Collector

if TYPE_CHECKING:
    from workbench.session.session import Session

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_TRAITLETS_LINE = re.compile(r"^\[(?P<level>[DIWEC]) (?P<ts>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) "
                             r"(?P<name>[\w.-]+)(?: [\w.]+:\d+)?\] (?P<msg>.*)$")
_HUB_REQUEST = re.compile(r"^(?P<status>\d{3}) (?P<method>[A-Z]+) (?P<uri>\S+)(?: -> \S+)? "
                          r"\((?P<user>[^@()]*)@(?P<ip>[^)]*)\) [\d.]+ms$")
_CHP_LINE = re.compile(r"^(?P<ts>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z) \[ConfigProxy\] (?P<level>\w+): (?P<msg>.*)$")
_CHP_REQUEST = re.compile(r"^(?P<status>\d{3}) (?P<method>[A-Z]+) (?P<path>\S+)")
_CHP_ROUTE = re.compile(r"^(?P<verb>Adding|Removing) route (?P<path>\S+)")
_GATEWAY_REQUEST = re.compile(r"^(?P<status>\d{3}) (?P<method>[A-Z]+) (?P<path>\S+) [\d.]+ms$")
_TORNADO_REQUEST = re.compile(r"^(?P<status>\d{3}) (?P<method>[A-Z]+) (?P<path>\S+) \((?P<ip>[^)]*)\) [\d.]+ms$")
_SUPERVISOR_LINE = re.compile(r"^(?P<ts>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(?P<ms>\d{3}) \w+ (?P<msg>.*)$")
_SUPERVISOR_EXIT = re.compile(r"^exited: (?P<name>\S+) \((?P<how>.*); not expected\)$")
_SUPERVISOR_FATAL = re.compile(r"^gave up: (?P<name>\S+) entered FATAL state")
_USER_PATH = re.compile(r"^/user/([^/?]+)")


def _local(text: str) -> datetime:
    """A log's local wall-clock time as naive UTC."""
    return datetime.fromisoformat(text).astimezone(UTC).replace(tzinfo=None)


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC).replace(tzinfo=None)


def _path(uri: str) -> str:
    return uri.split("?", 1)[0]


def _denial(status: int) -> bool:
    return status in (401, 403)


class LogFileCollector(Collector):
    """Events from one log file; subclasses implement ``parse`` over ``(offset, line)`` pairs."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def parse(self, lines: Iterable[tuple[int, str]]) -> Iterator[dict[str, Any]]:
        raise NotImplementedError

    def new_events(self, wb: Session, watermark: str | None) -> pl.DataFrame:
        try:
            inode = self.path.stat().st_ino
        except FileNotFoundError:
            return pl.DataFrame(schema=EVENT_SCHEMA)
        start = 0
        if watermark:
            seen_inode, _, offset = watermark.partition(":")
            start = int(offset) if int(seen_inode) == inode else 0
        rows = []
        for offset, row in self._parsed(start):
            rows.append({**row, "event_id": f"{self.source}:{inode}:{offset}", "source": self.source})
        return pl.DataFrame(rows, schema=EVENT_SCHEMA) if rows else pl.DataFrame(schema=EVENT_SCHEMA)

    def _parsed(self, start: int) -> Iterator[tuple[int, dict[str, Any]]]:
        def lines() -> Iterator[tuple[int, str]]:
            with open(self.path, "rb") as log:
                log.seek(start)
                offset = start
                for raw in log:
                    if raw.endswith(b"\n"):  # a half-written last line waits for the next cycle
                        yield offset, _ANSI.sub("", raw.decode("utf-8", "replace")).rstrip("\r\n")
                    offset += len(raw)

        for row in self.parse(lines()):
            offset = row.pop("_offset")
            yield offset, row

    def watermark(self, events: pl.DataFrame) -> str | None:
        """``inode:offset`` of the newest event's line (its file's current inode only)."""
        if events.is_empty():
            return None
        parts = events["event_id"].str.split(":")
        latest = (pl.DataFrame({"inode": parts.list.get(1).cast(pl.Int64), "offset": parts.list.get(2).cast(pl.Int64)})
                  .sort("inode", "offset").tail(1))
        try:
            current = self.path.stat().st_ino
        except FileNotFoundError:
            return None
        if latest["inode"][0] != current:
            return None
        return f"{current}:{latest['offset'][0]}"


def _logger_lines(lines: Iterable[tuple[int, str]], logger: str) -> Iterator[tuple[int, datetime, str]]:
    """``(offset, ts, message)`` of the bracketed log lines (hub, gateway, dashboards) of one ``logger``."""
    for offset, line in lines:
        match = _TRAITLETS_LINE.match(line)
        if match and match["name"] == logger:
            yield offset, _local(match["ts"]), match["msg"]


def _event(offset: int, ts: datetime, user: str | None, ip: str | None, action: str, resource: str | None,
           status: str) -> dict[str, Any]:
    return {"_offset": offset, "ts": ts, "user_name": user or ANONYMOUS, "source_ip": ip or None,
            "action": action, "resource": resource, "rows_returned": None, "status": status}


class HubLogCollector(LogFileCollector):
    """JupyterHub: logins (with the address from the request line), failed logins, 401/403s, spawns.

    A login's name is in the hub's message (``Failed login for 'x'``, ``User logged in: x``)
    and its address in the request line that follows (``403 POST /hub/login (@10.0.0.9)``);
    the two are paired in order.
    """

    source = "hub"

    def parse(self, lines: Iterable[tuple[int, str]]) -> Iterator[dict[str, Any]]:
        pending: tuple[int, str, str] | None = None  # (offset, outcome, name) awaiting its request line
        for offset, ts, msg in _logger_lines(lines, "JupyterHub"):
            if msg.startswith("Failed login for "):
                pending = (offset, "login_failed", msg.removeprefix("Failed login for ").strip("'\""))
            elif msg.startswith("User logged in: "):
                pending = (offset, "login_ok", msg.removeprefix("User logged in: ").strip())
            elif spawned := re.match(r"^User (\S+?)(?::\S*)? took ([\d.]+) seconds to start$", msg):
                yield _event(offset, ts, spawned[1], None, "spawn", None, "ok")
            elif request := _HUB_REQUEST.match(msg):
                status, path = int(request["status"]), _path(request["uri"])
                if request["method"] == "POST" and path.endswith("/hub/login"):
                    name = pending[2] if pending else request["user"]
                    first = pending[0] if pending else offset
                    ok = status in (200, 302, 303)
                    yield _event(first, ts, name, request["ip"], "login_ok" if ok else "login_failed", path,
                                 "ok" if ok else "failed")
                    pending = None
                elif _denial(status):
                    yield _event(offset, ts, request["user"], request["ip"], "access_denied", path, "denied")


class ProxyLogCollector(LogFileCollector):
    """configurable-http-proxy: refused requests, unreachable servers (5xx), routes added/removed (server start/stop)."""

    source = "proxy"

    def parse(self, lines: Iterable[tuple[int, str]]) -> Iterator[dict[str, Any]]:
        for offset, line in lines:
            match = _CHP_LINE.match(line)
            if not match:
                continue
            msg, ts = match["msg"].strip(), _utc(match["ts"])
            if route := _CHP_ROUTE.match(msg):
                user = _USER_PATH.match(route["path"])
                yield _event(offset, ts, user[1] if user else None, None,
                             "route_add" if route["verb"] == "Adding" else "route_remove", route["path"], "ok")
            elif (request := _CHP_REQUEST.match(msg)) and (_denial(status := int(request["status"])) or status >= 500):
                # 404s are left out: the proxy answers them while the hub starts (the stack polls it).
                path = _path(request["path"])
                user = _USER_PATH.match(path)
                yield _event(offset, ts, user[1] if user else None, None,
                             "access_denied" if _denial(status) else "proxy_error", path,
                             "denied" if _denial(status) else "failed")


class GatewayLogCollector(LogFileCollector):
    """Dask Gateway: clusters started per user, and refused API requests."""

    source = "gateway"

    def parse(self, lines: Iterable[tuple[int, str]]) -> Iterator[dict[str, Any]]:
        for offset, ts, msg in _logger_lines(lines, "DaskGateway"):
            if created := re.match(r"^Created cluster (\S+) for user (\S+)$", msg):
                yield _event(offset, ts, created[2], None, "cluster_start", created[1], "ok")
            elif (request := _GATEWAY_REQUEST.match(msg)) and _denial(int(request["status"])):
                yield _event(offset, ts, None, None, "access_denied", _path(request["path"]), "denied")


class DashboardLogCollector(LogFileCollector):
    """The dashboards' Panel/Bokeh server (tornado access lines in ``DASHBOARD_LOG_FORMAT``): page views, refusals."""

    source = "dashboards"

    def parse(self, lines: Iterable[tuple[int, str]]) -> Iterator[dict[str, Any]]:
        for offset, ts, msg in _logger_lines(lines, "tornado.access"):
            request = _TORNADO_REQUEST.match(msg)
            if not request or request["method"] != "GET":
                continue
            status, path = int(request["status"]), _path(request["path"])
            if path.startswith(("/static", "/favicon", "/ws")) or path.endswith((".js", ".css", ".png", ".ico")):
                continue
            if status < 300:
                yield _event(offset, ts, None, request["ip"], "view_dashboard", path, "ok")
            elif _denial(status):
                yield _event(offset, ts, None, request["ip"], "access_denied", path, "denied")


class ScoringLogCollector(LogFileCollector):
    """The scoring service's JSON access log (``access_log.JsonAccessLog``): refusals and server errors.

    Refused requests (401/403) are anonymous events with the caller's address, so a burst from
    one address is a ``denial_burst``; 5xx answers are ``service_error`` events under the
    caller's token fingerprint. Successful scoring calls stay in the access log only: they are
    machine traffic (hundreds a second) and each returns scores for records its caller sent.
    """

    source = "scoring"

    def parse(self, lines: Iterable[tuple[int, str]]) -> Iterator[dict[str, Any]]:
        import json

        for offset, line in lines:
            try:
                entry = json.loads(line)
                status, ts = int(entry["status"]), _utc(str(entry["ts"]))
            except (ValueError, KeyError, TypeError):
                continue  # not an access line (the service's own start-up messages share stderr)
            identity = str(entry.get("identity") or ANONYMOUS_CALLER)
            user = ANONYMOUS if identity == ANONYMOUS_CALLER else identity
            if _denial(status):
                yield _event(offset, ts, user, entry.get("client"), "access_denied", entry.get("path"), "denied")
            elif status >= 500:
                yield _event(offset, ts, user, entry.get("client"), "service_error", entry.get("path"), "failed")


class SupervisorLogCollector(LogFileCollector):
    """supervisord's log (``workbench.platform.supervisor``): a component that died unexpectedly
    (``process_exit``, how in the resource: ``hub: terminated by SIGKILL``) and one it gave up
    restarting (``process_fatal``). Nobody's events (``user_name`` ``-``): the platform's own."""

    source = "supervisor"

    def parse(self, lines: Iterable[tuple[int, str]]) -> Iterator[dict[str, Any]]:
        for offset, line in lines:
            match = _SUPERVISOR_LINE.match(line)
            if not match:
                continue
            ts = _local(f"{match['ts']}.{match['ms']}")
            if exited := _SUPERVISOR_EXIT.match(match["msg"]):
                yield _event(offset, ts, None, None, "process_exit", f"{exited['name']}: {exited['how']}", "failed")
            elif fatal := _SUPERVISOR_FATAL.match(match["msg"]):
                yield _event(offset, ts, None, None, "process_fatal", fatal["name"], "failed")


def dashboard_logging(path: str | os.PathLike[str]) -> None:
    """Send the dashboards server's access log (tornado.access, INFO) to ``path`` for the SIEM."""
    import logging

    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter(DASHBOARD_LOG_FORMAT, datefmt="%Y-%m-%d %H:%M:%S"))
    access = logging.getLogger("tornado.access")
    access.setLevel(logging.INFO)
    access.addHandler(handler)


def platform_collectors(hub_log: str | os.PathLike[str], audit_folder: str | os.PathLike[str] | None,
                        dashboards_log: str | os.PathLike[str] | None = None,
                        exclude_users: list[str] | tuple[str, ...] = (),
                        scoring_log: str | os.PathLike[str] | None = None,
                        proxy_log: str | os.PathLike[str] | None = None,
                        gateway_log: str | os.PathLike[str] | None = None,
                        supervisor_log: str | os.PathLike[str] | None = None) -> list[Collector]:
    """The stack's collectors: hub, proxy and gateway (their own logs, else all in ``hub_log``), the
    audit trail (without ``exclude_users``, the SIEM's own session), the dashboards, the scoring
    service, supervisord."""
    found: list[Collector] = [HubLogCollector(hub_log), ProxyLogCollector(proxy_log or hub_log),
                              GatewayLogCollector(gateway_log or hub_log), AuditCollector(audit_folder, exclude_users)]
    if supervisor_log:
        found.append(SupervisorLogCollector(supervisor_log))
    if dashboards_log:
        found.append(DashboardLogCollector(dashboards_log))
    if scoring_log:
        found.append(ScoringLogCollector(scoring_log))
    return found
