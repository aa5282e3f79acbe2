"""The graph area's lake tables; their specs live next to this module in ``tables.toml``."""

from __future__ import annotations

from importlib import resources

from workbench.lake import Lake, TableSpec
from workbench.lake.specs import parse_specs

ENTITIES = "curated.resolved_entities"
OVERRIDES = "curated.entity_overrides"
NODES = "curated.graph_nodes"
EDGES = "curated.graph_edges"
EVIDENCE = "curated.graph_evidence"


def graph_specs() -> dict[str, TableSpec]:
    text = (resources.files("workbench.graph") / "tables.toml").read_text(encoding="utf-8")
    return parse_specs(text, "workbench/graph/tables.toml")


def install(lake: Lake) -> Lake:
    """Make the lake know the graph tables' specs (idempotent)."""
    for name, spec in graph_specs().items():
        lake.specs.setdefault(name, spec)
    return lake
