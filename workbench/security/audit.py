"""The audit trail: structured JSON lines in a hash chain, with signed checkpoints.

Every record holds the hash of the record before it (``prev``) and its own ``hash`` (SHA-256
of its canonical JSON without ``hash``), so editing, deleting or reordering a record breaks
the chain at that record. Every ``checkpoint_every`` records the writer, when it can read
the signing key, appends an Ed25519-signed ``(seq, hash)`` to ``checkpoints.jsonl``: a
forger who rewrites the whole chain after an edit still cannot produce checkpoints that
match, and a deleted tail shows as records missing below a signed checkpoint.

Layout of the audit folder (``settings.audit_dir``; default ``<lake root>/../audit`` for a
local lake)::

    audit.jsonl          one record per line, appended under an advisory lock
    checkpoints.jsonl    {"seq", "hash", "ts", "sig"} per checkpoint
    keys/checkpoint.key  Ed25519 private key (0600; the audit service's in production)
    keys/checkpoint.pub  public key, for anyone who verifies

Cost per record: one ``json.dumps``, one SHA-256, one ``flock`` and one unbuffered
``write`` (the record is in the kernel's page cache when ``record`` returns); ``fsync``
only when ``fsync=True`` (``settings.audit_fsync``).

Who writes: on the hub, analysts' kernels run as their own Unix users and may not touch
this folder; their sessions send records to the audit service
(``workbench.security.audit_service``, settings ``audit_socket``), the folder's one
writer, which names the user from the socket's peer credentials. Tests and the CLI run
by root write the folder directly (``AuditTrail``); ``open_trail`` picks one.

What a caller may rely on: ``record`` either appends the record or raises
``AuditUnavailable`` (the session then refuses to run the action: no audit, no access);
``verify`` names the first bad position and what is wrong there.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.errors import AccessDenied, WorkbenchError
from workbench.settings import Settings

if TYPE_CHECKING:
    import polars as pl

GENESIS = "0" * 64
LOG_FILE = "audit.jsonl"
CHECKPOINT_FILE = "checkpoints.jsonl"
DEFAULT_CHECKPOINT_EVERY = 100
MAX_QUERY_CHARS = 20_000


class AuditUnavailable(WorkbenchError):
    """The audit log cannot be written; the action it would have recorded is not run."""


def canonical(record: dict[str, Any]) -> str:
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def record_hash(record: dict[str, Any]) -> str:
    """SHA-256 of the record's canonical JSON without its own ``hash``."""
    body = {k: v for k, v in record.items() if k != "hash"}
    return hashlib.sha256(canonical(body).encode()).hexdigest()


def default_audit_dir(lake_root: str) -> Path:
    """``<lake root>/../audit`` for a local lake; a per-user folder for an object-store lake."""
    if "://" in lake_root and not lake_root.startswith("file://"):
        return Path.home() / ".local" / "share" / "workbench" / "audit"
    return Path(lake_root.removeprefix("file://")).resolve().parent / "audit"


def audit_dir_for(settings: Settings) -> Path:
    """The audit folder: ``settings.audit_dir`` (WORKBENCH_AUDIT_DIR), else the default."""
    return Path(settings.audit_dir) if settings.audit_dir else default_audit_dir(str(settings.lake))


# -- signing ------------------------------------------------------------------------------


def _key_paths(folder: Path) -> tuple[Path, Path]:
    return folder / "keys" / "checkpoint.key", folder / "keys" / "checkpoint.pub"


