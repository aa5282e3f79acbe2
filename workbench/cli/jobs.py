"""``workbench jobs``: the stack's background jobs (``jobs.toml``) with progress and time left; start, wait, stop."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click
import polars as pl

from workbench.cli.common import console, emit, format_option


def _state_dir() -> Path:
    from workbench.platform.profile import HubProfile

    return HubProfile.from_env().state_dir


def _rows(states: list) -> list[dict[str, object]]:  # type: ignore[type-arg]
    from workbench.platform.jobs import minutes_text

    rows = []
    for s in states:
        left = "" if s.status != "running" and s.status != "pending" else minutes_text(s.seconds_left)
        took = f"{s.finished - s.started:.0f} s" if s.finished and s.started else ""
        if took and s.cpu_seconds is not None:
            took += f" ({s.cpu_seconds:.0f} s CPU)"
        rows.append({"job": s.name, "what": s.title, "status": s.status,
                     "progress": "" if s.progress is None else f"{s.progress:.0%}", "time left": left,
                     "took": took, "detail": s.error or (s.log if s.status == "running" else "")})
    return rows


@click.group(invoke_without_command=True)
@format_option("table", "json")
@click.pass_context
def jobs(ctx: click.Context, fmt: str) -> None:
    """The stack's background jobs (training, extraction, graph, ...): status, progress and time left."""
    if ctx.invoked_subcommand is not None:
        return
    from workbench.platform.jobs import runner_pid, states

    current = states(_state_dir())
    if fmt == "json":
        click.echo(json.dumps([s.as_dict() for s in current], indent=1))
        return
    emit(pl.DataFrame(_rows(current)), "table", title="workbench jobs")
    _summary(current, runner_pid(_state_dir()) is not None)


def _summary(current: list, running: bool) -> None:  # type: ignore[type-arg]
    from workbench.platform.jobs import minutes_text

    left = [s.seconds_left for s in current if s.status in ("running", "pending")]
    failed = [s.name for s in current if s.status in ("failed", "blocked", "interrupted")]
    if running and left:
        console.print(f"everything ready in {minutes_text(max(x or 0 for x in left))}; "
                      "`workbench jobs wait` blocks until then")
    elif not running and any(s.status == "not started" for s in current):
        console.print("not started: `make up` (or `workbench jobs start`) runs them")
    if failed:
        console.print(f"[red]not finished: {', '.join(failed)}[/red] (log: {_state_dir() / 'jobs'}/NAME.log)")


@jobs.command("start")
@click.option("--again", is_flag=True, help="Rerun jobs that finished before, too.")
@click.option("--wait", "block", is_flag=True, help="Return once every job has ended (exit 1 if one failed).")
def start_command(again: bool, block: bool) -> None:
    """Start the jobs in the background (a detached runner), unless they run already."""
    from workbench.platform.profile import HubProfile
    from workbench.platform.jobs import start
    from workbench.settings import config_file

    profile = HubProfile.from_env()
    env = profile.to_env()
    if (path := config_file()) is not None:
        env["WORKBENCH_CONFIG"] = str(path)
    pid = start(profile.state_dir, cwd=Path.cwd(), env=env, again=again)
    click.echo(f"background jobs running (runner pid {pid}): `workbench jobs` or `make status` shows progress")
    if block:
        _wait(None)


@jobs.command("run", hidden=True)
@click.option("--state", "state", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--plan", "plan_file", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option("--again", is_flag=True)
def run_command(state: Path, plan_file: Path | None, again: bool) -> None:
    """The runner's body (started detached by `jobs start`)."""
    from workbench.platform.jobs import load_plan, run

    ended = run(state, load_plan(plan_file) if plan_file else None, again=again)
    click.echo(json.dumps({s.name: s.status for s in ended}))


@jobs.command("wait")
@click.option("--timeout", type=float, default=None, help="Give up after this many seconds (exit 2).")
def wait_command(timeout: float | None) -> None:
    """Block until every job has ended, printing each change; exit 1 if one failed."""
    _wait(timeout)


def _wait(timeout: float | None) -> None:
    from workbench.platform.jobs import ENDED, minutes_text, wait

    seen: dict[str, str] = {}
    started = time.monotonic()

    def report(current: list) -> None:  # type: ignore[type-arg]
        for s in current:
            if seen.get(s.name) != s.status:
                seen[s.name] = s.status
                note = f": {s.error}" if s.error else ""
                click.echo(f"[{time.monotonic() - started:5.0f} s] {s.name}: {s.status}{note}")
        left = [s.seconds_left or 0 for s in current if s.status in ("running", "pending")]
        if left:
            click.echo(f"          ... {sum(s.status in ENDED for s in current)}/{len(current)} ended, "
                       f"ready in {minutes_text(max(left))}", err=True)

    final = wait(_state_dir(), timeout=timeout, poll=10.0, on_update=report)
    if any(s.status not in ENDED for s in final):
        raise SystemExit(2)
    if any(s.status != "done" for s in final):
        raise SystemExit(1)


@jobs.command("stop")
def stop_command() -> None:
    """Stop the runner and the jobs it runs (marked interrupted; `workbench jobs start` resumes)."""
    from workbench.platform.jobs import stop

    click.echo("stopped" if stop(_state_dir()) else "no jobs were running")
