"""The clearance loop on the real (sandboxed) stack, in a real browser.

Hub, proxy, dashboards and the hub-managed scoring service run on free ports with
``wbt<hex>-`` users (``hub_support.running_stack``); the lake holds a small world with
both models deployed (``workbench models up``, so the stack starts the scoring service),
and its sources are in a real PostgreSQL. A crossing carrying arms is published to the
source; a follower round and a scorer tick (library calls, as the daemons make them) put
it in the queue; the field officer opens it on a phone, inspects and records a seizure;
the manager's overview shows the hit; the audit trail holds the officer's decision.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import requests
from click.testing import CliRunner

from tests.conftest import free_port
from tests.hub_support import api_token, running_stack, wait_until
from tests.test_apps import CHROMIUM, CHROMIUM_ARGS, page_text, wait_for_text
from workbench.ingest.postgres_server import LocalPostgres

pytestmark = [pytest.mark.hub, pytest.mark.browser, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]
SEED, SCALE = 7, 0.06
PREFIX = "/services/dashboards"
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def stack() -> Iterator[dict[str, Any]]:
    from workbench.cli.main import main
    from workbench.demo.load import load_world
    from workbench.demo.sources import publish_sources
    from workbench.session import connect

    with LocalPostgres(free_port()) as server:
        published: dict[str, Any] = {}

        def prepare(root: Path) -> dict[str, Any]:
            lake, audit = root / "lake", root / "audit-users"
            audit.mkdir()
            os.chmod(audit, 0o1777)
            published["sources"] = publish_sources(SEED, SCALE, server.url, root / "sources")
            load_world(connect(str(lake), user="tester").lake, seed=SEED, scale=SCALE, actor="tester")
            result = CliRunner().invoke(main, ["models", "up", "--lake", str(lake)])
            assert result.exit_code == 0, result.output
            for folder, _dirs, files in os.walk(lake):  # only inside our own temp folder
                os.chmod(folder, 0o755)
                for name in files:
                    os.chmod(os.path.join(folder, name), 0o644)
            return {"lake": str(lake), "audit_dir": str(audit)}

        with running_stack("clear", prepare=prepare, gateway=False) as s:
            yield {"stack": s, "lake": s.profile.lake, "db_url": server.url, "sources": published["sources"]}


def test_scoring_answers_through_the_proxy_for_hub_tokens_with_access_only(stack: dict[str, Any]) -> None:
    from workbench.platform.scoring import client_token_file

    s = stack["stack"]
    url = f"{s.url}/services/scoring"
    machine = client_token_file(s.profile).read_text().strip()
    health = wait_until(lambda: requests.get(f"{url}/health", timeout=10).json() if requests.get(
        f"{url}/health", timeout=10).status_code == 200 else None, 60, what="scoring service behind the proxy")
    assert health["models"] == {"declaration_risk": 1, "crossing_risk": 1}
    from workbench.session import connect

    record = connect(stack["lake"], user="tester").sql(
        "SELECT crossing_id, crossed_at, control_point, direction, plate, driver_id, hs_code, consignee_name_norm, "
        "declared_weight_kg FROM curated.crossings LIMIT 1").to_dicts()[0]
    record["crossed_at"] = record["crossed_at"].isoformat()
    scored = requests.post(f"{url}/score/crossing_risk", json=record, timeout=30,
                           headers={"Authorization": f"token {machine}"})
    assert scored.status_code == 200, scored.text
    assert scored.json()["version"] == 1 and scored.json()["results"][0]["id"] == record["crossing_id"]
    officer = api_token(s.url, "field-officer", s.passwords["field-officer"])  # a person's own hub token
    assert requests.post(f"{url}/score/crossing_risk", json=record, timeout=30,
                         headers={"Authorization": f"Bearer {officer}"}).status_code == 200
    for headers in ({}, {"Authorization": "token not-a-token"}, {"Authorization": f"Basic {machine}"}):
        assert requests.post(f"{url}/score/crossing_risk", json=record, headers=headers, timeout=30).status_code == 401


def login(s: Any, browser: Any, name: str, viewport: dict[str, int] | None = None) -> Any:
    page = browser.new_context(viewport=viewport or {"width": 1280, "height": 1000}).new_page()
    page.goto(f"{s.url}{PREFIX}/")
    page.wait_for_url("**/hub/login**", timeout=30_000)
    page.fill("#username_input", name)
    page.fill("#password_input", s.passwords[name])
    page.click("#login_submit")
    page.wait_for_url(f"{s.url}{PREFIX}/**", timeout=60_000)
    return page


def test_a_published_crossing_is_queued_inspected_by_an_officer_and_counted(stack: dict[str, Any]) -> None:
    from playwright.sync_api import sync_playwright

    from workbench.demo.feed import CROSSINGS, Feed
    from workbench.session import connect
    from workbench.ingest import follow, load_connector_dir
    from workbench.registry import Registry, registry_folder
    from workbench.risk.champions import Champions
    from workbench.risk.live import LiveScorer
    from workbench.security.audit import read_records

    s, lake = stack["stack"], stack["lake"]
    system = connect(lake, user="tester")
    arms = Feed(stack["db_url"], {}, seed=3).publish_crossing(hs_code="93011000")
    crossing = arms.ids[CROSSINGS][0]
    follow(system.lake, load_connector_dir(REPO / "connectors"), ["lbs"], env=stack["sources"].env("http://x/"),
           rounds=1, curate=True)
    registry = Registry(registry_folder(lake))
    scorer = LiveScorer(system, Champions(registry.version_of, lambda n, v: registry.load(n, version=v),
                                          ["crossing_risk"]))
    scorer.champions.check()
    assert scorer.tick().queued >= 1
    queued = system.sql("SELECT * FROM curated.clearance_queue WHERE record_id = $id", {"id": crossing}).row(0, named=True)
    assert queued["selection"] == "rule:arms and ammunition" and queued["reason_1"]

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = login(s, browser, "field-officer", PHONE)
        page.goto(f"{s.url}{PREFIX}/clearance?place={queued['place']}")
        text = wait_for_text(page, crossing)
        assert "rule:arms and ammunition" in text and queued["reason_1"].split(" (")[0] in text, text[:800]
        assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]  # fits a phone
        page.get_by_text(f"Open {crossing}", exact=True).click()
        wait_for_text(page, "The vehicle's recent crossings")
        page.get_by_text("inspect", exact=True).click()
        page.locator("select").last.select_option(label="hit: seizure")
        page.get_by_placeholder("e.g. 120 cartons of cigarettes").fill("2 pistols")
        page.get_by_text("Record decision", exact=True).click()
        assert "Recorded" in wait_for_text(page, f"Recorded: {crossing}")
        page.context.close()

        results = connect(lake, user="tester").table("curated.clearance_results")
        mine = results.filter(pl.col("record_id") == crossing).row(0, named=True)
        assert mine["officer"] == "field-officer" and mine["result"] == "seizure" and mine["seizure_goods"] == "2 pistols"
        trail = Path(lake).parent / "audit"
        wait_until(lambda: any(r.get("user") == "field-officer" and r.get("event") == "write"
                               and "curated.clearance_results" in (r.get("tables") or []) for r in read_records(trail)),
                   30, what="the officer's decision in the audit trail")
        assert scorer.tick().decided == 1  # out of the queue, into the hit rates

        manager = login(s, browser, "manager")
        manager.goto(f"{s.url}{PREFIX}/risk-overview")
        text = wait_for_text(manager, "Clearance decisions")
        text = wait_for_text(manager, "100.0%")
        assert "Hits" in text
        browser.close()
