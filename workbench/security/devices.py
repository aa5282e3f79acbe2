"""Field devices: the phones and browsers a person of a device-bound role signs in from, and their revocation.

Which roles are device-bound is a role fact (``devices = true`` in the policy's
``[roles.NAME.hub]``; field officers). For them:

- the hub's login registers the browser as a device at its first sign-in (the name the
  officer types on the login form, else one made from the user agent), with its user
  agent, address, first and last use, and gives it a device cookie (``DEVICE_COOKIE``:
  a random secret, HttpOnly, ``SameSite=Lax``, path ``/`` so the hub and the dashboards
  service both see it). Only the secret's SHA-256 is stored: a copy of the store opens no
  session, and ``device_id`` (a prefix of that hash) is what administrators see;
- the hub (``platform/authenticator.py``) and the dashboards service (``apps/field_devices.py``)
  refuse a cookie-authenticated request of such a person that does not come from a
  registered, unrevoked device of theirs, or whose device has been idle longer than
  ``settings.device_idle_minutes`` (the session then ends; the password is asked again);
- ``revoke`` marks the device revoked and rewrites the revocation list
  (``revoked-devices``, one device id a line), which the dashboards service re-reads when
  its modification time changes (``RevocationList``: one ``stat`` per request), so the
  device's next request is refused; ``end_sessions`` then has the hub delete the tokens
  of the device's sessions (the OAuth tokens it issued to the dashboards in each of the
  device's hub sessions, through the authenticator's ``end-sessions`` handler), and the
  person's personal API tokens, which no device can be told apart by. The person's other
  devices keep their sessions.

The store is ``<base>/accounts/devices.db`` beside the account store, in the same 0700
folder. Every new device, revocation, ended idle session and refused request of a revoked
device is in the audit trail (``device_new``, ``device_revoked``, ``device_idle``,
``device_refused``); the SIEM raises an alert for the last (``siem.detectors.RevokedDevice``).
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from collections.abc import Container
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from workbench.errors import WorkbenchError
from workbench.security.accounts import private_dir, private_file, service_access, transaction
from workbench.security.audit import AuditWriter

DEVICE_COOKIE = "workbench-device"
REVOKED_FILE = "revoked-devices"
MAX_NAME = 60
LOGIN = "hub login"
_NOT_NAME = re.compile(r"[^\w .,()'/+#-]")


class DeviceError(WorkbenchError):
    """A device operation that cannot be done as asked (unknown device, bad name)."""


@dataclass(frozen=True)
class Device:
    """One registered device (never its secret)."""

    device_id: str
    owner: str
    name: str
    user_agent: str
    address: str | None
    first_seen: str
    last_seen: str
    revoked: str | None
    revoked_by: str | None

    @property
    def active(self) -> bool:
        return self.revoked is None

    def idle_for(self, now: datetime | None = None) -> timedelta:
        """How long since the device was last used."""
        return (now or datetime.now(UTC)) - datetime.fromisoformat(self.last_seen)

    def row(self) -> dict[str, Any]:
        return {"device_id": self.device_id, "owner": self.owner, "name": self.name, "user_agent": self.user_agent,
                "address": self.address, "first_seen": self.first_seen, "last_seen": self.last_seen,
                "revoked": self.revoked, "revoked_by": self.revoked_by}


def device_id_of(secret: str) -> str:
    """The public id of the device whose cookie holds ``secret`` (hash prefix: the secret stays with the device)."""
    return hashlib.sha256(secret.encode("utf-8", "replace")).hexdigest()[:20]


def name_from_user_agent(user_agent: str) -> str:
    """A device name when the officer gave none: browser and system from the user agent ("Chrome on Android")."""
    browser = next((b for b in ("Edg", "Firefox", "Chrome", "Safari") if b in user_agent), "browser")
    system = next((s for s in ("Android", "iPhone", "iPad", "Windows", "Mac OS", "Linux") if s in user_agent), "")
    return ({"Edg": "Edge"}.get(browser, browser) + (f" on {system}" if system else ""))[:MAX_NAME]


def clean_name(name: str | None, user_agent: str) -> str:
    """The device name to store: the officer's (spaces collapsed, characters outside ``_NAME_CHARS`` dropped,
    at most ``MAX_NAME``), else one from the user agent. Never an error: a sign-in is not refused over a name."""
    text = " ".join(_NOT_NAME.sub("", name or "").split())[:MAX_NAME].strip()
    return text or name_from_user_agent(user_agent)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


_COLUMNS = "device_id, owner, name, user_agent, address, first_seen, last_seen, revoked, revoked_by"


class DeviceStore:
    """The devices under ``base_dir/accounts``; every method opens and closes its own connection."""

    def __init__(self, base_dir: str | os.PathLike[str], audit: AuditWriter | None = None) -> None:
        self.folder = private_dir(Path(base_dir) / "accounts")
        self.path = self.folder / "devices.db"
        self.revoked_file = self.folder / REVOKED_FILE
        self.audit = audit
        private_file(self.path)
        with transaction(self.path) as db:
            db.execute(f"""CREATE TABLE IF NOT EXISTS devices (
                device_id TEXT PRIMARY KEY, owner TEXT NOT NULL, name TEXT NOT NULL, user_agent TEXT NOT NULL,
                address TEXT, first_seen TEXT NOT NULL, last_seen TEXT NOT NULL, revoked TEXT, revoked_by TEXT)""")
            db.execute("""CREATE TABLE IF NOT EXISTS device_sessions (
                session_id TEXT PRIMARY KEY, device_id TEXT NOT NULL REFERENCES devices(device_id), ended TEXT)""")
            db.execute("CREATE INDEX IF NOT EXISTS devices_owner ON devices(owner)")
        if not self.revoked_file.exists():
            self._write_revocations()

    # --- registering and using ------------------------------------------------------

    def register(self, owner: str, name: str | None, user_agent: str, address: str | None,
                 role: str = "field_officer") -> tuple[Device, str]:
        """A new device of ``owner``: (its record, the secret for its cookie). Audited as ``device_new``."""
        user_agent = (user_agent or "")[:400]
        label = clean_name(name, user_agent)
        secret = secrets.token_urlsafe(32)
        device_id, now = device_id_of(secret), _now()
        with transaction(self.path) as db:
            db.execute(f"INSERT INTO devices ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, NULL, NULL)",
                       (device_id, owner, label, user_agent, address, now, now))
            self._record("device_new", owner, role, device_id, status="ok", source_ip=address, device_name=label,
                         user_agent=user_agent)  # inside the transaction: no record, no device
        device = self.get(device_id)
        assert device is not None
        return device, secret

    def find(self, secret: str | None) -> Device | None:
        """The device whose cookie holds ``secret`` (revoked ones too), or None."""
        return self.get(device_id_of(secret)) if secret else None

    def get(self, device_id: str) -> Device | None:
        with transaction(self.path) as db:
            row = db.execute(f"SELECT {_COLUMNS} FROM devices WHERE device_id = ?", (device_id,)).fetchone()
        return Device(*row) if row else None

    def list(self, owner: str | None = None) -> list[Device]:
        """Every device (of ``owner``), by person then most recently used first."""
        with transaction(self.path) as db:
            rows = db.execute(f"SELECT {_COLUMNS} FROM devices WHERE ? IS NULL OR owner = ? "
                              "ORDER BY owner, last_seen DESC", (owner, owner)).fetchall()
        return [Device(*r) for r in rows]

    def seen(self, device_id: str, address: str | None = None, session_id: str | None = None) -> None:
        """The device was used now (from ``address``, in the hub session ``session_id``, which it then owns)."""
        with transaction(self.path) as db:
            db.execute("UPDATE devices SET last_seen = ?, address = COALESCE(?, address) WHERE device_id = ?",
                       (_now(), address, device_id))
            if session_id:
                db.execute("INSERT INTO device_sessions (session_id, device_id) VALUES (?, ?) "
                           "ON CONFLICT (session_id) DO UPDATE SET device_id = excluded.device_id, ended = NULL",
                           (session_id, device_id))

    def sessions(self, device_id: str) -> list[str]:
        """The hub session ids the device was seen in."""
        with transaction(self.path) as db:
            return [r[0] for r in db.execute("SELECT session_id FROM device_sessions WHERE device_id = ?",
                                             (device_id,)).fetchall()]

    def device_of_session(self, session_id: str) -> Device | None:
        """The device the hub session ``session_id`` was bound to, if any."""
        with transaction(self.path) as db:
            row = db.execute(f"SELECT {_COLUMNS} FROM devices WHERE device_id = "
                             "(SELECT device_id FROM device_sessions WHERE session_id = ?)", (session_id,)).fetchone()
        return Device(*row) if row else None

    def mark_ended(self, device_id: str) -> None:
        """The device's sessions were ended (their tokens deleted): ``idle_with_sessions`` skips them until used again."""
        with transaction(self.path) as db:
            db.execute("UPDATE device_sessions SET ended = ? WHERE device_id = ? AND ended IS NULL", (_now(), device_id))

    def idle_with_sessions(self, idle: timedelta) -> list[Device]:
        """Active devices unused for longer than ``idle`` that still hold sessions not yet ended."""
        cutoff = (datetime.now(UTC) - idle).isoformat(timespec="seconds")
        with transaction(self.path) as db:
            rows = db.execute(f"SELECT {_COLUMNS} FROM devices WHERE revoked IS NULL AND last_seen < ? AND device_id IN "
                              "(SELECT device_id FROM device_sessions WHERE ended IS NULL)", (cutoff,)).fetchall()
        return [Device(*r) for r in rows]

    # --- revoking -------------------------------------------------------------------

    def revoke(self, device_id: str) -> Device:
        """Mark the device revoked and publish it in the revocation list; audited as ``device_revoked``.

        Idempotent: revoking a revoked device changes nothing and records nothing.
        """
        device = self.get(device_id)
        if device is None:
            raise DeviceError(f"no device {device_id!r}: `workbench devices list` shows the ids")
        if device.revoked:
            return device
        by = self.audit.user if self.audit is not None else None
        with transaction(self.path) as db:
            db.execute("UPDATE devices SET revoked = ?, revoked_by = ? WHERE device_id = ?", (_now(), by, device_id))
            self._record("device_revoked", device.owner, None, device_id, status="ok", actor=True,
                         device_name=device.name)
        self._write_revocations()
        revoked = self.get(device_id)
        assert revoked is not None
        return revoked

    def _write_revocations(self) -> None:
        """Rewrite the revocation list atomically (write, fsync, rename): a reader sees the old or the new one."""
        with transaction(self.path) as db:
            ids = [r[0] for r in db.execute("SELECT device_id FROM devices WHERE revoked IS NOT NULL ORDER BY 1")]
        partial = self.revoked_file.with_name(f".{REVOKED_FILE}.{os.getpid()}")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write("".join(f"{i}\n" for i in ids))
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, self.revoked_file)

    # --- audit ------------------------------------------------------------------------

    def refused(self, device: Device, address: str | None, where: str, role: str = "field_officer") -> None:
        """A revoked device asked again (``where``: hub, dashboards, ``LOGIN``): ``device_refused``, for the SIEM.

        Status ``denied``, except a password sign-in from it (``where=LOGIN``), which goes on
        as a new device (status ``signed_in``): whoever knows the password could clear the cookie.
        """
        self._record("device_refused", device.owner, role, device.device_id,
                     status="signed_in" if where == LOGIN else "denied", source_ip=address, device_name=device.name,
                     where=where)

    def idle_ended(self, device: Device, ended: int, role: str = "field_officer") -> None:
        self._record("device_idle", device.owner, role, device.device_id, status="ok", device_name=device.name,
                     idle_since=device.last_seen, tokens_ended=ended)

    def _record(self, event: str, owner: str, role: str | None, device_id: str, *, status: str,
                actor: bool = False, **detail: object) -> None:
        """A device event; ``actor``: recorded as the trail's user (the administrator), else as the device's owner."""
        if self.audit is None:
            return
        who = {} if actor else {"user": owner, "role": role or "unknown"}
        self.audit.record(event, status=status, resource=f"device:{device_id}", account=owner, **who, **detail)


