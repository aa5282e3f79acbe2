"""Package exports loaded on first use (PEP 562 ``__getattr__``).

Why: importing any module of a package runs the package's ``__init__`` first. When that
``__init__`` imported its whole public API eagerly, the hub's config, the audit service and
each supervised service paid at every (re)start for engines they never use (DuckDB,
Polars, pandera, Dask): seconds of a component's recovery on a busy machine. With these
exports ``from workbench.lake import Lake`` works as before, and costs what ``Lake`` costs.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any


def lazy_exports(package: str, exports: Mapping[str, Sequence[str]]) -> tuple[list[str], Callable[[str], Any]]:
    """``(__all__, __getattr__)`` for ``package`` exporting ``exports`` (module -> names it provides)."""
    where = {name: module for module, names in exports.items() for name in names}

    def __getattr__(name: str) -> Any:
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(where[name]), name)

    return sorted(where), __getattr__
