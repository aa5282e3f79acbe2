"""Security benchmarks: audit overhead on ``wb.sql`` and SIEM detection quality and latency.

- Audit overhead (goal <= 5%): each analyst query through a session with the audit trail
  written directly, through the audit service's socket as hub kernels use it, the same
  with every record waiting for its answer, and a no-op trail, one after the other in an
  order that rotates every round. Reported per trail: the median time spent in the audit
  call inside ``wb.sql`` as a share of the median query, and the end-to-end ratio of the
  summed per-query medians (noisier: +-3% here). Also the cost of one ``record`` call on
  its own, direct vs waiting on the service (a separate ``workbench audit serve``
  process, as on the hub), and the CPU each side spends on it.
- Gate overhead (goal <= 1.10x raw DuckDB): the analyst benchmark queries of
  ``benchmarks/run.py`` through an analyst's session (DuckDB's sandbox, the parse check,
  need-to-know, the audit record) beside raw DuckDB on the same Parquet files and beside
  the engine without the gate (``LakeSQL``), interleaved, medians; and, for information,
  a manager's session, where ``curated.declarations`` arrives through the masking Arrow
  scanner (its transport ids are plates).
- SIEM: one collection cycle over a copy of a world lake (collect the access log and the
  audit trail into ``security.events``, run every detector, store and deliver alerts);
  event-level precision/recall per detector against ``truth.log_anomalies``; then the
  latency of a cycle that picks up a freshly landed brute-force burst.
- Access log: the per-request cost of the scoring service's JSON access line
  (``access_log.JsonAccessLog`` writing to a file) on a Starlette route that answers at
  once, beside the same app without it, interleaved, median of repeats.

    python benchmarks/bench_security.py --lake /tmp/s1
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import polars as pl
import psutil

import workbench
from workbench.security.audit import AuditTrail, AuditWriter, NullAudit
from workbench.security.audit_service import AuditClient
from workbench.siem.detectors import score
from workbench.demo.access_log import demo_accounts
from workbench.siem.pipeline import run_cycle

QUERIES = [
    "SELECT count(*) FROM curated.declarations",
    "SELECT port_code, count(*) AS n FROM curated.declarations GROUP BY 1 ORDER BY 2 DESC",
    "SELECT * FROM curated.declarations WHERE hs_code LIKE '24%' LIMIT 100",
    "SELECT control_point, count(*) FROM curated.crossings GROUP BY 1",
    "SELECT trader_id, sum(value_hkd) FROM curated.declarations GROUP BY 1 ORDER BY 2 DESC LIMIT 20",
]


def _timed_records(trail: AuditWriter, n: int) -> float:
    """Microseconds per ``record`` call."""
    started = time.perf_counter()
    for i in range(n):
        trail.record("query", tables=["curated.declarations"], rows=i, query=QUERIES[i % len(QUERIES)])
    return (time.perf_counter() - started) / n * 1e6


@contextmanager
def audit_service(folder: Path) -> Iterator[Path]:
    """A real ``workbench audit serve`` process on a socket in ``folder``; stopped on exit."""
    sock = folder / "sockets" / "audit.sock"
    proc = subprocess.Popen([str(Path(sys.executable).parent / "workbench"), "audit", "serve", "--dir",
                             str(folder / "audit"), "--socket", str(sock)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not sock.exists():
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("the audit service did not start")
            time.sleep(0.1)
        yield sock
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


class _InCall(AuditWriter):
    """``inner``, timing each ``append``: the latency the audit adds inside ``wb.sql`` itself,
    a steadier figure than the difference of two query timings (which swing by +-3% here)."""

    def __init__(self, inner: AuditWriter, wait: bool | None = None) -> None:
        super().__init__(inner.user, inner.role)
        self.inner, self.wait = inner, wait
        self.seconds: list[float] = []

    def append(self, body: dict[str, object], wait: bool = True) -> dict[str, object]:
        started = time.perf_counter()
        try:
            return self.inner.append(body, wait if self.wait is None else self.wait)
        finally:
            self.seconds.append(time.perf_counter() - started)


def audit_overhead(wb: workbench.Session, repeat: int) -> dict[str, float]:
    """Per query: the no-op trail's time, and for each trail the in-call latency and end-to-end ratio.

    ``service`` is a hub kernel's trail (its reads confirmed before the next record);
    ``service_waiting`` makes every record wait for the service's answer, as all did before.
    """
    with tempfile.TemporaryDirectory() as tmp, audit_service(Path(tmp)) as sock:
        trails: dict[str, _InCall] = {
            "direct": _InCall(wb.audit), "service": _InCall(AuditClient(sock, wb.user, wb.role)),
            "service_waiting": _InCall(AuditClient(sock, wb.user, wb.role), wait=True),
            "none": _InCall(NullAudit(wb.user, wb.role)),
        }
        for q in QUERIES:  # warm: attach views, fill caches
            wb.sql(q)
        labels = list(trails)
        timings: dict[tuple[str, str], list[float]] = {(q, label): [] for q in QUERIES for label in labels}
        for round_ in range(repeat):
            order = labels[round_ % len(labels):] + labels[:round_ % len(labels)]  # no trail always runs first
            for q in QUERIES:
                for label in order:
                    wb.audit = trails[label]
                    started = time.perf_counter()
                    wb.sql(q)
                    timings[(q, label)].append(time.perf_counter() - started)
        wb.audit = trails["direct"].inner
        for trail in trails.values():
            trail.inner.close()
        n = 5_000
        direct = AuditTrail(Path(tmp) / "direct", "bench", "analyst")
        per_record_direct = _timed_records(direct, n)
        direct.close()
        client = AuditClient(sock, "bench", "analyst")
        service = next(c for c in psutil.Process().children() if "serve" in c.cmdline())
        before_service, before_client = sum(service.cpu_times()[:2]), time.process_time()
        per_record_service = _timed_records(client, n)
        # CPU per record on each side: what a query shares its two cores with
        service_cpu = (sum(service.cpu_times()[:2]) - before_service) / n * 1e6
        client_cpu = (time.process_time() - before_client) / n * 1e6
        client.close()
    total = {label: sum(statistics.median(timings[(q, label)]) for q in QUERIES) for label in labels}
    per_query = total["none"] / len(QUERIES)
    figures = {"per_query_ms_without": per_query * 1e3}
    for label in ("direct", "service", "service_waiting"):
        in_call = statistics.median(trails[label].seconds)
        figures[f"in_call_us_{label}"] = in_call * 1e6
        figures[f"in_call_pct_{label}"] = in_call / per_query * 100
        figures[f"end_to_end_pct_{label}"] = (total[label] / total["none"] - 1) * 100
    return {**figures, "record_us_direct": per_record_direct, "record_us_service_waiting": per_record_service,
            "record_cpu_us_service_client": client_cpu, "record_cpu_us_service_process": service_cpu}


def gate_overhead(lake: Path, repeat: int) -> dict[str, object]:
    """Per analyst query: seconds through an analyst's and a manager's session, the ungated engine and raw DuckDB."""
    import duckdb

    from run import QUERIES, interleaved  # benchmarks/run.py: the analyst benchmark queries
    from workbench.lake.sql import LakeSQL

    analyst = workbench.connect(str(lake), role="analyst", user="bench-analyst")
    manager = workbench.connect(str(lake), role="manager", user="bench-manager")
    ungated = LakeSQL(analyst.lake)
    raw = duckdb.connect()
    for name in {n for q in QUERIES for n in q.columns}:
        raw.read_parquet(analyst.lake.delta(name).file_uris()).create_view(name.partition(".")[2])
    figures: dict[str, object] = {}
    for q in QUERIES:
        runs = {"analyst": lambda q=q: analyst.sql(q.lake_sql), "ungated": lambda q=q: ungated.frame(q.lake_sql),
                "raw": lambda q=q: raw.sql(q.raw_sql()).pl()}
        if all(manager.gate.may_read(n) for n in q.columns):  # managers may not read curated.traders
            runs["manager_masked"] = lambda q=q: manager.sql(q.lake_sql)
        t = interleaved(runs, repeat)
        figures[q.name] = {k: round(v, 4) for k, v in t.items()} | {
            "analyst_vs_raw": round(t["analyst"] / t["raw"], 3), "analyst_vs_ungated": round(t["analyst"] / t["ungated"], 3)}
        if "manager_masked" in t:
            figures[q.name]["manager_vs_raw"] = round(t["manager_masked"] / t["raw"], 3)  # type: ignore[index]
    timed = [f for f in figures.values() if isinstance(f, dict)]
    total = {k: sum(float(f[k]) for f in timed) for k in ("analyst", "ungated", "raw")}  # type: ignore[index]
    figures["summed"] = {"analyst_vs_raw": round(total["analyst"] / total["raw"], 3),
                         "analyst_vs_ungated": round(total["analyst"] / total["ungated"], 3)}
    return figures


def siem(wb: workbench.Session) -> dict[str, object]:
    accounts = {**demo_accounts(), wb.user: True}
    first = run_cycle(wb, accounts=accounts)
    scores = score(first.alerts, wb.table("truth.log_anomalies"))
    log = wb.table("raw.platform_access_log")
    start = log["ts"].max() + timedelta(hours=1)  # type: ignore[operator]
    burst = pl.DataFrame([{"event_id": f"EV8{i:08d}", "ts": start + timedelta(seconds=4 * i), "user_name": "analyst04",
                           "source_ip": "185.9.9.9", "action": "login_failed", "resource": None,
                           "rows_returned": None, "status": "failed"} for i in range(30)])
    burst = burst.with_columns(pl.col("ts").cast(pl.Datetime("us")), pl.col("rows_returned").cast(pl.Int64),
                               pl.col("resource").cast(pl.String))
    landed = time.perf_counter()
    wb.lake.write(burst.to_arrow(), "raw.platform_access_log", actor="bench")
    second = run_cycle(wb, accounts=accounts)
    latency = time.perf_counter() - landed
    caught = any(a.detector == "brute_force" and a.user_name == "analyst04" for a in second.new_alerts)
    return {
        "events": int(wb.sql("SELECT count(*) AS n FROM security.events")["n"][0]),
        "first_cycle_s": round(first.seconds, 2),
        "detection_latency_s": round(latency, 2), "burst_caught_in_one_cycle": caught,
        "scores": {k: {"precision": round(v.precision, 3), "recall": round(v.recall, 3), "alerts": v.alerts,
                       "flagged_events": v.flagged, "planted_events": v.planted} for k, v in scores.items()},
    }


def access_log_overhead(folder: Path, requests_per_round: int = 5000, rounds: int = 7) -> dict[str, float]:
    """Microseconds per in-process request with and without the access log (no network: the log's own cost)."""
    import asyncio
    import os

    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from workbench.security.access_log import JsonAccessLog, open_access_log

    async def health(_: object) -> JSONResponse:
        return JSONResponse({"ok": True})

    bare = Starlette(routes=[Route("/health", health)])
    fd = open_access_log(folder / "access.log")
    logged = JsonAccessLog(bare, fd, lambda auth: "anonymous")
    scope = {"type": "http", "method": "GET", "path": "/health", "raw_path": b"/health", "query_string": b"",
             "headers": [(b"authorization", b"Bearer x")], "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 80),
             "scheme": "http", "root_path": "", "http_version": "1.1"}

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(_: object) -> None:
        return None

    async def per_request(app: object) -> float:
        started = time.perf_counter()
        for _ in range(requests_per_round):
            await app(dict(scope), receive, send)  # type: ignore[operator]
        return (time.perf_counter() - started) / requests_per_round * 1e6

    times: dict[str, list[float]] = {"bare": [], "logged": []}
    for _ in range(rounds):
        for name, app in (("bare", bare), ("logged", logged)):
            times[name].append(asyncio.run(per_request(app)))
    os.close(fd)
    bare_us, logged_us = statistics.median(times["bare"]), statistics.median(times["logged"])
    return {"bare_us": round(bare_us, 1), "logged_us": round(logged_us, 1),
            "access_log_us": round(logged_us - bare_us, 1), "ratio": round(logged_us / bare_us, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lake", default=str(Path(__file__).resolve().parents[1] / "var" / "bench" / "world-s1"), help="a world lake (copied; the original is not written)")
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--only", choices=["gate"], help="run one part only")
    args = parser.parse_args()
    if args.only == "gate":
        print(json.dumps({"gate": gate_overhead(Path(args.lake), max(5, args.repeat // 3))}, indent=1))
        return
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copytree(args.lake, Path(tmp) / "lake")
        wb = workbench.connect(str(Path(tmp) / "lake"), user="bench")
        figures = {"gate": gate_overhead(Path(tmp) / "lake", max(5, args.repeat // 3)),
                   "audit": audit_overhead(wb, args.repeat), "siem": siem(wb),
                   "scoring_access_log": access_log_overhead(Path(tmp))}
    print(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
