"""Network explorer: its data functions and the served app in real chromium, over the tiny world
after the graph area's resolve and build (real splink resolution, real evidence graph).
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import world_copy
from tests.test_apps import browser, served_app, wait_for_text  # noqa: F401  (browser is a fixture)
from workbench.apps import network_explorer as ne
from workbench.session import Session, connect
from workbench.graph.views import entity_activity



@pytest.fixture(scope="module")
def graph_lake(tiny_world: Session, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the tiny world with entities resolved and the evidence graph built."""
    from workbench.graph.build import build_graph
    from workbench.graph.resolution import resolve

    wb = world_copy(tiny_world, tmp_path_factory.mktemp("network"))
    resolve(wb)
    build_graph(wb)
    return Path(wb.settings.lake)


@pytest.fixture(scope="module")
def wb(graph_lake: Path) -> Session:
    return connect(str(graph_lake), user="ana")


def chinese_entity(wb: Session) -> dict[str, Any]:
    """The resolved entity with the most links among those one of whose records writes its name in Chinese."""
    return wb.sql("""SELECT e.entity_id, e.name, e.canonical_name, count(DISTINCT g.edge_id) AS links
        FROM curated.resolved_entities e JOIN curated.graph_edges g ON e.entity_id IN (g.source, g.target)
        WHERE regexp_matches(e.name, '[\\x{4e00}-\\x{9fff}]')
        GROUP BY ALL ORDER BY links DESC, e.entity_id LIMIT 1""").row(0, named=True)


def test_search_finds_entities_by_chinese_and_english_names_and_ids(wb: Session) -> None:
    target = chinese_entity(wb)
    assert ne.search(wb, target["name"])["node_id"].to_list()[:1] == [target["entity_id"]]
    by_en = ne.search(wb, target["canonical_name"].lower())
    assert target["entity_id"] in by_en["node_id"].to_list()
    trader = wb.sql("SELECT trader_id, name_zh, br_number FROM curated.traders ORDER BY trader_id LIMIT 1").row(0)
    owner = wb.sql("SELECT entity_id FROM curated.resolved_entities WHERE source_table = 'traders' AND source_id = $t",
                   {"t": trader[0]}).item()
    for text in trader:
        assert owner in ne.search(wb, text)["node_id"].to_list(), text
    assert ne.search(wb, "no such name anywhere").is_empty()


def test_neighbours_subgraph_and_links_agree_with_the_edge_table(wb: Session) -> None:
    target = chinese_entity(wb)["entity_id"]
    edges = wb.sql("SELECT * FROM curated.graph_edges WHERE $n IN (source, target)", {"n": target})
    expected = set(edges["source"].to_list()) | set(edges["target"].to_list())
    near, total = ne.neighbours(wb, target)
    assert set(near) | {target} == expected and total == len(expected) - 1
    few, _ = ne.neighbours(wb, target, limit=1)
    assert len(few) == 1
    nodes, shown, evidence = ne.subgraph(wb, [target, *near])
    assert set(nodes["node_id"].to_list()) == expected and shown.height >= edges.height
    assert set(evidence["edge_id"].to_list()) == set(shown["edge_id"].to_list())
    links = ne.links_of(target, nodes, shown)
    assert links.height == edges.height and links["label"].null_count() == 0


def test_the_explorer_names_what_is_missing(tmp_path: Path) -> None:
    empty = connect(str(tmp_path / "lake"), user="ana")
    assert ne.search(empty, "anything").is_empty()
    text = str(ne.explorer_app(empty).objects[1].object)
    assert "curated.resolved_entities" in text and "workbench network resolve" in text


