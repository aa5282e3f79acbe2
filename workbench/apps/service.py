"""The ``dashboards`` hub service: one Panel server with every dashboard behind hub OAuth.

Started by the hub (``hubconfig.dashboards_service``) as ``workbench apps hub-service``;
the proxy sends ``/services/dashboards/`` to it. What it serves, under that prefix:

- ``/`` the apps the viewer may open (registered ones whose file exists, and published ones);
- ``/<name>`` each app in ``apps/apps.toml``;
- ``/published/NAME/`` each published app, in a sandboxed frame whose requests
  (``/published/NAME/~TICKET/...``) are relayed to the app's own server (below);
  ``/published?app=NAME`` redirects there;
- ``/forbidden?app=NAME`` the 403 page naming the roles an app is for;
- ``/login``, ``/oauth_callback`` the hub OAuth dance (``hub_auth.py``);
- ``/api/published`` the publishing API (``publishing.py``); ``/health`` for the stack.

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

import html
import logging
import secrets
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from bokeh.application.handlers.handler import Handler
from tornado.web import HTTPError, RequestHandler

from workbench.apps.hub_auth import (
    HubViewerAuth,
    auth_routes,
    make_hub_auth,
    viewer_from_payload,
    viewer_or_login,
    viewer_payload,
)
from workbench.apps.published_process import AppStartError, PublishedApps, app_class, local_host
from workbench.apps.published_proxy import (
    APP_SANDBOX,
    WebSocketRelay,
    check_ticket,
    issue_ticket,
    relay_http,
)
from workbench.apps.publishing import PublishedStore, api_routes, published_path
from workbench.apps.registry import REGISTRY_FILE, Dashboard, Viewer, available, load_registry
from workbench.settings import hosted, load_settings

log = logging.getLogger(__name__)
PUBLISHED_ROUTE = "/published"
APP_NAME = r"([a-z][a-z0-9-]*)"
TICKET = r"(~[A-Za-z0-9_-]+)"
# The frame page runs no script; it may frame only this origin's pages (the app, in its sandbox).
FRAME_PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-src 'self'; frame-ancestors 'self'"
RESERVED = {"published", "forbidden", "login", "oauth_callback", "api", "health", "static", "ws"}
Arguments = dict[str, list[bytes]]


def code_handler(path: Path) -> Handler:
    """Panel's own handler for a script or notebook (``panel serve`` semantics, notebooks included)."""
    from panel.io.handlers import NotebookHandler, ScriptHandler

    cls = NotebookHandler if path.suffix == ".ipynb" else ScriptHandler
    return cls(filename=str(path))


class DashboardHandler(Handler):  # type: ignore[misc]
    """Builds one session's document: the viewer must be allowed, then the app's code runs as the viewer.

    ``resolve`` names the app from the request's arguments (fixed for a registered app,
    ``?app=`` for the published route). Code handlers are cached per file and rebuilt
    when the file changes (a republished app).
    """

    def __init__(self, resolve: Callable[[Arguments | None], Dashboard | None]) -> None:
        super().__init__()
        self.resolve = resolve
        self._code: dict[Path, tuple[int, Handler]] = {}
        self._lock = threading.Lock()

    def process_request(self, request: Any) -> dict[str, Any]:
        return viewer_payload(request)

    def _code_for(self, path: Path) -> Handler:
        stamp = path.stat().st_mtime_ns
        with self._lock:
            cached = self._code.get(path)
            if cached is None or cached[0] != stamp:
                cached = (stamp, code_handler(path))
                self._code[path] = cached
            return cached[1]

    def modify_document(self, doc: Any) -> None:
        context = doc.session_context
        viewer = viewer_from_payload(context.token_payload) if context is not None else None
        arguments = context.request.arguments if context is not None and context.request is not None else None
        app = self.resolve(arguments)
        if app is None or not app.path.is_file():
            return _message(doc, "No such dashboard", "This dashboard does not exist (or was unpublished).")
        if viewer is None or not app.allows(viewer):
            return _message(doc, "Not allowed", refusal_text(app, viewer))
        code = self._code_for(app.path)
        with hosted(user=viewer.name, role=viewer.role):
            code.modify_document(doc)
        self._failed, self._error, self._error_detail = code.failed, code.error, code.error_detail
        if code.failed:
            log.error("dashboard %s failed for %s: %s", app.name, viewer.name, code.error)


