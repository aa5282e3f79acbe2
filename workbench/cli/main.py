"""Entry point of the ``workbench`` command."""

from __future__ import annotations

import click

from workbench import __version__
from workbench.cli.apps import apps
from workbench.cli.audit import audit
from workbench.cli.common import WorkbenchGroup
from workbench.cli.config import config
from workbench.cli.demo import demo
from workbench.cli.ingest import ingest
from workbench.cli.jobs import jobs
from workbench.cli.lake import curate_command, describe, lake, sql, tables
from workbench.cli.models import models
from workbench.cli.network import network
from workbench.cli.nlp import nlp
from workbench.cli.platform import platform
from workbench.cli.publish import publish
from workbench.cli.users import users


@click.group(cls=WorkbenchGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="workbench")
def main() -> None:
    """Customs Analytics Workbench: the lake, the synthetic world and the analyst's tools."""


main.add_command(demo)
main.add_command(apps)
main.add_command(audit)
main.add_command(tables)
main.add_command(sql)
main.add_command(describe)
main.add_command(curate_command)
main.add_command(models)
main.add_command(ingest)
main.add_command(network)
main.add_command(nlp)
main.add_command(platform)
main.add_command(publish)
main.add_command(lake)
main.add_command(users)
main.add_command(config)
main.add_command(jobs)
