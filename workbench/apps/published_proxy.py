"""Relaying a viewer's HTTP requests and Bokeh websocket to a published app's own server.

The dashboards service checks the viewer (hub OAuth, the app's roles) and then hands
the request to the app's server (``published_process.py``) through that server's Unix
socket, with the hub cookie and ``Authorization`` header removed and the checked viewer
named in ``X-Workbench-Viewer`` (a header of that name from the browser is dropped first).

Why a small relay here rather than a configurable-http-proxy route per app: a proxy
route would send the browser straight to the app, so the app itself would have to check
hub OAuth, with the service's OAuth client secret and cookie secret in the publisher's
process, where their code could read visitors' hub tokens from the cookie. Why not
jupyter-server-proxy: it is a Jupyter server extension, tied to that server's handlers
and auth; the Bokeh server needs a plain tornado handler. Tornado's own HTTP and
websocket clients do the work (``SocketResolver`` points them at the Unix socket).

Why a sandbox, and tickets instead of cookies: a published app's page and script are its
publisher's, yet they are served on the hub's origin, in the browser of whoever opens
them (an administrator included). Served plainly, its script could read the hub's
readable cookies, call ``/hub/api`` and the viewer's notebook server with the viewer's
cookies (measured on the previous version: it read an ``_xsrf`` cookie and its requests
reached the hub as the viewer, stopped only by the hub's XSRF check). So every response
of an app carries ``Content-Security-Policy: sandbox allow-scripts allow-downloads``
without ``allow-same-origin`` (``APP_CSP``): the browser gives the document an opaque
origin, so ``document.cookie`` throws, and its requests to the hub or the viewer's server
are cross-origin: Chromium sends them without cookies (measured: none at all, whatever
their SameSite) and lets the script read no answer. The service's own page frames the
app in an ``<iframe sandbox>`` (no ``allow-top-navigation``), so the app cannot navigate
the page it is shown in either (a sandboxed top-level document may still navigate itself).

The same sandbox keeps the viewer's service cookie from the app's own requests (its
scripts, styles, the Bokeh websocket), so those cannot be checked by cookie. The frame's
address carries a ticket instead: ``/published/NAME/~TICKET/...``, issued by the frame
page to a viewer the cookie and the app's roles allowed, signed with the service's
secret, bound to that app and valid for ``TICKET_HOURS``. Panel writes its resource URLs
relative to the page, and Bokeh's websocket URL follows the page's path, so every request
of the app carries the ticket; the relay checks it, strips it and forwards the rest to the
app's server. A ticket opens that one app, as its viewer, and nothing else: the app's own
script can read it, but it could already talk to its own server. Why not a separate port:
cookies are not separated by port, so a page on another port of the same host still
reads the hub's readable cookies and sends all of them with its requests (the hub would
then again rely on its XSRF check alone); a separate host name would do, but needs DNS and
a certificate per deployment, where a sandbox needs nothing.
"""

from __future__ import annotations

import base64
import binascii
import json
import socket
from typing import Any
from urllib.parse import urlsplit

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest
from tornado.httputil import HTTPHeaders
from tornado.netutil import DefaultLoopResolver, Resolver
from tornado.web import HTTPError, RequestHandler, create_signed_value, decode_signed_value
from tornado.websocket import WebSocketClientConnection, WebSocketClosedError, WebSocketHandler, websocket_connect

from workbench.apps.hub_auth import VIEWER_HEADER, forwarded_header
from workbench.apps.published_process import Upstream
from workbench.apps.specs import Viewer

# Hop-by-hop headers (RFC 9110 7.6.1) and the credentials the app must never see.
NOT_FORWARDED = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
                 "transfer-encoding", "upgrade", "cookie", "authorization", VIEWER_HEADER.lower(),
                 "sec-websocket-key", "sec-websocket-version", "sec-websocket-extensions",
                 "sec-websocket-protocol"}
