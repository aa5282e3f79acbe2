"""Suspected smuggling networks: communities of the evidence graph, ranked, each with its reasons.

A network is a Louvain community. It ranks by the risk that reaches it from case files
(personalised PageRank), by what its members share (a phone or an address used by
several entities is the classic front-company signature) and by findings against its
members' shipments (inspection discrepancies and seizures in curated declarations and
crossings). Every reason is a sentence an analyst can check against the evidence tables.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import networkx as nx

from workbench.explore import Session
from workbench.graph.analytics import communities, known_offenders, risk
from workbench.graph.build import load_graph

OUTPUT_KINDS = ("trader", "person", "vehicle", "phone", "address", "broker")


@dataclass(frozen=True)
class Member:
    kind: str
    source_ids: list[str]


@dataclass(frozen=True)
class Network:
    """One suspected network, in the shape ``network detect --output`` writes."""

    id: str
    score: float
    reasons: list[str]
    members: list[Member] = field(default_factory=list)


def findings_by_node(wb: Session) -> dict[str, int]:
    """Inspection discrepancies and seizures per trader id and per vehicle node (curated, not truth)."""
    frame = wb.sql("""
        SELECT trader_id AS ref, count(*) AS n FROM curated.declarations
          WHERE inspection_result IN ('discrepancy', 'seizure') GROUP BY 1
        UNION ALL SELECT 'vehicle:' || plate, count(*) FROM curated.crossings
          WHERE inspection_result IN ('discrepancy', 'seizure') GROUP BY 1""")
    return dict(frame.iter_rows())


def _members(graph: nx.Graph, nodes: set[str]) -> list[Member]:
    out = []
    for kind in OUTPUT_KINDS:
        for node in sorted(v for v in nodes if graph.nodes[v]["kind"] == kind):
            ids = [i for i in graph.nodes[node]["source_ids"] if i]
            if ids:
                out.append(Member(kind, ids))
    return out


def detect(wb: Session, top: int = 20, min_size: int = 3, seed: int = 7) -> list[Network]:
    """The ``top`` most suspicious networks, best first."""
    graph = load_graph(wb)
    offenders = known_offenders(wb)
    heat = risk(graph, offenders)
    findings = findings_by_node(wb)
    networks = []
    for nodes in communities(graph, seed=seed):
        if len(nodes) < min_size:
            continue
        sub = graph.subgraph(nodes)
        entities = [v for v in nodes if graph.nodes[v]["kind"] in ("trader", "broker", "company", "person")]
        shared = [v for v in nodes if graph.nodes[v]["kind"] in ("phone", "address")
                  and sum(1 for u in sub.neighbors(v) if u in entities) >= 2]
        named = [v for v in nodes if v in offenders]
        hits = sum(findings.get(i, 0) for v in nodes for i in graph.nodes[v]["source_ids"]) + sum(
            findings.get(v, 0) for v in nodes)
        mass = sum(heat.get(v, 0.0) for v in nodes)
        score = 10 * mass + 0.5 * len(named) + 0.3 * len(shared) + 0.2 * hits
        reasons = [f"receives {mass:.1%} of the risk propagated from case files (personalised PageRank)"]
        if named:
            reasons.append(f"{len(named)} member(s) named in case files as arrested, suspect or offending company")
        if shared:
            reasons.append(f"{len(shared)} phone(s)/address(es) shared by several members")
        if hits:
            reasons.append(f"{hits} inspection discrepancy/seizure finding(s) on members' declarations or crossings")
        network_id = "NET-" + hashlib.sha1("|".join(sorted(nodes)).encode()).hexdigest()[:10]
        networks.append(Network(network_id, round(score, 4), reasons, _members(graph, set(nodes))))
    return sorted(networks, key=lambda n: n.score, reverse=True)[:top]


def write_networks(networks: list[Network], path: Path) -> None:
    """Write the JSON list ``[{"id", "score", "reasons", "members": [{"kind", "source_ids"}]}]``."""
    path.write_text(json.dumps([asdict(n) for n in networks], ensure_ascii=False, indent=1), encoding="utf-8")