@pytest.fixture(scope="module")
def explorer_url(graph_lake: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("explorer_server") / "server.log"
    with served_app("network-explorer", graph_lake, log, WORKBENCH_USER="ana") as url:
        yield url


def canvas_painted(page: Any, index: int = 0, timeout: float = 20.0) -> bool:
    """Whether the ``index``-th canvas holds a picture (more than a few colours) before ``timeout``."""
    from PIL import Image

    canvas = page.locator("canvas").nth(index)
    canvas.wait_for(timeout=30_000)
    deadline = time.monotonic() + timeout
    while True:
        colours = Image.open(io.BytesIO(canvas.screenshot())).convert("RGB").getcolors(maxcolors=1 << 20)
        if colours is None or len(colours) > 8:
            return True
        if time.monotonic() > deadline:
            return False
        page.wait_for_timeout(250)


@pytest.mark.browser
def test_explorer_shows_identity_network_provenance_timeline_and_expands(
        explorer_url: str, browser: Any, wb: Session, tmp_path: Path) -> None:
    target = chinese_entity(wb)
    links = ne.links_of(target["entity_id"], *ne.subgraph(wb, [target["entity_id"],
                                                                *ne.neighbours(wb, target["entity_id"])[0]])[:2])
    first = links.row(0, named=True)
    page = browser.new_page(viewport={"width": 1300, "height": 1100})
    page.goto(explorer_url)
    box = page.get_by_placeholder("e.g. Lucky Star")
    box.wait_for(timeout=30_000)
    box.fill(target["name"])
    box.press("Enter")
    text = wait_for_text(page, "Written as")
    assert target["canonical_name"] in text and target["name"] in text
    wait_for_text(page, first["label"])  # the links table
    assert canvas_painted(page), "network plot canvas is blank"

    records = wb.sql("""SELECT v.record_id FROM curated.graph_edges e JOIN curated.graph_evidence v USING (edge_id)
        WHERE e.source = $a AND e.target = $b""", {"a": min(target["entity_id"], first["node_id"]),
                                                   "b": max(target["entity_id"], first["node_id"])})
    for attempt in range(6):  # pick the strongest link: its source records (a click while the table is
        page.get_by_text(first["label"], exact=True).last.click()  # still being redrawn is lost: click again)
        try:
            text = wait_for_text(page, "Source records behind", timeout=10.0)
            break
        except AssertionError:
            if attempt == 5:
                raise
    deadline = time.monotonic() + 20
    while not all(r in text for r in records["record_id"].to_list()[:3]) and time.monotonic() < deadline:
        page.wait_for_timeout(250)
        text = wait_for_text(page, "Source records behind")
    assert all(r in text for r in records["record_id"].to_list()[:3])

    activity = entity_activity(wb, target["entity_id"])["record_id"].to_list()
    assert activity and all(a in text for a in activity[:5])  # the timeline lists the entity's records

    further = set(ne.neighbours(wb, first["node_id"])[0]) - {target["entity_id"], *links["node_id"].to_list()}
    page.locator("select").nth(1).select_option(label=f"{first['label']} · {first['node_id']}")
    page.get_by_role("button", name="Expand node").click()
    text = wait_for_text(page, f"Expanded {first['node_id']}")
    if further:
        labels = wb.sql("SELECT label FROM curated.graph_nodes WHERE node_id IN (SELECT unnest($n))",
                        {"n": sorted(further)})["label"].to_list()
        assert any(label in wait_for_text(page, labels[0]) for label in labels)
    page.screenshot(path=str(tmp_path / "network_explorer.png"), full_page=True)
    print(f"\nscreenshot: {tmp_path / 'network_explorer.png'}")


# Screen position (viewport pixels) of every node of the network plot on the page: the Bokeh renderer whose
# data has a node_id column, mapped through its plot's scales and offset by the plot's canvas.
NODE_POSITIONS_JS = """() => {
  const models = [...Bokeh.documents[0].all_models];
  const plots = [];
  for (const r of models.filter(m => m.type === "GlyphRenderer" && m.data_source?.data?.node_id)) {
    const view = Bokeh.index.find_one(models.find(m => m.renderers?.includes(r)));
    if (view == null) continue;  // a plot replaced by a newer one
    const box = view.canvas_view.el.getBoundingClientRect(), d = r.data_source.data;
    plots.push(Array.from(d.node_id, (id, i) => ({id, x: box.left + view.frame.x_scale.compute(d.x[i]),
                                                   y: box.top + view.frame.y_scale.compute(d.y[i])})));
  }
  return plots;
}"""


def node_positions(page: Any, count: int | None = None, timeout: float = 30.0) -> list[dict[str, Any]]:
    """The nodes of the one network plot on the page (polled until it holds ``count`` nodes, when given)."""
    deadline = time.monotonic() + timeout
    while True:
        plots = page.evaluate(NODE_POSITIONS_JS)
        if len(plots) == 1 and (count is None or len(plots[0]) == count):
            return list(plots[0])
        if time.monotonic() > deadline:
            raise AssertionError(f"expected one network plot of {count} nodes, found {[len(p) for p in plots]}")
        page.wait_for_timeout(250)


@pytest.mark.browser
def test_tapping_a_node_in_the_plot_expands_it(explorer_url: str, browser: Any, wb: Session, tmp_path: Path) -> None:
    import math

    entity = chinese_entity(wb)
    target = entity["entity_id"]
    near, _ = ne.neighbours(wb, target)
    page = browser.new_page(viewport={"width": 1300, "height": 1100})
    page.goto(explorer_url)
    box = page.get_by_placeholder("e.g. Lucky Star")
    box.wait_for(timeout=30_000)
    box.fill(entity["name"])  # its first match, chosen at once
    box.press("Enter")
    wait_for_text(page, "Written as")
    assert canvas_painted(page), "network plot canvas is blank"
    page.locator("canvas").first.scroll_into_view_if_needed()
    nodes = node_positions(page, count=1 + len(near))
    shown = {n["id"] for n in nodes}
    assert shown == {target, *near}

    # The node to tap: one whose expansion adds nodes, farthest from any other so the tap hits it alone.
    grows = {n["id"]: set(ne.neighbours(wb, n["id"])[0]) - shown for n in nodes}
    gap = {n["id"]: min(math.dist((n["x"], n["y"]), (o["x"], o["y"])) for o in nodes if o is not n) for n in nodes}
    tapped = max((n for n in nodes if grows[n["id"]]), key=lambda n: gap[n["id"]])
    assert gap[tapped["id"]] > 30 and 0 < tapped["y"] < 1100, tapped
    page.mouse.click(tapped["x"], tapped["y"])

    wait_for_text(page, f"Expanded {tapped['id']}")
    after = {n["id"] for n in node_positions(page, count=len(shown | grows[tapped["id"]]))}
    assert after == shown | grows[tapped["id"]] and len(after) > len(shown)
    page.screenshot(path=str(tmp_path / "network_tapped.png"), full_page=True)
    print(f"\nscreenshot: {tmp_path / 'network_tapped.png'}")
