"""The evidence graph: resolved entities, vehicles, phones and addresses, linked by source records.

Each relation is one SQL query over curated tables yielding one row per source record
(``left, right, source_table, record_id, seen_on``) in mention or attribute references;
references are mapped to resolved entities, then grouped into one edge per node pair and
relation. Every edge keeps its record count, first and last date and weight, and
``curated.graph_evidence`` keeps every record behind it, so a link shown to an analyst
can always be traced to the declarations, crossings, case files or notes that make it.

Relations over tables that another step produces (``co_mentioned`` reads the NLP
mentions) are skipped while those tables do not exist. Every node also gets its
whole-graph figures (degree, PageRank, offender-seeded risk, community) computed on the
compact CSR form (``compact.py``), so they scale to millions of edges. Offenders are the
parties of case files and the entities behind officers' confirmed hits
(``analytics.offender_dates``); the clearance results are an input of the build, so the
next build after a hit is recorded raises the risk around it (``network detect`` reads
the offenders afresh at every run, so it sees the hit at once). A build records
the versions of every table it read; ``build_graph`` over unchanged inputs returns the
stored graph instead of rebuilding it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import networkx as nx
import polars as pl

from workbench.session import Session
from workbench.graph.analytics import CLEARANCE_RESULTS, known_offenders
from workbench.graph.compact import CompactGraph
from workbench.graph.tables import EDGES, ENTITIES, EVIDENCE, NODES
from workbench.lake.catalog import Lineage

RELATIONS: dict[str, tuple[float, str]] = {  # co_party: parties charged together (a witness is not an accomplice)
    "has_phone": (3.0, """
        SELECT 'cirms/traders/' || trader_id, 'phone:' || phone, 'curated.traders', trader_id, registered_on FROM curated.traders
        UNION ALL SELECT 'cirms/brokers/' || broker_id, 'phone:' || phone, 'curated.brokers', broker_id, registered_on FROM curated.brokers
        UNION ALL SELECT 'cirms/people/' || person_id, 'phone:' || phone, 'curated.people', person_id, NULL FROM curated.people
        UNION ALL SELECT 'lbs/drivers/' || driver_id, 'phone:' || phone, 'curated.drivers', driver_id, NULL FROM curated.drivers
        UNION ALL SELECT 'lbs/vehicles/' || plate, 'phone:' || owner_phone, 'curated.vehicles', plate, registered_on FROM curated.vehicles"""),
    "at_address": (3.0, """
        SELECT 'cirms/traders/' || trader_id, 'address:' || address_id, 'curated.traders', trader_id, registered_on FROM curated.traders
        UNION ALL SELECT 'cirms/brokers/' || broker_id, 'address:' || address_id, 'curated.brokers', broker_id, registered_on FROM curated.brokers
        UNION ALL SELECT 'cirms/people/' || person_id, 'address:' || address_id, 'curated.people', person_id, NULL
          FROM curated.people WHERE address_id IS NOT NULL"""),
    "officer_of": (2.0, """
        SELECT 'cirms/people/' || director_person_id, 'cirms/traders/' || trader_id, 'curated.traders', trader_id, registered_on
          FROM curated.traders WHERE director_person_id IS NOT NULL
        UNION ALL SELECT 'cirms/people/' || person_id, 'cirms/traders/' || employer_trader_id, 'curated.people', person_id, NULL
          FROM curated.people WHERE employer_trader_id IS NOT NULL"""),
    "declared_through": (0.5, """
        SELECT 'cirms/traders/' || trader_id, 'cirms/brokers/' || broker_id, 'curated.declarations', declaration_id, lodged_on
          FROM curated.declarations WHERE broker_id IS NOT NULL"""),
    "owns_vehicle": (2.0, """
        SELECT 'lbs/vehicles/' || plate, 'vehicle:' || plate, 'curated.vehicles', plate, registered_on FROM curated.vehicles"""),
    "drove": (1.0, """
        SELECT 'lbs/drivers/' || driver_id, 'vehicle:' || plate, 'curated.crossings', crossing_id, crossed_on FROM curated.crossings"""),
    "cash_for": (1.5, """
        SELECT 'cdcs/cash_declarations/' || declaration_id || '/person', 'cdcs/cash_declarations/' || declaration_id || '/company',
          'curated.cash_declarations', declaration_id, declared_on FROM curated.cash_declarations WHERE company_name IS NOT NULL"""),
    "co_party": (3.0, """
        SELECT 'cps/case_parties/' || a.party_id, 'cps/case_parties/' || b.party_id, 'curated.cases', a.case_id, c.opened_on
          FROM curated.case_parties a JOIN curated.case_parties b ON a.case_id = b.case_id AND a.party_id < b.party_id
          LEFT JOIN curated.cases c ON c.case_id = a.case_id
          WHERE a.role <> 'witness' AND b.role <> 'witness'"""),
    # Named together in one note or article: ORG hits of the gazetteer carry the trader id;
    # phones map to their register spelling by digits; a PERSON only by a name one person has.
    "co_mentioned": (1.0, """
        WITH phones AS (
          SELECT regexp_replace(phone, '[^0-9]', '', 'g') AS digits, min(phone) AS phone FROM (
            SELECT phone FROM curated.traders UNION ALL SELECT phone FROM curated.brokers
            UNION ALL SELECT phone FROM curated.people UNION ALL SELECT phone FROM curated.drivers
            UNION ALL SELECT owner_phone FROM curated.vehicles) WHERE phone IS NOT NULL GROUP BY 1),
        people AS (
          SELECT name, 'cirms/people/' || min(person_id) AS ref FROM (
            SELECT name_en AS name, person_id FROM curated.people
            UNION ALL SELECT name_zh, person_id FROM curated.people)
          WHERE name IS NOT NULL GROUP BY name HAVING count(DISTINCT person_id) = 1),
        refs AS (
          SELECT DISTINCT m.doc_id, CASE m.label
              WHEN 'ORG' THEN 'cirms/traders/' || m.value WHEN 'PLATE' THEN 'vehicle:' || m.value
              WHEN 'PHONE' THEN 'phone:' || coalesce(p.phone, m.value) ELSE n.ref END AS ref
            FROM curated.document_mentions m
            LEFT JOIN phones p ON m.label = 'PHONE' AND p.digits = regexp_replace(m.value, '[^0-9]', '', 'g')
            LEFT JOIN people n ON m.label = 'PERSON' AND n.name = m.text
            WHERE (m.label = 'ORG' AND m.source = 'gazetteer') OR m.label IN ('PLATE', 'PHONE', 'PERSON'))
        SELECT a.ref, b.ref, 'documents.index', a.doc_id, CAST(d.published_at AS DATE)
          FROM refs a JOIN refs b ON a.doc_id = b.doc_id AND a.ref < b.ref
          JOIN documents.index d ON d.doc_id = a.doc_id"""),
}
"""Relation name -> (base weight, query of evidence rows ``left, right, source_table, record_id, seen_on``)."""
PRODUCED_TABLES = {"co_mentioned": ("curated.document_mentions",)}
"""Relations over tables another step writes: skipped until those tables exist."""
RUN_KEY = "workbench network build"

ENTITY_KINDS = {"traders": "trader", "brokers": "broker"}


@dataclass(frozen=True)
class EvidenceGraph:
    """The graph and the tables it was built from (nodes, edges, evidence) as written to the lake."""

    graph: nx.Graph
    nodes: pl.DataFrame
    edges: pl.DataFrame
    evidence: pl.DataFrame
    reused: bool = False
    """True when the inputs had not changed since the last build and its tables were returned."""


def active_relations(wb: Session) -> dict[str, str]:
    """Relation -> query, without those whose produced input tables are not in the lake yet."""
    existing = set(wb.tables()["name"].to_list())
    return {relation: query for relation, (_, query) in RELATIONS.items()
            if set(PRODUCED_TABLES.get(relation, ())) <= existing}


def input_versions(wb: Session) -> dict[str, int]:
    """Current Delta versions of every table a build reads (resolved entities, the relations' sources and the
    offenders' sources: case files and officers' clearance results, so a confirmed hit rebuilds the node risk)."""
    reads = [ENTITIES, "curated.case_parties", *(f"({query})" for query in active_relations(wb).values())]
    if CLEARANCE_RESULTS in set(wb.tables()["name"].to_list()):
        reads.append(CLEARANCE_RESULTS)
    return wb.engine.versions(" UNION ALL ".join(f"SELECT 1 FROM {read}" for read in reads))


def evidence_rows(wb: Session) -> pl.DataFrame:
    """Every source record that links two references, one row per (relation, record)."""
    frames = []
    for relation, query in active_relations(wb).items():
        frame = wb.sql(query)
        frame = frame.rename(dict(zip(frame.columns, ("left", "right", "source_table", "record_id", "seen_on"), strict=True)))
        frames.append(frame.with_columns(pl.col("seen_on").cast(pl.Date), pl.lit(relation).alias("relation")))
    return pl.concat(frames).drop_nulls(["left", "right"])


def _entity_lookup(members: pl.DataFrame) -> dict[str, str]:
    """Mention reference -> entity id; references omit the kind except where one record names two (cash)."""
    lookup: dict[str, str] = {}
    for uid, system, table, source_id, entity in members.select(
            "unique_id", "source_system", "source_table", "source_id", "entity_id").iter_rows():
        lookup[uid] = entity
        if system != "cdcs":
            lookup[f"{system}/{table}/{source_id}"] = entity
    return lookup


def _node_table(members: pl.DataFrame, refs: set[str]) -> pl.DataFrame:
    """One row per node: entities (kind by the register that holds them) and vehicle/phone/address attributes."""
    rows = []
    for entity, group in members.group_by("entity_id"):
        tables = set(group["source_table"].to_list())
        kind = "person" if group["kind"][0] == "person" else next(
            (ENTITY_KINDS[t] for t in ("traders", "brokers") if t in tables), "company")
        ids = group.filter(pl.col("source_table").is_in(["traders", "brokers", "people", "drivers"]))["source_id"]
        rows.append({"node_id": entity[0], "kind": kind, "label": group["canonical_name"][0],
                     "source_ids": " | ".join(sorted(ids.to_list()))})
    for ref in sorted(refs):
        kind, _, value = ref.partition(":")
        rows.append({"node_id": ref, "kind": kind, "label": value, "source_ids": value})
    return pl.DataFrame(rows, schema={"node_id": pl.Utf8, "kind": pl.Utf8, "label": pl.Utf8, "source_ids": pl.Utf8})


def edge_id(source: str, target: str, relation: str) -> str:
    return hashlib.sha1(f"{source}|{target}|{relation}".encode()).hexdigest()[:16]


def build_graph(wb: Session, write: bool = True, force: bool = False) -> EvidenceGraph:
    """Build the evidence graph from ``curated.resolved_entities`` and curated sources; write its tables.

    When the last build read exactly the current versions of every input table, the
    stored tables are returned (``reused``) unless ``force``.
    """
    lineage = Lineage(RUN_KEY, tuple(sorted(input_versions(wb).items())))
    if write and not force and wb.lake.catalog.last_lineage((NODES, EDGES, EVIDENCE)) == lineage:
        nodes, edges, evidence = wb.table(NODES), wb.table(EDGES), wb.table(EVIDENCE)
        return EvidenceGraph(to_networkx(nodes, edges), nodes, edges, evidence, reused=True)
    members = wb.table(ENTITIES)
    lookup = _entity_lookup(members)
    rows = evidence_rows(wb)
    attributes = {r for r in set(rows["left"]) | set(rows["right"]) if r.split(":", 1)[0] in ("phone", "vehicle", "address")}

    def node(ref: str) -> str | None:
        return ref if ref in attributes else lookup.get(ref)

    mapped = rows.with_columns(
        pl.col("left").map_elements(node, return_dtype=pl.Utf8).alias("a"),
        pl.col("right").map_elements(node, return_dtype=pl.Utf8).alias("b"),
    ).drop_nulls(["a", "b"]).filter(pl.col("a") != pl.col("b"))
    mapped = mapped.with_columns(
        pl.min_horizontal("a", "b").alias("source"), pl.max_horizontal("a", "b").alias("target"),
    ).with_columns(
        pl.struct("source", "target", "relation").map_elements(
            lambda s: edge_id(s["source"], s["target"], s["relation"]), return_dtype=pl.Utf8).alias("edge_id"),
    )
    evidence = mapped.select("edge_id", "source_table", "record_id", "seen_on").unique(["edge_id", "source_table", "record_id"])
    base = pl.col("relation").replace_strict({r: w for r, (w, _) in RELATIONS.items()}, return_dtype=pl.Float64)
    edges = mapped.group_by("edge_id", "source", "target", "relation").agg(
        pl.col("record_id").n_unique().cast(pl.Int64).alias("n_records"),
        pl.col("seen_on").min().alias("first_seen"), pl.col("seen_on").max().alias("last_seen"),
    ).with_columns((base * (1 + pl.col("n_records").log())).alias("weight")).sort("edge_id")
    edges = edges.select("edge_id", "source", "target", "relation", "weight", "n_records", "first_seen", "last_seen")
    nodes = node_figures(_node_table(members, attributes), edges, known_offenders(wb))
    if write:
        for frame, name, description in ((nodes, NODES, "Evidence graph nodes"), (edges, EDGES, "Evidence graph edges"),
                                         (evidence, EVIDENCE, "Evidence graph provenance")):
            wb.write(frame, name, mode="overwrite", inputs=dict(lineage.inputs), produced_by=lineage.produced_by,
                     description=description)
    return EvidenceGraph(to_networkx(nodes, edges), nodes, edges, evidence)


def node_figures(nodes: pl.DataFrame, edges: pl.DataFrame, offenders: set[str]) -> pl.DataFrame:
    """Each node's degree, PageRank, offender-seeded risk and community (0 = largest) over the whole graph."""
    compact = CompactGraph.from_edges(edges, nodes["node_id"].to_list())
    figures = pl.DataFrame({
        "node_id": compact.node_ids,
        "degree": compact.degree().astype("int64"),
        "pagerank": compact.pagerank(),
        "risk": compact.pagerank(dict.fromkeys(offenders, 1.0)),
        "community": compact.communities(),
    })
    return nodes.join(figures, on="node_id", how="left")


