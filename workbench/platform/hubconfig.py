"""Everything ``hub_config/jupyterhub_config.py`` sets, as one function over a typed profile.

The config file stays a few lines (``apply(c, HubProfile.from_env())``); the choices live
here where they are tested:

- hub and proxy on 127.0.0.1 (configurable), configurable-http-proxy from the npm prefix;
- secrets (cookie secret, proxy token) generated once into 0600 files under
  ``<state>/private`` (0700), which also holds the hub database, so no user can read the
  hashed tokens in it; ``<state>`` itself is 0755 so users can reach ``<state>/userenv``;
- ``WorkbenchAuthenticator`` over the account store ``<state>/accounts`` (0700); the first
  start creates the demo accounts and writes their passwords to
  ``<state>/private/demo-credentials.tsv`` (0600);
- RBAC: the default ``user`` role loses ``servers`` (so nobody spawns by default); groups
  analyst and modeller get their own servers, manager only services (dashboards), admin
  manages users and servers but gets neither the hub-wide admin flag nor access to other
  people's notebooks;
- ``WorkbenchSpawner`` running ``python -m jupyterhub.singleuser`` from the user
  environment (see ``userenv.py``) as the person's Unix user, memory-capped per role;
- jupyterhub-idle-culler as a hub service with only the scopes it needs;
- Dask Gateway as a hub-managed service behind ``/services/dask-gateway`` (see
  ``gateway.py``): analysts and modellers hold ``access:services!service=dask-gateway``,
  their servers' tokens carry it (``Spawner.server_token_scopes``), and their servers get
  ``DASK_GATEWAY__*`` so ``Gateway()`` and ``workbench.compute.cluster()`` find it;
  managers reach only the dashboards service;
- ``WORKBENCH_LAKE`` for the servers when the profile names a lake.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.platform.accounts import AccountStore, ensure_demo_accounts
from workbench.platform import gateway
from workbench.platform.authenticator import WorkbenchAuthenticator
from workbench.platform.spawner import DEFAULT_ROLE_LIMITS, WorkbenchSpawner
from workbench.platform.userenv import build_user_env, singleuser_cmd

REPO = Path(__file__).resolve().parents[2]
DEFAULT_PROXY = REPO / "var" / "npm" / "node_modules" / ".bin" / "configurable-http-proxy"
DEFAULT_STATE = REPO / "var" / "hub"
KERNELS = REPO / "kernels"
GATEWAY_CONFIG = REPO / "hub_config" / "dask_gateway_config.py"
DASHBOARDS_SERVICE = "dashboards"


@dataclass
class HubProfile:
    """The local profile's knobs; every field has a safe one-machine default."""

    state_dir: Path = DEFAULT_STATE
    ip: str = "127.0.0.1"
    port: int = 8000
    hub_port: int = 8081
    proxy_api_port: int = 8001
    proxy_command: str = str(DEFAULT_PROXY)
    home_root: Path = Path("/home")
    unix_prefix: str = "wb-"
    cgroup_parent: str = ""
    role_mem_limits: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_ROLE_LIMITS))
    idle_timeout: int = 3600
    demo_accounts: bool = True
    log_level: str = "INFO"
    gateway: bool = True
    gateway_port: int = 8002
    gateway_api_port: int = 8003
    gateway_tcp_port: int = 8004
    gateway_idle_timeout: int = 1800
    gateway_config_file: Path = GATEWAY_CONFIG
    lake: str | None = None
    audit_dir: str | None = None

    @classmethod
    def from_env(cls) -> HubProfile:
        """The profile from ``WORKBENCH_HUB_*`` variables.

        NOTE: this is the one place outside ``workbench/settings.py`` that reads the
        environment: the hub's config file runs in JupyterHub's process, not in a
        workbench session. To be replaced by hub fields on ``Settings`` once they exist.
        """
        env = os.environ
        profile = cls()
        if v := env.get("WORKBENCH_HUB_STATE"):
            profile.state_dir = Path(v)
        if v := env.get("WORKBENCH_HUB_IP"):
            profile.ip = v
        for name in ("port", "hub_port", "proxy_api_port", "idle_timeout", "gateway_port",
                     "gateway_api_port", "gateway_tcp_port", "gateway_idle_timeout"):
            if v := env.get(f"WORKBENCH_HUB_{name.upper()}"):
                setattr(profile, name, int(v))
        if v := env.get("WORKBENCH_HUB_PROXY_COMMAND"):
            profile.proxy_command = v
        if v := env.get("WORKBENCH_HUB_HOME_ROOT"):
            profile.home_root = Path(v)
        if v := env.get("WORKBENCH_HUB_UNIX_PREFIX"):
            profile.unix_prefix = v
        if v := env.get("WORKBENCH_HUB_CGROUP_PARENT"):
            profile.cgroup_parent = v
        if v := env.get("WORKBENCH_HUB_DEMO_ACCOUNTS"):
            profile.demo_accounts = v.lower() not in {"0", "false", "no"}
        if v := env.get("WORKBENCH_HUB_LOG_LEVEL"):
            profile.log_level = v
        if v := env.get("WORKBENCH_HUB_GATEWAY"):
            profile.gateway = v.lower() not in {"0", "false", "no"}
        if v := env.get("WORKBENCH_HUB_LAKE"):
            profile.lake = v
        if v := env.get("WORKBENCH_HUB_AUDIT_DIR"):
            profile.audit_dir = v
        return profile

    def to_env(self) -> dict[str, str]:
        """The ``WORKBENCH_HUB_*`` variables that give ``from_env`` this profile back.

        The hub hands them to the services it starts (the gateway reads the same profile).
        """
        env = {
            "WORKBENCH_HUB_STATE": str(self.state_dir),
            "WORKBENCH_HUB_IP": self.ip,
            "WORKBENCH_HUB_PROXY_COMMAND": self.proxy_command,
            "WORKBENCH_HUB_HOME_ROOT": str(self.home_root),
            "WORKBENCH_HUB_UNIX_PREFIX": self.unix_prefix,
            "WORKBENCH_HUB_CGROUP_PARENT": self.cgroup_parent,
            "WORKBENCH_HUB_DEMO_ACCOUNTS": "1" if self.demo_accounts else "0",
            "WORKBENCH_HUB_LOG_LEVEL": self.log_level,
            "WORKBENCH_HUB_GATEWAY": "1" if self.gateway else "0",
        }
        for name in ("port", "hub_port", "proxy_api_port", "idle_timeout", "gateway_port",
                     "gateway_api_port", "gateway_tcp_port", "gateway_idle_timeout"):
            env[f"WORKBENCH_HUB_{name.upper()}"] = str(getattr(self, name))
        if self.lake:
            env["WORKBENCH_HUB_LAKE"] = self.lake
        if self.audit_dir:
            env["WORKBENCH_HUB_AUDIT_DIR"] = self.audit_dir
        return env

    @property
    def private_dir(self) -> Path:
        return self.state_dir / "private"

    @property
    def credentials_file(self) -> Path:
        return self.private_dir / "demo-credentials.tsv"

    @property
    def user_env(self) -> Path:
        return self.state_dir / "userenv"


