"""Smuggling networks on the tiny world: resolution quality, overrides, provenance, detect output, ring recall, views."""

from __future__ import annotations

import json
from pathlib import Path

import holoviews as hv
import networkx as nx
import polars as pl
import pytest
from bokeh.models import HoverTool
from click.testing import CliRunner

from workbench.cli.main import main
from tests.conftest import world_copy
from workbench.session import Session
from workbench.graph.build import EvidenceGraph, build_graph
from workbench.graph.detect import attached, detection_graph, tight_groups, with_chosen_hubs, with_directors
from workbench.graph.linker import best_register_links, cluster, initial_keys
from workbench.graph.names import fold, name_keys
from workbench.graph.overrides import record_override
from workbench.graph.resolution import Resolution, resolve
from workbench.graph.scoring import exact_name_clusters, pairwise_score, resolved_clusters, ring_score, truth_clusters
from workbench.graph.views import entity_activity, entity_timeline, network_plot

RING_RECALL_FLOOR = 0.75  # measured 4/4 rings found in the top 10 at seed 7, scale 0.02
MEMBER_RECALL_FLOOR = 0.85  # measured 0.93-0.94 (0.93 before directors and chosen hubs; 0.92 before case files
# were one node each)
MEMBER_PRECISION_FLOOR = 0.70  # measured 0.75-0.80 between runs (0.79-0.80 with directors and chosen hubs; CI: .748
# once): 0.89 before case files were one node each, which lifts it at scale 1 (fit seeds .83 -> .93;
# benchmarks/bench_graph.py) but not on this 0.02-scale world; 0.78 before one model per kind

SOURCE_KEYS = {
    "trader": [("curated.traders", "trader_id")], "broker": [("curated.brokers", "broker_id")],
    "person": [("curated.people", "person_id"), ("curated.drivers", "driver_id")],
    "vehicle": [("curated.vehicles", "plate")], "address": [("curated.addresses", "address_id")],
    "phone": [("curated.traders", "phone"), ("curated.brokers", "phone"), ("curated.people", "phone"),
              ("curated.drivers", "phone"), ("curated.vehicles", "owner_phone")],
}


@pytest.fixture(scope="module")
def world(tiny_world: Session, tmp_path_factory: pytest.TempPathFactory) -> Session:
    """A private copy of the tiny world, so graph tables written here do not leak into other tests."""
    return world_copy(tiny_world, tmp_path_factory.mktemp("graph"))


@pytest.fixture(scope="module")
def resolution(world: Session) -> Resolution:
    return resolve(world)


def _ids(wb: Session, table: str, column: str) -> set[str]:
    return set(wb.sql(f"SELECT DISTINCT {column} AS v FROM {table}")["v"].to_list())


def test_name_keys_bridge_abbreviation_chinese_and_romanisation() -> None:
    english, chinese, simplified = (name_keys([n]) for n in ("Wing Fat Trdg Co., Ltd", "永發貿易有限公司", "永发贸易有限公司"))
    assert english.key_en == chinese.key_yue == simplified.key_yue == "WING FAT TRADING"
    assert chinese.key_cmn == "YONG FA TRADING", "mainland spelling comes from the Mandarin reading"
    assert name_keys(["Wing Fat Logistics Ltd"]).trade != english.trade, "a near-name distractor keeps its trade word"
    assert name_keys(["CHAN Tai-man"]).key_en == name_keys(["Tai Man Chan"]).key_en == name_keys(["陳大文"]).key_yue
    assert fold("TSANG") == fold("CHANG") and fold("LEE") == fold("LI") and fold("FOOK") == fold("FUK")
    assert name_keys(["Shenzhen Huaqiang Electronics Co Ltd"]).brand_en == name_keys(["深圳市華強電子有限公司"]).brand_cmn


