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
import pytest
import requests

from tests.conftest import free_port, wait_for_port
from workbench.explore import Session
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
    port = free_port()
    env = {**os.environ, "WORKBENCH_SCORING_TOKEN": TOKEN}
    proc = subprocess.Popen([str(Path(sys.executable).parent / "workbench"), "models", "serve", "declaration_risk",
                             "--port", str(port), "--registry", str(folder)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for_port(port, timeout=60)
        yield {"url": f"http://127.0.0.1:{port}", "version": version, "model": run.model, "world": tiny_world}
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
    assert health == {"model": "declaration_risk", "version": served["version"]}
