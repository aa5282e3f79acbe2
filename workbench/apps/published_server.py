"""One published app's own Panel server: what ``LocalAppProcess`` runs as the app's publisher.

``python -m workbench.apps.published_server --folder DIR --prefix /services/dashboards/published/NAME``
serves the app in ``DIR`` (its file and ``meta.json``) at ``PREFIX/`` on the Unix socket
``DIR/app.sock`` (0600: its user and root only). Each session's document is built by the
``DashboardHandler`` every app server uses (``documents.py``): the viewer the service
forwarded (``ForwardedViewerAuth``) must be allowed by the app's roles again, and the
app's code runs with the viewer's name and role in its sessions (``hosted``), so managers
still see masked identifiers, while the operating system gives the process only its
publisher's access to the lake.

First thing, the process asks the kernel for SIGKILL when its parent (the service) dies,
and exits if that already happened, so no app outlives its service; then it waits for
the service's ``start`` line on stdin, sent once the process is in its memory cgroup.
"""

from __future__ import annotations

import ctypes
import os
import secrets
import signal
import sys
from pathlib import Path

import click

PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int) -> None:
    """SIGKILL this process when ``parent_pid`` (which started it) dies; exit now if it is already gone."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent_pid:
        raise SystemExit(f"the dashboards service (pid {parent_pid}) is gone; not starting")


def serve_published(folder: Path, prefix: str, origins: list[str]) -> None:
    """Serve the app in ``folder`` at ``prefix`` on ``folder/app.sock`` until stopped (blocks)."""
    import panel as pn
    from bokeh.application import Application

    from workbench.apps.hub_auth import ForwardedViewerAuth
    from workbench.apps.published_process import SOCKET
    from workbench.apps.publishing import read_meta
    from workbench.apps.documents import DashboardHandler

    meta = read_meta(folder)
    if meta is None or meta.name != folder.name:
        raise SystemExit(f"{folder}: no readable meta.json for this app")
    app = meta.dashboard(folder.parent)
    handler = DashboardHandler(lambda _arguments: app)
    server = pn.serve({"/": Application(handler)}, unix_socket=str(folder / SOCKET), prefix=prefix,
                      websocket_origin=origins, show=False, start=False, verbose=False, title=app.title,
                      auth_provider=ForwardedViewerAuth(), secret_key=secrets.token_urlsafe(32), sign_sessions=True,
                      include_cookies=[], exclude_headers=["Cookie", "Authorization"])
    server.start()
    server.io_loop.start()


@click.command()
@click.option("--folder", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="The app's folder: its file, meta.json, and the socket to make.")
@click.option("--prefix", required=True, help="URL prefix the service relays (/services/dashboards/published/NAME).")
@click.option("--origin", "origins", multiple=True, required=True, metavar="HOST:PORT",
              help="Public host:port the browsers use; repeat for each name.")
@click.option("--parent-pid", required=True, type=int, help="The dashboards service's pid (this process dies with it).")
def main(folder: Path, prefix: str, origins: tuple[str, ...], parent_pid: int) -> None:
    die_with_parent(parent_pid)
    if sys.stdin.readline().strip() != "start":
        raise SystemExit("the dashboards service did not let this app start")
    serve_published(folder, prefix, list(origins))


if __name__ == "__main__":
    main()