def test_resolution_beats_the_exact_name_baseline(world: Session, resolution: Resolution) -> None:
    truth = truth_clusters(world.table("truth.entities"))
    ours = pairwise_score(resolved_clusters(resolution.members), truth)
    baseline = pairwise_score(exact_name_clusters(resolution.members), truth)
    print(f"\nER tiny world: ours P={ours.precision:.3f} R={ours.recall:.3f} F1={ours.f1:.3f}; "
          f"baseline P={baseline.precision:.3f} R={baseline.recall:.3f} F1={baseline.f1:.3f}")
    assert ours.f1 > baseline.f1 + 0.3
    assert ours.precision >= 0.9 and ours.recall > baseline.recall


def test_a_chinese_only_company_is_linked_to_its_english_records(world: Session, resolution: Resolution) -> None:
    truth = truth_clusters(world.table("truth.entities")).rename({"cluster": "truth"})
    members = resolved_clusters(resolution.members.filter(pl.col("kind") == "company")).join(truth, on="record")
    names = resolution.members.select(pl.concat_str("source_system", "source_id", "kind", separator="/").alias("record"), "name")
    members = members.join(names, on="record")
    chinese = members.filter(pl.col("name").str.contains(r"\p{Han}"))
    english = members.filter(~pl.col("name").str.contains(r"\p{Han}"))
    pairs = chinese.join(english, on="truth", suffix="_en")
    assert pairs.height > 0, "the tiny world has Chinese-only company mentions"
    linked = pairs.filter(pl.col("cluster") == pl.col("cluster_en"))
    assert linked.height / pairs.height >= 0.8


def test_overrides_persist_across_reruns(world: Session, resolution: Resolution) -> None:
    members = resolution.members
    sizes = members.group_by("entity_id").len()
    pair_entity = sizes.filter(pl.col("len") == 2)["entity_id"][0]
    left, right = members.filter(pl.col("entity_id") == pair_entity)["unique_id"].to_list()
    singles = members.join(sizes.filter(pl.col("len") == 1), on="entity_id").filter(pl.col("kind") == "person")
    a, b = singles["unique_id"].to_list()[:2]
    record_override(world, left, right, "reject", note="different people")
    review = CliRunner().invoke(main, ["network", "review", "accept", a, b, "--note", "same person, seen on CCTV",
                                       "--lake", world.settings.lake])
    assert review.exit_code == 0, review.output
    for _ in range(2):  # the decisions hold on every re-run
        entity = dict(resolve(world).members.select("unique_id", "entity_id").iter_rows())
        assert entity[left] != entity[right]
        assert entity[a] == entity[b]
    stored = world.table("curated.entity_overrides")
    assert stored.height == 2 and set(stored["decision"]) == {"accept", "reject"}


def test_every_edge_traces_back_to_source_records(world: Session, resolution: Resolution) -> None:
    graph = build_graph(world)
    assert graph.graph.number_of_edges() > 0
    assert set(graph.edges["edge_id"]) == set(graph.evidence["edge_id"])
    keys = {"curated.traders": "trader_id", "curated.brokers": "broker_id", "curated.people": "person_id",
            "curated.drivers": "driver_id", "curated.vehicles": "plate", "curated.declarations": "declaration_id",
            "curated.crossings": "crossing_id", "curated.cash_declarations": "declaration_id", "curated.cases": "case_id"}
    for table, group in graph.evidence.group_by("source_table"):
        assert set(group["record_id"]) <= _ids(world, table[0], keys[table[0]]), table[0]
    counts = graph.evidence.group_by("edge_id").len().join(graph.edges.select("edge_id", "n_records"), on="edge_id")
    assert (counts["len"] == counts["n_records"]).all()
    assert world.table("curated.graph_edges").height == graph.edges.height


