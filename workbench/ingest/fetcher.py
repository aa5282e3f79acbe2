"""The isolated fetcher: web pages are fetched and parsed in a child process, and only sanitised text comes back.

What a hostile page can reach is the child, not the ingest process next to the lake:

- Each fetch runs in a fresh child forked from a ``forkserver`` (a clean, single-threaded
  process started once). Before touching the network the child caps its own address space
  (``RLIMIT_AS``: ``memory_bytes`` over what it had mapped at the fork), CPU time, open files and file writes (``RLIMIT_FSIZE`` 0: it can write no
  file), and, when the workbench runs as root, drops to a dedicated Unix user (``wb-fetcher``,
  created on first use, no home, no shell, no groups) that cannot read the lake, the homes
  or the hub's state. It then checks it really cannot list the lake and refuses to fetch if
  it can. The parent kills a child that outlives the time limit.
- The child enforces the source's policy itself: http(s) only; every host, including each
  redirect's, must be one the source declares; every address a host resolves to must be
  public unless the source lists that host explicitly; and it connects to the address it
  checked, so DNS cannot swap it afterwards. Meta refreshes and links are never followed.
- Bodies are streamed and cut at ``max_bytes`` *after* decompression (a gzip bomb stops at
  the cap, not at its wire size); a page that has not finished within ``timeout_seconds``
  (a slow drip) is refused.
- The page is sanitised with nh3 (ammonia: scripts, styles, iframes, objects, forms,
  event handlers and ``javascript:`` URLs gone) and its text extracted from the sanitised
  markup; feeds are parsed into entries in the child too. What crosses back is JSON of
  plain values (never a pickle, which would let a compromised child run code in the parent)
  plus the raw bytes, which the parent only hashes and files in a raw store readable by
  root alone (0700) beside the lake, never in it.

Not covered (see README): the child shares the host's network namespace (it could reach
what the host reaches if its code were subverted; the policy checks run inside it), and
its memory cap is ``RLIMIT_AS`` (a budget over what the forked interpreter
already maps), not a cgroup. No screenshots are taken.
"""

from __future__ import annotations

import codecs
import contextlib
import hashlib
import http.client
import ipaddress
import json
import multiprocessing
import os
import pwd
import resource
import socket
import ssl
import subprocess
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.message import Message
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

from workbench.errors import WorkbenchError

DEFAULT_USER = "wb-fetcher"
USER_AGENT = "customs-workbench-fetcher/0.1"
_PRELOADED_CODECS = ("utf-8", "latin-1", "cp1252", "ascii", "utf-16", "utf-32", "big5", "big5hkscs", "gb18030",
                     "gbk", "shift_jis", "euc_jp", "euc_kr", "koi8_r", "cp1251", "iso8859_2", "idna")
"""Codecs imported before the child drops privileges: the interpreter's own library may not be
readable by the fetcher user (here it sits under /root), so nothing may be imported lazily."""

PRELOAD = ("workbench.ingest.fetcher", "workbench.ingest.feeds", "bs4", "nh3", "html.parser", "pypdf", "docx",
           "PIL.Image", "PIL.ExifTags")
"""Modules the forkserver imports once, for the same reason, and so each child starts in milliseconds."""

for _name in _PRELOADED_CODECS:
    codecs.lookup(_name)


class FetchRefused(WorkbenchError):
    """The fetch broke the source's policy or a limit; ``reason`` says which. The page is quarantined."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"{url}: {reason}")
        self.url = url
        self.reason = reason


@dataclass(frozen=True)
class FetchPolicy:
    """What one source's fetches may reach and use."""

    hosts: frozenset[str]
    """Host names the source may reach (lower case); a redirect elsewhere is refused."""
    private_hosts: frozenset[str] = frozenset()
    """Hosts listed explicitly by the source: only these may resolve to private or loopback addresses."""
    max_bytes: int = 5 * 1024 * 1024
    timeout_seconds: float = 20.0
    max_redirects: int = 5
    memory_bytes: int = 1024 * 1024 * 1024
    """Address space the child may add to what the forkserver had mapped when it forked (``RLIMIT_AS``)."""

    @classmethod
    def for_source(cls, base_url: str, listed: Iterable[str] = (), **limits: Any) -> FetchPolicy:
        """The base URL's host plus the hosts a connector file lists (``allowed_hosts``)."""
        explicit = frozenset(h.strip().lower() for h in listed if h.strip())
        base = (urlsplit(base_url).hostname or "").lower()
        return cls(hosts=explicit | ({base} if base else set()), private_hosts=explicit, **limits)


