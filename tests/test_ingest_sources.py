"""The demo's published sources through the real connectors, and the REST, web and document kinds.

PostgreSQL runs once per module on a free loopback port; web sites and APIs are tiny
loopback HTTP servers started by the tests (the network is closed).
"""

from __future__ import annotations

import hashlib
import io
import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import polars as pl
import pyarrow as pa
import psycopg
import pytest

from tests.conftest import TINY_SCALE, TINY_SEED
from tests.test_ingest import content_hash, postgres, source_url  # noqa: F401 - shared fixtures
from workbench.demo.sources import _docx, _pdf, publish_sources, serve_site
from workbench.demo.world import TABLES
from workbench.session import Session, connect
from workbench.ingest import follow, load_connector_dir, parse_connector, run_connectors, status
from workbench.ingest.web import FETCHER_USER_ENV
from workbench.lake import TableStream, retention
from workbench.lake.documents import DocumentStore

CONNECTORS = Path(__file__).parents[1] / "connectors"
DOC_COLUMNS = ("doc_id", "kind", "language", "title", "published_at")


def _documents(wb: Session) -> pl.DataFrame:
    """The comparable part of the documents index: whitespace in text normalised (PDF lines wrap)."""
    frame = wb.table("documents.index")
    return frame.select(*DOC_COLUMNS, text=pl.col("text").str.split(" ").list.join(" ").str.replace_all(r"\s+", " "))


@pytest.mark.slow
def test_published_sources_ingest_to_the_raw_zone_demo_generate_lands(tiny_world: Session, source_url: str,
                                                                       tmp_path: Path, fetch_user: str) -> None:
    truth: dict[str, pl.DataFrame] = {}

    def keep_truth(stream: TableStream) -> None:
        truth[stream.name] = pl.from_arrow(pa.Table.from_batches(list(stream.batches), schema=stream.schema))

    published = publish_sources(TINY_SEED, TINY_SCALE, source_url, tmp_path / "sources", truth=keep_truth)
    # the truth zone is nobody's source: handed to the caller (make up lands it for scoring), never published
    assert set(truth) == {n for n in tiny_world.tables()["name"] if n.startswith("truth.")}
    assert all(content_hash(frame) == content_hash(tiny_world.table(name)) for name, frame in truth.items())
    assert not any("truth" in path.name for path in (tmp_path / "sources").rglob("*"))
    specs = load_connector_dir(CONNECTORS)
    wb = connect(str(tmp_path / "lake"), user="tester")
    with serve_site(published.site) as site:
        env = {**published.env(site), FETCHER_USER_ENV: fetch_user}
        started = time.perf_counter()
        records = run_connectors(wb.lake, specs, env=env, workers=2)
        first = time.perf_counter() - started
        assert all(r.status == "ok" for r in records), [r.summary() for r in records if r.status != "ok"]
        for name in TABLES:
            if name.startswith("raw.") and name != "raw.documents":
                direct, ingested = tiny_world.table(name), wb.table(name)
                assert ingested.height == direct.height, name
                assert content_hash(ingested) == content_hash(direct), name
        ingested_docs, direct_docs = _documents(wb).sort("doc_id"), _documents(tiny_world).sort("doc_id")
        for column in ingested_docs.columns:
            diff = ingested_docs.filter(ingested_docs[column] != direct_docs[column])
            assert diff.is_empty(), (column, diff.head(3).to_dicts(), direct_docs.filter(
                pl.col("doc_id").is_in(diff["doc_id"].head(3).to_list())).to_dicts())
        index = wb.table("documents.index")
        assert index["source"].str.starts_with(site).sum() == index.filter(
            pl.col("kind").is_in(["press_release", "web_article"])).height > 0
        assert index["retrieved_at"].is_not_null().all()
        assert set(index["media_type"]) >= {"text/html", "application/pdf", "text/plain"}

        started = time.perf_counter()
        again = run_connectors(wb.lake, specs, env=env, workers=2)
        assert sum(r.rows_read for r in again) == 0 and all(r.status == "ok" for r in again)
        print(f"published sources at scale {TINY_SCALE}: {sum(r.rows_written for r in records):,} rows from "
              f"{len(specs)} connectors in {first:.1f} s; no-op re-run {time.perf_counter() - started:.1f} s")

    with psycopg.connect(source_url, autocommit=True) as conn:
        conn.execute("UPDATE cirms.traders SET name_en = name_en || ' LIMITED' WHERE trader_id = "
                     "(SELECT min(trader_id) FROM cirms.traders)")
    read = {r.table_name: r.rows_read for r in run_connectors(wb.lake, specs, ["cirms"], env=env)}
    assert read == {name: int(name == "raw.cirms_traders") for name in read}
    assert wb.table("raw.cirms_traders")["name_en"].str.ends_with(" LIMITED").sum() == 1