def test_detect_writes_the_json_contract_with_real_source_ids(world: Session, tmp_path: Path) -> None:
    out = tmp_path / "networks.json"
    lake = str(world.settings.lake)
    runner = CliRunner()
    for args in (["network", "resolve", "--lake", lake], ["network", "build", "--lake", lake],
                 ["network", "detect", "--lake", lake, "--output", str(out), "--top", "10"]):
        result = runner.invoke(main, args)
        assert result.exit_code == 0, result.output
    networks = json.loads(out.read_text(encoding="utf-8"))
    assert isinstance(networks, list) and networks
    for net in networks:
        assert set(net) == {"id", "score", "reasons", "members"}
        assert isinstance(net["score"], float) and net["reasons"] and all(isinstance(r, str) for r in net["reasons"])
        for member in net["members"]:
            assert set(member) == {"kind", "source_ids"} and member["kind"] in SOURCE_KEYS
            known = set().union(*(_ids(world, t, c) for t, c in SOURCE_KEYS[member["kind"]]))
            assert set(member["source_ids"]) <= known
    assert [n["score"] for n in networks] == sorted((n["score"] for n in networks), reverse=True)

    score = ring_score(networks, world.table("truth.rings"))
    print(f"\nrings found in top 10: {score.found}/{score.rings}; member recall {score.member_recall:.2f}, "
          f"precision {score.member_precision:.2f}")
    assert score.ring_recall >= RING_RECALL_FLOOR
    assert score.member_recall >= MEMBER_RECALL_FLOOR
    assert score.member_precision >= MEMBER_PRECISION_FLOOR


def _ring(graph: nx.Graph, name: str, size: int = 6) -> list[str]:
    """A dense little ring: every member tied to the next two by a shared phone's worth of evidence."""
    members = [f"{name}{i}" for i in range(size)]
    for i, v in enumerate(members):
        graph.add_node(v, kind="trader", label=v, source_ids=[v])
        for j in (1, 2):
            graph.add_edge(v, members[(i + j) % size], weight=3.0)
    return members


def test_hub_evidence_is_down_weighted_and_private_attributes_dropped() -> None:
    graph = nx.Graph()
    graph.add_node("broker", kind="broker", source_ids=["B1"])
    graph.add_node("phone:shared", kind="phone", source_ids=["p1"])
    graph.add_node("phone:own", kind="phone", source_ids=["p2"])
    for i in range(40):
        graph.add_node(f"T{i}", kind="trader", source_ids=[f"T{i}"])
        graph.add_edge(f"T{i}", "broker", weight=3.0)
    graph.add_edge("T0", "phone:shared", weight=3.0)
    graph.add_edge("T1", "phone:shared", weight=3.0)
    graph.add_edge("T2", "phone:own", weight=3.0)
    weighted = detection_graph(graph)
    assert "phone:own" not in weighted, "a phone only one entity uses is no evidence of a network"
    assert weighted.edges["T0", "phone:shared"]["weight"] == 3.0
    assert weighted.edges["T0", "broker"]["weight"] < 3.0 / 5, "a broker of 40 traders links each only weakly"


def test_tight_groups_separate_rings_that_share_a_broker_and_drop_hangers_on() -> None:
    graph = nx.Graph()
    rings = [set(_ring(graph, name)) for name in ("A", "B", "C")]
    graph.add_node("broker", kind="broker", source_ids=["B1"])
    for i in range(60):  # the broker serves many ordinary traders too
        graph.add_node(f"T{i}", kind="trader", source_ids=[f"T{i}"])
        graph.add_edge(f"T{i}", "broker", weight=1.0)
    for ring in rings:
        graph.add_edge(min(ring), "broker", weight=1.0)
    graph.add_node("courier", kind="person", source_ids=["P1"])
    graph.add_edge("courier", "A0", weight=2.0)  # one link only: not a member
    groups = tight_groups(detection_graph(graph), min_size=4)
    for ring in rings:
        assert ring in groups
    assert not any("courier" in g for g in groups)


