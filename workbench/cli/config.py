"""``workbench config``: the settings in force and where each came from; ``config init`` writes the project's file."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click
import polars as pl

from workbench.cli.common import emit, format_option


def _shown(value: object) -> str:
    from pydantic import SecretStr

    if isinstance(value, SecretStr):
        return "********" if value.get_secret_value() else ""
    return "" if value is None else str(value)


@click.group(invoke_without_command=True)
@click.option("--lake", default=None, metavar="DIR|URL", help="As the other commands' --lake (shown as a flag).")
@format_option("table", "json")
@click.pass_context
def config(ctx: click.Context, lake: str | None, fmt: str) -> None:
    """Each setting in force (session and stack) and where it came from: flag, env, file or default."""
    if ctx.invoked_subcommand is not None:
        return
    from workbench.settings import HubSettings, config_file, setting_sources

    rows = [{"setting": name, "value": _shown(value), "source": source}
            for name, (value, source) in setting_sources({"lake": lake}).items()]
    rows += [{"setting": f"hub.{name}", "value": _shown(value), "source": source}
             for name, (value, source) in setting_sources(settings_cls=HubSettings).items()
             if source != "default"]
    path = config_file()
    if fmt == "json":
        click.echo(json.dumps({"file": str(path) if path else None, "settings": rows}, indent=1))
        return
    emit(pl.DataFrame(rows), "table", title=f"settings file: {path or 'none (see WORKBENCH_CONFIG)'}")


@config.command("init")
@click.option("--lake", default=None, metavar="DIR|URL", help="The lake this checkout's commands and stack use.")
@click.option("--path", "path", type=click.Path(dir_okay=False, path_type=Path), default=Path("workbench.toml"),
              show_default=True, help="The file to write (kept keys are not lost).")
def init(lake: str | None, path: Path) -> None:
    """Write the project's settings file: the lake, and the stack's WORKBENCH_HUB_* knobs now in the environment.

    ``make up`` runs it first, so every later command in the checkout (and every kernel and
    service of the stack) uses the same lake and the same stack.
    """
    from workbench.settings import write_config

    hub = {k.removeprefix("WORKBENCH_HUB_").lower(): v for k, v in os.environ.items()
           if k.startswith("WORKBENCH_HUB_") and v}
    written = write_config(path, {"lake": str(Path(lake).absolute()) if lake and "://" not in lake else lake}, hub)
    click.echo(f"settings: {written}")
