"""The ``dashboards`` hub service: one Panel server with every dashboard behind hub OAuth.

Started by the hub (``hubconfig.dashboards_service``) as ``workbench apps hub-service``;
the proxy sends ``/services/dashboards/`` to it. What it serves, under that prefix:

- ``/`` the home: a card per app the viewer may open (registered ones whose code is in the tree,
  then published ones) with what it answers and how fresh its tables are (``pages.py``);
- ``/<name>`` each app in ``apps/apps.toml``;
- ``/published/NAME/`` each published app, in a sandboxed frame whose requests
  (``/published/NAME/~TICKET/...``) are relayed to the app's own server (below);
  ``/published?app=NAME`` redirects there;
- ``/forbidden?app=NAME`` the 403 page naming the roles an app is for;
- ``/devices`` the field officers' registered devices, for administrators, who revoke one
  there (``field_devices.py``; ``workbench devices`` does the same from the shell);
- ``/login``, ``/oauth_callback`` the hub OAuth dance (``hub_auth.py``);
- ``/api/published`` the publishing API (``publishing.py``); ``/health`` for the stack.

One HTTP stack: tornado, under Panel's server. Panel and Bokeh serve their documents and
websockets on tornado, so the service's own pages, its publishing API and the relay to
published apps are tornado handlers in that same server (one event loop, one hub OAuth
check) rather than a second server of another framework beside it; each published app's
server (``published_server.py``) and ``workbench apps serve`` are the same Panel server.

Three checks guard an app: Bokeh's auth provider (no hub user: the page redirects to the
hub login, the websocket is refused with 403); Panel's ``authorize_callback`` before a
page is rendered (viewer not allowed: redirect to the 403 page); and ``DashboardHandler``
again when the document is built, so a session opened from a websocket alone (an expired
session re-created from its token) is checked too. Session tokens are signed.

The document is built as the viewer: ``settings.hosted(user=..., role=...)`` is active
while the app's code runs, so the ``connect()`` in the app opens a session with the
viewer's role (managers see masked personal identifiers) and the audit trail names the
viewer. Outside that (a callback that connects later) the service's own role applies,
which the hub sets to the least privileged one.

Published apps are someone's code, so they never run in this process (which runs as the
hub's user, root on the local stack): each has its own Panel server running as its
publisher's Unix user with that user's groups (``published_process.py``), started on
publish and with the service, restarted if it dies, stopped on remove and with the
service. The service checks the viewer (hub OAuth, then the app's roles: anonymous to
the login, refused to the 403 page) and shows the app in a sandboxed frame of its own
page: the app's document gets an opaque origin, so its script reads no hub cookie, and
neither the hub nor the viewer's notebook server answers it as the viewer, and it cannot
navigate the page. The frame's requests carry a ticket in their path instead of the
cookie; the service relays them and the Bokeh websocket to the app's server over its
Unix socket, without the viewer's hub credentials (``published_proxy.py`` says why this
and not a separate port). The app's server checks the roles again and builds each
document with the viewer's name and role, but can read only what its publisher can.
"""

from __future__ import annotations

import asyncio
import html
import logging
import secrets
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from tornado.web import HTTPError, RequestHandler

from workbench.apps.documents import DashboardHandler, refusal_text
from workbench.apps.field_devices import SWEEP_SECONDS, DeviceGuard, device_table
from workbench.apps.hub_auth import HubViewerAuth, auth_routes, make_hub_auth, viewer_from_payload, viewer_or_login
from workbench.apps.pages import framed_app, home_body, page_html, table_states
from workbench.apps.published_process import AppStartError, PublishedApps, Upstream, app_class, local_host
from workbench.apps.published_proxy import APP_SANDBOX, WebSocketRelay, check_ticket_device, issue_ticket, relay_http
from workbench.apps.publishing import PublishedStore, api_routes, published_path
from workbench.apps.specs import APPS_FILE, Dashboard, Viewer, available, load_apps
from workbench.settings import load_settings

