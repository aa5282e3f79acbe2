"""``workbench ingest``: run connectors from connectors/*.toml and see how they are doing."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

from workbench.cli.common import SessionFactory, console, emit, format_option, lake_option
from workbench.errors import ConfigError
from workbench.ingest import RunRecord, load_connector_dir, run_connectors, status
from workbench.ingest import follow as ingest_follow

connectors_option = click.option(
    "--connectors", "folder", type=click.Path(file_okay=False, path_type=Path), default=Path("connectors"),
    show_default=True, help="Folder of connector files (<name>.toml).",
)


@click.group("ingest")
def ingest() -> None:
    """Take data in from the source systems: run connectors, see their status."""


@ingest.command("run")
@click.argument("names", nargs=-1)
@click.option("--all", "run_all", is_flag=True, help="Run every connector in the folder.")
@click.option("--workers", type=click.IntRange(1, 32), default=2, show_default=True,
              help="Connectors run at the same time (one thread each).")
@click.option("--follow", is_flag=True, help="Keep running: re-run each connector when its schedule is due (Ctrl-C stops).")
@click.option("--rounds", type=click.IntRange(1), default=None, help="With --follow: stop after this many rounds.")
@click.option("--every", type=click.FloatRange(0.1), default=None, metavar="SECONDS",
              help="With --follow: poll every source this often, whatever its schedule (a live feed: 1).")
@click.option("--table", "tables", multiple=True, metavar="TABLE",
              help="With --follow: only these lake tables (repeatable), e.g. raw.lbs_crossings.")
@click.option("--curate/--no-curate", "curate", default=True, show_default=True,
              help="With --follow: curate each round's new rows at once (curated tables gain them in seconds).")
@click.option("--dask", "on_dask", is_flag=True,
              help="Run each connector as a task on a Dask cluster (the gateway's when configured, else local "
                   "worker processes) with --workers workers.")
@connectors_option
@lake_option
def run(session: SessionFactory, names: tuple[str, ...], run_all: bool, workers: int, follow: bool,
        rounds: int | None, every: float | None, tables: tuple[str, ...], curate: bool, on_dask: bool,
        folder: Path) -> None:
    """Run the connectors NAMES (or --all); exits 1 when any source table failed."""
    if bool(names) == run_all:
        raise ConfigError("name one or more connectors, or pass --all")
    if on_dask and follow:
        raise ConfigError("--dask runs once; schedule --follow runs in threads")
    specs = load_connector_dir(folder)
    chosen = None if run_all else names
    wb = session()
    failed = False

    def report(records: list[RunRecord]) -> None:
        nonlocal failed
        for record in records:
            if follow and record.status == "ok" and not record.rows_read:
                continue  # a follower polls every few seconds: only what moved is news
            console.print(("[green]ok[/] " if record.status == "ok" else "[red]failed[/] ") + record.summary(),
                          highlight=False)
        failed = failed or any(r.status != "ok" for r in records)

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TextColumn("{task.completed:,} rows"),
                  TimeElapsedColumn(), console=console, transient=follow) as bar:
        tasks: dict[str, TaskID] = {}

        def progress(record: RunRecord, rows: int) -> None:
            if record.run_id not in tasks:
                tasks[record.run_id] = bar.add_task(f"{record.source} -> {record.table_name}", total=None)
            bar.advance(tasks[record.run_id], rows)

        if follow:
            try:
                ingest_follow(wb.lake, specs, chosen, env=os.environ, progress=progress, workers=workers,
                              rounds=rounds, on_round=report, every=every, curate=curate, targets=tables or None)
            except KeyboardInterrupt:
                console.print("stopped")
        elif on_dask:
            from workbench.compute import cluster

            with cluster(workers, processes=True) as dask_cluster, dask_cluster.get_client() as client:
                report(run_connectors(wb.lake, specs, chosen, env=os.environ, client=client))
        else:
            report(run_connectors(wb.lake, specs, chosen, env=os.environ, progress=progress, workers=workers))
    if failed:
        sys.exit(1)


@ingest.command("status")
@format_option("table", "json")
@click.option("--connectors", "folder", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder of connector files: adds each source's schedule and whether it is overdue.")
@lake_option
def status_command(session: SessionFactory, fmt: str, folder: Path | None) -> None:
    """Last run per source table: outcome, lag since the last success, failures since then."""
    specs = load_connector_dir(folder) if folder else None
    emit(status(session().lake, specs), fmt, title="Ingestion status")
