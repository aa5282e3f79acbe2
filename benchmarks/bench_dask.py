"""Dask on the lake: one whole-table question through ``wb.dask``, plain ``read_parquet`` and DuckDB.

The question (a group-by, a join of its result back onto every row, a second group-by):
for every (trader, HS6) pair, the mean unit value of its declarations; joined back onto
each declaration on (trader_id, hs6) - a hash join of two large sides, shuffled - to flag
declarations below half of their pair's mean; flags counted per port and mode, with the text
an analyst would read next (the goods description and consignee of each flagged declaration,
measured in characters). The text rides through the join: without it Dask's optimiser reads
only six narrow columns, whose 0.75 GiB at 10M declarations fit one 1 GiB worker. The join's
working set is the columns the plan reads (``read_columns``), reported next to one worker's memory.

Figures, all measured in this run on the same Parquet files of one snapshot:

1. the question through ``wb.dask`` (its own partitioning) on 2 workers x 1 GiB (an
   analyst's gateway limits; here a LocalCluster whose nannies enforce the same
   ``memory_limit`` the gateway sets): seconds, peak worker RSS (sampled every 0.2 s), how
   long a worker was paused (past 80% of its memory Dask stops a worker's tasks; with
   nothing left to spill it stays paused and the run hangs: the likely cause of the hung
   runs before ``wb.dask`` moved workers off Arrow's mimalloc pool, which keeps freed
   pages; now to jemalloc, see ``dask_frames.return_freed_memory``) and whether any worker
   was killed (pids before and after);
2. the question through ``wb.dask`` and through ``dask.dataframe.read_parquet`` on the
   snapshot's files with the same plan (``read_parquet`` fuses partitions by the share of
   columns a plan uses; ``wb.dask`` is given as many), each on its own 2 workers x
   ``--compare-memory`` (2 GiB: that fused plan reads partitions of ~0.6M rows at 10M
   declarations, and a 1 GiB worker died on one and left the run hung), so that
   ``read_parquet`` keeps Arrow's default allocator and ``wb.dask`` pays for its switch;
   after one untimed read of the columns by each (imports, page cache), best of
   ``--repeat`` in alternating order: the overhead ratio in seconds and in CPU seconds
   (client, scheduler and workers; steadier on a busy machine), target <= 1.10x; and in
   one DuckDB session with the same memory (2 GB) and threads (2);
3. ``wb.dask`` on 1, 2 and 4 workers of a modeller's size (``--scaling-memory``, 4 GiB): seconds and
   parallel efficiency t1 / (n * tn).

    python benchmarks/bench_dask.py --lake var/bench/lake-s100-seed1   # the scale-100 world
    python benchmarks/bench_dask.py --lake ... --parts capped --repeat 1  # one figure per run
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import pandas as pd
from dask.utils import parse_bytes
from rich.console import Console
from rich.table import Table

import workbench
from workbench.session.dask_frames import PARTITION_BYTES

TABLE = "curated.declarations"
COLUMNS = ["declaration_id", "trader_id", "hs6", "port_code", "mode", "unit_value_hkd_per_kg",
           "goods_desc_en", "goods_desc_zh", "consignee_name", "shipper_name", "shipper_name_norm"]
"""The keys and measures, and five text columns. Dask's optimiser drops the text columns from both readers'
reads (the answer does not use them), so the join moves the six others: ``read_columns`` says which."""
GIB = 2**30
PARTS = ("capped", "compare", "scaling")
T = TypeVar("T")
console = Console()

DUCKDB_QUESTION = """
WITH d AS (SELECT * FROM read_parquet($files) WHERE unit_value_hkd_per_kg > 0),
pairs AS (SELECT trader_id, hs6, avg(unit_value_hkd_per_kg) AS pair_mean FROM d GROUP BY ALL)
SELECT port_code, mode, count(*) AS declarations,
       sum(CASE WHEN d.unit_value_hkd_per_kg < 0.5 * pairs.pair_mean THEN 1 ELSE 0 END) AS flagged,
       sum(CASE WHEN d.unit_value_hkd_per_kg < 0.5 * pairs.pair_mean
                THEN length(goods_desc_en) + length(consignee_name) END) AS flagged_text
