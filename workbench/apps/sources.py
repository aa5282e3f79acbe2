"""The analysts' source viewer: a collected page or document as the isolated fetcher left it.

An analyst picks a document from ``documents.index`` and reads what the fetcher made of it:
the sanitised text, the static image and the provenance (URL, final address, retrieval
time, hashes, what the sanitiser removed, how the fetcher was confined). Nothing here
loads the live page or anything from its site:

- the text and every URL are escaped text; links are listed as text, never as anchors;
- the image is the PNG the fetcher made, embedded in the page as data, so the browser asks
  no server for it (and nothing of the original picture or page reaches the browser);
- the original bytes are never sent: a web page's raw body is not even in the lake.

Documents from the drop (PDF, DOCX, images, text) are shown the same way. The row comes
through the viewer's session (``documents.index`` is role-checked and audited there); its
record and image are then read from the document's own folder in the documents zone.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from workbench.ingest.documents import IMAGE_FILE, RECORD_FILE
from workbench.session import Session

DOCUMENTS = "documents.index"
LIST_SQL = f"SELECT doc_id, language, kind, title FROM {DOCUMENTS} ORDER BY retrieved_at DESC, doc_id"
ROW_SQL = f"""
SELECT doc_id, kind, language, title, source, published_at, retrieved_at, path, media_type, sha256, size_bytes, text
FROM {DOCUMENTS} WHERE doc_id = $id
"""


@dataclass(frozen=True)
class SourceView:
    """One document as the viewer shows it."""

    row: dict[str, Any]
    record: dict[str, Any] | None
    """The fetch record (``fetch.json``); None for a document landed before the fetcher kept one."""
    image: bytes | None
    image_note: str
    """Why there is no image (or how it was made)."""


def source_view(wb: Session, doc_id: str) -> SourceView | None:
    """The document's index row, fetch record and image; None when the viewer's role sees no such document.

    The image is shown only when its hash is the one the record names: a file swapped in
    the folder afterwards is not passed to the browser.
    """
    rows = wb.sql(ROW_SQL, {"id": doc_id})
    if not rows.height:
        return None
    row = rows.row(0, named=True)
    folder = str(row["path"]).rpartition("/")[0]
    record = _read_json(wb, f"{folder}/{RECORD_FILE}")
    info = (record or {}).get("image") or {}
    if record is None:
        return SourceView(row, None, None, "no fetch record: this document was landed before the fetcher kept one")
    if "sha256" not in info:
        return SourceView(row, record, None, str(info.get("error") or f"no image for {row['media_type']} documents"))
    try:
        image = wb.documents.read(f"{folder}/{IMAGE_FILE}")
    except OSError:
        return SourceView(row, record, None, "the image named by the record is missing")
    if hashlib.sha256(image).hexdigest() != info["sha256"]:
        return SourceView(row, record, None, "the image file does not match the record's hash: not shown")
    return SourceView(row, record, image, str(info.get("made_by", "")))


def _read_json(wb: Session, path: str) -> dict[str, Any] | None:
    try:
        return dict(json.loads(wb.documents.read(path)))
    except (OSError, ValueError):
        return None


def provenance_rows(view: SourceView) -> list[tuple[str, str]]:
    """(label, value) pairs of the provenance, as plain text (the caller escapes them)."""
    row, record = view.row, view.record or {}
    removed = record.get("removed") or {}
    isolation = record.get("isolation") or {}
    image = record.get("image") or {}
    pairs = [
        ("Address asked", record.get("url") or record.get("file") or row["source"]),
        ("Final address", record.get("final_url") or ""),
        ("Retrieved at (UTC)", str(row["retrieved_at"])),
        ("HTTP status", str(record.get("status") or "")),
        ("Media type", str(row["media_type"])),
        ("Raw content SHA-256", record.get("raw_sha256") or ""),
        ("Raw size", f"{record['raw_size_bytes']:,} bytes" if "raw_size_bytes" in record else ""),
        ("Removed by the sanitiser", ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in sorted(removed.items()))
         or ("nothing" if record else "")),
        ("Image", view.image_note + (f" (JavaScript {'on' if image['javascript'] else 'off'})"
                                     if "javascript" in image and view.image is not None else "")),
        ("Image SHA-256", image.get("sha256", "") if view.image is not None else ""),
        ("Fetcher isolation", _isolation_text(isolation)),
        ("Stored record SHA-256", str(row["sha256"])),
    ]
    return [(label, value) for label, value in pairs if value]


def _isolation_text(isolation: dict[str, Any]) -> str:
    if not isolation:
        return ""
    cap = isolation.get("memory_cap_bytes", 0) / 2**20
    return (f"user {isolation.get('user')}; own network namespace: {'yes' if isolation.get('network_namespace') else 'no'}; "
            f"memory cap {cap:,.0f} MiB by {isolation.get('memory_cap', '?')}")


def sources_app(wb: Session | None = None, lake: str | None = None) -> Any:
    """The source viewer as a Panel layout (one per browser session); ``wb`` defaults to ``connect(lake)``."""
    import panel as pn

    from workbench.apps.labelling import document_search
    from workbench.apps.layout import esc, off_loop, open_app
    from workbench.apps.queries import run_cached

    wb, heading, blank = open_app(wb, lake, "Source viewer", [DOCUMENTS], "collected sources")
    if blank is not None:
        return blank
    docs = run_cached(wb, LIST_SQL, [DOCUMENTS])
    search, picker = document_search(docs, "source", "WEB3f2a", 560)
    notice = pn.pane.Alert(
        "You are reading what the isolated fetcher kept: sanitised text, a still image and the record. "
        "The live page is never loaded here; links are shown as text and are not followed.",
        alert_type="info", sizing_mode="stretch_width")
    provenance = pn.pane.HTML("", sizing_mode="stretch_width")
    links = pn.pane.HTML("", sizing_mode="stretch_width")
    picture = pn.Column(sizing_mode="stretch_width")
    text = pn.pane.HTML("", sizing_mode="stretch_width")

    async def on_pick(event: Any) -> None:
        if not event.new:
            return
        view = await off_loop(wb, source_view, wb, event.new)
        if view is None:
            provenance.object = "<p>No such document, or your role may not read it.</p>"
            return
        rows = "".join(f"<tr><th style='text-align:left;padding-right:12px'>{esc(k)}</th><td>{esc(v)}</td></tr>"
                       for k, v in provenance_rows(view))
        provenance.object = f"<h3>{esc(view.row['title'])}</h3><table class='provenance'>{rows}</table>"
        found = (view.record or {}).get("links") or []
        links.object = (f"<h4>Links in the page ({len(found)}), as text</h4><ul class='links'>"
                        + "".join(f"<li><code>{esc(link)}</code></li>" for link in found) + "</ul>") if found else ""
        caption = pn.pane.HTML("<h4>Still image made by the fetcher (not the live page)</h4>")
        picture.objects = [caption, pn.pane.PNG(view.image, embed=True, sizing_mode="scale_width", max_width=900)] \
            if view.image is not None else [pn.pane.HTML(f"<p><i>{esc(view.image_note)}</i></p>")]
        text.object = ("<h4>Sanitised text</h4><pre style='white-space:pre-wrap;font-family:inherit'>"
                       f"{esc(view.row['text'])}</pre>")

    picker.param.watch(on_pick, "value")
    pn.state.onload(lambda: picker.param.trigger("value"))
    return pn.Column(heading, notice, pn.Row(search, picker),
                     pn.Row(pn.Column(provenance, links, width=560), picture, sizing_mode="stretch_width"),
                     text, sizing_mode="stretch_width")


__all__ = ["SourceView", "provenance_rows", "source_view", "sources_app"]
