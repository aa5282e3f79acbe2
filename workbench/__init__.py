"""Customs Analytics Workbench: the library notebooks, services, apps and the CLI stand on."""

from workbench.errors import WorkbenchError
from workbench.explore import Session, connect

__all__ = ["Session", "WorkbenchError", "connect"]
__version__ = "0.1.0"
