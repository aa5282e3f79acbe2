"""``workbench platform up|down|status``: the local multi-user stack under supervisord.

``up`` starts supervisord, which runs every component (audit service, proxy, hub, Dask
Gateway, dashboards, idle culler, SIEM loop, and with ``--sources`` the demo PostgreSQL) and
restarts any that dies (``workbench.platform.stack``); it returns once ``/hub/api`` answers
and prints the URL and where the demo credentials are. On a running stack it starts again
what supervisord gave up on. ``down`` stops everything; ``status`` reports each component's
state, uptime, restarts and health (``--format json`` for scripts). Knobs are the
``WORKBENCH_HUB_*`` variables of ``HubProfile`` (ports, state, Unix prefix).
"""

from __future__ import annotations

import json
from pathlib import Path

import click
import polars as pl

from workbench.cli.common import emit, format_option


def _profile(lake: str | None = None):  # type: ignore[no-untyped-def]
    """The stack's profile (``WORKBENCH_HUB_*``, then the settings file's ``[hub]``); its lake: ``lake``, else
    the hub's own setting, else the project's lake when one is configured (``workbench.toml``)."""
    from workbench.platform.profile import HubProfile
    from workbench.settings import config_file, is_configured, load_settings

    profile = HubProfile.from_env()
    if lake:
        profile.lake = lake
    elif not profile.lake and is_configured("lake"):
        profile.lake = load_settings().lake
    if profile.config_file is None and (path := config_file()) is not None:
        profile.config_file = str(path)
    return profile


@click.group()
def platform() -> None:
    """Start, stop and inspect the local JupyterHub + Dask Gateway stack."""


@platform.command("up")
@click.option("--lake", default=None, metavar="DIR",
              help="Lake the notebook servers open (WORKBENCH_LAKE for them; must be readable by the users).")
@click.option("--sources", default=None, metavar="DIR", type=click.Path(file_okay=False, path_type=Path),
              help="The folder of `demo publish-sources`: its PostgreSQL is supervised too.")
@click.option("--timeout", default=120.0, show_default=True, help="Seconds to wait for the hub and gateway.")
def up(lake: str | None, sources: Path | None, timeout: float) -> None:
    """Start the stack under supervisord unless it runs; print the URL and the credentials file."""
    from workbench.platform import stack

    profile = _profile(lake)
    with click.progressbar(length=1, label="starting supervisord and the stack") as bar:
        url = stack.up(profile, timeout=timeout, sources=sources)
        bar.update(1)
    click.echo(f"JupyterHub: {url}/hub/login")
    if profile.demo_accounts:
        from workbench.security.accounts import DEMO_ACCOUNTS

        click.echo(f"Demo accounts ({', '.join(DEMO_ACCOUNTS)}): {profile.credentials_file} (root only, 0600)")
    click.echo(f"Logs: {stack.log_file(profile).parent}/   State: workbench platform status   "
               "Stop: workbench platform down")


@platform.command("down")
def down() -> None:
    """Stop every component and supervisord (the hub stops the notebook servers, the gateway its clusters)."""
    from workbench.platform import stack

    click.echo("stopped" if stack.down(_profile()) else "nothing was running")


@platform.command("status")
@format_option("table", "json")
def status(fmt: str) -> None:
    """Each component: supervisord's state, pid, uptime, restarts, and whether it answers; exit 1 when the hub is down."""
    from workbench.platform import stack

    components = stack.status(_profile())
    if fmt == "json":
        click.echo(json.dumps([c.as_dict() for c in components], indent=1))
    else:
        columns = ["name", "state", "running", "uptime", "restarts", "pid", "detail"]
        emit(pl.DataFrame([c.as_dict() for c in components]).select(columns), "table", title="workbench platform")
    if not components or not components[0].running:
        raise SystemExit(1)


@platform.command("render-k8s")
@click.option("--output", required=True, metavar="DIR", help="Folder to write values.yaml into (hub_config/kubernetes).")
def render_k8s(output: str) -> None:
    """Render the Kubernetes profile (daskhub-style Helm values) from the local profile's roles and limits."""
    from workbench.platform import kubernetes

    for path in kubernetes.write(output):
        click.echo(f"wrote {path}")