def test_a_node_outside_every_group_joins_the_group_it_has_two_ties_to() -> None:
    graph = nx.Graph()
    ring = set(_ring(graph, "A"))
    for name, ties in (("trader", ["A0", "A3"]), ("director", ["trader"]), ("courier", ["A1"])):
        graph.add_node(name, kind="person", source_ids=[name])
        graph.add_edges_from((name, t, {"weight": 3.0}) for t in ties)
    graph.add_edge("director", "A4", weight=2.0)  # his second tie counts once his company has joined
    grown = attached(graph, [set(ring)], links=2)
    assert grown == [ring | {"trader", "director"}], "one tie (the courier) is not enough"


def test_one_link_of_two_kinds_of_record_is_two_ties_into_a_group() -> None:
    graph = nx.Graph()
    ring = set(_ring(graph, "A"))
    officer = [{"relation": "officer_of", "weight": 2.0}]
    for name, relations in (("director", officer + [{"relation": "cash_for", "weight": 2.0}]), ("clerk", officer * 2)):
        graph.add_node(name, kind="person", source_ids=[name])
        graph.add_edge(name, "A0", weight=4.0, relations=relations)
    grown = attached(detection_graph(graph), [set(ring)], links=2)
    assert grown == [ring | {"director"}], "the director's link stands on two kinds of record, the clerk's on one"


def test_a_party_tied_to_a_ring_by_one_case_file_alone_is_not_a_member() -> None:
    graph = nx.Graph()
    ring = set(_ring(graph, "A"))
    graph.add_node("namesake", kind="trader", source_ids=["T9"])  # charged beside A0 and A3 in case C1, nothing else
    for u, v in (("A0", "A3"), ("A0", "namesake"), ("A3", "namesake")):
        graph.add_edge(u, v, weight=3.0, relations=[{"relation": "co_party", "edge_id": f"{u}-{v}", "weight": 3.0}])
    cases = {"A0-A3": ["C1"], "A0-namesake": ["C1"], "A3-namesake": ["C1"]}
    assert any("namesake" in g for g in tight_groups(detection_graph(graph))), "as a clique, one case gives two ties"
    (group,) = tight_groups(detection_graph(graph, cases))
    assert group - {"case:C1"} == ring, "one case file is one piece of evidence: the namesake needs a second"


def test_a_director_joins_his_companys_group_only_when_its_trade_is_improbably_undervalued() -> None:
    graph = nx.Graph()
    ring = set(_ring(graph, "A"))
    for name in ("front_director", "honest_director", "outsider_director"):
        graph.add_node(name, kind="person", source_ids=[name])
    graph.add_node("T9", kind="trader", source_ids=["T9"])
    anomalies = {f"T{i}": (1, 60) for i in range(100)}  # the lake: about 1 declaration in 60 under the fence
    anomalies |= {"A0": (15, 50), "A1": (2, 50), "T9": (30, 50)}
    directors = [("A0", "front_director"), ("A1", "honest_director"), ("outsider_director", "T9")]
    grown = with_directors(graph, [set(ring)], directors, anomalies)
    assert grown == [ring | {"front_director"}], \
        "2 of 50 is what honest trade gives; a company outside every group brings no one in"


def test_a_broker_joins_a_group_whose_companies_use_him_far_beyond_his_market_share() -> None:
    graph = nx.Graph()
    ring = set(_ring(graph, "A", size=8))
    for i in range(600):
        graph.add_node(f"T{i}", kind="trader", source_ids=[f"T{i}"])
    for broker, clients in (("broker:theirs", ["A0", "A2", "A4", "A6"] + [f"T{i}" for i in range(30)]),
                            ("broker:everyones", ["A1", "A3"] + [f"T{i}" for i in range(300)])):
        graph.add_node(broker, kind="broker", source_ids=[broker])
        graph.add_edges_from((broker, client, {"weight": 0.5}) for client in clients)
    (grown,) = with_chosen_hubs(graph, [set(ring)])
    assert grown == ring | {"broker:theirs"}, "4 of 8 companies through a broker of 34 is a choice; 2 through one of 302 is not"


