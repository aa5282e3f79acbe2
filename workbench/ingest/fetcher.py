"""The isolated fetcher: pages and documents are fetched, parsed and photographed in a confined child; only
sanitised text, a static image and provenance come back.

What a hostile page or file can reach is the child, not the ingest process next to the lake:

- Each fetch or parse runs in a fresh child forked from a ``forkserver`` (a clean,
  single-threaded process started once, with the parsers preloaded). The child confines
  itself before it reads a byte (``workbench.ingest.confinement``): its own memory cgroup
  (chromium included), its own empty network namespace, CPU/file/open-file limits, and the
  dedicated Unix user ``wb-fetcher`` (created on first use, no home, no shell, no groups)
  that cannot read the lake, the homes or the hub's state; it checks it really cannot list
  the lake and refuses to fetch if it can. The parent kills a child that outlives the time
  limit, and every process left in its memory group.
- Its only way onto the network is a socket the parent's broker connects for it, after the
  policy check in the parent: http(s) only; every host, including each redirect's, must be
  one the source declares; every address a host resolves to must be public unless the
  source lists that host explicitly, and then only on the ports it names (the base URL's,
  ``host:port`` entries, else 80 and 443); it connects to the address it checked, so DNS
  cannot swap it afterwards. Meta refreshes and links are never followed.
- Bodies are streamed and cut at ``max_bytes`` *after* decompression (a gzip bomb stops at
  the cap, not at its wire size); a page that has not finished within ``timeout_seconds``
  (a slow drip) is refused.
- The page is sanitised with nh3 (ammonia: scripts, styles, iframes, objects, forms,
  event handlers and ``javascript:`` URLs gone) and its text extracted from the sanitised
  markup; feeds are parsed into entries in the child too; documents (PDF, DOCX, images,
  text) are parsed there as well (``Fetcher.parse``). When the source asks for it, the
  child photographs the raw page with headless chromium inside the same confinement
  (``workbench.ingest.snapshot``: JavaScript off unless the source turns it on, a throwaway
  profile) and redraws pictures with Pillow.
- What crosses back is JSON of plain values (never a pickle, which would let a compromised
  child run code in the parent) plus the raw bytes and the PNG, which the parent hashes;
  the parent takes only the record's known fields, each of its type, sets the address it
  asked for itself and accepts a final address only where its broker really connected;
  the raw bytes are filed in a raw store readable by root alone (0700) beside the lake,
  never in it, by file descriptor (a symlink planted in its place is refused, not followed).

Not covered (README, "Open sources behind isolation"): without root or without
``unshare``, the child shares the host's network namespace (the broker still applies the
policy, but a subverted child could connect by itself); without a writable memory
controller its memory cap is ``RLIMIT_AS`` and it takes no images.
"""

from __future__ import annotations

import codecs
import contextlib
import hashlib
import http.client
import json
import multiprocessing
import os
import pwd
import secrets
import stat
import subprocess
import sys
import time
import types
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.message import Message
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

from workbench.errors import WorkbenchError
from workbench.ingest import confinement
from workbench.ingest.confinement import Broker, Confinement, Refused

DEFAULT_USER = "wb-fetcher"
FETCHER_USER_ENV = "WORKBENCH_FETCHER_USER"
"""Environment key naming the fetcher's Unix user (tests set their own; default ``wb-fetcher``); the document
kinds read it from their connector environment."""
USER_AGENT = "customs-workbench-fetcher/0.1"
HTML_TYPES = ("text/html", "application/xhtml+xml")
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
MAX_LINKS = 200
KILL_GRACE_SECONDS = 2.0
"""A child past its time limit gets this long to report its own refusal (a clearer reason) before it is killed."""
_PRELOADED_CODECS = ("utf-8", "latin-1", "cp1252", "ascii", "utf-16", "utf-32", "big5", "big5hkscs", "gb18030",
                     "gbk", "shift_jis", "euc_jp", "euc_kr", "koi8_r", "cp1251", "iso8859_2", "idna", "cp437")
"""Codecs imported before the child drops privileges: the interpreter's own library may not be
readable by the fetcher user (here it sits under /root), so nothing may be imported lazily."""

