"""Network explorer for analysts: `panel serve apps/network_explorer.py` (lake from WORKBENCH_LAKE / settings)."""

from workbench.apps.network_explorer import explorer_app

explorer_app().servable(title="Network explorer")
