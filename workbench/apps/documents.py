"""Building one browser session's document of an app: the one builder every app server uses.

The hub's ``dashboards`` service, each published app's own server and ``workbench apps
serve`` all turn an app (``specs.Dashboard``) into Bokeh documents here, with Panel's own
machinery (``build_applications``: ``panel serve`` semantics for a function, a script or
a notebook). ``DashboardHandler`` checks the viewer first, then runs the app's code with
the viewer's name and role in force (``settings.hosted``), so the ``connect()`` in an
app opens a session as the viewer (managers see masked personal identifiers) and the
audit trail names them.
"""

from __future__ import annotations

import html
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bokeh.application.handlers.handler import Handler

from workbench.apps.hub_auth import viewer_from_payload, viewer_payload
from workbench.apps.specs import Dashboard, Viewer
from workbench.settings import hosted

log = logging.getLogger(__name__)
Arguments = dict[str, list[bytes]]


def code_handler(app: Dashboard) -> Handler:
    """Panel's own handler for the app's function, script or notebook."""
    from panel.io.application import build_applications

    source = app.builder()
    built = build_applications({"/": str(source) if isinstance(source, Path) else source}, title=app.title)
    return built["/"].handlers[0]


class DashboardHandler(Handler):  # type: ignore[misc]
    """Builds one session's document: the viewer must be allowed, then the app's code runs as the viewer.

    ``resolve`` names the app from the request's arguments (fixed for a registered app).
    Code handlers are cached per app and rebuilt when its file changes (a republished
    app). ``local`` serves without the hub (``workbench apps serve``): no viewer, the
    person's own settings with these overrides (the lake they named).
    """

    def __init__(self, resolve: Callable[[Arguments | None], Dashboard | None],
                 local: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.resolve = resolve
        self.local = local
        self._code: dict[str, tuple[int | None, Handler]] = {}
        self._lock = threading.Lock()

    def process_request(self, request: Any) -> dict[str, Any]:
        return viewer_payload(request)

    def _code_for(self, app: Dashboard) -> Handler:
        stamp = app.path.stat().st_mtime_ns if app.path is not None else None
        with self._lock:
            cached = self._code.get(app.name)
            if cached is None or cached[0] != stamp:
                cached = (stamp, code_handler(app))
                self._code[app.name] = cached
            return cached[1]

    def modify_document(self, doc: Any) -> None:
        context = doc.session_context
        arguments = context.request.arguments if context is not None and context.request is not None else None
        app = self.resolve(arguments)
        if app is None or not app.exists():
            return _message(doc, "No such dashboard", "This dashboard does not exist (or was unpublished).")
        if self.local is not None:
            overrides = self.local
        else:
            viewer = viewer_from_payload(context.token_payload) if context is not None else None
            if viewer is None or not app.allows(viewer):
                return _message(doc, "Not allowed", refusal_text(app, viewer))
            overrides = {"user": viewer.name, "role": viewer.role}
        code = self._code_for(app)
        with hosted(**overrides):
            code.modify_document(doc)
        self._failed, self._error, self._error_detail = code.failed, code.error, code.error_detail
        if code.failed:
            log.error("dashboard %s failed: %s", app.name, code.error)


def refusal_text(app: Dashboard, viewer: Viewer | None) -> str:
    """What a refused viewer reads: the app, who may open it, and who they are (all escaped)."""
    who = "You are not logged in" if viewer is None else \
        f"You are {html.escape(viewer.name)} ({html.escape(viewer.role or 'no role')})"
    return (f"<b>{html.escape(app.title)}</b> is for: {html.escape(app.roles_text)}"
            + (f" (and {html.escape(app.owner)}, who published it)" if app.owner else "") + f". {who}.")


def _message(doc: Any, title: str, text: str) -> None:
    import panel as pn

    pn.pane.Alert(text, alert_type="danger").server_doc(doc, title=title)