PRELOAD = ("workbench.ingest.fetcher", "workbench.ingest.feeds", "workbench.ingest.snapshot", "bs4", "nh3",
           "html.parser", "http.server", "ssl", "pypdf", "pypdfium2", "docx", "PIL.Image", "PIL.ImageDraw",
           "PIL.ImageFont", "PIL.ExifTags", "PIL.PngImagePlugin", "PIL.JpegImagePlugin", "PIL.GifImagePlugin", "PIL.TiffImagePlugin", "PIL.WebPImagePlugin",
           "PIL.BmpImagePlugin")
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
    private_endpoints: frozenset[tuple[str, int]] = frozenset()
    """``(host, port)`` the source names explicitly: only these may resolve to private or loopback addresses."""
    max_bytes: int = 5 * 1024 * 1024
    timeout_seconds: float = 20.0
    max_redirects: int = 5
    memory_bytes: int = 1024 * 1024 * 1024
    """The child's memory cap: its memory cgroup's limit (chromium included), else its added address space."""
    snapshot: bool = False
    """Photograph HTML pages with headless chromium inside the fetcher (``image`` of the record)."""
    javascript: bool = False
    """Let the page's scripts run while it is photographed (still without any network)."""
    render_seconds: float = 30.0
    """Time chromium has for one image, on top of ``timeout_seconds``."""

    @classmethod
    def for_source(cls, base_url: str, listed: Iterable[str] = (), **limits: Any) -> FetchPolicy:
        """The base URL's host plus the hosts a connector file lists (``allowed_hosts``: ``host`` or ``host:port``).

        A listed host may be private or loopback, on the port it is listed with, else on the
        base URL's port when it is the base URL's host, else on 80 and 443.
        """
        base = urlsplit(base_url)
        base_host = (base.hostname or "").lower()
        hosts, endpoints = {base_host} if base_host else set(), set()
        for entry in (e.strip().lower() for e in listed if e.strip()):
            host, port = _host_port(entry)
            hosts.add(host)
            if port is not None:
                endpoints.add((host, port))
            elif host == base_host:
                endpoints.add((host, base.port or (443 if base.scheme == "https" else 80)))
            else:
                endpoints |= {(host, 80), (host, 443)}
        return cls(hosts=frozenset(hosts), private_endpoints=frozenset(endpoints), **limits)

    def address(self, host: str, port: int) -> str:
        """The broker's check: the address the fetcher may connect to for ``host`` (``Refused`` otherwise)."""
        return confinement.public_address(host, port, self.hosts, self.private_endpoints)


def _host_port(entry: str) -> tuple[str, int | None]:
    """``host``, ``host:port``, ``[v6]``, ``[v6]:port`` or a bare IPv6 address, split."""
    if entry.count(":") > 1 and not entry.startswith("["):
        return entry, None
    parts = urlsplit(f"//{entry}")
    try:
        return parts.hostname or entry, parts.port
    except ValueError as exc:
        raise WorkbenchError(f"allowed_hosts: {entry!r}: {exc}") from None


@dataclass(frozen=True, kw_only=True)
class Parsed:
    """What crosses from the fetcher for any document: sanitised text, an image and provenance, nothing that runs."""

    media_type: str
    retrieved_at: datetime
    sha256: str
    """Hash of the raw (decoded) bytes, the key of the raw store."""
    size_bytes: int
    text: str
    title: str | None = None
    language: str | None = None
    published_at: datetime | None = None
    removed: dict[str, int] = field(default_factory=dict)
    """What the sanitiser removed: scripts, styles, iframes, objects, forms, event handlers, ..."""
    image: bytes | None = None
    """A PNG made inside the fetcher (chromium's picture of a page, Pillow's redrawing of an image file)."""
    image_info: dict[str, Any] | None = None
    """How the image was made (``made_by``, ``javascript``, ``sha256``), or why there is none (``error``)."""
    links: list[str] = field(default_factory=list)
    """The addresses the sanitised page links to, as text (never followed), at most ``MAX_LINKS``."""
    isolation: dict[str, Any] = field(default_factory=dict)
    """What confined the child: ``user``, ``network_namespace``, ``memory_cap`` (cgroup or address space)."""
    name: str | None = None
    """The file a document came from (a fetched page has URLs instead)."""

    def origin(self) -> dict[str, Any]:
        """Where the bytes came from, for the record."""
        return {"file": self.name}

    def provenance(self) -> bytes:
        """The record kept in the documents zone beside (for a web page: in place of) the raw bytes.

        The same bytes give the same record (its hash is the index's ``sha256``, and a re-run
        after a crash must land the same row), so the retrieval time is left to the index's
        ``retrieved_at``, set when the record lands, seconds after the fetch.
        """
        record = {**self.origin(), "media_type": self.media_type,
                  "raw_sha256": self.sha256, "raw_size_bytes": self.size_bytes, "removed": self.removed,
                  "links": self.links, "title": self.title, "language": self.language, "image": self.image_info,
                  "isolation": self.isolation, "text": self.text}
        return json.dumps(record, ensure_ascii=False, indent=1).encode()


