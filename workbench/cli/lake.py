"""Lake commands: list tables, run SQL, profile a table, rebuild curated tables, OS permissions."""

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


@click.group("lake")
def lake() -> None:
    """Administer the lake itself (file permissions)."""


@lake.command("permissions")
@click.option("--lake", "lake_root", default=None, metavar="DIR",
              help="Lake root (default: $WORKBENCH_LAKE, then workbench.toml).")
@click.option("--unix-prefix", default=None, metavar="PREFIX",
              help="The hub's Unix-user prefix, which names the role groups (default: $WORKBENCH_HUB_UNIX_PREFIX or wb-).")
@click.option("--apply", "apply", is_flag=True, help="Create the groups and change what differs (root only).")
@click.option("--full", is_flag=True,
              help="With --apply: reopen every file, also those unchanged since the last run verified them.")
@format_option("table", "json")
def permissions(lake_root: str | None, unix_prefix: str | None, apply: bool, full: bool, fmt: str) -> None:
    """Show (or --apply) the file permissions that enforce the access policy on the lake."""
    from workbench.lake.storage import LakeLocation
    from workbench.security.lake_permissions import apply_plan, compile_plan
    from workbench.security.policy import load_policy, policy_path
    from workbench.settings import load_settings

    if unix_prefix is None:
        from workbench.platform.profile import HubProfile

        unix_prefix = HubProfile.from_env().unix_prefix
    settings = load_settings(lake=lake_root)
    plan = compile_plan(LakeLocation(settings.lake, dict(settings.storage_options)),
                        load_policy(policy_path(settings)), unix_prefix)
    emit(plan.frame(), fmt, title=f"Lake permissions of {plan.root} (groups: {', '.join(plan.groups.values())})")
    if not plan.remote:
        report = apply_plan(plan, write=apply, full=full)
        click.echo(("applied: " if apply else "pending (run with --apply): ") + report.summary(), err=fmt == "json")
