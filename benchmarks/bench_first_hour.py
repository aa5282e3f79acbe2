"""The first hour, measured on a fresh clone: time to a hub URL that answers a login, time until every
background job is done, and a second `make up`, each beside its goal.

A fresh ``git clone`` of this checkout's HEAD runs ``make up`` exactly as a newcomer
would (its own ``.venv`` from the machine's package caches, the npm proxy, the demo
lake through the real connectors, the stack), on free ports, with its own Unix-user
prefix, homes, memory cgroup and demo PostgreSQL port (``WORKBENCH_HUB_*`` and
``DB_PORT``), so it never meets another stack on the machine. Every line ``make up``
prints is timestamped, which gives the phases (install, settings, lake, stack, jobs). The
hub counts as up when a demo account logs in through the form. Then ``workbench jobs
wait`` (time to ready, with each job's own duration from its state), a second ``make
up`` (everything kept), and ``make down``; the clone, its users and cgroups go at the end.

Goals (issue 18): URL <= 180 s, ready <= 12 min, second make up <= 30 s. Needs root and
the cgroup v1 memory controller; takes as long as the jobs do.

``--install`` measures the install step alone, the old way beside the new in one run, each in
its own fresh clone and venv: the old way is what ``make venv`` ran before requirements.lock
(``pip install -e '.[dev,nlp]'``, which resolves and downloads one package after another);
the new way is ``make venv`` (uv, the lock), once with an empty uv cache (a machine's first
clone, as CI's) and once with the machine's cache (every later clone).

    python benchmarks/bench_first_hour.py [--keep]
    python benchmarks/bench_first_hour.py --install
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

GOALS = {"url": 180.0, "ready": 720.0, "second_up": 30.0}
MARKS = {  # the first line that starts with this ends the phase named
    "install": "settings:",
    "lake": "JupyterHub",  # publish + ingest + curate, then the stack's own start
    "jobs_started": "background jobs running",
}


def timed_run(command: list[str], cwd: Path, env: dict[str, str], log: Path) -> tuple[int, list[tuple[float, str]]]:
    """Run ``command``, copying its output to ``log``; (exit code, [(seconds since start, line)])."""
    started = time.monotonic()
    lines: list[tuple[float, str]] = []
    with open(log, "a", encoding="utf-8") as out:
        proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert proc.stdout is not None
        for line in proc.stdout:
            at = time.monotonic() - started
            lines.append((at, line.rstrip()))
            out.write(f"[{at:7.1f}] {line}")
        return proc.wait(), lines


def first(lines: list[tuple[float, str]], prefix: str) -> float | None:
    return next((at for at, line in lines if line.strip().startswith(prefix)), None)


OLD_INSTALL = ["bash", "-c", "python3 -m venv .venv && .venv/bin/pip install --quiet --upgrade pip"
                               " && .venv/bin/pip install --quiet -e '.[dev,nlp]'"]
"""``make venv`` before requirements.lock (the Makefile of 2026-12-06 morning)."""


def install_times(work: Path) -> dict[str, object]:
    """Seconds of each way to install the venv of a fresh clone, and the new way's ratio to the old."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "UV_"))}
    env["PATH"] = ":".join(p for p in env.get("PATH", "").split(":") if ".venv" not in p)
    ways = {"pip_editable": (OLD_INSTALL, {}),
            "uv_lock_cold_cache": (["make", "venv"], {"UV_CACHE_DIR": str(work / "uv-cache")}),
            "uv_lock_warm_cache": (["make", "venv"], {})}
    report: dict[str, object] = {}
    for name, (command, extra) in ways.items():
        clone = work / name
        subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
        started = time.monotonic()
        done = subprocess.run(command, cwd=clone, env={**env, **extra}, capture_output=True, text=True)
        report[f"{name}_seconds"] = round(time.monotonic() - started, 1)
        if done.returncode != 0:
            raise SystemExit(f"{name} failed ({done.returncode}):\n{done.stdout[-2000:]}{done.stderr[-3000:]}")
        probe = subprocess.run([str(clone / ".venv" / "bin" / "python"), "-c",
                                "import torch, transformers, jupyterhub, workbench; print(torch.__version__)"],
                               capture_output=True, text=True, check=True)
        report[f"{name}_torch"] = probe.stdout.strip()
        shutil.rmtree(clone, ignore_errors=True)
    shutil.rmtree(work / "uv-cache", ignore_errors=True)
    old = float(report["pip_editable_seconds"])  # type: ignore[arg-type]
    for name in ("uv_lock_cold_cache", "uv_lock_warm_cache"):
        report[f"{name}_vs_pip"] = round(float(report[f"{name}_seconds"]) / old, 2)  # type: ignore[arg-type]
    report["load_average"] = os.getloadavg()
    return report


