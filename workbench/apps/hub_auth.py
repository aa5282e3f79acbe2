"""Hub OAuth for the dashboards service: every HTTP and websocket request is a hub user, or nobody.

Built on JupyterHub's own ``HubOAuth`` (``jupyterhub.services.auth``), which reads the
``JUPYTERHUB_*`` variables the hub gives a managed service (API URL and token, OAuth
client id, callback URL, service prefix):

- ``HubViewerAuth`` is the Bokeh ``AuthProvider`` of the Panel server: ``get_user_async``
  resolves the request's hub cookie (or ``Authorization: token ...``) to the hub user
  model, asynchronously and cached by ``HubOAuth``; requests whose token lacks
  ``access:services!service=dashboards`` count as anonymous. Bokeh then redirects
  anonymous page requests to ``login_url`` and Panel refuses anonymous websockets (403).
- ``LoginHandler`` (``<prefix>/login``) starts the OAuth dance: state cookie, PKCE when
  the hub asks for it, redirect to the hub's authorize URL, which sends a visitor without
  a hub session to ``/hub/login``. ``CallbackHandler`` (``<prefix>/oauth_callback``)
  finishes it and sets the service's own cookie (scoped to the service prefix). Logins
  may run side by side in one browser (``SideBySideOAuth``).

Why not Panel's ``--oauth-provider generic``: it keeps the user in Panel's own cookie and
knows nothing of the hub's groups or of token-authenticated API calls; HubOAuth gives the
hub user model (name, groups, scopes) for browser and API requests alike.

Field officers' requests also pass their device's check (revoked: 403; idle or not a
registered device: anonymous, so the hub asks for the password; ``field_devices.py``).

The viewer (name and workbench role, from the user's hub groups) is stored on the tornado
request so ``viewer_payload`` can put it in the Bokeh session token, where the app's
document finds it when it is built (``DashboardHandler``).

A published app's own server (``published_server.py``, running as its publisher) sees no
hub credential at all: the service strips the cookie and ``Authorization`` header and
names the viewer it checked in ``X-Workbench-Viewer``, which ``ForwardedViewerAuth``
reads. That header is trusted because only root (the service) and the publisher can
connect to the app's socket; the publisher can only fool their own app.
"""

from __future__ import annotations

import json
import os
import secrets
from typing import Any
from urllib.parse import quote, urlsplit

from bokeh.server.auth_provider import AuthProvider
from jupyterhub.services.auth import HubOAuth, HubOAuthCallbackHandler, check_scopes
from jupyterhub.utils import get_browser_protocol
from tornado.httputil import url_concat
from tornado.web import RequestHandler

from workbench.apps.field_devices import DeviceGuard
from workbench.apps.specs import Viewer
from workbench.platform.authenticator import role_of

VIEWER_KEY = "workbench_viewer"
VIEWER_HEADER = "X-Workbench-Viewer"
LOGIN_PATH = "/login"
CALLBACK_PATH = "/oauth_callback"


class SideBySideOAuth(HubOAuth):
    """HubOAuth whose concurrent logins in one browser do not undo each other.

    JupyterHub 6.1 names a login's state cookie by a fixed name unless one is already set
    in the request, and every callback clears all state cookies before it compares. Two
    frames of one page that sign in at once (the hub's admin page shows the security
    events and the field devices) send their logins together, both take the fixed name,
    the second overwrites the first, and each callback then fails the other: "403 oauth
    state does not match" in both frames (seen in the first-hour test and its CI run).
    Here every login has a cookie of its own, named in its state, and a callback clears
    only that one.
    """

    def set_state_cookie(self, handler: RequestHandler, next_url: str | None = None, *,
                         code_verifier: str | None = None) -> str:
        cookie_name = f"{self.state_cookie_name}-{secrets.token_hex(6)}"
        extra = {"cookie_name": cookie_name, **({"code_verifier": code_verifier} if code_verifier else {})}
        state_id = self.generate_state(next_url, **extra)
        secure = urlsplit(os.getenv("JUPYTERHUB_PUBLIC_URL") or "").scheme == "https" \
            or get_browser_protocol(handler.request) == "https"
        options = {key: value for key, value in self.cookie_options.items()
                   if key.lower() not in {"path", "httponly", "max_age", "secure", "expires_days", "expires"}}
        handler.set_secure_cookie(cookie_name, state_id, path=self.cookie_path, httponly=True, max_age=600,
                                  **({"secure": True} if secure else {}), **options)
        return state_id

    def clear_oauth_state_cookies(self, handler: RequestHandler) -> None:
        state = handler.get_argument("state", None)
        if state:
            self._clear_cookie(handler, self.get_state_cookie_name(state), path=self.cookie_path)


def make_hub_auth(devices: DeviceGuard | None = None) -> HubOAuth:
    """The service's HubOAuth, configured from the hub's ``JUPYTERHUB_*`` variables; user models cached 60 s.

    Its cookies are ``SameSite=Lax`` whatever the browser's default (Firefox sends cookies
    without the attribute on cross-site requests): a sandboxed published app (an opaque
    origin, so every request it makes is cross-site) never carries the viewer's service
    cookie, and the login's top-level redirects still do. With ``devices``, every viewer
    also passes the field devices' check (``field_devices.DeviceGuard``), which empties
    the user cache when a device is revoked.
    """
    auth = SideBySideOAuth(cache_max_age=60)
    auth.cookie_options = {**auth.cookie_options, "samesite": "Lax"}
    auth.device_guard = devices
    if devices is not None:
        devices.forget_tokens = auth.cache.clear
    return auth