FROM d JOIN pairs USING (trader_id, hs6) GROUP BY ALL ORDER BY ALL
"""


def question(declarations: Any) -> pd.DataFrame:
    """The question on a Dask frame of ``COLUMNS``; the small answer, computed."""
    return planned(declarations).compute().reset_index().sort_values(["port_code", "mode"], ignore_index=True)


def planned(declarations: Any) -> Any:
    """The question as a lazy Dask frame."""
    d = declarations[declarations.unit_value_hkd_per_kg > 0]
    pairs = (d.groupby(["trader_id", "hs6"]).unit_value_hkd_per_kg.mean(split_out=True)
             .rename("pair_mean").reset_index())
    joined = d.merge(pairs, on=["trader_id", "hs6"], how="inner", shuffle_method="p2p")
    flagged = (joined.unit_value_hkd_per_kg < 0.5 * joined.pair_mean).astype("int64")
    text = joined.goods_desc_en.str.len() + joined.consignee_name.str.len()
    joined = joined.assign(flagged=flagged, flagged_text=(text * flagged).astype("float64"))
    return joined.groupby(["port_code", "mode"]).agg(declarations=("declaration_id", "count"),
                                                      flagged=("flagged", "sum"), flagged_text=("flagged_text", "sum"))


def read_partitions(declarations: Any) -> int:
    """How many partitions the question's optimised plan reads the table in.

    ``read_parquet`` fuses its partitions when a plan uses few of a file's columns
    (``FusedIO``), so this can be fewer than the frame's own ``npartitions``.
    """
    return min(node.npartitions for node in plan_reads(declarations))


def read_columns(declarations: Any) -> list[str]:
    """The columns the question's optimised plan reads (its working set), of those ``declarations`` has."""
    read = {column for node in plan_reads(declarations) for column in node.columns}
    return [column for column in declarations.columns if column in read]


def plan_reads(declarations: Any) -> list[Any]:
    """The table reads in the question's optimised plan."""
    from dask.dataframe.dask_expr.io import BlockwiseIO

    return [node for node in planned(declarations).optimize(fuse=False).expr.walk() if isinstance(node, BlockwiseIO)]


@contextmanager
def local_cluster(workers: int, memory: str = "1GiB") -> Iterator[Any]:
    """``workers`` worker processes of one thread, each capped at ``memory`` by its nanny."""
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, memory_limit=memory,
                      dashboard_address=":0", silence_logs=40) as cluster, Client(cluster) as client:
        client.wait_for_workers(workers)
        yield client


@contextmanager
def rss_sampler(client: Any, every: float = 0.2) -> Iterator[dict[str, float]]:
    """Peak RSS of any worker (``"peak"``, bytes) and the seconds some worker spent paused
    (``"paused"``: Dask pauses a worker past 80% of its memory) while the block runs, by polling."""
    peak = {"peak": 0.0, "paused": 0.0}
    stop = threading.Event()

    def sample() -> None:
        last = time.monotonic()
        while not stop.is_set():
            try:
                states = client.run(worker_state).values()
                peak["peak"] = max(peak["peak"], *(rss for rss, _ in states))
                peak["paused"] += (time.monotonic() - last) if any(paused for _, paused in states) else 0.0
            except Exception:  # noqa: BLE001 - a worker restarting; the pid check reports it
                pass
            last = time.monotonic()
            stop.wait(every)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield peak
    finally:
        stop.set()
        thread.join()


def worker_state(dask_worker: Any) -> tuple[int, bool]:
    """(RSS, paused) of the worker this runs on."""
    import psutil
    from distributed.core import Status

    return int(psutil.Process().memory_info().rss), dask_worker.status == Status.paused