NOT_RETURNED = {"connection", "keep-alive", "transfer-encoding", "content-length", "set-cookie"}
MAX_BODY = 256 * 2**20
# No allow-same-origin: an opaque origin (no cookies, no answers from the hub); no allow-top-navigation,
# allow-popups or allow-forms; downloads for the apps' CSV and PNG exports.
APP_SANDBOX = "allow-scripts allow-downloads"
APP_CSP = f"sandbox {APP_SANDBOX}; frame-ancestors 'self'"
TICKET_HOURS = 8.0  # a working shift: after that, reloading the page gets a new ticket
TICKET_MARK = "~"


def issue_ticket(secret: str, app: str, viewer: Viewer, device: str | None = None) -> str:
    """A path segment that opens ``app`` as ``viewer`` for ``TICKET_HOURS`` (URL-safe, signed).

    ``device``: the field device the frame page was opened on (``field_devices``); the
    app's own requests carry no cookie, so the ticket names it for their device check.
    """
    value = json.dumps({**json.loads(forwarded_header(viewer)), **({"device": device} if device else {})})
    signed = create_signed_value(secret, f"published-app:{app}", value)
    return TICKET_MARK + base64.urlsafe_b64encode(signed).decode("ascii").rstrip("=")


def check_ticket(secret: str, app: str, ticket: str) -> Viewer | None:
    """The viewer ``ticket`` was issued to for ``app``; None when forged, expired or for another app."""
    checked = check_ticket_device(secret, app, ticket)
    return None if checked is None else checked[0]


def check_ticket_device(secret: str, app: str, ticket: str) -> tuple[Viewer, str | None] | None:
    """(viewer, field device or None) ``ticket`` was issued to for ``app``; None when forged, expired or for
    another app."""
    if not ticket.startswith(TICKET_MARK):
        return None
    body = ticket[len(TICKET_MARK):]
    try:
        signed = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except (binascii.Error, ValueError):
        return None
    value = decode_signed_value(secret, f"published-app:{app}", signed, max_age_days=TICKET_HOURS / 24)
    if value is None:
        return None
    user = json.loads(value)
    device = user.get("device")
    return (Viewer(str(user["name"]), None if user.get("role") is None else str(user["role"])),
            None if device is None else str(device))


class SocketResolver(Resolver):  # type: ignore[misc]
    """Resolves ``<app>.published`` hosts to the app's Unix socket; any other host as usual."""

    def initialize(self) -> None:
        self.sockets: dict[str, str] = {}
        self.fallback = DefaultLoopResolver()

    async def resolve(self, host: str, port: int, family: socket.AddressFamily = socket.AF_UNSPEC) -> list[Any]:
        path = self.sockets.get(host)
        if path is None:
            return list(await self.fallback.resolve(host, port, family))
        return [(socket.AF_UNIX, path)]


RESOLVER = SocketResolver()


def _target(upstream: Upstream, uri: str, scheme: str = "http") -> str:
    """The upstream URL of ``uri`` (the app serves under the same prefix as the service's route)."""
    base = upstream.url
    if upstream.unix_socket:
        RESOLVER.sockets[base.split("://", 1)[1].split("/", 1)[0].split(":", 1)[0]] = upstream.unix_socket
    if scheme == "ws":
        base = "ws" + base.removeprefix("http")
    return base.rstrip("/") + uri


def forwarded_headers(headers: HTTPHeaders, viewer: Viewer) -> HTTPHeaders:
    """The request's headers for the app: no hop-by-hop headers or credentials; the checked viewer added."""
    out = HTTPHeaders()
    for name, value in headers.get_all():
        if name.lower() not in NOT_FORWARDED:
            out.add(name, value)
    out[VIEWER_HEADER] = forwarded_header(viewer)
    return out


