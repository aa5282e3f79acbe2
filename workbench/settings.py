"""The one place configuration comes from.

Precedence, highest first: explicit arguments (CLI flags, ``connect(lake=...)``),
environment variables ``WORKBENCH_*``, a ``workbench.toml`` file, then defaults. Nothing
else in the library reads the environment, so a notebook, a service and a test see the
same rules.

The file is ``WORKBENCH_CONFIG`` when set (set but empty: no file), else the nearest
``workbench.toml`` in the working folder or one of its parents: ``make up`` leaves one in
the checkout (``workbench config init``), so every command run anywhere in the checkout
uses the lake it built, without ``--lake``. Relative paths in the file are relative to
the file's folder. Its ``[hub]`` table holds the ``WORKBENCH_HUB_*`` knobs of the stack
(``HubSettings``), so ``make status`` finds a stack started on other ports.
``setting_sources`` says where each value in force came from (``workbench config``).
"""

from __future__ import annotations

import getpass
import os
import tomllib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from workbench.errors import WorkbenchError

DEFAULT_LAKE = Path.home() / ".local" / "share" / "workbench" / "lake"
CONFIG_NAME = "workbench.toml"
PATH_SETTINGS = frozenset({"lake", "policy_file", "audit_dir", "audit_socket", "scoring_access_log", "state",
                           "home_root", "proxy_command"})
"""Settings that name a file or folder: relative values in the file are relative to the file's folder."""


class ConfigFileError(WorkbenchError):
    """The settings file cannot be read; the message names the file and the reason."""


def config_file(start: str | os.PathLike[str] | None = None) -> Path | None:
    """The settings file in force: ``WORKBENCH_CONFIG`` (empty: none), else the nearest ``workbench.toml``
    in ``start`` (default: the working folder) or one of its parents; None when there is none."""
    explicit = os.environ.get("WORKBENCH_CONFIG")
    if explicit is not None:
        return Path(explicit).absolute() if explicit else None
    here = Path(start or Path.cwd()).absolute()
    for folder in (here, *here.parents):
        candidate = folder / CONFIG_NAME
        if candidate.is_file():
            return candidate
    return None


def read_config(path: Path | None, table: str | None = None) -> dict[str, Any]:
    """The file's top-level keys (or those of its ``[table]``), paths made absolute; {} without a file."""
    if path is None or not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigFileError(f"{path}: {exc}") from None
    if table is not None:
        data = data.get(table, {})
        if not isinstance(data, dict):
            raise ConfigFileError(f"{path}: [{table}] must be a table")
    else:
        data = {k: v for k, v in data.items() if not isinstance(v, dict) or k in ("storage_options",)}
    return {k: _absolute(path.parent, v) if k in PATH_SETTINGS and isinstance(v, str) else v
            for k, v in data.items()}


def _absolute(base: Path, value: str) -> str:
    if not value or "://" in value or Path(value).is_absolute():
        return value
    return str((base / value).resolve())


class _FileSource(InitSettingsSource):
    """The settings file's values (``table``: one of its sub-tables) as a pydantic-settings source."""

    def __init__(self, settings_cls: type[BaseSettings], table: str | None = None) -> None:
        super().__init__(settings_cls, init_kwargs=read_config(config_file(), table))


class _FileSettings(BaseSettings):
    """Flags over environment over the settings file (its ``file_table``, or its top level) over defaults."""

    file_table: ClassVar[str | None] = None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _FileSource(settings_cls, cls.file_table))