def same_partitions(wb: Any, wanted: int) -> int:
    """The ``partition_bytes`` that makes the question read ``wb.dask`` in ``wanted`` partitions.

    The plan Dask picks depends on the partition count (one partition joins blockwise,
    several shuffle), so the two readers are compared on the same count, else the figure
    measures the plan, not the reader.
    """
    size = PARTITION_BYTES
    for _ in range(20):
        got = read_partitions(wb.dask(TABLE, columns=COLUMNS, partition_bytes=size))
        if got == wanted:
            return size
        size = int(size * (got / wanted) ** 0.8) + 1
    raise RuntimeError(f"no partition size gives {wanted} partitions (last: {got})")


def best_of(runs: dict[str, Callable[[], T]], repeat: int,
            clients: dict[str, Any] | None = None) -> tuple[dict[str, float], dict[str, float], dict[str, T]]:
    """Best wall seconds and best CPU seconds (``cpu_seconds``) of each function, and each function's last
    result (the answer is checked on a timed run, not on an extra one).

    Rounds alternate the order (A B, B A, ...) so that neither function always runs first, after the
    other's garbage, or on a machine drifting one way. A function named in ``clients`` runs with that
    Dask client as the current one, and its CPU seconds count that client's workers. CPU seconds do not
    count the time a process waited for a core, so on a shared machine their ratio is the steadier figure.
    """
    clients = clients or {}
    best = dict.fromkeys(runs, float("inf"))
    best_cpu = dict.fromkeys(runs, float("inf"))
    results: dict[str, T] = {}
    for round_ in range(repeat):
        order = list(runs.items())
        for name, fn in order if round_ % 2 == 0 else reversed(order):
            client = clients.get(name)
            with client.as_current() if client is not None else nullcontext():
                cpu, started = cpu_seconds(client), time.perf_counter()
                results[name] = fn()
                best[name] = min(best[name], time.perf_counter() - started)
                best_cpu[name] = min(best_cpu[name], cpu_seconds(client) - cpu)
    return best, best_cpu, results


def cpu_seconds(client: Any = None) -> float:
    """CPU seconds used so far by this process (the client, DuckDB, and a LocalCluster's scheduler) and by
    ``client``'s workers: the work a run did, whatever else the machine was doing."""
    return time.process_time() + (sum(client.run(worker_cpu).values()) if client is not None else 0.0)


def worker_cpu() -> float:
    """CPU seconds (user + system, all threads) of the process this runs in."""
    import psutil

    times = psutil.Process().cpu_times()
    return times.user + times.system


