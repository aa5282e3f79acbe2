"""``workbench up``: what ``make up`` runs, every step in one process.

The steps are the commands a person can also run one by one, in this order: ``config
init`` (the checkout's ``workbench.toml``), ``demo publish-sources --ingest connectors
--if-empty`` (the demo lake, once), ``platform up`` (the stack), ``jobs start`` (the heavy
work, in the background) and ``demo loop start`` (the live feed and its followers). Why one
process: run as five ``workbench`` commands, each paid the interpreter's start and its
area's imports again (lake, ingest, platform, demo), most of a second ``make up`` once
nothing else had to be done. Each step still decides for itself what is left to do.
"""

from __future__ import annotations

from pathlib import Path

import click

from workbench.settings import CONFIG_NAME


@click.command("up")
@click.option("--lake", required=True, metavar="DIR|URL", help="The lake this checkout's commands and stack use.")
@click.option("--sources", type=click.Path(file_okay=False, path_type=Path), default=Path("var/sources"),
              show_default=True, help="Folder of the demo's source systems (`demo publish-sources --out`).")
@click.option("--seed", type=int, default=1, show_default=True, help="Seed of the demo world.")
@click.option("--scale", type=float, default=1.0, show_default=True, help="Scale of the demo world.")
@click.option("--db-port", type=int, default=55432, show_default=True, help="Port of the demo's PostgreSQL.")
@click.option("--wait", "block", is_flag=True, help="Return once every background job has ended (exit 1 if one failed).")
@click.pass_context
def up(ctx: click.Context, lake: str, sources: Path, seed: int, scale: float, db_port: int, block: bool) -> None:
    """Write the settings file, build the demo lake if empty, start the stack, the background jobs and the live loop."""
    from workbench.cli.config import init
    from workbench.cli.demo import loop_command, publish_sources_command
    from workbench.cli.jobs import start_command
    from workbench.cli.platform import up as platform_up

    ctx.invoke(init, lake=lake, path=Path(CONFIG_NAME))
    ctx.invoke(publish_sources_command, seed=seed, scale=scale, out=sources, connectors=Path("connectors"),
               with_truth=True, if_empty=True, db_port=db_port, lake=None)
    ctx.invoke(platform_up, lake=None, sources=sources)
    ctx.invoke(start_command, again=False, block=block)
    ctx.invoke(loop_command, action="start", out=sources, lake=None)
