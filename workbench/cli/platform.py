"""``workbench platform up|down|status``: the local multi-user stack in the background.

``up`` starts proxy + hub (+ Dask Gateway and the idle culler as hub services) with their
pid files and log under the hub state folder (``var/hub`` in the checkout), returns once
``/hub/api`` answers and prints the URL and where the demo credentials are. ``down``
stops it cleanly; ``status`` reports each component (``--format json`` for scripts).
Knobs are the ``WORKBENCH_HUB_*`` variables of ``HubProfile`` (ports, state, Unix prefix).
"""

from __future__ import annotations

import json

import click
import polars as pl

from workbench.cli.common import emit, format_option


def _profile(lake: str | None = None):  # type: ignore[no-untyped-def]
    """The stack's profile (``WORKBENCH_HUB_*``, then the settings file's ``[hub]``); its lake: ``lake``, else
    the hub's own setting, else the project's lake when one is configured (``workbench.toml``)."""
    from workbench.platform.hubconfig import HubProfile
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
@click.option("--timeout", default=120.0, show_default=True, help="Seconds to wait for the hub and gateway.")
def up(lake: str | None, timeout: float) -> None:
    """Start the stack unless it runs; print the URL and the credentials file."""
    from workbench.platform import stack

    profile = _profile(lake)
    with click.progressbar(length=1, label="starting proxy, hub and gateway") as bar:
        url = stack.up(profile, timeout=timeout)
        bar.update(1)
    click.echo(f"JupyterHub: {url}/hub/login")
    if profile.demo_accounts:
        from workbench.platform.accounts import DEMO_ACCOUNTS

        click.echo(f"Demo accounts ({', '.join(DEMO_ACCOUNTS)}): {profile.credentials_file} (root only, 0600)")
    click.echo(f"Log: {stack.log_file(profile)}   Stop: workbench platform down")


@platform.command("down")
def down() -> None:
    """Stop the hub, its proxy and its services (servers and gateway clusters with them)."""
    from workbench.platform import stack

    click.echo("stopped" if stack.down(_profile()) else "nothing was running")


@platform.command("status")
@format_option("table", "json")
def status(fmt: str) -> None:
    """Each component with its pid and whether it answers; exit 1 when the hub is down."""
    from workbench.platform import stack

    components = stack.status(_profile())
    if fmt == "json":
        click.echo(json.dumps([c.as_dict() for c in components], indent=1))
    else:
        emit(pl.DataFrame([c.as_dict() for c in components]), "table", title="workbench platform")
    if not components[0].running:
        raise SystemExit(1)


@platform.command("render-k8s")
@click.option("--output", required=True, metavar="DIR", help="Folder to write values.yaml into (hub_config/kubernetes).")
def render_k8s(output: str) -> None:
    """Render the Kubernetes profile (daskhub-style Helm values) from the local profile's roles and limits."""
    from workbench.platform import kubernetes

    for path in kubernetes.write(output):
        click.echo(f"wrote {path}")
