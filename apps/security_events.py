"""Security events for administrators: `panel serve apps/security_events.py` (lake from WORKBENCH_LAKE / settings)."""

from workbench.apps.security_events import security_app

security_app().servable(title="Security events")
