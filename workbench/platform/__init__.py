"""The multi-user platform: hub login, sandboxed single-user servers, the gateway, the stack.

The account store it logs people in against is governance, not platform
(``workbench.security.accounts``). Imports of JupyterHub happen only in the modules that
need it (``authenticator``, ``spawner``, ``hubconfig``), so the CLI works without the hub.
"""
