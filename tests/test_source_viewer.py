"""The source viewer over what the isolated fetcher collected: a hostile page from a local site and dropped
documents, read as an analyst reads them; in a real chromium, the viewer's page asks nothing of the page's site.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.test_apps import browser, page_text, served_app, wait_for_text  # noqa: F401  (browser is a fixture)
from workbench.apps.sources import provenance_rows, source_view
from workbench.errors import AccessDenied
from workbench.ingest import parse_connector, run_connectors
from workbench.ingest.confinement import memory_groups_available
from workbench.ingest.documents import FETCHER_USER_ENV, IMAGE_FILE
from workbench.ingest.web import doc_id_for
from workbench.session import connect

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
def collected(tmp_path_factory: pytest.TempPathFactory, fetch_user: str) -> Iterator[dict[str, Any]]:
    """A lake with one page fetched (with its image) and a picture, a DOCX and a text note dropped."""
    from PIL import Image

    from workbench.demo.sources import _docx

    root = tmp_path_factory.mktemp("sources")
    drop = root / "drop"
    drop.mkdir()
    picture = io.BytesIO()
    Image.new("RGB", (240, 160), (20, 90, 160)).save(picture, "JPEG")
    files = {"scan.jpg": picture.getvalue(), "memo.txt": b"Title: Memo\n\nTip-off about a container.",
             "note.docx": _docx({"title": "Note", "language": "en", "published_at": datetime(2024, 3, 1),
                                 "text": "Company linked to the seizure."})}
    for name, data in files.items():
        (drop / name).write_bytes(data)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Site)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    site = f"http://127.0.0.1:{server.server_address[1]}"
    web = parse_connector('kind = "web"\nallowed_hosts = ["127.0.0.1"]\n[connection]\nbase_url_env = "SITE"\n'
                          '[[tables]]\ntarget = "documents.index"\nurl = "article.html"\n', "connectors/w.toml", "w")
    dropped = parse_connector('kind = "documents"\n[connection]\npath_env = "DROP"\n[[tables]]\n'
                              'target = "documents.index"\ndocument_kind = "intel_note"\n', "connectors/d.toml", "d")
    lake = root / "lake"
    wb = connect(str(lake), user="tester")
    records = run_connectors(wb.lake, {"w": web, "d": dropped},
                             env={"SITE": site + "/", "DROP": str(drop), FETCHER_USER_ENV: fetch_user})
    assert [r.status for r in records] == ["ok", "ok"], [r.error for r in records]
    try:
        yield {"lake": lake, "site": site, "page": doc_id_for(f"{site}/article.html"), "files": files, "root": root}
    finally:
        server.shutdown()
        server.server_close()


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
    note = source_view(analyst, "note")
    assert note is not None and note.image is None and note.row["text"] == "Company linked to the seizure."
    assert "no image for application/vnd.openxmlformats" in note.image_note

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


@pytest.mark.browser
def test_an_analyst_reads_a_hostile_page_and_a_picture_and_nothing_is_asked_of_the_pages_site(
        collected: dict[str, Any], browser: Any) -> None:
    site = collected["site"]
    with served_app("source-viewer", collected["lake"], collected["root"] / "server.log",
                    WORKBENCH_USER="ana", WORKBENCH_ROLE="analyst") as url:
        SEEN.clear()
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        asked: list[str] = []
        page.on("request", lambda request: asked.append(request.url))
        page.goto(url)
        search = page.get_by_placeholder("e.g. WEB3f2a")
        search.wait_for(timeout=60_000)
        search.fill(collected["page"])
        search.press("Enter")
        text = wait_for_text(page, "Officers seized 2 tonnes of cigarettes.")
        assert "Final address" in text and "http://evil.example/x" in text and "/beacon-link" in text
        image = page.locator("img[src^='data:image/png']")
        if memory_groups_available():
            image.first.wait_for(timeout=30_000)
            assert image.first.bounding_box()["width"] > 300  # type: ignore[index]
        assert page.locator("a[href*='beacon'], a[href*='evil.example'], iframe, img[src*='127.0.0.1']").count() == 0
        page.screenshot(path=str(collected["root"] / "source_viewer.png"), full_page=True)
        print(f"\nscreenshot: {collected['root'] / 'source_viewer.png'}")

        search.fill("scan")
        search.press("Enter")
        wait_for_text(page, "pillow: decoded and redrawn as PNG")
        page.screenshot(path=str(collected["root"] / "source_viewer_picture.png"), full_page=True)
        assert "onclick" not in page_text(page)
        page.close()
    assert SEEN == [], f"the page's site was asked for {SEEN}"
    assert not [a for a in asked if a.startswith(site) or "evil.example" in a], asked
    server = url.rsplit("/", 1)[0]
    elsewhere = [a for a in asked if not a.startswith((server, server.replace("http", "ws", 1), f"blob:{server}/", "data:"))]
    assert asked and not elsewhere, elsewhere
