"""Which dashboards exist and who may open them: ``apps/apps.toml`` and published apps share one shape.

``load_registry`` reads the declarative file (one ``[apps.NAME]`` table per app: file,
title, description, roles) and checks it with pydantic, raising ``ConfigError`` that names
the file, the key and the reason. ``Dashboard.allows`` is the one authorisation rule the
dashboards service applies to every request (HTTP and websocket), for registered and
published apps alike: the viewer's role is among the app's roles, or the viewer
published the app.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from workbench.errors import ConfigError
from workbench.platform.accounts import Role
from workbench.specfiles import parse_toml

REPO = Path(__file__).resolve().parents[2]
APPS_DIR = REPO / "apps"
REGISTRY_FILE = APPS_DIR / "apps.toml"
NAME_RE = re.compile(r"^[a-z][a-z0-9-]{1,40}$")
ROLES = tuple(r.value for r in Role)


@dataclass(frozen=True)
class Viewer:
    """Who asks: the hub user's name and workbench role (None when their groups hold no role)."""

    name: str
    role: str | None


@dataclass(frozen=True)
class Dashboard:
    """One app the service can serve: a Panel script or notebook and the roles that may open it."""

    name: str
    title: str
    path: Path
    roles: tuple[str, ...]
    description: str = ""
    owner: str | None = None  # who published it; None for the registered apps
    published_at: str | None = None

    def allows(self, viewer: Viewer) -> bool:
        return (viewer.role is not None and viewer.role in self.roles) or (
            self.owner is not None and viewer.name == self.owner)

    @property
    def roles_text(self) -> str:
        return ", ".join(self.roles)


def check_roles(roles: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """``roles`` as a tuple; ``ValueError`` naming the first unknown role, or when empty."""
    if not roles:
        raise ValueError(f"no roles given; roles: {', '.join(ROLES)}")
    for role in roles:
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}; roles: {', '.join(ROLES)}")
    return tuple(dict.fromkeys(roles))


def check_name(name: str) -> str:
    if not NAME_RE.match(name):
        raise ValueError(f"invalid app name {name!r}: lower-case letters, digits and '-', 2-41 characters, "
                         "starting with a letter")
    return name


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    file: str
    title: str
    description: str = ""
    roles: list[str] = Field(min_length=1)

    @field_validator("roles")
    @classmethod
    def _roles(cls, roles: list[str]) -> list[str]:
        return list(check_roles(roles))

    @field_validator("file")
    @classmethod
    def _file(cls, file: str) -> str:
        if "/" in file or not file.endswith((".py", ".ipynb")):
            raise ValueError(f"{file!r} is not a .py or .ipynb file name in the apps folder")
        return file


class _Registry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    apps: dict[str, _Entry]


def load_registry(path: Path = REGISTRY_FILE) -> dict[str, Dashboard]:
    """Every app the file declares (whether or not its file exists yet), by URL name."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the app registry: {exc}") from exc
    registry = parse_toml(_Registry, text, str(path))
    apps = {}
    for name, entry in registry.apps.items():
        try:
            check_name(name)
        except ValueError as exc:
            raise ConfigError(f"{path}: apps.{name}: {exc}") from None
        apps[name] = Dashboard(name, entry.title, path.parent / entry.file, tuple(entry.roles), entry.description)
    return apps


def available(apps: dict[str, Dashboard]) -> dict[str, Dashboard]:
    """The apps whose file is in the tree (the others are still being built)."""
    return {name: app for name, app in apps.items() if app.path.is_file()}
