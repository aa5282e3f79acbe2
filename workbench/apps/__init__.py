"""Panel dashboards over the workbench: data functions and layouts the thin files in apps/ serve.

- ``overview``: the managers' risk overview (declarations, inspections, hit rate,
  seizures and value by day, port and HS chapter; filters; CSV export).
- ``lookup``: the field officers' lookup (plate, container, company EN/中文, BR number ->
  risk summary and recent history), laid out for a small screen.
- ``queries``: cached queries through the session, keyed on the versions of the tables read.

Every part needing a table that is missing (or unreadable for the role) shows an empty
state that names the table instead of failing.
"""

from workbench.apps.queries import QueryCache, missing_tables, run_cached

__all__ = ["QueryCache", "missing_tables", "run_cached"]
