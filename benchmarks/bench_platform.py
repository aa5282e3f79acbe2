"""Platform benchmarks: spawn-to-ready and a 2-worker Dask Gateway cluster, each beside its baseline.

The real local stack (proxy, hub, gateway, idle culler) starts in a sandbox exactly as
`make up` starts it (``tests/hub_support.running_stack``: temp state, Unix users
``wbt<hex>-*``, memory cgroups; all removed at the end). Then, in the same run:

- spawn-to-ready: ``--spawns`` times a fresh form login + API token, ``POST
  /hub/api/users/analyst/server`` until the hub reports the server ready, then stop and
  wait until it is gone. Baseline: the same server code started directly as root from
  the same user environment (``python -m jupyter_server`` with the same extensions),
  until ``/api/status`` answers. The difference is the hub's share: login refresh, Unix
  user, cgroup, setuid, token, readiness polling, proxy route. A second baseline, the
  stock server of the venv (every extension, jsonschema's rfc3987 parser), shows what the
  user environment's start-up trims save.
- gateway: time from ``new_cluster()`` to a client seeing 2 workers, as the analyst
  through the hub's proxy. Baseline: ``python -m dask scheduler`` and two ``dask worker``
  processes started directly, until a client sees 2 workers.

Goal: spawn-to-ready median <= 5 s. Needs root and the cgroup v1 memory controller.

    python benchmarks/bench_platform.py --spawns 5 --clusters 3
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the stack sandbox is the tests' own (tests/hub_support.py)

from tests.conftest import free_port  # noqa: E402
from tests.hub_support import (  # noqa: E402
    RunningStack,
    api_token,
    gateway_cluster,
    running_stack,
    spawn_and_wait,
    stop_server,
    wait_until,
)
from workbench.platform.userenv import SERVER_BOOT  # noqa: E402


def summary(seconds: list[float]) -> dict[str, float]:
    ordered = sorted(seconds)
    p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
    return {"median_s": round(statistics.median(ordered), 2), "p90_s": round(p90, 2),
            "min_s": round(ordered[0], 2), "max_s": round(ordered[-1], 2), "n": len(ordered)}


def timed_process(cmd: list[str], ready: Callable[[], bool], env: dict[str, str], timeout: float = 90) -> float:
    """Seconds from starting ``cmd`` to ``ready()``; the process is stopped afterwards."""
    started = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tempfile.gettempdir())
    try:
        wait_until(lambda: proc.poll() is None and ready(), timeout, interval=0.05, what=" ".join(cmd[:4]))
        return time.monotonic() - started
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def baseline_server(s: RunningStack, runs: int, stock: bool = False) -> list[float]:
    """A bare server as root until /api/status answers: the user environment's (trimmed start-up,
    see ``userenv``) or, with ``stock``, the venv's own (every extension, the rfc3987 parser)."""
    python = sys.executable if stock else str(s.profile.user_env / "bin" / "python")
    env = {**os.environ, "JUPYTER_PATH": str(s.profile.user_env / "extra")}
    boot = "import sys; from jupyter_server.serverapp import main; sys.exit(main())"
    if not stock:
        boot = SERVER_BOOT.replace("jupyterhub.singleuser", "jupyter_server.serverapp")
    times = []
    for _ in range(runs):
        port, token = free_port(), secrets.token_hex(16)

        def answers() -> bool:
            try:
                return requests.get(f"http://127.0.0.1:{port}/api/status",
                                    headers={"Authorization": f"token {token}"}, timeout=2).status_code == 200
            except requests.RequestException:
                return False

        with tempfile.TemporaryDirectory() as home:
            times.append(timed_process(
                [python, "-c", boot, "--allow-root", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
                 f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={home}"], answers, env))
    return times


def hub_spawns(s: RunningStack, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        token = api_token(s.url, "analyst", s.passwords["analyst"])  # a fresh login each time
        _, seconds = spawn_and_wait(s.url, "analyst", token)
        times.append(seconds)
        stop_server(s.url, "analyst", token)
    return times


def gateway_clusters(s: RunningStack, runs: int) -> list[float]:
    from dask_gateway import Gateway, JupyterHubAuth

    from workbench.platform import gateway

    token = api_token(s.url, "analyst", s.passwords["analyst"])
    times = []
    with Gateway(gateway.public_address(s.profile), proxy_address=gateway.proxy_address(s.profile),
                 auth=JupyterHubAuth(api_token=token)) as gw:
        for _ in range(runs):
            started = time.monotonic()
            with gateway_cluster(gw, 2):
                times.append(time.monotonic() - started)
    return times


def baseline_cluster(s: RunningStack, runs: int) -> list[float]:
    from distributed import Client

    python = str(s.profile.user_env / "bin" / "python")
    times = []
    for _ in range(runs):
        port = free_port()
        address = f"tcp://127.0.0.1:{port}"
        procs = []
        started = time.monotonic()
        try:
            procs.append(subprocess.Popen([python, "-m", "dask", "scheduler", "--host", "127.0.0.1", "--port",
                                           str(port), "--dashboard-address", ":0"],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            for _ in range(2):
                procs.append(subprocess.Popen([python, "-m", "dask", "worker", address, "--nthreads", "1",
                                               "--dashboard-address", ":0"],
                                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            with Client(address, timeout=60) as client:
                client.wait_for_workers(2, timeout=120)
                times.append(time.monotonic() - started)
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.wait(timeout=30)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spawns", type=int, default=5)
    parser.add_argument("--clusters", type=int, default=3)
    args = parser.parse_args()
    figures: dict[str, object] = {}
    started = time.monotonic()
    with running_stack("bench") as s:
        figures["stack_up_s"] = round(time.monotonic() - started, 2)
        spawn, bare = summary(hub_spawns(s, args.spawns)), summary(baseline_server(s, args.spawns))
        stock = summary(baseline_server(s, args.spawns, stock=True))
        figures["spawn_to_ready"] = {**spawn, "goal_median_s": 5.0, "baseline_bare_server": bare,
                                     "ratio_median": round(spawn["median_s"] / bare["median_s"], 2),
                                     "stock_bare_server": stock,
                                     "trimmed_vs_stock_median": round(bare["median_s"] / stock["median_s"], 2)}
        cluster, bare_cluster = summary(gateway_clusters(s, args.clusters)), summary(baseline_cluster(s, args.clusters))
        figures["gateway_2_workers"] = {**cluster, "baseline_bare_processes": bare_cluster,
                                        "ratio_median": round(cluster["median_s"] / bare_cluster["median_s"], 2)}
    print(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
