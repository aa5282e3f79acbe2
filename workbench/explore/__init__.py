"""Interactive exploration: the analyst session over DuckDB and Polars."""

from workbench.explore.session import Session, connect

__all__ = ["Session", "connect"]
