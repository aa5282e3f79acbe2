"""``workbench audit``: verify the audit trail's chain and search it for investigations."""

from __future__ import annotations

import json
import sys

import click

from workbench.cli.common import emit, format_option
from workbench.security.audit import audit_dir_for, checkpoint_now, search, verify
from workbench.settings import load_settings


def _folder(lake: str | None, audit_dir: str | None) -> str:
    return audit_dir or str(audit_dir_for(load_settings(lake=lake)))


_lake = click.option("--lake", default=None, metavar="DIR|URL", help="Lake whose audit folder to use (default: settings).")
_dir = click.option("--dir", "audit_dir", default=None, metavar="DIR", help="Audit folder (overrides --lake).")


@click.group()
def audit() -> None:
    """The audit trail: verify its integrity, sign a checkpoint, search it."""


@audit.command("verify")
@_lake
@_dir
@format_option("text", "json")
def verify_command(lake: str | None, audit_dir: str | None, fmt: str) -> None:
    """Check the hash chain and signed checkpoints; exit 1 naming the first bad position."""
    result = verify(_folder(lake, audit_dir))
    if fmt == "json":
        click.echo(json.dumps(result.__dict__))
    else:
        click.echo(result.summary())
    if not result.ok:
        sys.exit(1)


@audit.command("checkpoint")
@_lake
@_dir
def checkpoint_command(lake: str | None, audit_dir: str | None) -> None:
    """Sign the current head of the log (run by the audit service, which holds the key)."""
    entry = checkpoint_now(_folder(lake, audit_dir))
    click.echo("nothing to sign: the log is empty" if entry is None else f"signed checkpoint at seq {entry['seq']}")


@audit.command("search")
@_lake
@_dir
@click.option("--user", default=None, help="Only this user's records.")
@click.option("--table", default=None, help="Only records that touched this zone.table.")
@click.option("--since", default=None, help="ISO date/datetime or an age such as 7d, 12h.")
@click.option("--event", default=None, help="query, write, denied, session_start, ...")
@click.option("--limit", default=200, show_default=True, help="Show at most this many (newest).")
@format_option("table", "json", "csv")
def search_command(lake: str | None, audit_dir: str | None, user: str | None, table: str | None,
                   since: str | None, event: str | None, limit: int, fmt: str) -> None:
    """Find audit records by user, table and time."""
    found = search(_folder(lake, audit_dir), user=user, table=table, since=since, event=event)
    emit(found.tail(limit), fmt, title=f"{found.height} audit records")
