"""The web kind: RSS 2.0 / Atom feeds and the pages they link, or single pages, as documents.

Connection: ``base_url`` (or ``base_url_env``). Table: ``url`` (a feed or a page,
relative to ``base_url``), ``document_kind`` and ``target = "documents.index"``.

For a feed, every entry whose ``updated``/``pubDate`` differs from the one already landed
(marks: entry id -> date) is fetched from its link and its readable text extracted; the
entry's title and date win over the page's, and the page's ``lang`` over the feed's. For a
page, the mark is the hash of its bytes, so an unchanged page lands nothing. The source of
each document is the final URL it was read from; ``retrieved_at`` is when it was stored.

Every fetch goes through the isolated fetcher (``workbench.ingest.fetcher``): the source
may reach ``base_url``'s host and the hosts its file lists in ``allowed_hosts`` (only
listed hosts may be private or loopback addresses). What lands is the sanitised text; the
stored file is the fetch record (``fetch.json``: URLs, time, raw hash, what the sanitiser
removed, how the fetcher was confined) with the page's image beside it (``snapshot.png``,
made by headless chromium in the fetcher: ``snapshot = false`` turns it off,
``javascript = true`` lets the page's scripts run for it), while the raw page goes to the
root-only raw store beside the lake. A page the
policy or a limit refuses, or that answers 4xx, is quarantined with the reason (a feed goes
on with its other entries); a site that is down is retried by the base.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin

from workbench.ingest import http
from workbench.ingest.base import Extract
from workbench.ingest.documents import (
    FETCHER_USER_ENV,
    RECORD_FILE,
    DocumentConnector,
    safe_id,
)
from workbench.ingest.fetcher import Fetched, FetchPolicy, FetchRefused
from workbench.ingest.spec import TableSource
from workbench.ingest.text import guess_language, language_tag
from workbench.ingest.watermarks import Marks
from workbench.lake import Rejection
from workbench.lake.documents import Document

_PLAIN_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def doc_id_for(identifier: str) -> str:
    """A feed's own id when it is a plain token (``DOC000123``), else a stable hash of it (URLs, tag URIs)."""
    if _PLAIN_ID.match(identifier):
        return safe_id(identifier)
    return "WEB" + hashlib.sha256(identifier.encode()).hexdigest()[:16]


class WebConnector(DocumentConnector):
    """``kind = "web"``: open-source pages and feeds, fetched by the isolated fetcher."""

    kind = "web"

    def validate_table(self, source: TableSource) -> None:
        if not source.url:
            raise self.config_error(source, "url", "a web table needs url, a feed or page relative to base_url")
        super().validate_table(source)

    def documents(self, source: TableSource, marks: Marks, extract: Extract) -> Iterator[Document]:
        base_url = self.connection()["base_url"]
        policy = FetchPolicy.for_source(base_url, self.spec.allowed_hosts, snapshot=self.spec.snapshot,
                                        javascript=self.spec.javascript)
        fetcher = self.fetcher()
        url = urljoin(base_url, source.url or "")
        try:
            answer = fetcher.fetch(url, policy)
        except FetchRefused as exc:
            extract.rejections.append(self._refused(source, f"page {url}", url, exc.reason))
            return
        if answer.feed is None:
            if marks.get(answer.final_url) != answer.sha256:
                yield self._page(answer, source, None, None)
                extract.marks[answer.final_url] = answer.sha256
            return
        for entry in answer.feed["entries"]:
            if not entry["id"] or marks.get(entry["id"]) == entry["updated"]:
                continue
            link = urljoin(answer.final_url, entry["link"])
            try:
                document = self._page(fetcher.fetch(link, policy), source, entry, answer.feed["language"])
            except (http.RequestRejected, FetchRefused) as exc:
                reason = exc.reason if isinstance(exc, FetchRefused) else str(exc)
                extract.rejections.append(self._refused(source, f"feed {answer.final_url} entry {entry['id']}",
                                                        entry["link"], reason))
            else:
                yield document
            extract.marks[entry["id"]] = entry["updated"]

    @staticmethod
    def _refused(source: TableSource, record: str, payload: str, reason: str) -> Rejection:
        return Rejection(table=source.target, record=record, field="url", rule="fetch policy and readable page",
                         value=reason, payload=payload)

    def _page(self, page: Fetched, source: TableSource, entry: dict[str, Any] | None, language: str | None) -> Document:
        """The sanitised page as a document; its stored file is the fetch record (text and provenance), not the page."""
        published = entry and entry["published_at"] and datetime.fromisoformat(entry["published_at"])
        title = (entry and entry["title"]) or page.title or page.final_url
        return Document(
            doc_id=doc_id_for(entry["id"] if entry else page.final_url), kind=source.document_kind,
            language=page.language or language_tag(language) or guess_language(page.text),
            title=title, source=page.final_url,
            published_at=published or page.published_at or datetime.now(UTC).replace(tzinfo=None),
            text=page.text, content=page.provenance(), filename=RECORD_FILE, media_type=page.media_type,
            attachments=self.attachments(page, record=False),
        )


__all__ = ["FETCHER_USER_ENV", "WebConnector", "doc_id_for"]
