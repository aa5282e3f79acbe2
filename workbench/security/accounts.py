"""Workbench accounts and roles: the one store an administrator edits.

The store is a small SQLite file, ``<base>/accounts/accounts.db``, in a folder only root
may enter (0700; the file itself 0600). Both the CLI (``workbench users ...``) and the hub
authenticator open the same store, so a ``disable`` or ``set-role`` takes effect at the
next login (and at the next auth refresh of an open session).

What a caller may rely on:

- passwords are stored only as argon2id hashes (argon2-cffi, per-user random salt); a
  password is checked against a policy (length >= 12, not the user name, not a common
  password) whenever it is set;
- ``MAX_FAILURES`` consecutive wrong passwords lock the account until an administrator
  runs ``enable`` or ``reset-password``; a locked or disabled account is refused even with
  the right password;
- ``ensure_demo_accounts`` creates the demo accounts (one per role) with random
  passwords, written once to a 0600 credentials file; no password lives in the repo;
- with an ``audit`` trail, every login (success or failure, with the address), lock-out,
  add/remove, disable/enable, role change and password reset is recorded; an
  administrator's change is recorded inside its database transaction, so a change whose
  record cannot be written is rolled back (no audit, no change);
- ``stop_running_work`` (run by ``workbench users disable|set-role``) stops the person's
  notebook servers and Dask Gateway clusters. A running process keeps the Unix groups it
  started with (the kernel's credentials are fixed at ``setgroups``), so without it a
  kernel started under the old role would read the old role's lake zones until it
  stopped. ``sync_unix_groups`` gives the Unix user the new role's group at once, which
  restarts their published apps with it.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import pwd
import re
import secrets
import sqlite3
import stat
import string
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from workbench.errors import WorkbenchError
from workbench.platform import unix
from workbench.security.audit import AuditTrail, AuditWriter
from workbench.security.audit_service import open_trail
from workbench.security.policy import load_policy


MAX_FAILURES = 5
MIN_PASSWORD_LENGTH = 12
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9-]{1,30}$")

# A few of the passwords every guessing list starts with (lower-cased, compared lower-cased).
COMMON_PASSWORDS = frozenset({
    "password", "password1", "password123", "password1234", "passw0rd", "p@ssw0rd",
    "123456", "12345678", "123456789", "1234567890", "123456789012", "qwerty", "qwertyuiop",
    "qwerty123456", "letmein", "letmein12345", "welcome", "welcome12345", "welcome123!",
    "iloveyou", "admin", "admin123", "administrator", "changeme", "changeme1234",
    "trustno1", "abc123", "abcdefghijkl", "football", "monkey", "dragon", "sunshine",
    "customs", "customs12345", "hongkong", "hongkong1234", "workbench", "workbench123",
    "000000000000", "111111111111", "aaaaaaaaaaaa",
})

# argon2id with the library's RFC 9106 "low memory" profile: about 50-100 ms here, so a
# login costs the hub one executor thread for a moment (see authenticator.py).
_HASHER = PasswordHasher()


class Role(StrEnum):
    """What a person does on the platform; each role is a JupyterHub group of the same name."""

    ANALYST = "analyst"
    MODELLER = "modeller"
    MANAGER = "manager"
    FIELD_OFFICER = "field_officer"
    ADMIN = "admin"


def _dashboard_roles() -> frozenset[Role]:
    from workbench.security.roles import roles_with

    return frozenset(Role(name) for name in roles_with("dashboards"))


DASHBOARD_ROLES = _dashboard_roles()
"""Roles that work in the published dashboards only: no notebook server, no gateway (``workspace =
"dashboards"`` in the policy's ``[roles.NAME.hub]``)."""


class AccountError(WorkbenchError):
    """An account operation that cannot be done as asked (unknown name, duplicate, bad role)."""


class PasswordPolicyError(AccountError):
    """A password the policy rejects; ``reason`` says which rule."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"password rejected: {reason}")


@dataclass(frozen=True)
class Account:
    """One account as the store holds it (without the hash)."""

    name: str
    role: Role
    enabled: bool
    failures: int
    locked: bool
    created: str
    last_login: str | None


def check_password_policy(name: str, password: str) -> None:
    """Raise ``PasswordPolicyError`` naming the first rule ``password`` breaks."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise PasswordPolicyError(f"shorter than {MIN_PASSWORD_LENGTH} characters")
    lowered = password.lower()
    if name.lower() in lowered:
        raise PasswordPolicyError("contains the user name")
    if lowered in COMMON_PASSWORDS:
        raise PasswordPolicyError("a commonly used password")
    if len(set(password)) < 4:
        raise PasswordPolicyError("too few distinct characters")


def generate_password(length: int = 20) -> str:
    """A random password that passes the policy (letters and digits, easy to copy)."""
    alphabet = string.ascii_letters + string.digits
    while True:
        candidate = "".join(secrets.choice(alphabet) for _ in range(length))
        if any(c.isdigit() for c in candidate) and any(c.isalpha() for c in candidate):
            return candidate


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@contextmanager
def transaction(path: Path) -> Iterator[sqlite3.Connection]:
    """One short ``BEGIN IMMEDIATE`` transaction on the SQLite file ``path`` (committed, or rolled back on error).

    Short connections keep the stores (accounts, devices) safe to use from the CLI while
    the hub runs, and from the hub's executor threads.
    """
    con = sqlite3.connect(path, timeout=10, isolation_level=None)
    try:
        con.execute("BEGIN IMMEDIATE")
        yield con
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        con.close()


def private_dir(path: Path) -> Path:
    """Create ``path`` as a 0700 folder (or tighten it) and return it."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    if stat.S_IMODE(path.stat().st_mode) != 0o700:
        os.chmod(path, 0o700)
    return path


def private_file(path: Path) -> None:
    """Make sure ``path`` exists with mode 0600 before anything secret goes in."""
    fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)


class AccountStore:
    """The accounts under ``base_dir/accounts``; every method opens and closes its own connection.

    Short connections keep the store safe to use from the CLI while the hub runs, and from
    the hub's executor threads.
    """

    def __init__(self, base_dir: str | os.PathLike[str], max_failures: int = MAX_FAILURES,
                 audit: AuditWriter | None = None) -> None:
        self.folder = Path(base_dir) / "accounts"
        self.path = self.folder / "accounts.db"
        self.max_failures = max_failures
        self.audit = audit
        private_dir(self.folder)
        private_file(self.path)
        with self._db() as db:
            db.execute(
                """CREATE TABLE IF NOT EXISTS accounts (
                    name TEXT PRIMARY KEY,
                    role TEXT NOT NULL,
                    hash TEXT NOT NULL,
                    enabled INTEGER NOT NULL DEFAULT 1,
                    failures INTEGER NOT NULL DEFAULT 0,
                    created TEXT NOT NULL,
                    last_login TEXT
                )"""
            )

    def _db(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        return transaction(self.path)

    # --- administration -------------------------------------------------------------

    def add(self, name: str, role: Role | str, password: str | None = None) -> str:
        """Create an account; returns the password (generated when none is given)."""
        if not NAME_PATTERN.match(name):
            raise AccountError(f"invalid user name {name!r}: lower-case letters, digits and '-', 2-31 characters")
        role = _role(role)
        password = password if password is not None else generate_password()
        check_password_policy(name, password)
        digest = _HASHER.hash(password)
        with self._db() as db:
            if db.execute("SELECT 1 FROM accounts WHERE name = ?", (name,)).fetchone():
                raise AccountError(f"account {name!r} exists already")
            db.execute(
                "INSERT INTO accounts (name, role, hash, created) VALUES (?, ?, ?, ?)",
                (name, role.value, digest, _now()),
            )
            self._record("account_add", name, new_role=role.value)
        return password

    def set_enabled(self, name: str, enabled: bool) -> None:
        """Disable an account, or enable it again (which also clears a lock-out)."""
        self._update(name, "UPDATE accounts SET enabled = ?, failures = 0 WHERE name = ?", (int(enabled), name),
                     "account_enable" if enabled else "account_disable")

    def set_role(self, name: str, role: Role | str) -> None:
        new = _role(role).value
        before = self.get(name)
        self._update(name, "UPDATE accounts SET role = ? WHERE name = ?", (new, name), "role_change",
                     new_role=new, previous=before.role.value if before else None, resource=f"user:{name} -> {new}")

    def reset_password(self, name: str, password: str | None = None) -> str:
        """Set a new password (generated when none is given), clear the lock-out; returns it."""
        password = password if password is not None else generate_password()
        check_password_policy(name, password)
        digest = _HASHER.hash(password)
        self._update(name, "UPDATE accounts SET hash = ?, failures = 0 WHERE name = ?", (digest, name),
                     "password_reset")
        return password

    def remove(self, name: str) -> None:
        self._update(name, "DELETE FROM accounts WHERE name = ?", (name,), "account_remove")

    def _update(self, name: str, sql: str, params: tuple[object, ...], event: str, **detail: object) -> None:
        with self._db() as db:
            if db.execute(sql, params).rowcount == 0:
                raise AccountError(f"no account named {name!r}")
            self._record(event, name, **detail)  # inside the transaction: no record, no change

    def _record(self, event: str, account: str, **detail: object) -> None:
        """An administrator's change, recorded as the trail's user (the administrator)."""
        if self.audit is not None:
            self.audit.record(event, account=account, **{"resource": f"user:{account}", **detail})

    def _login_record(self, name: str, event: str, status: str, source_ip: str | None, role: str | None,
                      **detail: object) -> None:
        if self.audit is not None:
            self.audit.record(event, status=status, user=name, role=role or "unknown", source_ip=source_ip,
                              resource="hub:login", **detail)

    # --- reading --------------------------------------------------------------------

    def get(self, name: str) -> Account | None:
        with self._db() as db:
            row = db.execute(
                "SELECT name, role, enabled, failures, created, last_login FROM accounts WHERE name = ?", (name,)
            ).fetchone()
        return self._account(row) if row else None

    def number(self, name: str) -> int | None:
        """The account's number (SQLite's rowid: given once, at ``add``): a pod's Unix uid on Kubernetes
        is ``uid_base + number`` (``platform.kubernetes.notebook_uid``), which the audit service maps back."""
        with self._db() as db:
            row = db.execute("SELECT rowid FROM accounts WHERE name = ?", (name,)).fetchone()
        return int(row[0]) if row else None

    def name_for_number(self, number: int) -> str | None:
        with self._db() as db:
            row = db.execute("SELECT name FROM accounts WHERE rowid = ?", (number,)).fetchone()
        return str(row[0]) if row else None

    def list(self) -> list[Account]:
        with self._db() as db:
            rows = db.execute(
                "SELECT name, role, enabled, failures, created, last_login FROM accounts ORDER BY name"
            ).fetchall()
        return [self._account(r) for r in rows]

    def _account(self, row: tuple[object, ...]) -> Account:
        name, role, enabled, failures, created, last_login = row
        return Account(
            name=str(name), role=Role(str(role)), enabled=bool(enabled), failures=int(failures),  # type: ignore[call-overload]
            locked=int(failures) >= self.max_failures, created=str(created),  # type: ignore[call-overload]
            last_login=None if last_login is None else str(last_login),
        )

    # --- login ----------------------------------------------------------------------

    def verify(self, name: str, password: str, source_ip: str | None = None) -> Account | None:
        """The account if ``password`` is right and the account may log in, else ``None``.

        Slow on purpose (argon2): call it from a worker thread in an event loop. A wrong
        password counts towards the lock-out; a right one resets the count. A disabled or
        locked account gets ``None`` whatever the password, and its count does not move.
        Every outcome is audited with ``source_ip``; the failure that locks the account
        also records a ``lockout``.
        """
        with self._db() as db:
            row = db.execute("SELECT hash, enabled, failures, role FROM accounts WHERE name = ?", (name,)).fetchone()
        if row is None:
            # Spend the same time as a real check so that timing does not reveal names.
            _verify_hash(_dummy_hash(), password)
            self._login_record(name, "login_failed", "failed", source_ip, None, reason="unknown account")
            return None
        digest, enabled, failures, role = row
        if not enabled or failures >= self.max_failures:
            reason = "disabled" if not enabled else "locked"
            self._login_record(name, "login_failed", "failed", source_ip, role, reason=reason)
            return None
        if not _verify_hash(digest, password):
            with self._db() as db:
                db.execute("UPDATE accounts SET failures = failures + 1 WHERE name = ?", (name,))
            self._login_record(name, "login_failed", "failed", source_ip, role, reason="wrong password")
            if failures + 1 == self.max_failures:
                self._login_record(name, "lockout", "locked", source_ip, role, failures=failures + 1)
            return None
        with self._db() as db:
            db.execute("UPDATE accounts SET failures = 0, last_login = ? WHERE name = ?", (_now(), name))
            if _HASHER.check_needs_rehash(digest):
                db.execute("UPDATE accounts SET hash = ? WHERE name = ?", (_HASHER.hash(password), name))
            self._login_record(name, "login", "ok", source_ip, role)  # no record, no login
        return self.get(name)


@functools.cache
def _dummy_hash() -> str:
    """What an unknown name's password is checked against, so it costs as long as a known one's. Made at the
    first such login, not at import: an argon2 hash is ~0.5 s of CPU, which every process importing this
    module (the hub, the gateway, the audit service, at each restart) would otherwise pay."""
    return _HASHER.hash(secrets.token_hex(16))


def _verify_hash(digest: str, password: str) -> bool:
    try:
        return _HASHER.verify(digest, password)
    except (VerificationError, InvalidHashError):
        return False


def _role(role: Role | str) -> Role:
    try:
        return Role(role)
    except ValueError:
        raise AccountError(f"unknown role {role!r}; roles: {', '.join(r.value for r in Role)}") from None


# Account names take no "_" (NAME_PATTERN), so the field officers' demo account is "field-officer".
DEMO_ACCOUNTS: dict[str, Role] = {role.value.replace("_", "-"): role for role in Role}


def ensure_demo_accounts(store: AccountStore, credentials_file: str | os.PathLike[str]) -> Path:
    """Create the missing demo accounts (one per role: ``DEMO_ACCOUNTS``) and record their passwords.

    Each new account gets a random password, appended as ``name<TAB>role<TAB>password`` to
    ``credentials_file`` (created 0600). Accounts that exist already are left alone, so a
    second start neither changes passwords nor writes them again. Returns the file's path.
    """
    path = Path(credentials_file)
    path.parent.mkdir(parents=True, exist_ok=True)
    private_file(path)
    created: list[str] = []
    for name, role in DEMO_ACCOUNTS.items():
        if store.get(name) is None:
            password = store.add(name, role)
            created.append(f"{name}\t{role.value}\t{password}\n")
    if created:
        with open(path, "a", encoding="utf-8") as out:
            out.writelines(created)
    return path


def read_credentials(credentials_file: str | os.PathLike[str]) -> dict[str, str]:
    """Name -> password from a credentials file written by ``ensure_demo_accounts`` (last one wins)."""
    result: dict[str, str] = {}
    for line in Path(credentials_file).read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) == 3:
            result[parts[0]] = parts[2]
    return result


def platform_trail(base_dir: str | os.PathLike[str], user: str, role: str = "system") -> AuditWriter:
    """Where the account events of the hub state ``base_dir`` go, first that applies:

    the audit service named by the ``audit_socket`` setting; the stack's audit service when
    its socket exists under ``base_dir``; the ``audit_dir`` setting; ``<base_dir>/audit``
    (0700, like the account store beside it).
    """
    from workbench.security.audit_service import socket_path
    from workbench.settings import load_settings

    settings = load_settings()
    if not settings.audit_socket and socket_path(base_dir).exists():
        settings = load_settings(audit_socket=str(socket_path(base_dir)))
    if settings.audit_socket or settings.audit_dir:
        return open_trail(settings, user, role)
    return AuditTrail(Path(base_dir) / "audit", user, role, fsync=settings.audit_fsync)


def account_roles(accounts_dir: str | os.PathLike[str], ttl: float = 30.0) -> Callable[[str], str | None]:
    """Role lookup in the account store: what the audit service stamps as a peer's role.

    Answers are kept ``ttl`` seconds, so a busy kernel costs one SQLite read per half
    minute, not one per record; a ``set-role`` shows in its records within ``ttl``.
    """
    store = AccountStore(accounts_dir)
    cache: dict[str, tuple[float, str | None]] = {}

    def role(name: str) -> str | None:
        now = time.monotonic()
        hit = cache.get(name)
        if hit is None or now - hit[0] > ttl:
            account = store.get(name)
            hit = cache[name] = (now, account.role.value if account else None)
        return hit[1]

    return role


def numbered_peers(accounts_dir: str | os.PathLike[str], uid_base: int) -> Callable[[int], str | None]:
    """uid -> account name for peers with no Unix account of their own: pods that run as
    ``uid_base + AccountStore.number(name)`` (Kubernetes, where people are not Unix users)."""
    store = AccountStore(accounts_dir)

    def name(uid: int) -> str | None:
        return store.name_for_number(uid - uid_base) if uid > uid_base else None

    return name


# --- ending a person's running work after a disable or role change ------------------------

ACCOUNTS_SERVICE = "workbench-accounts"
"""The hub service (API token only, no process) the account commands stop servers and clusters with."""


def _service_file(base_dir: str | os.PathLike[str]) -> Path:
    return Path(base_dir) / "private" / "accounts_service.json"


def record_service_endpoints(state_dir: str | os.PathLike[str], endpoints: dict[str, Any]) -> None:
    """Keep where ``ACCOUNTS_SERVICE``'s APIs answer (hub, gateway, clusters), 0600 in the hub's private folder.

    Written by the hub config when it registers the service; read by the account commands
    that end a person's running work.
    """
    path = _service_file(state_dir)
    private_file(path)
    path.write_text(json.dumps(endpoints), encoding="utf-8")


def role_unix_groups(account: Account | None, unix_prefix: str) -> set[str]:
    """The supplementary Unix groups of a person's Unix user: their role's group; none when the
    account is gone, disabled or locked, or when no lake grants the group (it was never made)."""
    if account is None or not account.enabled or account.locked:
        return set()
    group = load_policy().unix_group(account.role.value, unix_prefix)
    return {group} if unix.group_id(group) is not None else set()


def sync_unix_groups(base_dir: str | os.PathLike[str], name: str, account: Account | None) -> bool:
    """Give ``name``'s Unix user the groups of ``account`` now, not at the hub's next auth refresh; True if changed.

    Run by ``workbench users disable|enable|set-role``. Published apps run as their
    publisher, and the dashboards service restarts one whose publisher's groups changed
    (``PublishedApps.watch``), so a demoted or disabled publisher's app loses the old
    role's tables within a second; a server spawned from now on starts with the new groups.
    Nothing to do when the hub never ran from ``base_dir`` or the person never logged in.
    """
    path = _service_file(base_dir)
    if not path.exists():
        return False
    prefix = str(json.loads(path.read_text(encoding="utf-8"))["unix_prefix"])
    system_user = unix.system_name(name, prefix)
    if not unix.exists(system_user):
        return False
    return unix.set_supplementary_groups(system_user, role_unix_groups(account, prefix))


def stop_running_work(base_dir: str | os.PathLike[str], name: str, audit: AuditWriter | None = None,
                      timeout: float = 60.0) -> list[str]:
    """Stop ``name``'s notebook servers (hub API) and Dask Gateway clusters (gateway API); what was stopped
    (recorded in ``audit`` as ``work_stopped`` when anything was).

    The clusters are found by their working folders, which the gateway chowns to the
    person's Unix user (the gateway's API lists a user's own clusters only). Nothing to do
    when the hub never ran from ``base_dir``; a hub that is down has nothing running.
    Raises ``AccountError`` when a stop is refused or does not finish within ``timeout``.
    """
    stopped = _stop_servers_and_clusters(base_dir, name, timeout)
    if stopped and audit is not None:
        audit.record("work_stopped", account=name, resource=f"user:{name}", stopped=stopped)
    return stopped


def service_access(base_dir: str | os.PathLike[str]) -> tuple[dict[str, Any], str] | None:
    """Where ``ACCOUNTS_SERVICE``'s APIs answer and its token; None when the hub never ran from ``base_dir``."""
    path = _service_file(base_dir)
    if not path.exists():
        return None
    token = (Path(base_dir) / "private" / "accounts_api_token").read_text().strip()
    return json.loads(path.read_text(encoding="utf-8")), token


