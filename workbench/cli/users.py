"""``workbench users``: the accounts people log in to the hub with, and their roles.

Administrators (root on the hub machine) run these; the store lives under the hub's
state folder (``--base-dir``, default ``var/hub`` in the checkout, the same folder
``hub_config/jupyterhub_config.py`` uses). A new or reset password is printed once and
never stored in clear. Every change is audited as the person who ran the command
(through the stack's audit service when it runs; see ``accounts.platform_trail``).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import click
import polars as pl

from workbench.cli.common import emit, format_option
from workbench.security.accounts import AccountStore, Role, platform_trail, stop_running_work, sync_unix_groups
from workbench.settings import load_settings

F = TypeVar("F", bound=Callable[..., Any])
ROLES = click.Choice([r.value for r in Role])


def _default_base() -> str:
    from workbench.platform.profile import DEFAULT_STATE

    return str(DEFAULT_STATE)


def store_option(func: F) -> F:
    @click.option("--base-dir", default=None, metavar="DIR",
                  help="Hub state folder holding accounts/ (default: var/hub in the checkout).")
    @wraps(func)
    def wrapper(*args: Any, base_dir: str | None, **kwargs: Any) -> Any:
        base = base_dir or _default_base()
        actor = load_settings().user  # who ran the command: every change is audited as theirs
        return func(*args, store=AccountStore(base, audit=platform_trail(base, actor, "admin")), **kwargs)

    return wrapper  # type: ignore[return-value]


@click.group()
def users() -> None:
    """Add, disable, enable, re-role and list workbench accounts."""


def _sync_groups(store: AccountStore, name: str) -> None:
    """NAME's Unix groups follow the account now (their published apps restart with them)."""
    if sync_unix_groups(store.folder.parent, name, store.get(name)):
        click.echo(f"{name}'s Unix groups now follow the account")


def _stop_running_work(store: AccountStore, name: str) -> None:
    """New groups, then stop NAME's servers and clusters: a running kernel keeps the Unix groups of its old role."""
    _sync_groups(store, name)
    stopped = stop_running_work(store.folder.parent, name, audit=store.audit)
    click.echo(f"stopped {name}'s " + ", ".join(stopped) if stopped else f"{name} had nothing running")


@users.command("add")
@click.argument("name")
@click.option("--role", type=ROLES, required=True, help="What the person does on the platform.")
@click.option("--password-prompt", is_flag=True, help="Type the password instead of generating one.")
@store_option
def add(name: str, role: str, password_prompt: bool, store: AccountStore) -> None:
    """Create account NAME with ROLE; prints a generated password once."""
    password = click.prompt("Password", hide_input=True, confirmation_prompt=True) if password_prompt else None
    made = store.add(name, role, password)
    click.echo(f"added {name} ({role})" + ("" if password_prompt else f"; password: {made}"))


@users.command("disable")
@click.argument("name")
@store_option
def disable(name: str, store: AccountStore) -> None:
    """Refuse NAME's logins, take their Unix groups and stop their running servers and clusters (open sessions end
    at the next auth refresh)."""
    store.set_enabled(name, False)
    click.echo(f"disabled {name}")
    _stop_running_work(store, name)


@users.command("enable")
@click.argument("name")
@store_option
def enable(name: str, store: AccountStore) -> None:
    """Allow NAME to log in again; also lifts a lock-out after failed logins."""
    store.set_enabled(name, True)
    click.echo(f"enabled {name}")
    _sync_groups(store, name)


@users.command("set-role")
@click.argument("name")
@click.option("--role", type=ROLES, required=True)
@store_option
def set_role(name: str, role: str, store: AccountStore) -> None:
    """Give NAME another role, their Unix user its group (published apps restart with it) and stop their running
    servers and clusters; the hub applies the new role at the next login or auth refresh."""
    store.set_role(name, role)
    click.echo(f"{name} is now {role}")
    _stop_running_work(store, name)


@users.command("reset-password")
@click.argument("name")
@click.option("--password-prompt", is_flag=True, help="Type the password instead of generating one.")
@store_option
def reset_password(name: str, password_prompt: bool, store: AccountStore) -> None:
    """Set a new password for NAME (generated unless --password-prompt) and lift a lock-out."""
    password = click.prompt("Password", hide_input=True, confirmation_prompt=True) if password_prompt else None
    made = store.reset_password(name, password)
    click.echo(f"reset {name}" + ("" if password_prompt else f"; password: {made}"))


@users.command("list")
@format_option("table", "json", "csv")
@store_option
def list_users(fmt: str, store: AccountStore) -> None:
    """Every account with its role and state."""
    rows = [
        {"name": a.name, "role": a.role.value, "enabled": a.enabled, "locked": a.locked,
         "failures": a.failures, "created": a.created, "last_login": a.last_login}
        for a in store.list()
    ]
    schema = {"name": pl.String, "role": pl.String, "enabled": pl.Boolean, "locked": pl.Boolean,
              "failures": pl.Int64, "created": pl.String, "last_login": pl.String}
    emit(pl.DataFrame(rows, schema=schema), fmt, title="workbench accounts")
