"""The one place configuration comes from.

Precedence, highest first: explicit arguments (CLI flags, ``connect(lake=...)``),
environment variables ``WORKBENCH_*``, a ``workbench.toml`` file (path in
``WORKBENCH_CONFIG``, else ``./workbench.toml``), then defaults. Nothing else in the
library reads the environment, so a notebook, a service and a test see the same rules.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

DEFAULT_LAKE = Path.home() / ".local" / "share" / "workbench" / "lake"


def _config_file() -> Path:
    return Path(os.environ.get("WORKBENCH_CONFIG", "workbench.toml"))


class Settings(BaseSettings):
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

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml_file=_config_file()))


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


class HubSettings(BaseSettings):
    """The hub's knobs, ``WORKBENCH_HUB_*`` (``workbench.platform.hubconfig.HubProfile``).

    Separate from ``Settings``: the hub's config file and the services it starts run in
    JupyterHub's processes, not in a person's session. Unset or empty: the profile's default.
    """

    model_config = SettingsConfigDict(env_prefix="WORKBENCH_HUB_", env_ignore_empty=True, extra="ignore")

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
