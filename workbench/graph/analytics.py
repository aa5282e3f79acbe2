"""Graph analytics an analyst asks of the evidence graph.

Thin, typed wrappers over NetworkX that fix the choices that matter here: edge weight is
evidence strength; betweenness is sampled (``k`` pivots) because exact betweenness is
cubic; risk is personalised PageRank seeded on known offenders, so risk flows from case
files along evidence to the entities around them.
"""

from __future__ import annotations

from datetime import date

import networkx as nx
import polars as pl

from workbench.session import Session
from workbench.graph.tables import ENTITIES

OFFENDER_ROLES = ("arrested", "suspect", "company")


def communities(graph: nx.Graph, seed: int = 7, resolution: float = 1.0) -> list[set[str]]:
    """Louvain communities on evidence weight, largest first (deterministic for a seed)."""
    found = nx.community.louvain_communities(graph, weight="weight", seed=seed, resolution=resolution)
    return sorted(found, key=len, reverse=True)


def centrality(graph: nx.Graph, k: int = 256, seed: int = 7) -> pl.DataFrame:
    """Degree, sampled betweenness and PageRank per node."""
    n = graph.number_of_nodes()
    betweenness = nx.betweenness_centrality(graph, k=min(k, n), seed=seed) if n else {}
    pagerank = nx.pagerank(graph, weight="weight") if n else {}
    return pl.DataFrame({
        "node_id": list(graph.nodes),
        "degree": [graph.degree(v) for v in graph.nodes],
        "betweenness": [betweenness.get(v, 0.0) for v in graph.nodes],
        "pagerank": [pagerank.get(v, 0.0) for v in graph.nodes],
    }, schema={"node_id": pl.Utf8, "degree": pl.Int64, "betweenness": pl.Float64, "pagerank": pl.Float64})


def known_offenders(wb: Session) -> set[str]:
    """Entities named in a case file as arrested, suspect or offending company (from curated.case_parties)."""
    frame = wb.sql(f"""SELECT DISTINCT e.entity_id FROM {ENTITIES} e
        JOIN curated.case_parties p ON e.source_table = 'case_parties' AND e.source_id = p.party_id
        WHERE p.role IN ({", ".join(f"'{r}'" for r in OFFENDER_ROLES)})""")
    return set(frame["entity_id"].to_list())


def risk(graph: nx.Graph, offenders: set[str], alpha: float = 0.85) -> dict[str, float]:
    """Personalised PageRank from offenders: how much of their risk reaches each node (sums to 1)."""
    seeds = {v: 1.0 for v in offenders if v in graph}
    if not seeds:
        return dict.fromkeys(graph.nodes, 0.0)
    return nx.pagerank(graph, alpha=alpha, personalization=seeds, weight="weight")


def k_core(graph: nx.Graph, k: int) -> nx.Graph:
    """The maximal subgraph where every node has at least ``k`` neighbours: the dense heart of a network."""
    return nx.k_core(graph, k)


def shortest_path(graph: nx.Graph, source: str, target: str) -> list[str]:
    """The strongest-evidence path (edge length = 1/weight); empty when the two are not connected."""
    try:
        return nx.shortest_path(graph, source, target, weight=lambda u, v, d: 1.0 / d["weight"])
    except (nx.NetworkXNoPath, nx.NodeNotFound):
        return []


def ego_network(graph: nx.Graph, node: str, hops: int = 2, start: date | None = None, end: date | None = None) -> nx.Graph:
    """Everything within ``hops`` of ``node`` using only evidence active in ``[start, end]``."""
    scoped = active_between(graph, start, end) if (start or end) else graph
    if node not in scoped:
        return nx.Graph()
    return nx.ego_graph(scoped, node, radius=hops)


def active_between(graph: nx.Graph, start: date | None, end: date | None) -> nx.Graph:
    """The subgraph of edges with evidence inside ``[start, end]`` (undated edges are kept: they are standing facts)."""
    keep = []
    for u, v, data in graph.edges(data=True):
        for rel in data["relations"]:
            first, last = rel["first_seen"], rel["last_seen"]
            if first is None or ((end is None or first <= end) and (start is None or last >= start)):
                keep.append((u, v))
                break
    return graph.edge_subgraph(keep).copy()
