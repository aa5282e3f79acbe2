"""``workbench apps``: serve the Panel dashboards of ``apps/apps.toml`` (or run them as the hub's service)."""

from __future__ import annotations

from typing import Any

import click


@click.group()
def apps() -> None:
    """Dashboards for managers, field officers, analysts and administrators (Panel)."""


@apps.command()
@click.option("--port", default=5006, show_default=True, type=int, help="Port on 127.0.0.1 to listen on.")
@click.option("--lake", default=None, metavar="DIR|URL",
              help="Lake root (default: $WORKBENCH_LAKE, then workbench.toml, then ~/.local/share/workbench/lake).")
def serve(port: int, lake: str | None) -> None:
    """Serve every dashboard of apps/apps.toml at /<name> on 127.0.0.1 until interrupted, with your own
    session and role.

    Loopback only and without the hub login: the hub's `dashboards` service publishes them to others.
    """
    import panel as pn

    from workbench.session import connect

    connect(lake)  # fail now, with one line, if the lake or settings are wrong
    routes = local_routes(lake)
    click.echo("serving " + ", ".join(f"http://127.0.0.1:{port}{route}" for route in routes), err=True)
    pn.serve(routes, port=port, address="127.0.0.1", show=False, title="Customs workbench",
             websocket_origin=[f"127.0.0.1:{port}", f"localhost:{port}"])


def local_routes(lake: str | None) -> dict[str, Any]:
    """Route -> Panel application of every app in apps/apps.toml whose code is in the tree, built as the
    hub's service builds them (``workbench.apps.documents``), with the person's own settings and ``lake``."""
    from panel.io.application import Application

    from workbench.apps.documents import DashboardHandler
    from workbench.apps.specs import available, load_apps

    local = {"lake": lake} if lake else {}
    return {f"/{name}": Application(DashboardHandler(lambda _arguments, app=app: app, local=local))
            for name, app in available(load_apps()).items()}


@apps.command("hub-service")
@click.option("--port", required=True, type=int, help="Port on 127.0.0.1 the hub's proxy sends /services/dashboards/ to.")
@click.option("--prefix", default="/services/dashboards", show_default=True, help="URL prefix (the service's route).")
@click.option("--origin", "origins", multiple=True, required=True, metavar="HOST:PORT",
              help="Public host:port the browsers use (the hub's); repeat for each name.")
@click.option("--published", required=True, metavar="DIR", help="The service's folder of published apps (created 0700).")
@click.option("--cookie-secret-file", required=True, metavar="FILE", help="Secret that signs the service's cookies.")
@click.option("--address", default="127.0.0.1", show_default=True,
              help="Address to listen on (0.0.0.0 in a Kubernetes pod, behind its Service).")
def hub_service(port: int, prefix: str, origins: tuple[str, ...], published: str, cookie_secret_file: str,
                address: str) -> None:
    """Serve every dashboard behind hub OAuth, with per-app roles (started by the hub, not by hand).

    Needs the JUPYTERHUB_* variables the hub gives a managed service; see workbench/apps/service.py.
    """
    from pathlib import Path

    from workbench.apps.service import serve

    serve(port, prefix, list(origins), Path(published), Path(cookie_secret_file).read_text().strip(), address=address)
