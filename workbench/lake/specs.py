"""Declarative table specs: what a lake table is, who owns it and what its rows must obey.

A spec is data (TOML), parsed into typed objects and compiled by ``contracts.py`` into a
pandera schema, the way splink compiles one settings object to SQL. Standard tables ship
their specs in ``workbench/lake/tables/<zone>.toml``; connectors and analysts can bring
their own. File format::

    [tables."raw.tdec_declarations"]
    description = "Trade declarations as lodged ..."
    classification = "internal"        # public | internal | restricted | secret
    owner = "trade-declarations"
    key = ["declaration_id"]           # unique, non-null; merge key
    sql = "SELECT ..."                 # curated tables only: how raw becomes curated

    [tables."raw.tdec_declarations".columns]
    declaration_id = { type = "string", pattern = "^D[0-9]{10}$" }
    declared_value = { type = "float64", min = 0 }
    currency = { type = "string", isin = ["HKD", "USD", "CNY"] }
    remarks = { type = "string", nullable = true }
    transport_id = { type = "string", semantic = "plate" }   # what the value means

``semantic`` names what a column carries (person_name, identity_document, phone, plate,
address ...); the access policy masks by those types, so a plate is masked wherever a
spec says a column holds one, whatever the column is called.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Literal

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, model_validator

from workbench.errors import ConfigError
from workbench.lake.zones import ZONES, Classification
from workbench.specfiles import read_toml, validated


ColumnType = Literal["string", "int64", "float64", "bool", "date", "timestamp"]

ARROW_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "int64": pa.int64(),
    "float64": pa.float64(),
    "bool": pa.bool_(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us"),
}


class ColumnSpec(BaseModel):
    """Type and rules of one column; every rule is checked per row."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: ColumnType
    nullable: bool = False
    min: float | None = None
    max: float | None = None
    isin: tuple[str, ...] | None = None
    pattern: str | None = None
    semantic: str | None = None
    """What the values mean for the access policy (``policy.toml`` [[masks]] types)."""
    description: str = ""

    @property
    def arrow_type(self) -> pa.DataType:
        return ARROW_TYPES[self.type]


class TableSpec(BaseModel):
    """Everything the lake needs to know about one table before any row arrives."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    description: str
    classification: Classification = Classification.internal
    owner: str = "data-office"
    key: tuple[str, ...] = ()
    columns: dict[str, ColumnSpec] = Field(default_factory=dict)
    sql: str | None = None

    @model_validator(mode="after")
    def _check(self) -> TableSpec:
        zone, _, short = self.name.partition(".")
        if zone not in ZONES or not short:
            raise ValueError(f"name must be <zone>.<table> with zone in {ZONES}")
        missing = [k for k in self.key if k not in self.columns]
        if self.columns and missing:
            raise ValueError(f"key columns {missing} are not declared in columns")
        return self

    @property
    def zone(self) -> str:
        return self.name.partition(".")[0]

    def arrow_schema(self) -> pa.Schema:
        """The schema a conforming batch has; key columns are never nullable."""
        return pa.schema(
            [
                pa.field(col, spec.arrow_type, nullable=spec.nullable and col not in self.key)
                for col, spec in self.columns.items()
            ]
        )


def parse_specs(text: str, source: str) -> dict[str, TableSpec]:
    """Parse one spec file; errors name the file, the table key and the reason."""
    tables = read_toml(text, source).get("tables")
    if not isinstance(tables, Mapping):
        raise ConfigError(f"{source}: expected a [tables.\"<zone>.<name>\"] section")
    specs: dict[str, TableSpec] = {}
    for name, body in tables.items():
        specs[name] = validated(TableSpec, {"name": name, **body}, source, at=f"tables.{name}")
    return specs


def merge_specs(sources: Iterable[tuple[str, str]]) -> dict[str, TableSpec]:
    """Parse ``(text, source name)`` pairs and merge them; a table declared twice is an error."""
    merged: dict[str, TableSpec] = {}
    for text, source in sources:
        for name, spec in parse_specs(text, source).items():
            if name in merged:
                raise ConfigError(f"{source}: table {name!r} is declared more than once")
            merged[name] = spec
    return merged


def load_spec_files(paths: Iterable[Path]) -> dict[str, TableSpec]:
    """Load and merge spec files from disk (connectors, deployments)."""
    return merge_specs((Path(p).read_text(encoding="utf-8"), str(p)) for p in paths)


def standard_specs() -> dict[str, TableSpec]:
    """Specs of every table the workbench itself produces.

    The lake's own (``workbench/lake/tables/*.toml``: raw demo sources, curated, truth,
    system) and each area's (``workbench/<area>/tables.toml``: ingest run log, graph
    tables, ...), so every ``Lake`` knows them all without areas registering themselves.
    """
    root = resources.files("workbench")
    lake_files = sorted((f for f in (root / "lake" / "tables").iterdir() if f.name.endswith(".toml")),
                        key=lambda f: f.name)
    sources = [(f.read_text(encoding="utf-8"), f"workbench/lake/tables/{f.name}") for f in lake_files]
    for area in sorted((d for d in root.iterdir() if d.is_dir()), key=lambda d: d.name):
        spec_file = area / "tables.toml"
        if spec_file.is_file():
            sources.append((spec_file.read_text(encoding="utf-8"), f"workbench/{area.name}/tables.toml"))
    return merge_specs(sources)
