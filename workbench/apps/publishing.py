"""Published dashboards: an analyst's own Panel app or notebook, served by the dashboards service.

``workbench publish app|notebook PATH --roles ...`` (``workbench/cli/publish.py``) sends the
file to the service's API with the person's hub token (``publish``); the service checks
the token with the hub (so who published is the hub's word, not the client's), validates
the request and stores the file in its own folder (``PublishedStore``, mode 0700, owned
by the service) with who/when/roles in ``meta.json``, and records it in the audit trail.
Then the service starts the app's own server, as the Unix user of whoever published this
version, and serves it at ``/published/NAME/`` (``published_process.py``: published
code never runs in the service, which runs as root); a replaced app's server is
restarted with the new file, a removed app's server stopped.

Only the publisher or an administrator may replace or remove a published app; analysts,
modellers and administrators may publish (managers open dashboards, they do not write
code). The API accepts only ``Authorization: token ...`` requests, never the browser
cookie, so a page cannot make a visitor publish or unpublish (no CSRF).
"""

from __future__ import annotations

import ast
import base64
import hashlib
import json
import os
import shutil
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tornado.web import HTTPError, RequestHandler

from workbench.apps.specs import Dashboard, Viewer, check_name, check_roles
from workbench.errors import WorkbenchError

KINDS = {"app": ".py", "notebook": ".ipynb"}
PUBLISHER_ROLES = ("analyst", "modeller", "admin")
MAX_BYTES = 5 * 2**20
META = "meta.json"
API_PATH = "/api/published"


class PublishError(WorkbenchError):
    """A publish or unpublish request that cannot be done; ``status`` is the HTTP status the API answers."""

    def __init__(self, message: str, status: int = 400) -> None:
        self.status = status
        super().__init__(message)


@dataclass(frozen=True)
class PublishedApp:
    """What ``meta.json`` records about a published app."""

    name: str
    title: str
    kind: str
    file: str
    roles: tuple[str, ...]
    owner: str
    owner_role: str | None
    published_at: str
    sha256: str
    source: str  # the file name the publisher sent
    publisher: str = ""  # who sent this version (an administrator may replace an analyst's app)

    @property
    def runs_as(self) -> str:
        """The hub user whose Unix user runs this version: its publisher, never the owner's name on
        someone else's code (metadata written before ``publisher`` existed: the owner)."""
        return self.publisher or self.owner

    def dashboard(self, folder: Path) -> Dashboard:
        return Dashboard(self.name, self.title, self.roles, path=folder / self.name / self.file,
                         description=f"{self.kind} published by {self.owner}", owner=self.owner,
                         published_at=self.published_at)


