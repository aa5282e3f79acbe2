"""The live clearance loop below the apps: models in the stack, the scoring service's hand-over, the feed,
the followers, the live scorer, the queue and the hit rates.

One small world (scale 0.06: the smallest whose crossings hold inspection hits before the
validation period, so both models train) is published into a real PostgreSQL and landed in
the lake once for the module. truth.* is read here only to check the feed's planting.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, date, datetime
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import psycopg
import pytest
import requests
from click.testing import CliRunner
from deltalake import DeltaTable

from tests.conftest import free_port, wait_for_port
from tests.hub_support import wait_until
from workbench.cli.main import main
from workbench.demo.feed import CROSSINGS, DECLARATIONS, Feed, record_truth, world_illicit
from workbench.session import Session, connect
from workbench.ingest import load_connector_dir
from workbench.lake import retention
from workbench.ingest.postgres_server import LocalPostgres
from workbench.registry import Registry
from workbench.risk import load_model_spec, train
from workbench.risk.champions import Champions
from workbench.risk.live import QUEUE, RESULTS, LiveScorer
from workbench.risk.monitoring import MONITORING
from workbench.risk.scores import RISK_SCORES

REPO = Path(__file__).resolve().parents[1]
SPECS, CONNECTORS = REPO / "models", REPO / "connectors"
WORKBENCH = str(Path(sys.executable).parent / "workbench")
SEED, SCALE = 7, 0.06
MODELS = ["declaration_risk", "crossing_risk"]
TOKEN = "loop-token"


class Loop:
    """The module's world: sources in PostgreSQL, the same world in the lake, a registry beside it."""

    def __init__(self, root: Path, server: LocalPostgres) -> None:
        from workbench.demo.load import load_world
        from workbench.demo.sources import publish_sources

        self.root, self.server, self.db_url = root, server, server.url
        db_url = server.url
        self.published = publish_sources(SEED, SCALE, db_url, root / "sources")
        self.lake = str(root / "lake")
        self.registry_dir = root / "registry"
        self.wb = connect(self.lake, user="tester")
        load_world(self.wb.lake, seed=SEED, scale=SCALE, actor="tester")

    @property
    def registry(self) -> Registry:
        return Registry(self.registry_dir)

    def cli(self, *args: str) -> Any:
        result = CliRunner().invoke(main, [*args, "--lake", self.lake, "--registry", str(self.registry_dir)])
        assert result.exit_code == 0, result.output
        return result

    def env(self) -> dict[str, str]:
        return {**os.environ, **self.published.env("http://127.0.0.1:9/"), "WORKBENCH_LAKE": self.lake,
                "WORKBENCH_USER": "tester", "OMP_NUM_THREADS": "1"}

    def version(self, table: str) -> int:
        return int(DeltaTable(f"{self.lake}/{table.replace('.', '/')}").version())


@pytest.fixture(scope="module")
def loop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loop]:
    root = tmp_path_factory.mktemp("clearance")
    with LocalPostgres(free_port()) as server:
        yield Loop(root, server)


@pytest.fixture(scope="module")
def deployed(loop: Loop) -> str:
    """``workbench models up`` once over the module's world (its output)."""
    return loop.cli("models", "up").output


def test_models_up_trains_registers_sets_champions_and_scores_every_record(loop: Loop, deployed: str) -> None:
    assert "declaration_risk: trained v1; champion v1" in deployed and "crossing_risk: trained v1" in deployed
    scores = loop.wb.table(RISK_SCORES)
    for name, table, key in (("declaration_risk", "curated.declarations", "declaration_id"),
                             ("crossing_risk", "curated.crossings", "crossing_id")):
        mine = scores.filter(pl.col("model") == name)
        assert sorted(mine["record_id"].to_list()) == sorted(loop.wb.table(table)[key].to_list())
        assert mine["version"].unique().to_list() == [1] and mine["score"].is_between(0, 1).all()
        selected = mine.filter(pl.col("selection").is_not_null())
        assert selected.height and (selected["reason_1"] != "").all()  # every selected record says why
        by_score = selected.filter(pl.col("selection") == "score").height / mine.height
        assert 0.02 < by_score < 0.09, by_score  # about the capacity left after the random quota (4.5%)


