"""Customs Analytics Workbench: the library notebooks, services, apps and the CLI stand on.

``Session`` and ``connect`` load on first use (``workbench.exports``): a component that
imports one module of the library does not pay for the analysts' session stack.
"""

from typing import TYPE_CHECKING

from workbench.exports import lazy_exports
from workbench.errors import WorkbenchError

if TYPE_CHECKING:
    from workbench.session import Session, connect

__all__, __getattr__ = lazy_exports(__name__, {"workbench.session": ("Session", "connect"),
                                               "workbench.errors": ("WorkbenchError",)})
__version__ = "0.1.0"


def load_ipython_extension(ipython: object) -> None:
    """``%load_ext workbench``: see ``workbench.session.jupyter``."""
    from workbench.session.jupyter import load_ipython_extension as load

    load(ipython)
