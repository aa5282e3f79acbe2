"""``workbench audit``: verify the audit trail's chain, search it for investigations, run its service."""

from __future__ import annotations

import json
import sys
from pathlib import Path

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


@audit.command("serve")
@_lake
@_dir
@click.option("--socket", "socket_file", required=True, metavar="PATH", help="Unix socket to listen on (made 0666).")
@click.option("--unix-prefix", default="wb-", show_default=True, help="Prefix stripped from peers' Unix user names.")
@click.option("--accounts", "accounts_dir", default=None, metavar="DIR",
              help="Hub state folder holding accounts/: peers' roles come from there.")
@click.option("--checkpoint-seconds", default=60.0, show_default=True, help="Sign the log's head this often.")
@click.option("--uid-base", type=int, default=None, metavar="N",
              help="With --accounts: a peer with no Unix account and uid N+k is account number k (Kubernetes pods).")
def serve_command(lake: str | None, audit_dir: str | None, socket_file: str, unix_prefix: str,
                  accounts_dir: str | None, checkpoint_seconds: float, uid_base: int | None) -> None:
    """Run the audit service: the one writer of the log, for clients identified by SO_PEERCRED."""
    from workbench.security.accounts import account_roles, numbered_peers
    from workbench.security.audit_service import AuditService, serve_forever_until_signalled

    if uid_base is not None and not accounts_dir:
        raise click.UsageError("--uid-base needs --accounts (the store that numbers the accounts)")
    settings = load_settings(lake=lake, audit_dir=audit_dir)
    service = AuditService(audit_dir_for(settings), socket_file, unix_prefix=unix_prefix,
                           roles=account_roles(accounts_dir) if accounts_dir else None, fsync=settings.audit_fsync,
                           peer_names=numbered_peers(accounts_dir, uid_base) if accounts_dir and uid_base else None)
    click.echo(f"audit service: {service.folder} on {socket_file}", err=True)
    serve_forever_until_signalled(service, checkpoint_seconds)


@audit.command("siem")
@_lake
@_dir
@click.option("--hub-log", default=None, metavar="FILE", help="The stack's hub log (hub, proxy and gateway lines).")
@click.option("--dashboards-log", default=None, metavar="FILE", help="The dashboards server's access log.")
@click.option("--scoring-log", default=None, metavar="FILE", help="The scoring service's JSON access log.")
@click.option("--proxy-log", default=None, metavar="FILE", help="The proxy's log (default: in the hub log).")
@click.option("--gateway-log", default=None, metavar="FILE", help="The Dask Gateway's log (default: in the hub log).")
@click.option("--supervisor-log", default=None, metavar="FILE", help="supervisord's log (components that died).")
@click.option("--accounts", "accounts_dir", default=None, metavar="DIR",
              help="Hub state folder holding accounts/: the directory the disabled-account detector checks.")
@click.option("--every", default=None, type=float, help="Seconds between cycles (default: settings.siem_interval).")
@click.option("--once", is_flag=True, help="Run one cycle and exit.")
@click.option("--heartbeat", default=None, metavar="FILE",
              help="Touch FILE after each cycle (a liveness probe checks its age: a hung loop is restarted).")
def siem_command(lake: str | None, audit_dir: str | None, hub_log: str | None, dashboards_log: str | None,
                 scoring_log: str | None, proxy_log: str | None, gateway_log: str | None, supervisor_log: str | None,
                 accounts_dir: str | None, every: float | None, once: bool, heartbeat: str | None) -> None:
    """Collect the platform's logs into security.events, detect, alert: every N seconds until stopped."""
    import signal
    import threading

    from workbench.session import connect
    from workbench.siem.collectors import platform_collectors
    from workbench.siem.pipeline import AccessLogCollector, AuditCollector, run_every, store_accounts
    from workbench.siem.sinks import sink_from_config

    settings = load_settings(lake=lake, audit_dir=audit_dir)
    wb = connect(lake, audit_dir=audit_dir, role="system")
    folder = audit_dir_for(settings)
    # On the stack: the platform's own logs, checked against the hub's accounts. Without a hub
    # log: the audit trail and the lake's landed access log (the demo world's, scored by tests).
    collectors = (platform_collectors(hub_log, folder, dashboards_log, exclude_users=[wb.user],
                                     scoring_log=scoring_log, proxy_log=proxy_log, gateway_log=gateway_log,
                                     supervisor_log=supervisor_log) if hub_log
                  else [AuditCollector(folder, exclude_users=[wb.user]), AccessLogCollector()])
    sinks = [sink_from_config(config) for config in settings.siem_sinks]

    def accounts() -> dict[str, bool] | None:
        if not accounts_dir:
            return None
        return {**store_accounts(accounts_dir), wb.user: True, "root": True}  # the platform's own services

    stop = threading.Event()
    if once:
        stop.set()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    def report(line: str) -> None:
        click.echo(line, err=True)
        if heartbeat:
            Path(heartbeat).touch()

    run_every(wb, every or settings.siem_interval, stop, sinks=sinks, accounts=accounts, collectors=collectors,
              report=report)


if __name__ == "__main__":  # `python -m workbench.cli.audit serve|siem`: the stack's supervised components
    audit()
