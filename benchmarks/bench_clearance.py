"""The live clearance loop, end to end: source commit -> scored record in the queue, the scoring service through
the proxy beside direct, kills, and the lake's health under many small commits.

One world (``--scale``) is published into a real PostgreSQL and landed in a lake; both models
are deployed (``models up``). Then, as ``make up`` runs them, two followers (``workbench ingest
run tdec|lbs --follow --every``) and the live scorer (``workbench models live``) run as
processes while the demo feed publishes ``--rate`` records/s for ``--seconds``. Latency of a
record is the time from its source commit (the feed's commit returning) to the moment a
reader sees its row in ``curated.risk_scores`` (the queue commits just before; polled every
0.2 s, so figures carry up to 0.2 s of polling). With ``--kills N`` the followers and the
scorer are each killed (SIGKILL) N times at random points (``Killer``: a kill waits until
the processes of its kind have logged work since their last start, so it lands in the work
loop; the feed runs on past ``--seconds`` until all 2N kills happened, and the report says
how many did of each kind), and every published record must end up scored exactly once (no
merge ever updated a scored row).

The scoring service is measured the way bench_risk drives it (requests scheduled at
``--service-rate``/s for ``--service-seconds``: 3,000 by default, latency from the scheduled
send time; p50/p95/p99), once direct and once through configurable-http-proxy, the hub's
proxy, in front of the same process. Before that, each stage of a request is timed inside
one process with no network (token check; JSON parse, contract typing, the warmed booster's
score and reasons; the JSON response), in the thread's CPU time and in wall time: the CPU
figures are the service's own cost, and the gap to the wall figures is what the machine's
other processes take (on this shared 2-core machine, most of the tail). ``--no-loop``
measures the service alone.

Goals (issue 17): p95 <= 5 s and p99 <= 10 s at 20 records/s; proxy p99 <= 20 ms at 200 req/s.

With ``--day`` it runs only a day of the clearance queue's commits back to back through the
scorer's write and upkeep (``day_of_feed``) and reports the table's Delta log, files and read
times along the way against the start (goal: a few hundred files per table at most, queries
within 1.2x of the start).

    python benchmarks/bench_clearance.py --scale 0.2 --rate 20 --seconds 60 [--kills 20] [--no-loop] [--json]
    python benchmarks/bench_clearance.py --day --rate 5 --every 1 [--commits 2000 | --budget 600]
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.conftest import free_port, wait_for_port  # noqa: E402
from workbench.demo.feed import CROSSINGS, DECLARATIONS, Feed, FeedBatch  # noqa: E402
from workbench.session import connect  # noqa: E402
from workbench.ingest.postgres_server import LocalPostgres  # noqa: E402

WORKBENCH = str(Path(sys.executable).parent / "workbench")
PROXY = REPO / "var" / "npm" / "node_modules" / ".bin" / "configurable-http-proxy"
STAGES = {"raw": (("raw.tdec_declarations", "declaration_id"), ("raw.lbs_crossings", "crossing_id")),
          "curated": (("curated.declarations", "declaration_id"), ("curated.crossings", "crossing_id"))}
"""Where the bench looks for a record on its way to the scores (each polled with the scores; a reader's view)."""
TABLES = ("raw.tdec_declarations", "raw.lbs_crossings", "curated.declarations", "curated.crossings",
          "curated.risk_scores", "curated.clearance_queue")


def table_health(lake: str, names: tuple[str, ...] | list[str] = TABLES) -> dict[str, dict[str, float]]:
    """Per table: data files, log files and checkpoints in its Delta log, and a count query's time: the first one
    in a fresh session (it loads the snapshot: checkpoint and log replay) and the best of 3 after it (system
    tables, which SQL cannot name, counted through a newly opened Delta table each time)."""
    from deltalake import DeltaTable

    wb = connect(lake, user="bench")
    out = {}
    for name in names:
        path = Path(lake) / name.replace(".", "/")
        if not path.exists():
            continue
        dt = DeltaTable(str(path))
        logs = sorted((path / "_delta_log").glob("*.json"))
        checkpoints = sorted((path / "_delta_log").glob("*.checkpoint*.parquet"))
        timings = []
        for _ in range(4):
            started = time.perf_counter()
            if name.startswith("system."):  # DuckDB reserves the schema name: read the Delta table itself
                DeltaTable(str(path)).to_pyarrow_dataset().count_rows()
            else:
                wb.sql(f"SELECT count(*) FROM {name}")
            timings.append(time.perf_counter() - started)
        out[name] = {"files": len(dt.file_uris()), "version": dt.version(), "log_files": len(logs),
                     "checkpoints": len(checkpoints), "first_query_ms": timings[0] * 1000,
                     "query_ms": min(timings[1:]) * 1000}
    return out


def start(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(cmd, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT)


class Killer:
    """Kills the follower and the scorer ``kills`` times each (SIGKILL) at random points, and restarts them.

    The kills of one kind are planned at random times over the feed's ``seconds``; a kill
    that is due waits until every process of that kind has logged work (a landed round, a
    scored tick) since it last (re)started, so it lands inside the work loop and not in a
    restart's imports and model load, and every incarnation moves the loop on. On this
    loaded 2-core machine a restart takes 10-20 s, so the kills can fall behind the plan:
    the feed then runs on until all ``kills`` of each kind happened (``done``); the bench
    reports how many did. Follower kills alternate between the two followers.
    """

    KINDS = {"follower": ("follow-tdec", "follow-lbs"), "scorer": ("scorer",)}

    def __init__(self, root: Path, daemons: dict[str, list[str]], running: dict[str, subprocess.Popen[bytes]],
                 env: dict[str, str], kills: int, seconds: float, started: float, rng: random.Random) -> None:
        self.root, self.daemons, self.running, self.env, self.kills = root, daemons, running, env, kills
        self.plan = {kind: sorted(started + rng.uniform(2, seconds) for _ in range(kills)) for kind in self.KINDS}
        self.done_by_kind = dict.fromkeys(self.KINDS, 0)
        self.logged = {name: self._size(name) for name in daemons}

    def _size(self, name: str) -> int:
        return (self.root / f"{name}.log").stat().st_size

    def working(self, name: str) -> bool:
        """``name`` logged a landed round or a scored tick since its last (re)start."""
        with (self.root / f"{name}.log").open("rb") as log:
            log.seek(self.logged[name])
            return any(line.startswith((b"ok ", b"scored ")) for line in log)

    @property
    def done(self) -> bool:
        return all(n >= self.kills for n in self.done_by_kind.values())

    def step(self, now: float) -> None:
        """Make every kill that is due and whose kind is working; restart the victim at once."""
        for kind, names in self.KINDS.items():
            count = self.done_by_kind[kind]
            if count >= self.kills or now < self.plan[kind][count] or not all(self.working(n) for n in names):
                continue
            victim = names[count % len(names)]
            self.running[victim].kill()
            self.running[victim].wait()
            self.logged[victim] = self._size(victim)
            self.running[victim] = start(self.daemons[victim], self.env, self.root / f"{victim}.log")
            self.done_by_kind[kind] += 1


def loop_latency(root: Path, db_url: str, env: dict[str, str], lake: str, rate: float, seconds: float, burst: int,
                 kills: int) -> dict[str, Any]:
    """Run followers + scorer as processes, feed at ``rate``, and time each record to its score."""
    daemons = {
        "follow-tdec": [WORKBENCH, "ingest", "run", "tdec", "--follow", "--every", "0.5", "--connectors",
                        str(REPO / "connectors"), "--workers", "1"],
        "follow-lbs": [WORKBENCH, "ingest", "run", "lbs", "--follow", "--every", "0.5", "--table", "raw.lbs_crossings",
                       "--connectors",
                       str(REPO / "connectors"), "--workers", "1"],
        "scorer": [WORKBENCH, "models", "live", "--every", "0.25", "--registry", str(root / "registry")],
    }
    running = {name: start(cmd, env, root / f"{name}.log") for name, cmd in daemons.items()}
    atexit.register(lambda: [proc.kill() for proc in running.values() if proc.poll() is None])  # on a failure too
    wb = connect(lake, user="bench")
    feed = Feed(db_url, {}, seed=1, folder=root)
    probe = feed.publish(1)  # wait for the loop to be warm: the first record through
    first = next(iter(probe.ids.get(DECLARATIONS, []) + probe.ids.get(CROSSINGS, [])))
    deadline = time.monotonic() + 300
    while not wb.sql("SELECT count(*) AS n FROM curated.risk_scores WHERE record_id = $id", {"id": first})["n"][0]:
        if time.monotonic() > deadline:
            raise RuntimeError("the loop scored nothing in 300 s; see the logs in " + str(root))
        time.sleep(0.5)
    published: dict[str, float] = {}
    batches: list[FeedBatch] = []

    def note(batch: FeedBatch) -> None:
        at = time.time()
        for table in (DECLARATIONS, CROSSINGS):
            for record in batch.ids.get(table, []):
                published[record] = at
        batches.append(batch)

    stop = threading.Event()
    feeder = threading.Thread(target=lambda: feed.run(rate, burst, stop=stop, on_publish=note))  # stopped below
    scores_before = int(wb.sql("SELECT count(*) AS n FROM curated.risk_scores")["n"][0])
    from deltalake import DeltaTable

    scores_version = DeltaTable(str(Path(lake) / "curated" / "risk_scores")).version()
    health_before = table_health(lake)
    started = time.time()
    feeder.start()
    seen: dict[str, float] = {}
    stages: dict[str, dict[str, float]] = {stage: {} for stage in STAGES}
    load_before = os.getloadavg()
    killer = Killer(root, daemons, running, env, kills, seconds, started, random.Random(3))
    last_seen = wb.sql("SELECT max(scored_at) AS t FROM curated.risk_scores")["t"][0]
    fed_until: float | None = None
    give_up = started + seconds + 120 + 60 * kills  # a restart takes 10-20 s on this loaded machine; room for 3x
    while time.time() < give_up:
        killer.step(time.time())
        if fed_until is None and time.time() - started >= seconds and killer.done:
            stop.set()  # the feed runs its seconds and on until every kill happened (a kill waits for work)
            fed_until = time.time()
        fresh = connect(lake, user="bench")  # a reader's view: what a query would see now
        rows = fresh.sql("SELECT record_id, scored_at FROM curated.risk_scores WHERE scored_at >= $t",
                         {"t": last_seen})
        now = time.time()
        for record in rows["record_id"].to_list():
            seen.setdefault(record, now)
        for stage, tables in STAGES.items():  # where a record is on its way: landed raw, then curated
            waiting = [r for r in list(published) if r not in stages[stage] and r not in seen]  # feeder adds
            if waiting:
                query = " UNION ALL ".join(f"SELECT {key} AS id FROM {table} WHERE list_contains($ids, {key})"
                                           for table, key in tables)
                for record in fresh.sql(query, {"ids": waiting})["id"].to_list():
                    stages[stage].setdefault(record, now)
        if len(rows):
            last_seen = rows["scored_at"].max()
        if stop.is_set() and not feeder.is_alive() and published and all(r in seen for r in published):
            break
        time.sleep(0.2)
    fed_seconds = (fed_until or time.time()) - started
    stop.set()
    feeder.join()
    for proc in running.values():
        proc.terminate()
        proc.wait(timeout=30)
    load_after = os.getloadavg()
    latencies = np.array([seen[r] - t for r, t in published.items() if r in seen])
    # per stage: the median time from the previous stage (a record seen in a later stage first counts there)
    previous = dict(published)
    breakdown = {}
    for stage in [*STAGES, "scored"]:
        reached = seen if stage == "scored" else stages[stage]
        gaps = [reached[r] - previous[r] for r in reached if r in previous]
        breakdown[stage] = {"p50_s": float(np.median(gaps)) if gaps else None,
                            "p95_s": float(np.percentile(gaps, 95)) if gaps else None}
        previous = {r: reached.get(r, previous[r]) for r in previous}
    missing = [r for r in published if r not in seen]
    twice = wb.sql("SELECT record_id FROM curated.risk_scores GROUP BY 1 HAVING count(*) > 1").height
    updated = sum(int(h.get("operationMetrics", {}).get("num_target_rows_updated", 0) or 0)
                  for h in DeltaTable(str(Path(lake) / "curated" / "risk_scores")).history()
                  if h["version"] > scores_version)
    after = int(connect(lake, user="bench").sql("SELECT count(*) AS n FROM curated.risk_scores")["n"][0])
    return {"published": len(published), "scored": len(latencies), "missing": len(missing),
            "rows_added": after - scores_before, "duplicate_keys": twice, "rescored_rows": updated,
            "kills": dict(killer.done_by_kind), "kills_asked": kills, "fed_seconds": fed_seconds,
            "achieved_rate": len(published) / fed_seconds,
            "p50_s": float(np.percentile(latencies, 50)) if len(latencies) else None,
            "p95_s": float(np.percentile(latencies, 95)) if len(latencies) else None,
            "p99_s": float(np.percentile(latencies, 99)) if len(latencies) else None,
            "max_s": float(latencies.max()) if len(latencies) else None, "stages": breakdown,
            "load_before": load_before, "load_after": load_after,
            "health_before": health_before, "health_after": table_health(lake)}


DAY_SECONDS = 86_400
QUEUE = "curated.clearance_queue"
DECIDED_AFTER = 3600.0
"""--day: simulated seconds a queued record waits for an officer's decision (then it leaves the queue)."""


def record_id(n: int) -> str:
    """The ``n``-th record of the simulated day (ids sort in the order records were queued)."""
    return f"DAY{n:010d}"


def queue_rows(spec: Any, start: int, count: int, at: datetime, places: list[str]) -> Any:
    """``count`` queue entries shaped as the scorer writes them (record ids from ``start``, queued at ``at``)."""
    import pyarrow as pa

    rng = random.Random(start)
    rows = [{"record_id": record_id(start + i), "kind": "crossing", "model": "crossing_risk", "version": 1,
             "place": rng.choice(places), "record_at": at, "score": rng.random(),
             "selection": rng.choice(("score", "random", "rule:sanctioned_consignee")),
             "reason_1": "declared_weight_kg=812 (+0.21)", "reason_2": "hs_code=8517 (+0.08)",
             "reason_3": "control_point=LMC (+0.02)", "queued_at": at} for i in range(count)]
    return pa.Table.from_pylist(rows, schema=spec.arrow_schema())


READS = 7


def queue_health(lake: str, place: str) -> dict[str, float]:
    """The queue table's log, folder and read times: log files (commits and checkpoints), Parquet files in its
    folder and in its current version, rows; opening the table + counting its rows (best of ``READS``: the other
    processes on a shared machine stretch single timings by 2-3x), the officers' queue query
    (``apps.clearance.queue``) in a new session (table opened: the first query of an app) and in a kept one (best of
    ``READS``)."""
    from deltalake import DeltaTable

    from workbench.apps.clearance import queue

    path = Path(lake) / "curated" / "clearance_queue"
    log = list((path / "_delta_log").iterdir())
    opened = []
    for _ in range(READS):
        started = time.perf_counter()
        rows = DeltaTable(str(path)).to_pyarrow_dataset().count_rows()
        opened.append(time.perf_counter() - started)
    started = time.perf_counter()
    wb = connect(lake, user="bench")
    queue(wb, place)
    first = time.perf_counter() - started
    kept = []
    for _ in range(READS):
        started = time.perf_counter()
        queue(wb, place)
        kept.append(time.perf_counter() - started)
    return {"log_files": sum(f.name.endswith(".json") for f in log),
            "checkpoints": sum(".checkpoint" in f.name for f in log), "folder_files": len(list(path.glob("*.parquet"))),
            "live_files": len(DeltaTable(str(path)).file_uris()), "rows": rows, "open_count_ms": min(opened) * 1000,
            "first_query_ms": first * 1000, "query_ms": min(kept) * 1000}


def day_of_feed(root: Path, rate: float, every: float, commits: int | None, samples: int,
                budget: float | None) -> dict[str, Any]:
    """A day of the clearance queue's commits, as fast as the machine allows, through the scorer's write and upkeep.

    In the stack the scorer ticks every ``every`` s and commits the records the followers
    landed since (``rate * every`` at the feed's rate) to ``curated.clearance_queue``:
    86,400 / ``every`` commits a day (every record queued: the queue's worst case; in the stack
    only selected records are). Here each of those commits is ``Lake.write(..., mode="insert")``
    on a table the writer marked streamed (``Lake.stream``), as ``LiveScorer.tick`` does, so the
    same compaction, checkpoints, log clean-up and vacuum run; only the waiting between
    commits is gone. Officers decide: a record leaves the queue (``Lake.delete_where``, the
    scorer's path) ``DECIDED_AFTER`` simulated seconds after it was queued, so the queue holds
    an hour of records and its size stays put; what moves is what the commits leave behind.

    The streamed history (``retention.STREAMED``: 5 minutes of versions) is wall-clock time,
    since Delta ages log and replaced files by their time; so it is compressed like the day:
    after a warm-up (``WARMUP`` commits) the window becomes 5 minutes' worth of this run's
    commits at the pace measured so far. ``commits`` or ``budget`` (wall seconds) stops early
    (a fraction of the day, said so); ``samples`` readings (``queue_health``) are taken along
    the way, outside the timed loop.
    """
    from datetime import timedelta

    from workbench.lake.retention import STREAMED

    lake = str(root / "lake")
    wb = connect(lake, user="bench")
    spec = wb.lake.specs[QUEUE]
    places = ["LMC", "LWS", "MKT", "SKC", "HZM", "KTCT"]
    per_commit = max(1, round(rate * every))
    day = round(DAY_SECONDS / every)
    target = min(commits or day, day)
    start_at = datetime(2026, 12, 1)
    waiting = round(DECIDED_AFTER / every)  # commits a record waits for its decision
    wb.lake.stream([QUEUE])
    # the start: an hour of the feed queued (a scorer catching up commits it at once)
    wb.lake.write(queue_rows(spec, 0, per_commit * waiting, start_at, places), QUEUE, mode="insert", actor="bench")
    readings = [{"commit": 0, "seconds": 0.0, "load": os.getloadavg(), **queue_health(lake, places[0])}]
    checkpointed = checkpoint_cost(root / "checkpointed", Path(lake) / "curated" / "clearance_queue")
    marks = {max(1, target * (i + 1) // samples) for i in range(samples)}
    seconds, next_by_time, window = 0.0, (budget or 0) / samples, None
    for n in range(1, target + 1):
        began = time.perf_counter()
        at = start_at + timedelta(seconds=(waiting + n) * every)
        wb.lake.write(queue_rows(spec, per_commit * (waiting + n), per_commit, at, places), QUEUE, mode="insert",
                      actor="bench")
        if n % round(60 / every) == 0:  # officers' decisions, taken out of the queue as the scorer does
            wb.lake.delete_where(QUEUE, f"record_id < '{record_id(per_commit * n)}'", actor="bench")
        seconds += time.perf_counter() - began
        if n == WARMUP:  # compress the history window like the day (see the docstring)
            window = STREAMED.keep.total_seconds() * (seconds / n) / every
            wb.lake.stream([QUEUE], replace(STREAMED, keep=timedelta(seconds=window)))
        out_of_time = budget is not None and seconds > budget
        due = n in marks if budget is None else (seconds >= next_by_time or out_of_time or n == target)
        if due or n == STEADY:
            next_by_time += (budget or 0) / samples if due else 0
            readings.append({"commit": n, "seconds": seconds, "load": os.getloadavg(), **queue_health(lake, places[0])})
            print(f"day of feed: commit {n:,}/{target:,} ({n / day:.1%} of a day), {seconds:.0f} s; "
                  f"{format_reading(baseline(readings), readings[-1])}", file=sys.stderr, flush=True)
        if out_of_time:
            break
    done = readings[-1]["commit"]
    return {"rate": rate, "every": every, "rows_per_commit": per_commit, "commits_per_day": day, "commits": done,
            "fraction_of_day": done / day, "seconds": seconds, "seconds_per_commit": seconds / max(done, 1),
            "window_seconds": window, "window_commits": STREAMED.keep.total_seconds() / every, "readings": readings,
            "checkpointed": checkpointed}


def checkpoint_cost(folder: Path, start: Path) -> dict[str, float]:
    """Opening + counting a copy of the start's table (one commit, no checkpoint) before and after a checkpoint of
    its one version (best of ``READS`` each): what opening any table costs more once it has checkpoints, whatever
    its log holds besides (a Delta reader loads the newest checkpoint, then the commits since)."""
    from deltalake import DeltaTable, write_deltalake

    write_deltalake(str(folder), DeltaTable(str(start)).to_pyarrow_table())

    def open_count() -> float:
        timings = []
        for _ in range(READS):
            began = time.perf_counter()
            DeltaTable(str(folder)).to_pyarrow_dataset().count_rows()
            timings.append(time.perf_counter() - began)
        return min(timings) * 1000

    before = open_count()
    DeltaTable(str(folder)).create_checkpoint()
    return {"without_ms": before, "with_ms": open_count()}


WARMUP = 300
STEADY = 2 * WARMUP
"""--day: the reading the others are compared with: the queue as a running stack has it, its log and folder past
their first history window (the start reading, a freshly written table of one file, is shown beside)."""


def baseline(readings: list[dict[str, Any]]) -> dict[str, Any]:
    """The reading at ``STEADY`` commits (the start's while the run has not reached it)."""
    return next((r for r in readings if r["commit"] >= STEADY), readings[0])


def format_reading(first: dict[str, Any], now: dict[str, Any]) -> str:
    """One reading against the first: counts, and read times with their ratio."""
    times = ", ".join(f"{label} {now[k]:.1f} ms ({now[k] / first[k]:.2f}x)" for k, label in (
        ("open_count_ms", "open+count"), ("first_query_ms", "queue query in a new session"),
        ("query_ms", "queue query in a kept session")))
    return (f"log {now['log_files']} commits + {now['checkpoints']} checkpoints, files {now['folder_files']} in the "
            f"folder ({now['live_files']} live), {now['rows']:,} rows; {times}; load {now['load'][0]:.1f}")


def print_day(day: dict[str, Any]) -> None:
    """Every reading against the first, and the run's pace."""
    print(f"day of feed at {day['rate']:g} rec/s, a scorer commit every {day['every']:g} s ({day['rows_per_commit']} "
          f"rows each) to {QUEUE}: {day['commits']:,} of a day's {day['commits_per_day']:,} commits "
          f"({day['fraction_of_day']:.1%}) in {day['seconds']:.0f} s ({day['seconds_per_commit'] * 1000:.1f} ms a "
          f"commit); streamed history of {day['window_commits']:.0f} commits (5 minutes of the day) ran as "
          f"{day['window_seconds'] or 0:.1f} s of this run; {os.cpu_count()} cores")
    first = baseline(day["readings"])
    print(f"  ratios against commit {first['commit']:,}, the table past its first history window; the window is "
          f"wall time, so the commits it holds follow the machine's pace since the reading before:")
    print(f"  trend: {trend(day['readings'])}")
    if "checkpointed" in day:
        cost = day["checkpointed"]
        print(f"  the start's table copied, open+count: {cost['without_ms']:.1f} ms; the same after a checkpoint of its "
              f"one version: {cost['with_ms']:.1f} ms ({cost['with_ms'] / cost['without_ms']:.2f}x: a table with "
              f"checkpoints opens from the newest, then the commits since)")
    for before, reading in zip([None, *day["readings"]], day["readings"], strict=False):
        held = ""
        if before is not None and day["window_seconds"] and reading["commit"] > before["commit"]:
            pace = (reading["seconds"] - before["seconds"]) / (reading["commit"] - before["commit"])
            held = f"; window ~{day['window_seconds'] / pace:.0f} commits at {pace * 1000:.0f} ms a commit"
        print(f"  commit {reading['commit']:>6,} ({reading['commit'] * day['every'] / 3600:4.1f} h): "
              f"{format_reading(first, reading)}{held}")


def trend(readings: list[dict[str, Any]]) -> str:
    """The last quarter's median read times against the first quarter's, of the readings past ``STEADY``: "flat" is
    judged on medians, since one reading swings 2x with where it falls between two compactions."""
    steady = [r for r in readings if r["commit"] >= STEADY]
    quarter = max(1, len(steady) // 4)
    if len(steady) < 2:
        return "too few readings past the first history window"
    first, last = steady[:quarter], steady[-quarter:]

    def median(rows: list[dict[str, Any]], key: str) -> float:
        return float(np.median([r[key] for r in rows]))

    fresh = readings[0]
    times = "; ".join(f"{label} {median(first, k):.1f} -> {median(last, k):.1f} ms "
                      f"({median(last, k) / median(first, k):.2f}x; {fresh[k]:.1f} ms fresh, "
                      f"{median(last, k) / fresh[k]:.2f}x)" for k, label in (
                          ("open_count_ms", "open+count"), ("query_ms", "queue query in a kept session"),
                          ("first_query_ms", "in a new session")))
    return (f"{times} (medians of commits {first[0]['commit']:,}-{first[-1]['commit']:,} and {last[0]['commit']:,}-"
            f"{last[-1]['commit']:,}; fresh: the start, a freshly written table of one file)")


def service_records(lake: str) -> list[dict[str, Any]]:
    """500 crossings as a clearance system sends them (JSON values, ISO timestamps)."""
    frame = connect(lake, user="bench").sql(
        "SELECT crossing_id, crossed_at, control_point, direction, plate, driver_id, hs_code, consignee_name_norm, "
        "declared_weight_kg FROM curated.crossings LIMIT 500").to_pandas()
    frame["crossed_at"] = frame["crossed_at"].dt.strftime("%Y-%m-%dT%H:%M:%S")
    return [{k: (None if v != v else v) for k, v in row.items()} for row in frame.to_dict("records")]


def percentiles(values_ms: Any) -> dict[str, float]:
    values = np.asarray(values_ms, dtype=float)
    return {"p50_ms": float(np.percentile(values, 50)), "p95_ms": float(np.percentile(values, 95)),
            "p99_ms": float(np.percentile(values, 99))}


def service_stages(root: Path, lake: str, requests: int = 3000) -> dict[str, dict[str, float]]:
    """What one request costs inside the service process, stage by stage, with no network: the token check,
    JSON parsing + contract typing + the warmed booster's score and reasons (``score_records`` on the fast path),
    and the JSON response. Each timed in CPU time of the thread (the work) and in wall time (the work plus
    whatever the machine's other processes take of the core meanwhile: on a loaded machine the tail is there).
    The objects are frozen out of the collector's reach as ``risk.service.serve`` does."""
    import asyncio
    import gc

    from starlette.responses import JSONResponse

    from workbench.registry import Registry
    from workbench.risk.champions import Served
    from workbench.risk.service import bearer_token, score_records

    model = Registry(root / "registry").load("crossing_risk")
    served = Served.of(model, 1)
    assert served.fast is not None, "crossing_risk has no fast path: the service would score through pandas"
    bodies = [json.dumps(r).encode() for r in service_records(lake)]
    authorize, loop = bearer_token("bench-token"), asyncio.new_event_loop()
    header = b"Bearer bench-token"
    stages = {
        "token check": lambda i: loop.run_until_complete(authorize(header)),
        "parse + type + score + reasons": lambda i: score_records(model, bodies[i % len(bodies)], served.fast),
        "JSON response": lambda i: JSONResponse({"model": "crossing_risk", "version": 1, "results": [
            {"id": "X0000000001", "score": 0.5, "reasons": ["a", "b", "c"]}]}).body,
    }
    gc.collect()
    gc.freeze()
    out = {}
    for name, stage in stages.items():
        wall, cpu = [], []
        for i in range(requests):
            w, c = time.perf_counter(), time.thread_time()
            stage(i)
            cpu.append((time.thread_time() - c) * 1000)
            wall.append((time.perf_counter() - w) * 1000)
        out[name] = {**{f"cpu_{k}": v for k, v in percentiles(cpu).items()}, **percentiles(wall)}
    loop.close()
    return out


def service_latency(root: Path, lake: str, rate: float, seconds: float) -> dict[str, dict[str, float]]:
    """The scoring service direct and through configurable-http-proxy, driven by bench_risk's client."""
    records_file = root / "records.json"
    records_file.write_text(json.dumps(service_records(lake)))
    token, port, proxy_port, api_port = "bench-token", free_port(), free_port(), free_port()
    server = subprocess.Popen([WORKBENCH, "models", "serve", "crossing_risk", "--port", str(port), "--registry",
                               str(root / "registry"), "--access-log", str(root / "access.log")],
                              env={**os.environ, "WORKBENCH_SCORING_TOKEN": token, "OMP_NUM_THREADS": "1"})
    proxy = subprocess.Popen([str(PROXY), "--ip", "127.0.0.1", "--port", str(proxy_port), "--api-ip", "127.0.0.1",
                              "--api-port", str(api_port), "--default-target", f"http://127.0.0.1:{port}"],
                             env={**os.environ, "CONFIGPROXY_AUTH_TOKEN": "bench"}, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    out = {}
    try:
        wait_for_port(port, timeout=120)
        wait_for_port(proxy_port, timeout=60)
        for label, url in (("direct", f"http://127.0.0.1:{port}/score"),
                           ("proxy", f"http://127.0.0.1:{proxy_port}/score")):
            done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "bench_risk.py"), "--client", url, token,
                                   str(records_file), str(rate), str(seconds)], capture_output=True, text=True,
                                  check=True)
            result = json.loads(done.stdout)
            out[label] = {"requests": len(result["latencies"]), "failures": result["failures"],
                          "unsent": result["unsent"], **percentiles(result["latencies"])}
    finally:
        proxy.terminate()
        server.terminate()
        proxy.wait(timeout=10)
        server.wait(timeout=10)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=0.2)
    parser.add_argument("--rate", type=float, default=None, help="feed records per second (20; --day: 5, the stack's)")
    parser.add_argument("--burst", type=int, default=2, help="records per source commit")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long the feed runs")
    parser.add_argument("--kills", type=int, default=0, help="kills of the follower and of the scorer each")
    parser.add_argument("--service-rate", type=float, default=200.0)
    parser.add_argument("--service-seconds", type=float, default=15.0)
    parser.add_argument("--no-loop", action="store_true", help="only the scoring service (stages, direct, proxy)")
    parser.add_argument("--day", action="store_true", help="only a day of the clearance queue's commits, as fast "
                        "as possible (--rate records/s, a scorer commit every --every s): the lake's health along it")
    parser.add_argument("--every", type=float, default=1.0, help="--day: seconds between the scorer's commits")
    parser.add_argument("--commits", type=int, default=None, help="--day: stop after this many commits (a fraction)")
    parser.add_argument("--samples", type=int, default=24, help="--day: health readings along the way")
    parser.add_argument("--budget", type=float, default=None, help="--day: stop after this many seconds (a fraction)")
    parser.add_argument("--show", type=Path, default=None, help="print a saved --day --json report and exit")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (lake, daemons' logs) and name it")
    args = parser.parse_args()
    args.rate = args.rate or (5.0 if args.day else 20.0)
    if args.show:
        print_day(json.loads(args.show.read_text()))
        return
    from click.testing import CliRunner

    from workbench.cli.main import main as cli
    from workbench.demo.load import load_world
    from workbench.demo.sources import publish_sources

    root = Path(tempfile.mkdtemp(prefix="bench-clearance-"))
    try:
        if args.day:  # the queue's commits alone: no sources, world or models needed
            day = day_of_feed(root, args.rate, args.every, args.commits, args.samples, args.budget)
            print(json.dumps(day, indent=1, default=str) if args.json else "", end="")
            if not args.json:
                print_day(day)
            return
        with LocalPostgres(free_port()) as server:
            started = time.perf_counter()
            published = publish_sources(1, args.scale, server.url, root / "sources")
            lake = str(root / "lake")
            load_world(connect(lake, user="bench").lake, seed=1, scale=args.scale, actor="bench")
            up = CliRunner().invoke(cli, ["models", "up", "--lake", lake, "--registry", str(root / "registry")])
            assert up.exit_code == 0, up.output
            setup = time.perf_counter() - started
            env = {**os.environ, **published.env("http://127.0.0.1:9/"), "WORKBENCH_LAKE": lake,
                   "WORKBENCH_USER": "bench", "OMP_NUM_THREADS": "1"}
            loop = None if args.no_loop else loop_latency(root, server.url, env, lake, args.rate, args.seconds,
                                                            args.burst, args.kills)
            load_before = os.getloadavg()
            stages = service_stages(root, lake)
            service = service_latency(root, lake, args.service_rate, args.service_seconds)
            service_load = (load_before, os.getloadavg())
        report = {"scale": args.scale, "rate": args.rate, "seconds": args.seconds, "setup_s": setup, "loop": loop,
                  "service_stages": stages, "service": service, "service_load": service_load}
        if args.json:
            print(json.dumps(report, indent=1, default=str))
            return
        if loop is not None:
            print_loop(args, setup, loop)
        print("scoring service, in process (%d calls each), CPU time p50/p95/p99 | wall p50/p95/p99:" % 3000)
        for name, st in stages.items():
            print(f"  {name}: {st['cpu_p50_ms']:.3f}/{st['cpu_p95_ms']:.3f}/{st['cpu_p99_ms']:.3f} ms | "
                  f"{st['p50_ms']:.3f}/{st['p95_ms']:.3f}/{st['p99_ms']:.3f} ms")
        for label, st in service.items():
            print(f"scoring service {label}: {st['requests']} requests at {args.service_rate:g}/s, {st['failures']} "
                  f"failed, {st['unsent']} unsent; p50 {st['p50_ms']:.1f} ms, p95 {st['p95_ms']:.1f} ms, "
                  f"p99 {st['p99_ms']:.1f} ms")
        if "direct" in service and "proxy" in service:
            print(f"proxy/direct p99 ratio {service['proxy']['p99_ms'] / service['direct']['p99_ms']:.2f}, proxy hop "
                  f"p50 {service['proxy']['p50_ms'] - service['direct']['p50_ms']:+.1f} ms (goal: proxy p99 <= 20 ms); "
                  f"load average {'/'.join(f'{x:.1f}' for x in service_load[0])} before, "
                  f"{'/'.join(f'{x:.1f}' for x in service_load[1])} after, on {os.cpu_count()} cores")
    finally:
        if args.keep:
            print(f"work folder kept: {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)


def print_loop(args: argparse.Namespace, setup: float, loop: dict[str, Any]) -> None:
    """The loop's figures: latency percentiles, where the time goes, exactly-once counts, table health."""
    print(f"world scale {args.scale}, setup {setup:.0f} s; feed {args.rate:g} rec/s x {args.seconds:g} s "
          f"(commits of {args.burst}), fed {loop['fed_seconds']:.0f} s; kills asked {loop['kills_asked']} each, made: "
          + ", ".join(f"{kind} {n}" for kind, n in loop["kills"].items()))
    print(f"source commit -> scored: {loop['scored']}/{loop['published']} records, p50 {loop['p50_s']:.2f} s, "
          f"p95 {loop['p95_s']:.2f} s, p99 {loop['p99_s']:.2f} s, max {loop['max_s']:.2f} s "
          f"(goal p95 <= 5 s, p99 <= 10 s); achieved {loop['achieved_rate']:.1f} rec/s")
    print("  median (p95) per stage, from the stage before: " + ", ".join(
        f"{stage} {v['p50_s']:.2f} s ({v['p95_s']:.2f} s)" for stage, v in loop["stages"].items()
        if v["p50_s"] is not None) + "; load average (1, 5, 15 min) " +
        f"{'/'.join(f'{x:.1f}' for x in loop['load_before'])} before, "
        f"{'/'.join(f'{x:.1f}' for x in loop['load_after'])} after, on {os.cpu_count()} cores")
    print(f"exactly once: {loop['missing']} missing, {loop['duplicate_keys']} duplicate keys, "
          f"{loop['rescored_rows']} scored rows rewritten, {loop['rows_added']} rows added")
    for name in TABLES:
        b, a = loop["health_before"].get(name), loop["health_after"].get(name)
        if a and not b:  # the loop made it (the queue, when nothing was selected before the run)
            print(f"  {name}: absent at the start; now files {a['files']}, version {a['version']}, log files "
                  f"{a['log_files']}, checkpoints {a['checkpoints']}, count(*) {a['query_ms']:.0f} ms")
        elif a and b:
            print(f"  {name}: files {b['files']} -> {a['files']}, versions {b['version']} -> {a['version']}, log files "
                  f"{b['log_files']} -> {a['log_files']}, checkpoints {b['checkpoints']} -> {a['checkpoints']}, "
                  f"count(*) {b['query_ms']:.0f} -> {a['query_ms']:.0f} ms ({a['query_ms'] / b['query_ms']:.2f}x)")


if __name__ == "__main__":
    main()
