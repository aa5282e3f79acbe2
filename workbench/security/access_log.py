"""A structured access log for the platform's own HTTP services (the scoring service first).

One JSON line per request: ``ts`` (UTC, ISO), ``client`` (address), ``identity`` (who the
credential says the caller is, or ``"anonymous"``), ``method``, ``path`` (without the query
string), ``status`` and ``latency_ms``. The credential itself, the query string and the
request body are never written: the log is evidence for the SIEM
(``collectors.ScoringLogCollector``), readable by whoever investigates, so it must not
become a place to steal a token or a declaration from.

Why an ASGI middleware and not uvicorn's access log: uvicorn's line is free text without
the caller's identity or the latency, and its formatter is per process, not per app. Each
line is one ``os.write`` on an ``O_APPEND`` descriptor, so concurrent writers never
interleave within a line and a crash never leaves half a record before the next one.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from workbench.settings import Settings

ANONYMOUS_CALLER = "anonymous"
TOKEN_CALLER = "token:"
"""Prefix of a bearer token's fingerprint in the log (``token_identity``): a machine client such as
a clearance system, not a hub account (the SIEM's detectors tell the two apart by it)."""

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def token_identity(token: str) -> str:
    """A bearer token's name in logs: ``token:`` + 12 hex of its SHA-256 (tells tokens apart after a rotation)."""
    return TOKEN_CALLER + hashlib.sha256(token.encode()).hexdigest()[:12]


def scoring_access_log_path(settings: Settings) -> Path | None:
    """Where the scoring service logs: the ``scoring_access_log`` setting, else ``<lake root>/../logs/
    scoring-access.log`` for a local lake (beside the audit folder), else None (standard error)."""
    if settings.scoring_access_log:
        return Path(settings.scoring_access_log)
    lake = str(settings.lake)
    if "://" in lake and not lake.startswith("file://"):
        return None
    return Path(lake.removeprefix("file://")).resolve().parent / "logs" / "scoring-access.log"


def open_access_log(path: Path | None) -> int:
    """An append-only descriptor for ``path`` (created 0640 with its folder), or standard error's."""
    if path is None:
        return 2
    path.parent.mkdir(parents=True, exist_ok=True)
    return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)


class JsonAccessLog:
    """ASGI middleware: one JSON line per HTTP request to ``fd``; ``identify`` names the caller from
    the ``Authorization`` header (it must never return the credential itself)."""

    def __init__(self, app: ASGIApp, fd: int, identify: Callable[[bytes], str]) -> None:
        self.app, self.fd, self.identify = app, fd, identify

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets when the app raises before answering

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            headers = dict(scope.get("headers") or [])
            client = scope.get("client")
            line = {
                "ts": datetime.now(UTC).isoformat(timespec="microseconds"),
                "client": client[0] if client else None,
                "identity": self.identify(headers.get(b"authorization", b"")),
                "method": scope["method"], "path": scope["path"], "status": status,
                "latency_ms": round((time.perf_counter() - started) * 1000, 3),
            }
            os.write(self.fd, (json.dumps(line) + "\n").encode())
