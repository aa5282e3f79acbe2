"""The evidence graph's whole-graph figures (compact CSR form), note co-mention edges and incremental builds."""

from __future__ import annotations

from datetime import date, timedelta

import networkx as nx
import numpy as np
import polars as pl
import pytest

from tests.conftest import world_copy
from workbench.session import Session
from workbench.graph.analytics import active_between, known_offenders
from workbench.graph.build import EvidenceGraph, build_graph, edge_records
from workbench.graph.compact import CompactGraph
from workbench.graph.resolution import resolve
from workbench.nlp.extract import Extractor, update_mentions
from workbench.nlp.gazetteer import Gazetteer


def _random_edges(seed: int = 3, n: int = 400, m: int = 1600) -> pl.DataFrame:
    """Random weighted edges with repeated pairs (several relations), dates, and some undated rows."""
    rng = np.random.default_rng(seed)
    first = [date(2024, 1, 1) + timedelta(days=int(d)) for d in rng.integers(0, 365, m)]
    undated = rng.random(m) < 0.1
    return pl.DataFrame({
        "source": [f"n{u}" for u in rng.integers(0, n, m)], "target": [f"n{v}" for v in rng.integers(0, n, m)],
        "relation": rng.choice(["has_phone", "drove", "co_party"], m).tolist(),
        "weight": rng.random(m) + 0.1,
        "first_seen": [None if u else d for u, d in zip(undated, first, strict=True)],
        "last_seen": [None if u else d + timedelta(days=30) for u, d in zip(undated, first, strict=True)],
    })


def _reference(edges: pl.DataFrame) -> nx.Graph:
    """The same graph built edge by edge in NetworkX, with the relations kept (as ``to_networkx`` does)."""
    graph = nx.Graph()
    for row in edges.filter(pl.col("source") != pl.col("target")).iter_rows(named=True):
        u, v = row["source"], row["target"]
        if graph.has_edge(u, v):
            graph.edges[u, v]["weight"] += row["weight"]
            graph.edges[u, v]["relations"].append(row)
        else:
            graph.add_edge(u, v, weight=row["weight"], relations=[row])
    return graph


def test_compact_graph_agrees_with_networkx() -> None:
    edges = _random_edges()
    compact, graph = CompactGraph.from_edges(edges), _reference(edges)
    assert (compact.n_nodes, compact.n_edges) == (graph.number_of_nodes(), graph.number_of_edges())
    assert dict(zip(compact.node_ids, compact.degree().tolist(), strict=True)) == dict(graph.degree())
    seeds = {"n1": 1.0, "n7": 1.0}
    for ours, theirs in ((compact.pagerank(), nx.pagerank(graph, weight="weight")),
                         (compact.pagerank(seeds), nx.pagerank(graph, personalization=seeds, weight="weight"))):
        assert max(abs(ours[compact.index[v]] - p) for v, p in theirs.items()) < 1e-9
    window = (date(2024, 3, 1), date(2024, 4, 30))
    scoped = active_between(graph, *window)
    scoped.add_nodes_from(graph)
    for hops in (1, 2):
        plain = {compact.node_ids[c] for c in compact.ego("n5", hops)}
        assert plain == set(nx.ego_graph(graph, "n5", radius=hops))
        windowed = compact.ego("n5", hops, *window)
        expected = nx.ego_graph(scoped, "n5", radius=hops)
        assert {compact.node_ids[c] for c in windowed} == set(expected)
        sub = compact.to_networkx(windowed, *window)
        assert {frozenset(e) for e in sub.edges} == {frozenset(e) for e in expected.edges}
    assert compact.ego("nobody").size == 0


def test_compact_communities_are_seeded_and_as_good_as_louvain() -> None:
    edges = _random_edges(seed=5, n=300, m=900)
    compact, graph = CompactGraph.from_edges(edges), _reference(edges)
    labels = compact.communities(seed=11)
    assert np.array_equal(labels, compact.communities(seed=11)), "same seed, same partition"
    sizes = np.bincount(labels)
    assert list(sizes) == sorted(sizes, reverse=True), "community 0 is the largest"
    parts = [{compact.node_ids[c] for c in np.flatnonzero(labels == k)} for k in range(len(sizes))]
    louvain = nx.community.louvain_communities(graph, weight="weight", seed=11)
    assert nx.community.modularity(graph, parts) >= nx.community.modularity(graph, louvain) - 0.02