# -- REST --------------------------------------------------------------------------------------

TOKEN = "s3cret-token"
EVENTS = [{"event_id": f"E{i:04d}", "plate": f"AB {i}", "seen_at": f"2024-05-01T10:{i:02d}:00"} for i in range(1, 26)]


class _API(BaseHTTPRequestHandler):
    """A paginated events API: bearer token, ``since`` filter, ``page``/``size`` with Link headers."""

    events: list[Any] = []

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def do_GET(self) -> None:  # noqa: N802 - the http.server hook name
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            return self._send(401, {"error": "bad token"})
        query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
        since, page = query.get("since", ""), int(query.get("page", "1"))
        rows = [e for e in self.events if not isinstance(e, dict) or e["seen_at"] > since]
        chunk = rows[(page - 1) * 10: page * 10]
        headers = {}
        if page * 10 < len(rows):
            nxt = f"/api/events?page={page + 1}" + (f"&since={since}" if since else "")
            headers["Link"] = f'<{nxt}>; rel="next"'
        self._send(200, {"items": chunk}, headers)

    def _send(self, code: int, body: object, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        for key, value in {"Content-Type": "application/json", **(headers or {})}.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def api() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _API)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


REST_CONNECTOR = """
kind = "rest"
retries = 0
[connection]
base_url_env = "API_URL"
token_env = "API_TOKEN"
[[tables]]
target = "raw.test_events"
url = "api/events"
records = "items"
incremental = "seen_at"
since_param = "since"
merge_keys = ["event_id"]
[tables.columns]
event_id = { type = "string", pattern = '^E[0-9]{4}$' }
plate = { type = "string" }
seen_at = { type = "timestamp" }
"""


def test_rest_api_pages_with_auth_header_and_reads_only_since_the_watermark(tmp_path: Path, api: str,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_API, "events", [*EVENTS[:20], ["not", "an", "object"]])
    wb = connect(str(tmp_path / "lake"), user="tester")
    spec = parse_connector(REST_CONNECTOR, "connectors/events.toml", "events")
    [denied] = run_connectors(wb.lake, {"events": spec}, env={"API_URL": api, "API_TOKEN": "wrong"})
    assert denied.status == "failed" and "HTTP 401" in (denied.error or "") and denied.attempts == 1

    env = {"API_URL": api, "API_TOKEN": TOKEN}
    [first] = run_connectors(wb.lake, {"events": spec}, env=env)
    assert (first.status, first.rows_read, first.rows_written, first.rows_quarantined) == ("ok", 20, 20, 1)
    assert "JSON object" in wb.table("quarantine.rejections")["rule"].to_list()

    monkeypatch.setattr(_API, "events", EVENTS)  # five newer events
    [second] = run_connectors(wb.lake, {"events": spec}, env=env)
    assert (second.rows_read, second.rows_written) == (5, 5)
    assert wb.table("raw.test_events").height == 25
    [third] = run_connectors(wb.lake, {"events": spec}, env=env)
    assert third.rows_read == 0


# -- web pages, feeds and document drops --------------------------------------------------------

PAGE = ('<html lang="zh-HK"><head><title>海關新聞</title><script>var x = 1;</script></head><body>'
        '<nav>首頁</nav><main><p>香港海關檢獲懷疑走私貨物。</p></main><footer>版權</footer></body></html>')
RSS = ('<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><language>en</language>'
       '<item><title>Seizure</title><link>/a.html</link><guid>A1</guid>'
       '<pubDate>Tue, 02 Jan 2024 03:04:05 GMT</pubDate></item>'
       '<item><title>Gone</title><link>/missing.html</link><guid>A2</guid></item></channel></rss>')
