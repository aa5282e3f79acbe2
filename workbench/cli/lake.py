"""Lake commands: list tables, run SQL, profile a table, rebuild curated tables."""

from __future__ import annotations

import click

from workbench.cli.common import SessionFactory, console, emit, format_option, lake_option
from workbench.lake.curation import curate, curated_specs


@click.command("tables")
@click.option("--zone", default=None, help="Only tables of this zone.")
@format_option("table", "json")
@lake_option
def tables(session: SessionFactory, zone: str | None, fmt: str) -> None:
    """List the lake's tables from the catalog."""
    frame = session().tables(zone)
    if fmt == "table":
        frame = frame.select("name", "classification", "row_count", "version", "updated_at", "description")
    emit(frame, fmt, title="Lake catalog")


@click.command("sql")
@click.argument("query")
@click.option("--param", "-p", "params", multiple=True, metavar="NAME=VALUE",
              help="Bind $NAME to VALUE (repeatable); values are bound, never spliced into the SQL.")
@format_option("table", "csv", "json")
@lake_option
def sql(session: SessionFactory, query: str, params: tuple[str, ...], fmt: str) -> None:
    """Run a SQL query over lake tables by name, e.g. FROM curated.declarations."""
    bound = dict(p.split("=", 1) for p in params) if params else None
    emit(session().sql(query, bound), fmt)


@click.command("describe")
@click.argument("name")
@format_option("table", "json")
@lake_option
def describe(session: SessionFactory, name: str, fmt: str) -> None:
    """Profile a table: types, nulls, distinct values, ranges and top values per column."""
    emit(session().describe(name), fmt, title=name)


@click.command("curate")
@click.argument("names", nargs=-1)
@lake_option
def curate_command(session: SessionFactory, names: tuple[str, ...]) -> None:
    """Rebuild curated tables (all, or the NAMES given) from raw."""
    wb = session()
    specs = curated_specs(wb.lake, names or None)
    with console.status("curating") as status:
        def report(result: object) -> None:
            console.print(f"  {result.summary()}")  # type: ignore[attr-defined]
            status.update(f"curated {result.table}")  # type: ignore[attr-defined]

        curate(wb.lake, [s.name for s in specs], actor=wb.user, on_table=report)
