"""Kill tests: `workbench ingest run` killed at random points, re-run, ends where a clean run ends.

One scenario per connector kind that keeps state between runs: SQL (watermark on
updated_at, merge by key), file drops (files seen, merge by key) and web feeds and
document drops (documents zone: originals + index). Each round changes the source, runs a
never-killed lake in process to learn how long the work takes, then starts the CLI on the
other lake, kills it at a uniform random point of that work, and re-runs it. At the end
both lakes hold the same rows (order-independent content hash, run-specific columns
dropped) and no run is left marked running. ``INGEST_KILLS`` sets the rounds (the issue's
figure was taken with 20; ``make test`` runs 4 per kind).
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from tests.test_ingest import (  # noqa: F401 - fixtures
    QUARANTINE_VOLATILE,
    SQL_CONNECTOR,
    _load,
    content_hash,
    postgres,
    source_url,
    traders,
)
from workbench.demo.sources import serve_site
from workbench.session import Session, connect
from workbench.ingest import RunLog, parse_connector, run_connectors
from workbench.ingest.web import FETCHER_USER_ENV

KILLS = int(os.environ.get("INGEST_KILLS", "4"))
DOCUMENT_VOLATILE = ("retrieved_at",)

FILES_CONNECTOR = """
kind = "files"
[connection]
path_env = "DROP"
[[tables]]
target = "raw.test_items"
pattern = "*.csv"
merge_keys = ["item_id"]
[tables.columns]
item_id = { type = "string", pattern = '^I[0-9]{6}$' }
name = { type = "string" }
amount = { type = "float64", min = 0 }
"""

WEB_CONNECTOR = """
kind = "web"
allowed_hosts = ["127.0.0.1"]
snapshot = false  # 60 pages a round: chromium's images (seconds each) are tested in test_fetcher
[connection]
base_url_env = "SITE"
[[tables]]
target = "documents.index"
url = "feed.xml"
document_kind = "press_release"
"""

DOCUMENTS_CONNECTOR = """
kind = "documents"
[connection]
path_env = "NOTES"
[[tables]]
target = "documents.index"
document_kind = "intel_note"
"""


@dataclass
class Scenario:
    """Connector files, how a round changes their source, and which tables (volatile columns dropped) to compare."""

    connectors: dict[str, str]
    env: dict[str, str]
    change: Callable[[int], None]
    compared: dict[str, tuple[str, ...]]


def _sql(url: str, _: Path) -> Iterator[Scenario]:
    def change(round_: int) -> None:  # 20k rows a round: 3k new ones, the rest updated, one bad row in 997
        first = 1 + round_ * 3000
        _load(url, traders(range(first, first + 20_000), version=2 + round_, bad_every=997))

    yield Scenario({"traders": SQL_CONNECTOR}, {"SRC_URL": url}, change,
                   {"raw.test_traders": (), "quarantine.rejections": QUARANTINE_VOLATILE})


def _files(_: str, tmp_path: Path) -> Iterator[Scenario]:
    drop = tmp_path / "drop"
    drop.mkdir()

    def change(round_: int) -> None:  # a new 20k-row file a round, overlapping the last one's keys
        first = round_ * 15_000
        rows = "".join(f"I{i:06d},item {i} v{round_},{i % 997}.5\n" for i in range(first, first + 20_000))
        (drop / f"export_{round_:03d}.csv").write_text("item_id,name,amount\n" + rows + "I12,short key,1\n")

    yield Scenario({"items": FILES_CONNECTOR}, {"DROP": str(drop)}, change,
                   {"raw.test_items": (), "quarantine.rejections": QUARANTINE_VOLATILE})


def _web_and_documents(_: str, tmp_path: Path) -> Iterator[Scenario]:
    site, notes = tmp_path / "site", tmp_path / "notes"
    site.mkdir()
    notes.mkdir()
    published = datetime(2024, 1, 1, tzinfo=UTC)

    def change(round_: int) -> None:  # 60 new pages in the feed and 60 new notes in the drop a round
        for i in range(round_ * 60, (round_ + 1) * 60):
            body = " ".join(f"Customs seized {j} cartons of cigarettes at Lok Ma Chau." for j in range(i % 40 + 5))
            (site / f"p{i}.html").write_text(f"<html><body><article><h1>Seizure {i}</h1><p>{body}</p>"
                                             f"</article></body></html>", encoding="utf-8")
            (notes / f"note{i:04d}.txt").write_text(f"Title: Note {i}\nLanguage: en\n\n{body}\n", encoding="utf-8")
        items = "".join(
            f"<item><title>Seizure {i}</title><link>/p{i}.html</link><guid>W{i:05d}</guid>"
            f"<pubDate>{(published + timedelta(hours=i)).strftime('%a, %d %b %Y %H:%M:%S GMT')}</pubDate></item>"
            for i in range((round_ + 1) * 60))
        (site / "feed.xml").write_text(f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
                                       f"<language>en</language>{items}</channel></rss>", encoding="utf-8")

    with serve_site(site) as url:
        yield Scenario({"web": WEB_CONNECTOR, "notes": DOCUMENTS_CONNECTOR},
                       {"SITE": url, "NOTES": str(notes)}, change, {"documents.index": DOCUMENT_VOLATILE})


SCENARIOS = {"sql": _sql, "files": _files, "web+documents": _web_and_documents}


def _connectors(scenario: Scenario, folder: Path) -> dict[str, object]:
    """Write the scenario's connector files into ``folder``; return the parsed specs."""
    folder.mkdir()
    for name, text in scenario.connectors.items():
        (folder / f"{name}.toml").write_text(text)
    return {name: parse_connector(text, f"connectors/{name}.toml", name) for name, text in scenario.connectors.items()}


