"""Dashboards: the data behind them, and the served apps in a real headless chromium.

Browser tests serve both apps with ``workbench apps serve`` on a free loopback port against
a copy of the tiny world (with a trader whose name is an HTML/JS payload), drive Debian's
chromium through Playwright and save screenshots to a tmp artifacts folder (path printed).
The apps behind the hub, role by role (field officers' lookup at a phone's width), are in
``test_publishing.py``, which runs one hub stack for all of them.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from tests.conftest import free_port, wait_for_port
from workbench.apps import lookup as lk
from workbench.apps import overview as ov
from workbench.session import Session, connect

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
PAYLOAD = '<script>window.pwned=1</script><img src=x onerror="window.pwned=2">'
PAYLOAD_ZH = "腳本測試有限公司"

# Text of the page including Bokeh's shadow roots; <script>/<style> contents are not text.
PAGE_TEXT_JS = """() => {
  const out = [];
  const walk = (n) => {
    if (n.nodeType === 3) { out.push(n.textContent); return; }
    if (n.nodeName === 'SCRIPT' || n.nodeName === 'STYLE') return;
    if (n.shadowRoot) walk(n.shadowRoot);
    for (const c of n.childNodes) walk(c);
  };
  walk(document.body);
  return out.join(' ');
}"""


# ----------------------------------------------------------------------------- data (no browser)


def test_overview_figures_match_the_lake_and_follow_filters(tiny_world: Session) -> None:
    facts, seized = ov.declaration_facts(tiny_world), ov.seizure_facts(tiny_world)
    expected = tiny_world.sql("select count(*) n, count(*) filter (where inspected) i from curated.declarations").row(0)
    h = ov.headline(facts, seized)
    assert (h.declarations, h.inspections) == expected
    assert h.seizures == tiny_world.sql("select count(*) from curated.seizures").item()

    port = facts["port"][0]
    start, end = date(2023, 1, 1), date(2023, 6, 30)
    n = tiny_world.sql("select count(*) from curated.declarations where port_code = $p and lodged_on between $a and $b",
                       {"p": port, "a": start, "b": end}).item()
    assert ov.headline(ov.filter_facts(facts, start, end, [port]), None).declarations == n

    table = ov.breakdown(facts, seized, "port")
    csv = pl.read_csv(io.StringIO(ov.to_csv(table).getvalue()))
    assert csv["declarations"].sum() == expected[0] and "hit_rate" in csv.columns


def test_overview_query_is_cached_until_the_table_changes(tiny_world: Session) -> None:
    from workbench.apps.queries import QueryCache, run_cached

    cache = QueryCache()
    run_cached(tiny_world, ov.DECLARATION_FACTS_SQL, [ov.DECLARATIONS], cache=cache)
    run_cached(tiny_world, ov.DECLARATION_FACTS_SQL, [ov.DECLARATIONS], cache=cache)
    assert (cache.misses, cache.hits) == (1, 1)


def monitoring_rows(wb: Session, model: str = "declaration_risk") -> pl.DataFrame:
    """``curated.model_monitoring`` hit-rate rows as the risk area's ``hit_rates`` computes them, taking the
    tiny world's inspected declarations as the selection (odd ids the random quota, even ids the model's)."""
    from datetime import datetime, timedelta

    from workbench.risk.monitoring import hit_rates

    inspected = wb.sql("select declaration_id as record_id, lodged_on as selected_on, "
                       "case when inspection_result is null then null when inspection_result = 'clear' then 0 "
                       "else 1 end as label from curated.declarations where inspected").to_pandas()
    inspected["reason"] = ["random" if int(i[-1]) % 2 else "score" for i in inspected["record_id"]]
    rates = pl.from_pandas(hit_rates(inspected[["record_id", "reason", "selected_on"]],
                                     inspected[["record_id", "label"]]))
    return rates.with_columns(
        pl.lit(model).alias("model"), pl.lit(1, dtype=pl.Int64).alias("version"),
        pl.col("window_start").cast(pl.Date), (pl.col("window_start").cast(pl.Date) + timedelta(days=7)).alias(
            "window_end"),
        pl.lit("hit_rate").alias("kind"), pl.lit(None, dtype=pl.Utf8).alias("detail"), pl.lit(False).alias("alert"),
        pl.lit(datetime(2026, 1, 1)).alias("computed_at"),
    ).select("model", "version", "window_start", "window_end", "kind", "subject", "value", "rows", "labelled", "hits",
             "detail", "alert", "computed_at")


def test_model_performance_reads_weekly_hit_rates_and_is_none_until_monitored(tiny_world: Session,
                                                                              tmp_path: Path) -> None:
    facts = ov.declaration_facts(tiny_world)
    weeks = ov.weekly(facts)
    assert weeks["inspections"].sum() == facts["inspections"].sum()
    assert weeks.filter(pl.col("inspections") > 0).select(
        (pl.col("hit_rate") - pl.col("hits") / pl.col("inspections")).abs().max()).item() < 1e-12
    assert ov.model_performance(tiny_world) is None

    lake = tmp_path / "lake"
    shutil.copytree(tiny_world.settings.lake, lake)
    wb = connect(str(lake), user="risk")
    rows = monitoring_rows(wb)
    assert wb.write(rows, ov.MONITORING, mode="append").rows_quarantined == 0
    perf = ov.model_performance(connect(str(lake), user="boss", role="manager"))  # managers may read it
    assert perf is not None and set(perf["subject"]) == {"all", "model", "random"}
    everything = perf.filter(pl.col("subject") == "all")
    assert everything["hits"].sum() == facts["hits"].sum()
    chart = ov.performance_chart(facts, perf, "declaration_risk")
    assert len(chart) == 4  # all inspections + the model's all / model / random lines


def test_png_export_draws_the_view_in_chromium(tiny_world: Session) -> None:
    from PIL import Image

    facts, seized = ov.declaration_facts(tiny_world), ov.seizure_facts(tiny_world)
    picture = Image.open(io.BytesIO(ov.overview_png(facts, seized, None, None, "<b>all</b> ports")))
    assert picture.format == "PNG" and picture.width >= 1100
    colours = picture.convert("RGB").getcolors(maxcolors=1 << 20)
    assert colours is None or len(colours) > 50, "the exported view is blank"


def test_lookup_classifies_and_finds_by_each_kind_of_input(tiny_world: Session) -> None:
    trader = tiny_world.sql("select t.* from curated.traders t join curated.declarations d using (trader_id) "
                            "order by t.trader_id limit 1").row(0, named=True)
    assert [lk.classify(x) for x in ("12345678", "TCNU 9442950", "ab 1234", "鳳門貿易")] == \
        ["br", "container", "plate", "company"]
    for text in (trader["name_zh"], trader["br_number"], trader["name_en"][:12].lower()):
        titles = [f.title for f in lk.lookup(tiny_world, text).findings]
        assert trader["name_en"] in titles, text
    found = lk.lookup(tiny_world, trader["br_number"]).findings[0]
    assert found.history is not None and found.history.height > 0
    plate = tiny_world.sql("select plate from curated.crossings limit 1").item()
    assert lk.lookup(tiny_world, plate.replace(" ", "").lower()).findings[0].facts["Crossings"] > 0
    container = tiny_world.sql("select container_no from curated.declarations where container_no is not null limit 1").item()
    assert lk.lookup(tiny_world, container).findings


def test_field_officer_looks_up_plates_and_companies_but_not_the_personal_registers(tiny_world: Session) -> None:
    from workbench.errors import AccessDenied

    lake = tiny_world.settings.lake
    officer = connect(lake, user="officer", role="field_officer")
    plate, owner = tiny_world.sql("select c.plate, v.owner_name from curated.crossings c join curated.vehicles v "
                                  "using (plate) order by c.crossing_id limit 1").row(0)
    found = lk.lookup(officer, plate)
    assert found.unavailable == [] and found.findings[0].title == plate and owner in found.findings[0].subtitle
    assert lk.lookup(connect(lake, user="boss", role="manager"), plate).findings == []  # masked for managers
    br = tiny_world.sql("select br_number from curated.traders join curated.case_parties using (br_number) "
                        "order by br_number limit 1").item()
    company = lk.lookup(officer, br)
    assert company.unavailable == [] and company.findings[0].facts["Cases"] > 0
    assert company.findings[0].facts["Risk"] == "high"
    for table in ("curated.people", "curated.drivers", "curated.cash_declarations", "documents.index", "raw.lbs_drivers"):
        with pytest.raises(AccessDenied, match="field officers"):
            officer.sql(f"select count(*) from {table}")
        assert tiny_world.sql(f"select count(*) from {table}").item() > 0  # refused, not missing


def test_lookup_history_wraps_its_rows_and_escapes_them() -> None:
    entry = lk.history_entry({"crossing_id": "X1", "crossed_on": date(2024, 1, 2), "plate": "<b>AB 1</b>",
                              "value_hkd": 12345.0, "cargo_desc": None, "inspection": "seizure"})
    assert entry.count('class="hrow"') == 1 and "&lt;b&gt;AB 1&lt;/b&gt;" in entry and "<b>AB" not in entry
    assert "2024-01-02" in entry and "X1" in entry and "insp-seizure" in entry and "12,345" in entry
    assert "cargo desc" not in entry  # empty fields are left out


def test_lookup_names_the_missing_table_instead_of_failing(tmp_path: Path) -> None:
    empty = connect(str(tmp_path / "lake"), user="tester")
    result = lk.lookup(empty, "鳳門貿易")
    assert result.findings == [] and "curated.traders" in result.unavailable
    assert "curated.crossings" in lk.lookup(empty, "AB 1234").unavailable


@pytest.mark.parametrize("build", [ov.overview_app, lk.lookup_app])
def test_apps_refuse_with_a_message_while_the_audit_service_is_down(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch,
                                                                   build: Any) -> None:
    """No audit, no access, and the viewer is told so (not an HTTP 500 with a traceback)."""
    monkeypatch.setenv("WORKBENCH_AUDIT_SOCKET", str(tmp_path / "nobody-listens.sock"))
    page = build(lake=str(tmp_path / "lake"))
    shown = repr(page.objects[-1].object if hasattr(page, "objects") else page.object)
    assert "audit trail cannot record this view" in shown, shown


# ----------------------------------------------------------------------------- browser


@pytest.fixture(scope="module")
def served(tiny_world: Session, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Both apps served by `workbench apps serve` over a copy of the tiny world with a hostile trader name."""
    root = tmp_path_factory.mktemp("apps")
    lake = root / "lake"
    shutil.copytree(tiny_world.settings.lake, lake)
    wb = connect(str(lake), user="tester")
    row = wb.sql("select * from curated.traders order by trader_id limit 1").with_columns(
        pl.lit("T9999999").alias("trader_id"), pl.lit("99999999").alias("br_number"),
        pl.lit(PAYLOAD).alias("name_en"), pl.lit(PAYLOAD.upper()).alias("name_norm"),
        pl.lit(PAYLOAD_ZH).alias("name_zh"))
    assert wb.write(row, "curated.traders", mode="append").rows_written == 1
    port = free_port()
    log = open(root / "server.log", "w")
    proc = subprocess.Popen([str(Path(sys.executable).parent / "workbench"), "apps", "serve", "--port", str(port),
                             "--lake", str(lake)], stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, "BOKEH_ALLOW_WS_ORIGIN": f"127.0.0.1:{port}"})
    artifacts = root / "artifacts"
    artifacts.mkdir()
    print(f"\nbrowser artifacts: {artifacts}")
    try:
        wait_for_port(port, timeout=60)
        yield {"url": f"http://127.0.0.1:{port}", "wb": wb, "artifacts": artifacts}
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        log.close()