ARTICLE = '<html><body><article><header><h1>Seizure</h1></header><p>Customs seized cigarettes.</p></article></body></html>'


def _png_with_metadata() -> bytes:
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("Description", "Container KCCT scan")
    out = io.BytesIO()
    Image.new("RGB", (64, 32), "gray").save(out, format="PNG", pnginfo=info)
    return out.getvalue()


def test_web_pages_feeds_and_document_drops_land_text_metadata_and_originals(tmp_path: Path, fetch_user: str) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "page.html").write_text(PAGE, encoding="utf-8")
    (site / "feed.xml").write_text(RSS, encoding="utf-8")
    (site / "a.html").write_text(ARTICLE, encoding="utf-8")
    drop = tmp_path / "drop"
    drop.mkdir()
    doc = {"title": "Note", "language": "en", "published_at": datetime(2024, 3, 1, 8), "text": "Plain (PDF) text."}
    files = {"n1.txt": "Title: 情報\nLanguage: zh\n\n消息人士指。".encode(), "n2.pdf": _pdf(doc),
             "n3.docx": _docx({**doc, "title": "海關", "language": "zh", "text": "董事。"}),
             "n4.png": _png_with_metadata(), "n5.pdf": b"%PDF-1.4 broken", "n6.exe": b"MZ"}
    for name, data in files.items():
        (drop / name).write_bytes(data)
    web = parse_connector('kind = "web"\nallowed_hosts = ["127.0.0.1"]\n[connection]\nbase_url_env = "SITE"\n[[tables]]\ntarget = "documents.index"\n'
                          'url = "page.html"\n[[tables]]\ntarget = "documents.index"\nurl = "feed.xml"\n'
                          'document_kind = "press_release"\n', "connectors/w.toml", "w")
    dropped = parse_connector('kind = "documents"\n[connection]\npath_env = "DROP"\n[[tables]]\n'
                              'target = "documents.index"\ndocument_kind = "intel_note"\n', "connectors/d.toml", "d")
    wb = connect(str(tmp_path / "lake"), user="tester")
    with serve_site(site) as url:
        env = {"SITE": url, "DROP": str(drop), FETCHER_USER_ENV: fetch_user}
        records = run_connectors(wb.lake, {"w": web, "d": dropped}, env=env, workers=2)
        assert [r.status for r in records] == ["ok"] * 3
        index = {r["doc_id"]: r for r in wb.table("documents.index").to_dicts()}
        page = next(r for r in index.values() if r["source"] == f"{url}page.html")
        assert (page["language"], page["title"], page["text"]) == ("zh", "海關新聞", "香港海關檢獲懷疑走私貨物。")
        assert (index["A1"]["text"], index["A1"]["language"], index["A1"]["published_at"]) == (
            "Customs seized cigarettes.", "en", datetime(2024, 1, 2, 3, 4, 5))
        assert index["A1"]["source"] == f"{url}a.html" and index["A1"]["retrieved_at"] is not None
        assert (index["n1"]["title"], index["n1"]["language"], index["n1"]["text"]) == ("情報", "zh", "消息人士指。")
        assert (index["n2"]["text"], index["n2"]["published_at"]) == ("Plain (PDF) text.", datetime(2024, 3, 1, 8))
        assert (index["n3"]["title"], index["n3"]["language"], index["n3"]["text"]) == ("海關", "zh", "董事。")
        assert "Description: Container KCCT scan" in index["n4"]["text"] and "width: 64" in index["n4"]["text"]
        store = DocumentStore(wb.lake)
        assert store.read(index["n2"]["path"]) == files["n2.pdf"]
        assert hashlib.sha256(files["n3.docx"]).hexdigest() == index["n3"]["sha256"]
        rejected = wb.table("quarantine.rejections")
        reasons = dict(zip(rejected["record"], rejected["value"], strict=True))
        assert "HTTP 404" in reasons[f"feed {url}feed.xml entry A2"]
        assert "not a readable PDF" in reasons["file n5.pdf"] and "no text extractor" in reasons["file n6.exe"]
        again = run_connectors(wb.lake, {"w": web, "d": dropped}, env=env)
        assert sum(r.rows_read for r in again) == 0