def _ingest_cli(lake: Path, folder: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """The command in the background, its output in ``<lake>.log`` (read by ``_finished`` on failure)."""
    with open(f"{lake}.log", "wb") as log:
        return subprocess.Popen([str(Path(sys.executable).parent / "workbench"), "ingest", "run", "--all",
                                 "--connectors", str(folder), "--lake", str(lake)],
                                env={**os.environ, **env, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"},
                                stdout=log, stderr=subprocess.STDOUT)


def _finished(proc: subprocess.Popen[bytes], lake: Path) -> None:
    code = proc.wait(timeout=180)
    assert code == 0, Path(f"{lake}.log").read_text(errors="replace")[-3000:]


def _wait_for_new_run(lake: Path, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    """Return once the command has logged a new run (its start-up is over) or has exited."""
    wb = connect(str(lake), user="tester")
    before = RunLog(wb.lake).frame().height
    deadline = time.monotonic() + timeout
    while proc.poll() is None and RunLog(wb.lake).frame().height == before:
        assert time.monotonic() < deadline, "the ingest command logged no run"
        time.sleep(0.02)


def _run_clean(wb: Session, specs: dict[str, object], env: dict[str, str]) -> None:
    records = run_connectors(wb.lake, specs, env=env)  # type: ignore[arg-type]
    assert all(r.status == "ok" for r in records), [r.summary() for r in records]


@pytest.mark.slow
@pytest.mark.parametrize("kind", list(SCENARIOS))
def test_ingestion_killed_at_random_points_reruns_to_the_clean_result(kind: str, tmp_path: Path,
                                                                      source_url: str, fetch_user: str) -> None:
    scenarios = SCENARIOS[kind](source_url, tmp_path)
    scenario = next(scenarios)
    scenario.env[FETCHER_USER_ENV] = fetch_user
    try:
        folder = tmp_path / "connectors"
        specs = _connectors(scenario, folder)
        lake = tmp_path / "killed"
        clean = connect(str(tmp_path / "clean"), user="tester")  # the same source changes, never killed
        rng = random.Random(20240601)

        scenario.change(0)
        _finished(_ingest_cli(lake, folder, scenario.env), lake)
        _run_clean(clean, specs, scenario.env)

        killed_at = []
        for round_ in range(1, KILLS + 1):
            scenario.change(round_)
            started = time.monotonic()
            _run_clean(clean, specs, scenario.env)
            work = time.monotonic() - started  # kill points fall anywhere in a run's work, after start-up
            proc = _ingest_cli(lake, folder, scenario.env)
            _wait_for_new_run(lake, proc)
            delay = rng.uniform(0, work)
            try:
                proc.wait(timeout=delay)
            except subprocess.TimeoutExpired:
                proc.kill()
                killed_at.append(round(delay, 2))
            proc.wait()
            _finished(_ingest_cli(lake, folder, scenario.env), lake)

        killed = connect(str(lake), user="tester")
        for name, drop in scenario.compared.items():
            a, b = killed.table(name), clean.table(name)
            assert a.height == b.height > 0, name
            assert content_hash(a, drop) == content_hash(b, drop), name
        runs = killed.table("system.ingest_runs")
        assert runs.filter(pl.col("status") == "running").is_empty()
        abandoned = runs.filter(pl.col("status") == "abandoned").height
        print(f"kill test ({kind}): {len(killed_at)} of {KILLS} runs killed at {killed_at} s into their work, "
              f"{abandoned} left a run unfinished; final lake equals a clean run")
    finally:
        scenarios.close()