@dataclass(frozen=True)
class Fetched:
    """What crosses from the fetcher: sanitised text and provenance, never markup that could run."""

    url: str
    final_url: str
    status: int
    media_type: str
    retrieved_at: datetime
    sha256: str
    """Hash of the raw (decoded) body, the key of the raw store."""
    size_bytes: int
    text: str
    title: str | None = None
    language: str | None = None
    published_at: datetime | None = None
    removed: dict[str, int] = field(default_factory=dict)
    """What the sanitiser removed: scripts, styles, iframes, objects, forms, event handlers, ..."""
    feed: dict[str, Any] | None = None
    """For a feed: ``{"language": ..., "entries": [{"id", "link", "title", "published_at", "updated"}]}``."""
    raw_path: str | None = None

    def provenance(self) -> bytes:
        """The record kept in the documents zone in place of the raw page.

        The same page gives the same record (its hash is the index's ``sha256``), so the
        retrieval time is left to the index's ``retrieved_at``, set when the record lands.
        """
        record = {"url": self.url, "final_url": self.final_url, "status": self.status, "media_type": self.media_type,
                  "raw_sha256": self.sha256,
                  "raw_size_bytes": self.size_bytes, "removed": self.removed, "title": self.title,
                  "language": self.language, "text": self.text}
        return json.dumps(record, ensure_ascii=False, indent=1).encode()


# -- the parent side ---------------------------------------------------------------------------


def ensure_user(name: str) -> tuple[int, int]:
    """The uid/gid of ``name``, created as a system user without home, shell or groups when missing."""
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent",
                        "--shell", "/usr/sbin/nologin", "--user-group", name], check=True, capture_output=True)
        entry = pwd.getpwnam(name)
    return entry.pw_uid, entry.pw_gid


class Fetcher:
    """Runs fetches in isolated children; one instance per connector run.

    ``user`` is the Unix user children run as when the workbench is root (tests pass their
    own and remove it); ``forbidden`` are folders the child must be unable to list (the
    lake), checked in every child; ``raw_store`` receives the raw bodies (made 0700).
    """

    def __init__(self, user: str = DEFAULT_USER, forbidden: Iterable[Path] = (),
                 raw_store: Path | None = None) -> None:
        self.user = user
        self.forbidden = tuple(str(p) for p in forbidden)
        self.raw_store = raw_store
        self._ids: tuple[int, int] | None = None

    def _identity(self) -> tuple[int, int] | None:
        if os.geteuid() != 0:
            return None
        if self._ids is None:
            self._ids = ensure_user(self.user)
        return self._ids

    def call(self, target: Callable[..., Any], *args: Any, timeout: float = 20.0,
             memory_bytes: int = 1024 * 1024 * 1024, max_reply: int = 64 * 1024 * 1024) -> tuple[Any, bytes]:
        """Run ``target(*args)`` in an isolated child; its JSON-able result and the bytes it attached.

        ``target`` returns ``(value, attachment)``. An exception in the child comes back as
        ``FetchRefused``-compatible text; a child that outlives ``timeout`` is killed.
        """
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(list(PRELOAD))
        receive, send = context.Pipe(duplex=False)
        child = context.Process(target=_isolated, daemon=True, args=(
            send, target, args, self._identity(), self.forbidden, memory_bytes, timeout))
        child.start()
        send.close()
        try:
            if not receive.poll(timeout + 2.0):
                raise TimeoutError(f"the fetcher was stopped after {timeout + 2.0:.0f} s")
            header = json.loads(receive.recv_bytes(max_reply))
            attachment = receive.recv_bytes(max_reply) if header.get("attached") else b""
        except TimeoutError:
            raise
        except OSError as exc:  # a reply longer than max_reply
            raise ChildFailed(f"the fetcher's reply was refused: {exc}") from None
        except EOFError:
            child.join(2.0)
            raise ChildFailed(f"the fetcher died before answering (exit {child.exitcode}; a signal when negative)") from None
        finally:
            receive.close()
            if child.is_alive():
                child.kill()
            child.join(5.0)
            child.close()
        if "error" in header:
            raise ChildFailed(header["error"], header.get("kind", ""))
        return header["value"], attachment

    def fetch(self, url: str, policy: FetchPolicy) -> Fetched:
        """Fetch and sanitise one page or feed; ``FetchRefused`` names what it broke.

        Source down (refused connection, 5xx, 429): ``ConnectionError`` (the base retries);
        4xx: ``http.RequestRejected``.
        """
        from workbench.ingest.http import RequestRejected

        try:
            value, raw = self.call(_fetch_and_render, url, policy, timeout=policy.timeout_seconds,
                                   memory_bytes=policy.memory_bytes, max_reply=policy.max_bytes * 4 + (1 << 20))
        except TimeoutError as exc:
            raise FetchRefused(url, str(exc)) from None
        except ChildFailed as exc:
            kind = {"down": ConnectionError, "rejected": RequestRejected}.get(exc.kind)
            if kind is not None:
                raise kind(str(exc)) from None
            raise FetchRefused(url, str(exc)) from None
        published = value.get("published_at")
        fetched = Fetched(**{**value, "retrieved_at": datetime.fromisoformat(value["retrieved_at"]),
                             "published_at": datetime.fromisoformat(published) if published else None})
        if hashlib.sha256(raw).hexdigest() != fetched.sha256:
            raise FetchRefused(url, "the fetcher's raw bytes do not match the hash it reported")
        return fetched if self.raw_store is None else replace(fetched, raw_path=self._keep_raw(raw, fetched.sha256))

    def _keep_raw(self, raw: bytes, digest: str) -> str:
        assert self.raw_store is not None
        self.raw_store.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.raw_store.chmod(0o700)
        path = self.raw_store / digest
        if not path.exists():
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "wb") as out:
                out.write(raw)
        return str(path)


