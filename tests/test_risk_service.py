"""The real-time scoring service, started as `workbench models serve` and hit over real HTTP.

The model is trained on the tiny world (its quality is not the point here); what is pinned
is the contract with clearance systems: token or 401, a score with reasons and the model
version for good input, a 4xx naming the field for bad input, never a 5xx.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import polars as pl
import pytest
import requests

from tests.conftest import free_port, wait_for_port
from workbench.session import Session
from workbench.registry import Registry
from workbench.risk import load_model_spec, train
from workbench.risk.data import lake_query
from workbench.risk.model import RiskModel

SPECS = Path(__file__).resolve().parents[1] / "models"
TOKEN = "s3cret-token"


@pytest.fixture(scope="module")
def served(tiny_world: Session, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A registered declaration_risk model served by the CLI on a free loopback port."""
    run = train(load_model_spec("declaration_risk", SPECS), session=tiny_world)
    folder = tmp_path_factory.mktemp("service") / "registry"
    version = Registry(folder).register(run)
    port, access_log = free_port(), folder.parent / "logs" / "scoring-access.log"
    env = {**os.environ, "WORKBENCH_SCORING_TOKEN": TOKEN}
    proc = subprocess.Popen([str(Path(sys.executable).parent / "workbench"), "models", "serve", "declaration_risk",
                             "--port", str(port), "--registry", str(folder), "--access-log", str(access_log)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for_port(port, timeout=60)
        yield {"url": f"http://127.0.0.1:{port}", "version": version, "model": run.model, "world": tiny_world,
               "access_log": access_log}
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def records(world: Session, model: RiskModel, n: int) -> list[dict[str, Any]]:
    """Declarations as a clearance system would send them: JSON-native values, timestamps as ISO text."""
    frame = world.sql(lake_query(model.spec, "curated.declarations", with_label=False) + f" LIMIT {n}").to_pandas()
    frame["lodged_at"] = frame["lodged_at"].dt.strftime("%Y-%m-%dT%H:%M:%S")
    return [{k: (None if pd.isna(v) else v) for k, v in row.items()} for row in frame.to_dict("records")]


def post(served: dict[str, Any], body: Any, token: str | None = TOKEN, raw: bytes | None = None) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if raw is not None:
        return requests.post(f"{served['url']}/score", data=raw, headers=headers, timeout=10)
    return requests.post(f"{served['url']}/score", json=body, headers=headers, timeout=10)


def test_one_record_gets_score_reasons_and_model_version(served: dict[str, Any]) -> None:
    record = records(served["world"], served["model"], 1)[0]
    response = post(served, record)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == "declaration_risk" and body["version"] == served["version"]
    (result,) = body["results"]
    assert result["id"] == record["declaration_id"] and 0 <= result["score"] <= 1
    assert isinstance(result["reasons"], list) and len(result["reasons"]) <= 3


def test_a_list_is_scored_in_order_and_matches_batch_scores(served: dict[str, Any]) -> None:
    sent = records(served["world"], served["model"], 20)
    body = post(served, sent).json()
    assert [r["id"] for r in body["results"]] == [r["declaration_id"] for r in sent]
    rows = served["world"].sql(lake_query(served["model"].spec, "curated.declarations", False) + " LIMIT 20")
    expected = served["model"].predict(rows.to_pandas())
    assert [round(r["score"], 9) for r in body["results"]] == [round(float(x), 9) for x in expected]


@pytest.mark.parametrize("token", [None, "wrong"])
def test_missing_or_wrong_token_is_401(served: dict[str, Any], token: str | None) -> None:
    response = post(served, records(served["world"], served["model"], 1)[0], token=token)
    assert response.status_code == 401 and response.json()["field"] == "authorization"


@pytest.mark.parametrize(("change", "status", "field"), [
    (lambda r: r.pop("value_hkd") and r, 200, None),  # nullable in the spec: scored without it
    (lambda r: r.pop("hs_code") and r, 422, "hs_code"),
    (lambda r: r | {"gross_weight_kg": "heavy"}, 422, "gross_weight_kg"),
    (lambda r: r | {"quantity": -3}, 422, "quantity"),
    (lambda r: r | {"mode": "teleport"}, 422, "mode"),
    (lambda r: r | {"lodged_at": "yesterday"}, 422, "lodged_at"),
    (lambda r: r | {"hs_code": {"nested": 1}}, 422, "hs_code"),
    (lambda r: [r, r], 422, "declaration_id"),  # the same id twice in one request
    (lambda r: [], 422, "body"),
    (lambda r: [r, 7], 422, "body[1]"),
    (lambda r: "just text", 422, "body[0]"),
])
def test_bad_input_is_4xx_naming_the_field(served: dict[str, Any], change: Any, status: int,
                                           field: str | None) -> None:
    response = post(served, change(records(served["world"], served["model"], 1)[0]))
    assert response.status_code == status, response.text
    if field is not None:
        assert response.json()["field"] == field and field in response.json()["error"]


def test_malformed_json_and_oversized_requests_are_4xx(served: dict[str, Any]) -> None:
    assert post(served, None, raw=b"{not json").status_code == 400
    assert post(served, None, raw=b"\xff\xfe").status_code == 400
    assert post(served, [{}] * 1001).status_code == 413
    assert requests.get(f"{served['url']}/score", timeout=10).status_code == 405
    health = requests.get(f"{served['url']}/health", timeout=10).json()
    assert health == {"model": "declaration_risk", "version": served["version"],
                      "models": {"declaration_risk": served["version"]}}


# -- the access log, and what the SIEM makes of it ---------------------------------------------


def access_lines(served: dict[str, Any], after: int = 0, expect: int = 0) -> list[dict[str, Any]]:
    """The access log's lines from line ``after`` on, waiting until there are ``expect`` of them.

    The service writes a line once the response is sent, so the client may be a moment ahead.
    """
    import json

    from tests.hub_support import wait_until

    def lines() -> list[str]:
        log = served["access_log"]
        return log.read_text().splitlines()[after:] if log.exists() else []

    if expect:
        wait_until(lambda: len(lines()) >= expect, 10, what=f"{expect} access lines")
    return [json.loads(line) for line in lines()]


def test_every_request_leaves_one_json_access_line_without_the_token_or_the_body(served: dict[str, Any]) -> None:
    from workbench.security.access_log import token_identity

    before = len(access_lines(served))
    record = records(served["world"], served["model"], 1)[0]
    assert post(served, record).status_code == 200
    assert post(served, record, token=None).status_code == 401
    assert post(served, record, token="wrong").status_code == 401
    assert post(served, record | {"quantity": -3}).status_code == 422
    assert requests.get(f"{served['url']}/health?probe=1", timeout=10).status_code == 200
    lines = access_lines(served, before, expect=5)
    assert [(x["method"], x["path"], x["status"], x["identity"]) for x in lines] == [
        ("POST", "/score", 200, token_identity(TOKEN)), ("POST", "/score", 401, "anonymous"),
        ("POST", "/score", 401, "anonymous"), ("POST", "/score", 422, token_identity(TOKEN)),
        ("GET", "/health", 200, "anonymous")]  # the path without its query string
    for line in lines:
        assert set(line) == {"ts", "client", "identity", "method", "path", "status", "latency_ms"}
        assert line["client"] == "127.0.0.1" and line["latency_ms"] >= 0 and line["ts"].endswith("+00:00")
    text = served["access_log"].read_text()
    assert TOKEN not in text and "wrong" not in text  # neither the token nor a guess at it
    assert record["declaration_id"] not in text and "probe" not in text  # nor the body or the query


def test_a_burst_of_refused_requests_from_one_address_is_a_denial_burst_alert(served: dict[str, Any]) -> None:
    from workbench.siem.collectors import ScoringLogCollector
    from workbench.siem.detectors import ANONYMOUS, DenialBurst

    collector = ScoringLogCollector(served["access_log"])
    seen = collector.new_events(None, None)  # type: ignore[arg-type]
    watermark = collector.watermark(seen)
    assert DenialBurst().detect(seen, None) == []  # type: ignore[arg-type]  # the earlier tests' few refusals
    before = len(access_lines(served))
    for token in [None, "guess-1", "guess-2", None, "guess-3", "guess-4"]:
        assert post(served, {}, token=token).status_code == 401
    assert post(served, records(served["world"], served["model"], 1)[0]).status_code == 200
    assert len(access_lines(served, before, expect=7)) == 7
    new = collector.new_events(None, watermark)  # type: ignore[arg-type]
    # The line at the watermark is read again (security.events merges it away); the 200 gives no event.
    fresh = new.filter(~new["event_id"].is_in(seen["event_id"].to_list()))
    assert fresh.select("source", "user_name", "source_ip", "action", "resource", "status").rows() == [
        ("scoring", ANONYMOUS, "127.0.0.1", "access_denied", "/score", "denied")] * 6
    (alert,) = DenialBurst().detect(fresh, None)  # type: ignore[arg-type]
    assert alert.detector == "denial_burst" and alert.user_name == ANONYMOUS and "127.0.0.1" in alert.summary
    assert alert.evidence == tuple(fresh["event_id"].to_list())
    # The same six from two addresses are two callers under the threshold: no alert.
    split = fresh.with_columns(source_ip=pl.Series(["10.0.0.1", "10.0.0.2"] * 3))
    assert DenialBurst().detect(split, None) == []  # type: ignore[arg-type]