def test_selection_takes_rules_first_then_the_random_quota_then_scores_from_the_threshold() -> None:
    import numpy as np
    import pandas as pd

    from workbench.risk.selection import decide, random_draw

    inspection = load_model_spec("crossing_risk", SPECS).inspection
    assert inspection is not None
    ids = [f"X{i:010d}" for i in range(4000)]
    rows = pd.DataFrame({"hs_code": ["93011000" if i % 100 == 0 else "85011000" for i in range(4000)]})
    scores = np.linspace(0, 1, 4000)
    reason = decide(rows, ids, scores, inspection, threshold=0.9, seed=13)
    rules = rows["hs_code"].str.startswith("93").to_numpy()
    assert (reason[rules] == "rule:arms and ammunition").all()
    drawn = random_draw(ids, inspection.rate * inspection.random_share, 13) & ~rules
    assert (reason[drawn] == "random").all() and 0 < drawn.sum() < 40  # about 0.5% of 4000
    rest = ~rules & ~drawn
    assert ((reason[rest] == "score") == (scores[rest] >= 0.9)).all()
    assert (reason == decide(rows, ids, scores, inspection, threshold=0.9, seed=13)).all()  # a redo decides alike


def test_a_second_up_over_the_same_spec_and_data_reuses_the_models(loop: Loop, deployed: str) -> None:
    before = loop.version(RISK_SCORES)
    again = loop.cli("models", "up").output
    assert "declaration_risk: reused" in again and "crossing_risk: reused" in again, again
    assert loop.registry.versions()["version"].to_list() == [1, 1]
    assert loop.version(RISK_SCORES) == before  # nothing re-scored either


def test_records_landed_today_keep_the_models_and_a_late_result_trains_a_challenger(
        loop: Loop, deployed: str, tmp_path: Path) -> None:
    """The stack trains on the snapshot before today (UTC): the live feed's records do not make a new model;
    a changed outcome of an older record does, and it waits as the challenger."""
    import shutil

    from tests.conftest import world_copy

    copy = world_copy(loop.wb, tmp_path)
    registry = tmp_path / "registry"
    shutil.copytree(loop.registry_dir, registry)

    def up() -> str:
        out = CliRunner().invoke(main, ["models", "up", "crossing_risk", "--lake", copy.settings.lake,
                                        "--registry", str(registry)])
        assert out.exit_code == 0, out.output
        return out.output

    crossings = copy.table("curated.crossings")
    fed = crossings.head(1).with_columns(crossing_id=pl.lit("X9999999999"), crossed_at=pl.lit(datetime.now(UTC).replace(tzinfo=None)),
                                         inspected=pl.lit(False), inspection_result=pl.lit(None, pl.Utf8))
    copy.lake.write(fed.to_arrow(), "curated.crossings", mode="append")
    assert "crossing_risk: reused" in up()
    late = crossings.filter(~pl.col("inspected")).head(1).with_columns(
        inspected=pl.lit(True), inspection_result=pl.lit("seizure"))
    copy.lake.write(late.to_arrow(), "curated.crossings", mode="merge")
    assert "crossing_risk: trained v2; champion v1" in up()
    assert Registry(registry).version_of("crossing_risk", "challenger") == 2