def refusal_text(app: Dashboard, viewer: Viewer | None) -> str:
    """What a refused viewer reads: the app, who may open it, and who they are (all escaped)."""
    who = "You are not logged in" if viewer is None else \
        f"You are {html.escape(viewer.name)} ({html.escape(viewer.role or 'no role')})"
    return (f"<b>{html.escape(app.title)}</b> is for: {html.escape(app.roles_text)}"
            + (f" (and {html.escape(app.owner)}, who published it)" if app.owner else "") + f". {who}.")


def _message(doc: Any, title: str, text: str) -> None:
    import panel as pn

    pn.pane.Alert(text, alert_type="danger").server_doc(doc, title=title)


@dataclass
class Dashboards:
    """What the service serves: the registered apps (by URL name) and the published store."""

    registered: dict[str, Dashboard]
    store: PublishedStore
    prefix: str

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
        self.finish(f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
                    "<meta name='viewport' content='width=device-width, initial-scale=1'>"
                    f"<style>{PAGE_CSS}</style></head><body class='{'wide' if wide else ''}'>"
                    f"<h1>{html.escape(title)}</h1>{body}</body></html>")


class IndexPage(_Page):
    def get(self) -> None:
        items = "".join(
            f"<li><a href='{html.escape(self.dashboards.prefix)}/{html.escape(url)}'>{html.escape(app.title)}</a>"
            f"<div class='what'>{html.escape(app.description)}</div></li>"
            for url, app in self.dashboards.visible_to(self.viewer))
        who = f"{html.escape(self.viewer.name)} ({html.escape(self.viewer.role or 'no role')})"
        self.page("Dashboards", f"<p class='who'>{who}</p>" +
                  (f"<ul>{items}</ul>" if items else "<p>No dashboard is open to your role yet.</p>"))


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
        ticket = issue_ticket(self.ticket_secret, name, self.viewer)
        query = f"?{self.request.query}" if self.request.query else ""
        src = f"{self.dashboards.prefix}/{published_path(name)}{ticket}/{query}"
        self.set_header("Content-Security-Policy", FRAME_PAGE_CSP)
        self.page(app.title, framed_app(self.dashboards.prefix, app, src), wide=True)

    head = get


class PublishedAppRequest(RequestHandler):
    """``/published/NAME/~TICKET/...``: one of the app's own requests, relayed with its sandbox header."""

    SUPPORTED_METHODS = ("GET", "HEAD", "POST")

    def initialize(self, dashboards: Dashboards, apps: PublishedApps, ticket_secret: str) -> None:
        self.dashboards = dashboards
        self.apps = apps
        self.ticket_secret = ticket_secret

    async def get(self, name: str, ticket: str, rest: str | None = None) -> None:
        viewer = ticketed_viewer(self.dashboards, self.ticket_secret, name, ticket)
        try:
            upstream = await self.apps.upstream(name)
        except AppStartError as exc:
            raise HTTPError(503, str(exc)) from None
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
        viewer = ticketed_viewer(self.dashboards, self.ticket_secret, name, ticket)
        try:
            upstream = await self.apps.upstream(name)
        except AppStartError as exc:
            raise HTTPError(503, str(exc)) from None
        await self.connect_upstream(upstream, viewer, untick(self.request.uri or "/", ticket))


def ticketed_viewer(dashboards: Dashboards, secret: str, name: str, ticket: str) -> Viewer:
    """The viewer of a ticketed request, still allowed by the app's current roles; HTTP 403 otherwise."""
    app = dashboards.store.get(name)
    viewer = check_ticket(secret, name, ticket)
    if app is None or viewer is None or not app.allows(viewer):
        raise HTTPError(403, "this address is not (or no longer) valid: open the dashboard again")
    return viewer


def untick(uri: str, ticket: str) -> str:
    """``uri`` as the app's server knows it: without the ``/~TICKET`` segment."""
    return uri.replace(f"/{ticket}", "", 1)


