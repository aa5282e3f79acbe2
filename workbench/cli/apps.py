"""``workbench apps``: serve the Panel dashboards (risk overview, lookup)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

APPS = ("risk-overview", "lookup")


def app_factories(lake: str | None) -> dict[str, Callable[[], Any]]:
    """URL path -> a function building that app for one browser session (each gets its own lake session)."""
    from workbench.apps.lookup import lookup_app
    from workbench.apps.overview import overview_app

    return {"risk-overview": lambda: overview_app(lake=lake), "lookup": lambda: lookup_app(lake=lake)}


@click.group()
def apps() -> None:
    """Dashboards for managers and field officers (Panel)."""


@apps.command()
@click.option("--port", default=5006, show_default=True, type=int, help="Port on 127.0.0.1 to listen on.")
@click.option("--lake", default=None, metavar="DIR|URL",
              help="Lake root (default: $WORKBENCH_LAKE, then workbench.toml, then ~/.local/share/workbench/lake).")
def serve(port: int, lake: str | None) -> None:
    """Serve the risk overview at /risk-overview and the lookup at /lookup on 127.0.0.1 until interrupted.

    Loopback only: publishing behind the hub login is a separate step.
    """
    import panel as pn

    from workbench.explore import connect

    connect(lake)  # fail now, with one line, if the lake or settings are wrong
    click.echo(f"serving http://127.0.0.1:{port}/" + f" and http://127.0.0.1:{port}/".join(APPS), err=True)
    pn.serve(app_factories(lake), port=port, address="127.0.0.1", show=False, title="Customs workbench",
             websocket_origin=[f"127.0.0.1:{port}", f"localhost:{port}"])