def secret_file(path: Path, nbytes: int = 32) -> str:
    """The hex secret in ``path``, generated into a new 0600 file on first use."""
    if not path.exists():
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(nbytes))
    os.chmod(path, 0o600)
    return path.read_text().strip()


def prepare_state(profile: HubProfile) -> None:
    """Create the state folders with their modes; build the user environment."""
    profile.state_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(profile.state_dir, 0o755)
    profile.private_dir.mkdir(exist_ok=True)
    os.chmod(profile.private_dir, 0o700)
    build_user_env(profile.user_env)
    # The "Customs Workbench" kernelspec, found by servers through JUPYTER_PATH.
    kernels = profile.user_env / "extra" / "kernels"
    for spec in KERNELS.glob("*/kernel.json"):
        target = kernels / spec.parent.name
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy2(spec, target / "kernel.json")
        os.chmod(target / "kernel.json", 0o644)
    for folder in [profile.user_env / "extra", kernels, *kernels.iterdir()]:
        os.chmod(folder, 0o755)


def rbac_roles(idle_culler: bool = True) -> list[dict[str, Any]]:
    """The hub's roles: what each workbench group may do.

    Service access is per service: a manager's token does not reach the Dask Gateway
    (which checks ``access:services!service=dask-gateway`` itself).
    """
    roles: list[dict[str, Any]] = [
        {
            # Every logged-in user: see themselves, manage their own tokens; no servers.
            "name": "user",
            "scopes": ["read:users!user", "users:activity!user", "tokens!user", "read:tokens!user"],
        },
        {
            "name": "workbench-notebooks",
            "description": "Analysts and modellers: their own notebook server and the platform services",
            "scopes": ["servers!user", "read:servers!user", "access:servers!user",
                       f"access:services!service={gateway.SERVICE_NAME}",
                       f"access:services!service={DASHBOARDS_SERVICE}"],
            "groups": ["analyst", "modeller"],
        },
        {
            "name": "workbench-dashboards",
            "description": "Managers: published dashboards (hub services) only",
            "scopes": [f"access:services!service={DASHBOARDS_SERVICE}"],
            "groups": ["manager"],
        },
        {
            "name": "workbench-admin",
            "description": "Administrators: users and servers, not other people's notebooks",
            "scopes": ["admin-ui", "admin:users", "admin:servers", "list:users", "read:groups",
                       "read:roles", "list:services", "read:services", "read:hub",
                       f"access:services!service={DASHBOARDS_SERVICE}"],
            "groups": ["admin"],
        },
    ]
    if idle_culler:
        roles.append({
            "name": "idle-culler",
            "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
            "services": ["idle-culler"],
        })
    return roles