log = logging.getLogger(__name__)
PUBLISHED_ROUTE = "/published"
APP_NAME = r"([a-z][a-z0-9-]*)"
TICKET = r"(~[A-Za-z0-9_-]+)"
# The frame page runs no script; it may frame only this origin's pages (the app, in its sandbox).
FRAME_PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-src 'self'; frame-ancestors 'self'"
RESERVED = {"published", "forbidden", "login", "oauth_callback", "api", "health", "static", "ws", "devices"}


@dataclass
class Dashboards:
    """What the service serves: the registered apps (by URL name) and the published store."""

    registered: dict[str, Dashboard]
    store: PublishedStore
    prefix: str
    devices: DeviceGuard | None = None

    def find(self, name: str | None) -> Dashboard | None:
        return self.registered.get(name or "") or self.store.get(name)

    def visible_to(self, viewer: Viewer) -> list[tuple[str, Dashboard]]:
        """(relative URL, app) of every app ``viewer`` may open, registered first."""
        out = [(quote(name), app) for name, app in available(self.registered).items() if app.allows(viewer)]
        out += [(published_path(quote(d.name)), d) for d in self.store.list() if d.allows(viewer)]
        return out

    def handlers(self) -> dict[str, DashboardHandler]:
        """Route -> document handler: one per registered app present in the tree."""
        return {f"/{name}": DashboardHandler(lambda _args, app=app: app)
                for name, app in available(self.registered).items()}

    def forbidden_url(self, app: Dashboard) -> str:
        return f"{self.prefix}/forbidden?app={quote(app.name)}"

    def authorize(self, routes: dict[str, DashboardHandler], path: str) -> bool | str:
        """Panel's ``authorize_callback``: True, or the URL of the 403 page for this app."""
        from panel.io.state import state

        context = state.curdoc.session_context
        handler = routes.get(path[len(self.prefix):].rstrip("/"))
        if handler is None:
            return True
        app = handler.resolve(context.request.arguments if context.request is not None else None)
        viewer = viewer_from_payload(context.token_payload)
        if app is None or (viewer is not None and app.allows(viewer)):
            return True  # an unknown app gets the document's "no such dashboard"
        return self.forbidden_url(app)


class _Page(RequestHandler):
    """Service pages outside Panel: a hub user or a redirect to the login."""

    def initialize(self, dashboards: Dashboards, hub_auth: Any) -> None:
        self.dashboards = dashboards
        self.hub_auth = hub_auth

    async def prepare(self) -> None:
        viewer = await viewer_or_login(self.hub_auth, self, self.dashboards.prefix)
        if viewer is not None:
            self.viewer = viewer

    def page(self, title: str, body: str, wide: bool = False) -> None:
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        self.finish(page_html(title, body, self.dashboards.prefix, getattr(self, "viewer", None), wide))


class IndexPage(_Page):
    """The dashboards home: a card per app the viewer may open (``pages.py``)."""

    async def get(self) -> None:
        apps = self.dashboards.visible_to(self.viewer)
        tables = {t for _url, app in apps for t in app.tables}
        states = await asyncio.to_thread(table_states, self.viewer, tables) if tables else {}
        self.page("Dashboards", home_body(self.dashboards.prefix, apps, states))


def _back(page: _Page) -> str:
    return f"<p><a href='{html.escape(page.dashboards.prefix)}/'>Your dashboards</a></p>"


def _gone_page(page: _Page) -> None:
    page.set_status(404)
    page.page("No such dashboard", "<p>This dashboard does not exist (or was unpublished).</p>" + _back(page))


class ForbiddenPage(_Page):
    def get(self) -> None:
        app = self.dashboards.find(self.get_argument("app", ""))
        if app is None:
            return _gone_page(self)
        self.set_status(403)
        self.page("Not allowed", f"<p>{refusal_text(app, self.viewer)}</p>" + _back(self))