@pytest.fixture(scope="module")
def noted_world(tiny_world: Session, tmp_path_factory: pytest.TempPathFactory) -> Session:
    """A private copy of the tiny world, resolved, with mentions extracted from its documents (rules only)."""
    wb = world_copy(tiny_world, tmp_path_factory.mktemp("graph_scale"))
    resolve(wb)
    update_mentions(wb, Extractor(Gazetteer.from_lake(wb)))
    return wb


@pytest.fixture(scope="module")
def noted_graph(noted_world: Session) -> EvidenceGraph:
    return build_graph(noted_world)


def test_notes_link_what_they_mention_together(noted_world: Session, noted_graph: EvidenceGraph) -> None:
    edges = noted_graph.edges.filter(pl.col("relation") == "co_mentioned")
    assert edges.height > 0
    mentions = noted_world.sql("SELECT doc_id, label, value FROM curated.document_mentions")
    edge = edges.sort("n_records", descending=True).row(0, named=True)
    records = edge_records(noted_world, edge["source"], edge["target"])
    docs = records["documents.index"]
    assert docs.height == edge["n_records"]
    # every note behind the edge names both ends: a trader by its gazetteer id, a phone or plate by value
    for doc_id in docs["doc_id"]:
        named = mentions.filter(pl.col("doc_id") == doc_id)
        for end in (edge["source"], edge["target"]):
            node = noted_graph.graph.nodes[end]
            ids = set(node["source_ids"]) | {node["label"]}
            digits = {"".join(ch for ch in i if ch.isdigit()) for i in ids}
            assert set(named["value"]) & ids or {"".join(ch for ch in v if ch.isdigit()) for v in named["value"]} & digits
    phones = noted_graph.nodes.filter(pl.col("kind") == "phone")["node_id"]
    registered = set(noted_world.sql("SELECT 'phone:' || phone AS p FROM curated.traders")["p"])
    mentioned_phones = {n for n in edges["source"].to_list() + edges["target"].to_list() if n.startswith("phone:")}
    assert mentioned_phones <= set(phones) and (mentioned_phones & registered), "mentioned phones join register nodes"


def test_nodes_carry_whole_graph_figures(noted_world: Session, noted_graph: EvidenceGraph) -> None:
    nodes = noted_graph.nodes
    assert {"degree", "pagerank", "risk", "community"} <= set(nodes.columns)
    assert nodes["pagerank"].sum() == pytest.approx(1.0) and nodes["risk"].sum() == pytest.approx(1.0)
    offenders = known_offenders(noted_world) & set(nodes["node_id"])
    assert offenders
    ranked = nodes.sort("risk", descending=True)["node_id"].head(len(offenders)).to_list()
    assert len(offenders & set(ranked)) >= len(offenders) // 2, "risk concentrates on and around offenders"
    degree = dict(noted_graph.graph.degree())
    assert all(degree[n] == d for n, d in nodes.select("node_id", "degree").iter_rows())
    stored = noted_world.table("curated.graph_nodes")
    assert stored.select("node_id", "community").sort("node_id").equals(nodes.select("node_id", "community").sort("node_id"))


def test_build_reuses_the_stored_graph_until_an_input_changes(noted_world: Session, noted_graph: EvidenceGraph) -> None:
    again = build_graph(noted_world)
    assert again.reused and again.edges.sort("edge_id").equals(noted_graph.edges.sort("edge_id"))
    assert not build_graph(noted_world, force=True).reused
    noted_world.write(noted_world.table("curated.document_mentions"), "curated.document_mentions", mode="overwrite")
    rebuilt = build_graph(noted_world)
    assert not rebuilt.reused, "a new version of an input table rebuilds"
    assert build_graph(noted_world).reused
