"""The audit service: the one writer of the audit trail, for people who may not touch it.

Why a service: analysts' kernels run as their own Unix users (``wb-NAME``). If they wrote
the log themselves they could also edit it; if they could not, nothing they do would be
recorded. The service runs as root (the stack's supervisord runs it: ``workbench.platform.stack``), owns the audit
folder (0700) and the checkpoint key, and listens on a Unix socket (0666, in a root-owned
0755 folder so nobody can swap it) that any kernel may connect to.

Identity comes from the kernel, not from the client: ``SO_PEERCRED`` gives the peer's uid,
which names the Unix user (``wb-alice`` -> ``alice``); whatever user the client claims is
kept only as ``detail.claimed_user``. Root peers (the hub recording a login, the CLI run by
an administrator) are trusted to name the person a record is about. The role is read from
the account store when the service has one (a peer without an account has role ``none``;
what it claimed is kept as ``detail.claimed_role``), else taken from the client.

Protocol: one JSON object per line each way. Request ``{"event", "status", "tables",
"rows", "query", "detail", "user", "role"}``; answer ``{"seq", "hash", "user", "role", "ts"}``
once the record is in the log, or ``{"error": "..."}``, in request order. The client waits
for the answer before anything else happens - no audit, no access - except that a
session's reads read theirs before the session's next record (``AuditClient``). One writer
thread holds the chain, so records never interleave; the service also stamps the time, so
a client cannot backdate a record.

Why not HTTP (the project's services otherwise run on Starlette/uvicorn): the identity is
the socket peer's uid, which ``SO_PEERCRED`` gives per connection and an ASGI request does
not carry; a line protocol on ``socketserver`` keeps that check one call away from the
accept, with nothing in between that could be confused about who is calling.

Cost: one round trip over a Unix socket per record, which a session's reads do not wait
for (see ``AuditClient`` and ``benchmarks/bench_security.py``).
"""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import re
import socket
import socketserver
import stat
import struct
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from workbench.security.audit import (
    DEFAULT_CHECKPOINT_EVERY,
    MAX_QUERY_CHARS,
    AuditTrail,
    AuditUnavailable,
    AuditWriter,
    audit_dir_for,
    checkpoint_now,
    ensure_signing_key,
    record_body,
)
from workbench.settings import Settings

SOCKET_NAME = "audit.sock"
MAX_REQUEST_BYTES = 1 << 20
_CRED = struct.Struct("3i")  # struct ucred: pid, uid, gid


_REQUEST_FIELDS = frozenset({"user", "role", "event", "status", "tables", "rows", "query", "query_sha256",
                             "query_chars", "detail"})
