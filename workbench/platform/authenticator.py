"""JupyterHub login against the workbench account store (``workbench.security.accounts``).

- The password check (argon2, deliberately slow) runs in a thread executor, so a login
  never blocks the hub's event loop for the other users.
- Disabled and locked accounts are refused even with the right password.
- The account's role comes back as the user's only JupyterHub group
  (``manage_groups = True``: groups are then owned by this authenticator, and a
  ``set-role`` takes effect at the next login or auth refresh); the hub's RBAC maps each
  group to its scopes (see ``hubconfig.py``).
- ``refresh_user`` re-reads the store, so a disabled account loses its session at the
  next refresh (``auth_refresh_age``), without waiting for its cookie to expire.
- ``add_user`` (called at login and for every known user when the hub starts) creates the
  matching Unix user ``<unix_prefix><name>`` with a private 0700 home, which the spawner
  runs the user's server as.
- Every login, refresh and ``add_user`` also sets that Unix user's supplementary groups to
  exactly its role's Unix group (``AccessPolicy.unix_group``, which the lake's ACLs
  grant; see ``security/lake_permissions.py``), none when the account is disabled; the
  spawner's setuid path (``os.getgrouplist`` + ``setgroups``) gives them to the kernel.
- Device-bound roles (field officers; ``security/devices.py``): a login registers the
  browser as a device (the name typed in the login form's ``device_name``; the hub's
  login template adds that field) unless its device cookie already names an active
  device of theirs, and sets the device cookie. ``refresh_user`` then refuses every
  cookie-authenticated hub request of theirs whose device is missing, another person's,
  revoked or idle too long (the hub asks for the password again). The hub runs
  ``refresh_user`` at most once per ``auth_refresh_age`` per user, so the config keeps
  that at 1 s; the account store itself is re-read every ``account_refresh_age``, or at once
  when it changed.
"""

from __future__ import annotations

import asyncio
import time
from functools import cached_property
from datetime import timedelta
from typing import Any

from jupyterhub.apihandlers.base import APIHandler
from jupyterhub.auth import Authenticator
from jupyterhub.scopes import needs_scope
from tornado import web
from traitlets import Bool, Float, Integer, Unicode, default

from workbench.platform import unix
from workbench.security.accounts import Account, AccountStore, Role, platform_trail, role_unix_groups
from workbench.security.devices import DEVICE_COOKIE, LOGIN, DeviceStore, Verdict, judge


