"""Risk overview for managers: `panel serve apps/risk_overview.py` (lake from WORKBENCH_LAKE / settings)."""

from workbench.apps.overview import overview_app

overview_app().servable(title="Risk overview")