def test_the_service_takes_a_promoted_champion_without_a_failed_request(loop: Loop, deployed: str) -> None:
    port = free_port()
    proc = subprocess.Popen([WORKBENCH, "models", "serve", "declaration_risk", "--port", str(port), "--watch", "0.3",
                             "--registry", str(loop.registry_dir), "--access-log", str(loop.root / "access.log")],
                            env={**loop.env(), "WORKBENCH_SCORING_TOKEN": TOKEN}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    record = loop.wb.sql("SELECT declaration_id, lodged_at, direction, trader_id, consignee_name_norm, broker_id, "
                         "hs_code, hs_chapter, quantity, gross_weight_kg, value_hkd, currency, origin_country, mode, "
                         "port_code FROM curated.declarations LIMIT 1").to_dicts()[0]
    record["lodged_at"] = record["lodged_at"].isoformat()
    seen: list[int] = []
    failures: list[str] = []
    stop = threading.Event()

    def hammer() -> None:
        with requests.Session() as http:
            while not stop.is_set():
                response = http.post(f"http://127.0.0.1:{port}/score/declaration_risk", json=record, timeout=10,
                                     headers={"Authorization": f"Bearer {TOKEN}"})
                if response.status_code != 200:
                    failures.append(f"{response.status_code} {response.text[:100]}")
                else:
                    seen.append(response.json()["version"])

    try:
        wait_for_port(port, timeout=60)
        worker = threading.Thread(target=hammer)
        worker.start()
        wait_until(lambda: len(seen) > 20, 30, what="requests answered")
        version = loop.registry.register(train(load_model_spec("declaration_risk", SPECS), session=loop.wb))
        loop.cli("models", "promote", "declaration_risk", str(version))
        wait_until(lambda: version in seen[-5:], 60, what="the service answering with the promoted version")
        stop.set()
        worker.join(timeout=30)
    finally:
        stop.set()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
        loop.cli("models", "promote", "declaration_risk", "1")  # later tests score with v1 again
    assert not failures, failures[:5]
    assert seen[0] == 1 and seen[-1] == version and sorted(set(seen)) == [1, version]
    first_new = seen.index(version)
    assert set(seen[first_new:]) == {version}  # once swapped, never back


def test_only_a_modeller_promotes_and_compares_champion_and_challenger_on_the_newest_weeks(
        loop: Loop, deployed: str) -> None:
    args = ["models", "promote", "crossing_risk", "1", "--lake", loop.lake, "--registry", str(loop.registry_dir)]
    refused = CliRunner().invoke(main, args, env={"WORKBENCH_ROLE": "analyst", "WORKBENCH_USER": "ana"})
    assert refused.exit_code != 0 and "only modeller" in refused.output, refused.output
    done = CliRunner().invoke(main, args, env={"WORKBENCH_ROLE": "modeller", "WORKBENCH_USER": "mo"})
    assert done.exit_code == 0 and "now champion" in done.output, done.output
    from workbench.security.audit import read_records

    trail = [r for r in read_records(Path(loop.lake).parent / "audit") if r["event"] == "model_promote"]
    assert [(r["user"], r["status"]) for r in trail[-2:]] == [("ana", "denied"), ("mo", "ok")]
    assert "champion and challenger on the newest 8 weeks" in loop.cli("models", "compare", "declaration_risk",
                                                                       "--recent-weeks", "8").output
    from workbench.risk.monitoring import compare_recent

    registry = loop.registry
    table = compare_recent(loop.wb, {"champion": registry.load("declaration_risk"),
                                     "challenger": registry.load("declaration_risk", "challenger")}, weeks=8)
    assert list(table["model"]) == ["champion", "challenger"] and (table["rows"] > 0).all()
    assert table["since"].nunique() == 1 and "recall_at_5pct" in table.columns


def published_ids(batches: list[Any]) -> set[str]:
    return {i for b in batches for t in (DECLARATIONS, CROSSINGS) for i in b.ids.get(t, [])}


def test_a_fed_record_is_followed_curated_scored_and_queued_and_results_feed_back(loop: Loop, deployed: str) -> None:
    from workbench.ingest import follow

    feed = Feed(loop.db_url, world_illicit(loop.wb.lake), seed=11, folder=loop.root)
    specs = load_connector_dir(CONNECTORS)
    env = loop.published.env("http://127.0.0.1:9/")
    follow(loop.wb.lake, specs, ["tdec", "lbs"], env=env, rounds=1, every=1, curate=True)  # catch up with the world
    batches = [feed.publish(40), feed.publish_crossing(hs_code="93011000")]  # the last one is selected by rule
    assert record_truth(loop.wb.lake, batches) == sum(len(v) for b in batches for v in b.illicit.values())
    arms = batches[1].ids[CROSSINGS][0]
    follow(loop.wb.lake, specs, ["tdec", "lbs"], env=env, rounds=1, every=1, curate=True)
    ids = published_ids(batches)
    curated = set(loop.wb.sql("SELECT declaration_id AS id FROM curated.declarations UNION ALL "
                              "SELECT crossing_id FROM curated.crossings")["id"].to_list())
    assert ids <= curated
    registry = loop.registry
    scorer = LiveScorer(loop.wb, Champions(registry.version_of, lambda n, v: registry.load(n, version=v), MODELS))
    scorer.champions.check()
    tick = scorer.tick()
    assert sum(tick.scored.values()) == len(ids) and scorer.tick().scored == {}  # each once
    scored = loop.wb.table(RISK_SCORES).filter(pl.col("record_id").is_in(list(ids)))
    assert scored.height == len(ids) and (scored["reason_1"] != "").all()
    queue = loop.wb.table(QUEUE)
    assert set(queue["record_id"]) == set(scored.filter(pl.col("selection").is_not_null())["record_id"])
    assert queue.height == tick.queued and queue["place"].is_not_null().all()
    assert queue.filter(pl.col("record_id") == arms)["selection"].to_list() == ["rule:arms and ammunition"]
    # the tables the loop commits to every second keep minutes of history (``lake.retention``), the others theirs
    streamed = {"raw.tdec_declarations", "raw.lbs_crossings", "curated.declarations", "curated.crossings",
                RISK_SCORES, QUEUE}
    assert {n for n in [*streamed, "curated.traders"] if retention.holds(loop.wb.lake.delta(n), retention.STREAMED)
            } == streamed
    # decisions: one inspection with a hit for each queued record, recorded as an officer would
    decided = queue.head(3)
    results = decided.select("record_id", "kind", "model", "version", "selection", "place").with_columns(
        decision=pl.lit("inspect"), result=pl.Series(["seizure", "clear", "discrepancy"][: decided.height]),
        seizure_goods=pl.lit(None, pl.Utf8), seizure_value_hkd=pl.lit(None, pl.Float64), note=pl.lit(None, pl.Utf8),
        officer=pl.lit("officer"), decided_at=pl.lit(datetime(2026, 12, 1, 10)))
    loop.wb.write(results, RESULTS, mode="merge")
    assert scorer.tick().decided == decided.height
    assert not set(decided["record_id"]) & set(loop.wb.table(QUEUE)["record_id"])
    rates = loop.wb.table(MONITORING).filter((pl.col("kind") == "hit_rate") & (pl.col("subject") == "all")
                                             & (pl.col("window_start") == date(2026, 11, 30)))  # the decisions' week
    hand = results.filter(pl.col("result").is_in(["discrepancy", "seizure"])).height
    assert rates["hits"].sum() == hand and rates["labelled"].sum() == decided.height


def test_officers_results_label_the_records_they_decided_for_training(loop: Loop, deployed: str) -> None:
    """After the decisions above: a record an officer inspected is labelled by the result (a hit or not), where
    the source system still says "not inspected"; the rest keep their source labels."""
    from workbench.risk.data import read_lake

    decided = loop.wb.table(RESULTS).filter(pl.col("decision") == "inspect")
    assert decided.height
    for name in MODELS:
        spec = load_model_spec(name, SPECS)
        mine = decided.filter(pl.col("model") == name)
        if mine.is_empty():
            continue
        rows = read_lake(loop.wb, spec).checked.rows.set_index(spec.model.id)
        for record, result in mine.select("record_id", "result").iter_rows():
            assert rows.loc[record, spec.model.label] == (1 if result in ("discrepancy", "seizure") else 0)
        source = loop.wb.table(spec.data.table).filter(pl.col(spec.model.id).is_in(mine["record_id"].to_list()))
        assert not source["inspected"].any()  # the labels came from the officers, not the source


def test_the_feed_plants_illicit_records_and_crossings_at_the_worlds_rates(loop: Loop) -> None:
    illicit = world_illicit(loop.wb.lake)
    world = {t: loop.wb.table(name).height for t, name in ((DECLARATIONS, "curated.declarations"),
                                                           (CROSSINGS, "curated.crossings"))}
    batch = Feed(loop.db_url, illicit, seed=21, folder=loop.root).publish(600)
    for table in (DECLARATIONS, CROSSINGS):
        made = len(batch.ids[table])
        expected = 600 * world[table] / sum(world.values())
        assert abs(made - expected) < 4 * (expected * (1 - expected / 600)) ** 0.5 + 3, (table, made, expected)
        rate = len(illicit[table]) / world[table]
        planted = len(batch.illicit.get(table, {}))
        assert abs(planted - made * rate) < 4 * (made * rate * (1 - rate)) ** 0.5 + 3, (table, planted, made * rate)
        assert all(i in batch.ids[table] for i in batch.illicit.get(table, {}))
    with psycopg.connect(loop.db_url) as conn:  # committed, not inspected: outcomes are for officers to find
        found = conn.execute("SELECT count(*), count(*) FILTER (WHERE inspected) FROM lbs.crossings "
                             "WHERE crossing_id = ANY(%s)", (batch.ids[CROSSINGS],)).fetchone()
    assert found == (len(batch.ids[CROSSINGS]), 0)


def test_killed_followers_and_scorers_lose_nothing_and_score_nothing_twice(loop: Loop, deployed: str) -> None:
    """Follower and scorer processes are each killed (SIGKILL) three times at random points while the feed runs
    (benchmarks/bench_clearance.py --kills 20 does it twenty times); every published record ends up with exactly
    one row in the scores: none lost, none written twice, none rewritten."""
    import random

    feed = Feed(loop.db_url, {}, seed=12, folder=loop.root)
    scores_before = loop.version(RISK_SCORES)
    follower = [WORKBENCH, "ingest", "run", "tdec", "lbs", "--follow", "--every", "0.5", "--connectors", str(CONNECTORS)]
    scorer = [WORKBENCH, "models", "live", "--every", "0.3", "--registry", str(loop.registry_dir)]
    procs = {"follower": follower, "scorer": scorer}
    running = {name: subprocess.Popen(cmd, env=loop.env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
               for name, cmd in procs.items()}
    batches, stop = [], threading.Event()
    feeder = threading.Thread(target=lambda: feed.run(8, 2, stop=stop, on_publish=batches.append))
    feeder.start()
    rng = random.Random(5)
    try:
        for name in ["follower", "scorer"] * 3:
            time.sleep(rng.uniform(1.5, 4))
            running[name].kill()
            running[name].wait()
            running[name] = subprocess.Popen(procs[name], env=loop.env(), stdout=subprocess.DEVNULL,
                                             stderr=subprocess.DEVNULL)
        stop.set()
        feeder.join()
        ids = published_ids(batches)
        assert len(ids) > 30

        def all_scored() -> bool:
            found = loop.wb.sql(f"SELECT record_id FROM {RISK_SCORES} WHERE list_contains($ids, record_id)",
                                {"ids": list(ids)})
            return found.height >= len(ids)

        wait_until(all_scored, 90, interval=1, what="every published record scored")
    finally:
        stop.set()
        for proc in running.values():
            proc.terminate()
            proc.wait(timeout=20)
    counts = loop.wb.sql(f"SELECT record_id, count(*) AS n FROM {RISK_SCORES} GROUP BY 1 HAVING n > 1")
    assert counts.is_empty()
    commits = [h for h in DeltaTable(f"{loop.lake}/curated/risk_scores").history() if h["version"] > scores_before]
    assert commits and all(int(h.get("operationMetrics", {}).get("num_target_rows_updated", 0)) == 0 for h in commits)


def test_a_follower_rides_out_a_source_database_restart_losing_nothing_and_scoring_nothing_twice(
        loop: Loop, deployed: str) -> None:
    """A follower (in this process) holds its source connection between rounds; the source PostgreSQL restarts
    under it (its connections cut). The run that meets the dead connection retries on a new one (or fails and
    the next round reconnects), and the records committed before and after the restart each land once and are
    scored once."""
    from workbench.ingest import follow

    feed = Feed(loop.db_url, {}, seed=13, folder=loop.root)
    rounds: list[list[Any]] = []
    crashed: list[BaseException] = []
    stop = threading.Event()

    def follower() -> None:
        try:
            follow(connect(loop.lake, user="tester").lake, load_connector_dir(CONNECTORS), ["tdec", "lbs"],
                   env=loop.published.env("http://127.0.0.1:9/"), every=0.3, curate=True, stop=stop,
                   on_round=rounds.append)
        except BaseException as exc:  # the test fails on it below
            crashed.append(exc)

    def landed(batch: Any) -> bool:
        ids = published_ids([batch])
        found = loop.wb.sql("SELECT declaration_id AS id FROM curated.declarations WHERE list_contains($ids, "
                            "declaration_id) UNION ALL SELECT crossing_id FROM curated.crossings WHERE "
                            "list_contains($ids, crossing_id)", {"ids": list(ids)})
        return found.height >= len(ids)

    def source_clients() -> int:
        with psycopg.connect(loop.db_url) as conn:
            return conn.execute("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' "
                                "AND pid <> pg_backend_pid()").fetchone()[0]

    thread = threading.Thread(target=follower)
    thread.start()
    try:
        before = feed.publish(12)
        wait_until(lambda: landed(before), 90, interval=0.3, what="records committed before the restart landed")
        assert source_clients() >= 1  # the follower holds its connection between rounds
        seen_before = len(rounds)
        loop.server.restart()
        after = feed.publish(12)
        wait_until(lambda: landed(after), 90, interval=0.3, what="records committed after the restart landed")
        assert not crashed and thread.is_alive()
        assert len(rounds) > seen_before
        assert source_clients() >= 1  # the restart cut the kept connection; the follower holds a new one
    finally:
        stop.set()
        thread.join(timeout=60)
    assert not crashed, crashed
    ids = published_ids([before, after])
    for table, key in (("raw.tdec_declarations", "declaration_id"), ("raw.lbs_crossings", "crossing_id"),
                       ("curated.declarations", "declaration_id"), ("curated.crossings", "crossing_id")):
        twice = loop.wb.sql(f"SELECT {key} FROM {table} WHERE list_contains($ids, {key}) GROUP BY 1 "
                            f"HAVING count(*) > 1", {"ids": list(ids)})
        assert twice.is_empty(), (table, twice)
    registry = loop.registry
    scorer = LiveScorer(loop.wb, Champions(registry.version_of, lambda n, v: registry.load(n, version=v), MODELS))
    scorer.champions.check()
    scorer.tick()
    scored = loop.wb.sql(f"SELECT record_id, count(*) AS n FROM {RISK_SCORES} WHERE list_contains($ids, record_id) "
                         f"GROUP BY 1", {"ids": list(ids)})
    assert scored.height == len(ids) and (scored["n"] == 1).all()
