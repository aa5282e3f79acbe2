"""``workbench ingest``: run connectors from connectors/*.toml and see how they are doing."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from workbench.cli.common import SessionFactory, console, emit, format_option, lake_option
from workbench.errors import ConfigError
from workbench.ingest import RunRecord, load_connector_dir, run_connectors, status

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
@connectors_option
@lake_option
def run(session: SessionFactory, names: tuple[str, ...], run_all: bool, folder: Path) -> None:
    """Run the connectors NAMES (or --all); exits 1 when any source table failed."""
    if bool(names) == run_all:
        raise ConfigError("name one or more connectors, or pass --all")
    specs = load_connector_dir(folder)
    wb = session()
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TextColumn("{task.completed:,} rows"),
                  TimeElapsedColumn(), console=console) as bar:
        tasks: dict[str, int] = {}

        def progress(record: RunRecord, rows: int) -> None:
            if record.run_id not in tasks:
                tasks[record.run_id] = bar.add_task(f"{record.source} -> {record.table_name}", total=None)
            bar.advance(tasks[record.run_id], rows)

        records = run_connectors(wb.lake, specs, None if run_all else names, env=os.environ, progress=progress)
    for record in records:
        console.print(("[green]ok[/] " if record.status == "ok" else "[red]failed[/] ") + record.summary(),
                      highlight=False)
    if any(r.status != "ok" for r in records):
        sys.exit(1)


@ingest.command("status")
@format_option("table", "json")
@lake_option
def status_command(session: SessionFactory, fmt: str) -> None:
    """Last run per source table: outcome, lag since the last success, failures since then."""
    emit(status(session().lake), fmt, title="Ingestion status")