def check_content(kind: str, source: str, content: bytes) -> None:
    """Refuse a file that is not what ``kind`` says (extension, size, Python syntax, notebook JSON)."""
    if kind not in KINDS:
        raise PublishError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    if not source.endswith(KINDS[kind]):
        raise PublishError(f"{source}: a {kind} must be a {KINDS[kind]} file")
    if len(content) > MAX_BYTES:
        raise PublishError(f"{source}: {len(content)} bytes is over the {MAX_BYTES} byte limit")
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PublishError(f"{source}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    if kind == "app":
        try:
            ast.parse(text, filename=source)
        except SyntaxError as exc:
            raise PublishError(f"{source}: line {exc.lineno}: {exc.msg}") from None
    else:
        try:
            notebook = json.loads(text)
        except json.JSONDecodeError as exc:
            raise PublishError(f"{source}: not a notebook: {exc}") from None
        if not isinstance(notebook, dict) or not isinstance(notebook.get("cells"), list):
            raise PublishError(f"{source}: not a notebook: no 'cells' list")


def read_meta(folder: Path) -> PublishedApp | None:
    """The ``meta.json`` in ``folder`` (a published app's folder, or a running copy of it); None if unreadable."""
    try:
        raw = json.loads((folder / META).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    raw["roles"] = tuple(raw["roles"])
    return PublishedApp(**raw)


class PublishedStore:
    """The service's folder of published apps: ``<folder>/<name>/{app.py|app.ipynb, meta.json}``.

    A publish writes a new sub-folder next to the old one and swaps it in with renames, so
    a reader sees the old app or the new one, never half of one.
    """

    def __init__(self, folder: str | os.PathLike[str], reserved: set[str] | frozenset[str] = frozenset()) -> None:
        self.folder = Path(folder)
        self.reserved = set(reserved)
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.folder, 0o700)

    def meta(self, name: str) -> PublishedApp | None:
        """What ``meta.json`` of the published app ``name`` says; None when there is no such app."""
        return read_meta(self.folder / name)

    def get(self, name: str | None) -> Dashboard | None:
        if not name:
            return None
        try:
            check_name(name)
        except ValueError:
            return None
        meta = self.meta(name)
        return None if meta is None else meta.dashboard(self.folder)

    def list(self) -> list[Dashboard]:
        found = (self.get(p.name) for p in sorted(self.folder.iterdir()) if p.is_dir() and not p.name.startswith("."))
        return [d for d in found if d is not None]

    def publish(self, viewer: Viewer, kind: str, source: str, content: bytes, roles: list[str],
                name: str, title: str | None = None) -> PublishedApp:
        """Store ``content`` as the app ``name`` for ``roles``; the viewer becomes (or must be) its owner."""
        if viewer.role not in PUBLISHER_ROLES:
            raise PublishError(f"{viewer.name} ({viewer.role or 'no role'}) may not publish; "
                               f"publishers: {', '.join(PUBLISHER_ROLES)}", status=403)
        try:
            check_name(name)
            allowed = check_roles(roles)
        except ValueError as exc:
            raise PublishError(str(exc)) from None
        if name in self.reserved:
            raise PublishError(f"{name!r} is the name of a registered dashboard or a service route; choose another")
        check_content(kind, source, content)
        old = self.meta(name)
        if old is not None and old.owner != viewer.name and viewer.role != "admin":
            raise PublishError(f"{name!r} was published by {old.owner}; only they or an administrator may replace it",
                               status=403)
        meta = PublishedApp(name=name, title=title or name.replace("-", " ").capitalize(), kind=kind,
                         file="app" + KINDS[kind], roles=allowed, owner=old.owner if old else viewer.name,
                         owner_role=viewer.role, published_at=datetime.now(UTC).isoformat(timespec="seconds"),
                         sha256=hashlib.sha256(content).hexdigest(), source=os.path.basename(source),
                         publisher=viewer.name)
        staging = self.folder / f".new-{name}-{uuid.uuid4().hex[:8]}"
        staging.mkdir(mode=0o700)
        try:
            (staging / meta.file).write_bytes(content)
            (staging / META).write_text(json.dumps(asdict(meta), indent=1), encoding="utf-8")
            target = self.folder / name
            retired = self.folder / f".old-{name}-{uuid.uuid4().hex[:8]}"
            if target.exists():
                target.rename(retired)
            staging.rename(target)
            shutil.rmtree(retired, ignore_errors=True)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return meta

    def remove(self, viewer: Viewer, name: str) -> PublishedApp:
        """Unpublish ``name``: only its publisher or an administrator."""
        meta = self.meta(name) if name and not name.startswith(".") else None
        if meta is None:
            raise PublishError(f"no published dashboard named {name!r}", status=404)
        if meta.owner != viewer.name and viewer.role != "admin":
            raise PublishError(f"{name!r} was published by {meta.owner}; only they or an administrator may remove it",
                               status=403)
        retired = self.folder / f".old-{name}-{uuid.uuid4().hex[:8]}"
        (self.folder / name).rename(retired)
        shutil.rmtree(retired, ignore_errors=True)
        return meta


def audit_publication(viewer: Viewer, event: str, meta: PublishedApp) -> None:
    """One audit record for a publish or unpublish, in the publisher's name."""
    from workbench.security.audit_service import open_trail
    from workbench.settings import load_settings

    trail = open_trail(load_settings(), viewer.name, viewer.role or "none")
    try:
        trail.record(event, dashboard=meta.name, kind=meta.kind, roles=list(meta.roles), owner=meta.owner,
                     sha256=meta.sha256)
    finally:
        trail.close()


# ----------------------------------------------------------------------------- the service's API


class PublishedAPIHandler(RequestHandler):
    """``GET|POST <prefix>/api/published``, ``DELETE <prefix>/api/published/NAME``; token-authenticated JSON."""

    def initialize(self, store: PublishedStore, hub_auth: Any, apps: Any) -> None:
        self.store = store
        self.hub_auth = hub_auth
        self.apps = apps  # the service's PublishedApps (published_process.py)

    async def prepare(self) -> None:
        from workbench.apps.hub_auth import hub_viewer

        if not self.request.headers.get("Authorization"):
            raise HTTPError(401, "send the hub token as 'Authorization: token ...'")
        viewer = await hub_viewer(self.hub_auth, self)
        if viewer is None:
            raise HTTPError(403, "the token is not a hub user allowed to use the dashboards service")
        self.viewer = viewer

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        message = getattr(exc, "log_message", None) or self._reason
        self.finish({"error": message})

    def _fail(self, exc: PublishError) -> None:
        self.set_status(exc.status)
        self.finish({"error": str(exc)})

    def get(self, name: str = "") -> None:
        visible = [d for d in self.store.list() if d.allows(self.viewer) or self.viewer.role == "admin"]
        self.finish({"published": [published_json(d) for d in visible]})

    async def post(self, name: str = "") -> None:
        try:
            body = json.loads(self.request.body or b"{}")
            content = base64.b64decode(body["content"], validate=True)
            meta = self.store.publish(self.viewer, str(body.get("kind", "")), str(body.get("source", "")), content,
                                      list(body.get("roles") or []), str(body.get("name", "")), body.get("title"))
        except PublishError as exc:
            return self._fail(exc)
        except (ValueError, KeyError, TypeError) as exc:
            return self._fail(PublishError(f"bad request body: {exc!r}"))
        audit_publication(self.viewer, "dashboard_publish", meta)
        entry = published_json(meta.dashboard(self.store.folder))
        try:
            await self.apps.launch(meta.name)
            entry["server"] = "started"
        except WorkbenchError as exc:  # stored: its first viewer retries and is told why it cannot open
            entry["server"] = f"not started: {exc}"
        self.set_status(201)
        self.finish(entry)

    async def delete(self, name: str = "") -> None:
        try:
            meta = self.store.remove(self.viewer, name)
        except PublishError as exc:
            return self._fail(exc)
        await self.apps.retire(meta.name)
        audit_publication(self.viewer, "dashboard_unpublish", meta)
        self.finish({"removed": meta.name})


def published_json(d: Dashboard) -> dict[str, Any]:
    return {"name": d.name, "title": d.title, "roles": list(d.roles), "owner": d.owner,
            "published_at": d.published_at, "url_path": published_path(d.name)}


def published_path(name: str) -> str:
    """A published app's URL, relative to the service's prefix."""
    return f"published/{name}/"


def api_routes(store: PublishedStore, hub_auth: Any, apps: Any) -> list[tuple[str, type[RequestHandler], dict[str, Any]]]:
    args = {"store": store, "hub_auth": hub_auth, "apps": apps}
    return [(API_PATH, PublishedAPIHandler, args), (API_PATH + r"/([a-z][a-z0-9-]*)", PublishedAPIHandler, args)]


# ----------------------------------------------------------------------------- the client (CLI)


def _call(method: str, url: str, token: str, **kwargs: Any) -> dict[str, Any]:
    import requests

    try:
        response = requests.request(method, url, headers={"Authorization": f"token {token}"}, timeout=60, **kwargs)
    except requests.RequestException as exc:
        raise PublishError(f"cannot reach the dashboards service at {url}: {exc}") from None
    try:
        answer = response.json()
    except ValueError:
        answer = {"error": response.text[:300]}
    if response.status_code >= 400:
        raise PublishError(f"the dashboards service refused ({response.status_code}): "
                           f"{answer.get('error', answer)}", status=response.status_code)
    return dict(answer)


def publish(service_url: str, token: str, kind: str, path: Path, roles: list[str], name: str,
            title: str | None = None) -> dict[str, Any]:
    """Send ``path`` to the service as the published ``kind`` ``name`` for ``roles``; returns its entry."""
    content = path.read_bytes()
    check_content(kind, path.name, content)  # the same checks the service makes, before any upload
    body = {"kind": kind, "source": path.name, "name": name, "title": title, "roles": roles,
            "content": base64.b64encode(content).decode("ascii")}
    return _call("POST", service_url.rstrip("/") + API_PATH, token, json=body)


def unpublish(service_url: str, token: str, name: str) -> dict[str, Any]:
    return _call("DELETE", f"{service_url.rstrip('/')}{API_PATH}/{name}", token)


def list_published(service_url: str, token: str) -> list[dict[str, Any]]:
    return list(_call("GET", service_url.rstrip("/") + API_PATH, token)["published"])