class Verdict(StrEnum):
    """What a device-bound person's request gets, judged by its device (``judge``)."""

    OK = "ok"
    UNKNOWN = "unknown"  # no device cookie, an unknown one, or another person's: sign in on this device
    REVOKED = "revoked"  # an administrator revoked it: refused, and recorded for the SIEM
    IDLE = "idle"  # unused for longer than the idle limit: the session ends, the password is asked again


def judge(device: Device | None, owner: str, revoked: Container[str], idle: timedelta,
          now: datetime | None = None) -> Verdict:
    """The one rule the hub and the dashboards apply to a device-bound person's request."""
    if device is None or device.owner != owner:
        return Verdict.UNKNOWN
    if device.revoked or device.device_id in revoked:
        return Verdict.REVOKED
    if device.idle_for(now) > idle:
        return Verdict.IDLE
    return Verdict.OK


class RevocationList:
    """The revoked device ids of a store, re-read only when the list file changes (one ``stat`` per check).

    Why a file and not a query per request: the dashboards check every request of a
    device-bound person; a ``stat`` costs microseconds and needs no lock, and the store
    replaces the file atomically, so a reader never sees half a list.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._stamp: tuple[int, int, int] | None = None
        self._ids: frozenset[str] = frozenset()

    def current(self) -> frozenset[str]:
        """The revoked ids now (reloaded when the file's inode, size or mtime changed)."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            self._stamp, self._ids = None, frozenset()
            return self._ids
        stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
        if stamp != self._stamp:
            self._ids = frozenset(self.path.read_text(encoding="ascii").split())
            self._stamp = stamp
        return self._ids

    def __contains__(self, device_id: object) -> bool:
        return device_id in self.current()


def end_sessions(base_dir: str | os.PathLike[str], device: Device, store: DeviceStore,
                 personal_tokens: bool = True, timeout: float = 10.0) -> int:
    """Delete the hub tokens of ``device``'s sessions (and, with ``personal_tokens``, the owner's personal API
    tokens); how many were deleted. Nothing to do when the hub never ran from ``base_dir`` or is down.

    Through the hub, with the accounts service's token (scope ``tokens``), at the
    authenticator's ``end-sessions`` handler (``platform/authenticator.py``: the hub's REST
    token DELETE would end every dashboards session of the person, on all devices). The
    OAuth tokens the hub issued to the dashboards carry the hub session they were issued in
    (``session_id``), which the dashboards and the hub bound to the device. Personal API
    tokens carry no session, so nothing says which device made one: revoking a device
    ends them all (the owner's other devices keep their sessions, which are not personal
    tokens). The sessions are then marked ended (``idle_with_sessions`` skips them), unless
    the hub did not answer. Raises ``DeviceError`` when the hub refuses.
    """
    import requests

    access = service_access(base_dir)
    if access is None:
        store.mark_ended(device.device_id)  # no hub: no token to end
        return 0
    endpoints, token = access
    try:
        answer = requests.post(f"{endpoints['hub_api']}/workbench/users/{device.owner}/end-sessions",
                               json={"sessions": store.sessions(device.device_id), "personal": personal_tokens},
                               headers={"Authorization": f"token {token}"}, timeout=timeout)
    except requests.ConnectionError:
        return 0  # the hub is down: left open, so the next idle sweep tries again
    if answer.status_code == 404:
        store.mark_ended(device.device_id)
        return 0  # the person never signed in to this hub
    if answer.status_code != 200:
        raise DeviceError(f"hub refused to end {device.owner!r}'s device sessions: {answer.status_code} "
                          f"{answer.text[:200]}")
    store.mark_ended(device.device_id)
    return int(answer.json()["deleted"])