class Settings(_FileSettings):
    """Workbench settings; see the module docstring for where values come from."""

    model_config = SettingsConfigDict(env_prefix="WORKBENCH_", env_nested_delimiter="__", extra="ignore")

    lake: str = Field(default=str(DEFAULT_LAKE), description="Lake root: a folder or an s3:// URL")
    storage_options: dict[str, str] = Field(
        default_factory=dict,
        description="Object-store options passed to Delta Lake (endpoint, keys, region)",
    )
    user: str = Field(default_factory=getpass.getuser, description="Who lake reads and writes are recorded as")
    threads: int | None = Field(default=None, description="DuckDB threads; None lets DuckDB decide")
    nlp_precision: Literal["fp32", "bf16", "int8"] = Field(
        default="bf16", description="NER tagger arithmetic on CPU: bf16 (fp32 where unsupported), fp32, or int8"
    )
    nlp_models: str | None = Field(
        default=None, description="Folder of the NLP models (ner, topics, e5-small); None: <lake root>/models/nlp for a local lake"
    )
    role: str | None = Field(
        default=None, description="The person's role (analyst, modeller, manager, admin); None: the policy's default"
    )
    policy_file: str | None = Field(default=None, description="Access policy TOML; None: the packaged policy")
    audit_dir: str | None = Field(
        default=None, description="Audit trail folder; None: <lake root>/../audit for a local lake"
    )
    audit_fsync: bool = Field(default=False, description="fsync every audit record (slower, survives power loss)")
    audit_socket: str | None = Field(
        default=None, description="Unix socket of the audit service; when set, audit records go there, not to audit_dir"
    )
    siem_interval: float = Field(default=60.0, description="Seconds between the stack's SIEM cycles")
    device_idle_minutes: float = Field(
        default=15.0, gt=0, description="A device-bound person's session (field officers) ends after this idle time"
    )
    siem_sinks: list[dict[str, Any]] = Field(
        default_factory=list,
        description='Where SIEM alerts go, e.g. [{"kind": "webhook", "url": ...}, {"kind": "email", "host": ...}]',
    )
    scoring_token: SecretStr | None = Field(
        default=None, description="Bearer token of the real-time scoring service (WORKBENCH_SCORING_TOKEN)"
    )
    scoring_access_log: str | None = Field(
        default=None,
        description="The scoring service's JSON access log; None: <lake root>/../logs/scoring-access.log for a local lake",
    )
    dashboards_url: str | None = Field(
        default=None, description="The dashboards hub service (`workbench publish`), e.g. http://hub:8000/services/dashboards"
    )
    hub_token: SecretStr | None = Field(
        default=None, description="Hub API token that `workbench publish` sends (a notebook server's own token)"
    )
    dashboards_app_class: str = Field(
        default="workbench.apps.published_process.LocalAppProcess",
        description="How the dashboards service runs each published app (module.Class, an AppProcess subclass)",
    )
    dashboards_app_start_timeout: float = Field(
        default=120.0, description="Seconds a published app's own server may take to answer after it starts"
    )


# Settings a hosting service gives the sessions it opens on someone's behalf (the dashboards
# service: the viewer's user and role), beneath explicit overrides; see ``hosted``.
_HOSTED: ContextVar[dict[str, Any]] = ContextVar("workbench_hosted_settings", default={})


@contextmanager
def hosted(**overrides: Any) -> Iterator[None]:
    """Sessions opened inside this block (``connect()`` in an app's code) get ``overrides``.

    Why: one service process builds documents for many people; the viewer's role must
    reach the session an app opens without the app passing it (apps call ``connect()``).
    """
    token = _HOSTED.set({**_HOSTED.get(), **overrides})
    try:
        yield
    finally:
        _HOSTED.reset(token)


def load_settings(**overrides: Any) -> Settings:
    """Settings with ``overrides`` on top; ``None`` values are ignored so CLI flags can pass through."""
    return Settings(**{**_HOSTED.get(), **{k: v for k, v in overrides.items() if v is not None}})


