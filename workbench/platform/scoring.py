"""The real-time scoring service as a hub-managed service behind ``/services/scoring/``.

The hub starts ``workbench models serve <models> --hub`` (``risk.hub_access``: callers
present hub tokens carrying ``access:services!service=scoring``) and the proxy routes
``/services/scoring/`` to it. Who holds that scope:

- people whose work calls it: analysts and modellers (their notebooks' server tokens
  carry it), field officers and managers (their own API tokens, made at ``/hub/token``);
- machine clients (the clearance systems at the control points): the hub service account
  ``clearance-systems``, whose role grants that one scope and nothing else; its token is in
  the hub's 0700 private folder (``client_token_file``), handed to those systems.

The service joins the stack only when the lake holds a model registry (``make up`` runs
``workbench models up`` first); it serves each model's champion and loads a newly
promoted one without a failed request (``risk.service.Champions``).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from workbench.platform.profile import HubProfile

SERVICE_NAME = "scoring"
SERVICE_PREFIX = f"/services/{SERVICE_NAME}"
CLIENT_SERVICE = "clearance-systems"
ACCESS_SCOPE = f"access:services!service={SERVICE_NAME}"
SERVED_MODELS = ("declaration_risk", "crossing_risk")
REGISTRY_DB = Path("models") / "registry" / "mlflow.db"


def enabled(profile: HubProfile) -> bool:
    """Whether the stack runs the service: a local lake with a model registry in it."""
    lake = profile.lake or ""
    return bool(lake) and "://" not in lake.removeprefix("file://") and \
        (Path(lake.removeprefix("file://")) / REGISTRY_DB).is_file()


def client_token_file(profile: HubProfile) -> Path:
    """The machine clients' token (0600 in the hub's private folder)."""
    return profile.private_dir / "scoring_client_token"


def service_entries(profile: HubProfile, port: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The hub's ``services`` entries (the service, the machine clients' account) and their RBAC roles."""
    from workbench.platform.profile import secret_file, workbench_environment

    service = {
        "name": SERVICE_NAME,
        "url": f"http://127.0.0.1:{port}",
        "command": [str(Path(sys.executable).parent / "workbench"), "models", "serve", *SERVED_MODELS, "--hub",
                    "--prefix", SERVICE_PREFIX, "--port", str(port), "--lake", str(profile.lake)],
        "environment": {**workbench_environment(profile), "WORKBENCH_ROLE": "system", "WORKBENCH_USER": SERVICE_NAME},
        "oauth_no_confirm": True,
        "display": False,
    }
    client = {"name": CLIENT_SERVICE, "api_token": secret_file(client_token_file(profile)), "display": False}
    role = {"name": "scoring-clients", "description": "Clearance systems: score records, nothing else",
            "scopes": [ACCESS_SCOPE], "services": [CLIENT_SERVICE]}
    return [service, client], [role]


def apply(c: Any, profile: HubProfile) -> None:
    """Add the service, the machine clients' account and the people's access to the hub's config ``c``."""
    from workbench.platform.profile import free_port

    if not enabled(profile):
        return
    entries, roles = service_entries(profile, free_port())
    c.JupyterHub.services = [*c.JupyterHub.services, *entries]
    people = {"workbench-notebooks", "workbench-dashboards"}
    c.JupyterHub.load_roles = [{**r, "scopes": [*r["scopes"], ACCESS_SCOPE]} if r["name"] in people else r
                               for r in c.JupyterHub.load_roles] + roles
    if "server_token_scopes" in c.Spawner:  # a notebook's own token calls the service too
        c.Spawner.server_token_scopes = [*c.Spawner.server_token_scopes, ACCESS_SCOPE]
