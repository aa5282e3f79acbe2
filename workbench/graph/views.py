"""Interactive views of the evidence graph: a network plot and an entity's activity timeline.

Both functions return HoloViews objects (Bokeh backend), so the same call shows inline
in a notebook and drops into a Panel dashboard (``pn.pane.HoloViews(obj)``) unchanged.

- ``network_plot``: nodes laid out by NetworkX (spring layout, fixed seed), coloured by
  community or by risk, sized by centrality; hovering a node shows the entity, its kind
  and its source ids; hovering an edge shows its relations, record count, dates and the
  source records behind it (provenance from ``curated.graph_evidence``).
- ``entity_timeline``: one marker per declaration, crossing, cash declaration and case
  an entity appears in, over time, each with its record id.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import holoviews as hv
import holoviews.plotting.bokeh  # noqa: F401  (registers the Bokeh renderer, so options apply outside a notebook)
import networkx as nx
import pandas as pd
import polars as pl

from workbench.session import Session
from workbench.graph.tables import ENTITIES

NODE_HOVER = ("label", "kind", "source_ids", "group", "risk", "centrality")
EDGE_HOVER = ("relations", "n_records", "first_seen", "last_seen", "provenance")
KIND_MARKERS = {"trader": "square", "broker": "diamond", "company": "square", "person": "circle",
                "vehicle": "triangle", "phone": "inverted_triangle", "address": "hex"}


def provenance(evidence: pl.DataFrame | None, edge_ids: Iterable[str], limit: int = 3) -> str:
    """``"curated.crossings: C1, C2 (+40 more); curated.traders: T9"`` for the records behind some edges."""
    if evidence is None:
        return ""
    rows = evidence.filter(pl.col("edge_id").is_in(list(edge_ids)))
    parts = []
    for (table,), group in sorted(rows.group_by("source_table"), key=lambda kv: str(kv[0][0])):
        ids = sorted(group["record_id"].unique().to_list())
        more = f" (+{len(ids) - limit} more)" if len(ids) > limit else ""
        parts.append(f"{table}: {', '.join(ids[:limit])}{more}")
    return "; ".join(parts)


def network_plot(graph: nx.Graph, nodes: Iterable[str] | None = None, *, color_by: str = "group",
                 groups: Iterable[Iterable[str]] | None = None, risk: dict[str, float] | None = None,
                 centrality: dict[str, float] | None = None, evidence: pl.DataFrame | None = None,
                 seed: int = 7, title: str = "Evidence graph", width: int = 800, height: int = 600) -> hv.Overlay:
    """The (sub)graph on ``nodes`` as an interactive plot with node and edge hover.

    ``color_by`` is ``"group"`` (community index from ``groups``, e.g. ``analytics.communities``;
    Louvain on the subgraph when not given), ``"risk"`` (values in ``risk``) or ``"kind"``.
    Node size follows ``centrality`` (PageRank on the subgraph when not given).
    ``evidence`` (``curated.graph_evidence``) adds the source records to each edge's hover.
    """
    sub = graph.subgraph(nodes if nodes is not None else graph.nodes).copy()
    if centrality is None:
        centrality = nx.pagerank(sub, weight="weight") if sub.number_of_edges() else dict.fromkeys(sub, 1.0)
    if groups is None:
        groups = nx.community.louvain_communities(sub, weight="weight", seed=seed) if sub.number_of_edges() else [set(sub)]
    group_of = {v: i for i, members in enumerate(groups) for v in members}
    risk = risk or {}
    pos = nx.spring_layout(sub, weight="weight", seed=seed) if len(sub) else {}
    top = max(centrality.values(), default=1.0) or 1.0

    node_rows = []
    for v, data in sub.nodes(data=True):
        x, y = pos[v]
        c = centrality.get(v, 0.0)
        node_rows.append({
            "x": float(x), "y": float(y), "node_id": v, "label": data.get("label") or v,
            "kind": data.get("kind", ""), "source_ids": ", ".join(i for i in data.get("source_ids", []) if i),
            "group": str(group_of.get(v, -1)), "risk": float(risk.get(v, 0.0)), "centrality": float(c),
            "size": 8 + 22 * math.sqrt(c / top), "marker": KIND_MARKERS.get(data.get("kind", ""), "circle"),
        })
    node_frame = pd.DataFrame(node_rows, columns=["x", "y", "node_id", "label", "kind", "source_ids", "group", "risk",
                                                  "centrality", "size", "marker"])
    edge_rows = []
    for u, v, data in sub.edges(data=True):
        rels = data.get("relations", [])
        firsts = [r["first_seen"] for r in rels if r.get("first_seen") is not None]
        lasts = [r["last_seen"] for r in rels if r.get("last_seen") is not None]
        edge_rows.append({
            "x0": float(pos[u][0]), "y0": float(pos[u][1]), "x1": float(pos[v][0]), "y1": float(pos[v][1]),
            "source": u, "target": v, "weight": float(data.get("weight", 1.0)),
            "relations": ", ".join(sorted({r["relation"] for r in rels})),
            "n_records": int(sum(r["n_records"] for r in rels)),
            "first_seen": str(min(firsts)) if firsts else "", "last_seen": str(max(lasts)) if lasts else "",
            "provenance": provenance(evidence, [r["edge_id"] for r in rels]),
        })
    edge_frame = pd.DataFrame(edge_rows, columns=["x0", "y0", "x1", "y1", "source", "target", "weight", "relations",
                                                  "n_records", "first_seen", "last_seen", "provenance"])

    edges = hv.Segments(edge_frame, kdims=["x0", "y0", "x1", "y1"],
                        vdims=["weight", "source", "target", *EDGE_HOVER]).opts(
        color="lightgray", line_width=2, hover_line_color="black",
        tools=[_hover("edge", [("from", "@source"), ("to", "@target"), *[(c, f"@{c}") for c in EDGE_HOVER]])],
        backend="bokeh")
    color = {"group": "group", "risk": "risk", "kind": "kind"}[color_by]
    points = hv.Points(node_frame, kdims=["x", "y"],
                       vdims=["node_id", *NODE_HOVER, "size", "marker"]).opts(
        color=color, cmap="fire_r" if color_by == "risk" else "Category20", size="size", marker="marker",
        line_color="black", colorbar=color_by == "risk",
        tools=[_hover("node", [("node", "@node_id"), *[(c, f"@{c}") for c in NODE_HOVER]])], backend="bokeh")
    labels = hv.Labels(node_frame, kdims=["x", "y"], vdims=["label"]).opts(text_font_size="7pt", yoffset=0.03,
                                                                          backend="bokeh")
    return (edges * points * labels).opts(title=title, width=width, height=height, xaxis=None, yaxis=None,
                                          show_grid=False, backend="bokeh")


def _hover(name: str, tooltips: list[tuple[str, str]]) -> object:
    from bokeh.models import HoverTool

    return HoverTool(tooltips=tooltips, description=f"{name} hover")


ACTIVITY_COLUMNS = {"activity": pl.Utf8, "record_id": pl.Utf8, "date": pl.Date, "detail": pl.Utf8,
                    "source_id": pl.Utf8}


def entity_activity(wb: Session, entity: str) -> pl.DataFrame:
    """Every dated record of one entity: ``activity, record_id, date, detail, source_id``, oldest first.

    ``entity`` is a node id: a resolved entity (``ENT-...``, its member records from
    ``curated.resolved_entities``) or a ``vehicle:<plate>`` node. Declarations are found
    by trader id, crossings by driver id or plate (vehicles the entity owns count), cash
    declarations and cases by the member records the resolver put in the entity.
    """
    if entity.startswith("vehicle:"):
        traders, drivers, plates, cash, parties = [], [], [entity.split(":", 1)[1]], [], []
    else:
        members = wb.sql(f"SELECT source_table, source_id FROM {ENTITIES} WHERE entity_id = $e", {"e": entity})

        def ids(table: str) -> list[str]:
            return members.filter(pl.col("source_table") == table)["source_id"].unique().to_list()

        traders, drivers, plates = ids("traders"), ids("drivers"), ids("vehicles")
        cash, parties = ids("cash_declarations"), ids("case_parties")
    queries = {
        "declaration": ("""SELECT declaration_id, lodged_on, concat_ws(' ', direction, hs_code, goods_desc_en,
              'HKD ' || round(value_hkd)::VARCHAR, inspection_result), trader_id
            FROM curated.declarations WHERE trader_id IN (SELECT unnest($ids))""", traders),
        "crossing": ("""SELECT crossing_id, crossed_on, concat_ws(' ', direction, control_point, plate, cargo_desc,
              inspection_result), coalesce(driver_id, plate)
            FROM curated.crossings WHERE driver_id IN (SELECT unnest($ids)) OR plate IN (SELECT unnest($plates))""",
                     drivers),
        "cash declaration": ("""SELECT declaration_id, declared_on, concat_ws(' ', direction, control_point,
              'HKD ' || round(amount_hkd)::VARCHAR, purpose), declaration_id
            FROM curated.cash_declarations WHERE declaration_id IN (SELECT unnest($ids))""", cash),
        "case": ("""SELECT c.case_id, c.opened_on, concat_ws(' ', c.offence, 'as ' || p.role, c.status), p.party_id
            FROM curated.case_parties p JOIN curated.cases c USING (case_id)
            WHERE p.party_id IN (SELECT unnest($ids))""", parties),
    }
    frames = []
    for activity, (query, keys) in queries.items():
        params: dict[str, object] = {"ids": keys}
        if activity == "crossing":
            params["plates"] = plates
            if not keys and not plates:
                continue
        elif not keys:
            continue
        frame = wb.sql(query, params)
        frame = frame.rename(dict(zip(frame.columns, ("record_id", "date", "detail", "source_id"), strict=True)))
        frames.append(frame.select(pl.lit(activity).alias("activity"), pl.col("record_id").cast(pl.Utf8),
                                   pl.col("date").cast(pl.Date), pl.col("detail").cast(pl.Utf8),
                                   pl.col("source_id").cast(pl.Utf8)))
    if not frames:
        return pl.DataFrame(schema=ACTIVITY_COLUMNS)
    return pl.concat(frames).sort("date", "activity", "record_id")


TIMELINE_HOVER = ("activity", "record_id", "date", "detail", "source_id")


def entity_timeline(activity: pl.DataFrame, title: str = "Activity", width: int = 800, height: int = 260) -> hv.Scatter:
    """One marker per record of ``entity_activity`` on a time axis, a row per kind of activity, with hover."""
    frame = activity.with_columns(pl.col("date").cast(pl.Datetime)).to_pandas()
    frame["day"] = frame["date"].dt.strftime("%Y-%m-%d") if len(frame) else pd.Series(dtype=str)
    return hv.Scatter(frame, kdims=["date"], vdims=["activity", "record_id", "detail", "source_id", "day"]).opts(
        color="activity", cmap="Category10", size=9, alpha=0.7, title=title, width=width,
        height=height, ylabel="", xlabel="date", show_legend=False,
        tools=[_hover("record", [("activity", "@activity"), ("record", "@record_id"), ("date", "@day"),
                                  ("detail", "@detail"), ("source id", "@source_id")])], backend="bokeh")
