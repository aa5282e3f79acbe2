"""``workbench devices``: the field officers' registered devices; revoke a lost or stolen one.

Administrators (root on the hub machine) run these over the hub's state folder
(``--base-dir``, as ``workbench users``). The same list, with a revoke button per device,
is the dashboards' ``/devices`` page on the administrators' landing page. A revocation is
audited as the person who ran the command.
"""

from __future__ import annotations

import time

import click
import polars as pl

from workbench.cli.common import emit, format_option
from workbench.security.accounts import platform_trail
from workbench.security.devices import DeviceStore, end_sessions
from workbench.settings import load_settings

SCHEMA = {"device_id": pl.String, "owner": pl.String, "name": pl.String, "user_agent": pl.String,
          "address": pl.String, "first_seen": pl.String, "last_seen": pl.String, "revoked": pl.String,
          "revoked_by": pl.String}


def _store(base_dir: str | None) -> tuple[str, DeviceStore]:
    from workbench.platform.profile import DEFAULT_STATE

    base = base_dir or str(DEFAULT_STATE)
    return base, DeviceStore(base, audit=platform_trail(base, load_settings().user, "admin"))


base_option = click.option("--base-dir", default=None, metavar="DIR",
                           help="Hub state folder holding accounts/ (default: var/hub in the checkout).")


@click.group()
def devices() -> None:
    """List field officers' devices and revoke one."""


@devices.command("list")
@click.option("--user", "owner", default=None, help="Only this person's devices.")
@format_option("table", "json", "csv")
@base_option
def list_devices(owner: str | None, fmt: str, base_dir: str | None) -> None:
    """Every registered device (per person, most recently used first) with its state."""
    _base, store = _store(base_dir)
    emit(pl.DataFrame([d.row() for d in store.list(owner)], schema=SCHEMA), fmt, title="field devices")


@devices.command("revoke")
@click.argument("device_id")
@base_option
def revoke(device_id: str, base_dir: str | None) -> None:
    """Revoke DEVICE_ID: its next request is refused, its hub sessions and tokens end; the person's other
    devices keep working."""
    base, store = _store(base_dir)
    started = time.perf_counter()
    device = store.revoke(device_id)
    refused_from = time.perf_counter() - started
    ended = end_sessions(base, device, store)
    click.echo(f"revoked {device.device_id} ({device.name}, {device.owner}): refused from {refused_from * 1000:.0f} ms, "
               f"{ended} hub token(s) ended in {(time.perf_counter() - started) * 1000:.0f} ms")