def test_resolve_reuses_its_result_when_no_input_changed(world: Session, resolution: Resolution) -> None:
    first = resolve(world)
    again = resolve(world)
    assert again.reused and again.members["entity_id"].n_unique() == first.members["entity_id"].n_unique()
    assert not resolve(world, force=True).reused
    assert not resolve(world, threshold=0.7).reused, "a different threshold is a different result"
    resolve(world)  # back to the default threshold for the tests after this one


@pytest.fixture(scope="module")
def evidence(world: Session, resolution: Resolution) -> EvidenceGraph:
    return build_graph(world)


def _hover_fields(obj: object) -> dict[str, list[str]]:
    figure = hv.render(obj, backend="bokeh")
    return {h.description: [t[0] for t in h.tooltips] for h in figure.select(HoverTool)}


def test_network_plot_renders_with_entity_and_provenance_hover(world: Session, evidence: EvidenceGraph) -> None:
    graph = evidence.graph
    start = max((v for v in graph if graph.nodes[v]["kind"] == "trader"), key=graph.degree)
    nodes = nx.ego_graph(graph, start, radius=2)
    plot = network_plot(graph, nodes, color_by="risk", risk={start: 1.0}, evidence=evidence.evidence)
    fields = _hover_fields(plot)
    assert {"label", "kind", "source_ids", "risk", "centrality"} <= set(fields["node hover"])
    assert {"relations", "n_records", "first_seen", "provenance"} <= set(fields["edge hover"])
    edges = plot.Segments.I.data
    assert len(edges) == nodes.number_of_edges() and edges["provenance"].str.contains("curated.").all()
    assert set(plot.Points.I.data["node_id"]) == set(nodes)


def test_entity_timeline_shows_a_traders_declarations(world: Session, evidence: EvidenceGraph) -> None:
    graph = evidence.graph
    trader = next(v for v in graph if graph.nodes[v]["kind"] == "trader")
    activity = entity_activity(world, trader)
    ids = set(graph.nodes[trader]["source_ids"])
    declared = world.sql("SELECT declaration_id FROM curated.declarations WHERE trader_id IN (SELECT unnest($ids))",
                         {"ids": sorted(ids)})
    assert set(activity.filter(pl.col("activity") == "declaration")["record_id"]) == set(declared["declaration_id"])
    assert activity["date"].is_sorted()
    assert set(_hover_fields(entity_timeline(activity, title=trader))["record hover"]) >= {"activity", "record", "date"}


def test_initials_and_a_whole_word_meet_across_order_and_abbreviation() -> None:
    assert set(initial_keys(["WU J"])) & set(initial_keys(["JUNJIE WU"])) == {"JW|WU"}
    assert not set(initial_keys(["WU J"])) & set(initial_keys(["WU JUNJIE MING"])), "a third word is another name"


def test_namesakes_in_a_register_share_a_mentions_odds() -> None:
    registers = {"T1": "traders", "T2": "traders", "T3": "traders"}
    pairs = pl.DataFrame({"unique_id_l": ["C1", "C1", "C2", "C2"], "unique_id_r": ["T1", "T2", "T1", "T3"],
                          "match_probability": [0.8, 0.8, 0.95, 0.6]})
    shared = dict(zip(zip(*best_register_links(pairs, registers).select("unique_id_l", "unique_id_r")),
                      best_register_links(pairs, registers)["match_probability"], strict=True))
    assert shared[("C1", "T1")] < 0.5 and shared[("C1", "T2")] < 0.5, "two equal namesakes: neither is linked"
    assert shared[("C2", "T1")] > 0.5 > shared[("C2", "T3")], "the clearly better one keeps most of its weight"


def test_two_records_of_one_register_chained_through_mentions_are_cut_apart() -> None:
    pairs = pl.DataFrame({"unique_id_l": ["C1", "C1", "C2", "C2"], "unique_id_r": ["C2", "T1", "T2", "X"],
                          "match_probability": [0.6, 0.99, 0.99, 0.9]})
    roots = cluster(["C1", "C2", "T1", "T2", "X"], pairs, registers={"T1": "traders", "T2": "traders"})
    assert roots["T1"] != roots["T2"], "a register is deduplicated: two of its records are never one entity"
    assert roots["C1"] == roots["T1"] and roots["C2"] == roots["T2"] == roots["X"], "only the weakest link is cut"


