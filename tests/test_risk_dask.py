"""Distributed batch scoring on a real Dask LocalCluster (worker processes) gives the in-process scores.

The table scored is the tiny world's declarations re-landed in three commits, so it has
several data files and the work really is split into several tasks.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from workbench.session import Session
from workbench.risk import load_model_spec, score_table, train
from workbench.risk.data import lake_query
from workbench.risk.model import RiskModel

SPECS = Path(__file__).resolve().parents[1] / "models"
SOURCE = "work.declarations_in_parts"


@pytest.fixture(scope="module")
def model(tiny_world: Session) -> RiskModel:
    spec = load_model_spec("declaration_risk", SPECS)
    lightgbm = spec.model_copy(update={"candidates": tuple(c for c in spec.candidates if c.algorithm == "lightgbm")})
    return train(lightgbm, session=tiny_world).model


@pytest.fixture(scope="module")
def dask_client() -> Iterator[object]:
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster, \
            Client(cluster) as client:
        yield client


def test_dask_scores_every_file_like_the_single_process_path(tiny_world: Session, model: RiskModel,
                                                             dask_client: object) -> None:
    rows = tiny_world.sql(lake_query(model.spec, "curated.declarations", with_label=False))
    for part in range(3):
        tiny_world.write(rows.gather_every(3, offset=part), SOURCE, mode="overwrite" if part == 0 else "append")
    assert len(tiny_world.lake.delta(SOURCE).file_uris()) == 3

    report = score_table(tiny_world, model, "work.scores_dask", table=SOURCE, model_version="v1", client=dask_client)
    single = score_table(tiny_world, model, "work.scores_single", table=SOURCE, model_version="v1")
    assert report.scored == single.scored == rows.height and not report.rejections
    assert report.versions == {SOURCE: tiny_world.lake.delta(SOURCE).version()}
    dask_scores = tiny_world.sql("SELECT declaration_id, score, model FROM work.scores_dask ORDER BY declaration_id")
    single_scores = tiny_world.sql("SELECT declaration_id, score, model FROM work.scores_single ORDER BY declaration_id")
    assert dask_scores.equals(single_scores)
    explained = tiny_world.sql("SELECT count(*) AS n FROM work.scores_dask WHERE reason_1 <> ''")["n"][0]
    per_file = [rows.gather_every(3, offset=part).height for part in range(3)]
    assert explained == sum(math.ceil(n * 0.05) for n in per_file)  # reasons for the top 5% of each file


def test_a_bad_row_in_one_file_is_reported_and_the_rest_scored(tiny_world: Session, model: RiskModel,
                                                               dask_client: object) -> None:
    rows = tiny_world.sql(f"SELECT * FROM {SOURCE}")
    bad_id = rows["declaration_id"][0]
    broken = rows.with_columns(pl.when(pl.col("declaration_id") == bad_id).then(pl.lit("teleport"))
                               .otherwise(pl.col("mode")).alias("mode"))
    tiny_world.write(broken, "work.declarations_broken", mode="overwrite")
    report = score_table(tiny_world, model, "work.scores_broken", table="work.declarations_broken", client=dask_client)
    assert report.scored == rows.height - 1 and len(report.rejections) == 1
    assert report.rejections[0].field == "mode" and bad_id in report.rejections[0].record