class PublishedRedirect(_Page):
    """``/published?app=NAME`` (the links of earlier versions): to ``/published/NAME/``."""

    def get(self) -> None:
        name = self.get_argument("app", "")
        if self.dashboards.store.get(name) is None:
            return _gone_page(self)
        self.redirect(f"{self.dashboards.prefix}/{published_path(name)}")


class PublishedFrame(_Page):
    """``/published/NAME/``: the service's page that shows a published app in a sandboxed frame.

    The viewer must be allowed (hub cookie, then the app's roles). The app's server is
    started if it does not run, so a broken app gets an error page here, not a blank
    frame. The frame's address carries a ticket for this viewer and app
    (``published_proxy.issue_ticket``): the app's own requests, from its sandbox, carry no cookie.
    """

    def initialize(self, dashboards: Dashboards, hub_auth: Any, apps: PublishedApps,  # type: ignore[override]
                   ticket_secret: str) -> None:
        super().initialize(dashboards, hub_auth)
        self.apps = apps
        self.ticket_secret = ticket_secret

    async def get(self, name: str, rest: str | None = None) -> None:
        app = self.dashboards.store.get(name)
        if app is None or rest not in (None, "/"):
            return _gone_page(self)
        if not app.allows(self.viewer):
            return self.redirect(self.dashboards.forbidden_url(app))
        if rest is None:
            query = f"?{self.request.query}" if self.request.query else ""
            return self.redirect(f"{self.dashboards.prefix}/{published_path(name)}{query}")
        try:
            await self.apps.upstream(name)
        except AppStartError as exc:
            log.error("%s", exc)
            self.set_status(503)
            return self.page("Dashboard unavailable", f"<p>{html.escape(app.title)} could not be started; "
                             "its publisher can see why in the service's log.</p>")
        ticket = issue_ticket(self.ticket_secret, name, self.viewer, getattr(self, "workbench_device", None))
        query = f"?{self.request.query}" if self.request.query else ""
        src = f"{self.dashboards.prefix}/{published_path(name)}{ticket}/{query}"
        self.set_header("Content-Security-Policy", FRAME_PAGE_CSP)
        self.page(app.title, framed_app(self.dashboards.prefix, app, src, APP_SANDBOX), wide=True)

    head = get


class PublishedAppRequest(RequestHandler):
    """``/published/NAME/~TICKET/...``: one of the app's own requests, relayed with its sandbox header."""

    SUPPORTED_METHODS = ("GET", "HEAD", "POST")

    def initialize(self, dashboards: Dashboards, apps: PublishedApps, ticket_secret: str) -> None:
        self.dashboards = dashboards
        self.apps = apps
        self.ticket_secret = ticket_secret

    async def get(self, name: str, ticket: str, rest: str | None = None) -> None:
        viewer, upstream, _device = await ticketed(self.dashboards, self.apps, self.ticket_secret, name, ticket)
        if self.dashboards.devices is not None and self.dashboards.devices.applies(viewer):
            self.set_header("Cache-Control", "no-store")
        await relay_http(self, upstream, viewer, untick(self.request.uri or "/", ticket))

    post = head = get


class PublishedAppSocket(WebSocketRelay):
    """``/published/NAME/~TICKET/ws``: the app's Bokeh websocket, for the ticket's viewer (else 403)."""

    def initialize(self, dashboards: Dashboards, apps: PublishedApps, ticket_secret: str) -> None:
        self.dashboards = dashboards
        self.apps = apps
        self.ticket_secret = ticket_secret
        self.allowed_origins = apps.host.origins

    async def prepare(self) -> None:
        name, ticket = self.path_args[:2]
        viewer, upstream, device = await ticketed(self.dashboards, self.apps, self.ticket_secret, name, ticket)
        await self.connect_upstream(upstream, viewer, untick(self.request.uri or "/", ticket))
        if device is not None and self.dashboards.devices is not None:
            self.dashboards.devices.watch(self, device)