def _stop_servers_and_clusters(base_dir: str | os.PathLike[str], name: str, timeout: float) -> list[str]:
    import requests

    access = service_access(base_dir)
    if access is None:
        return []
    endpoints, token = access
    hub = {"Authorization": f"token {token}"}
    stopped: list[str] = []
    try:
        model = requests.get(f"{endpoints['hub_api']}/users/{name}", headers=hub, timeout=10)
    except requests.ConnectionError:
        return []  # the hub is down: it stopped every server with it
    if model.status_code == 404:
        return []  # never logged in: nothing runs for them
    if model.status_code != 200:
        raise AccountError(f"hub refused to list {name!r}'s servers: {model.status_code} {model.text[:200]}")
    servers = list(model.json().get("servers") or {})
    for server in servers:
        url = f"{endpoints['hub_api']}/users/{name}/" + (f"servers/{server}" if server else "server")
        answer = requests.delete(url, headers=hub, timeout=timeout)
        if answer.status_code not in (202, 204):
            raise AccountError(f"hub refused to stop {name!r}'s server {server!r}: {answer.status_code}")
        stopped.append(f"server {server or '(default)'}")
    deadline = time.monotonic() + timeout
    while servers and time.monotonic() < deadline:
        servers = list(requests.get(f"{endpoints['hub_api']}/users/{name}", headers=hub, timeout=10)
                       .json().get("servers") or {})
        time.sleep(0.2)
    if servers:
        raise AccountError(f"{name!r}'s servers {servers} still run after {timeout:.0f} s")
    stopped += _stop_clusters(endpoints, token, name)
    return stopped


def _stop_clusters(endpoints: dict[str, Any], token: str, name: str) -> list[str]:
    """Stop the gateway clusters whose working folders belong to ``name``'s Unix user."""
    import requests

    clusters = Path(endpoints["clusters"])
    if not endpoints.get("gateway") or not clusters.is_dir():
        return []
    try:
        uid = pwd.getpwnam(f"{endpoints['unix_prefix']}{name}").pw_uid
    except KeyError:
        return []
    stopped = []
    for folder in sorted(clusters.iterdir()):
        if folder.is_dir() and folder.stat().st_uid == uid:
            answer = requests.delete(f"{endpoints['gateway']}/api/v1/clusters/{folder.name}",
                                     headers={"Authorization": f"jupyterhub {token}"}, timeout=60)
            if answer.status_code != 204:
                raise AccountError(f"gateway refused to stop cluster {folder.name}: {answer.status_code}")
            stopped.append(f"cluster {folder.name}")
    return stopped