class ChildFailed(Exception):
    """An exception inside the child, as text (``kind``: ``down``, ``rejected``, ``refused`` or the type)."""

    def __init__(self, message: str, kind: str = "") -> None:
        super().__init__(message)
        self.kind = kind


def raw_store_for(lake_root: str) -> Path | None:
    """The raw store of a local lake: ``<lake parent>/fetched-raw``; None for an object-store lake."""
    if "://" in lake_root and not lake_root.startswith("file://"):
        return None
    return Path(lake_root.removeprefix("file://")).resolve().parent / "fetched-raw"


# -- the child side ----------------------------------------------------------------------------


def _isolated(reply: Connection, target: Callable[..., Any], args: tuple[Any, ...], identity: tuple[int, int] | None,
              forbidden: tuple[str, ...], memory_bytes: int, timeout: float) -> None:
    try:
        mapped = _mapped_bytes()  # the preloaded interpreter already maps ~3 GB (mostly reservations)
        resource.setrlimit(resource.RLIMIT_AS, (mapped + memory_bytes, mapped + memory_bytes))
        cpu = int(timeout) + 2
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
        resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
        if identity is not None:
            uid, gid = identity
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
        for path in forbidden if identity is not None else ():
            if _readable(path):
                raise FetchRefused(path, "isolation: the fetcher user can read this path; make it unreadable to others")
        value, attachment = target(*args)
        reply.send_bytes(json.dumps({"value": value, "attached": True}).encode())
        reply.send_bytes(attachment)
    except BaseException as exc:  # noqa: BLE001 - everything the child meets is reported, as text
        if isinstance(exc, FetchRefused):
            kind, message = "refused", exc.reason
        elif isinstance(exc, _Failure):
            kind, message = exc.kind, str(exc)
        else:
            kind, message = type(exc).__name__, f"{type(exc).__name__}: {exc}"
        with contextlib.suppress(OSError):
            reply.send_bytes(json.dumps({"error": message[:2000], "kind": kind}).encode())
    finally:
        reply.close()


