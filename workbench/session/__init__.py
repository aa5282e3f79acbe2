"""The session: the one gate through which analysts, apps and jobs read and write the lake
(DuckDB and Polars locally, `wb.dask` on a cluster).

Exports load on first use (``workbench.exports``): a Dask worker that unpickles a
``wb.dask`` loader imports ``workbench.session.dask_frames`` and need not pay for the
session's engines (DuckDB, Polars, Delta, pandera: seconds per fresh worker).
"""

from typing import TYPE_CHECKING

from workbench.exports import lazy_exports

if TYPE_CHECKING:
    from workbench.session.session import Session, connect

__all__, __getattr__ = lazy_exports(__name__, {"workbench.session.session": ("Session", "connect")})
