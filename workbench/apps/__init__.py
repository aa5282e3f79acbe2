"""Panel dashboards over the workbench, and the servers that show them.

- ``specs``: the one app list (``apps/apps.toml``) and who may open each app.
- ``documents``: one browser session's document of an app, built as its viewer; used by
  every server (the hub's ``service``, each published app's ``published_server``,
  ``workbench apps serve``).
- ``service`` and ``pages``: the hub's ``dashboards`` service and its home (a card per app).
- ``publishing``, ``published_process``, ``published_proxy``, ``published_server``: analysts'
  own apps, each in its own server as its publisher, shown to viewers in a sandbox.
- The apps: ``overview`` (managers' risk overview), ``lookup`` (field officers' lookup, laid
  out for a small screen), ``network_explorer``, ``labelling``, ``security_events``, over
  ``layout`` (shared pieces) and ``queries`` (cached queries through the session, keyed on
  the versions of the tables read).

Every part needing a table that is missing (or unreadable for the role) shows an empty
state that names the table instead of failing.
"""

from typing import TYPE_CHECKING

from workbench.exports import lazy_exports

if TYPE_CHECKING:
    from workbench.apps.queries import QueryCache, missing_tables, run_cached

# Lazy: the dashboards service imports this package before it serves, and ``queries`` brings the
# session stack (pandas, Polars, the lake): a restarted service answers first and loads those after.
__all__, __getattr__ = lazy_exports(__name__, {"workbench.apps.queries": ("QueryCache", "missing_tables", "run_cached")})
