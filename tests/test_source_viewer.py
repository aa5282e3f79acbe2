"""The source viewer over what the isolated fetcher collected: a hostile page from a local site and dropped
documents (a picture, a PDF, a DOCX, a text note), read as an analyst reads them.

The sources land once, in the lake of the session's real stack (hub, proxy, dashboards
service: ``dashboards_stack``, shared with the publishing and devices tests). The view is
checked through an analyst's session; then an analyst signs in through the hub's form and OAuth, opens
``/services/dashboards/source-viewer`` and reads the page's sanitised text, image,
provenance and links as text; the page's site is asked nothing by the viewer's browser;
a manager (no need to know) is refused the app. Screenshots go to the stack's artifacts
folder (path printed).
"""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.hub_support import DashboardsStack, api_token
from tests.test_apps import browser, page_text, wait_for_text  # noqa: F401  (browser is a fixture)
from workbench.apps.sources import provenance_rows, source_view
from workbench.errors import AccessDenied
from workbench.ingest import parse_connector, run_connectors
from workbench.ingest.confinement import memory_groups_available
from workbench.ingest.documents import FETCHER_USER_ENV, IMAGE_FILE
from workbench.ingest.web import doc_id_for
from workbench.session import connect

PREFIX = "/services/dashboards"
ARTICLE = (b"<html lang='en'><head><title>Seizure at the border</title><script>fetch('/beacon-fetch')</script>"
           b"<link rel='stylesheet' href='/beacon-css'></head><body style='background:#fdf6e3'>"
           b"<h1>Seizure at the border</h1><p onclick='steal()'>Officers seized 2 tonnes of cigarettes.</p>"
           b"<img src='/beacon-img'><iframe src='/beacon-frame'></iframe>"
           b"<p><a href='/beacon-link'>Full report</a> and <a href='http://evil.example/x'>elsewhere</a></p>"
           b"</body></html>")
SEEN: list[str] = []