def to_networkx(nodes: pl.DataFrame, edges: pl.DataFrame) -> nx.Graph:
    """A simple weighted graph: parallel relations between two nodes are summed, each kept in ``relations``."""
    graph = nx.Graph()
    graph.add_nodes_from((row["node_id"], {**row, "source_ids": row["source_ids"].split(" | ")})
                         for row in nodes.iter_rows(named=True))
    pairs = edges.group_by("source", "target").agg(pl.col("weight").sum(), pl.struct(pl.all()).alias("relations"))
    graph.add_edges_from((u, v, {"weight": w, "relations": rels}) for u, v, w, rels in pairs.iter_rows())
    return graph


def load_graph(wb: Session) -> nx.Graph:
    """The graph as last built, read back from the lake (for analytics without a rebuild)."""
    return to_networkx(wb.table(NODES), wb.table(EDGES))


RECORD_KEYS = {
    "curated.traders": "trader_id", "curated.brokers": "broker_id", "curated.people": "person_id",
    "curated.drivers": "driver_id", "curated.vehicles": "plate", "curated.declarations": "declaration_id",
    "curated.crossings": "crossing_id", "curated.cash_declarations": "declaration_id", "curated.cases": "case_id",
    "documents.index": "doc_id",
}
"""The id column of every table ``curated.graph_evidence`` points into."""


def edge_records(wb: Session, source: str, target: str, limit: int = 50) -> dict[str, pl.DataFrame]:
    """The source records behind the edge between two nodes: ``{table: rows}``, at most ``limit`` per table.

    Reads ``curated.graph_edges`` and ``curated.graph_evidence`` (as last built), then the
    records themselves from the curated tables they name, so a link is traced to the
    declarations, crossings or case files that make it.
    """
    a, b = min(source, target), max(source, target)
    evidence = wb.sql(f"""SELECT e.relation, v.source_table, v.record_id, v.seen_on
        FROM {EDGES} e JOIN {EVIDENCE} v USING (edge_id) WHERE e.source = $a AND e.target = $b
        ORDER BY v.seen_on, v.record_id""", {"a": a, "b": b})
    out: dict[str, pl.DataFrame] = {}
    for (table,), group in evidence.group_by("source_table", maintain_order=True):
        key = RECORD_KEYS[str(table)]
        ids = group["record_id"].unique(maintain_order=True).head(limit).to_list()
        out[str(table)] = wb.sql(f"SELECT * FROM {table} WHERE {key} IN (SELECT unnest($ids)) ORDER BY {key}",
                                 {"ids": ids})
    return out
