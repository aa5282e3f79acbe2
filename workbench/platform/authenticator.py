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
"""

from __future__ import annotations

import asyncio
from typing import Any

from jupyterhub.auth import Authenticator
from tornado import web
from traitlets import Bool, Unicode, default

from workbench.platform import unix
from workbench.security.accounts import Account, AccountStore, Role, platform_trail, role_unix_groups


class WorkbenchAuthenticator(Authenticator):
    """Per-user passwords from the workbench account store; role -> JupyterHub group."""

    accounts_dir = Unicode(config=True, help="Base folder of the account store (holds accounts/, mode 0700).")
    unix_prefix = Unicode("wb-", config=True, help="Prefix of the Unix user each account runs as.")
    home_root = Unicode("/home", config=True, help="Where the Unix users' private homes are created.")
    create_system_users = Bool(True, config=True, help="Create the Unix user at first login / hub start.")

    @default("manage_groups")
    def _manage_groups(self) -> bool:
        return True

    @default("allow_all")
    def _allow_all(self) -> bool:
        # Every account in the store may log in; who may do what is RBAC's job. The store
        # is the allow list: an account that is not in it, or disabled, cannot log in.
        return True

    _store: AccountStore | None = None

    @property
    def store(self) -> AccountStore:
        if self._store is None:
            if not self.accounts_dir:
                raise ValueError("WorkbenchAuthenticator.accounts_dir is not set")
            # Logins, failures (with the address) and lock-outs go to the audit trail.
            self._store = AccountStore(self.accounts_dir, audit=platform_trail(self.accounts_dir, "hub"))
        return self._store

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
        return self._model(account)

    async def refresh_user(self, user: Any, handler: web.RequestHandler | None = None, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        account = await loop.run_in_executor(None, self.store.get, user.name)
        if account is None or not account.enabled or account.locked:
            self.log.info("Account %r is gone, disabled or locked: ending its session", user.name)
            await self._sync_unix_groups(user.name, None)
            return False
        await self._sync_unix_groups(user.name, account)
        return self._model(account)

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


def role_of(groups: list[str]) -> Role | None:
    """The workbench role among a user's group names (``workbench.security.roles.role_of``: the one rule)."""
    from workbench.security.roles import role_of as policy_role

    name = policy_role(groups)
    return None if name is None else Role(name)
