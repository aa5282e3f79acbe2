"""Entry point of the ``workbench`` command.

Sub-commands are imported when they run, not when the command starts: each area's module
pulls in its own libraries (scikit-learn and MLflow for ``models``, torch for ``nlp``,
JupyterHub for ``platform``), and importing all of them took 18 s of a busy machine's time
before ``workbench jobs`` or ``workbench config`` could print a line (``-X importtime``).
"""

from __future__ import annotations

import importlib

import click

from workbench import __version__
from workbench.cli.common import WorkbenchGroup

COMMANDS = {
    "demo": "workbench.cli.demo:demo",
    "apps": "workbench.cli.apps:apps",
    "audit": "workbench.cli.audit:audit",
    "tables": "workbench.cli.lake:tables",
    "sql": "workbench.cli.lake:sql",
    "describe": "workbench.cli.lake:describe",
    "curate": "workbench.cli.lake:curate_command",
    "models": "workbench.cli.models:models",
    "ingest": "workbench.cli.ingest:ingest",
    "network": "workbench.cli.network:network",
    "nlp": "workbench.cli.nlp:nlp",
    "platform": "workbench.cli.platform:platform",
    "publish": "workbench.cli.publish:publish",
    "lake": "workbench.cli.lake:lake",
    "users": "workbench.cli.users:users",
    "devices": "workbench.cli.devices:devices",
    "config": "workbench.cli.config:config",
    "jobs": "workbench.cli.jobs:jobs",
    "up": "workbench.cli.up:up",
    "backup": "workbench.cli.backup:backup_command",
    "restore": "workbench.cli.backup:restore_command",
}
"""Command name -> ``module:attribute`` of its click command."""


class LazyGroup(WorkbenchGroup):
    """``COMMANDS`` loaded on first use (click's documented lazy-loading pattern)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            module, _, attribute = COMMANDS[cmd_name].partition(":")
            self.add_command(getattr(importlib.import_module(module), attribute), cmd_name)
        return super().get_command(ctx, cmd_name)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="workbench")
def main() -> None:
    """Customs Analytics Workbench: the lake, the synthetic world and the analyst's tools."""