# -- follow and status ---------------------------------------------------------------------------


def _poll(check: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


CONNECTOR_1S = ('kind = "sql"\nschedule = "1s"\n[connection]\nurl_env = "DB"\n[[tables]]\n'
                'target = "raw.test_crossings"\nsource_table = "crossings"\nincremental = "updated_at"\n'
                'merge_keys = ["crossing_id"]\n')


def test_follow_polls_a_feed_at_its_schedule_and_status_shows_lag(tmp_path: Path, source_url: str) -> None:
    with psycopg.connect(source_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE crossings (crossing_id text PRIMARY KEY, plate text, "
                     "updated_at timestamptz NOT NULL DEFAULT clock_timestamp())")
        conn.execute("INSERT INTO crossings (crossing_id, plate) VALUES ('X1', 'AB 1')")
    spec = parse_connector(CONNECTOR_1S, "connectors/feed.toml", "feed")
    wb = connect(str(tmp_path / "lake"), user="tester")
    stop = threading.Event()
    rounds: list[int] = []
    worker = threading.Thread(target=lambda: rounds.append(follow(wb.lake, {"feed": spec}, env={"DB": source_url},
                                                                  stop=stop)))
    worker.start()
    try:
        _poll(lambda: "raw.test_crossings" in wb.lake.catalog.names())
        with psycopg.connect(source_url, autocommit=True) as conn:
            conn.execute("INSERT INTO crossings (crossing_id, plate) VALUES ('X2', 'AB 2')")
        _poll(lambda: wb.table("raw.test_crossings").height == 2)
    finally:
        stop.set()
        worker.join(timeout=60)
    assert rounds and rounds[0] >= 2
    # followed every second: a streamed table, keeping minutes of history (``lake.retention``); an hourly one is not
    assert retention.holds(wb.lake.delta("raw.test_crossings"), retention.STREAMED)
    row = status(wb.lake, {"feed": spec}).row(0, named=True)
    assert row["schedule"] == "1s" and row["last_status"] == "ok" and row["lag_seconds"] is not None
    # polled more often than its schedule, a follower's rounds that find nothing new leave one run-log row per
    # the schedule's interval (here: its first such round)
    hourly = parse_connector(CONNECTOR_1S.replace('"1s"', '"1h"'),
                             "connectors/feed.toml", "feed")
    slow = connect(str(tmp_path / "lake"), user="tester").lake
    assert follow(slow, {"feed": hourly}, env={"DB": source_url}, rounds=1) == 1 and not slow.streamed
    before = wb.table("system.ingest_runs").height
    assert follow(wb.lake, {"feed": hourly}, env={"DB": source_url}, rounds=5, every=0.1) == 5
    logged = wb.table("system.ingest_runs")
    assert logged.height == before + 1 and logged.filter(pl.col("status") != "ok").is_empty()

    # rounds that land rows start no thread that outlives them (a connection, engine or pool per round); the
    # Rust runtimes' blocking pools (delta-rs, Polars: local file I/O) grow to their peak of concurrent file
    # operations and shrink after 10 s idle, so they are counted apart
    lasting: list[int] = []

    def land_one(records: list[Any]) -> None:
        with psycopg.connect(source_url, autocommit=True) as conn:
            conn.execute("INSERT INTO crossings (crossing_id, plate) VALUES (%s, 'AB 3')", (f"Y{len(lasting)}",))
        lasting.append(sum(not name.startswith("tokio") for name in _thread_names()))

    assert follow(wb.lake, {"feed": hourly}, env={"DB": source_url}, rounds=16, every=0.05, on_round=land_one) == 16
    assert wb.table("raw.test_crossings").height == 2 + 15 and max(lasting[4:]) <= lasting[3] + 2, lasting


def _thread_names() -> list[str]:
    """The names of this process's OS threads (Python's and native ones)."""
    names = []
    for task in Path("/proc/self/task").iterdir():
        try:
            names.append((task / "comm").read_text().strip())
        except OSError:
            pass  # it ended meanwhile
    return names