@dataclass(frozen=True, kw_only=True)
class Fetched(Parsed):
    """A fetched page or feed."""

    url: str
    final_url: str
    status: int
    feed: dict[str, Any] | None = None
    """For a feed: ``{"language": ..., "entries": [{"id", "link", "title", "published_at", "updated"}]}``."""
    raw_path: str | None = None

    def origin(self) -> dict[str, Any]:
        return {"url": self.url, "final_url": self.final_url, "status": self.status}


# -- the parent side ---------------------------------------------------------------------------


_NO_LOGIN = ("/usr/sbin/nologin", "/sbin/nologin", "/bin/false", "/usr/bin/false")


def ensure_user(name: str) -> tuple[int, int]:
    """The uid/gid of ``name``, created as a system user without home, shell or groups when missing.

    An existing user is taken only if it is such a user (no login shell, no home, not root):
    a person's account of the same name (the hub makes ``wb-<account>``; an account named
    ``fetcher`` would be ``wb-fetcher``) must never run hostile pages with that person's
    files and processes within reach.
    """
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        made = subprocess.run(["useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent",
                               "--shell", "/usr/sbin/nologin", "--user-group", name], capture_output=True, text=True)
        try:  # exit 9: a connector running beside this one created it first
            entry = pwd.getpwnam(name)
        except KeyError:
            raise WorkbenchError(f"cannot create the fetcher's user {name}: useradd exited {made.returncode}: "
                                 f"{made.stderr.strip()}") from None
    if entry.pw_uid == 0 or entry.pw_shell not in _NO_LOGIN or entry.pw_dir != "/nonexistent":
        raise WorkbenchError(f"the fetcher's user {name} exists as another account (uid {entry.pw_uid}, shell "
                             f"{entry.pw_shell}, home {entry.pw_dir}); refusing to run fetches as it: set "
                             f"{FETCHER_USER_ENV} to an unused name")
    return entry.pw_uid, entry.pw_gid