async def ticketed(dashboards: Dashboards, apps: PublishedApps, secret: str, name: str,
                   ticket: str) -> tuple[Viewer, Upstream, str | None]:
    """The viewer of a ticketed request (still allowed by the app's current roles, and on a device still
    active when the ticket names one, else HTTP 403), where the app answers (started if need be, else
    HTTP 503) and the ticket's field device."""
    app = dashboards.store.get(name)
    checked = check_ticket_device(secret, name, ticket)
    if app is None or checked is None or not app.allows(checked[0]):
        raise HTTPError(403, "this address is not (or no longer) valid: open the dashboard again")
    viewer, device = checked
    if dashboards.devices is not None:
        dashboards.devices.admit_ticket(device, viewer)
    try:
        return viewer, await apps.upstream(name), device
    except AppStartError as exc:
        raise HTTPError(503, str(exc)) from None


def untick(uri: str, ticket: str) -> str:
    """``uri`` as the app's server knows it: without the ``/~TICKET`` segment."""
    return uri.replace(f"/{ticket}", "", 1)


class DevicesPage(_Page):
    """``/devices``: every registered field device per person, for administrators, with a revoke button each.

    The form carries the hub's ``_xsrf`` token (checked by HubOAuth: a cross-site form is
    anonymous); a revoke is recorded as that administrator and ends the device's hub tokens
    before the page comes back.
    """

    def _admin_guard(self) -> DeviceGuard:
        from workbench.security.roles import roles_with

        if self.viewer.role not in roles_with("admin") or self.dashboards.devices is None:
            raise HTTPError(403, reason="Field devices are for administrators")
        return self.dashboards.devices

    async def get(self) -> None:
        guard = self._admin_guard()
        devices = await asyncio.to_thread(guard.store.list)
        notice = html.escape(self.get_argument("revoked", ""))
        body = (f"<p class='notice'>Revoked <code>{notice}</code>: its sessions and tokens are ended.</p>"
                if notice else "")
        body += device_table(devices, self.xsrf_token.decode("ascii"), f"{self.dashboards.prefix}/devices")
        self.page("Field devices", body, wide=True)

    async def post(self) -> None:
        from workbench.security.devices import DeviceStore, end_sessions
        from workbench.security.accounts import platform_trail

        guard = self._admin_guard()
        device_id = self.get_body_argument("device_id", "")
        store = DeviceStore(guard.base_dir, audit=platform_trail(guard.base_dir, self.viewer.name, "admin"))
        device = await asyncio.to_thread(store.revoke, device_id)
        await asyncio.to_thread(end_sessions, guard.base_dir, device, store)
        self.redirect(f"{self.dashboards.prefix}/devices?revoked={quote(device.device_id)}")


class HealthPage(RequestHandler):
    def get(self) -> None:
        self.finish({"ok": True})