def login_answers(url: str, name: str, password: str) -> bool:
    from tests.hub_support import login

    try:
        return login(url, name, password)[1].status_code == 302
    except Exception:  # noqa: BLE001 - not up yet
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--keep", action="store_true", help="Leave the clone (and its stack) for a look.")
    parser.add_argument("--install", action="store_true", help="Only time the install step, old way and new.")
    args = parser.parse_args()
    if args.install:
        work = Path(tempfile.mkdtemp(prefix="wb-install-"))
        try:
            print(json.dumps(install_times(work), indent=1))
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return

    from tests.conftest import free_port
    from tests.hub_support import remove_cgroups, remove_users
    from workbench.security.accounts import read_credentials
    from workbench.platform.cgroups import own_memory_cgroup

    tag = uuid.uuid4().hex[:4]
    work = Path(tempfile.mkdtemp(prefix="wb-first-hour-"))
    os.chmod(work, 0o755)
    clone, log = work / "clone", work / "make.log"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    homes = work / "homes"
    homes.mkdir(mode=0o755)
    cgroup = own_memory_cgroup() / f"wbb-{tag}"
    port = free_port()
    hub_env = {"WORKBENCH_HUB_PORT": port, "WORKBENCH_HUB_HUB_PORT": free_port(),
               "WORKBENCH_HUB_PROXY_API_PORT": free_port(), "WORKBENCH_HUB_GATEWAY_PORT": free_port(),
               "WORKBENCH_HUB_GATEWAY_API_PORT": free_port(), "WORKBENCH_HUB_GATEWAY_TCP_PORT": free_port(),
               "WORKBENCH_HUB_UNIX_PREFIX": f"wbb{tag}-", "WORKBENCH_HUB_HOME_ROOT": homes,
               "WORKBENCH_HUB_CGROUP_PARENT": cgroup}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "WORKBENCH_"))}
    env.update({k: str(v) for k, v in hub_env.items()})
    env["PATH"] = ":".join(p for p in env.get("PATH", "").split(":") if ".venv" not in p)
    make = ["make", "up", f"DB_PORT={free_port()}"]
    url = f"http://127.0.0.1:{port}"
    report: dict[str, object] = {"clone": str(clone), "log": str(log)}
    try:
        code, lines = timed_run(make, clone, env, log)
        if code != 0:
            raise SystemExit(f"make up failed ({code}); see {log}")
        credentials = read_credentials(clone / "var" / "hub" / "private" / "demo-credentials.tsv")
        shown = first(lines, "JupyterHub")
        assert shown is not None, "make up printed no hub URL"
        if not login_answers(url, "analyst", credentials["analyst"]):
            raise SystemExit(f"the hub at {url} does not take the analyst's login")
        phases = {name: first(lines, mark) for name, mark in MARKS.items()}
        report["url_seconds"] = round(shown, 1)
        report["phases"] = {k: None if v is None else round(v, 1) for k, v in phases.items()}
        started = time.monotonic()
        waited = subprocess.run([str(clone / ".venv" / "bin" / "workbench"), "jobs", "wait"], cwd=clone, env=env,
                                capture_output=True, text=True)
        report["ready_seconds"] = round(shown + time.monotonic() - started, 1)
        report["jobs_ok"] = waited.returncode == 0
        jobs = json.loads(subprocess.run([str(clone / ".venv" / "bin" / "workbench"), "jobs", "--format", "json"],
                                         cwd=clone, env=env, capture_output=True, text=True, check=True).stdout)
        report["jobs"] = {j["name"]: {"status": j["status"], "seconds": round(j["finished"] - j["started"], 1)
                                      if j["finished"] and j["started"] else None,
                                      "cpu_seconds": j.get("cpu_seconds")} for j in jobs}
        report["jobs_cpu_seconds"] = round(sum(j.get("cpu_seconds") or 0.0 for j in jobs), 1)
        code, lines = timed_run(make, clone, env, log)
        report["second_up_seconds"] = round(lines[-1][0] if lines else 0.0, 1)
        report["second_up_ok"] = code == 0
    finally:
        if not args.keep:
            subprocess.run(["make", "down"], cwd=clone, env=env, capture_output=True)
            remove_users(f"wbb{tag}-")
            remove_cgroups(cgroup)
            shutil.rmtree(work, ignore_errors=True)
    for key, goal in GOALS.items():
        value = report.get(f"{key}_seconds")
        if isinstance(value, float):
            report[f"{key}_vs_goal"] = round(value / goal, 2)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