def apply(c: Any, profile: HubProfile) -> None:
    """Set the hub's traitlets config ``c`` for ``profile`` (creating state and secrets)."""
    prepare_state(profile)
    private = profile.private_dir

    c.JupyterHub.ip = profile.ip
    c.JupyterHub.port = profile.port
    c.JupyterHub.hub_ip = "127.0.0.1"
    c.JupyterHub.hub_port = profile.hub_port
    c.JupyterHub.db_url = f"sqlite:///{private / 'jupyterhub.sqlite'}"
    c.JupyterHub.cookie_secret_file = str(private / "cookie_secret")
    secret_file(private / "cookie_secret")
    c.JupyterHub.pid_file = str(private / "jupyterhub.pid")
    c.JupyterHub.log_level = profile.log_level
    c.JupyterHub.cleanup_servers = True

    c.ConfigurableHTTPProxy.command = [profile.proxy_command]
    c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{profile.proxy_api_port}"
    c.ConfigurableHTTPProxy.auth_token = secret_file(private / "proxy_token")
    c.ConfigurableHTTPProxy.pid_file = str(private / "proxy.pid")

    c.JupyterHub.authenticator_class = WorkbenchAuthenticator
    c.WorkbenchAuthenticator.accounts_dir = str(profile.state_dir)
    c.WorkbenchAuthenticator.unix_prefix = profile.unix_prefix
    c.WorkbenchAuthenticator.home_root = str(profile.home_root)
    c.Authenticator.allow_all = True  # the account store is the allow list (see authenticator.py)
    c.Authenticator.auth_refresh_age = 300
    c.Authenticator.refresh_pre_spawn = True
    if profile.demo_accounts:
        ensure_demo_accounts(AccountStore(profile.state_dir), profile.credentials_file)

    c.JupyterHub.load_roles = rbac_roles()

    c.JupyterHub.spawner_class = WorkbenchSpawner
    c.WorkbenchSpawner.unix_prefix = profile.unix_prefix
    c.WorkbenchSpawner.cgroup_parent = profile.cgroup_parent
    c.WorkbenchSpawner.role_mem_limits = profile.role_mem_limits
    c.Spawner.cmd = singleuser_cmd(profile.user_env / "bin" / "python")
    c.Spawner.ip = "127.0.0.1"
    c.Spawner.default_url = "/lab"
    environment = {"JUPYTER_PATH": str(profile.user_env / "extra")}
    if profile.lake:
        environment["WORKBENCH_LAKE"] = profile.lake
    if profile.audit_dir:  # must be appendable by the users (see the security issue)
        environment["WORKBENCH_AUDIT_DIR"] = profile.audit_dir
    if profile.gateway:
        environment.update(gateway.single_user_environment(profile))
        # The server's $JUPYTERHUB_API_TOKEN (what Gateway(auth="jupyterhub") sends) gets
        # the gateway scope and the user's groups (the gateway's per-role limits read them).
        c.Spawner.server_token_scopes = [
            "access:servers!server", "users:activity!user", "read:users:groups!user",
            "read:users:name!user", f"access:services!service={gateway.SERVICE_NAME}",
        ]
    c.Spawner.environment = environment
    c.Spawner.start_timeout = 60
    c.Spawner.http_timeout = 60

    c.JupyterHub.services = [{
        "name": "idle-culler",
        "command": [sys.executable, "-m", "jupyterhub_idle_culler", f"--timeout={profile.idle_timeout}"],
    }]
    if profile.gateway:
        c.JupyterHub.services.append(gateway.service_definition(profile))