def serve(port: int, prefix: str, origins: list[str], published_dir: Path, cookie_secret: str,
          apps_file: Path = APPS_FILE, address: str = "127.0.0.1") -> None:
    """Run the service on ``address``:``port`` under ``prefix`` until stopped (blocks)."""
    import panel as pn

    from workbench.platform.profile import HubProfile

    settings = load_settings()
    devices = DeviceGuard(HubProfile.from_env().state_dir, settings.device_idle_minutes)
    hub_auth = make_hub_auth(devices)
    registered = load_apps(apps_file)
    waiting = sorted(set(registered) - set(available(registered)))
    if waiting:
        log.warning("not served yet (its code is not in the tree): %s", ", ".join(waiting))
    store = PublishedStore(published_dir, reserved=set(registered) | RESERVED)
    dashboards = Dashboards(registered, store, prefix.rstrip("/"), devices)
    apps = PublishedApps(store, local_host(published_dir, dashboards.prefix, origins, settings), app_class(settings))
    routes = dashboards.handlers()
    pn.config.authorize_callback = lambda _user_info, path: dashboards.authorize(routes, path)
    pages = {"dashboards": dashboards, "hub_auth": hub_auth}
    ticketed = {"dashboards": dashboards, "apps": apps, "ticket_secret": cookie_secret}
    extra = [*auth_routes(hub_auth), *api_routes(store, hub_auth, apps), (r"/?", IndexPage, pages),
             (r"/forbidden", ForbiddenPage, pages), (r"/health", HealthPage),
             (r"/devices", DevicesPage, pages),
             (PUBLISHED_ROUTE, PublishedRedirect, pages),
             (rf"{PUBLISHED_ROUTE}/{APP_NAME}/{TICKET}/ws", PublishedAppSocket, ticketed),
             (rf"{PUBLISHED_ROUTE}/{APP_NAME}/{TICKET}(/.*)?", PublishedAppRequest, ticketed),
             (rf"{PUBLISHED_ROUTE}/{APP_NAME}(/.*)?", PublishedFrame, {**pages, **ticketed})]
    server = pn.serve({route: pn.io.application.Application(handler) for route, handler in routes.items()},
                      port=port, address=address, prefix=dashboards.prefix, websocket_origin=origins, show=False,
                      start=False, title="Customs workbench dashboards", auth_provider=HubViewerAuth(hub_auth),
                      cookie_secret=cookie_secret, extra_patterns=extra,
                      secret_key=secrets.token_urlsafe(32), sign_sessions=True,
                      # The hub token stays in its httponly cookie: never copied into a page's session token.
                      include_cookies=[], exclude_headers=["Cookie", "Authorization"])
    run_with_published_apps(server, apps, devices, registered)


WARM_UP = ("workbench.session", "workbench.apps.queries", "panel.pane", "panel.widgets")
"""What every page needs but serving does not: loaded once the server answers (``warm_up``)."""


async def warm_up(registered: dict[str, Dashboard] | None = None) -> None:
    """Import the session stack and the registered apps' code while the server already answers.

    Why: a restarted service is back the moment it listens (its health check, the home page's
    login redirect, the publishing API); the first document needs pandas, Polars, the lake
    and the app's module, about half of the service's start-up CPU. Loading them here, off
    the event loop, lets it answer first; a page opened meanwhile waits for the same imports
    (Python's import lock), not for a second copy of them.
    """
    import importlib

    def load() -> None:
        for module in WARM_UP:
            importlib.import_module(module)
        for app in available(registered or {}).values():
            if app.path is None:
                app.builder()

    try:
        await asyncio.to_thread(load)
    except Exception:  # noqa: BLE001 - the page that needs it reports the same error to its viewer
        log.exception("dashboards warm-up failed; pages load their code when first opened")


def run_with_published_apps(server: Any, apps: PublishedApps, devices: DeviceGuard | None = None,
                            registered: dict[str, Dashboard] | None = None) -> None:
    """Run ``server`` with the published apps' servers: started with it, watched, stopped with it.

    The hub stops a service with SIGINT, then SIGTERM: either one stops the apps and then
    the loop. Should the loop end otherwise, the apps still get SIGKILL on the way out
    (and should this process be killed outright, they die with it: ``published_server``).
    """
    from tornado.ioloop import PeriodicCallback

    loop = server.io_loop

    async def shutdown() -> None:
        await apps.stop_all()
        loop.stop()

    def on_signal(_signum: int, _frame: Any) -> None:
        loop.add_callback_from_signal(shutdown)

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, on_signal)
    watchers = [PeriodicCallback(apps.watch, 1000)]
    if devices is not None:  # revoked devices' open websockets close within SWEEP_SECONDS
        watchers.append(PeriodicCallback(devices.sweep, SWEEP_SECONDS * 1000))
    server.start()
    loop.add_callback(apps.start_all)
    loop.add_callback(warm_up, registered)
    for watcher in watchers:
        watcher.start()
    try:
        loop.start()
    finally:
        for watcher in watchers:
            watcher.stop()
        apps.kill_all()