class Site(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        SEEN.append(self.path)
        found = self.path == "/article.html"
        body = ARTICLE if found else b"no such page"
        self.send_response(200 if found else 404)
        self.send_header("Content-Type", "text/html" if found else "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Site)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def drop_files() -> dict[str, bytes]:
    """A picture, a PDF, a DOCX and a text note, as an intelligence unit drops them."""
    from PIL import Image

    from workbench.demo.sources import _docx, _pdf

    picture = io.BytesIO()
    Image.new("RGB", (240, 160), (20, 90, 160)).save(picture, "JPEG")
    note = {"title": "Note", "language": "en", "published_at": datetime(2024, 3, 1),
            "text": "Company linked to the seizure."}
    case = {**note, "title": "Case 7", "text": "Container MSKU1234567 held at Kwai Chung with 2 tonnes of cigarettes."}
    return {"scan.jpg": picture.getvalue(), "memo.txt": b"Title: Memo\n\nTip-off about a container.",
            "note.docx": _docx(note), "case.pdf": _pdf(case)}


def land_sources(lake: Path, site: str, drop: Path, fetch_user: str) -> dict[str, Any]:
    """The hostile article fetched (with its image) and the drop's files parsed, into ``lake``'s documents zone."""
    drop.mkdir(exist_ok=True)
    files = drop_files()
    for name, data in files.items():
        (drop / name).write_bytes(data)
    web = parse_connector('kind = "web"\nallowed_hosts = ["127.0.0.1"]\n[connection]\nbase_url_env = "SITE"\n'
                          '[[tables]]\ntarget = "documents.index"\nurl = "article.html"\n', "connectors/w.toml", "w")
    dropped = parse_connector('kind = "documents"\n[connection]\npath_env = "DROP"\n[[tables]]\n'
                              'target = "documents.index"\ndocument_kind = "intel_note"\n', "connectors/d.toml", "d")
    wb = connect(str(lake), user="tester")
    records = run_connectors(wb.lake, {"w": web, "d": dropped},
                             env={"SITE": site + "/", "DROP": str(drop), FETCHER_USER_ENV: fetch_user})
    assert [r.status for r in records] == ["ok", "ok"], [r.error for r in records]
    return {"lake": lake, "site": site, "page": doc_id_for(f"{site}/article.html"), "files": files}


@pytest.fixture(scope="module")
def collected(dashboards_stack: DashboardsStack, site: str, fetch_user: str) -> dict[str, Any]:
    """The article and the drop landed in the lake of the session's dashboards stack (once, for both tests)."""
    return land_sources(dashboards_stack.lake, site, dashboards_stack.lake.parent / "sources-drop", fetch_user)


def test_the_view_holds_the_fetchers_text_image_and_provenance_never_the_raw_page(collected: dict[str, Any]) -> None:
    from PIL import Image

    analyst = connect(str(collected["lake"]), user="ana", role="analyst")
    view = source_view(analyst, collected["page"])
    assert view is not None and view.record is not None
    assert view.row["text"] == "Seizure at the border\nOfficers seized 2 tonnes of cigarettes.\nFull report\nand\nelsewhere"
    facts = dict(provenance_rows(view))
    assert facts["Final address"] == f"{collected['site']}/article.html" and facts["HTTP status"] == "200"
    assert "event handlers 1" in facts["Removed by the sanitiser"] and "scripts 1" in facts["Removed by the sanitiser"]
    assert view.record["links"] == ["/beacon-link", "http://evil.example/x"]
    if memory_groups_available():  # the page's image was made inside the fetcher
        assert view.image is not None and view.image.startswith(b"\x89PNG") and "chromium" in facts["Image"]
        assert "(JavaScript off)" in facts["Image"] and Image.open(io.BytesIO(view.image)).size == (1280, 1600)
        assert "own network namespace: yes" in facts["Fetcher isolation"] and "by cgroup" in facts["Fetcher isolation"]
    folder = collected["lake"] / "documents" / "files" / collected["page"]
    assert not any(b"onclick" in p.read_bytes() for p in folder.iterdir())  # the raw page is not in the lake

    scan = source_view(analyst, "scan")
    assert scan is not None and scan.image is not None and scan.image != collected["files"]["scan.jpg"]
    assert Image.open(io.BytesIO(scan.image)).format == "PNG" and dict(provenance_rows(scan))["Address asked"] == "scan.jpg"
    case = source_view(analyst, "case")
    assert case is not None and case.image is not None and "pdfium" in case.image_note
    assert "MSKU1234567" in case.row["text"] and Image.open(io.BytesIO(case.image)).format == "PNG"
    note = source_view(analyst, "note")
    assert note is not None and note.row["text"] == "Company linked to the seizure."
    assert note.image is not None and "extracted text laid out as a page" in note.image_note
    memo = source_view(analyst, "memo")
    assert memo is not None and memo.image is None and "no image for text/plain" in memo.image_note

    image_path = collected["lake"] / "documents" / "files" / "scan" / IMAGE_FILE
    kept = image_path.read_bytes()
    image_path.write_bytes(collected["files"]["scan.jpg"])  # swapped in the folder after the fetch
    try:
        swapped = source_view(analyst, "scan")
        assert swapped is not None and swapped.image is None and "does not match the record's hash" in swapped.image_note
    finally:
        image_path.write_bytes(kept)
    with pytest.raises(AccessDenied):
        source_view(connect(str(collected["lake"]), user="officer", role="field_officer"), "scan")


@pytest.mark.hub
@pytest.mark.browser
def test_an_analyst_reads_collected_sources_through_the_hub_and_a_manager_is_refused(
        dashboards_stack: DashboardsStack, collected: dict[str, Any], browser: Any) -> None:  # noqa: F811
    """Behind the real hub and proxy: the analyst's browser gets the sanitised text, the fetcher's image (as data),
    the provenance and the page's links as text, and asks nothing of the page's site; a manager is refused."""
    import requests

    from tests.test_publishing import login_page

    s, site = dashboards_stack, collected["site"]
    SEEN.clear()
    page = login_page(s, browser, "analyst")  # the hub's form, then OAuth back to the dashboards
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url))
    page.set_viewport_size({"width": 1400, "height": 1100})
    page.goto(f"{s.dashboards}/source-viewer")
    search = page.get_by_placeholder("e.g. WEB3f2a")
    search.wait_for(timeout=60_000)
    search.fill(collected["page"])
    search.press("Enter")
    text = wait_for_text(page, "Officers seized 2 tonnes of cigarettes.")
    assert "Final address" in text and f"{site}/article.html" in text and "Removed by the sanitiser" in text
    assert "http://evil.example/x" in text and "/beacon-link" in text  # the links, as text
    assert "onclick" not in text and "steal()" not in text
    image = page.locator("img[src^='data:image/png']")
    if memory_groups_available():
        image.first.wait_for(timeout=30_000)
        assert image.first.bounding_box()["width"] > 300  # type: ignore[index]
        wait_for_text(page, "headless chromium, the raw page with no network")
    assert page.locator("a[href*='beacon'], a[href*='evil.example'], iframe, img[src*='127.0.0.1']").count() == 0
    page.screenshot(path=str(s.artifacts / "source_viewer_page.png"), full_page=True)
    for doc_id, made_by, shot in (("case", "pdfium", "pdf"), ("note", "extracted text laid out as a page", "docx"),
                                  ("scan", "pillow: decoded and redrawn as PNG", "picture")):
        search.fill(doc_id)
        search.press("Enter")
        wait_for_text(page, made_by)
        page.screenshot(path=str(s.artifacts / f"source_viewer_{shot}.png"), full_page=True)
    print(f"\nsource viewer screenshots: {s.artifacts}")
    page.context.close()
    assert SEEN == [], f"the page's site was asked for {SEEN}"
    elsewhere = [a for a in asked if not a.startswith((s.url, s.url.replace("http", "ws", 1), "data:", "blob:"))]
    assert asked and not elsewhere, elsewhere

    token = api_token(s.url, "manager", s.passwords["manager"])  # no need to know: the app is not theirs
    refused = requests.get(f"{s.dashboards}/source-viewer", headers={"Authorization": f"token {token}"},
                           timeout=60, allow_redirects=False)
    assert refused.status_code == 302 and refused.headers["Location"].endswith("/forbidden?app=source-viewer")