class Fetcher:
    """Runs fetches and parses in confined children; one instance per connector run.

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
             memory_bytes: int = 1024 * 1024 * 1024, max_reply: int = 64 * 1024 * 1024,
             policy: FetchPolicy | None = None, workdir: bool = False,
             connections: list[tuple[str, int]] | None = None) -> tuple[Any, dict[str, bytes]]:
        """Run ``target(broker, workdir, *args)`` in a confined child; its JSON-able result and the bytes it attached.

        ``target`` returns ``(value, {name: bytes})``. With a ``policy`` the child may ask the
        broker for connections to the policy's hosts, else it has no network at all;
        ``workdir`` gives it a private folder for chromium (only where a memory cgroup caps
        chromium too). An exception in the child comes back as ``ChildFailed`` text; a child
        that outlives ``timeout`` is killed, with every process of its memory group.
        ``connections`` receives the ``(host, port)`` the broker connected for the child.
        """
        stop_at = time.monotonic() + timeout + KILL_GRACE_SECONDS  # the caller's limit: the child's start counts too
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(list(PRELOAD))
        identity = self._identity()
        with contextlib.ExitStack() as stack:
            folder = stack.enter_context(confinement.work_folder(identity)) \
                if workdir and confinement.memory_groups_available() else None
            group = stack.enter_context(confinement.memory_group(memory_bytes))
            receive, send = context.Pipe(duplex=False)
            ours, theirs = context.Pipe(duplex=True) if policy is not None else (None, None)
            limits = Confinement(identity=identity, user=self.user, memory_bytes=memory_bytes,
                                 cpu_seconds=int(timeout + KILL_GRACE_SECONDS),
                                 cgroup=group, workdir=folder, forbidden=self.forbidden)
            child = context.Process(target=_isolated, daemon=True, args=(send, theirs, limits, target, args))
            with _main_left_alone():
                child.start()
            send.close()
            broker = None
            if ours is not None and theirs is not None and policy is not None:
                theirs.close()
                broker = stack.enter_context(Broker(ours, policy.address, policy.max_redirects + 1,
                                                    policy.timeout_seconds))
            try:
                return _reply(receive, child, stop_at, max_reply, group, memory_bytes)
            finally:
                if broker is not None and connections is not None:
                    connections.extend(broker.connected)
                receive.close()
                if child.is_alive():
                    child.kill()
                child.join(5.0)
                child.close()
        raise AssertionError("unreachable")  # pragma: no cover - the with block returns or raises

    def fetch(self, url: str, policy: FetchPolicy) -> Fetched:
        """Fetch, sanitise and (if the policy asks) photograph one page or feed; ``FetchRefused`` names what it broke.

        Source down (refused connection, 5xx, 429): ``ConnectionError`` (the base retries);
        4xx: ``http.RequestRejected``.
        """
        from workbench.ingest.http import RequestRejected

        timeout = policy.timeout_seconds + (policy.render_seconds if policy.snapshot else 0.0)
        connected: list[tuple[str, int]] = []
        try:
            value, attached = self.call(_fetch_and_render, url, policy, timeout=timeout,
                                        memory_bytes=policy.memory_bytes, max_reply=policy.max_bytes * 4 + (64 << 20),
                                        policy=policy, workdir=policy.snapshot, connections=connected)
        except TimeoutError as exc:
            raise FetchRefused(url, str(exc)) from None
        except ChildFailed as exc:
            kind = {"down": ConnectionError, "rejected": RequestRejected}.get(exc.kind)
            if kind is not None:
                raise kind(str(exc)) from None
            raise FetchRefused(url, str(exc)) from None
        fetched = Fetched(**fetched_fields(url, value, attached, connected))
        return fetched if self.raw_store is None else replace(fetched, raw_path=self._keep_raw(attached["raw"],
                                                                                               fetched.sha256))

    def parse(self, data: bytes, media_type: str, name: str, snapshot: bool = True, timeout: float = 60.0,
              memory_bytes: int = 1024 * 1024 * 1024) -> Parsed:
        """Text, metadata and image of a document's bytes, worked out in a confined child without any network.

        ``name`` (the file's name) only labels errors; ``FetchRefused`` when the bytes are not a
        readable document of ``media_type`` or the child passes a limit.
        """
        try:
            value, attached = self.call(_parse_document, data, media_type, snapshot, timeout=timeout,
                                        memory_bytes=memory_bytes, max_reply=len(data) * 4 + (64 << 20),
                                        workdir=snapshot and media_type in HTML_TYPES)
        except TimeoutError as exc:
            raise FetchRefused(name, str(exc)) from None
        except ChildFailed as exc:
            raise FetchRefused(name, str(exc)) from None
        return Parsed(**_checked(name, value, {"raw": data, **attached}), name=name)

    def _keep_raw(self, raw: bytes, digest: str) -> str:
        """File ``raw`` under its hash in the raw store, through a descriptor of the store itself.

        The store is opened with ``O_NOFOLLOW`` and checked (a folder of this process's user,
        no access for anyone else) before anything is written; the file is created with
        ``O_EXCL`` in it under a temporary name and renamed into place, so a symlink planted at
        the store is refused and one at the file is replaced, never followed (root would
        otherwise write, or chmod, wherever it points); a file cut short by a crash is rewritten.
        """
        assert self.raw_store is not None
        self.raw_store.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            os.mkdir(self.raw_store, 0o700)
        try:
            folder = os.open(self.raw_store, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        except OSError as exc:
            raise WorkbenchError(f"raw store {self.raw_store}: not a plain folder ({exc.strerror}); "
                                 "refusing to write raw pages through it") from None
        try:
            info = os.fstat(folder)
            if info.st_uid != os.geteuid():
                raise WorkbenchError(f"raw store {self.raw_store}: owned by uid {info.st_uid}, not by the workbench")
            if info.st_mode & 0o077:
                os.fchmod(folder, 0o700)
            try:
                kept = os.stat(digest, dir_fd=folder, follow_symlinks=False)
            except FileNotFoundError:
                kept = None
            if kept is None or not stat.S_ISREG(kept.st_mode) or kept.st_size != len(raw):
                partial = f".{digest}.{os.getpid()}.{secrets.token_hex(4)}"
                descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600,
                                     dir_fd=folder)
                with os.fdopen(descriptor, "wb") as out:
                    out.write(raw)
                os.rename(partial, digest, src_dir_fd=folder, dst_dir_fd=folder)  # replaces a link, never follows it
        finally:
            os.close(folder)
        return str(self.raw_store / digest)


@contextlib.contextmanager
def _main_left_alone() -> Iterator[None]:
    """While a child is started: the parent's ``__main__`` replaced by an empty module (no file, no spec).

    Why: before it runs its target, every forkserver child re-runs the parent's main script
    (``multiprocessing.spawn.prepare``; the ``workbench`` console script imports the whole
    CLI), because the forkserver never learns the main path (CPython 3.11 hands it over under
    a key the forkserver does not read, so preloading ``__main__`` does not help). That cost
    ~0.2-0.4 s a page or document, paid as root before the child confines itself. The
    targets live in library modules, so a child needs nothing of ``__main__``: given no
    path or spec, ``prepare`` leaves it alone. The swap lasts while ``start`` pickles the
    process object.
    """
    main = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = main


class ChildFailed(Exception):
    """An exception inside the child, as text (``kind``: ``down``, ``rejected``, ``refused`` or the type)."""

    def __init__(self, message: str, kind: str = "") -> None:
        super().__init__(message)
        self.kind = kind


_PNG = b"\x89PNG\r\n\x1a\n"


def _reply(receive: Connection, child: Any, stop_at: float, max_reply: int, group: str | None,
           memory_bytes: int) -> tuple[Any, dict[str, bytes]]:
    """The child's answer: its value and attachments, or why there is none (time, memory, death, error).

    The reply is parsed as input from a process that met hostile bytes: anything but a JSON
    object naming at most the ``raw`` and ``image`` attachments (a deeply nested or broken
    document included) is a ``ChildFailed`` of this one fetch, never an error of the run.
    """
    if not receive.poll(max(0.0, stop_at - time.monotonic())):
        raise TimeoutError("time limit: the fetcher was stopped at its time limit "
                           f"and {KILL_GRACE_SECONDS:g} s of grace")
    try:
        header = json.loads(receive.recv_bytes(max_reply))
        names = header.get("attached", []) if isinstance(header, dict) else None
        if not isinstance(names, list) or not set(names) <= {"raw", "image"} or len(names) != len(set(names)):
            raise ValueError("not an object naming its raw and image attachments")
        attached = {name: receive.recv_bytes(max_reply) for name in names}
    except (ValueError, RecursionError, TypeError) as exc:
        raise ChildFailed(f"the fetcher's reply is malformed: {type(exc).__name__}: {str(exc)[:200]}") from None
    except EOFError:
        child.join(2.0)
        if confinement.oom_killed(group):
            raise ChildFailed(f"memory limit: the kernel stopped the fetcher at its cap of "
                              f"{memory_bytes / 2**20:,.0f} MiB (memory cgroup)", "refused") from None
        raise ChildFailed(f"the fetcher died before answering (exit {child.exitcode}; a signal when negative)") from None
    except OSError as exc:  # a reply longer than max_reply
        raise ChildFailed(f"the fetcher's reply was refused: {exc}") from None
    if "error" in header:
        raise ChildFailed(str(header["error"])[:2000], str(header.get("kind", "")))
    return header.get("value"), attached


_NONE = type(None)
_RECORD: dict[str, tuple[type, ...]] = {
    "media_type": (str,), "retrieved_at": (str,), "sha256": (str,), "size_bytes": (int,), "text": (str,),
    "title": (str, _NONE), "language": (str, _NONE), "published_at": (str, _NONE), "removed": (dict,),
    "image_info": (dict, _NONE), "links": (list,), "isolation": (dict,),
}
"""The fields a child's record may set, and their JSON types; the parent sets the rest (``url``, ``name``, ...)."""
_FETCH_RECORD: dict[str, tuple[type, ...]] = {**_RECORD, "final_url": (str,), "status": (int,), "feed": (dict, _NONE)}
_OPTIONAL = {"title": None, "language": None, "published_at": None, "removed": {}, "image_info": None, "links": [],
             "isolation": {}, "feed": None}


def _checked(name: str, value: Any, attached: dict[str, bytes],
             fields: dict[str, tuple[type, ...]] = _RECORD) -> dict[str, Any]:
    """The child's value as the fields of a record: known fields only, each of its type, its claims about the
    bytes checked in the parent. A child is where hostile bytes are parsed: its record is input, not trusted."""
    if not isinstance(value, dict):
        raise FetchRefused(name, "the fetcher's record is not an object")
    record: dict[str, Any] = {}
    for key, kinds in fields.items():
        item = value.get(key, _OPTIONAL.get(key))
        if not isinstance(item, kinds) or (key == "links" and not all(isinstance(link, str) for link in item)):
            raise FetchRefused(name, f"the fetcher's record is malformed: {key} is a {type(item).__name__}")
        record[key] = item
    raw = attached.get("raw", b"")
    if hashlib.sha256(raw).hexdigest() != record["sha256"] or record["size_bytes"] != len(raw):
        raise FetchRefused(name, "the fetcher's raw bytes do not match the hash and size it reported")
    image = attached.get("image")
    info = record["image_info"]
    if image is not None:
        if not image.startswith(_PNG) or info is None:
            raise FetchRefused(name, "the fetcher's image is not a PNG")
        info = {**info, "sha256": hashlib.sha256(image).hexdigest(), "size_bytes": len(image)}
    published = record["published_at"]
    try:
        return {**record, "retrieved_at": datetime.fromisoformat(record["retrieved_at"]), "image": image,
                "image_info": info, "published_at": datetime.fromisoformat(published) if published else None}
    except ValueError as exc:
        raise FetchRefused(name, f"the fetcher's record is malformed: {exc}") from None


def fetched_fields(url: str, value: Any, attached: dict[str, bytes], connected: list[tuple[str, int]]) -> dict[str, Any]:
    """The fields of a ``Fetched`` for ``url``: ``_checked``, and the final address must be where the broker last
    connected (a subverted child cannot pass a page off as coming from elsewhere)."""
    record = _checked(url, value, attached, _FETCH_RECORD)
    final = urlsplit(record["final_url"])
    try:
        endpoint = ((final.hostname or "").lower(), final.port or (443 if final.scheme == "https" else 80))
    except ValueError:
        endpoint = None
    if final.scheme not in ("http", "https") or not connected or endpoint != connected[-1]:
        raise FetchRefused(url, f"the fetcher says the page came from {record['final_url']!r}, "
                                f"where its broker made no connection ({connected or 'none'})")
    return {**record, "url": url}


def raw_store_for(lake_root: str) -> Path | None:
    """The raw store of a local lake: ``<lake parent>/fetched-raw``; None for an object-store lake."""
    if "://" in lake_root and not lake_root.startswith("file://"):
        return None
    return Path(lake_root.removeprefix("file://")).resolve().parent / "fetched-raw"


# -- the child side ----------------------------------------------------------------------------


def _isolated(reply: Connection, broker: Connection | None, limits: Confinement, target: Callable[..., Any],
              args: tuple[Any, ...]) -> None:
    try:
        facts = confinement.enter(limits)
        # chromium only in the child's own network namespace: in the host's, a page's refresh or link could
        # reach the host's loopback services (the CSP does not stop a top-level navigation)
        workdir = limits.workdir if facts["network_namespace"] else None
        value, attachments = target(broker, workdir, *args)
        value["isolation"] = facts
        reply.send_bytes(json.dumps({"value": value, "attached": list(attachments)}).encode())
        for data in attachments.values():
            reply.send_bytes(data)
    except BaseException as exc:  # noqa: BLE001 - everything the child meets is reported, as text
        if isinstance(exc, FetchRefused):
            kind, message = "refused", exc.reason
        elif isinstance(exc, Refused):
            kind, message = exc.kind, str(exc)
        else:
            kind, message = type(exc).__name__, f"{type(exc).__name__}: {exc}"
        with contextlib.suppress(OSError):
            reply.send_bytes(json.dumps({"error": message[:2000], "kind": kind}).encode())
    finally:
        reply.close()


def _open(broker: Connection | None, url: str, policy: FetchPolicy, deadline: float) -> tuple[str, http.client.HTTPResponse]:
    """GET ``url`` over sockets the broker connects, following redirects only inside the policy."""
    for _ in range(policy.max_redirects + 1):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise FetchRefused(url, f"scheme {parts.scheme or '(none)'!r} is not allowed (http and https only)")
        host = (parts.hostname or "").lower()
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError as exc:
            raise FetchRefused(url, f"bad port: {exc}") from None
        remaining = max(0.1, deadline - time.monotonic())
        try:
            sock = confinement.connect(broker, host, port, remaining)
        except Refused as exc:
            if exc.kind == "refused":
                raise FetchRefused(url, str(exc)) from None
            raise Refused(f"{url}: {exc}", exc.kind) from None
        connection_type = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        connection = connection_type(host, port, timeout=remaining)
        connection._create_connection = lambda *_args, s=sock, **_kw: s  # type: ignore[attr-defined]  # the broker's socket
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        try:
            connection.request("GET", path, headers={"User-Agent": USER_AGENT, "Accept-Encoding": "gzip, deflate"})
            answer = connection.getresponse()
        except TimeoutError:
            raise Refused(f"{url}: no answer within {policy.timeout_seconds:.0f} s", "down") from None
        except (OSError, http.client.HTTPException) as exc:
            raise Refused(f"{url}: {exc}", "down") from None
        if answer.status in (301, 302, 303, 307, 308) and answer.getheader("Location"):
            url = urljoin(url, answer.getheader("Location", ""))
            connection.close()
            continue
        if answer.status >= 500 or answer.status == 429:
            raise Refused(f"{url}: HTTP {answer.status} {answer.reason}", "down")
        if answer.status >= 400:
            raise Refused(f"{url}: HTTP {answer.status} {answer.reason}", "rejected")
        return url, answer
    raise FetchRefused(url, f"more than {policy.max_redirects} redirects")


def _read_capped(url: str, answer: http.client.HTTPResponse, policy: FetchPolicy, deadline: float) -> bytes:
    """The body, decoded (gzip/deflate) and cut off at ``max_bytes`` decoded; refuses at the cap or the deadline."""
    encoding = (answer.getheader("Content-Encoding") or "identity").strip().lower()
    if encoding not in ("identity", "gzip", "x-gzip", "deflate"):
        raise FetchRefused(url, f"content encoding {encoding!r} is not supported")
    decoder = zlib.decompressobj(wbits=47) if encoding != "identity" else None
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


def _links(clean: str) -> list[str]:
    """The ``href`` of each link left in the sanitised markup (http and https only), in order, without repeats."""
    from html.parser import HTMLParser

    found: dict[str, None] = {}

    class Links(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            href = dict(attrs).get("href") if tag == "a" else None
            if href and len(found) < MAX_LINKS:
                found[href] = None

    Links(convert_charrefs=True).feed(clean)
    return list(found)


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
                "removed": _removed(markup), "links": _links(clean), "feed": None}
    found = extract_text(data, media_type)
    return {"text": found.text, "title": found.title, "language": found.language,
            "published_at": found.published_at and found.published_at.isoformat(), "removed": {}, "feed": None}


def _rendered(name: str, data: bytes, media_type: str, headers: Message, deadline: float, limit: float) -> dict[str, Any]:
    """``render`` with its failures as refusals naming the rule."""
    from workbench.ingest.text import Unreadable

    try:
        rendered = render(data, media_type, headers)
    except Unreadable as exc:
        raise FetchRefused(name, f"unreadable {media_type}: {exc}") from None
    except RecursionError:
        raise FetchRefused(name, "the page nests too deep to parse") from None
    if time.monotonic() > deadline:
        raise FetchRefused(name, f"time limit: parsing took past {limit:g} s")
    return rendered


def _image(data: bytes, content_type: str, media_type: str, javascript: bool, workdir: str | None,
           seconds: float, rendered: dict[str, Any]) -> tuple[dict[str, Any] | None, dict[str, bytes]]:
    """The image of a page (chromium), a PDF (PDFium), a DOCX's text or a picture (Pillow), how it was made, or why none."""
    from workbench.ingest.snapshot import (
        NoImage,
        page_image,
        pdf_pages,
        picture,
        text_image,
    )

    try:
        if media_type.startswith("image/"):
            return {"made_by": "pillow: decoded and redrawn as PNG"}, {"image": picture(data)}
        if media_type == "application/pdf":
            return {"made_by": "pdfium: the first pages drawn, no script or form of the PDF run"}, {"image": pdf_pages(data)}
        if media_type == DOCX:
            made = text_image(rendered.get("title"), rendered["text"], rendered.get("language"))
            return {"made_by": "pillow: the document's extracted text laid out as a page"}, {"image": made}
        if media_type not in HTML_TYPES:
            return None, {}
        if workdir is None:
            return {"error": "no image: chromium runs only in the fetcher's own network namespace and memory cgroup "
                             "(not available on this machine)"}, {}
        made = page_image(data, content_type, javascript, workdir, seconds)
    except NoImage as exc:
        return {"error": f"no image: {exc}"}, {}
    return {"made_by": "headless chromium, the raw page with no network", "javascript": javascript}, {"image": made}


def _fetch_and_render(broker: Connection | None, workdir: str | None, url: str,
                      policy: FetchPolicy) -> tuple[dict[str, Any], dict[str, bytes]]:
    deadline = time.monotonic() + policy.timeout_seconds
    final_url, answer = _open(broker, url, policy, deadline)
    data = _read_capped(final_url, answer, policy, deadline)
    retrieved = datetime.now(UTC).replace(tzinfo=None).isoformat()
    media_type = answer.headers.get_content_type()
    rendered = _rendered(final_url, data, media_type, answer.headers, deadline, policy.timeout_seconds)
    value = {"url": url, "final_url": final_url, "status": answer.status, "media_type": media_type,
             "retrieved_at": retrieved, "sha256": hashlib.sha256(data).hexdigest(), "size_bytes": len(data), **rendered}
    attachments = {"raw": data}
    if policy.snapshot and rendered["feed"] is None:
        content_type = answer.getheader("Content-Type") or media_type
        value["image_info"], image = _image(data, content_type, media_type, policy.javascript, workdir,
                                            policy.render_seconds, rendered)
        attachments.update(image)
    return value, attachments


def _parse_document(_broker: Connection | None, workdir: str | None, data: bytes, media_type: str,
                    snapshot: bool) -> tuple[dict[str, Any], dict[str, bytes]]:
    from PIL import Image

    from workbench.ingest.snapshot import MAX_IMAGE_PIXELS

    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS  # for the metadata reader too, in this child only
    headers = Message()
    headers["Content-Type"] = media_type
    rendered = _rendered("the document", data, media_type, headers, float("inf"), 0.0)
    rendered.pop("feed", None)
    value = {"media_type": media_type, "retrieved_at": datetime.now(UTC).replace(tzinfo=None).isoformat(),
             "sha256": hashlib.sha256(data).hexdigest(), "size_bytes": len(data), **rendered}
    attachments: dict[str, bytes] = {}
    if snapshot:
        value["image_info"], attachments = _image(data, media_type, media_type, False, workdir, 30.0, rendered)
    return value, attachments


__all__ = ["DEFAULT_USER", "DOCX", "FETCHER_USER_ENV", "HTML_TYPES", "FetchPolicy", "FetchRefused", "Fetched",
           "Fetcher", "Parsed", "ensure_user", "fetched_fields", "raw_store_for", "render"]
