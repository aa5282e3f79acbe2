"""Which dashboards exist and who may open them: ``apps/apps.toml``, read by every server that serves apps.

``load_apps`` reads the declarative file, one ``[apps.NAME]`` table per app: what builds it
(``build``, a ``module:function`` of the library returning a Panel object, or ``file``, a
script or notebook in ``apps/``), its title, what it answers (``description``), the
tables it reads (shown with their versions on the dashboards home) and the roles that
may open it. Errors name the file, the key and the reason (``workbench.specfiles``).
The hub's ``dashboards`` service and ``workbench apps serve`` both serve exactly this
list; published apps get the same ``Dashboard`` shape from their ``meta.json``.

``Dashboard.allows`` is the one authorisation rule the dashboards service applies to
every request (HTTP and websocket), for registered and published apps alike: the
viewer's role is among the app's roles, or the viewer published the app.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from workbench.errors import ConfigError
from workbench.security.accounts import Role
from workbench.specfiles import parse_toml

REPO = Path(__file__).resolve().parents[2]
APPS_DIR = REPO / "apps"
APPS_FILE = APPS_DIR / "apps.toml"
NAME_RE = re.compile(r"^[a-z][a-z0-9-]{1,40}$")
BUILD_RE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
ROLES = tuple(r.value for r in Role)


@dataclass(frozen=True)
class Viewer:
    """Who asks: the hub user's name and workbench role (None when their groups hold no role)."""

    name: str
    role: str | None


@dataclass(frozen=True)
class Dashboard:
    """One app a server can serve: what builds it (a function or a file), what it reads, who may open it."""

    name: str
    title: str
    roles: tuple[str, ...]
    path: Path | None = None  # a Panel script or notebook
    build: str | None = None  # or "module:function" returning a Panel object
    description: str = ""
    tables: tuple[str, ...] = ()
    owner: str | None = None  # who published it; None for the registered apps
    published_at: str | None = None

    def allows(self, viewer: Viewer) -> bool:
        return (viewer.role is not None and viewer.role in self.roles) or (
            self.owner is not None and viewer.name == self.owner)

    @property
    def roles_text(self) -> str:
        return ", ".join(self.roles)

    def exists(self) -> bool:
        """Whether its file is in the tree, or its function's module can be imported (else still being built)."""
        if self.path is not None:
            return self.path.is_file()
        module = str(self.build).partition(":")[0]
        try:
            return importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:  # a parent package is missing
            return False

    def builder(self) -> Callable[[], Any] | Path:
        """What Panel builds each session's document from: the function, or the file."""
        if self.path is not None:
            return self.path
        module, _, name = str(self.build).partition(":")
        function = getattr(importlib.import_module(module), name, None)
        if not callable(function):
            raise ConfigError(f"{APPS_FILE}: apps.{self.name}.build: {self.build} is not a function")
        return function  # type: ignore[no-any-return]


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

    build: str | None = None
    file: str | None = None
    title: str
    description: str = ""
    tables: list[str] = []
    roles: list[str] = Field(min_length=1)

    @field_validator("roles")
    @classmethod
    def _roles(cls, roles: list[str]) -> list[str]:
        return list(check_roles(roles))

    @field_validator("file")
    @classmethod
    def _file(cls, file: str | None) -> str | None:
        if file is not None and ("/" in file or not file.endswith((".py", ".ipynb"))):
            raise ValueError(f"{file!r} is not a .py or .ipynb file name in the apps folder")
        return file

    @field_validator("build")
    @classmethod
    def _build(cls, build: str | None) -> str | None:
        if build is not None and not BUILD_RE.match(build):
            raise ValueError(f"{build!r} is not 'package.module:function'")
        return build

    @model_validator(mode="after")
    def _one_source(self) -> _Entry:
        if (self.build is None) == (self.file is None):
            raise ValueError("give either build = 'module:function' or file = 'name.py' (one of them)")
        return self


class _AppsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    apps: dict[str, _Entry]


def load_apps(path: Path = APPS_FILE) -> dict[str, Dashboard]:
    """Every app the file declares (whether or not its code exists yet), by URL name."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the app list: {exc}") from exc
    declared = parse_toml(_AppsFile, text, str(path))
    apps = {}
    for name, entry in declared.apps.items():
        try:
            check_name(name)
        except ValueError as exc:
            raise ConfigError(f"{path}: apps.{name}: {exc}") from None
        apps[name] = Dashboard(name, entry.title, tuple(entry.roles),
                               path=None if entry.file is None else path.parent / entry.file, build=entry.build,
                               description=entry.description, tables=tuple(entry.tables))
    return apps


def available(apps: dict[str, Dashboard]) -> dict[str, Dashboard]:
    """The apps whose code is in the tree (the others are still being built)."""
    return {name: app for name, app in apps.items() if app.exists()}