_WORD = re.compile(r"^[a-z][a-z0-9_.:-]{0,63}$")
_TABLE = re.compile(r"^[^\x00-\x1f]{1,300}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def checked_request(request: dict[str, Any]) -> dict[str, Any]:
    """The fields of a client's record, checked; ``ValueError`` names the field and the rule.

    What the service can check it does: the query's SHA-256 and length against its text
    when the text arrived whole; for a text cut at ``MAX_QUERY_CHARS`` only that it was cut
    there (the record then notes ``query_hash: "client"``).
    """
    unknown = sorted(set(request) - _REQUEST_FIELDS)
    if unknown:
        raise ValueError(f"unknown fields {unknown}")
    event, status = request.get("event"), request.get("status", "ok")
    if not isinstance(event, str) or not _WORD.match(event):
        raise ValueError("field 'event' must be a lower-case word (letters, digits, _ . : -), at most 64 characters")
    if not isinstance(status, str) or not _WORD.match(status):
        raise ValueError("field 'status' must be a lower-case word, at most 64 characters")
    for name in ("user", "role"):
        if request.get(name) is not None and not isinstance(request[name], str):
            raise ValueError(f"field {name!r} must be a string")
    tables = request.get("tables") or []
    if not isinstance(tables, list) or not all(isinstance(t, str) and _TABLE.match(t) for t in tables):
        raise ValueError("field 'tables' must be a list of table names")
    rows = request.get("rows")
    if rows is not None and (not isinstance(rows, int) or isinstance(rows, bool) or rows < 0):
        raise ValueError("field 'rows' must be an integer (not negative) or null")
    detail = request.get("detail") or {}
    if not isinstance(detail, dict):
        raise ValueError("field 'detail' must be a JSON object")
    query, digest, chars = request.get("query"), request.get("query_sha256"), request.get("query_chars")
    if query is None:
        if digest is not None or chars is not None:
            raise ValueError("fields 'query_sha256'/'query_chars' need a 'query'")
    else:
        if not isinstance(query, str) or len(query) > MAX_QUERY_CHARS:
            raise ValueError(f"field 'query' must be a string of at most {MAX_QUERY_CHARS} characters")
        if not isinstance(digest, str) or not _SHA256.match(digest) or not isinstance(chars, int) or chars < len(query):
            raise ValueError("fields 'query_sha256' (hex SHA-256) and 'query_chars' (>= the text's length) "
                             "must describe the whole query")
        if chars == len(query):
            if hashlib.sha256(query.encode()).hexdigest() != digest:
                raise ValueError("field 'query_sha256' does not match the query")
        elif len(query) != MAX_QUERY_CHARS:
            raise ValueError(f"a query longer than its text must be cut at {MAX_QUERY_CHARS} characters")
        else:
            detail = {**detail, "query_hash": "client"}
    return {"user": request.get("user"), "role": request.get("role"), "event": event, "status": status,
            "tables": tables, "rows": rows, "query": query, "query_sha256": digest, "query_chars": chars,
            "detail": detail}


def socket_path(state_dir: str | os.PathLike[str]) -> Path:
    """Where the stack's audit service listens: ``<state>/sockets/audit.sock``."""
    return Path(state_dir) / "sockets" / SOCKET_NAME


def peer_credentials(sock: socket.socket) -> tuple[int, int, int]:
    """``(pid, uid, gid)`` of the process at the other end, as the kernel reports it."""
    return _CRED.unpack(sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _CRED.size))


