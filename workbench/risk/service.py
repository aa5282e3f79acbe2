"""The real-time scoring service: clearance systems POST a record (or a list), get score + reasons back.

The champion of each model named at start (``risk.champions``); a newly promoted version
is loaded beside the one in use and swapped in between requests, so none fails and a
response's ``version`` always names the model that made it. Input goes
through the same contract as batch scoring: every JSON value is read as text first, as a
CSV cell would be, so a wrongly typed value is a named field error (422), never a crash.
Records that provably conform are checked and scored by ``risk.online`` (built once per
model, identical answers, well under a millisecond); everything else takes the batch path.
Authentication is a shared bearer token (standalone) or a hub token carrying the service's
access scope (as the hub's ``scoring`` service, ``risk.hub_access``); a request without it
gets 401 before any work.
Every request leaves one JSON line in the access log (``security.access_log``: caller's
address, the caller's name or token fingerprint or "anonymous", method, path, status,
latency; never the token or the body), which the SIEM collects.

    POST /score/<model>   {"declaration_id": "D...", ...}  or  [{...}, {...}]   (/score: the one model served)
    ->  {"model": "declaration_risk", "version": 3,
         "results": [{"id": "D...", "score": 0.91, "reasons": ["value per kg vs hs peers (+1.20)", ...]}]}
    GET  /health  ->  {"models": {name: version}}   (no token: liveness checks carry none)
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hmac
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import polars as pl
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from workbench.errors import WorkbenchError
from workbench.risk.data import MissingColumns, check_frame
from workbench.risk.model import RiskModel
from workbench.risk.champions import Champions, Served
from workbench.risk.online import OnlineScorer
from workbench.security.access_log import JsonAccessLog, token_identity
from workbench.settings import load_settings

MAX_RECORDS = 1000
"""Records per request; bigger jobs belong to batch scoring (``score_table``)."""


def scoring_token(token_file: Path | None = None) -> str:
    """The bearer token clients must send: from ``token_file`` if given, else the ``scoring_token`` setting."""
    secret = load_settings().scoring_token
    token = token_file.read_text(encoding="utf-8").strip() if token_file else (secret.get_secret_value() if secret else "")
    if not token:
        where = str(token_file) if token_file else "$WORKBENCH_SCORING_TOKEN"
        raise WorkbenchError(f"no scoring token: {where} is empty; the service never runs unauthenticated")
    return token


class BadRequest(Exception):
    """A request the client must fix: HTTP status, the field at fault and why."""

    def __init__(self, status: int, field: str, reason: str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(f"{field}: {reason}")
        self.status, self.field, self.reason, self.errors = status, field, reason, errors or []

    def response(self) -> JSONResponse:
        body: dict[str, Any] = {"error": str(self), "field": self.field}
        if self.errors:
            body["errors"] = self.errors
        return JSONResponse(body, status_code=self.status)


def _as_text(value: object) -> str | None:
    """A JSON value as the text a CSV cell would hold; objects and arrays stay JSON (and fail their type rule)."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value)


def parse_records(body: bytes, columns: list[str]) -> list[dict[str, str | None]]:
    """The request body as records of text values (only the model's input columns are kept)."""
    try:
        payload = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadRequest(400, "body", f"not valid JSON ({exc})") from None
    records = payload if isinstance(payload, list) else [payload]
    if not records:
        raise BadRequest(422, "body", "an empty list has nothing to score")
    if len(records) > MAX_RECORDS:
        raise BadRequest(413, "body", f"{len(records)} records; at most {MAX_RECORDS} per request")
    for i, record in enumerate(records):
        if not isinstance(record, dict):
            raise BadRequest(422, f"body[{i}]", "expected a JSON object of field: value")
    return [{c: _as_text(r[c]) for c in columns if c in r} for r in records]


