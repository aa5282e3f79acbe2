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
"""

from __future__ import annotations

import socket
from typing import Any
from urllib.parse import urlsplit

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest
from tornado.httputil import HTTPHeaders
from tornado.netutil import DefaultLoopResolver, Resolver
from tornado.web import HTTPError, RequestHandler
from tornado.websocket import WebSocketClientConnection, WebSocketClosedError, WebSocketHandler, websocket_connect

from workbench.apps.hub_auth import VIEWER_HEADER, forwarded_header
from workbench.apps.published_process import Upstream
from workbench.apps.registry import Viewer

# Hop-by-hop headers (RFC 9110 7.6.1) and the credentials the app must never see.
NOT_FORWARDED = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
                 "transfer-encoding", "upgrade", "cookie", "authorization", VIEWER_HEADER.lower(),
                 "sec-websocket-key", "sec-websocket-version", "sec-websocket-extensions",
                 "sec-websocket-protocol"}
NOT_RETURNED = {"connection", "keep-alive", "transfer-encoding", "content-length", "set-cookie"}
MAX_BODY = 256 * 2**20


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


async def relay_http(handler: RequestHandler, upstream: Upstream, viewer: Viewer) -> None:
    """Send ``handler``'s request to the app and its answer back (status, headers, body) unchanged."""
    request = handler.request
    client = AsyncHTTPClient(force_instance=True, resolver=RESOLVER, max_body_size=MAX_BODY)
    try:
        response = await client.fetch(HTTPRequest(
            _target(upstream, request.uri or "/"), method=request.method,
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
    handler.finish(response.body or b"")


class WebSocketRelay(WebSocketHandler):  # type: ignore[misc]
    """A websocket whose messages go both ways between the browser and the app's server.

    The upstream connection is opened in ``prepare`` (``connect_upstream``), before the
    browser's handshake is answered, so the subprotocol the app chose (Bokeh sends its
    session token as one) is the one the browser gets, and a refusal is an HTTP error.
    Only pages of the hub's own origins (``allowed_origins``, host:port, as the Bokeh server
    is told) may open one: no cross-site sockets. The hub's proxy does not keep the
    browser's ``Host``, so tornado's same-host default cannot be used.
    """

    upstream: WebSocketClientConnection | None = None
    allowed_origins: tuple[str, ...] = ()

    def check_origin(self, origin: str) -> bool:
        return urlsplit(origin).netloc.lower() in {o.lower() for o in self.allowed_origins}

    async def connect_upstream(self, upstream: Upstream, viewer: Viewer) -> None:
        """Open the app's side; call from ``prepare`` after the viewer is checked."""
        # tornado checks these in get(), after prepare: checked first here so that no upstream
        # socket is opened for a handshake that is then refused
        if self.request.headers.get("Upgrade", "").lower() != "websocket":
            raise HTTPError(400, "a websocket upgrade is expected here")
        origin = self.request.headers.get("Origin")
        if origin is not None and not self.check_origin(origin):
            raise HTTPError(403, "cross-origin websocket refused")
        offered = [p.strip() for p in self.request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()]
        try:
            self.upstream = await websocket_connect(
                HTTPRequest(_target(upstream, self.request.uri or "/", "ws"),
                            headers=forwarded_headers(self.request.headers, viewer), request_timeout=60),
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