def viewer_of(model: dict[str, Any]) -> Viewer:
    """The viewer a hub user model describes (role from the user's groups, see ``authenticator.py``)."""
    role = role_of(list(model.get("groups") or []))
    return Viewer(str(model["name"]), None if role is None else role.value)


async def hub_viewer(hub_auth: HubOAuth, handler: RequestHandler) -> Viewer | None:
    """The hub user behind ``handler``'s request (cookie or token), or None if anonymous or not allowed here."""
    devices: DeviceGuard | None = getattr(hub_auth, "device_guard", None)
    if devices is not None:
        devices.refuse_revoked_cookie(handler)  # HTTP 403, before the (deleted) token is looked up
    model = await hub_auth.get_user(handler, sync=False)
    if not model or model.get("kind", "user") != "user":
        return None
    if hub_auth.access_scopes and not check_scopes(hub_auth.access_scopes, set(model.get("scopes") or [])):
        return None
    viewer = viewer_of(model)
    session = model.get("session_id") or hub_auth.get_session_id(handler)
    if devices is not None and not await devices.admit(handler, viewer, session):
        return None  # idle or unregistered device: the login flow asks the hub again (a revoked one got 403)
    return viewer


async def viewer_or_login(hub_auth: HubOAuth, handler: RequestHandler, prefix: str) -> Viewer | None:
    """The hub user behind a page request; anonymous: the handler redirects to the service's login (None)."""
    viewer = await hub_viewer(hub_auth, handler)
    if viewer is None:
        handler.redirect(f"{prefix}{LOGIN_PATH}?next={quote(handler.request.uri or '', safe='')}")
    return viewer


def forwarded_header(viewer: Viewer) -> str:
    """The ``X-Workbench-Viewer`` value the service sends a published app's server."""
    return json.dumps({"name": viewer.name, "role": viewer.role})


class ForwardedViewerAuth(AuthProvider):
    """A published app server's auth provider: the viewer the dashboards service checked and forwarded."""

    @property
    def get_user(self) -> Any:
        return self._user

    @property
    def login_url(self) -> str:
        return LOGIN_PATH  # never reached through the service, which sends anonymous requests to its own login

    @staticmethod
    def _user(handler: RequestHandler) -> dict[str, Any] | None:
        try:
            user = json.loads(handler.request.headers.get(VIEWER_HEADER, ""))
            user = {"name": str(user["name"]), "role": None if user.get("role") is None else str(user["role"])}
        except (ValueError, KeyError, TypeError):
            return None
        handler.request.workbench_viewer = user  # type: ignore[attr-defined]  # read by viewer_payload
        return user


class HubViewerAuth(AuthProvider):
    """The Panel/Bokeh server's auth provider: hub users via HubOAuth; anonymous -> ``/login``."""

    def __init__(self, hub_auth: HubOAuth) -> None:
        self.hub_auth = hub_auth
        super().__init__()

    @property
    def get_user_async(self) -> Any:
        return self._user

    @property
    def login_url(self) -> str:
        return LOGIN_PATH

    async def _user(self, handler: RequestHandler) -> dict[str, Any] | None:
        viewer = await hub_viewer(self.hub_auth, handler)
        if viewer is None:
            return None
        user = {"name": viewer.name, "role": viewer.role}
        handler.request.workbench_viewer = user  # type: ignore[attr-defined]  # read by viewer_payload
        return user


def viewer_payload(request: Any) -> dict[str, Any]:
    """What the Bokeh session token carries about the viewer of ``request`` (set by ``HubViewerAuth``)."""
    user = getattr(request, "workbench_viewer", None)
    return {VIEWER_KEY: user} if user else {}


def viewer_from_payload(payload: dict[str, Any]) -> Viewer | None:
    user = payload.get(VIEWER_KEY)
    return Viewer(user["name"], user.get("role")) if user else None


class LoginHandler(RequestHandler):
    """``<prefix>/login?next=...``: to the hub's OAuth authorize URL (and its login form when needed)."""

    def initialize(self, hub_auth: HubOAuth) -> None:
        self.hub_auth = hub_auth

    def get(self) -> None:
        next_url = self.get_argument("next", "")
        if not next_url.startswith(self.hub_auth.base_url) or "//" in next_url:
            next_url = self.hub_auth.base_url  # only back into this service: no open redirect
        params: dict[str, str] = {}
        verifier = None
        if self.hub_auth.pkce_enabled:
            verifier, challenge, method = self.hub_auth.generate_pkce_code_challenge()
            params.update(code_challenge=challenge, code_challenge_method=method)
        params["state"] = self.hub_auth.set_state_cookie(self, next_url=next_url, code_verifier=verifier)
        self.redirect(url_concat(self.hub_auth.login_url, params))


class CallbackHandler(HubOAuthCallbackHandler):
    """``<prefix>/oauth_callback``: JupyterHub's callback, with the service's HubOAuth instance."""

    def initialize(self, hub_auth: HubOAuth) -> None:
        self.hub_auth = hub_auth


def auth_routes(hub_auth: HubOAuth) -> list[tuple[str, type[RequestHandler], dict[str, Any]]]:
    """The login and OAuth callback routes (relative to the service prefix)."""
    return [(LOGIN_PATH, LoginHandler, {"hub_auth": hub_auth}),
            (CALLBACK_PATH, CallbackHandler, {"hub_auth": hub_auth})]