class AuditService(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    """Accepts records on ``socket_file`` and chains them into ``folder`` (one writer)."""

    daemon_threads = True

    def __init__(self, folder: str | os.PathLike[str], socket_file: str | os.PathLike[str], *,
                 unix_prefix: str = "wb-", roles: Callable[[str], str | None] | None = None,
                 fsync: bool = False, checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY,
                 peer_names: Callable[[int], str | None] | None = None) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.folder, 0o700)
        ensure_signing_key(self.folder)
        self.trail = AuditTrail(self.folder, "audit-service", "system", fsync=fsync,
                                checkpoint_every=checkpoint_every)
        self.unix_prefix = unix_prefix
        self.roles = roles
        self.peer_names = peer_names
        self.lock = threading.Lock()
        self.appended = 0
        self.connections: set[socket.socket] = set()
        self.socket_file = Path(socket_file)
        _prepare_socket_folder(self.socket_file)
        super().__init__(str(self.socket_file), _Handler)
        os.chmod(self.socket_file, 0o666)  # every kernel may connect; who it is comes from SO_PEERCRED

    def identify(self, uid: int, claimed_user: str | None, claimed_role: str | None) -> tuple[str, str, dict[str, str]]:
        """``(user, role, notes)`` for a peer: its own name and store role unless it is root (or the service's user)."""
        notes: dict[str, str] = {}
        trusted = uid in (0, os.geteuid())
        if trusted:
            # Root names whom a record is about and their role; no store lookup either: the hub
            # records a login inside its own account-store transaction.
            return claimed_user or "root", claimed_role or "system", notes
        try:
            name = pwd.getpwuid(uid).pw_name
        except KeyError:  # no Unix account: a pod running as its person's numbered uid (Kubernetes), or unknown
            name = (self.peer_names(uid) if self.peer_names else None) or f"uid:{uid}"
        user = name.removeprefix(self.unix_prefix) if name.startswith(self.unix_prefix) else name
        if claimed_user and claimed_user != user:
            notes["claimed_user"] = claimed_user
        if self.roles is None:  # no account store to ask: the client's word is all there is
            return user, claimed_role or "unknown", notes
        known = self.roles(user)
        if claimed_role and claimed_role != known:
            notes["claimed_role"] = claimed_role
        # A peer without an account (the fetcher's user, say) has no role, whatever it claims: a
        # subverted child must not write records as an administrator.
        return user, known or "none", notes

    def append(self, uid: int, pid: int, request: dict[str, Any]) -> dict[str, Any]:
        """Chain one client request as a record by the peer ``uid``; returns the record.

        The service stamps the time and the peer's user and role itself, and refuses a
        malformed request (``ValueError`` naming the field and rule; ``checked_request``).
        """
        fields = checked_request(request)
        user, role, notes = self.identify(uid, fields.pop("user"), fields.pop("role"))
        fields["detail"] = {**fields["detail"], **notes, "peer_pid": pid}
        body = record_body(fields.pop("event"), user, role, **fields)
        with self.lock:
            rec = self.trail.append(body)
            self.appended += 1
        return rec

    def checkpoint(self) -> None:
        """Sign the head of the log (at shutdown and on a timer, so a deleted tail shows)."""
        with self.lock:
            checkpoint_now(self.folder)

    def serve(self, checkpoint_seconds: float = 60.0) -> None:
        """Serve until ``shutdown``; sign a checkpoint every ``checkpoint_seconds`` when records came in."""
        stop = threading.Event()

        def timer() -> None:
            signed = 0
            while not stop.wait(checkpoint_seconds):
                if self.appended != signed:
                    signed = self.appended
                    self.checkpoint()

        ticker = threading.Thread(target=timer, name="audit-checkpoints", daemon=True)
        ticker.start()
        try:
            self.serve_forever(poll_interval=0.2)
        finally:
            stop.set()
            if self.appended:
                self.checkpoint()
            self.trail.close()

    def server_close(self) -> None:
        """Stop listening and end open connections: their next record fails (no audit, no access)."""
        super().server_close()
        self.socket_file.unlink(missing_ok=True)
        for conn in list(self.connections):
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def _prepare_socket_folder(path: Path) -> None:
    """A root-owned 0755 folder (users reach the socket, cannot replace it); no stale socket."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o755)
    if path.exists() or path.is_symlink():
        if not stat.S_ISSOCK(path.lstat().st_mode):
            raise AuditUnavailable(f"{path} exists and is not a socket; refusing to replace it")
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(str(path))
        except OSError:
            path.unlink()  # left by a service that died
        else:
            raise AuditUnavailable(f"an audit service already listens on {path}")
        finally:
            probe.close()


class _Handler(socketserver.StreamRequestHandler):
    server: AuditService

    def handle(self) -> None:
        self.server.connections.add(self.request)
        try:
            self._serve()
        finally:
            self.server.connections.discard(self.request)

    def _serve(self) -> None:
        pid, uid, _ = peer_credentials(self.request)
        while line := self.rfile.readline(MAX_REQUEST_BYTES + 1):
            if len(line) > MAX_REQUEST_BYTES:
                self._answer({"error": f"request longer than {MAX_REQUEST_BYTES} bytes"})
                return
            try:
                request = json.loads(line)
                if not isinstance(request, dict):
                    raise ValueError("expected a JSON object")
                rec = self.server.append(uid, pid, request)
                answer: dict[str, Any] = {"seq": rec["seq"], "hash": rec["hash"], "user": rec["user"],
                                          "role": rec["role"], "ts": rec["ts"]}
            except ValueError as exc:
                answer = {"error": f"bad audit request: {exc}"}
            except (OSError, AuditUnavailable) as exc:
                answer = {"error": f"the audit log cannot be written: {exc}"}
                # the client may learn of it only at its next record (a read's answer is read late): say it here too
                print(f"audit: a record from uid {uid} pid {pid} was not written: {exc}", file=sys.stderr, flush=True)
            try:
                self._answer(answer)
            except (BrokenPipeError, ConnectionResetError):
                return  # the client left without reading its answers; what it sent is written

    def _answer(self, answer: dict[str, Any]) -> None:
        self.wfile.write(json.dumps(answer).encode() + b"\n")
        self.wfile.flush()


class AuditClient(AuditWriter):
    """A session's trail through the audit service.

    A record that waits (the default) returns once the service has written it. A record
    with ``wait=False`` (a session's reads) returns once it is handed to the service, and
    its answer is read before the next record is sent, or at ``close``: the round trip is
    two process wake-ups and both sides' JSON on caches a query has just flushed, about
    0.45 ms, 7% of a 6 ms query (``benchmarks/bench_security.py``). What that costs: a
    record the service fails to write, or loses by dying with it unread, lets one read
    through and stops the session's next action with ``AuditUnavailable`` naming it (and
    the service logs the failure). Writes, exports, denials and account events wait.
    """

    def __init__(self, socket_file: str | os.PathLike[str], user: str, role: str, timeout: float = 10.0) -> None:
        super().__init__(user, role)
        self.socket_file = str(socket_file)
        self.timeout = timeout
        self._sock: socket.socket | None = None
        self._reader: Any = None
        self._pid = 0
        self._unconfirmed: list[str] = []
        """Events sent on this connection whose answers are still to be read, oldest first."""
        self._lock = threading.Lock()

    def _connect(self) -> socket.socket:
        if self._sock is None or self._pid != os.getpid():  # a forked child needs its own connection
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(self.timeout)
            try:
                sock.connect(self.socket_file)
            except OSError as exc:
                sock.close()
                raise AuditUnavailable(f"the audit service at {self.socket_file} does not answer: {exc}") from exc
            self._sock, self._reader, self._pid = sock, sock.makefile("rb"), os.getpid()
            self._unconfirmed = []  # a child's connection owes nothing; its parent still reads its own answers
        return self._sock

    def append(self, body: dict[str, Any], wait: bool = True) -> dict[str, Any]:
        request = json.dumps({k: v for k, v in body.items() if k != "ts"}, default=str).encode() + b"\n"
        with self._lock:
            self._confirm()
            try:
                try:
                    self._connect().sendall(request)
                except (BrokenPipeError, ConnectionResetError):
                    self._drop()  # the service restarted: nothing of this record reached it, send once more
                    self._connect().sendall(request)
            except OSError as exc:
                self._drop()
                raise AuditUnavailable(f"the audit service at {self.socket_file} failed: {exc}") from exc
            if not wait:
                self._unconfirmed.append(str(body.get("event")))
                return body
            answer = self._answer(str(body.get("event")))
        return {**body, **answer}  # as the service stored it: its time stamp, the peer's user and role

    def _confirm(self) -> None:
        """Read the answers still owed; raise if any record they answer was not written."""
        if self._sock is not None and self._pid != os.getpid():
            return  # the parent's connection: its answers are the parent's to read
        while self._unconfirmed:
            self._answer(self._unconfirmed.pop(0), earlier=True)

    def _answer(self, event: str, earlier: bool = False) -> dict[str, Any]:
        which = f"an earlier {event!r} record" if earlier else f"the {event!r} record"
        try:
            line = self._reader.readline()
        except OSError as exc:
            self._drop()
            raise AuditUnavailable(f"the audit service at {self.socket_file} failed before confirming {which}: "
                                   f"{exc}") from exc
        if not line:
            self._drop()
            raise AuditUnavailable(f"the audit service at {self.socket_file} closed the connection without "
                                   f"confirming {which}")
        answer = json.loads(line)
        if "error" in answer:
            raise AuditUnavailable(f"{which} was not written: {answer['error']}" if earlier else answer["error"])
        return dict(answer)

    def close(self) -> None:
        """Confirm the records still owed an answer, then end the connection (raises if one was not written)."""
        try:
            with self._lock:
                self._confirm()
        finally:
            self._drop()

    def _drop(self) -> None:
        if self._sock is not None:
            self._reader.close()
            self._sock.close()
            self._sock = self._reader = None
        self._unconfirmed = []

    def __del__(self) -> None:  # pragma: no cover - interpreter shutdown order varies
        try:
            self.close()
        except Exception:
            pass


def serve_forever_until_signalled(service: AuditService, checkpoint_seconds: float = 60.0) -> None:
    """Run ``service`` in the foreground; SIGTERM/SIGINT stop it cleanly (final checkpoint)."""
    import signal

    def stop(*_: object) -> None:
        threading.Thread(target=service.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        service.serve(checkpoint_seconds)
    finally:
        service.server_close()


def open_trail(settings: Settings, user: str, role: str) -> AuditWriter:
    """The session's trail: through the audit service when ``settings.audit_socket`` names
    one (the hub's kernels, which may not write the log), else the local folder (tests,
    the CLI run by root)."""
    if settings.audit_socket:
        return AuditClient(settings.audit_socket, user, role)
    return AuditTrail(audit_dir_for(settings), user, role, fsync=settings.audit_fsync)