class HubSettings(_FileSettings):
    """The hub's knobs, ``WORKBENCH_HUB_*`` (``workbench.platform.profile.HubProfile``).

    Separate from ``Settings``: the hub's config file and the services it starts run in
    JupyterHub's processes, not in a person's session. Unset or empty: the profile's default.
    """

    model_config = SettingsConfigDict(env_prefix="WORKBENCH_HUB_", env_ignore_empty=True, extra="ignore")
    file_table: ClassVar[str | None] = "hub"

    state: Path | None = None
    ip: str | None = None
    port: int | None = None
    hub_port: int | None = None
    proxy_api_port: int | None = None
    idle_timeout: int | None = None
    gateway_port: int | None = None
    gateway_api_port: int | None = None
    gateway_tcp_port: int | None = None
    gateway_idle_timeout: int | None = None
    dashboards_port: int | None = None
    proxy_command: str | None = None
    home_root: Path | None = None
    unix_prefix: str | None = None
    cgroup_parent: str | None = None
    demo_accounts: bool | None = None
    log_level: str | None = None
    gateway: bool | None = None
    dashboards: bool | None = None
    lake: str | None = None
    audit_dir: str | None = None
    config_file: str | None = None
    supervised: bool | None = None


SettingSource = tuple[Any, str]
"""A value in force and where it came from: "flag", "env WORKBENCH_X", "file PATH" or "default"."""


def setting_sources(overrides: Mapping[str, Any] | None = None,
                    settings_cls: type[BaseSettings] = Settings) -> dict[str, SettingSource]:
    """Each setting of ``settings_cls`` in force, with where it came from (highest source that set it).

    ``overrides`` are the explicit arguments (CLI flags); ``None`` values count as unset,
    as in ``load_settings``.
    """
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    hub = settings_cls is HubSettings
    values = settings_cls(**given) if hub else load_settings(**given)
    env = EnvSettingsSource(settings_cls)()
    path = config_file()
    from_file = read_config(path, HubSettings.file_table if hub else None)
    prefix = settings_cls.model_config.get("env_prefix", "")
    result: dict[str, SettingSource] = {}
    for name in settings_cls.model_fields:
        if name in given:
            source = "flag"
        elif name in env:
            source = f"env {prefix}{name.upper()}"
        elif name in from_file:
            source = f"file {path}" + (" [hub]" if hub else "")
        else:
            source = "default"
        result[name] = (getattr(values, name), source)
    return result


def is_configured(name: str) -> bool:
    """True when setting ``name`` comes from the environment or the settings file, not its default."""
    return setting_sources()[name][1] != "default"


def write_config(path: str | os.PathLike[str], values: Mapping[str, Any], hub: Mapping[str, Any] | None = None) -> Path:
    """Set ``values`` (and ``hub`` in its ``[hub]`` table) in the settings file at ``path``, keeping its other keys.

    Why a writer of our own: the file holds flat strings, numbers and booleans only, and
    ``tomllib`` reads but does not write. Paths under the file's folder are written relative
    to it, so a moved checkout keeps working. No secrets belong here: kernels read the file.
    """
    target = Path(path).absolute()
    current: dict[str, Any] = {}
    if target.is_file():
        try:
            current = tomllib.loads(target.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigFileError(f"{target}: {exc}") from None
    top = {k: v for k, v in current.items() if not isinstance(v, dict)}
    tables = {k: dict(v) for k, v in current.items() if isinstance(v, dict)}
    top.update({k: _relative(target.parent, k, v) for k, v in values.items() if v is not None})
    if hub:
        tables.setdefault("hub", {}).update({k: _relative(target.parent, k, v) for k, v in hub.items() if v is not None})
    lines = ["# Written by `make up` (`workbench config init`); `workbench config` shows what is in force.",
             "# Relative paths are relative to this file. No secrets here: notebook kernels read it."]
    lines += [f"{k} = {_toml_value(v)}" for k, v in sorted(top.items())]
    for name, table in sorted(tables.items()):
        lines += ["", f"[{name}]", *(f"{k} = {_toml_value(v)}" for k, v in sorted(table.items()))]
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    target.chmod(0o644)
    return target


def _relative(base: Path, name: str, value: Any) -> Any:
    if name in PATH_SETTINGS and isinstance(value, str) and Path(value).is_absolute():
        try:
            return str(Path(value).relative_to(base))
        except ValueError:
            return value
    return value


def _toml_value(value: Any) -> str:
    import json

    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(str(k))} = {_toml_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)