def load() -> str:
    """The machine's 1-minute load average, printed beside every timing (the machine is shared)."""
    return f"load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lake", type=Path, required=True, help="a curated world (benchmarks/run.py builds one)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--parts", default=",".join(PARTS),
                        help=f"which figures to measure, of {', '.join(PARTS)} (each part is its own run)")
    parser.add_argument("--scaling", default="1,2,4", help="worker counts for the scaling run")
    parser.add_argument("--scaling-memory", default="4GiB",
                        help="memory per worker in the scaling run: a modeller's gateway limit (security/policy.toml; "
                             "one analyst-sized 1 GiB worker cannot hold the join's 1.5 GiB working set at 10M alone)")
    parser.add_argument("--worker-memory", default="1GiB",
                        help="each worker's cap in the capped run (an analyst's gateway limit; smaller on a small "
                             "world, so that the working set still exceeds one worker)")
    parser.add_argument("--compare-memory", default="2GiB",
                        help="each worker's memory in the comparison (2 workers; a modeller's size): read_parquet's "
                             "fused plan reads ~0.6M-row partitions, which 1 GiB workers do not survive at 10M rows")
    parser.add_argument("--partition-mb", type=int, default=PARTITION_BYTES // 2**20,
                        help="wb.dask's partition size for the capped and scaling runs (the library default; "
                             "smaller on a small world, so that there are partitions to spread)")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    if parts - set(PARTS):
        parser.error(f"unknown parts {sorted(parts - set(PARTS))}: choose from {', '.join(PARTS)}")
    os.environ.setdefault("OMP_NUM_THREADS", "1")

    wb = workbench.connect(str(args.lake))
    rows = wb.sql(f"SELECT count(*) AS n FROM {TABLE}")["n"][0]
    files = [uri.removeprefix("file://") for uri in wb.lake.delta(TABLE).file_uris()]
    console.print(f"{TABLE}: {rows:,} rows in {len(files)} files; question over columns {COLUMNS}; {load()}")

    def through_wb(partition_bytes: int = args.partition_mb * 2**20) -> Any:
        return wb.dask(TABLE, columns=COLUMNS, partition_bytes=partition_bytes)

    answers: dict[str, pd.DataFrame] = {}
    if "capped" in parts:
        answers["wb.dask capped"] = capped_run(through_wb, args.worker_memory, args.repeat)
    if "compare" in parts:
        answers.update(compare_run(wb, files, rows, args.compare_memory, args.repeat))
    if len(answers) > 1:
        dask_answers = [a for name, a in answers.items() if name != "duckdb"]
        same = all(a.equals(dask_answers[0]) for a in dask_answers) and all(
            int(a[col].sum()) == int(answers["duckdb"][col].sum()) for a in dask_answers for col in ("declarations", "flagged", "flagged_text"))
        console.print(f"same answer in all of {', '.join(answers)}: {same}")
    if "scaling" in parts:
        scaling_run(through_wb, [int(w) for w in args.scaling.split(",")], args.repeat, args.scaling_memory)


def capped_run(through_wb: Callable[[], Any], worker_memory: str, repeat: int) -> pd.DataFrame:
    """Figure 1: the question on 2 workers x ``worker_memory``; working set, peak RSS, kills. Returns the answer."""
    with local_cluster(2, worker_memory) as client:
        pids = set(client.run(os.getpid).values())
        working_set = int(through_wb()[read_columns(through_wb())].memory_usage(deep=True).sum().compute())
        with rss_sampler(client) as peak:
            best, _, answer = best_of({"wb.dask": lambda: question(through_wb())}, repeat)
        killed = pids != set(client.run(os.getpid).values())
    cap = parse_bytes(worker_memory)
    console.print(f"Within the caps: wb.dask in {through_wb().npartitions} partitions on 2 workers x {worker_memory}: "
                  f"{best['wb.dask']:.1f} s; working set (the columns the plan reads, in memory) "
                  f"{working_set / GIB:.2f} GiB = {working_set / cap:.1f}x one worker's memory; peak worker RSS "
                  f"{peak['peak'] / GIB:.2f} GiB ({peak['peak'] / cap:.0%} of the cap); a worker paused for "
                  f"{peak['paused']:.0f} s; "
                  f"worker killed: {'YES' if killed else 'no'}; {load()}")
    return answer["wb.dask"]


