"""The service's fast path (``risk.records`` + ``risk.online``) answers exactly as the batch path does.

Every request is answered twice, by ``score_records`` with and without the fast path:
results (scores and reasons) must be identical, and so must every error, because the fast
path declines whatever it cannot prove conforming and the contract words the rejection.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.test_risk_service import records
from workbench.session import Session
from workbench.risk import load_model_spec, train
from workbench.risk.model import RiskModel
from workbench.risk.online import OnlineScorer
from workbench.risk.service import BadRequest, parse_records, score_records

SPECS = Path(__file__).resolve().parents[1] / "models"


def trained(tiny_world: Session, algorithm: str) -> RiskModel:
    """declaration_risk with one candidate of ``algorithm`` (the label-encoded LightGBM with the native one's
    parameters), so the model served is that algorithm whatever selection would pick."""
    spec = load_model_spec("declaration_risk", SPECS)
    same = "lightgbm" if algorithm == "lightgbm_label_encoded" else algorithm
    candidate = next(c for c in spec.candidates if c.algorithm == same).model_copy(update={"algorithm": algorithm})
    return train(spec.model_copy(update={"candidates": (candidate,)}), session=tiny_world).model


@pytest.fixture(scope="module")
def model(tiny_world: Session) -> RiskModel:
    return trained(tiny_world, "lightgbm")


@pytest.fixture(scope="module", params=["lightgbm", "lightgbm_label_encoded", "logistic"])
def any_model(request: pytest.FixtureRequest, tiny_world: Session) -> RiskModel:
    """Every algorithm a spec can select: the fast path must serve each, identically to the batch path."""
    if request.param == "lightgbm":
        return request.getfixturevalue("model")
    return trained(tiny_world, request.param)


def answer(model: RiskModel, body: Any, fast: OnlineScorer | None) -> Any:
    """What the service would send back: the results, or the error's status, field, reason and record list."""
    try:
        return score_records(model, json.dumps(body).encode(), fast)
    except BadRequest as bad:
        return (bad.status, bad.field, bad.reason, bad.errors)


UNSEEN: list[Callable[[dict[str, Any]], dict[str, Any]]] = [
    lambda r: r | {"hs_code": "99999999", "hs_chapter": "99"},
    lambda r: r | {"port_code": "NOWHERE", "origin_country": "ZZ", "currency": "XXX"},
    lambda r: r | {"trader_id": "T-never-seen", "broker_id": None, "consignee_name_norm": None},
    lambda r: {k: v for k, v in r.items() if k not in ("value_hkd", "currency", "broker_id")},
    lambda r: r | {"quantity": 0, "gross_weight_kg": "12.5", "value_hkd": 1e9, "lodged_at": "2024-02-29 23:59"},
    lambda r: r | {"quantity": "1.", "gross_weight_kg": ".5", "value_hkd": "+3E2", "lodged_at": "2024-03-01"},
    lambda r: r | {"quantity": "-0", "gross_weight_kg": "1e-3", "value_hkd": 12345678901234567890},
]

BAD: list[Callable[[dict[str, Any]], Any]] = [  # records the fast path must leave to the contract
    lambda r: r | {"gross_weight_kg": "heavy"},
    lambda r: r | {"quantity": -3},
    lambda r: r | {"quantity": " 3"},  # the contract strips and accepts: the fast path must defer, not differ
    lambda r: r | {"value_hkd": "1_000"},
    lambda r: r | {"mode": "teleport"},
    lambda r: r | {"lodged_at": "yesterday"},
    lambda r: r | {"lodged_at": "2024-02-30T10:00:00"},
    lambda r: r | {"lodged_at": "2024-01-05T10:00:00.250"},
    lambda r: r | {"hs_code": {"nested": 1}},
    lambda r: r | {"hs_code": r["hs_code"] + "\n"},
    lambda r: r | {"declaration_id": None},
    lambda r: {k: v for k, v in r.items() if k != "hs_code"},
    lambda r: [r, r],
]


def texts(model: RiskModel, body: Any) -> list[dict[str, str | None]]:
    """The body as the service hands it to the fast path."""
    return parse_records(json.dumps(body).encode(), list(model.spec.input.columns))


def test_fast_path_scores_and_reasons_equal_the_batch_path(any_model: RiskModel, tiny_world: Session) -> None:
    model = any_model
    fast = OnlineScorer.for_model(model)
    assert fast is not None and model.algorithm == model.spec.candidates[0].algorithm
    count, varied = (300, 20) if model.algorithm == "lightgbm" else (40, 5)  # each batch answer costs ~0.1 s
    sent = records(tiny_world, model, count)
    sent += [change(dict(r)) for r in sent[:varied] for change in UNSEEN]
    for record in sent:
        expected = answer(model, record, None)
        assert isinstance(expected, list), expected
        assert fast.try_score(texts(model, record)) == expected  # served by the fast path itself, not deferred
    batch = sent[:min(50, count)]  # distinct ids (the varied records repeat theirs)
    assert answer(model, batch, fast) == answer(model, batch, None)
    assert any(r["reasons"] for r in answer(model, batch, fast))


@pytest.mark.parametrize("change", BAD)
def test_bad_records_get_the_contracts_answer(model: RiskModel, tiny_world: Session,
                                              change: Callable[[dict[str, Any]], Any]) -> None:
    fast = OnlineScorer.for_model(model)
    assert fast is not None
    body = change(records(tiny_world, model, 1)[0])
    assert fast.try_score(texts(model, body)) is None
    assert answer(model, body, fast) == answer(model, body, None)


def test_the_live_scorers_rows_get_the_batch_paths_scores_reasons_and_selections(any_model: RiskModel,
                                                                                  tiny_world: Session) -> None:
    """``scored_frame`` with the fast path (a live tick) equals the batch path explaining every row, on lake rows
    (typed by the contract, not sent as text) including missing values."""
    from datetime import datetime

    from workbench.risk.data import check_frame, lake_query
    from workbench.risk.scores import scored_frame

    model = any_model
    raw = tiny_world.sql(lake_query(model.spec, "curated.declarations", with_label=False) + " LIMIT 60")
    checked = check_frame(raw, model.spec, "curated.declarations")
    assert checked.rows.isna().any().any()  # missing values take the same path both ways
    at = datetime(2024, 1, 1)
    fast = scored_frame(model, 1, checked, 0.5, at, fast=OnlineScorer.for_model(model))
    assert fast.equals(scored_frame(model, 1, checked, 0.5, at, explain_all=True))
    assert fast["reason_1"].str.len_chars().min() > 0
