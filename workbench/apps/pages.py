"""The dashboards service's own pages: the home (a card per app the viewer may open), the frame a
published app is shown in, and the refusal pages, all in one look.

The home is where dashboard-only roles (managers, field officers) land after logging in, so
it answers what they need before they open anything: what each app answers, how fresh its
data is (when its tables were last written) and which version of each table it reads.
Freshness is read from the lake's catalog through a session opened as the viewer
(``connect`` under ``hosted``), so a table the viewer's role may not read shows as not
available rather than leaking its name's metadata; if the lake cannot be read at all,
the cards still show, without freshness, never an error page.

Plain server-rendered HTML rather than a Panel document: the home must answer instantly
and without a websocket, for every role, even while the apps' data is still being built.
"""

from __future__ import annotations

import html
import logging
from dataclasses import dataclass
from datetime import datetime

from workbench.apps.specs import Dashboard, Viewer
from workbench.errors import WorkbenchError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TableState:
    """One table as the viewer may see it in the catalog: its current version and when that was written."""

    version: int
    updated_at: datetime


def table_states(viewer: Viewer, names: set[str]) -> dict[str, TableState] | None:
    """The catalog entries among ``names`` the viewer's role may read; None when the lake cannot be read."""
    from workbench.session import connect
    from workbench.settings import hosted

    try:
        with hosted(user=viewer.name, role=viewer.role):
            catalog = connect().tables()
    except (WorkbenchError, OSError) as exc:
        log.warning("dashboards home without freshness for %s: %s", viewer.name, exc)
        return None
    rows = catalog.filter(catalog["name"].is_in(sorted(names))).select("name", "version", "updated_at").rows()
    return {name: TableState(int(version), updated_at) for name, version, updated_at in rows}


def esc(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def card(prefix: str, url: str, app: Dashboard, states: dict[str, TableState] | None) -> str:
    """One app's card: title, what it answers, and (registered apps) freshness and table versions."""
    lines = [f"<h2>{esc(app.title)}</h2>", f"<p class='what'>{esc(app.description)}</p>"]
    if app.owner is not None:
        lines.append("<p class='fresh'>" + (f"Published {esc(app.published_at[:10])} · " if app.published_at else "")
                     + f"for {esc(app.roles_text)}</p>")
    elif app.tables and states is None:
        lines.append("<p class='fresh'>Freshness unknown: the lake could not be read just now.</p>")
    elif app.tables and states is not None:
        seen = [states[t] for t in app.tables if t in states]
        lines.append(f"<p class='fresh'>Last refreshed {when(max(s.updated_at for s in seen))}</p>" if seen else
                     "<p class='fresh'>No data yet: its tables are still being built.</p>")
        chips = "".join(f"<li>{esc(t)} <b>v{states[t].version}</b></li>" if t in states else
                        f"<li class='absent' title='not loaded yet, or not for your role'>{esc(t)} <b>n/a</b></li>"
                        for t in app.tables)
        lines.append(f"<ul class='tables'>{chips}</ul>")
    return f"<a class='card' href='{esc(prefix)}/{esc(url)}'>{''.join(lines)}</a>"


def home_body(prefix: str, apps: list[tuple[str, Dashboard]], states: dict[str, TableState] | None) -> str:
    """The home's cards, registered apps first, then published ones."""
    if not apps:
        return "<p>No dashboard is open to your role yet. An administrator can tell you which you need.</p>"
    registered = "".join(card(prefix, url, app, states) for url, app in apps if app.owner is None)
    published = "".join(card(prefix, url, app, states) for url, app in apps if app.owner is not None)
    return (f"<div class='cards'>{registered}</div>"
            + (f"<h2 class='section'>Published apps</h2><div class='cards'>{published}</div>" if published else ""))


def framed_app(prefix: str, app: Dashboard, src: str, sandbox: str) -> str:
    """The frame page's body: who published the app for whom, and the app in its sandbox."""
    return (f"<p class='who'>Published by {esc(app.owner)} for {esc(app.roles_text)} · shown in a sandbox: "
            "it cannot act as you</p>"
            f"<iframe class='app' sandbox='{esc(sandbox)}' src='{esc(src)}' title='{esc(app.title)}'></iframe>")


def page_html(title: str, body: str, prefix: str, viewer: Viewer | None, wide: bool = False) -> str:
    """A whole service page: the bar (home link, who is logged in), the title, ``body`` (already escaped)."""
    who = "" if viewer is None else f"{esc(viewer.name)} · {esc(viewer.role or 'no role')}"
    return ("<!doctype html><html><head><meta charset='utf-8'>"
            f"<title>{esc(title)}</title><meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<style>{PAGE_CSS}</style></head><body class='{'wide' if wide else ''}'>"
            f"<header class='bar'><a href='{esc(prefix)}/'>Customs workbench · Dashboards</a>"
            f"<span class='who'>{who}</span></header>"
            f"<main><h1>{esc(title)}</h1>{body}</main></body></html>")


PAGE_CSS = """
body { font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; margin: 0; color: #1f2933; background: #fff; }
.bar { display: flex; justify-content: space-between; align-items: center; padding: .6em 1.2em;
       background: #0072b5; color: #fff; }
.bar a { color: #fff; text-decoration: none; font-weight: 600; } .bar .who { color: #fff; opacity: .9; font-size: 90%; }
main { max-width: 1100px; margin: 0 auto; padding: .5em 1.2em 2em; }
h1 { font-size: 1.5em; margin: .6em 0; } h2.section { font-size: 1.1em; margin: 1.4em 0 .4em; color: #52606d; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(300px, 1fr)); gap: 14px; }
.card { display: block; padding: 14px 16px; border-radius: 6px; background: #f3f5f8; color: inherit;
        text-decoration: none; border: 1px solid #e4e7eb; }
.card:hover { border-color: #0072b5; box-shadow: 0 2px 6px rgba(0, 0, 0, .08); }
.card h2 { font-size: 1.15em; margin: 0 0 .3em; color: #0072b5; }
.what { margin: .2em 0 .6em; } .fresh { font-size: 90%; color: #52606d; margin: .3em 0; }
.tables { list-style: none; padding: 0; margin: .4em 0 0; display: flex; flex-wrap: wrap; gap: 4px; }
.tables li { font-size: 78%; background: #fff; border: 1px solid #e4e7eb; border-radius: 10px; padding: 1px 8px; }
.tables li.absent { color: #9aa5b1; }
.who { color: #52606d; }
body.wide { display: flex; flex-direction: column; height: 100vh; }
body.wide main { max-width: none; width: 100%; box-sizing: border-box; flex: 1; display: flex; flex-direction: column;
                 padding-bottom: .6em; }
body.wide h1 { font-size: 1.2em; margin: .3em 0; }
iframe.app { flex: 1; width: 100%; border: 1px solid #e4e7eb; border-radius: 6px; }
"""
