"""``workbench backup --to DIR`` and ``workbench restore --from DIR``: a stack's data, consistently.

``backup`` runs beside a running stack (see ``workbench.platform.backup`` for how each part
stays consistent) and records a ``backup`` event in the audit trail; ``restore`` rebuilds a
stopped stack into empty folders, verifying hashes, the audit chain and each table's pinned
version first, and records a ``restore`` event in the restored trail. Both are for root
(the backup holds the accounts, the hub's secrets and the audit signing key).
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from workbench.cli.common import console

_PATHS = [
    click.option("--lake", default=None, metavar="DIR", help="The lake (default: the lake setting)."),
    click.option("--audit-dir", default=None, metavar="DIR", help="The audit folder (default: <lake>/../audit)."),
    click.option("--state", default=None, metavar="DIR", help="The hub state folder (default: WORKBENCH_HUB_STATE, var/hub)."),
]


def _paths(func):  # type: ignore[no-untyped-def]
    for option in reversed(_PATHS):
        func = option(func)
    return func


def _sources(lake: str | None, audit_dir: str | None, state: str | None, config: bool):  # type: ignore[no-untyped-def]
    from workbench.platform.backup import Sources
    from workbench.platform.profile import REPO, HubProfile
    from workbench.security.audit import audit_dir_for
    from workbench.settings import config_file, load_settings

    settings = load_settings(lake=lake, audit_dir=audit_dir)
    root = str(settings.lake)
    if "://" in root and not root.startswith("file://"):
        raise click.ClickException(f"lake {root!r} is not on local disk: back up its object store with its own tools")
    extra = [config_file(), *(REPO / name for name in ("connectors", "apps", "hub_config"))] if config else []
    return Sources(Path(root.removeprefix("file://")).resolve(), audit_dir_for(settings).resolve(),
                   Path(state).resolve() if state else HubProfile.from_env().state_dir.resolve(),
                   [p for p in extra if p is not None and p.exists()])


def _require_root() -> None:
    if os.geteuid() != 0:
        raise click.ClickException("backup and restore are for root: they hold the accounts, secrets and signing key")


@click.command("backup")
@click.option("--to", "folder", required=True, metavar="DIR", help="A new (or empty) folder for the backup; made 0700.")
@_paths
def backup_command(folder: str, lake: str | None, audit_dir: str | None, state: str | None) -> None:
    """Back up the lake (Delta versions pinned), audit trail, accounts, registry, published apps and config."""
    from workbench.platform.backup import backup
    from workbench.security.audit_service import open_trail, socket_path
    from workbench.settings import load_settings

    _require_root()
    sources = _sources(lake, audit_dir, state, config=True)
    with console.status(f"backing up {sources.lake} into {folder}"):
        result = backup(sources, folder)
    sock = socket_path(sources.state)
    settings = load_settings(lake=str(sources.lake), audit_dir=str(sources.audit),
                             audit_socket=str(sock) if sock.exists() else None)
    trail = open_trail(settings, "root", "admin")
    trail.record("backup", tables=[t.replace("/", ".") for t in result.tables], resource=f"backup:{result.folder}",
                 files=result.files, bytes=result.bytes, audit_records=result.audit_records)
    trail.close()
    console.print(f"backup {result.folder}: {len(result.tables)} tables, {result.files} files, "
                  f"{result.bytes / 2**20:.1f} MiB, audit up to record {result.audit_records}, "
                  f"{result.seconds:.1f} s", highlight=False)


@click.command("restore")
@click.option("--from", "folder", required=True, metavar="DIR", help="A folder `workbench backup` wrote.")
@_paths
def restore_command(folder: str, lake: str | None, audit_dir: str | None, state: str | None) -> None:
    """Rebuild a stopped stack from a backup into empty folders, verifying it first."""
    from workbench.platform.backup import restore
    from workbench.platform.supervisor import Supervisor
    from workbench.security.audit import AuditTrail

    _require_root()
    target = _sources(lake, audit_dir, state, config=False)
    if Supervisor(target.state).running():
        raise click.ClickException(f"the stack of {target.state} runs: `workbench platform down` first")
    with console.status(f"checking and restoring {folder}"):
        result = restore(folder, target)
    trail = AuditTrail(target.audit, "root", "admin")
    trail.record("restore", tables=[t.replace("/", ".") for t in result.tables],
                 resource=f"backup:{Path(folder).resolve()}", files=result.files, audit_records=result.audit_records)
    trail.close()
    console.print(f"restored {len(result.tables)} tables, {result.files} files; audit chain verified up to record "
                  f"{result.audit_records}; start it with `workbench platform up`", highlight=False)
