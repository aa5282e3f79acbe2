"""Labelling for analysts: `panel serve apps/labelling.py` (lake from WORKBENCH_LAKE / settings)."""

from workbench.apps.labelling import labelling_app

labelling_app().servable(title="Labelling")
