"""The analysts' network explorer: find an entity (English or 中文), its resolved identity, network, links and timeline.

Data functions (``search``, ``identity``, ``neighbours``, ``subgraph``, ``links_of``) read the
graph area's tables through the session and return Polars frames a notebook can use;
``explorer_app`` lays them out. The network shown starts as the entity and its direct
neighbours and grows when the analyst expands a node (taps it in the plot, or picks it
from the list), so a session reads a few hundred edges by SQL instead of loading the
whole evidence graph into memory; the plot is the graph area's ``network_plot`` and the
timeline its ``entity_timeline``.

Tables: ``curated.resolved_entities`` (search, identity; ``workbench network resolve``),
``curated.graph_nodes`` / ``graph_edges`` / ``graph_evidence`` (network, provenance;
``workbench network build``); each part shows an empty state naming what is missing.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from workbench.apps.queries import missing_tables, run_cached
from workbench.session import Session
from workbench.graph.tables import EDGES, ENTITIES, EVIDENCE, NODES

TRADERS = "curated.traders"
TIMELINE_TABLES = ("curated.declarations", "curated.crossings", "curated.cash_declarations", "curated.case_parties",
                   "curated.cases")
"""What ``workbench.graph.views.entity_activity`` reads."""
NEIGHBOUR_LIMIT = 40
"""Most neighbours an expansion adds (strongest evidence first): a hub (a busy address) would swamp the plot."""

ENTITY_HITS_SQL = f"""
SELECT entity_id, name AS matched FROM {ENTITIES}
WHERE name ILIKE $pattern OR canonical_name ILIKE $pattern OR source_id = $exact
"""
TRADER_ZH_HITS_SQL = f"""
SELECT e.entity_id, t.name_zh AS matched FROM {TRADERS} t
JOIN {ENTITIES} e ON e.source_table = 'traders' AND e.source_id = t.trader_id
WHERE t.name_zh LIKE $pattern OR t.br_number = $exact
"""
ATTRIBUTE_HITS_SQL = f"""
SELECT node_id, label, kind, label AS matched, 0::BIGINT AS records FROM {NODES}
WHERE kind IN ('vehicle', 'phone', 'address') AND (label ILIKE $pattern OR node_id = $exact)
"""


def search(wb: Session, text: str, limit: int = 25) -> pl.DataFrame:
    """Entities (and vehicle/phone/address nodes) whose names match ``text``: ``node_id, label, kind, matched, records``.

    Matches any name a member record writes (English or Chinese, as in the source), the
    canonical name, a source id, a trader's Chinese name or BR number; most records first.
    """
    needle = text.strip()
    empty = pl.DataFrame(schema={"node_id": pl.Utf8, "label": pl.Utf8, "kind": pl.Utf8, "matched": pl.Utf8,
                                 "records": pl.Int64})
    if not needle or missing_tables(wb, [ENTITIES]):
        return empty
    params = {"pattern": f"%{needle}%", "exact": needle}
    hits = [ENTITY_HITS_SQL] + ([TRADER_ZH_HITS_SQL] if not missing_tables(wb, [TRADERS]) else [])
    tables = [ENTITIES, *([TRADERS] if len(hits) > 1 else [])]
    entities = run_cached(wb, f"""
        WITH hits AS ({" UNION ALL ".join(hits)})
        SELECT h.entity_id AS node_id, any_value(e.canonical_name) AS label, any_value(e.kind) AS kind,
               string_agg(DISTINCT h.matched, ' / ') AS matched, count(DISTINCT e.unique_id) AS records
        FROM hits h JOIN {ENTITIES} e USING (entity_id)
        GROUP BY 1 ORDER BY records DESC, label LIMIT {int(limit)}""", tables, params)
    frames = [entities.cast(empty.schema)]  # type: ignore[arg-type]
    if not missing_tables(wb, [NODES]):
        frames.append(run_cached(wb, ATTRIBUTE_HITS_SQL + f" LIMIT {int(limit)}", [NODES], params).cast(
            empty.schema))  # type: ignore[arg-type]
    return pl.concat(frames).head(limit)


def identity(wb: Session, entity: str) -> pl.DataFrame:
    """The source records the resolver put in ``entity``: system, table, id, name as written, confidence."""
    return run_cached(wb, f"""SELECT source_system, source_table, source_id, name, canonical_name, kind,
               round(match_confidence, 3) AS match_confidence
        FROM {ENTITIES} WHERE entity_id = $e ORDER BY source_system, source_table, source_id""",
                      [ENTITIES], {"e": entity})


def neighbours(wb: Session, node: str, limit: int = NEIGHBOUR_LIMIT) -> tuple[list[str], int]:
    """The ``limit`` neighbours of ``node`` with the strongest evidence, and how many it has in all."""
    frame = run_cached(wb, f"""SELECT CASE WHEN source = $n THEN target ELSE source END AS other, sum(weight) AS w
        FROM {EDGES} WHERE source = $n OR target = $n GROUP BY 1 ORDER BY w DESC, other""", [EDGES], {"n": node})
    return frame["other"].head(limit).to_list(), frame.height


def subgraph(wb: Session, nodes: list[str]) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Node rows, the edges among ``nodes`` and their evidence rows (for provenance in the hover)."""
    params = {"ids": sorted(set(nodes))}
    node_rows = run_cached(wb, f"SELECT * FROM {NODES} WHERE node_id IN (SELECT unnest($ids))", [NODES], params)
    edges = run_cached(wb, f"""SELECT * FROM {EDGES}
        WHERE source IN (SELECT unnest($ids)) AND target IN (SELECT unnest($ids)) ORDER BY edge_id""", [EDGES], params)
    evidence = run_cached(wb, f"SELECT * FROM {EVIDENCE} WHERE edge_id IN (SELECT unnest($e))", [EVIDENCE],
                          {"e": edges["edge_id"].to_list()})
    return node_rows, edges, evidence