class WorkbenchAuthenticator(Authenticator):
    """Per-user passwords from the workbench account store; role -> JupyterHub group."""

    accounts_dir = Unicode(config=True, help="Base folder of the account store (holds accounts/, mode 0700).")
    unix_prefix = Unicode("wb-", config=True, help="Prefix of the Unix user each account runs as.")
    home_root = Unicode("/home", config=True, help="Where the Unix users' private homes are created.")
    create_system_users = Bool(True, config=True, help="Create the Unix user at first login / hub start.")
    device_idle_minutes = Float(15.0, config=True, help="A device-bound person's session ends after this idle time.")
    account_refresh_age = Integer(300, config=True, help="Seconds between re-reads of a session's account.")

    @default("manage_groups")
    def _manage_groups(self) -> bool:
        return True

    @default("allow_all")
    def _allow_all(self) -> bool:
        # Every account in the store may log in; who may do what is RBAC's job. The store
        # is the allow list: an account that is not in it, or disabled, cannot log in.
        return True

    _store: AccountStore | None = None
    _devices: DeviceStore | None = None
    _account_checked: dict[str, tuple[float, tuple[int, ...] | None]] | None = None

    @property
    def store(self) -> AccountStore:
        if self._store is None:
            if not self.accounts_dir:
                raise ValueError("WorkbenchAuthenticator.accounts_dir is not set")
            # Logins, failures (with the address) and lock-outs go to the audit trail.
            self._store = AccountStore(self.accounts_dir, audit=platform_trail(self.accounts_dir, "hub"))
        return self._store

    @property
    def devices(self) -> DeviceStore:
        if self._devices is None:
            self._devices = DeviceStore(self.accounts_dir, audit=self.store.audit)
        return self._devices

    @cached_property
    def device_roles(self) -> frozenset[str]:
        """The roles that sign in per device (the policy's ``devices = true``), read once like the hub's RBAC."""
        from workbench.security.roles import device_roles

        return device_roles()

    def _model(self, account: Account) -> dict[str, Any]:
        return {
            "name": account.name,
            "groups": [account.role.value],
            "admin": False,  # admins get a scoped role, not the hub-wide admin flag
            "auth_state": {"role": account.role.value},
        }

    async def authenticate(self, handler: web.RequestHandler | None, data: dict[str, str]) -> dict[str, Any] | None:
        name = self.normalize_username(data.get("username", ""))
        password = data.get("password", "")
        if not name or not password:
            return None
        loop = asyncio.get_running_loop()
        address = handler.request.remote_ip if handler is not None else None
        account = await loop.run_in_executor(None, self.store.verify, name, password, address)
        if account is None:
            self.log.warning("Failed login for %r", name)
            return None
        await self._sync_unix_groups(account.name, account)
        if handler is not None and account.role.value in self.device_roles:
            await loop.run_in_executor(None, self._sign_in_device, handler, account, data.get("device_name"))
        return self._model(account)

    def _sign_in_device(self, handler: web.RequestHandler, account: Account, name: str | None) -> None:
        """Keep the browser's active device of this person, else register a new one and give it the cookie.

        A revoked device signing in again is recorded (``device_refused``: the SIEM alerts) and
        becomes a new device: whoever knows the password could clear the cookie anyway.
        """
        address = handler.request.remote_ip
        device = self.devices.find(handler.get_cookie(DEVICE_COOKIE))
        if device is not None and device.owner == account.name and device.active:
            self.devices.seen(device.device_id, address)
            return
        if device is not None and not device.active:
            self.devices.refused(device, address, LOGIN, account.role.value)
        device, secret = self.devices.register(account.name, name, handler.request.headers.get("User-Agent", ""),
                                               address, account.role.value)
        handler.set_cookie(DEVICE_COOKIE, secret, path="/", httponly=True, samesite="Lax", expires_days=365,
                           secure=handler.request.protocol == "https")
        self.log.info("New device %s (%s) for %s", device.device_id, device.name, account.name)

    async def refresh_user(self, user: Any, handler: web.RequestHandler | None = None, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        # The hub sets _token_authenticated on requests with an API token (jupyterhub.handlers.base): those
        # carry no device cookie; a revoked device's tokens are deleted instead (devices.end_sessions).
        if (handler is not None and not getattr(handler, "_token_authenticated", False)
                and role_of([g.name for g in user.groups]) in self.device_roles):
            if not await loop.run_in_executor(None, self._device_allows, handler, user.name):
                return False
        checked = self._account_checked if self._account_checked is not None else {}
        self._account_checked = checked
        stamp = self._store_stamp()
        last, last_stamp = checked.get(user.name, (float("-inf"), None))
        if time.monotonic() - last < self.account_refresh_age and stamp == last_stamp:
            return True
        account = await loop.run_in_executor(None, self.store.get, user.name)
        if account is None or not account.enabled or account.locked:
            self.log.info("Account %r is gone, disabled or locked: ending its session", user.name)
            await self._sync_unix_groups(user.name, None)
            checked.pop(user.name, None)
            return False
        await self._sync_unix_groups(user.name, account)
        checked[user.name] = (time.monotonic(), stamp)
        return self._model(account)

    def _store_stamp(self) -> tuple[int, ...]:
        """Changes whenever the account store is written (its database or write-ahead log), so a role
        change or a disabled account takes effect at the next refresh, not ``account_refresh_age`` later."""
        stamps = []
        for path in (self.store.path, self.store.path.with_name(self.store.path.name + "-wal")):
            try:
                stamps.append(path.stat().st_mtime_ns)
            except FileNotFoundError:
                stamps.append(0)
        return tuple(stamps)

    def _device_allows(self, handler: web.RequestHandler, name: str) -> bool:
        """Whether this hub request's device may go on (``devices.judge``); a revoked one's try is recorded."""
        device = self.devices.find(handler.get_cookie(DEVICE_COOKIE))
        verdict = judge(device, name, (), timedelta(minutes=self.device_idle_minutes))
        address = handler.request.remote_ip
        if verdict is Verdict.OK and device is not None:
            self.devices.seen(device.device_id, address, handler.get_cookie("jupyterhub-session-id"))
            return True
        if verdict is Verdict.REVOKED and device is not None:
            self.devices.refused(device, address, "hub")
        self.log.info("Device check for %s: %s; login required", name, verdict.value)
        return False

    def get_handlers(self, app: Any) -> list[tuple[str, Any]]:
        return [*super().get_handlers(app), (DEVICE_SESSIONS_ROUTE, DeviceSessionsHandler)]

    def system_username(self, name: str) -> str:
        return unix.system_name(name, self.unix_prefix)

    async def add_user(self, user: Any) -> None:
        if self.create_system_users:
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(None, unix.ensure_user, self.system_username(user.name), self.home_root)
            await self._sync_unix_groups(user.name, await loop.run_in_executor(None, self.store.get, user.name))
        super().add_user(user)

    async def _sync_unix_groups(self, name: str, account: Account | None) -> None:
        """The Unix user's groups := its role's group (none when gone or disabled); skipped before it exists.

        The role groups are made by whatever grants them (``workbench lake permissions``,
        run by ``platform up`` for its lake); a hub without one gives no group.
        """
        system_user = self.system_username(name)
        if not self.create_system_users or not unix.exists(system_user):
            return
        groups = role_unix_groups(account, self.unix_prefix)
        loop = asyncio.get_running_loop()
        if await loop.run_in_executor(None, unix.set_supplementary_groups, system_user, groups):
            self.log.info("Unix groups of %s set to %s", system_user, sorted(groups) or "none")


class DeviceSessionsHandler(APIHandler):  # type: ignore[misc]
    """``POST /hub/api/workbench/users/NAME/end-sessions`` ``{"sessions": [...], "personal": bool}``: delete NAME's
    tokens issued in those hub sessions (and, with ``personal``, their personal API tokens); answers ``{"deleted": n}``.

    Why a handler of the hub's own (``Authenticator.get_handlers``): the REST API's token
    DELETE removes *every* OAuth token of the token's client (all of a person's dashboards
    sessions, on every device), while a device's revocation must end that device's
    sessions only. This does what the hub's own logout does for one browser (delete the
    tokens whose ``session_id`` is the browser's), in the hub's database session. It needs
    the ``tokens`` scope on the user (the ``workbench-accounts`` service holds it).
    """

    @needs_scope("tokens")
    def post(self, user_name: str) -> None:
        user = self.find_user(user_name)
        if user is None:
            raise web.HTTPError(404, f"No such user: {user_name}")
        body = self.get_json_body() or {}
        sessions = [str(s) for s in body.get("sessions") or []]
        deleted = 0
        for token in list(user.api_tokens):
            personal = (bool(body.get("personal")) and token.session_id is None and token.client_id == "jupyterhub"
                        and not (token.note or "").startswith("Server at "))
            if (token.session_id and token.session_id in sessions) or personal:
                self.db.delete(token)
                deleted += 1
        self.db.commit()
        self.log.info("Ended %d token(s) of %s's device sessions", deleted, user_name)
        self.write({"deleted": deleted})


DEVICE_SESSIONS_ROUTE = r"/api/workbench/users/([^/]+)/end-sessions"


def role_of(groups: list[str]) -> Role | None:
    """The workbench role among a user's group names (``workbench.security.roles.role_of``: the one rule)."""
    from workbench.security.roles import role_of as policy_role

    name = policy_role(groups)
    return None if name is None else Role(name)
