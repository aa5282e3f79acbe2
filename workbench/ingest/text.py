"""Text and metadata out of a document's bytes: plain text, HTML, PDF, DOCX and images.

One function per format, chosen by media type; each returns the plain text an analyst
searches and whatever metadata the format itself carries (title, language, date), so
the document kinds only fill gaps (file name, drop time) when a file says nothing.
Bytes that are not a readable document of their type raise ``Unreadable`` naming why;
the kinds quarantine such a file whole and keep going.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

MEDIA_TYPES = {
    ".txt": "text/plain", ".md": "text/plain", ".html": "text/html", ".htm": "text/html",
    ".pdf": "application/pdf",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".tif": "image/tiff", ".tiff": "image/tiff",
    ".gif": "image/gif", ".webp": "image/webp",
}
DROPPED_HTML = ("script", "style", "noscript", "nav", "header", "footer", "aside", "form", "template")
"""Page furniture left out of a web page's text; what remains of ``<article>``/``<main>``/``<body>`` is the text."""
_FRONT_MATTER = re.compile(r"^([A-Za-z][A-Za-z-]*):[ \t]*(.*)$")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


class Unreadable(Exception):
    """The bytes are not a readable document of the type they claim; the message says why."""


@dataclass
class Extracted:
    """Plain text plus the metadata the document itself declares (None when it is silent)."""

    text: str
    title: str | None = None
    language: str | None = None
    published_at: datetime | None = None


def language_tag(tag: str | None) -> str | None:
    """A BCP 47 tag reduced to its language (``zh-HK`` and ``zh-Hant`` -> ``zh``), the index's form."""
    if not tag:
        return None
    primary = tag.strip().replace("_", "-").split("-")[0].lower()
    return primary if re.fullmatch(r"[a-z]{2}", primary) else None


def guess_language(text: str) -> str:
    """``zh`` when a fifth or more of the letters are CJK ideographs, else ``en``: enough for en/zh sources."""
    letters = sum(ch.isalpha() for ch in text)
    return "zh" if letters and len(_CJK.findall(text)) * 5 >= letters else "en"


def utc_naive(moment: datetime) -> datetime:
    """The lake's convention: timestamps are naive UTC."""
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def parse_time(text: str | None) -> datetime | None:
    """ISO 8601 (with or without zone) or a PDF date ``D:YYYYMMDDHHmmSS``; None when it is neither."""
    if not text:
        return None
    value = text.strip().removeprefix("D:").replace("'", "")
    match = re.match(r"^(\d{14})(Z|[+-]\d{4})?$", value)  # before ISO: fromisoformat misreads 14 digits
    if match:
        zone = "+0000" if match.group(2) in (None, "Z") else match.group(2)
        return utc_naive(datetime.strptime(match.group(1) + zone, "%Y%m%d%H%M%S%z"))
    try:
        return utc_naive(datetime.fromisoformat(value))
    except ValueError:
        return None


def plain_text(data: bytes) -> Extracted:
    """UTF-8 text; leading ``Title:``/``Language:``/``Date:`` lines up to a blank line are metadata."""
    try:
        text = data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        raise Unreadable(f"not UTF-8 text (byte {exc.start})") from exc
    head, sep, body = text.partition("\n\n")
    lines = head.splitlines()
    fields = [_FRONT_MATTER.match(line) for line in lines]
    if not (sep and lines and all(fields)):
        return Extracted(text.strip())
    meta = {m.group(1).lower(): m.group(2).strip() for m in fields if m}
    return Extracted(body.strip(), meta.get("title"), language_tag(meta.get("language")), parse_time(meta.get("date")))


def html_text(data: bytes) -> Extracted:
    """The readable text of a page: its article (or main, or body) without navigation and scripts."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(data, "html.parser")
    if soup.find() is None:
        raise Unreadable("no HTML elements in the page")
    meta = {(m.get("property") or m.get("name") or "").lower(): m.get("content") for m in soup.find_all("meta")}
    title = meta.get("og:title") or (soup.title.get_text(strip=True) if soup.title else None)
    html = soup.find("html")
    published = meta.get("article:published_time") or (soup.time.get("datetime") if soup.time else None)
    body = soup.find("article") or soup.find("main") or soup.body or soup
    for tag in body.find_all(DROPPED_HTML):
        tag.decompose()
    return Extracted(body.get_text("\n", strip=True), title, language_tag(html.get("lang") if html else None),
                     parse_time(published))


def pdf_text(data: bytes) -> Extracted:
    """Text of every page (pages separated by a blank line) and the document information."""
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data))
        text = "\n\n".join(page.extract_text() or "" for page in reader.pages).strip()
        info = reader.metadata or {}
        language = reader.trailer["/Root"].get("/Lang")
    except (PyPdfError, ValueError, KeyError, TypeError, OSError) as exc:
        raise Unreadable(f"not a readable PDF: {type(exc).__name__}: {exc}") from exc
    return Extracted(text, info.get("/Title") or None, language_tag(str(language) if language else None),
                     parse_time(info.get("/CreationDate")))


def docx_text(data: bytes) -> Extracted:
    """Paragraphs one per line and the core properties (title, language, created)."""
    import docx

    try:
        document = docx.Document(io.BytesIO(data))
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise Unreadable(f"not a readable DOCX document: {type(exc).__name__}: {exc}") from exc
    props = document.core_properties
    text = "\n".join(p.text for p in document.paragraphs).strip()
    created = utc_naive(props.created) if props.created else None
    return Extracted(text, props.title or None, language_tag(props.language), created)


def image_text(data: bytes) -> Extracted:
    """An image has no text to extract: its metadata (size, format, description, camera, date) becomes the text."""
    from PIL import ExifTags, Image, UnidentifiedImageError

    try:
        image = Image.open(io.BytesIO(data))
        image.verify()
        image = Image.open(io.BytesIO(data))
        exif = {ExifTags.TAGS.get(k, str(k)): v for k, v in image.getexif().items()}
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise Unreadable(f"not a readable image: {exc}") from exc
    found: dict[str, object] = {"format": image.format, "width": image.width, "height": image.height}
    for key in ("ImageDescription", "Make", "Model", "DateTime", "Artist"):
        if exif.get(key):
            found[key] = exif[key]
    found.update({k: v for k, v in image.info.items() if k in ("Title", "Description", "Author") and v})
    taken = str(exif["DateTime"]).replace(":", "-", 2) if exif.get("DateTime") else None
    title = found.get("Title") or found.get("ImageDescription")
    return Extracted("\n".join(f"{k}: {v}" for k, v in found.items()), str(title) if title else None, None,
                     parse_time(taken))


READERS: dict[str, Callable[[bytes], Extracted]] = {
    "text/plain": plain_text, "text/html": html_text, "application/pdf": pdf_text,
    MEDIA_TYPES[".docx"]: docx_text,
}


def extract_text(data: bytes, media_type: str) -> Extracted:
    """Text and metadata of ``data`` read as ``media_type``; Unreadable for broken or unsupported files."""
    reader = image_text if media_type.startswith("image/") else READERS.get(media_type)
    if reader is None:
        raise Unreadable(f"no text extractor for media type {media_type}")
    if not data.strip():
        raise Unreadable("the file is empty")
    return reader(data)
