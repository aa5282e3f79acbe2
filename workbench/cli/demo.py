"""``workbench demo``: the synthetic customs world."""

from __future__ import annotations

import time

import click
import psutil
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from workbench.cli.common import SessionFactory, console, lake_option


@click.group("demo")
def demo() -> None:
    """The synthetic customs world: generate it, with its ground truth, into a lake."""


@demo.command("generate")
@click.option("--seed", type=int, default=1, show_default=True, help="Same seed and scale, same content.")
@click.option("--scale", type=float, default=1.0, show_default=True,
              help="1 is about 100,000 trade declarations; 100 about 10 million.")
@click.option("--no-curate", is_flag=True, help="Land raw and truth tables only.")
@click.option("--if-empty", is_flag=True, help="Do nothing when the lake already holds tables.")
@lake_option
def generate(session: SessionFactory, seed: int, scale: float, no_curate: bool, if_empty: bool) -> None:
    """Generate the world into the lake's raw, documents and truth zones, then curate it."""
    from workbench.demo.load import load_world  # imported here: the generator is heavy and only this needs it

    wb = session()
    if if_empty and wb.tables().height:
        console.print(f"lake {wb.settings.lake} already holds {wb.tables().height} tables; not generating")
        return
    started = time.perf_counter()
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed:,} rows"),
                  TimeElapsedColumn(), console=console, transient=False) as bar:
        tasks: dict[str, int] = {}

        def progress(table: str, rows: int) -> None:
            if table not in tasks:
                tasks[table] = bar.add_task(table, total=None)
            bar.advance(tasks[table], rows)

        report = load_world(wb.lake, seed, scale, actor=wb.user, progress=progress, curated=not no_curate)
    elapsed = time.perf_counter() - started
    rss = psutil.Process().memory_info().rss / 2**20
    console.print(
        f"generated seed={seed} scale={scale}: {report.rows:,} rows in {len(report.results)} tables, "
        f"{report.quarantined:,} quarantined, {elapsed:.1f} s, RSS {rss:.0f} MiB, lake {wb.settings.lake}"
    )
