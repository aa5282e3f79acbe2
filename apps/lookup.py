"""Field officers' lookup: `panel serve apps/lookup.py` (lake from WORKBENCH_LAKE / settings)."""

from workbench.apps.lookup import lookup_app

lookup_app().servable(title="Lookup")
