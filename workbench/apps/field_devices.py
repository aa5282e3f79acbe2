"""The dashboards service's side of field devices (``workbench.security.devices``): the check on every
request of a device-bound person, and the administrators' device page.

``DeviceGuard.admit`` runs inside ``hub_auth.hub_viewer``, so every page, Panel document,
websocket and API request of the service passes it. For a device-bound viewer (field
officers) signed in by cookie it:

- answers ``Cache-Control: no-store`` (no copy of a page in the browser's caches, so the
  back button after a revocation asks the service again and gets the refusal);
- judges the request's device (``devices.judge``: one ``stat`` of the revocation list and
  one indexed SQLite read): revoked -> HTTP 403 and a ``device_refused`` record (the SIEM
  alerts on it); idle too long -> its hub tokens are deleted (``device_idle``) and the
  viewer counts as anonymous, so the login flow asks the hub, which asks for the password;
  no registered device of theirs -> anonymous too (the hub's login registers one);
- notes the use (last seen, address, the hub session the OAuth token belongs to, written
  at most every ``TOUCH_SECONDS``) and the websocket of the device, if it is one, whose
  messages count as use too.

Requests with an API token (``Authorization``) carry no device: the tokens a revocation
or an idle end deletes are refused by the hub, and ``sweep`` empties HubOAuth's user cache
when the revocation list changes, so a deleted token is not honoured from the cache.

``sweep`` (every ``SWEEP_SECONDS``) closes the open websockets of devices that were just
revoked (a page left open on the phone stops at once) and, every ``IDLE_SWEEP_SECONDS``,
ends the sessions of devices idle past the limit.
"""

from __future__ import annotations

import asyncio
import html
import logging
import time
import weakref
from datetime import timedelta
from pathlib import Path
from typing import Any

from tornado.web import HTTPError, RequestHandler
from tornado.websocket import WebSocketHandler

from workbench.apps.specs import Viewer
from workbench.security.accounts import platform_trail
from workbench.security.devices import (
    DEVICE_COOKIE,
    Device,
    DeviceStore,
    RevocationList,
    Verdict,
    device_id_of,
    end_sessions,
    judge,
)

log = logging.getLogger(__name__)
TOUCH_SECONDS = 30.0
"""Last-seen writes per device at most this often (the idle limit is minutes)."""
REFUSAL_RECORD_SECONDS = 5.0
"""A revoked device reloading is one ``device_refused`` record per this many seconds, not one per request."""
SWEEP_SECONDS = 0.2
IDLE_SWEEP_SECONDS = 60.0
REVOKED_TEXT = "This device was revoked by an administrator. Nothing more is shown on it."


