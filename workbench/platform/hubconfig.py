"""Everything ``hub_config/jupyterhub_config.py`` sets, as one function over a typed profile.

The config file stays a few lines (``apply(c, HubProfile.from_env())``); the choices live
here where they are tested:

- hub and proxy on 127.0.0.1 (configurable), configurable-http-proxy from the npm prefix;
- secrets (cookie secret, proxy token) generated once into 0600 files under
  ``<state>/private`` (0700), which also holds the hub database, so no user can read the
  hashed tokens in it; ``<state>`` itself is 0755 so users can reach ``<state>/userenv``;
- ``WorkbenchAuthenticator`` over the account store ``<state>/accounts`` (0700);
  ``prepare`` (run by ``platform up``, not by loading the config) creates the demo
  accounts and writes their passwords to ``<state>/private/demo-credentials.tsv`` (0600),
  and builds the user environment: loading the config builds nothing;
- RBAC from each role's ``workspace`` in the policy (``workbench.security.roles``): the
  default ``user`` role loses ``servers`` (so nobody spawns by default); notebooks roles
  (analyst, modeller) get their own servers, dashboards roles (manager, field officer)
  only the dashboards service, admin manages users and servers but gets neither the
  hub-wide admin flag nor access to other people's notebooks;
- every role lands at its ``landing`` page after login (``landing_url``): dashboards
  roles on the dashboards home, never a 403 page; admins on the hub's admin page, whose
  template (``hub_config/templates/admin.html``) adds the security events app and the field devices page;
  the login template (``login.html``) asks a field officer's new device for its name (``security/devices.py``);
- ``WorkbenchSpawner`` running ``python -m jupyterhub.singleuser`` from the user
  environment (see ``userenv.py``) as the person's Unix user, memory-capped per role;
- jupyterhub-idle-culler as a hub service with only the scopes it needs;
- Dask Gateway as a hub-managed service behind ``/services/dask-gateway`` (see
  ``gateway.py``): analysts and modellers hold ``access:services!service=dask-gateway``,
  their servers' tokens carry it (``Spawner.server_token_scopes``), and their servers get
  ``DASK_GATEWAY__*`` so ``Gateway()`` and ``workbench.compute.cluster()`` find it;
  managers reach only the dashboards service;
- the ``dashboards`` service (``dashboards_service``): one Panel server with every app of
  ``apps/apps.toml`` under ``/services/dashboards/``, behind hub OAuth (see
  ``workbench/apps/service.py``), which runs each published app in a server of its own as
  its publisher's Unix user and relays it (``workbench/apps/published_process.py``); the servers' tokens carry its scope and their
  environment names it (``WORKBENCH_DASHBOARDS_URL``, ``WORKBENCH_HUB_TOKEN``) for
  ``workbench publish``;
- ``WORKBENCH_LAKE`` for the servers (and the dashboards) when the profile names a lake.

The profile's knobs are ``WORKBENCH_HUB_*`` settings (``workbench.settings.HubSettings``).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any

from workbench.platform import gateway, scoring
from workbench.platform.profile import (
    DASHBOARDS_PREFIX,
    DASHBOARDS_SERVICE,
    KERNELS,
    NOTEBOOKS,
    TEMPLATES,
    HubProfile,
    audit_socket_environment,
    free_port,
    secret_file,
    workbench_environment,
)
from workbench.security import roles as role_facts
from workbench.security.accounts import ACCOUNTS_SERVICE, AccountStore, ensure_demo_accounts, record_service_endpoints
from workbench.platform.authenticator import WorkbenchAuthenticator
from workbench.platform.spawner import WorkbenchSpawner
from workbench.platform.supervised_hub import hand_over
from workbench.platform.userenv import build_user_env, singleuser_cmd
from workbench.settings import load_settings
from workbench.siem.log_formats import HUB_LOG_FORMAT

LAUNCHER_ENTRIES = f"""# JupyterLab launcher tiles (jupyter-app-launcher), found through JUPYTER_PATH.
- title: Dashboards
  description: The published dashboards (risk overview, lookup, network explorer, labelling, ...)
  source: {DASHBOARDS_PREFIX}/
  type: url
  catalog: Customs Workbench
  args:
    createNewWindow: true
