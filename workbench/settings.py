"""The one place configuration comes from.

Precedence, highest first: explicit arguments (CLI flags, ``connect(lake=...)``),
environment variables ``WORKBENCH_*``, a ``workbench.toml`` file (path in
``WORKBENCH_CONFIG``, else ``./workbench.toml``), then defaults. Nothing else in the
library reads the environment, so a notebook, a service and a test see the same rules.
"""

from __future__ import annotations

import getpass
import os
from pathlib import Path
from typing import Any

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
    role: str | None = Field(
        default=None, description="The person's role (analyst, modeller, manager, admin); None: the policy's default"
    )
    policy_file: str | None = Field(default=None, description="Access policy TOML; None: the packaged policy")
    audit_dir: str | None = Field(
        default=None, description="Audit trail folder; None: <lake root>/../audit for a local lake"
    )
    audit_fsync: bool = Field(default=False, description="fsync every audit record (slower, survives power loss)")
    scoring_token: SecretStr | None = Field(
        default=None, description="Bearer token of the real-time scoring service (WORKBENCH_SCORING_TOKEN)"
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


def load_settings(**overrides: Any) -> Settings:
    """Settings with ``overrides`` on top; ``None`` values are ignored so CLI flags can pass through."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})
