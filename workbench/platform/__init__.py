"""The multi-user platform: accounts, hub login, sandboxed single-user servers.

Imports of JupyterHub happen only in the modules that need it (``authenticator``,
``spawner``, ``hubconfig``), so the account store and the CLI work without the hub.
"""

from workbench.platform.accounts import (
    Account,
    AccountError,
    AccountStore,
    PasswordPolicyError,
    Role,
    check_password_policy,
    ensure_demo_accounts,
)

__all__ = [
    "Account",
    "AccountError",
    "AccountStore",
    "PasswordPolicyError",
    "Role",
    "check_password_policy",
    "ensure_demo_accounts",
]