class DeviceGuard:
    """Device checks of one dashboards service over the hub state ``base_dir``'s device store."""

    def __init__(self, base_dir: str | Path, idle_minutes: float, roles: frozenset[str] | None = None) -> None:
        from workbench.security.roles import device_roles

        self.base_dir = Path(base_dir)
        self.store = DeviceStore(base_dir, audit=platform_trail(base_dir, "dashboards"))
        self.revoked = RevocationList(self.store.revoked_file)
        self.idle = timedelta(minutes=idle_minutes)
        self.roles = device_roles() if roles is None else roles
        self.forget_tokens: Any = None
        """Set by the service: empties HubOAuth's cache of token -> user (a deleted token is asked again)."""
        self._touched: dict[str, float] = {}
        self._sessions: set[tuple[str, str]] = set()
        self._refused: dict[str, float] = {}
        self._sockets: dict[str, weakref.WeakSet[WebSocketHandler]] = {}
        self._seen_revoked = self.revoked.current()
        self._idle_swept = time.monotonic()

    def applies(self, viewer: Viewer) -> bool:
        return viewer.role in self.roles

    def refuse_revoked_cookie(self, handler: RequestHandler) -> None:
        """HTTP 403 for a request whose device cookie names a revoked device, whoever the token says it is.

        Checked before the hub is asked about the request's token: a revoked device's tokens
        are deleted, and without this its next request would only be sent to the login.
        Costs a ``stat`` (the revocation list) for a request with a device cookie, nothing otherwise.
        """
        secret = handler.get_cookie(DEVICE_COOKIE)
        if secret and device_id_of(secret) in self.revoked.current():
            handler.set_header("Cache-Control", "no-store")
            device = self.store.find(secret)
            if device is not None:
                self.refuse(device, handler.request.remote_ip)

    async def admit(self, handler: RequestHandler, viewer: Viewer, session_id: str | None) -> bool:
        """Whether ``handler``'s request of ``viewer`` may go on (False: treat as anonymous); HTTP 403 if revoked.

        ``session_id``: the hub session the request's token was issued in (the hub's user
        model says), else the browser's ``jupyterhub-session-id`` cookie.
        """
        if not self.applies(viewer):
            return True
        handler.set_header("Cache-Control", "no-store")
        address = handler.request.remote_ip
        if getattr(handler, "_token_authenticated", False):  # an API token: no device cookie, maybe a session
            device = self.store.device_of_session(session_id) if session_id else None
            if device is not None and judge(device, viewer.name, self.revoked.current(), self.idle) is Verdict.REVOKED:
                self.refuse(device, address)
            return True
        device = self.store.find(handler.get_cookie(DEVICE_COOKIE))
        verdict = judge(device, viewer.name, self.revoked.current(), self.idle)
        if verdict is Verdict.OK and device is not None:
            self.used(device.device_id, address, session_id)
            if isinstance(handler, WebSocketHandler):
                self.watch(handler, device.device_id)
            handler.workbench_device = device.device_id  # type: ignore[attr-defined]  # tickets carry it
            return True
        if verdict is Verdict.REVOKED and device is not None:
            self.refuse(device, address)
        if verdict is Verdict.IDLE and device is not None:
            await self.end_idle(device)
        return False

    def admit_ticket(self, device_id: str | None, viewer: Viewer) -> None:
        """A published app's ticketed request: its device (named in the ticket) must still be active."""
        if not self.applies(viewer):
            return
        device = self.store.get(device_id) if device_id else None
        verdict = judge(device, viewer.name, self.revoked.current(), self.idle)
        if verdict is Verdict.REVOKED and device is not None:
            self.refuse(device, None)
        if verdict is not Verdict.OK:
            raise HTTPError(403, reason="This address is no longer valid on this device: open the dashboard again")
        assert device is not None
        self.used(device.device_id, None, None)

    def refuse(self, device: Device, address: str | None) -> None:
        """Record the revoked device's try (throttled) and refuse it: HTTP 403, no data."""
        now = time.monotonic()
        if now - self._refused.get(device.device_id, float("-inf")) >= REFUSAL_RECORD_SECONDS:
            self._refused[device.device_id] = now
            self.store.refused(device, address, "dashboards")
        raise HTTPError(403, reason=REVOKED_TEXT)

    def used(self, device_id: str, address: str | None, session_id: str | None) -> None:
        """Note a use of the device: written at most every ``TOUCH_SECONDS`` (or when its session is new)."""
        now = time.monotonic()
        new_session = bool(session_id) and (device_id, str(session_id)) not in self._sessions
        if new_session or now - self._touched.get(device_id, float("-inf")) >= TOUCH_SECONDS:
            self.store.seen(device_id, address, session_id or None)
            self._touched[device_id] = now
            if session_id:
                self._sessions.add((device_id, session_id))

    async def end_idle(self, device: Device) -> None:
        """End an idle device's sessions: its hub tokens deleted, recorded as ``device_idle``."""
        ended = await asyncio.to_thread(end_sessions, self.base_dir, device, self.store, False)
        self._sessions = {s for s in self._sessions if s[0] != device.device_id}
        self.store.idle_ended(device, ended)
        self._drop_cached_tokens()

    def watch(self, socket: WebSocketHandler, device_id: str) -> None:
        """Keep the device's websocket (closed if the device is revoked); its messages count as use."""
        self._sockets.setdefault(device_id, weakref.WeakSet()).add(socket)
        receive = socket.on_message

        def on_message(message: str | bytes) -> Any:
            self.used(device_id, None, None)
            return receive(message)

        socket.on_message = on_message  # type: ignore[method-assign]  # this one connection's handler only

    def _drop_cached_tokens(self) -> None:
        if self.forget_tokens is not None:
            self.forget_tokens()

    async def sweep(self) -> None:
        """Close the websockets of newly revoked devices; end idle devices' sessions every ``IDLE_SWEEP_SECONDS``."""
        revoked = self.revoked.current()
        if revoked != self._seen_revoked:
            for device_id in revoked - self._seen_revoked:
                for socket in list(self._sockets.pop(device_id, ())):
                    socket.close(4003, "device revoked")
            self._seen_revoked = revoked
            self._drop_cached_tokens()
        if time.monotonic() - self._idle_swept >= IDLE_SWEEP_SECONDS:
            self._idle_swept = time.monotonic()
            for device in await asyncio.to_thread(self.store.idle_with_sessions, self.idle):
                try:
                    await self.end_idle(device)
                except Exception as exc:  # noqa: BLE001 - the hub may be restarting; the next sweep tries again
                    log.warning("could not end idle device %s: %s", device.device_id, exc)


# ----------------------------------------------------------------------------- the admin page

def device_table(devices: list[Device], xsrf: str, action: str) -> str:
    """The devices as an HTML table, per person, with a revoke button on each active one.

    Each button's form carries the ``_xsrf`` token HubOAuth checks on a cookie-authenticated
    POST (a form from another site is anonymous, so it revokes nothing).
    """
    if not devices:
        return "<p>No device has signed in yet. Field officers' phones appear here at their first sign-in.</p>"
    rows = []
    for d in devices:
        state = (f"<span class='revoked'>revoked {html.escape(d.revoked or '')} by {html.escape(d.revoked_by or '?')}"
                 "</span>") if d.revoked else "active"
        button = "" if d.revoked else (
            f"<form method='post' action='{html.escape(action)}'>"
            f"<input type='hidden' name='device_id' value='{html.escape(d.device_id)}'>"
            f"<input type='hidden' name='_xsrf' value='{html.escape(xsrf)}'>"
            f"<button type='submit'>Revoke</button></form>")
        rows.append(f"<tr data-device='{html.escape(d.device_id)}'><td>{html.escape(d.owner)}</td>"
                    f"<td>{html.escape(d.name)}</td><td><code>{html.escape(d.device_id)}</code></td>"
                    f"<td class='ua'>{html.escape(d.user_agent)}</td><td>{html.escape(d.address or '')}</td>"
                    f"<td>{html.escape(d.first_seen)}</td><td>{html.escape(d.last_seen)}</td><td>{state}</td>"
                    f"<td>{button}</td></tr>")
    head = "".join(f"<th>{h}</th>" for h in ("Person", "Device", "Id", "Browser", "Address", "First seen",
                                              "Last seen", "State", ""))
    return (f"<style>{TABLE_CSS}</style><table class='devices'><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")


TABLE_CSS = (".devices { border-collapse: collapse; font-size: 14px; } .devices td, .devices th "
             "{ border-bottom: 1px solid #ddd; padding: 4px 8px; text-align: left; vertical-align: top; } "
             ".devices .ua { max-width: 280px; font-size: 12px; color: #555; } .revoked { color: #c92a2a; }")
