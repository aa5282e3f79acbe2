"""The isolated fetcher against a corpus of hostile pages served by a tiny local HTTP server.

Each kind of page must end as a record: sanitised (active content gone, what was removed
counted) or refused with a reason naming the rule; the fetcher must stay within its limits
and the next fetch must work. As root, the children run as a per-test Unix user that is
removed afterwards.
"""

from __future__ import annotations

import functools
import gzip
import io
import json
import os
import stat
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from hashlib import sha256
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests import fetcher_probes
from workbench import connect
from workbench.errors import WorkbenchError
from workbench.ingest import parse_connector, run_connectors
from workbench.ingest.confinement import memory_groups_available
from workbench.ingest.fetcher import (
    Fetcher,
    FetchPolicy,
    FetchRefused,
    ensure_user,
    raw_store_for,
)
from workbench.ingest.http import RequestRejected
from workbench.ingest.snapshot import CHROMIUM
from workbench.ingest.text import MEDIA_TYPES
from workbench.ingest.web import FETCHER_USER_ENV
from workbench.lake.documents import DocumentStore
from workbench.platform.cgroups import MEMORY_MOUNT

LIMIT = 512 * 1024
OK = b"<html lang='en'><head><title>Fine</title></head><body><main><p>Customs seized cigarettes.</p></main></body></html>"
HOSTILE = {
    "/scripts.html": ((b"<html><head><script>fetch('http://127.0.0.1:8000/hub/api/users')</script></head><body>"
                      b"<p onclick=\"alert(1)\" onmouseover='steal()'>Seizure report</p>"
                      b"<a href=\"javascript:alert(2)\">click</a><img src=x onerror=alert(3)></body></html>"), "text/html"),
    "/iframes.html": ((b"<body><p>Before</p><iframe src='http://evil.example/'>frame text</iframe>"
                      b"<object data='x.swf'>obj</object><embed src='x.swf'><p>After</p></body>"), "text/html"),
    "/meta-refresh.html": ((b"<html><head><meta http-equiv='refresh' content='0;url=http://evil.example/'>"
                           b"<meta http-equiv='refresh' content='0;url=file:///etc/passwd'></head>"
                           b"<body><p>Moved</p></body></html>"), "text/html"),
    "/loopback-links.html": ((b"<body><p>Tariff notice</p><a href='http://127.0.0.1:8000/hub/api/users'>users</a>"
                             b"<img src='http://127.0.0.1:5432/'><form action='http://169.254.169.254/latest/meta-data'>"
                             b"<input name=q></form></body>"), "text/html"),
    "/bad-encoding.html": (b"<html><head><meta charset='utf-8'></head><body><p>caf\xe9 \xff\xfe \xc3\x28 ok</p></body></html>",
                           "text/html; charset=utf-8"),
    "/bogus-charset.html": (b"<body><p>plain words</p></body>", "text/html; charset=x-no-such-charset"),
    "/polyglot-as-pdf": (b"%PDF-1.4\n<html><body><script>alert(1)</script><p>hidden</p></body></html>\n%%EOF",
                         "application/pdf"),
    "/polyglot-as-html": ((b"%PDF-1.4\n1 0 obj<<>>endobj\n<html><body><script>alert(1)</script><p>Visible text</p>"
                          b"</body></html>\n%%EOF"), "text/html"),
    "/wide-dom.html": (b"<body>" + b"<p>x</p>" * 50_000 + b"</body>", "text/html"),
    "/huge-dom.html": (b"<body>" + b"<div>" * 40_000 + b"deep" + b"</div>" * 40_000 + b"</body>", "text/html"),
    "/snapshot.html": ((b"<html><head><meta http-equiv='refresh' content='0;url=/beacon-refresh'>"
                        b"<link rel='stylesheet' href='/beacon-css'><script>fetch('/beacon-fetch')</script></head>"
                        b"<body style='margin:0;background:rgb(200,0,0)'><h1>Seizure notice</h1>"
                        b"<img src='/beacon-img'><iframe src='file:///etc/passwd'></iframe><iframe src='/beacon-frame'>"
                        b"</iframe><script>document.body.style.background='rgb(0,200,0)';"
                        b"new Image().src='/beacon-script-img'</script></body></html>"), "text/html"),
    "/spin.html": (b"<body><p>Spinning</p><script>for(;;){}</script></body>", "text/html"),
}
SEEN: list[str] = []
"""Every path the hostile site was asked for, in order."""
SERVICE_HITS: list[str] = []
"""Requests that reached the "hub" on another port of the site's loopback host (none may)."""