def test_an_officers_confirmed_hit_marks_its_entities_and_raises_their_networks_risk(
        world: Session, evidence: EvidenceGraph) -> None:
    """A seizure recorded through a field officer's session (the clearance app's path) makes the declaration's
    trader and the crossing's vehicle known offenders from the decision's day; the next build raises the node
    risk around them and the trader's community's share of it; a cleared inspection marks nobody. Last in the
    module: the results it writes would seed the detection tests above."""
    from datetime import UTC, datetime

    from workbench.apps.clearance import record_decision
    from workbench.graph.analytics import offender_dates
    from workbench.session import connect

    before = evidence.nodes
    cased = set(offender_dates(world)["entity_id"].to_list())
    assert cased and offender_dates(world)["why"].unique().to_list() == ["case"]
    quiet = before.filter((pl.col("kind") == "trader") & ~pl.col("node_id").is_in(list(cased))
                          & (pl.col("degree") >= 2)).sort("risk", "node_id")
    trader = quiet.row(0, named=True)
    declaration, port = world.sql("SELECT declaration_id, port_code FROM curated.declarations WHERE trader_id = "
                                  "$t ORDER BY 1 LIMIT 1", {"t": trader["source_ids"].split(" | ")[0]}).row(0)
    crossing, control_point, plate = world.sql(
        "SELECT crossing_id, control_point, plate FROM curated.crossings ORDER BY 1 LIMIT 1").row(0)
    officer = connect(world.settings.lake, user="officer-7", role="field_officer")
    queued = {"model": "declaration_risk", "version": 1, "selection": "score"}
    record_decision(officer, {**queued, "record_id": declaration, "kind": "declaration", "place": port},
                    "inspect", "seizure", seizure_goods="cigarettes")
    record_decision(officer, {**queued, "model": "crossing_risk", "record_id": crossing, "kind": "crossing",
                              "place": control_point}, "inspect", "seizure", seizure_goods="2 pistols")
    other = world.sql("SELECT declaration_id FROM curated.declarations WHERE trader_id <> $t ORDER BY 1 LIMIT 1",
                      {"t": trader["source_ids"].split(" | ")[0]}).item()
    record_decision(officer, {**queued, "record_id": other, "kind": "declaration", "place": port}, "inspect", "clear")

    hits = offender_dates(world).filter(pl.col("why") == "hit")
    assert {trader["node_id"], f"vehicle:{plate}"} <= set(hits["entity_id"].to_list())
    assert hits["since"].unique().to_list() == [datetime.now(UTC).date()]
    cleared = world.sql("SELECT trader_id FROM curated.declarations WHERE declaration_id = $d", {"d": other}).item()
    cleared_node = before.filter(pl.col("source_ids").str.split(" | ").list.contains(cleared))["node_id"].item()
    assert cleared_node not in set(hits["entity_id"].to_list())  # a clear inspection marks nobody

    rebuilt = build_graph(world)
    assert not rebuilt.reused  # the results table is an input of the build
    after = rebuilt.nodes
    risk = {name: dict(zip(frame["node_id"], frame["risk"], strict=True)) for name, frame in (("before", before),
                                                                                                ("after", after))}
    assert risk["after"][trader["node_id"]] > 5 * risk["before"][trader["node_id"]]
    neighbours = list(evidence.graph.neighbors(trader["node_id"]))
    assert sum(risk["after"][n] for n in neighbours) > sum(risk["before"][n] for n in neighbours)
    community = before.filter(pl.col("community") == trader["community"])["node_id"].to_list()
    assert sum(risk["after"][n] for n in community) > sum(risk["before"][n] for n in community)