def score_records(model: RiskModel, body: bytes, fast: OnlineScorer | None = None) -> list[dict[str, Any]]:
    """Score a request body; any input problem raises ``BadRequest`` naming the field.

    ``fast`` (built once per model) serves records it can prove conforming; everything else,
    including every bad record, goes through the batch path so errors are worded in one place.
    """
    texts = parse_records(body, list(model.spec.input.columns))
    results = fast.try_score(texts) if fast is not None else None
    if results is not None:
        return results
    present = [c for c in model.spec.input.columns if any(c in r for r in texts)]
    raw = pl.DataFrame({c: [r.get(c) for r in texts] for c in present}, schema=dict.fromkeys(present, pl.String))
    try:
        checked = check_frame(raw, model.spec, "request")
    except MissingColumns as exc:
        raise BadRequest(422, exc.columns[0], f"required field(s) missing: {', '.join(exc.columns)}") from None
    if checked.rejections:
        first = checked.rejections[0]
        errors = [{"record": r.record, "field": r.field, "rule": r.rule, "value": r.value} for r in checked.rejections]
        raise BadRequest(422, first.field, first.reason, errors)
    scored = model.score(checked.rows)
    reasons = [c for c in scored.columns if c.startswith("reason_")]
    return [{"id": row[model.spec.model.id], "score": float(row["score"]),
             "reasons": [row[c] for c in reasons if row[c]]} for row in scored.to_dict("records")]


Authorize = Callable[[bytes], Awaitable[str | None]]
"""The caller named by an ``Authorization`` header, or None when it may not score."""


def bearer_token(token: str) -> Authorize:
    """The shared-token check of a standalone service (``workbench models serve``)."""
    expected, identity = f"Bearer {token}".encode(), token_identity(token)

    async def authorize(authorization: bytes) -> str | None:
        return identity if hmac.compare_digest(authorization, expected) else None

    return authorize


def make_app(model: RiskModel, version: int, token: str) -> Starlette:
    """The ASGI app serving one model version behind ``token`` (without its access log: ``logged_app``)."""
    return scoring_app(Champions.fixed({model.spec.name: Served.of(model, version)}), bearer_token(token))


def scoring_app(champions: Champions, authorize: Authorize, watch_seconds: float | None = None,
                prefix: str = "") -> Starlette:
    """The service over ``champions``: ``POST /score/<model>`` (``POST /score`` when one model is served).

    ``watch_seconds``: check the registry for new champions this often while running;
    ``prefix``: the path the routes sit under (a hub service's ``/services/<name>``: the
    proxy passes the whole path on).
    """

    async def score(request: Request) -> JSONResponse:
        if await authorize(request.headers.get("authorization", "").encode()) is None:
            return JSONResponse({"error": "missing or wrong token", "field": "authorization"},
                                status_code=401, headers={"WWW-Authenticate": "Bearer"})
        name = request.path_params.get("model")
        if name is None and len(champions.served) == 1:
            name = next(iter(champions.served))
        served = champions.served.get(name or "")
        if served is None:
            return JSONResponse({"error": f"no model {name!r} here; served: {sorted(champions.served)}",
                                 "field": "model"}, status_code=404)
        try:
            results = score_records(served.model, await request.body(), served.fast)
        except BadRequest as bad:
            return bad.response()
        return JSONResponse({"model": name, "version": served.version, "results": results})

    async def health(_: Request) -> JSONResponse:
        versions = {name: s.version for name, s in champions.served.items()}
        single = {"model": next(iter(versions)), "version": next(iter(versions.values()))} if len(versions) == 1 else {}
        return JSONResponse({**single, "models": versions})

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        watcher = asyncio.create_task(champions.watch(watch_seconds)) if watch_seconds else None
        yield
        if watcher is not None:
            watcher.cancel()

    routes = [Route("/score", score, methods=["POST"]), Route("/score/{model}", score, methods=["POST"]),
              Route("/health", health, methods=["GET"])]
    return Starlette(routes=[Mount(prefix.rstrip("/"), routes=routes)] if prefix.strip("/") else routes,
                     lifespan=lifespan)


def logged_app(app: Starlette, identify: Callable[[bytes], str], log_fd: int) -> JsonAccessLog:
    """``app`` with one access-log line per request written to ``log_fd``."""
    return JsonAccessLog(app, log_fd, identify)


def serve(app: Starlette, identify: Callable[[bytes], str], host: str = "127.0.0.1", port: int = 8000,
          log_fd: int = 2) -> None:
    """Run the service in the foreground until interrupted (one process, one event loop).

    Scoring is a fraction of a millisecond on the event loop itself (no thread hop), so the
    tail is set by pauses: the model and its lookup tables are frozen out of the garbage
    collector's reach (a full collection would otherwise walk them, tens of ms, mid-request),
    and per-response headers nobody reads are not built.
    """
    logged = logged_app(app, identify, log_fd)
    gc.collect()
    gc.freeze()
    uvicorn.run(logged, host=host, port=port, log_level="warning", access_log=False, lifespan="on",
                server_header=False, date_header=False)
