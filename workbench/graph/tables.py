"""The graph area's lake tables; their specs live next to this module in ``tables.toml``
(every lake loads them, see ``workbench.lake.specs.standard_specs``)."""

from __future__ import annotations

ENTITIES = "curated.resolved_entities"
OVERRIDES = "curated.entity_overrides"
NODES = "curated.graph_nodes"
EDGES = "curated.graph_edges"
EVIDENCE = "curated.graph_evidence"
