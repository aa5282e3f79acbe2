"""Declarative connector files: ``connectors/<name>.toml`` parsed into a ``ConnectorSpec``.

A new source system is a new file, not new code. Secrets never sit in the file: a
connection value is either plain (a folder, a host) or named by environment variable
with an ``_env`` suffix (``url_env = "CIRMS_DB_URL"``) and resolved only when the
connector runs. Errors name the file, the key and the reason::

    kind = "sql"
    description = "Customs Information and Risk Management System"
    classification = "restricted"
    schedule = "15m"

    [connection]
    url_env = "CIRMS_DB_URL"

    [[tables]]
    target = "raw.cirms_traders"
    source_table = "traders"          # or query = "SELECT ..."
    incremental = "updated_at"        # watermark column; omit for a full reload merged by key
    merge_keys = ["trader_id"]
    contract = "raw.cirms_traders"    # a table spec name, or inline [tables.columns]
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from workbench.errors import ConfigError
from workbench.lake.specs import Classification, ColumnSpec, TableSpec
from workbench.specfiles import read_toml, validated

SECRET_WORDS = ("password", "passwd", "secret", "token", "api_key", "apikey", "credential", "private_key")
"""Connection keys whose value must come from the environment, never from the file."""

_SCHEDULE = re.compile(r"^(manual|[0-9]+[smhd])$")


class TableSource(BaseModel):
    """One source table, query or file pattern and the lake table it lands in."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    target: str
    query: str | None = None
    source_table: str | None = None
    pattern: str | None = None
    format: Literal["csv", "jsonl", "parquet", "excel"] | None = None
    encoding: str = "utf-8"
    delimiter: str = ","
    incremental: str | None = None
    merge_keys: tuple[str, ...] = ()
    contract: str | None = None
    columns: dict[str, ColumnSpec] | None = None
    description: str = ""
    url: str | None = None
    """REST endpoint, feed or page, relative to the connection's ``base_url``."""
    records: str | None = None
    """Key of a REST page's JSON object that holds the records; None when the page is a list."""
    since_param: str | None = None
    """Query parameter a REST API takes the incremental watermark in."""
    document_kind: str = "document"
    """What a document kind's documents are (``press_release``, ``intel_note``, ...)."""
    deletes: Literal["keep", "reconcile"] = "keep"
    """``reconcile``: after each run, delete lake rows whose key the source no longer holds
    (for sources that delete rows without leaving a tombstone; the kind lists the keys)."""

    @model_validator(mode="after")
    def _check(self) -> TableSource:
        if self.contract and self.columns:
            raise ValueError("give either contract (a table spec name) or inline columns, not both")
        if self.query and self.source_table:
            raise ValueError("give either query or source_table, not both")
        if len(self.delimiter) != 1:
            raise ValueError("delimiter must be one character")
        return self


class ConnectorSpec(BaseModel):
    """A whole connector file: kind, connection, tables, classification, schedule, retries."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    kind: str
    description: str = ""
    classification: Classification = Classification.internal
    owner: str = "data-office"
    schedule: str = "manual"
    retries: int = Field(default=3, ge=0, le=20)
    backoff_seconds: float = Field(default=1.0, ge=0)
    connection: dict[str, str] = Field(default_factory=dict)
    allowed_hosts: tuple[str, ...] = ()
    """Web kinds: hosts (``host`` or ``host:port``) the fetcher may reach besides ``base_url``'s; only hosts
    listed here may resolve to private or loopback addresses (a demo site on 127.0.0.1, an intranet source),
    and then only on the port listed, else ``base_url``'s port for its own host, else 80 and 443."""
    snapshot: bool = True
    """Document kinds: the fetcher also makes a static image of each page (headless chromium) or picture."""
    javascript: bool = False
    """Web kinds: let a page's scripts run while chromium photographs it (never with any network)."""
    tables: tuple[TableSource, ...]
    source_file: str = "<inline>"

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        if not _SCHEDULE.match(value):
            raise ValueError("schedule must be 'manual' or an interval like '30s', '15m', '1h', '1d'")
        return value

    @field_validator("connection")
    @classmethod
    def _no_inline_secrets(cls, connection: dict[str, str]) -> dict[str, str]:
        for key, value in connection.items():
            if key.endswith("_env"):
                continue
            if any(word in key.lower() for word in SECRET_WORDS):
                raise ValueError(f"{key}: secrets must not be inline; use {key}_env = \"ENV_VAR_NAME\"")
            if "://" in value and urlsplit(value).password:
                raise ValueError(f"{key}: the URL carries an inline password; use {key}_env = \"ENV_VAR_NAME\"")
        return connection

    @property
    def interval_seconds(self) -> float | None:
        """The schedule as seconds between runs; None for manual connectors."""
        if self.schedule == "manual":
            return None
        unit = {"s": 1, "m": 60, "h": 3600, "d": 86400}[self.schedule[-1]]
        return float(self.schedule[:-1]) * unit

    def resolve_connection(self, env: Mapping[str, str]) -> dict[str, str]:
        """Connection values with every ``<key>_env`` replaced by ``<key>`` from ``env``."""
        resolved: dict[str, str] = {}
        for key, value in self.connection.items():
            if key.endswith("_env"):
                if value not in env:
                    raise ConfigError(f"{self.source_file}: connection.{key}: environment variable {value} is not set")
                resolved[key.removesuffix("_env")] = env[value]
            else:
                resolved[key] = value
        return resolved

    def table_spec(self, source: TableSource, known: Mapping[str, TableSpec]) -> TableSpec | None:
        """The contract of a target table: named spec, inline columns, the target's own spec, or None.

        None means the lake infers types from the data (all columns nullable).
        """
        if source.contract:
            if source.contract not in known:
                raise ConfigError(f"{self.source_file}: tables[{source.target}].contract: "
                                  f"no table spec named {source.contract!r}")
            spec = known[source.contract]
            if spec.name != source.target:
                spec = spec.model_copy(update={"name": source.target})
            return spec
        if source.columns:
            return TableSpec(name=source.target, description=source.description or self.description,
                             classification=self.classification, owner=self.owner,
                             key=source.merge_keys, columns=source.columns)
        return known.get(source.target)


def parse_connector(text: str, source_file: str, default_name: str) -> ConnectorSpec:
    """Parse one connector file; errors name the file, the key and the reason."""
    data = read_toml(text, source_file)
    return validated(ConnectorSpec, {"name": default_name, **data, "source_file": source_file}, source_file)


def load_connectors(paths: Iterable[Path]) -> dict[str, ConnectorSpec]:
    """Load connector files (each ``<name>.toml``); a name used twice is an error."""
    specs: dict[str, ConnectorSpec] = {}
    for path in sorted(Path(p) for p in paths):
        spec = parse_connector(path.read_text(encoding="utf-8"), str(path), path.stem)
        if spec.name in specs:
            raise ConfigError(f"{path}: name: connector {spec.name!r} is also defined in "
                              f"{specs[spec.name].source_file}")
        specs[spec.name] = spec
    return specs


def load_connector_dir(folder: Path) -> dict[str, ConnectorSpec]:
    """All ``*.toml`` connector files of a folder (``connectors/`` by default)."""
    if not folder.is_dir():
        raise ConfigError(f"{folder}: connector folder does not exist")
    return load_connectors(folder.glob("*.toml"))