def framed_app(prefix: str, app: Dashboard, src: str) -> str:
    """The frame page's body: who published the app for whom, and the app in its sandbox."""
    home = html.escape(prefix) + "/"
    return (f"<p class='who'><a href='{home}'>Dashboards</a> · published by {html.escape(app.owner or '')} "
            f"for {html.escape(app.roles_text)} · shown in a sandbox: it cannot act as you</p>"
            f"<iframe class='app' sandbox='{APP_SANDBOX}' src='{html.escape(src)}' title='{html.escape(app.title)}'>"
            "</iframe>")


class HealthPage(RequestHandler):
    def get(self) -> None:
        self.finish({"ok": True})


def serve(port: int, prefix: str, origins: list[str], published_dir: Path, cookie_secret: str,
          registry_file: Path = REGISTRY_FILE) -> None:
    """Run the service on 127.0.0.1:``port`` under ``prefix`` until stopped (blocks)."""
    import panel as pn

    hub_auth = make_hub_auth()
    registered = load_registry(registry_file)
    waiting = sorted(set(registered) - set(available(registered)))
    if waiting:
        log.warning("not served yet (no file in the tree): %s", ", ".join(waiting))
    store = PublishedStore(published_dir, reserved=set(registered) | RESERVED)
    dashboards = Dashboards(registered, store, prefix.rstrip("/"))
    settings = load_settings()
    apps = PublishedApps(store, local_host(published_dir, dashboards.prefix, origins, settings), app_class(settings))
    routes = dashboards.handlers()
    pn.config.authorize_callback = lambda _user_info, path: dashboards.authorize(routes, path)
    pages = {"dashboards": dashboards, "hub_auth": hub_auth}
    ticketed = {"dashboards": dashboards, "apps": apps, "ticket_secret": cookie_secret}
    extra = [*auth_routes(hub_auth), *api_routes(store, hub_auth, apps), (r"/?", IndexPage, pages),
             (r"/forbidden", ForbiddenPage, pages), (r"/health", HealthPage),
             (PUBLISHED_ROUTE, PublishedRedirect, pages),
             (rf"{PUBLISHED_ROUTE}/{APP_NAME}/{TICKET}/ws", PublishedAppSocket, ticketed),
             (rf"{PUBLISHED_ROUTE}/{APP_NAME}/{TICKET}(/.*)?", PublishedAppRequest, ticketed),
             (rf"{PUBLISHED_ROUTE}/{APP_NAME}(/.*)?", PublishedFrame, {**pages, **ticketed})]
    server = pn.serve({route: pn.io.application.Application(handler) for route, handler in routes.items()},
                      port=port, address="127.0.0.1", prefix=dashboards.prefix, websocket_origin=origins, show=False,
                      start=False, title="Customs workbench dashboards", auth_provider=HubViewerAuth(hub_auth),
                      cookie_secret=cookie_secret, extra_patterns=extra,
                      secret_key=secrets.token_urlsafe(32), sign_sessions=True,
                      # The hub token stays in its httponly cookie: never copied into a page's session token.
                      include_cookies=[], exclude_headers=["Cookie", "Authorization"])
    run_with_published_apps(server, apps)


def run_with_published_apps(server: Any, apps: PublishedApps) -> None:
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
    watcher = PeriodicCallback(apps.watch, 1000)
    server.start()
    loop.add_callback(apps.start_all)
    watcher.start()
    try:
        loop.start()
    finally:
        watcher.stop()
        apps.kill_all()


PAGE_CSS = """
body { font-family: system-ui, sans-serif; max-width: 720px; margin: 2em auto; padding: 0 1em; }
body.wide { max-width: none; margin: 0; padding: .5em 1em; display: flex; flex-direction: column; height: 100vh;
            box-sizing: border-box; }
body.wide h1 { font-size: 1.2em; margin: .2em 0; }
iframe.app { flex: 1; width: 100%; border: 1px solid #dde1e6; border-radius: 6px; }
li { margin: .6em 0; } .what { color: #555; font-size: 90%; } .who { color: #555; }
"""