def _mapped_bytes() -> int:
    """This process's address space now (``VmSize``): the cap is a budget on top of it."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def _readable(path: str) -> bool:
    """Whether this process can list the folder or read the file at ``path``."""
    try:
        if os.path.isdir(path):
            os.listdir(path)
        else:
            with open(path, "rb") as handle:
                handle.read(1)
    except (PermissionError, FileNotFoundError):
        return False
    return True


class _Failure(Exception):
    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


def _checked_address(url: str, policy: FetchPolicy) -> tuple[str, str, int, str]:
    """Scheme, host, port and the public (or explicitly allowed) address to connect to; refuses the rest."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise FetchRefused(url, f"scheme {parts.scheme or '(none)'!r} is not allowed (http and https only)")
    host = (parts.hostname or "").lower()
    if host not in policy.hosts:
        raise FetchRefused(url, f"host {host!r} is not among the source's allowed_hosts {sorted(policy.hosts)}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise _Failure(f"{url}: cannot resolve {host}: {exc}", "down") from None
    addresses = [str(info[4][0]) for info in infos]
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%")[0])
        if not ip.is_global and host not in policy.private_hosts:
            raise FetchRefused(url, f"{host} resolves to the non-public address {ip}; "
                                    f"list the host in allowed_hosts if the source really lives there")
    return parts.scheme, host, port, addresses[0]


def _open(url: str, policy: FetchPolicy, deadline: float) -> tuple[str, http.client.HTTPResponse]:
    """GET ``url``, following redirects only inside the policy; the final URL and the open response."""
    for _ in range(policy.max_redirects + 1):
        scheme, host, port, address = _checked_address(url, policy)
        remaining = max(0.1, deadline - time.monotonic())
        connection_type = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
        connection = connection_type(host, port, timeout=remaining)
        connection._create_connection = (  # type: ignore[attr-defined]  # connect to the address checked, not a re-resolve
            lambda _addr, timeout=remaining, source=None, a=address, p=port: socket.create_connection((a, p), timeout, source))
        parts = urlsplit(url)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        try:
            connection.request("GET", path, headers={"User-Agent": USER_AGENT, "Accept-Encoding": "gzip, deflate"})
            answer = connection.getresponse()
        except TimeoutError:
            raise _Failure(f"{url}: no answer within {policy.timeout_seconds:.0f} s", "down") from None
        except (OSError, http.client.HTTPException, ssl.SSLError) as exc:
            raise _Failure(f"{url}: {exc}", "down") from None
        if answer.status in (301, 302, 303, 307, 308) and answer.getheader("Location"):
            url = urljoin(url, answer.getheader("Location", ""))
            connection.close()
            continue
        if answer.status >= 500 or answer.status == 429:
            raise _Failure(f"{url}: HTTP {answer.status} {answer.reason}", "down")
        if answer.status >= 400:
            raise _Failure(f"{url}: HTTP {answer.status} {answer.reason}", "rejected")
        return url, answer
    raise FetchRefused(url, f"more than {policy.max_redirects} redirects")


def _read_capped(url: str, answer: http.client.HTTPResponse, policy: FetchPolicy, deadline: float) -> bytes:
    """The body, decoded (gzip/deflate) and cut off at ``max_bytes`` decoded; refuses at the cap or the deadline."""
    encoding = (answer.getheader("Content-Encoding") or "identity").strip().lower()
    if encoding not in ("identity", "gzip", "x-gzip", "deflate"):
        raise FetchRefused(url, f"content encoding {encoding!r} is not supported")
    decoder = zlib.decompressobj(wbits=47 if encoding != "identity" else 0) if encoding != "identity" else None
    body = bytearray()
    while True:
        if time.monotonic() > deadline:
            raise FetchRefused(url, f"time limit: not finished within {policy.timeout_seconds:g} s "
                                    f"({len(body):,} bytes so far)")
        try:
            chunk = answer.read1(65536)
        except TimeoutError:
            raise FetchRefused(url, f"time limit: the server stalled ({len(body):,} bytes so far)") from None
        if decoder is not None:
            try:
                chunk = decoder.decompress(chunk, policy.max_bytes + 1 - len(body)) if chunk else decoder.flush()
            except zlib.error as exc:
                raise FetchRefused(url, f"the {encoding} body is corrupt: {exc}") from None
        body += chunk
        if len(body) > policy.max_bytes:
            what = "decoded size" if decoder is not None else "size"
            raise FetchRefused(url, f"size limit: the body's {what} exceeds {policy.max_bytes:,} bytes")
        if not chunk:
            return bytes(body)


_ACTIVE = {"script": "scripts", "style": "styles", "iframe": "iframes", "frame": "iframes", "object": "objects",
           "embed": "objects", "applet": "objects", "form": "forms", "link": "links_to_resources",
           "base": "base_tags", "svg": "svg", "math": "math"}
_DROPPED_CONTENT = {"script", "style", "iframe", "frame", "frameset", "object", "embed", "applet", "noscript",
                    "template", "svg", "math", "textarea", "select", "title"}
_KEPT_TAGS = {"article", "main", "section", "nav", "header", "footer", "aside", "p", "br", "div", "span", "h1", "h2",
              "h3", "h4", "h5", "h6", "ul", "ol", "li", "dl", "dt", "dd", "table", "thead", "tbody", "tr", "td", "th",
              "blockquote", "pre", "code", "em", "strong", "b", "i", "u", "time", "figure", "figcaption", "a"}


def _removed(markup: str) -> dict[str, int]:
    """Counts of the active content the sanitiser takes out, for the record."""
    from html.parser import HTMLParser

    counts: dict[str, int] = {}

    def add(key: str) -> None:
        counts[key] = counts.get(key, 0) + 1

    class Counter(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            if tag in _ACTIVE:
                add(_ACTIVE[tag])
            if tag == "meta" and any(k == "http-equiv" and (v or "").lower() == "refresh" for k, v in attrs):
                add("meta_refresh")
            for name, value in attrs:
                if name.startswith("on"):
                    add("event_handlers")
                elif (value or "").strip().lower().startswith(("javascript:", "vbscript:", "data:text/html")):
                    add("script_urls")

    Counter(convert_charrefs=True).feed(markup)
    return counts


def _decode(data: bytes, headers: Message) -> str:
    """Text of the page in its declared charset, falling back to UTF-8 with replacement (never raising)."""
    charset = headers.get_content_charset() or "utf-8"
    try:
        codecs.lookup(charset)
    except LookupError:
        charset = "utf-8"
    return data.decode(charset, errors="replace")


def render(data: bytes, media_type: str, headers: Message) -> dict[str, Any]:
    """Sanitised text and metadata of a body: HTML through nh3, feeds as entries, documents as text."""
    import nh3

    from workbench.ingest.feeds import parse_feed
    from workbench.ingest.text import Unreadable, extract_text, html_text

    if media_type in ("application/rss+xml", "application/atom+xml", "application/xml", "text/xml") or \
            data.lstrip()[:5] == b"<?xml":
        feed = parse_feed(data)
        if feed is not None:
            entries = [{"id": e.id, "link": e.link, "title": e.title, "updated": e.updated,
                        "published_at": e.published_at and e.published_at.isoformat()} for e in feed.entries]
            return {"text": "", "feed": {"language": feed.language, "entries": entries}, "removed": {}}
    if media_type in ("text/html", "application/xhtml+xml"):
        markup = _decode(data, headers)
        clean = nh3.clean(markup, tags=_KEPT_TAGS, clean_content_tags=_DROPPED_CONTENT,
                          attributes={"a": {"href"}, "time": {"datetime"}}, url_schemes={"http", "https"},
                          link_rel="nofollow noopener noreferrer")
        try:
            declared = html_text(markup.encode())  # title, lang and date only; the text comes from the clean markup
        except Unreadable:
            declared = None
        text = html_text(f"<html><body>{clean}</body></html>".encode()).text
        return {"text": text, "title": declared and declared.title, "language": declared and declared.language,
                "published_at": declared and declared.published_at and declared.published_at.isoformat(),
                "removed": _removed(markup), "feed": None}
    found = extract_text(data, media_type)
    return {"text": found.text, "title": found.title, "language": found.language,
            "published_at": found.published_at and found.published_at.isoformat(), "removed": {}, "feed": None}


def _fetch_and_render(url: str, policy: FetchPolicy) -> tuple[dict[str, Any], bytes]:
    from workbench.ingest.text import Unreadable

    deadline = time.monotonic() + policy.timeout_seconds
    final_url, answer = _open(url, policy, deadline)
    data = _read_capped(final_url, answer, policy, deadline)
    media_type = answer.headers.get_content_type()
    try:
        rendered = render(data, media_type, answer.headers)
    except Unreadable as exc:
        raise FetchRefused(final_url, f"unreadable {media_type}: {exc}") from None
    except RecursionError:
        raise FetchRefused(final_url, "the page nests too deep to parse") from None
    if time.monotonic() > deadline:
        raise FetchRefused(final_url, f"time limit: parsing took past {policy.timeout_seconds:g} s")
    value = {"url": url, "final_url": final_url, "status": answer.status, "media_type": media_type,
             "retrieved_at": datetime.now(UTC).replace(tzinfo=None).isoformat(),
             "sha256": hashlib.sha256(data).hexdigest(), "size_bytes": len(data), **rendered}
    return value, data


__all__ = ["DEFAULT_USER", "FetchPolicy", "FetchRefused", "Fetched", "Fetcher", "ensure_user", "raw_store_for",
           "render"]
