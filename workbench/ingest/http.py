"""HTTP GET for the REST and web kinds, with errors sorted into "source down" and "request wrong".

A connection refused, a timeout, a 5xx or a 429 means the source is down or busy: it
surfaces as ``ConnectionError``/``TimeoutError``, which the connector base retries with
backoff. Any other 4xx (bad token, wrong path) is ``RequestRejected``: retrying cannot
help, so the run fails at once with the status and the server's message.
"""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import Message
from functools import cached_property
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from workbench.errors import WorkbenchError

TIMEOUT_SECONDS = 30.0
USER_AGENT = "customs-workbench-ingest/0.1"


class RequestRejected(WorkbenchError):
    """The server answered 4xx: the request itself is wrong (credentials, path, parameters)."""


@dataclass(frozen=True)
class Response:
    url: str
    status: int
    headers: Message
    body: bytes

    @property
    def media_type(self) -> str:
        return self.headers.get_content_type()

    @cached_property
    def data(self) -> Any:
        """The body parsed as JSON (once)."""
        try:
            return json.loads(self.body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise RequestRejected(f"{self.url}: the response is not JSON: {exc}") from exc

    def link(self, rel: str) -> str | None:
        """The target of a ``Link: <url>; rel="next"`` header (RFC 8288), if any."""
        for part in (self.headers.get("Link") or "").split(","):
            target, _, params = part.partition(";")
            if f'rel="{rel}"' in params.replace(" ", "") or f"rel={rel}" in params.replace(" ", ""):
                return target.strip().strip("<>")
        return None


def with_params(url: str, params: Mapping[str, str]) -> str:
    """``url`` with ``params`` added to its query string."""
    if not params:
        return url
    parts = urlsplit(url)
    query = "&".join(q for q in (parts.query, urlencode(params)) if q)
    return urlunsplit(parts._replace(query=query))


def get(url: str, headers: Mapping[str, str] | None = None, timeout: float = TIMEOUT_SECONDS) -> Response:
    """GET ``url``; raises ConnectionError/TimeoutError when the source is down, RequestRejected on 4xx."""
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310 - http(s) URLs from connector files
            return Response(answer.geturl(), answer.status, answer.headers, answer.read())
    except urllib.error.HTTPError as exc:
        detail = exc.read()[:200].decode("utf-8", errors="replace").strip()
        if exc.code >= 500 or exc.code == 429:
            raise ConnectionError(f"{url}: HTTP {exc.code} {exc.reason}") from exc
        raise RequestRejected(f"{url}: HTTP {exc.code} {exc.reason}{': ' + detail if detail else ''}") from exc
    except (TimeoutError, socket.timeout) as exc:
        raise TimeoutError(f"{url}: no answer within {timeout:.0f} s") from exc
    except urllib.error.URLError as exc:
        raise ConnectionError(f"{url}: {exc.reason}") from exc