"""


def prepare(profile: HubProfile) -> None:
    """Everything the hub needs made before it starts (``platform up`` runs it; the config only reads):
    state folders, the user environment with its kernelspec, and the demo accounts."""
    prepare_state(profile)
    if profile.demo_accounts:
        ensure_demo_accounts(AccountStore(profile.state_dir), profile.credentials_file)


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
    launcher = profile.user_env / "extra" / "jupyter_app_launcher"
    launcher.mkdir(parents=True, exist_ok=True)
    (launcher / "jp_app_launcher_workbench.yaml").write_text(LAUNCHER_ENTRIES, encoding="utf-8")
    os.chmod(launcher / "jp_app_launcher_workbench.yaml", 0o644)
    for folder in [profile.user_env / "extra", kernels, *kernels.iterdir(), launcher]:
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
            "groups": sorted(role_facts.roles_with("notebooks")),
        },
        {
            "name": "workbench-dashboards",
            "description": "Managers and field officers: published dashboards (hub services) only",
            "scopes": [f"access:services!service={DASHBOARDS_SERVICE}"],
            "groups": sorted(role_facts.roles_with("dashboards")),
        },
        {
            "name": "workbench-admin",
            "description": "Administrators: users and servers, not other people's notebooks",
            "scopes": ["admin-ui", "admin:users", "admin:servers", "list:users", "read:groups",
                       "read:roles", "list:services", "read:services", "read:hub",
                       f"access:services!service={DASHBOARDS_SERVICE}"],
            "groups": sorted(role_facts.roles_with("admin")),
        },
    ]
    if idle_culler:
        roles.append({
            "name": "idle-culler",
            "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
            "services": ["idle-culler"],
        })
    return roles


def landing_url(handler: Any) -> str:
    """``JupyterHub.default_url``: where a person lands after login, by role (``landing`` in the policy).

    Falsy for an anonymous request, so the hub's own flow (the login page) goes on.
    """
    user = handler.current_user
    if user is None:
        return ""
    path = role_facts.landing(role_facts.role_of(g.name for g in user.groups))
    return str(handler.base_url).rstrip("/") + path


def apply(c: Any, profile: HubProfile) -> None:
    """Set the hub's traitlets config ``c`` for ``profile``.

    Reads what ``prepare`` made; builds nothing. Only a missing secret file is generated
    (``secret_file``), so a bare config load still gives a working hub.
    """
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
    c.JupyterHub.log_format = HUB_LOG_FORMAT  # parsed by the SIEM's hub collector
    c.JupyterHub.cleanup_servers = True
    c.JupyterHub.default_url = landing_url
    c.JupyterHub.template_paths = [str(TEMPLATES)]
    c.JupyterHub.template_vars = {"security_events_url": f"{DASHBOARDS_PREFIX}/security-events",
                                  "devices_url": f"{DASHBOARDS_PREFIX}/devices"}

    c.ConfigurableHTTPProxy.command = [profile.proxy_command]
    c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{profile.proxy_api_port}"
    c.ConfigurableHTTPProxy.auth_token = secret_file(private / "proxy_token")
    c.ConfigurableHTTPProxy.pid_file = str(private / "proxy.pid")

    c.JupyterHub.authenticator_class = WorkbenchAuthenticator
    c.WorkbenchAuthenticator.accounts_dir = str(profile.state_dir)
    c.WorkbenchAuthenticator.unix_prefix = profile.unix_prefix
    c.WorkbenchAuthenticator.home_root = str(profile.home_root)
    c.Authenticator.allow_all = True  # the account store is the allow list (see authenticator.py)
    # refresh_user runs at most this often per user: it checks a field officer's device (revoked, idle) on
    # every cookie request past it and re-reads the account store every account_refresh_age (300 s).
    c.Authenticator.auth_refresh_age = 1
    c.WorkbenchAuthenticator.device_idle_minutes = load_settings().device_idle_minutes
    c.Authenticator.refresh_pre_spawn = True

    c.JupyterHub.load_roles = rbac_roles()

    c.JupyterHub.spawner_class = WorkbenchSpawner
    c.WorkbenchSpawner.unix_prefix = profile.unix_prefix
    c.WorkbenchSpawner.cgroup_parent = profile.cgroup_parent
    c.WorkbenchSpawner.role_mem_limits = profile.role_mem_limits
    c.WorkbenchSpawner.starter_notebooks = str(NOTEBOOKS)
    c.Spawner.cmd = singleuser_cmd(profile.user_env / "bin" / "python")
    c.Spawner.ip = "127.0.0.1"
    c.Spawner.default_url = "/lab"
    environment: dict[str, Any] = {"JUPYTER_PATH": str(profile.user_env / "extra"), **workbench_environment(profile),
                                   **audit_socket_environment()}
    # The server's $JUPYTERHUB_API_TOKEN: what Gateway(auth="jupyterhub") and `workbench publish`
    # send, so it carries their services' scopes and the user's groups (per-role limits read them).
    token_scopes = ["access:servers!server", "users:activity!user", "read:users:groups!user", "read:users:name!user"]
    if profile.gateway:
        environment.update(gateway.single_user_environment(profile))
        token_scopes = gateway.server_token_scopes()
    if profile.dashboards:
        token_scopes = [*token_scopes, f"access:services!service={DASHBOARDS_SERVICE}"]
        environment["WORKBENCH_DASHBOARDS_URL"] = f"http://{profile.ip}:{profile.port}{DASHBOARDS_PREFIX}"
        environment["WORKBENCH_HUB_TOKEN"] = server_api_token
    if profile.gateway or profile.dashboards:
        c.Spawner.server_token_scopes = token_scopes
    c.Spawner.environment = environment
    c.Spawner.start_timeout = 60
    c.Spawner.http_timeout = 60

    c.JupyterHub.services = [{
        "name": "idle-culler",
        "command": [sys.executable, "-m", "jupyterhub_idle_culler", f"--timeout={profile.idle_timeout}"],
    }]
    if profile.gateway:
        c.JupyterHub.services.append(gateway.service_definition(profile))
    if profile.dashboards:
        c.JupyterHub.services.append(dashboards_service(profile))
    # `workbench users disable|set-role` stop the person's servers and clusters with this service's token.
    accounts_entry, accounts_role = accounts_service(profile)
    c.JupyterHub.services.append(accounts_entry)
    c.JupyterHub.load_roles = [*c.JupyterHub.load_roles, accounts_role]
    scoring.apply(c, profile)  # the models' champions behind /services/scoring/, when the lake has a registry
    if profile.supervised:
        hand_over(c, profile)


def server_api_token(spawner: Any) -> str:
    """The server's own hub token (``$JUPYTERHUB_API_TOKEN``), as ``WORKBENCH_HUB_TOKEN`` for the settings."""
    return str(spawner.api_token)


