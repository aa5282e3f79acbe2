"""Graph analytics an analyst asks of the evidence graph.

Thin, typed wrappers over NetworkX that fix the choices that matter here: edge weight is
evidence strength; betweenness is sampled (``k`` pivots) because exact betweenness is
cubic; risk is personalised PageRank seeded on known offenders (case files' parties and
the entities behind officers' confirmed hits), so risk flows from them along evidence to the
entities around them.
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


CLEARANCE_RESULTS = "curated.clearance_results"
"""Officers' clearance decisions, written through the officer's session by the clearance app."""
HIT_RESULTS = ("discrepancy", "seizure")
"""Inspection results that confirm an offence."""

CASE_OFFENDERS = f"""SELECT e.entity_id, min(c.opened_on) AS since FROM {ENTITIES} e
    JOIN curated.case_parties p ON e.source_table = 'case_parties' AND e.source_id = p.party_id
    LEFT JOIN curated.cases c ON c.case_id = p.case_id
    WHERE p.role IN ({", ".join(f"'{r}'" for r in OFFENDER_ROLES)}) GROUP BY e.entity_id"""
HIT_OFFENDERS = f"""WITH hits AS (
      SELECT record_id, kind, CAST(decided_at AS DATE) AS since FROM {CLEARANCE_RESULTS}
      WHERE decision = 'inspect' AND result IN ({", ".join(f"'{r}'" for r in HIT_RESULTS)})),
    crossed AS (SELECT c.*, h.since FROM hits h JOIN curated.crossings c ON h.kind = 'crossing' AND c.crossing_id = h.record_id),
    consignees AS (SELECT name_norm, min(trader_id) AS trader_id FROM curated.traders
      WHERE name_norm IS NOT NULL GROUP BY 1 HAVING count(*) = 1),
    refs AS (
      SELECT 'traders' AS source_table, d.trader_id AS source_id, h.since FROM hits h
        JOIN curated.declarations d ON h.kind = 'declaration' AND d.declaration_id = h.record_id
      UNION ALL SELECT 'vehicles', plate, since FROM crossed
      UNION ALL SELECT 'drivers', driver_id, since FROM crossed
      UNION ALL SELECT 'traders', n.trader_id, x.since FROM crossed x JOIN consignees n ON n.name_norm = x.consignee_name_norm)
    SELECT e.entity_id, min(r.since) AS since FROM refs r
      JOIN {ENTITIES} e ON e.source_table = r.source_table AND e.source_id = r.source_id GROUP BY 1
    UNION ALL SELECT 'vehicle:' || plate, min(since) FROM crossed GROUP BY 1"""
"""Entities of records an officer inspected and found a hit on: a declaration's trader; a crossing's vehicle
(its node and its owner), driver and consignee company (the one trader of that normalised name)."""
HIT_TABLES = (CLEARANCE_RESULTS, "curated.declarations", "curated.crossings", "curated.traders")


def offender_dates(wb: Session) -> pl.DataFrame:
    """Known offenders of the evidence graph with the day each became one: ``entity_id``, ``since`` (date),
    ``why`` (``case`` or ``hit``), one row per entity and reason.

    Two sources, both curated (never truth): parties named in a case file as arrested,
    suspect or offending company (from the day the case was opened), and the entities of a
    record an officer inspected and recorded as a hit (a discrepancy or seizure, in
    ``curated.clearance_results``; from the day of the decision), so the live loop's
    confirmed hits raise the risk of the network around them like a case does. Dated, so
    a model's network features can replay them in time (``risk.network``).
    """
    tables = set(wb.tables()["name"].to_list())
    frames = []
    if {ENTITIES, "curated.case_parties", "curated.cases"} <= tables:
        frames.append(wb.sql(CASE_OFFENDERS).with_columns(why=pl.lit("case")))
    if {ENTITIES, *HIT_TABLES} <= tables:
        frames.append(wb.sql(HIT_OFFENDERS).with_columns(why=pl.lit("hit")))
    schema = {"entity_id": pl.Utf8, "since": pl.Date, "why": pl.Utf8}
    return pl.concat([f.cast(schema) for f in frames]) if frames else pl.DataFrame(schema=schema)


def known_offenders(wb: Session) -> set[str]:
    """Entities named in a case file as arrested, suspect or offending company, or behind an officer's confirmed
    hit (``offender_dates``)."""
    return set(offender_dates(wb)["entity_id"].to_list())


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