@contextmanager
def served_app(name: str, lake: Path, log: Path, **env: str) -> Iterator[str]:
    """``workbench apps serve`` on a free loopback port with ``env`` (user, role); yields the URL of app ``name``."""
    port = free_port()
    with open(log, "w") as out:
        proc = subprocess.Popen([str(Path(sys.executable).parent / "workbench"), "apps", "serve", "--port", str(port),
                                 "--lake", str(lake)], stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
                                env={**os.environ, **env})
        try:
            wait_for_port(port, timeout=60)
            yield f"http://127.0.0.1:{port}/{name}"
        finally:
            proc.terminate()
            proc.wait(timeout=15)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed (apt-get install -y chromium)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def page_text(page: Any) -> str:
    return str(page.evaluate(PAGE_TEXT_JS))


def wait_for_text(page: Any, needle: str, timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        text = page_text(page)
        if needle in text:
            return text
        if time.monotonic() > deadline:
            raise AssertionError(f"{needle!r} not on the page after {timeout} s; page text: {text[:500]}")
        page.wait_for_timeout(200)


def open_lookup(browser: Any, url: str, text: str) -> tuple[Any, Any]:
    """A phone-sized page on the lookup with ``text`` typed in its box (not yet submitted): (page, box)."""
    page = browser.new_page(viewport={"width": 390, "height": 844})
    page.goto(url + "/lookup")
    box = page.locator("input[type=text]").first
    box.wait_for(timeout=30_000)
    box.fill(text)
    return page, box


@pytest.mark.browser
def test_overview_renders_real_numbers_and_a_drawn_plot(served: dict[str, Any], browser: Any) -> None:
    from PIL import Image

    from workbench.apps.layout import number_text

    declarations = served["wb"].sql("select count(*) from curated.declarations").item()
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.goto(served["url"] + "/risk-overview")
    text = wait_for_text(page, "Hit rate")
    assert number_text(declarations) in text and "Seizure figures: not available" not in text
    assert "curated.model_monitoring" in text  # model performance by reason: empty state names the missing table
    canvas = page.locator("canvas").first  # Bokeh draws in a shadow DOM; Playwright's CSS pierces it
    canvas.wait_for(timeout=30_000)
    deadline = time.monotonic() + 20
    while True:  # the canvas exists before it is painted: poll until it holds a picture
        colours = Image.open(io.BytesIO(canvas.screenshot())).convert("RGB").getcolors(maxcolors=1 << 20)
        if colours is None or len(colours) > 8 or time.monotonic() > deadline:
            break
        page.wait_for_timeout(250)
    page.screenshot(path=str(served["artifacts"] / "risk_overview.png"), full_page=True)
    assert colours is None or len(colours) > 8, f"plot canvas is blank ({len(colours)} colours)"


@pytest.mark.browser
def test_png_export_downloads_while_other_sessions_stay_responsive(served: dict[str, Any], browser: Any) -> None:
    """The PNG takes seconds of work (a chromium render); it runs off the event loop, so an officer's
    lookup in another session is answered while the manager's PNG is still being made."""
    trader = served["wb"].sql("select name_en from curated.traders order by trader_id limit 1").item()
    manager = browser.new_page(viewport={"width": 1280, "height": 1000})
    manager.goto(served["url"] + "/risk-overview")
    wait_for_text(manager, "Hit rate")
    officer, box = open_lookup(browser, served["url"], trader)

    manager.get_by_role("button", name="Make PNG of this view").click()
    box.press("Enter")
    wait_for_text(officer, "Recent declarations")
    assert "PNG ready" not in page_text(manager), "the lookup waited for the PNG: the event loop was blocked"

    wait_for_text(manager, "PNG ready", timeout=120)
    with manager.expect_download(timeout=30_000) as download:
        manager.get_by_role("button", name="Download PNG").click()
    data = Path(download.value.path()).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    (served["artifacts"] / "risk_overview_export.png").write_bytes(data)


@pytest.mark.browser
def test_lookup_finds_a_trader_by_chinese_name_with_its_declarations(served: dict[str, Any], browser: Any) -> None:
    wb = served["wb"]
    trader = wb.sql("select t.trader_id, t.name_en, t.name_zh from curated.traders t join curated.declarations d "
                    "using (trader_id) group by all order by count(*) desc limit 1").row(0, named=True)
    latest = wb.sql("select declaration_id from curated.declarations where trader_id = $t order by lodged_at desc "
                    "limit 1", {"t": trader["trader_id"]}).item()
    page, box = open_lookup(browser, served["url"], trader["name_zh"])
    box.press("Enter")
    text = wait_for_text(page, trader["name_en"])
    page.screenshot(path=str(served["artifacts"] / "lookup_zh.png"), full_page=True)
    assert latest in text and "Recent declarations" in text


@pytest.mark.browser
def test_lookup_renders_a_hostile_company_name_as_text(served: dict[str, Any], browser: Any) -> None:
    page, _ = open_lookup(browser, served["url"], PAYLOAD_ZH)
    page.get_by_role("button", name="Look up").click()
    wait_for_text(page, PAYLOAD)  # the markup shows as literal text...
    page.screenshot(path=str(served["artifacts"] / "lookup_escaped.png"), full_page=True)
    assert page.evaluate("() => window.pwned") is None  # ...and nothing in it ran
    assert page.locator("img[src=x]").count() == 0


# ----------------------------------------------------------------------------- security events


@pytest.fixture(scope="module")
def siem_lake(tiny_world: Session, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the tiny world after one SIEM cycle over its access log (events collected, alerts raised)."""
    from workbench.demo.access_log import demo_accounts
    from workbench.siem.pipeline import run_cycle

    lake = tmp_path_factory.mktemp("siem") / "lake"
    shutil.copytree(tiny_world.settings.lake, lake)
    assert run_cycle(connect(str(lake), user="siem"), accounts=demo_accounts()).new_alerts
    return lake


def test_security_alerts_sort_by_severity_filter_and_cite_their_events(siem_lake: Path) -> None:
    from workbench.apps import security_events as se

    wb = connect(str(siem_lake), user="root", role="admin")
    every = se.alerts(wb)
    ranks = [se.SEVERITIES.index(s) for s in every["severity"]]
    assert ranks == sorted(ranks) and every.height == wb.sql("select count(*) from security.alerts").item()
    high = se.alerts(wb, ["high"])
    assert set(high["severity"]) == {"high"} and high.height == se.severity_counts(every)["high"]
    alert = every.row(0, named=True)
    cited = se.evidence(wb, alert)
    assert sorted(cited["event_id"]) == sorted(alert["evidence"].split(","))
    failed = se.recent_events(wb, action="login_failed")
    assert failed.height and set(failed["action"]) == {"login_failed"}


def test_security_app_names_the_table_for_a_role_that_may_not_read_it(siem_lake: Path) -> None:
    from workbench.apps.security_events import security_app

    manager = connect(str(siem_lake), user="boss", role="manager")
    text = str(security_app(manager).objects[1].object)
    assert "security.events" in text and "not available yet" in text


@pytest.mark.browser
def test_security_app_filters_by_severity_and_drills_into_evidence(siem_lake: Path, browser: Any,
                                                                   tmp_path: Path) -> None:
    wb = connect(str(siem_lake), user="root", role="admin")
    alerts = wb.sql("select * from security.alerts order by alert_id")
    critical = alerts.filter(pl.col("severity") == "critical").row(0, named=True)
    other = alerts.filter(pl.col("severity") != "critical")["alert_id"].to_list()
    with served_app("security-events", siem_lake, tmp_path / "server.log", WORKBENCH_ROLE="admin") as url:
        page = browser.new_page(viewport={"width": 1300, "height": 1000})
        page.goto(url)
        wait_for_text(page, other[0])
        for severity in ("high", "medium", "low"):  # leave only critical checked
            page.get_by_role("button", name=severity, exact=True).click()
        deadline = time.monotonic() + 30
        while any(a in page_text(page) for a in other) and time.monotonic() < deadline:
            page.wait_for_timeout(200)
        assert not any(a in page_text(page) for a in other)
        page.get_by_text(critical["alert_id"], exact=True).click()
        text = wait_for_text(page, "evidence events,")
        assert all(e in text for e in critical["evidence"].split(",")[:5])
        page.screenshot(path=str(tmp_path / "security_events.png"), full_page=True)


def test_the_local_server_serves_every_app_of_the_app_list(served: dict[str, Any]) -> None:
    """`workbench apps serve` reads apps/apps.toml: each app whose code is in the tree has a page, built by
    the same document builder as the hub's service; nothing else is served."""
    import requests

    from workbench.apps.specs import available, load_apps

    apps = available(load_apps())
    assert {"risk-overview", "lookup", "labelling", "security-events", "network-explorer"} <= set(apps)
    for name, app in apps.items():
        page = requests.get(f"{served['url']}/{name}", timeout=120)
        assert page.status_code == 200 and f"<title>{app.title}</title>" in page.text, (name, page.text[:300])
    assert requests.get(f"{served['url']}/not-an-app", timeout=30).status_code == 404


def test_each_app_declares_every_table_its_module_names() -> None:
    """The home's freshness comes from the tables apps/apps.toml lists; a table an app's module queries
    (a module-level name like ``DECLARATIONS = "curated.declarations"``) but the list misses would leave
    its card silently stale."""
    import importlib
    import re

    from workbench.apps.specs import load_apps

    table = re.compile(r"^(raw|curated|documents|security|work)\.[a-z0-9_]+$")
    for name, app in load_apps().items():
        if app.build is None:
            continue
        module = importlib.import_module(app.build.partition(":")[0])
        named = {v for v in vars(module).values() if isinstance(v, str) and table.match(v)}
        assert named and named <= set(app.tables), (name, sorted(named - set(app.tables)))