@functools.cache
def _gzip_bomb() -> bytes:
    """64 MiB of zeros in about 64 KiB: 128 times the decoded limit."""
    return gzip.compress(b"\0" * (64 * 1024 * 1024), compresslevel=9)


class Hostile(BaseHTTPRequestHandler):
    """The corpus; special paths redirect, drip, overflow or bomb."""

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _send(self, body: bytes, content_type: str = "text/html", status: int = 200, **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        SEEN.append(self.path)
        port = self.server.server_address[1]
        if self.path == "/ok.html":
            self._send(OK)
        elif self.path in HOSTILE:
            body, content_type = HOSTILE[self.path]
            self._send(body, content_type)
        elif self.path == "/redirect-away":
            self._send(b"", status=302, Location="http://evil.example/steal")
        elif self.path == "/redirect-file":
            self._send(b"", status=302, Location="file:///etc/passwd")
        elif self.path == "/redirect-inside":
            self._send(b"", status=301, Location=f"http://127.0.0.1:{port}/ok.html")
        elif self.path == "/redirect-loopback-service":  # the site's own host, another port: a service there
            self._send(b"", status=302, Location=f"http://127.0.0.1:{self.server.service_port}/hub/api/users")  # type: ignore[attr-defined]
        elif self.path == "/redirect-loop":
            self._send(b"", status=302, Location="/redirect-loop")
        elif self.path == "/oversize":
            self._send(b"<p>" + b"A" * (LIMIT * 8) + b"</p>")
        elif self.path == "/gzip-bomb":
            self._send(_gzip_bomb(), Content_Encoding="gzip")
        elif self.path == "/slow-drip":
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            try:
                for _ in range(200):
                    self.wfile.write(b"<p>drip</p>")
                    self.wfile.flush()
                    time.sleep(0.1)
            except OSError:
                pass
        else:
            self._send(b"no such page", "text/plain", status=404)


class Service(BaseHTTPRequestHandler):
    """Another service on the site's loopback host (as the hub on 127.0.0.1:8000 is); records every request."""

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        SERVICE_HITS.append(self.path)
        body = b'{"users": ["admin"]}'
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    _gzip_bomb()  # made before any fetch is timed
    servers = [ThreadingHTTPServer(("127.0.0.1", 0), handler) for handler in (Hostile, Service)]
    for server in servers:
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
    servers[0].service_port = servers[1].server_address[1]  # type: ignore[attr-defined]
    yield f"http://127.0.0.1:{servers[0].server_address[1]}"
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture()
def policy(site: str) -> FetchPolicy:
    return FetchPolicy.for_source(site + "/", ["127.0.0.1"], max_bytes=LIMIT, timeout_seconds=2.0,
                                  memory_bytes=2 * 1024 * 1024 * 1024)


SANITISED = {
    "/scripts.html": ("Seizure report\nclick", {"scripts": 1, "event_handlers": 3, "script_urls": 1}),
    "/iframes.html": ("Before\nAfter", {"iframes": 1, "objects": 2}),
    "/meta-refresh.html": ("Moved", {"meta_refresh": 2}),
    "/loopback-links.html": ("Tariff notice\nusers", {"forms": 1}),
    "/bad-encoding.html": ("caf\ufffd \ufffd\ufffd \ufffd( ok", {}),
    "/bogus-charset.html": ("plain words", {}),
    "/polyglot-as-html": ("%PDF-1.4\n1 0 obj<<>>endobj\nVisible text\n%%EOF", {"scripts": 1}),
    "/redirect-inside": ("Customs seized cigarettes.", {}),
}
REFUSED = {
    "/redirect-away": "host 'evil.example' is not among the source's allowed_hosts",
    "/redirect-file": "scheme 'file' is not allowed",
    "/redirect-loop": "more than 5 redirects",
    "/redirect-loopback-service": "the source may reach only on port(s)",
    "/oversize": "size limit: the body's size exceeds 524,288 bytes",
    "/gzip-bomb": "size limit: the body's decoded size exceeds 524,288 bytes",
    "/slow-drip": "time limit",
    "/polyglot-as-pdf": "unreadable application/pdf: not a readable PDF",
}


def _next_fetch_works(fetcher: Fetcher, site: str, policy: FetchPolicy) -> None:
    after = fetcher.fetch(f"{site}/ok.html", policy)
    assert (after.text, after.title, after.language) == ("Customs seized cigarettes.", "Fine", "en")


@pytest.mark.parametrize("path", sorted(SANITISED))
def test_hostile_pages_are_sanitised_and_say_what_was_removed(path: str, site: str, policy: FetchPolicy,
                                                              fetch_user: str) -> None:
    fetcher = Fetcher(user=fetch_user)
    page = fetcher.fetch(site + path, policy)
    text, removed = SANITISED[path]
    assert page.text == text
    assert {k: page.removed.get(k) for k in removed} == removed
    for active in ("alert", "<script", "onclick", "javascript:", "evil.example", "frame text", "127.0.0.1"):
        assert active not in page.text and active not in (page.title or "")
    assert page.final_url == (f"{site}/ok.html" if path == "/redirect-inside" else site + path)
    assert page.sha256 and page.size_bytes > 0 and page.retrieved_at is not None
    _next_fetch_works(fetcher, site, policy)


@pytest.mark.parametrize("path", sorted(REFUSED))
def test_hostile_pages_are_refused_with_the_reason_and_within_the_limits(path: str, site: str, policy: FetchPolicy,
                                                                         fetch_user: str) -> None:
    fetcher = Fetcher(user=fetch_user)
    started = time.monotonic()
    with pytest.raises(FetchRefused) as refused:
        fetcher.fetch(site + path, policy)
    assert REFUSED[path] in refused.value.reason
    assert time.monotonic() - started < policy.timeout_seconds + 2.5
    assert SERVICE_HITS == []
    _next_fetch_works(fetcher, site, policy)


def test_a_huge_dom_ends_as_a_record_and_the_next_fetch_works(site: str, policy: FetchPolicy, fetch_user: str) -> None:
    fetcher = Fetcher(user=fetch_user)
    started = time.monotonic()
    try:  # 40,000 nested elements in 440 kB: under the size limit, so the parsers meet it
        page = fetcher.fetch(f"{site}/huge-dom.html", policy)
    except FetchRefused as refused:  # parsing outlives the time limit here: the child is killed
        assert any(word in refused.reason for word in ("stopped after", "time limit", "nests too deep"))
    else:
        assert page.text == "deep"
    assert time.monotonic() - started < policy.timeout_seconds + 3.0
    _next_fetch_works(fetcher, site, policy)


def test_loopback_and_unlisted_hosts_are_refused_unless_the_source_lists_them(site: str, fetch_user: str) -> None:
    port = site.rsplit(":", 1)[1]
    fetcher = Fetcher(user=fetch_user)
    unlisted = FetchPolicy.for_source(f"http://localhost:{port}/")
    with pytest.raises(FetchRefused, match="resolves to the non-public address 127.0.0.1"):
        fetcher.fetch(f"http://localhost:{port}/ok.html", unlisted)
    with pytest.raises(FetchRefused, match="host 'localhost' is not among"):
        fetcher.fetch(f"http://localhost:{port}/ok.html", FetchPolicy.for_source(site + "/", ["127.0.0.1"]))
    with pytest.raises(FetchRefused, match="scheme 'file' is not allowed"):
        fetcher.fetch("file:///etc/passwd", unlisted)
    with pytest.raises(RequestRejected, match="HTTP 404"):
        fetcher.fetch(f"{site}/missing", FetchPolicy.for_source(site + "/", ["127.0.0.1"]))


@pytest.mark.skipif(os.geteuid() != 0, reason="switching to the fetcher's Unix user needs root")
def test_the_fetcher_runs_as_its_own_user_and_cannot_read_the_lake(tmp_path: Path, site: str, policy: FetchPolicy,
                                                                   fetch_user: str) -> None:
    lake = tmp_path / "lake"
    lake.mkdir()
    secret = lake / "secret.parquet"
    secret.write_bytes(b"PAR1")
    fetcher = Fetcher(user=fetch_user, forbidden=[lake, secret])
    assert fetcher.fetch(f"{site}/ok.html", policy).text == "Customs seized cigarettes."
    for opened_up in (Path(__file__).parent, Path(__file__)):  # world-readable: the check must notice
        with pytest.raises(FetchRefused, match="isolation: the fetcher user can read this path"):
            Fetcher(user=fetch_user, forbidden=[opened_up]).fetch(f"{site}/ok.html", policy)
    uid, _ = ensure_user(fetch_user)
    assert uid != 0 and ensure_user(fetch_user)[0] == uid  # idempotent


def test_web_connector_lands_only_sanitised_text_and_keeps_raw_pages_out_of_the_lake(tmp_path: Path, site: str,
                                                                                     fetch_user: str) -> None:
    feed_dir = tmp_path / "feed"
    feed_dir.mkdir()
    items = "".join(f"<item><title>{p}</title><link>{site}{p}</link><guid>H{i}</guid></item>"
                    for i, p in enumerate(["/scripts.html", "/redirect-away", "/gzip-bomb", "/ok.html"]))
    spec = parse_connector('kind = "web"\nallowed_hosts = ["127.0.0.1"]\n[connection]\nbase_url_env = "SITE"\n'
                           '[[tables]]\ntarget = "documents.index"\nurl = "feed.xml"\n', "connectors/h.toml", "h")
    feed = (f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>{items}</channel></rss>').encode()
    HOSTILE["/feed.xml"] = (feed, "application/rss+xml")
    lake = tmp_path / "lake"
    wb = connect(str(lake), user="tester")
    try:
        records = run_connectors(wb.lake, {"h": spec}, env={"SITE": site + "/", FETCHER_USER_ENV: fetch_user})
    finally:
        del HOSTILE["/feed.xml"]
    assert [r.status for r in records] == ["ok"]
    index = {r["doc_id"]: r for r in wb.table("documents.index").to_dicts()}
    assert (index["H0"]["text"], index["H3"]["text"]) == ("Seizure report\nclick", "Customs seized cigarettes.")
    record = json.loads(DocumentStore(wb.lake).read(index["H0"]["path"]))
    assert record["removed"] == {"scripts": 1, "event_handlers": 3, "script_urls": 1}
    assert record["final_url"] == f"{site}/scripts.html" and index["H0"]["media_type"] == "text/html"
    reasons = dict(zip(*(wb.table("quarantine.rejections")[c] for c in ("record", "value")), strict=True))
    assert "not among the source's allowed_hosts" in reasons[f"feed {site}/feed.xml entry H1"]
    assert "decoded size exceeds" in reasons[f"feed {site}/feed.xml entry H2"]
    store = raw_store_for(str(lake))
    assert store is not None and stat.S_IMODE(store.stat().st_mode) == 0o700
    assert (store / record["raw_sha256"]).read_bytes() == HOSTILE["/scripts.html"][0]
    assert not any(b"onclick" in p.read_bytes() for p in lake.rglob("*") if p.is_file())


def test_the_memory_cap_binds_in_the_child_not_in_the_ingest_process(site: str, fetch_user: str) -> None:
    fetcher = Fetcher(user=fetch_user)
    starved = FetchPolicy.for_source(site + "/", ["127.0.0.1"], memory_bytes=8 * 1024 * 1024, timeout_seconds=10.0)
    capped = "memory limit: the kernel stopped the fetcher" if memory_groups_available() else "MemoryError|died before"
    with pytest.raises(FetchRefused, match=capped):
        fetcher.fetch(f"{site}/wide-dom.html", starved)  # 50,000 parsed elements need far more than 8 MiB
    _next_fetch_works(fetcher, site, FetchPolicy.for_source(site + "/", ["127.0.0.1"]))


@pytest.mark.skipif(os.geteuid() != 0, reason="namespaces, cgroups and the fetcher's user need root")
def test_the_child_has_no_network_but_the_brokers_and_sits_in_its_own_memory_group(tmp_path: Path, site: str,
                                                                                    fetch_user: str) -> None:
    """A subverted child (here: code the test runs in it) cannot reach the host's loopback services nor any
    outside address by itself, cannot list a 0700 folder or root's home, and is in a memory group made for it alone."""
    port = int(site.rsplit(":", 1)[1])
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    homes = [str(Path.home())] if not Path.home().stat().st_mode & 0o005 else []  # root's, when closed to others
    value, _ = Fetcher(user=fetch_user).call(fetcher_probes.reach, [("127.0.0.1", port), ("192.0.2.1", 80)],
                                             [str(private), *homes], timeout=10.0)
    assert value["isolation"]["network_namespace"] is True and value["isolation"]["user"] == fetch_user
    assert value["uid"] == ensure_user(fetch_user)[0] != 0
    assert value["outcome"] == {f"127.0.0.1:{port}": "ConnectionRefusedError", "192.0.2.1:80": "OSError",
                                str(private): "PermissionError", **dict.fromkeys(homes, "PermissionError")}  # the site listens
    # on the host's 127.0.0.1: refused means the child's loopback is another one
    if memory_groups_available():
        assert value["isolation"]["memory_cap"] == "cgroup" and "/workbench-fetcher/fetch-" in value["memory_group"]
        group = Path(MEMORY_MOUNT, value["memory_group"].lstrip("/"))
        assert not group.exists()  # removed with the child


def test_the_broker_connects_a_subverted_child_only_to_the_sources_hosts(site: str, fetch_user: str) -> None:
    port = int(site.rsplit(":", 1)[1])
    policy = FetchPolicy.for_source(site + "/", ["127.0.0.1"], max_redirects=3)
    asked = [("127.0.0.1", port), ("localhost", port), ("evil.example", 80), ("127.0.0.1", 99_999),
             ("127.0.0.1", port), ("127.0.0.1", port)]
    value, _ = Fetcher(user=fetch_user).call(fetcher_probes.ask_broker, asked, timeout=10.0, policy=policy)
    assert value["outcome"] == [
        "connected", "host 'localhost' is not among the source's allowed_hosts ['127.0.0.1']",
        "host 'evil.example' is not among the source's allowed_hosts ['127.0.0.1']",
        "port 99999 is not a TCP port", "connected",
        "too many connections for one fetch"]  # 4 (max_redirects + 1) asked for hosts: 2 allowed, 2 refused


@pytest.mark.skipif(not Path(CHROMIUM).exists() or not memory_groups_available(),
                    reason="the image needs Debian's chromium and a memory cgroup to cap it")
def test_the_page_image_is_taken_in_the_fetcher_with_no_network_and_javascript_only_when_the_source_allows(
        site: str, fetch_user: str) -> None:
    from PIL import Image

    fetcher = Fetcher(user=fetch_user)
    colours = {}
    for javascript in (False, True):
        SEEN.clear()
        policy = FetchPolicy.for_source(site + "/", ["127.0.0.1"], snapshot=True, javascript=javascript)
        page = fetcher.fetch(f"{site}/snapshot.html", policy)
        assert SEEN == ["/snapshot.html"], f"chromium reached the site: {SEEN}"  # no image, style, frame, refresh, fetch
        assert page.image is not None and page.image_info is not None, page.image_info
        assert page.image_info["javascript"] is javascript and page.image_info["sha256"] == sha256(page.image).hexdigest()
        picture = Image.open(io.BytesIO(page.image))
        assert picture.size == (1280, 1600)
        colours[javascript] = picture.convert("RGB").getpixel((640, 1500))
        assert page.text == "Seizure notice" and page.removed["scripts"] == 2
    assert colours == {False: (200, 0, 0), True: (0, 200, 0)}  # the refresh was not followed either way


@pytest.mark.skipif(not Path(CHROMIUM).exists() or not memory_groups_available(),
                    reason="the image needs Debian's chromium and a memory cgroup to cap it")
def test_chromium_stays_within_the_fetchers_time_and_memory_limits(site: str, fetch_user: str) -> None:
    fetcher = Fetcher(user=fetch_user)
    spinning = FetchPolicy.for_source(site + "/", ["127.0.0.1"], snapshot=True, javascript=True, render_seconds=3.0)
    started = time.monotonic()
    page = fetcher.fetch(f"{site}/spin.html", spinning)  # a script that never ends: chromium is stopped, the text lands
    assert time.monotonic() - started < spinning.timeout_seconds + spinning.render_seconds + 3.0
    assert page.image is None and page.text == "Spinning"
    assert page.image_info is not None and "no image: chromium did not finish within 3 s" in page.image_info["error"]
    starved = FetchPolicy.for_source(site + "/", ["127.0.0.1"], snapshot=True, memory_bytes=48 * 1024 * 1024)
    try:  # 48 MiB cannot hold chromium: the kernel kills it (or the child) inside the group, never the ingest process
        shot = fetcher.fetch(f"{site}/ok.html", starved)
    except FetchRefused as refused:
        assert "memory limit: the kernel stopped the fetcher" in refused.reason
    else:
        assert shot.image is None and shot.image_info is not None and "no image" in shot.image_info["error"]
    deadline = time.monotonic() + 5.0  # a process killed at the cap may take a moment to go
    while _running(fetch_user) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _running(fetch_user), f"processes outlived their fetch: {_running(fetch_user)}"
    _next_fetch_works(fetcher, site, FetchPolicy.for_source(site + "/", ["127.0.0.1"]))


def _running(user: str) -> list[str]:
    """The processes of ``user`` that are not zombies (a zombie holds no memory and runs nothing)."""
    uid, found = ensure_user(user)[0], []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and proc.stat().st_uid == uid:
                stat_line = (proc / "stat").read_text()
                if stat_line.rpartition(")")[2].split()[0] != "Z":
                    found.append(stat_line[:60])
        except OSError:
            continue
    return found


def test_documents_are_parsed_in_the_fetcher_offline_and_hostile_files_end_as_reasons(fetch_user: str) -> None:
    """The document drop's parsing runs in the same confinement, with no network at all; a broken or hostile file
    is refused with the rule it broke, and a picture comes back redrawn, never as its original bytes."""
    from PIL import Image

    fetcher = Fetcher(user=fetch_user)
    original = io.BytesIO()
    Image.new("RGB", (300, 200), (10, 120, 200)).save(original, "JPEG")
    picture = fetcher.parse(original.getvalue(), "image/jpeg", "scan.jpg")
    assert picture.image is not None and picture.image != original.getvalue() and picture.image.startswith(b"\x89PNG")
    assert Image.open(io.BytesIO(picture.image)).size == (300, 200) and "width: 300" in picture.text
    if os.geteuid() == 0:
        assert picture.isolation["network_namespace"] is True and picture.isolation["user"] == fetch_user
    page = fetcher.parse(HOSTILE["/scripts.html"][0], "text/html", "note.html", snapshot=False)
    assert (page.text, page.removed["event_handlers"]) == ("Seizure report\nclick", 3) and page.image is None
    from pypdf import PdfWriter

    from workbench.demo.sources import _docx, _pdf

    note = {"title": "Note", "language": "en", "published_at": datetime(2024, 3, 1),
            "text": "Company <b>linked</b> to the seizure."}
    pdf = fetcher.parse(_pdf(note), "application/pdf", "case.pdf")
    assert pdf.image is not None and "pdfium" in (pdf.image_info or {})["made_by"]
    assert max(Image.open(io.BytesIO(pdf.image)).size) <= 1600 + 16
    huge = io.BytesIO()
    writer = PdfWriter()
    writer.add_blank_page(width=14_400, height=14_400)  # 200 x 200 inches: drawn at most 1600 px, not 28,800
    writer.write(huge)
    assert Image.open(io.BytesIO(fetcher.parse(huge.getvalue(), "application/pdf", "huge.pdf").image or b"")).size \
        == (1600 + 16, 1600 + 16)  # the page and the grey around it
    docx = fetcher.parse(_docx(note), MEDIA_TYPES[".docx"], "note.docx")  # its text, drawn as a page; no markup
    assert docx.image is not None and "extracted text laid out as a page" in (docx.image_info or {})["made_by"]
    assert Image.open(io.BytesIO(docx.image)).width == 1000 and docx.text == "Company <b>linked</b> to the seizure."
    bomb = io.BytesIO()
    Image.new("1", (20_000, 20_000)).save(bomb, "PNG")  # 400 M pixels in ~50 kB
    hostile = {"bomb.png": (bomb.getvalue(), "image/png", "DecompressionBomb"),
               "polyglot.pdf": (HOSTILE["/polyglot-as-pdf"][0], "application/pdf", "not a readable PDF"),
               "empty.docx": (b"PK\x05\x06" + b"\0" * 18, MEDIA_TYPES[".docx"], "not a readable DOCX")}
    for name, (data, media_type, reason) in hostile.items():
        with pytest.raises(FetchRefused, match=reason):
            fetcher.parse(data, media_type, name)


# ----------------------------------------------------------------------------- attacks on the parent's checks


def test_a_listed_loopback_host_is_reached_only_on_the_ports_the_source_names(site: str, fetch_user: str) -> None:
    """The demo site lives on 127.0.0.1: listing it must not open the hub, PostgreSQL, ... on the same address."""
    port = int(site.rsplit(":", 1)[1])
    policy = FetchPolicy.for_source(site + "/", ["127.0.0.1"])
    assert policy.private_endpoints == {("127.0.0.1", port)}
    service = Fetcher(user=fetch_user).call(fetcher_probes.ask_broker, [("127.0.0.1", port + 1)], timeout=10.0,
                                            policy=policy)[0]
    assert "127.0.0.1 is a non-public address (127.0.0.1) the source may reach only on port(s) " \
        f"{port}" in service["outcome"][0]
    listed = FetchPolicy.for_source(site + "/", ["127.0.0.1", f"127.0.0.1:{port + 1}", "[::1]:8080", "intranet"])
    assert listed.private_endpoints == {("127.0.0.1", port), ("127.0.0.1", port + 1), ("::1", 8080),
                                        ("intranet", 80), ("intranet", 443)}


def test_addresses_that_embed_a_private_ipv4_address_are_not_public(monkeypatch: pytest.MonkeyPatch) -> None:
    """A public name whose DNS answers a mapped, NAT64, 6to4 or IPv4-compatible form of 127.0.0.1 (which
    ``ipaddress`` calls global), or a mix of public and private answers, is refused."""
    import ipaddress
    import socket

    from workbench.ingest.confinement import Refused, is_public, public_address

    answers = {"mapped.test": ["::ffff:127.0.0.1"], "nat64.test": ["64:ff9b::7f00:1"], "6to4.test": ["2002:a00:1::"],
               "compat.test": ["::127.0.0.1"], "mixed.test": ["93.184.215.14", "10.0.0.5"],
               "nat64-local.test": ["64:ff9b:1::1"]}

    def resolve(host: str, port: int, *args: object, **kwargs: object) -> list[tuple[object, ...]]:
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
                for a in answers[host]]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    for host in answers:
        with pytest.raises(Refused, match="non-public address"):
            public_address(host, 443, frozenset(answers), frozenset())
    assert is_public(ipaddress.ip_address("93.184.215.14")) and is_public(ipaddress.ip_address("64:ff9b::5db8:d70e"))
    assert is_public(ipaddress.ip_address("2606:4700::1111"))


def test_the_checked_address_is_the_one_connected_so_dns_cannot_rebind_between(
        site: str, fetch_user: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The broker resolves once and connects to what it checked: a name that answers 127.0.0.1 (listed) first and
    an unreachable address afterwards still reaches the site; a resolver asked twice would send it nowhere."""
    import socket

    port = int(site.rsplit(":", 1)[1])
    real, asked = socket.getaddrinfo, []

    def rebinding(host: str, *args: object, **kwargs: object) -> Any:
        if host != "rebind.test":
            return real(host, *args, **kwargs)
        asked.append(host)
        return real("127.0.0.1" if len(asked) == 1 else "10.255.255.1", *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)  # the broker runs in this process
    policy = FetchPolicy.for_source(f"http://rebind.test:{port}/", ["rebind.test"], timeout_seconds=5.0)
    page = Fetcher(user=fetch_user).fetch(f"http://rebind.test:{port}/ok.html", policy)
    assert page.text == "Customs seized cigarettes." and asked == ["rebind.test"]


def test_the_parent_takes_only_checked_fields_of_a_subverted_childs_record(site: str) -> None:
    """What a child returns is input: unknown fields are dropped (no ``raw_path`` of its choosing), the asked URL
    is the parent's, a final address where the broker made no connection, a wrong hash or size, or a field of the
    wrong type is refused."""
    from workbench.ingest.fetcher import fetched_fields

    port = int(site.rsplit(":", 1)[1])
    raw = b"<p>page</p>"
    honest = {"url": "http://elsewhere/", "final_url": f"{site}/ok.html", "status": 200, "media_type": "text/html",
              "retrieved_at": "2026-12-06T10:00:00", "sha256": sha256(raw).hexdigest(), "size_bytes": len(raw),
              "text": "page", "removed": {}, "links": [], "isolation": {}, "raw_path": "/etc/shadow", "image": "x"}
    fields = fetched_fields(f"{site}/ok.html", honest, {"raw": raw}, [("127.0.0.1", port)])
    assert fields["url"] == f"{site}/ok.html" and "raw_path" not in fields and fields["image"] is None
    forged = {
        "final_url": {**honest, "final_url": "https://www.customs.gov.hk/press/1.html"},
        "hash": {**honest, "sha256": sha256(b"other").hexdigest()},
        "size": {**honest, "size_bytes": 1},
        "links": {**honest, "links": [{"href": "x"}]},
        "status": {**honest, "status": "200"},
        "time": {**honest, "retrieved_at": "yesterday"},
    }
    reasons = {}
    for name, value in forged.items():
        with pytest.raises(FetchRefused) as refused:
            fetched_fields(f"{site}/ok.html", value, {"raw": raw}, [("127.0.0.1", port)])
        reasons[name] = refused.value.reason
    assert "where its broker made no connection" in reasons["final_url"]
    assert all("do not match the hash and size" in reasons[k] for k in ("hash", "size"))
    assert all("malformed" in reasons[k] for k in ("links", "status", "time")), reasons
    with pytest.raises(FetchRefused, match="no connection"):  # a redirect's target the broker never reached
        fetched_fields(f"{site}/ok.html", honest, {"raw": raw}, [("127.0.0.1", port), ("127.0.0.1", port + 1)])


@pytest.mark.skipif(os.geteuid() != 0, reason="the raw store is root's")
def test_a_symlink_planted_at_the_raw_store_or_a_raw_file_is_never_followed(tmp_path: Path, site: str,
                                                                             policy: FetchPolicy, fetch_user: str) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o755)
    store = tmp_path / "fetched-raw"
    store.symlink_to(elsewhere)
    with pytest.raises(WorkbenchError, match="not a plain folder"):
        Fetcher(user=fetch_user, raw_store=store).fetch(f"{site}/ok.html", policy)
    assert list(elsewhere.iterdir()) == [] and stat.S_IMODE(elsewhere.stat().st_mode) == 0o755  # no chmod through it
    store.unlink()
    store.mkdir(mode=0o755)  # left open by someone: closed again before anything is written
    target = elsewhere / "target"
    target.write_bytes(b"keep")
    (store / sha256(OK).hexdigest()).symlink_to(target)
    page = Fetcher(user=fetch_user, raw_store=store).fetch(f"{site}/ok.html", policy)
    kept = Path(page.raw_path or "")
    assert kept.parent == store and not kept.is_symlink() and kept.read_bytes() == OK
    assert target.read_bytes() == b"keep" and stat.S_IMODE(store.stat().st_mode) == 0o700


def test_a_malformed_reply_from_a_subverted_child_fails_that_fetch_not_the_run() -> None:
    """Deeply nested JSON (a RecursionError in the parent's parser), a non-object, an attachment of another name
    or a broken document each end as ``ChildFailed`` naming the reply; an honest reply still reads. (Each reply
    fits the pipe's buffer: the test writes it before reading.)"""
    import multiprocessing

    from workbench.ingest.fetcher import ChildFailed, _reply

    replies = {"nested": [b"[" * 20_000 + b"]" * 20_000], "list": [b"[1, 2]"], "broken": [b"{\"value\": "],
               "names": [b'{"value": {}, "attached": ["raw", "/etc/passwd"]}', b"x", b"y"],
               "twice": [b'{"value": {}, "attached": ["raw", "raw"]}', b"x", b"y"]}
    for name, messages in replies.items():
        receive, send = multiprocessing.Pipe(duplex=False)
        for message in messages:
            send.send_bytes(message)
        with pytest.raises(ChildFailed, match="the fetcher's reply is malformed"):
            _reply(receive, None, 5.0, 1 << 22, None, 0)
        receive.close()
        send.close()
    receive, send = multiprocessing.Pipe(duplex=False)
    send.send_bytes(b'{"value": {"text": "ok"}, "attached": ["raw"]}')
    send.send_bytes(b"raw bytes")
    assert _reply(receive, None, 5.0, 1 << 22, None, 0) == ({"text": "ok"}, {"raw": b"raw bytes"})


@pytest.mark.skipif(os.geteuid() != 0, reason="creating Unix users needs root")
def test_a_persons_account_of_the_fetchers_name_is_never_used_to_fetch(fetch_user: str) -> None:
    """The hub names a person's Unix user ``<prefix><account>``: an account called ``fetcher`` is ``wb-fetcher``.
    The fetcher refuses to run as a user with a login shell or a home, instead of putting that person's files
    and processes next to hostile pages."""
    import subprocess

    person = fetch_user.replace("-fetch", "-person")
    subprocess.run(["useradd", "--no-create-home", "--home-dir", f"/home/{person}", "--shell", "/bin/bash", person],
                   check=True, capture_output=True)
    try:
        with pytest.raises(WorkbenchError, match="exists as another account"):
            ensure_user(person)
    finally:
        subprocess.run(["userdel", person], capture_output=True, check=False)
    assert ensure_user(fetch_user)[0] != 0  # the fetcher's own system user is still taken
