"""``workbench apps``: serve the Panel dashboards of ``apps/apps.toml`` (or run them as the hub's service)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click


@click.group()
def apps() -> None:
    """Dashboards for managers, field officers, analysts and administrators (Panel)."""


def app_factories(lake: str | None) -> dict[str, Callable[[], Any]]:
    """URL name (as in apps/apps.toml) -> a function building that app for one browser session."""
    from workbench.apps.labelling import labelling_app
    from workbench.apps.lookup import lookup_app
    from workbench.apps.network_explorer import explorer_app
    from workbench.apps.overview import overview_app
    from workbench.apps.security_events import security_app

    return {"risk-overview": lambda: overview_app(lake=lake), "lookup": lambda: lookup_app(lake=lake),
            "network-explorer": lambda: explorer_app(lake=lake), "labelling": lambda: labelling_app(lake=lake),
            "security-events": lambda: security_app(lake=lake)}


@apps.command()
@click.option("--port", default=5006, show_default=True, type=int, help="Port on 127.0.0.1 to listen on.")
@click.option("--lake", default=None, metavar="DIR|URL",
              help="Lake root (default: $WORKBENCH_LAKE, then workbench.toml, then ~/.local/share/workbench/lake).")
def serve(port: int, lake: str | None) -> None:
    """Serve every dashboard at /<name> on 127.0.0.1 until interrupted, with your own session and role.

    Loopback only and without the hub login: the hub's `dashboards` service publishes them to others.
    """
    import panel as pn

    from workbench.explore import connect

    connect(lake)  # fail now, with one line, if the lake or settings are wrong
    routes = app_factories(lake)
    click.echo("serving " + ", ".join(f"http://127.0.0.1:{port}/{name}" for name in routes), err=True)
    pn.serve(routes, port=port, address="127.0.0.1", show=False, title="Customs workbench",
             websocket_origin=[f"127.0.0.1:{port}", f"localhost:{port}"])


@apps.command("hub-service")
@click.option("--port", required=True, type=int, help="Port on 127.0.0.1 the hub's proxy sends /services/dashboards/ to.")
@click.option("--prefix", default="/services/dashboards", show_default=True, help="URL prefix (the service's route).")
@click.option("--origin", "origins", multiple=True, required=True, metavar="HOST:PORT",
              help="Public host:port the browsers use (the hub's); repeat for each name.")
@click.option("--published", required=True, metavar="DIR", help="The service's folder of published apps (created 0700).")
@click.option("--cookie-secret-file", required=True, metavar="FILE", help="Secret that signs the service's cookies.")
def hub_service(port: int, prefix: str, origins: tuple[str, ...], published: str, cookie_secret_file: str) -> None:
    """Serve every dashboard behind hub OAuth, with per-app roles (started by the hub, not by hand).

    Needs the JUPYTERHUB_* variables the hub gives a managed service; see workbench/apps/service.py.
    """
    from pathlib import Path

    from workbench.apps.service import serve

    serve(port, prefix, list(origins), Path(published), Path(cookie_secret_file).read_text().strip())