async def relay_http(handler: RequestHandler, upstream: Upstream, viewer: Viewer, uri: str) -> None:
    """Send ``handler``'s request to the app as ``uri`` and its answer back, in the sandbox (``APP_CSP``)."""
    request = handler.request
    client = AsyncHTTPClient(force_instance=True, resolver=RESOLVER, max_body_size=MAX_BODY)
    try:
        response = await client.fetch(HTTPRequest(
            _target(upstream, uri), method=request.method,
            headers=forwarded_headers(request.headers, viewer),
            body=request.body if request.method == "POST" else None, follow_redirects=False,
            decompress_response=False, request_timeout=300), raise_error=False)
    except (OSError, HTTPClientError) as exc:
        raise HTTPError(502, f"the app's server did not answer: {exc}") from None
    finally:
        client.close()
    if response.code == 599:
        raise HTTPError(502, f"the app's server did not answer: {response.error}")
    handler.set_status(response.code, response.reason)
    handler.clear_header("Content-Type")
    for name, value in response.headers.get_all():
        if name.lower() not in NOT_RETURNED:
            handler.add_header(name, value)
    handler.add_header("Content-Security-Policy", APP_CSP)  # beside any the app sets: browsers apply all
    handler.set_header("X-Content-Type-Options", "nosniff")
    handler.finish(response.body or b"")


class WebSocketRelay(WebSocketHandler):  # type: ignore[misc]
    """A websocket whose messages go both ways between the browser and the app's server.

    The upstream connection is opened in ``prepare`` (``connect_upstream``), before the
    browser's handshake is answered, so the subprotocol the app chose (Bokeh sends its
    session token as one) is the one the browser gets, and a refusal is an HTTP error.
    Only pages of the hub's own origins (``allowed_origins``, host:port, as the Bokeh server
    is told) and sandboxed pages (origin ``null``: the app's own, in its sandbox) may open
    one. That is no opening for other sites: the socket is authorised by the ticket in its
    path, never by a cookie, so a page that does not hold the ticket gets nowhere. The
    hub's proxy does not keep the browser's ``Host``, so tornado's same-host default cannot
    be used; the app's server is told the hub's origin.
    """

    upstream: WebSocketClientConnection | None = None
    allowed_origins: tuple[str, ...] = ()

    def check_origin(self, origin: str) -> bool:
        return origin == "null" or urlsplit(origin).netloc.lower() in {o.lower() for o in self.allowed_origins}

    async def connect_upstream(self, upstream: Upstream, viewer: Viewer, uri: str) -> None:
        """Open the app's side at ``uri``; call from ``prepare`` after the viewer is checked."""
        # tornado checks these in get(), after prepare: checked first here so that no upstream
        # socket is opened for a handshake that is then refused
        if self.request.headers.get("Upgrade", "").lower() != "websocket":
            raise HTTPError(400, "a websocket upgrade is expected here")
        origin = self.request.headers.get("Origin")
        if origin is not None and not self.check_origin(origin):
            raise HTTPError(403, "cross-origin websocket refused")
        offered = [p.strip() for p in self.request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()]
        headers = forwarded_headers(self.request.headers, viewer)
        headers["Origin"] = f"http://{self.allowed_origins[0]}"  # checked above; the app's server knows no "null"
        try:
            self.upstream = await websocket_connect(
                HTTPRequest(_target(upstream, uri, "ws"), headers=headers, request_timeout=60),
                on_message_callback=self._from_app, subprotocols=offered or None, resolver=RESOLVER,
                max_message_size=self.max_message_size)
        except (OSError, HTTPClientError) as exc:
            code = exc.code if isinstance(exc, HTTPClientError) and exc.code < 599 else 502
            raise HTTPError(code, f"the app's server refused the websocket: {exc}") from None

    def select_subprotocol(self, subprotocols: list[str]) -> str | None:
        return self.upstream.selected_subprotocol if self.upstream is not None else None

    async def on_message(self, message: str | bytes) -> None:
        if self.upstream is not None:
            try:
                await self.upstream.write_message(message, binary=isinstance(message, bytes))
            except WebSocketClosedError:
                self.close()

    def _from_app(self, message: str | bytes | None) -> None:
        if message is None:  # the app closed its side
            self.close()
            return
        try:
            self.write_message(message, binary=isinstance(message, bytes))
        except WebSocketClosedError:
            self._close_upstream()

    def on_close(self) -> None:
        self._close_upstream()

    def on_connection_close(self) -> None:
        super().on_connection_close()
        self._close_upstream()

    def _close_upstream(self) -> None:
        if self.upstream is not None:
            self.upstream.close()
            self.upstream = None
