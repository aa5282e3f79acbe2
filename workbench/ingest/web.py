"""The web kind: RSS 2.0 / Atom feeds and the pages they link, or single pages, as documents.

Connection: ``base_url`` (or ``base_url_env``). Table: ``url`` (a feed or a page,
relative to ``base_url``), ``document_kind`` and ``target = "documents.index"``.

For a feed, every entry whose ``updated``/``pubDate`` differs from the one already landed
(marks: entry id -> date) is fetched from its link and its readable text extracted; the
entry's title and date win over the page's, and the page's ``lang`` over the feed's. For a
page, the mark is the hash of its bytes, so an unchanged page lands nothing. The source of
each document is the URL it was read from; ``retrieved_at`` is when it was stored.
An entry whose page answers 4xx is quarantined (the feed goes on); a site that is down is
retried by the base.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urljoin
from xml.etree.ElementTree import Element, ParseError

from defusedxml import ElementTree
from defusedxml.common import DefusedXmlException

from workbench.ingest import http
from workbench.ingest.base import Extract
from workbench.ingest.documents import DocumentConnector, safe_id
from workbench.ingest.spec import TableSource
from workbench.ingest.text import Unreadable, extract_text, guess_language, language_tag, parse_time, utc_naive
from workbench.ingest.watermarks import Marks
from workbench.lake import Rejection
from workbench.lake.documents import Document

ATOM = "{http://www.w3.org/2005/Atom}"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
_PLAIN_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


@dataclass(frozen=True)
class Entry:
    """One feed entry: its stable id, link, title and date as the feed states them."""

    id: str
    link: str
    title: str | None
    published_at: datetime | None
    updated: str


@dataclass(frozen=True)
class Feed:
    language: str | None
    entries: list[Entry]


def _rss_date(text: str | None) -> datetime | None:
    try:
        return utc_naive(parsedate_to_datetime(text)) if text else None
    except (TypeError, ValueError):
        return None


def _atom_link(entry: Element) -> str:
    for link in entry.findall(f"{ATOM}link"):
        if link.get("rel", "alternate") == "alternate" and link.get("href"):
            return str(link.get("href"))
    return ""


def parse_feed(data: bytes) -> Feed | None:
    """The entries of an RSS 2.0 or Atom document; None when ``data`` is not a feed (a page)."""
    try:
        root = ElementTree.fromstring(data)
    except (ParseError, DefusedXmlException):
        return None
    if root.tag == "rss" and (channel := root.find("channel")) is not None:
        entries = [
            Entry(id=(item.findtext("guid") or item.findtext("link") or "").strip(),
                  link=(item.findtext("link") or "").strip(), title=item.findtext("title"),
                  published_at=_rss_date(item.findtext("pubDate")), updated=item.findtext("pubDate") or "")
            for item in channel.findall("item")
        ]
        return Feed(channel.findtext("language"), entries)
    if root.tag == f"{ATOM}feed":
        entries = []
        for item in root.findall(f"{ATOM}entry"):
            published = item.findtext(f"{ATOM}published") or item.findtext(f"{ATOM}updated")
            entries.append(Entry(id=(item.findtext(f"{ATOM}id") or _atom_link(item)).strip(), link=_atom_link(item),
                                 title=item.findtext(f"{ATOM}title"), published_at=parse_time(published),
                                 updated=item.findtext(f"{ATOM}updated") or published or ""))
        return Feed(root.get(XML_LANG), entries)
    return None


def doc_id_for(identifier: str) -> str:
    """A feed's own id when it is a plain token (``DOC000123``), else a stable hash of it (URLs, tag URIs)."""
    if _PLAIN_ID.match(identifier):
        return safe_id(identifier)
    return "WEB" + hashlib.sha256(identifier.encode()).hexdigest()[:16]


class WebConnector(DocumentConnector):
    """``kind = "web"``: open-source pages and feeds."""

    kind = "web"

    def validate_table(self, source: TableSource) -> None:
        if not source.url:
            raise self.config_error(source, "url", "a web table needs url, a feed or page relative to base_url")
        super().validate_table(source)

    def documents(self, source: TableSource, marks: Marks, extract: Extract) -> Iterator[Document]:
        url = urljoin(self.connection()["base_url"], source.url or "")
        answer = http.get(url)
        feed = parse_feed(answer.body)
        if feed is None:
            digest = hashlib.sha256(answer.body).hexdigest()
            if marks.get(answer.url) != digest:
                yield self._page(answer, source, None, None)
                extract.marks[answer.url] = digest
            return
        for entry in feed.entries:
            if not entry.id or marks.get(entry.id) == entry.updated:
                continue
            try:
                document = self._page(http.get(urljoin(answer.url, entry.link)), source, entry, feed.language)
            except (http.RequestRejected, Unreadable) as exc:
                extract.rejections.append(Rejection(
                    table=source.target, record=f"feed {answer.url} entry {entry.id}", field="link",
                    rule="readable page", value=str(exc), payload=entry.link))
            else:
                yield document
            extract.marks[entry.id] = entry.updated

    @staticmethod
    def _page(page: http.Response, source: TableSource, entry: Entry | None, language: str | None) -> Document:
        found = extract_text(page.body, "text/html")
        title = (entry.title if entry else None) or found.title or page.url
        return Document(
            doc_id=doc_id_for(entry.id if entry else page.url), kind=source.document_kind,
            language=found.language or language_tag(language) or guess_language(found.text),
            title=title, source=page.url,
            published_at=(entry.published_at if entry else None) or found.published_at
            or datetime.now(UTC).replace(tzinfo=None),
            text=found.text, content=page.body, filename="page.html", media_type=page.media_type,
        )
