"""Who may score when the service runs as a hub service: any hub token carrying its access scope.

As a hub-managed service behind ``/services/scoring/``, the service trusts the hub, not a
shared secret: a person's own API token (a notebook's ``$JUPYTERHUB_API_TOKEN``, or one
made at ``/hub/token``) and a machine client's token (a hub service account such as
``clearance-systems``, whose role grants only ``access:services!service=scoring``) are
both resolved by the hub (JupyterHub's ``HubAuth``: one API call, cached 5 minutes) and
must carry ``access:services!service=<this service>``. The caller's hub name goes to the
access log; the token never does.
"""

from __future__ import annotations

from collections import OrderedDict

from jupyterhub.services.auth import HubAuth, check_scopes

from workbench.risk.service import Authorize
from workbench.security.access_log import ANONYMOUS_CALLER

KNOWN_CALLERS = 4096
"""Authorization headers whose caller the access log can name (most recent first out)."""


class HubCallers:
    """The hub's verdict per ``Authorization`` header (``token X`` or ``Bearer X``), cached for the log."""

    def __init__(self, hub_auth: HubAuth | None = None) -> None:
        self.hub_auth = hub_auth or HubAuth(cache_max_age=300)
        self.names: OrderedDict[bytes, str] = OrderedDict()

    async def authorize(self, authorization: bytes) -> str | None:
        kind, _, token = authorization.decode("latin-1").partition(" ")
        if kind.lower() not in ("token", "bearer") or not token.strip():
            return None
        model = await self.hub_auth.user_for_token(token.strip(), sync=False)
        if not model:
            return None
        scopes = set(model.get("scopes") or [])
        if not self.hub_auth.access_scopes or not check_scopes(self.hub_auth.access_scopes, scopes):
            return None  # no access scope known (not started by the hub): nobody, rather than every hub token
        name = str(model["name"]) if model.get("kind", "user") == "user" else f"service:{model['name']}"
        self.names[authorization] = name
        self.names.move_to_end(authorization)
        while len(self.names) > KNOWN_CALLERS:
            self.names.popitem(last=False)
        return name

    def identify(self, authorization: bytes) -> str:
        """The caller's hub name for the access log (anonymous when the hub refused the header)."""
        return self.names.get(authorization, ANONYMOUS_CALLER)


def hub_authorize() -> tuple[Authorize, HubCallers]:
    """The authorizer of a hub-managed service (configured from the hub's ``JUPYTERHUB_*`` variables)."""
    callers = HubCallers()
    return callers.authorize, callers