def links_of(node: str, node_rows: pl.DataFrame, edges: pl.DataFrame) -> pl.DataFrame:
    """The shown links of ``node``: the other end's id, label and kind, relation, record count, first and last seen."""
    mine = edges.filter((pl.col("source") == node) | (pl.col("target") == node)).with_columns(
        pl.when(pl.col("source") == node).then(pl.col("target")).otherwise(pl.col("source")).alias("node_id"))
    return (mine.join(node_rows.select("node_id", "label", "kind"), on="node_id", how="left")
            .select("node_id", "label", "kind", "relation", "n_records", "first_seen", "last_seen")
            .sort("n_records", "node_id", descending=[True, False]))


# ----------------------------------------------------------------------------- layout


def explorer_app(wb: Session | None = None, lake: str | None = None) -> Any:
    """The network explorer as a Panel layout (one per browser session); ``wb`` defaults to ``connect(lake)``."""
    import holoviews as hv
    import panel as pn

    from workbench.apps.layout import data_table, empty_state, esc, off_loop, open_app, plain_formatters
    from workbench.graph.build import edge_records, to_networkx
    from workbench.graph.views import entity_activity, entity_timeline, network_plot

    hv.extension("bokeh", logo=False)
    wb, title, blank = open_app(wb, lake, "Network explorer", [ENTITIES],
                                "the network explorer (run `workbench network resolve`)")
    if blank is not None:
        return blank
    graph_missing = missing_tables(wb, [NODES, EDGES, EVIDENCE])

    box = pn.widgets.TextInput(name="Entity (name in English or 中文, source id, BR number, plate, phone)",
                               placeholder="e.g. Lucky Star, 李志強, T0000003", width=420)
    go = pn.widgets.Button(name="Search", button_type="primary", width=120, align="end")
    results = pn.widgets.Select(name="Matches", options={}, width=520)
    state: dict[str, Any] = {"focus": None, "visible": []}
    identity_pane = pn.Column(sizing_mode="stretch_width")
    network_pane = pn.Column(sizing_mode="stretch_width")
    node_pick = pn.widgets.Select(name="Node", options={}, width=420)
    expand = pn.widgets.Button(name="Expand node", button_type="primary", width=140, align="end")
    refocus = pn.widgets.Button(name="Focus on node", width=140, align="end")
    links = pn.widgets.Tabulator(pl.DataFrame().to_pandas(), disabled=True, selectable=1, show_index=False,
                                 height=240, sizing_mode="stretch_width")
    provenance_pane = pn.Column(sizing_mode="stretch_width")
    timeline_pane = pn.Column(sizing_mode="stretch_width")
    note = pn.pane.HTML("", sizing_mode="stretch_width")

    def card(members: pl.DataFrame) -> Any:
        if not members.height:
            return pn.pane.Alert("No resolved records for this node (an attribute node: vehicle, phone or address).",
                                 alert_type="info")
        first = members.row(0, named=True)
        systems = ", ".join(sorted(set(members["source_system"].to_list())))
        names = " / ".join(dict.fromkeys(n for n in members["name"].to_list() if n))
        head = (f'<div class="identity"><div class="name">{esc(first["canonical_name"])}</div>'
                f'<div>{esc(first["kind"])} · {members.height} source records in {esc(systems)}</div>'
                f'<div class="aka">Written as: {esc(names)}</div></div>')
        return pn.Column(pn.pane.HTML(head, stylesheets=[IDENTITY_CSS], sizing_mode="stretch_width"),
                         data_table(members.drop("canonical_name", "kind"), height=200))

    async def draw_network(picked: str | None = None) -> None:
        if graph_missing:
            network_pane.objects = [empty_state(graph_missing, "the network (run `workbench network build`)")]
            return
        focus, visible = state["focus"], list(state["visible"])
        network_pane.loading = True
        try:
            node_rows, edges, evidence = await off_loop(wb, subgraph, wb, visible)
        finally:
            network_pane.loading = False
        graph = to_networkx(node_rows, edges)
        risk = dict(node_rows.select("node_id", "risk").iter_rows()) if "risk" in node_rows.columns else None
        plot = network_plot(graph, color_by="risk" if risk else "kind", risk=risk, evidence=evidence,
                            title=f"Network of {focus}", width=900, height=560)
        listen_for_taps(plot)
        network_pane.objects = [pn.pane.HoloViews(plot, sizing_mode="fixed", width=900, height=560)]
        labels = dict(node_rows.select("node_id", "label").iter_rows())
        node_pick.options = {f"{labels.get(v) or v} · {v}": v for v in visible}
        node_pick.value = picked if picked in visible else focus
        frame = links_of(focus, node_rows, edges).with_columns(pl.col(pl.Date).cast(pl.Utf8)).to_pandas()
        links.formatters = plain_formatters(frame)
        links.value = frame

    async def show(entity: str) -> None:
        state["focus"] = entity
        if entity not in state["visible"]:
            state["visible"] = [entity]
        provenance_pane.objects = []
        identity_pane.loading = True
        try:
            members = await off_loop(wb, identity, wb, entity)
            if not graph_missing:
                near, total = await off_loop(wb, neighbours, wb, entity)
                state["visible"] = list(dict.fromkeys([*state["visible"], *near]))
                note.object = (f"<i>Showing the {len(near)} strongest of {total} links of {esc(entity)}.</i>"
                               if total > len(near) else "")
        finally:
            identity_pane.loading = False
        identity_pane.objects = [card(members)]
        await draw_network()
        await draw_timeline(entity)

    async def draw_timeline(entity: str) -> None:
        absent = missing_tables(wb, TIMELINE_TABLES)
        if absent:
            timeline_pane.objects = [empty_state(absent, "the timeline")]
            return
        activity = await off_loop(wb, entity_activity, wb, entity)
        if not activity.height:
            timeline_pane.objects = [pn.pane.Alert("No dated records for this node.", alert_type="info")]
            return
        timeline_pane.objects = [
            pn.pane.HoloViews(entity_timeline(activity, title=f"Activity of {entity}", width=900), width=900),
            data_table(activity, height=220, pagination="local", page_size=20)]

    async def run_search(_event: Any = None) -> None:
        text = (box.value or "").strip()
        if not text:
            return
        found = await off_loop(wb, search, wb, text)
        results.options = {f"{r['label'] or r['node_id']} · {r['kind']} · {r['records']} records · matched "
                           f"{r['matched']}": r["node_id"] for r in found.iter_rows(named=True)}
        if not found.height:
            note.object = f"<i>Nothing matches {esc(text)}.</i>"

    async def choose(event: Any) -> None:
        if event.new:
            state["visible"] = []
            await show(event.new)

    def listen_for_taps(plot: Any) -> None:
        """A tap on a node in ``plot`` expands that node (Bokeh's tap tool, read by a ``Selection1D`` stream)."""
        points = next(el for el in plot if isinstance(el, hv.Points))
        tools = hv.Store.lookup_options("bokeh", points, "plot").kwargs.get("tools", [])
        points.opts(tools=[*tools, "tap"], nonselection_alpha=1.0)  # in place; no fading while the plot regrows
        ids = points.data["node_id"].tolist()  # Bokeh's selection indices are rows of this frame

        async def tapped(event: Any) -> None:
            if event.new:
                await grow(ids[event.new[0]])

        hv.streams.Selection1D(source=points).param.watch(tapped, "index")

    async def grow(node: str) -> None:
        """Add the strongest neighbours of ``node`` to the plot and pick it in the node list."""
        near, total = await off_loop(wb, neighbours, wb, node)
        state["visible"] = list(dict.fromkeys([*state["visible"], *near]))
        note.object = f"<i>Expanded {esc(node)}: {len(near)} of {total} links shown.</i>"
        await draw_network(picked=node)

    async def expand_node(_event: Any) -> None:
        if node_pick.value and not graph_missing:
            await grow(node_pick.value)

    async def focus_node(_event: Any) -> None:
        if node_pick.value:
            await show(node_pick.value)

    async def trace(event: Any) -> None:
        if not event.new or links.value is None or not len(links.value):
            return
        other = str(links.value.iloc[event.new[0]]["node_id"])
        records = await off_loop(wb, edge_records, wb, state["focus"], other)
        parts: list[Any] = [pn.pane.Markdown(f"**Source records behind {esc(state['focus'])} — {esc(other)}**")]
        for table, rows in records.items():
            parts += [pn.pane.Markdown(f"*{esc(table)}* ({rows.height})"), data_table(rows, height=180)]
        provenance_pane.objects = parts

    go.on_click(run_search)
    box.param.watch(run_search, "enter_pressed")
    results.param.watch(choose, "value")
    expand.on_click(expand_node)
    refocus.on_click(focus_node)
    links.param.watch(trace, "selection")
    return pn.Column(
        title, pn.Row(box, go), results, note,
        pn.pane.Markdown("### Identity"), identity_pane,
        pn.pane.Markdown("### Network (tap a node to expand it)"), network_pane, pn.Row(node_pick, expand, refocus),
        pn.pane.Markdown("### Links of the focus (pick one for its source records)"), links, provenance_pane,
        pn.pane.Markdown("### Timeline"), timeline_pane,
        sizing_mode="stretch_width",
    )


IDENTITY_CSS = """
.identity { padding: 8px 10px; border: 1px solid #ddd; border-radius: 6px; }
.identity .name { font-size: 18px; font-weight: 600; word-break: break-word; }
.identity .aka { color: #444; word-break: break-word; }
"""