def compare_run(wb: Any, files: list[str], rows: int, memory: str, repeat: int) -> dict[str, pd.DataFrame]:
    """Figure 2: wb.dask vs read_parquet on the same files and plan, and one DuckDB session. Returns the answers."""
    import dask.dataframe as dd

    def through_read_parquet() -> Any:
        return dd.read_parquet(files, columns=COLUMNS, blocksize=PARTITION_BYTES, split_row_groups="infer")

    matched = same_partitions(wb, read_partitions(through_read_parquet()))

    def through_wb() -> Any:
        return wb.dask(TABLE, columns=COLUMNS, partition_bytes=matched)

    readers = {"wb.dask": through_wb, "read_parquet": through_read_parquet}
    with local_cluster(2, memory) as wb_client, local_cluster(2, memory) as rp_client:
        clients = {"wb.dask": wb_client, "read_parquet": rp_client}
        first = {}
        for name, read in readers.items():
            with clients[name].as_current():
                first[name] = timed(lambda read=read: read().map_partitions(len).compute())
        best, cpu, answers = best_of({name: lambda read=read: question(read()) for name, read in readers.items()},
                                     repeat, clients)
        partitions = (read_partitions(through_wb()), read_partitions(through_read_parquet()))
    con = duckdb.connect(config={"threads": 2, "memory_limit": "2GB"})
    duck, duck_cpu, duck_answer = best_of({"duckdb": lambda: con.execute(DUCKDB_QUESTION, {"files": files}).df()},
                                          repeat)
    best.update(duck)
    cpu.update(duck_cpu)
    answers.update(duck_answer)

    console.print(f"First read of the table's columns, each reader on its own fresh workers (a warm-up before the "
                  f"timed runs, so that both run with their modules imported and the files in the page cache; "
                  f"wb.dask went first and read the files from disk): wb.dask {first['wb.dask']:.2f} s, "
                  f"read_parquet {first['read_parquet']:.2f} s; {load()}")
    table = Table(title=f"The same question over {rows:,} declarations, same files, same plan (partitions), each "
                        f"reader on its own 2 workers x {memory}, best of {repeat} in alternating order; {load()}")
    for col in ("engine", "seconds", "vs read_parquet", "CPU s", "CPU vs read_parquet", "partitions"):
        table.add_column(col)
    target = " (target <= 1.10x)"
    table.add_row("wb.dask (masked, audited, pinned)", f"{best['wb.dask']:.2f}",
                  f"{best['wb.dask'] / best['read_parquet']:.2f}x{target}", f"{cpu['wb.dask']:.2f}",
                  f"{cpu['wb.dask'] / cpu['read_parquet']:.2f}x{target}", str(partitions[0]))
    table.add_row("dask.dataframe.read_parquet", f"{best['read_parquet']:.2f}", "1.00x", f"{cpu['read_parquet']:.2f}",
                  "1.00x", str(partitions[1]))
    table.add_row("DuckDB, one session (2 threads, 2 GB)", f"{best['duckdb']:.2f}",
                  f"{best['duckdb'] / best['read_parquet']:.2f}x", f"{cpu['duckdb']:.2f}",
                  f"{cpu['duckdb'] / cpu['read_parquet']:.2f}x", "-")
    console.print(table)
    console.print("CPU s: this process (client and scheduler; DuckDB's threads) plus the workers' processes, user + "
                  "system, during the run: unlike seconds, not inflated by waiting for a core on a busy machine")
    return answers


def timed(fn: Callable[[], Any]) -> float:
    """Wall seconds of one call."""
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def scaling_run(through_wb: Callable[[], Any], workers: list[int], repeat: int, memory: str) -> None:
    """Figure 3: wb.dask on each worker count (``memory`` each): seconds, speed-up, parallel efficiency."""
    scaling = Table(title=f"wb.dask on {' -> '.join(map(str, workers))} workers ({memory} each, "
                          f"{through_wb().npartitions} partitions)")
    for col in ("workers", "seconds", "speed-up", "parallel efficiency", "load"):
        scaling.add_column(col)
    first: tuple[int, float] | None = None
    for n in workers:
        with local_cluster(n, memory):
            seconds = best_of({"q": lambda: question(through_wb())}, repeat)[0]["q"]
        first = first or (n, seconds)
        speedup = first[1] / seconds
        scaling.add_row(str(n), f"{seconds:.2f}", f"{speedup:.2f}x", f"{speedup * first[0] / n:.0%}", load())
    console.print(scaling)
    console.print(f"cores on this machine: {os.cpu_count()} (shared); efficiency beyond that many workers "
                  "measures contention, not the code")


if __name__ == "__main__":
    main()
