"""The session: the one gate through which analysts, apps and jobs read and write the lake
(DuckDB and Polars locally, `wb.dask` on a cluster)."""

from workbench.session.session import Session, connect

__all__ = ["Session", "connect"]
