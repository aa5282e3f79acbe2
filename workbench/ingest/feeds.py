"""RSS 2.0 and Atom feeds parsed into entries (with defusedxml: no entity expansion, no external fetches).

Kept apart from the web kind so the isolated fetcher can parse feeds without importing the
lake: it runs this in its child and sends back only the entries.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from xml.etree.ElementTree import Element, ParseError

from defusedxml import ElementTree
from defusedxml.common import DefusedXmlException

from workbench.ingest.text import parse_time, utc_naive

ATOM = "{http://www.w3.org/2005/Atom}"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


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

