"""The hub's side of supervision: a supervised hub starts no proxy and no service of its own.

supervisord (``workbench.platform.stack``) runs the proxy and the hub's services; the hub
config (``hubconfig.apply``) hands them over here, turning each hub-managed service into an
external one at the address supervisord's copy answers on. Kept apart from the stack so the
hub config never imports the stack that starts it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from workbench.platform.profile import HubProfile, secret_file

ROUTE_CHECK_SECONDS = 3
"""How often the hub compares its routes with the proxy's (``JupyterHub.last_activity_interval``):
the longest a restarted proxy serves without a notebook's route."""


def hand_over(c: Any, profile: HubProfile) -> None:
    """The hub's side of supervision (``hubconfig.apply`` calls it for a supervised hub): start no proxy
    and no service; compare routes with the proxy every ``ROUTE_CHECK_SECONDS``."""
    c.ConfigurableHTTPProxy.should_start = False
    c.JupyterHub.last_activity_interval = ROUTE_CHECK_SECONDS
    urls = supervised_urls(profile)
    c.JupyterHub.services = [_external(service, profile, urls) for service in c.JupyterHub.services]


def _external(service: dict[str, Any], profile: HubProfile, urls: dict[str, str]) -> dict[str, Any]:
    """A hub-managed service entry as an external one: where supervisord's copy answers and its token,
    no command. (A service that picks a free port each time the config is read would otherwise
    be routed to a port nothing listens on.)"""
    if "command" not in service:
        return service
    kept = {k: v for k, v in service.items() if k not in ("command", "environment", "cwd", "user")}
    if service["name"] in urls:
        kept["url"] = urls[service["name"]]
    return {**kept, "api_token": service_token(service, profile)}


def urls_file(profile: HubProfile) -> Path:
    return profile.private_dir / "supervised_services.json"


def supervised_urls(profile: HubProfile) -> dict[str, str]:
    try:
        return dict(json.loads(urls_file(profile).read_text()))
    except (OSError, ValueError):
        return {}


def service_token(service: dict[str, Any], profile: HubProfile) -> str:
    return str(service.get("api_token") or secret_file(profile.private_dir / f"{service['name']}_service_token"))
