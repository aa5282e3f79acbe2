"""``workbench publish``: an analyst's own Panel app or notebook as a dashboard behind the hub login.

Run from a notebook server on the hub: the server's environment names the dashboards
service (``WORKBENCH_DASHBOARDS_URL``) and carries its own hub token
(``WORKBENCH_HUB_TOKEN``); ``--url`` and ``--token`` override them. The service, not this
command, decides who the publisher is (from the token) and stores the file.
"""

from __future__ import annotations

from pathlib import Path

import click

from workbench.errors import WorkbenchError
from workbench.settings import load_settings


def _service(url: str | None, token: str | None) -> tuple[str, str]:
    settings = load_settings()
    url = url or settings.dashboards_url
    token = token or (settings.hub_token.get_secret_value() if settings.hub_token else None)
    if not url:
        raise WorkbenchError("no dashboards service: pass --url or set WORKBENCH_DASHBOARDS_URL (set on the hub)")
    if not token:
        raise WorkbenchError("no hub token: pass --token or set WORKBENCH_HUB_TOKEN (set on the hub)")
    return url, token


def _default_name(path: Path) -> str:
    return path.stem.lower().replace("_", "-").replace(" ", "-")


def with_service(func):  # type: ignore[no-untyped-def]
    """``--url`` and ``--token``, shared by every sub-command."""
    func = click.option("--token", default=None, metavar="TOKEN", help="Hub API token (default: $WORKBENCH_HUB_TOKEN).")(func)
    return click.option("--url", default=None, metavar="URL",
                        help="Dashboards service (default: $WORKBENCH_DASHBOARDS_URL).")(func)


def publish_options(func):  # type: ignore[no-untyped-def]
    """PATH, ``--roles``, ``--name``, ``--title`` and the service options of ``publish app|notebook``."""
    func = with_service(func)
    func = click.option("--title", default=None, help="Title in the dashboards list.")(func)
    func = click.option("--name", default=None, help="URL name (default: from the file name).")(func)
    func = click.option("--roles", required=True, help="Comma-separated roles that may open it (e.g. manager,analyst).")(func)
    return click.argument("path", type=click.Path(exists=True, dir_okay=False))(func)


@click.group()
def publish() -> None:
    """Publish your own Panel app or notebook as a dashboard for the roles you name."""


def _publish(kind: str, path: str, roles: str, name: str | None, title: str | None, url: str | None,
             token: str | None) -> None:
    from workbench.apps.publishing import publish as send

    file = Path(path)
    base, secret = _service(url, token)
    entry = send(base, secret, kind, file, [r.strip() for r in roles.split(",") if r.strip()],
                 name or _default_name(file), title)
    click.echo(f"published {entry['name']} for {', '.join(entry['roles'])}: {base.rstrip('/')}/{entry['url_path']}")


@publish.command("app")
@publish_options
def app(path: str, roles: str, name: str | None, title: str | None, url: str | None, token: str | None) -> None:
    """Publish the Panel app PATH (.py, ending in ``.servable()``); again under the same name replaces it."""
    _publish("app", path, roles, name, title, url, token)


@publish.command("notebook")
@publish_options
def notebook(path: str, roles: str, name: str | None, title: str | None, url: str | None, token: str | None) -> None:
    """Publish the notebook PATH (.ipynb, served as ``panel serve`` serves notebooks: its ``.servable()`` cells)."""
    _publish("notebook", path, roles, name, title, url, token)


@publish.command("list")
@with_service
def list_command(url: str | None, token: str | None) -> None:
    """The published dashboards you may open (administrators: all)."""
    from workbench.apps.publishing import list_published

    for entry in list_published(*_service(url, token)):
        click.echo(f"{entry['name']}\t{','.join(entry['roles'])}\t{entry['owner']}\t{entry['published_at']}")


@publish.command("remove")
@click.argument("name")
@with_service
def remove(name: str, url: str | None, token: str | None) -> None:
    """Unpublish NAME (its publisher or an administrator only)."""
    from workbench.apps.publishing import unpublish

    click.echo(f"removed {unpublish(*_service(url, token), name)['removed']}")
