"""Customs Analytics Workbench: the library notebooks, services, apps and the CLI stand on."""

from workbench.errors import WorkbenchError
from workbench.session import Session, connect

__all__ = ["Session", "WorkbenchError", "connect"]
__version__ = "0.1.0"


def load_ipython_extension(ipython: object) -> None:
    """``%load_ext workbench``: see ``workbench.session.jupyter``."""
    from workbench.session.jupyter import load_ipython_extension as load

    load(ipython)