def ensure_signing_key(folder: Path) -> None:
    """Create the checkpoint key pair once (private 0600, public 0644) if the folder allows."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    private, public = _key_paths(folder)
    if private.exists():
        return
    private.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    raw = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
    fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(raw)
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))
    public.chmod(0o644)


def _signer(folder: Path) -> Any | None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        return Ed25519PrivateKey.from_private_bytes(_key_paths(folder)[0].read_bytes())
    except (OSError, ValueError):
        return None  # not ours to sign: the audit service checkpoints (``workbench audit checkpoint``)


def _checkpoint_message(seq: int, digest: str, ts: str) -> bytes:
    return f"{seq}:{digest}:{ts}".encode()


# -- writing ------------------------------------------------------------------------------


class AuditWriter:
    """What every audit trail offers a caller: ``record``, ``action`` and ``denied``.

    Subclasses decide where a record goes (``append``): the local file (``AuditTrail``)
    or the audit service's socket (``workbench.security.audit_service.AuditClient``; ``open_trail`` there picks one).
    """

    folder: Path | None = None

    def __init__(self, user: str, role: str) -> None:
        self.user, self.role = user, role

    def record(self, event: str, *, status: str = "ok", tables: list[str] | tuple[str, ...] = (),
               rows: int | None = None, query: str | None = None, user: str | None = None,
               role: str | None = None, wait: bool = True, **detail: Any) -> dict[str, Any]:
        """Append one record; returns it (with ``seq`` and ``hash`` once written).

        ``user``/``role`` name someone other than the trail's owner (a login recorded by the
        hub for the person logging in); the audit service accepts that only from root.
        ``wait=False`` lets a trail that writes through a service return once the record is
        handed over, and confirm it before its next record (see ``AuditClient``); a session's
        reads use it, everything else waits.
        """
        return self.append(record_body(event, user or self.user, role or self.role, status=status, tables=tables,
                                       rows=rows, query=query, detail=detail), wait=wait)

    def append(self, body: dict[str, Any], wait: bool = True) -> dict[str, Any]:
        raise NotImplementedError

    def close(self) -> None:
        """Release the file or connection (the next record opens it again)."""

    @contextmanager
    def action(self, event: str, wait: bool = True, **fields: Any) -> Iterator[dict[str, Any]]:
        """Audit one action: the caller fills the yielded dict (``rows=``, ...) on success.

        A refusal is not recorded here (the gate records it where it happens); any other
        workbench error is recorded with ``status="error"`` and re-raised. ``wait`` as for ``record``.
        """
        extra: dict[str, Any] = {}
        try:
            yield extra
        except AccessDenied:
            raise
        except WorkbenchError as exc:
            self.record(event, status="error", error=str(exc), wait=wait, **{**fields, **extra})
            raise
        self.record(event, wait=wait, **{**fields, **extra})

    def denied(self, refused: AccessDenied, query: str | None = None, action: str = "read") -> None:
        self.record("denied", status="denied", tables=[refused.table], query=query, action=action,
                    clearance=refused.clearance, reason=str(refused))


def record_body(event: str, user: str, role: str, *, status: str = "ok", tables: list[str] | tuple[str, ...] = (),
                rows: int | None = None, query: str | None = None, detail: dict[str, Any] | None = None,
                ts: str | None = None, query_sha256: str | None = None, query_chars: int | None = None) -> dict[str, Any]:
    """A record without its chain fields (``seq``, ``prev``, ``hash``), in the log's field order.

    The query's text is bounded (``MAX_QUERY_CHARS``) but never silently: ``query_sha256``
    and ``query_chars`` are those of the whole query, so padding cannot hide the rest and
    the full text can be matched against the record. ``query_sha256``/``query_chars`` are
    given only by the audit service for a query that reached it already bounded.
    """
    return {
        "ts": ts or datetime.now(UTC).isoformat(timespec="microseconds"),
        "user": user, "role": role, "event": event, "status": status,
        "tables": sorted(tables), "rows": rows,
        "query": None if query is None else query[:MAX_QUERY_CHARS],
        "query_sha256": None if query is None else query_sha256 or hashlib.sha256(query.encode()).hexdigest(),
        "query_chars": None if query is None else query_chars or len(query),
        "detail": detail or {},
    }


class AuditTrail(AuditWriter):
    """Appends records for one session (``user``, ``role``) to the audit folder."""

    def __init__(self, folder: str | os.PathLike[str], user: str, role: str, *, fsync: bool = False,
                 checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY) -> None:
        super().__init__(user, role)
        self.folder = Path(folder)
        self.fsync = fsync
        self.checkpoint_every = checkpoint_every
        self.path = self.folder / LOG_FILE
        self._fd: int | None = None
        self._end = -1
        self._seq = 0
        self._prev = GENESIS
        self._signer: Any | None = None
        self._signer_loaded = False

    def _open(self) -> int:
        if self._fd is None:
            try:
                self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
                self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            except OSError as exc:
                raise AuditUnavailable(
                    f"cannot write the audit log {self.path}: {exc.strerror}; "
                    "set WORKBENCH_AUDIT_SOCKET to the audit service's socket") from exc
        return self._fd

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __del__(self) -> None:  # pragma: no cover - interpreter shutdown order varies
        try:
            self.close()
        except Exception:
            pass

    def append(self, body: dict[str, Any], wait: bool = True) -> dict[str, Any]:
        """Chain ``body`` (from ``record_body``) onto the log under the file lock; returns the record.

        Always written before it returns: ``wait`` concerns only trails behind a service.
        """
        fd = self._open()
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            size = os.fstat(fd).st_size
            if size != self._end:
                self._seq, self._prev = _tail(self.path, size)
            rec = {"seq": self._seq, **body, "prev": self._prev}
            text = canonical(rec)  # hashed as is; ``verify`` re-canonicalises the record without "hash"
            rec["hash"] = hashlib.sha256(text.encode()).hexdigest()
            data = f'{text[:-1]},"hash":"{rec["hash"]}"}}\n'.encode()
            os.write(fd, data)
            if self.fsync:
                os.fsync(fd)
            self._end = size + len(data)
            self._seq, self._prev = rec["seq"] + 1, rec["hash"]
            if self.checkpoint_every and self._seq % self.checkpoint_every == 0:
                self._checkpoint(rec["seq"], rec["hash"])
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
        return rec

    def _checkpoint(self, seq: int, digest: str) -> None:
        if not self._signer_loaded:
            try:
                ensure_signing_key(self.folder)
            except OSError:
                pass
            self._signer, self._signer_loaded = _signer(self.folder), True
        if self._signer is not None:
            write_checkpoint(self.folder, seq, digest, self._signer)


def record_dashboard(trail: AuditWriter, dashboard: str, *, export: str | None = None,
                     tables: list[str] | tuple[str, ...] = (), rows: int | None = None, **detail: Any) -> dict[str, Any]:
    """Audit a dashboard view, or with ``export="csv"`` (the format) an export of its data.

    Dashboards call this with their session's trail (``wb.audit``) when a person opens a
    dashboard (``dashboard_view``) or downloads its data (``dashboard_export``, with the
    tables and rows that left); the SIEM counts exports towards bulk extraction. Raises
    ``AuditUnavailable`` when the record cannot be written: do not serve the view/export then.
    """
    event = "dashboard_export" if export else "dashboard_view"
    extra = {"format": export} if export else {}
    return trail.record(event, tables=tables, rows=rows, resource=f"dashboard:{dashboard}", dashboard=dashboard,
                        **extra, **detail)


def write_checkpoint(folder: Path, seq: int, digest: str, signer: Any) -> dict[str, Any]:
    ts = datetime.now(UTC).isoformat(timespec="seconds")
    entry = {"seq": seq, "hash": digest, "ts": ts, "sig": signer.sign(_checkpoint_message(seq, digest, ts)).hex()}
    with open(folder / CHECKPOINT_FILE, "a", encoding="utf-8") as out:
        out.write(canonical(entry) + "\n")
    return entry


def checkpoint_now(folder: str | os.PathLike[str]) -> dict[str, Any] | None:
    """Sign the current head of the log (the audit service runs this on a timer)."""
    folder = Path(folder)
    ensure_signing_key(folder)
    signer = _signer(folder)
    if signer is None:
        raise AuditUnavailable(f"cannot read the checkpoint key in {folder / 'keys'}")
    path = folder / LOG_FILE
    if not path.exists() or path.stat().st_size == 0:
        return None
    with open(path, "rb") as log:
        fcntl.flock(log.fileno(), fcntl.LOCK_SH)
        try:
            seq, digest = _tail(path, os.fstat(log.fileno()).st_size)
        finally:
            fcntl.flock(log.fileno(), fcntl.LOCK_UN)
    return write_checkpoint(folder, seq - 1, digest, signer)


def _tail(path: Path, size: int) -> tuple[int, str]:
    """``(next seq, hash of the last record)`` of the log, reading only its end."""
    if size == 0:
        return 0, GENESIS
    with open(path, "rb") as log:
        log.seek(max(0, size - 65_536))
        chunk = log.read(size - log.tell())
    last = chunk.rstrip(b"\n").rpartition(b"\n")[2]
    try:
        rec = json.loads(last)
        return int(rec["seq"]) + 1, str(rec["hash"])
    except (ValueError, KeyError, TypeError):
        # A damaged last line: keep appending after it; ``verify`` reports the damage.
        with open(path, "rb") as log:
            count = sum(1 for _ in log)
        return count, hashlib.sha256(last).hexdigest()


# -- verifying ----------------------------------------------------------------------------


@dataclass
class Verification:
    """Outcome of ``verify``: ``ok``, or the first bad ``position`` (0-based record index)."""

    ok: bool
    records: int
    checkpoints: int
    position: int | None = None
    problem: str | None = None
    kind: str | None = None
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> str:
        if self.ok:
            note = f"; {'; '.join(self.warnings)}" if self.warnings else ""
            return f"audit log intact: {self.records} records, {self.checkpoints} signed checkpoints verified{note}"
        return f"audit log damaged at position {self.position} (line {self.position + 1}): {self.problem}"  # type: ignore[operator]


def verify(folder: str | os.PathLike[str]) -> Verification:
    """Check the chain and the signed checkpoints; report the first bad record."""
    folder = Path(folder)
    path = folder / LOG_FILE
    lines = path.read_bytes().splitlines() if path.exists() else []
    parsed: list[dict[str, Any] | None] = []
    for line in lines:
        try:
            rec = json.loads(line)
            parsed.append(rec if isinstance(rec, dict) else None)
        except ValueError:
            parsed.append(None)
    hashes: list[str] = []
    prev = GENESIS

    def bad(pos: int, kind: str, problem: str) -> Verification:
        return Verification(False, len(lines), 0, pos, problem, kind)

    for pos, rec in enumerate(parsed):
        if rec is None:
            return bad(pos, "edited", "the line is not a JSON record (edited or truncated)")
        seq = rec.get("seq")
        if seq != pos:
            later = [p for p, r in enumerate(parsed[pos + 1:], pos + 1) if r and r.get("seq") == pos]
            if later:
                return bad(pos, "reordered", f"expected record seq {pos}, found seq {seq}; seq {pos} is at position "
                                             f"{later[0]} (records reordered)")
            if isinstance(seq, int) and seq > pos:
                return bad(pos, "deleted", f"records seq {pos}..{seq - 1} are missing before this position (deleted)")
            return bad(pos, "reordered", f"expected record seq {pos}, found seq {seq} (duplicated or out of order)")
        if record_hash(rec) != rec.get("hash"):
            return bad(pos, "edited", "the record's content does not match its hash (edited)")
        if rec.get("prev") != prev:
            return bad(pos - 1, "edited", "the next record's link does not match this record's hash "
                                          "(this record was replaced with a re-hashed edit)")
        prev = str(rec["hash"])
        hashes.append(prev)

    checked = 0
    warnings: list[str] = []
    cp_path = folder / CHECKPOINT_FILE
    if cp_path.exists():
        verifier = _verifier(folder)
        for n, line in enumerate(cp_path.read_text(encoding="utf-8").splitlines()):
            try:
                cp = json.loads(line)
                seq, digest, ts, sig = int(cp["seq"]), str(cp["hash"]), str(cp["ts"]), bytes.fromhex(cp["sig"])
            except (ValueError, KeyError, TypeError):
                return Verification(False, len(lines), checked, None, f"checkpoint line {n + 1} is damaged", "checkpoint")
            if verifier is None:
                warnings.append("no public key: checkpoint signatures not checked")
            else:
                try:
                    verifier.verify(sig, _checkpoint_message(seq, digest, ts))
                except Exception:
                    return Verification(False, len(lines), checked, None,
                                        f"checkpoint line {n + 1} has a bad signature (checkpoints edited)", "checkpoint")
            if seq >= len(hashes):
                return Verification(False, len(lines), checked, len(hashes),
                                    f"a signed checkpoint covers record seq {seq} but the log ends at position "
                                    f"{len(hashes) - 1}: records {len(hashes)}..{seq} were deleted", "deleted")
            if hashes[seq] != digest:
                first = next((p for p in range(seq + 1) if p < len(hashes)), seq)
                return Verification(False, len(lines), checked, seq,
                                    f"record seq {seq} differs from its signed checkpoint: the chain at or before "
                                    f"this position (from {first}) was rewritten", "edited")
            checked += 1
    if not cp_path.exists() and hashes:
        warnings.append("no signed checkpoints yet")
    return Verification(True, len(lines), checked, warnings=sorted(set(warnings)))


def _verifier(folder: Path) -> Any | None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        return Ed25519PublicKey.from_public_bytes(_key_paths(folder)[1].read_bytes())
    except (OSError, ValueError):
        return None


# -- searching ----------------------------------------------------------------------------

_RELATIVE = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(value: str) -> datetime:
    """An ISO date/datetime (UTC if naive) or a relative age such as ``7d``, ``12h``."""
    if match := _RELATIVE.match(value.strip()):
        return datetime.now(UTC) - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise WorkbenchError(f"--since {value!r}: expected an ISO date/datetime or an age like 7d, 12h") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


SEARCH_SCHEMA = {"seq": "Int64", "ts": "String", "user": "String", "role": "String", "event": "String",
                 "status": "String", "tables": "String", "rows": "Int64", "query": "String", "detail": "String"}
"""``search``'s columns and their Polars types (by name: the audit service, the hub and the gateway import this
module at every start and never search, so Polars loads with the first search)."""


def read_records(folder: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """Every parseable record of the log, oldest first (damaged lines are skipped)."""
    path = Path(folder) / LOG_FILE
    if not path.exists():
        return
    with open(path, "rb") as log:
        for line in log:
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if isinstance(rec, dict):
                yield rec


def search(folder: str | os.PathLike[str], user: str | None = None, table: str | None = None,
           since: datetime | str | None = None, event: str | None = None) -> pl.DataFrame:
    """Records matching every given filter (``table`` matches any table the record touched)."""
    moment = parse_since(since) if isinstance(since, str) else since
    rows = []
    for rec in read_records(folder):
        if user and rec.get("user") != user:
            continue
        if table and table not in (rec.get("tables") or []):
            continue
        if event and rec.get("event") != event:
            continue
        if moment and datetime.fromisoformat(str(rec.get("ts"))) < moment:
            continue
        rows.append({
            "seq": rec.get("seq"), "ts": rec.get("ts"), "user": rec.get("user"), "role": rec.get("role"),
            "event": rec.get("event"), "status": rec.get("status"), "tables": ",".join(rec.get("tables") or []),
            "rows": rec.get("rows"), "query": rec.get("query"), "detail": canonical(rec.get("detail") or {}),
        })
    import polars as pl

    return pl.DataFrame(rows, schema={name: getattr(pl, kind) for name, kind in SEARCH_SCHEMA.items()})


class NullAudit(AuditWriter):
    """Records nothing: for measuring the audit's own cost in benchmarks only."""

    def append(self, body: dict[str, Any], wait: bool = True) -> dict[str, Any]:
        return {}