def accounts_service(profile: HubProfile) -> tuple[dict[str, Any], dict[str, Any]]:
    """The hub's ``services`` entry and RBAC role of ``ACCOUNTS_SERVICE``; records where its APIs answer.

    Its token may list users and stop their servers (``delete:servers``), and reach the
    gateway, which lets this one service stop anyone's cluster
    (``gateway.HubTokenAuthenticator``). The token and the endpoints live in the hub's 0700
    private folder, so only root (the administrator running ``workbench users``) uses them.
    """
    token = secret_file(profile.private_dir / "accounts_api_token")
    endpoints = {"hub_api": f"http://127.0.0.1:{profile.hub_port}/hub/api",
                 "gateway": f"http://127.0.0.1:{profile.gateway_port}{gateway.SERVICE_PREFIX}" if profile.gateway else None,
                 "clusters": str(profile.state_dir / "gateway" / "clusters"), "unix_prefix": profile.unix_prefix}
    record_service_endpoints(profile.state_dir, endpoints)
    # tokens: `workbench devices revoke` deletes a revoked device's session tokens (security/devices.py)
    scopes = ["list:users", "read:users", "read:servers", "delete:servers", "tokens"]
    if profile.gateway:
        scopes.append(f"access:services!service={gateway.SERVICE_NAME}")
    return ({"name": ACCOUNTS_SERVICE, "api_token": token, "display": False},
            {"name": ACCOUNTS_SERVICE, "description": "workbench users disable/set-role: stop a person's running work",
             "scopes": scopes, "services": [ACCOUNTS_SERVICE]})


def dashboards_service(profile: HubProfile) -> dict[str, Any]:
    """The hub's ``services`` entry for the dashboards: hub-managed, behind ``/services/dashboards/``.

    ``oauth_no_confirm``: the hub's own dashboards need no "allow access?" page. The OAuth
    tokens it gets carry the hub's default identify scopes (name and groups: the role), no
    more. The process runs with the servers' ``WORKBENCH_*`` settings and the least
    privileged role as its own (each document is built with its viewer's role). Being the
    hub's user (root), it starts each published app's server as its publisher, from
    ``<state>/dashboards-apps`` with the user environment's interpreter (both derived from
    the ``WORKBENCH_HUB_*`` profile it gets), and stops them when the hub stops it.
    """
    port = profile.dashboards_port or free_port()
    folder = profile.dashboards_dir
    folder.mkdir(mode=0o700, exist_ok=True)
    os.chmod(folder, 0o700)
    secret = profile.private_dir / "dashboards_cookie_secret"
    secret_file(secret)
    origins = {f"{profile.ip}:{profile.port}", f"localhost:{profile.port}"}
    return {
        "name": DASHBOARDS_SERVICE,
        "url": f"http://127.0.0.1:{port}",
        "command": [str(Path(sys.executable).parent / "workbench"), "apps", "hub-service", "--port", str(port),
                    "--prefix", DASHBOARDS_PREFIX, "--published", str(folder / "published"),
                    "--cookie-secret-file", str(secret), *[f"--origin={o}" for o in sorted(origins)]],
        "environment": {**profile.to_env(), **workbench_environment(profile), **audit_socket_environment(),
                        "WORKBENCH_ROLE": "manager", "WORKBENCH_USER": DASHBOARDS_SERVICE, "HOME": str(folder),
                        "WORKBENCH_DEVICE_IDLE_MINUTES": str(load_settings().device_idle_minutes)},
        "oauth_no_confirm": True,
        "display": True,
        "timeout": 120,  # importing Panel takes a while on a busy machine; the hub exits if this passes
    }
