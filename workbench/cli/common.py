"""What every sub-command shares: the ``--lake`` option, output formats, error handling."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from functools import wraps
from typing import TYPE_CHECKING, Any, TypeVar

import click
from rich.console import Console
from rich.table import Table

from workbench.errors import UnknownTable, WorkbenchError

if TYPE_CHECKING:  # the session stack loads when a command opens a session, not with every command
    import polars as pl

    from workbench.session import Session

F = TypeVar("F", bound=Callable[..., Any])

console = Console()


def lake_option(func: F) -> F:
    """Add ``--lake DIR`` (default: WORKBENCH_LAKE, then the settings file) and pass a session."""

    @click.option("--lake", "lake", default=None, metavar="DIR|URL",
                  help="Lake root (default: $WORKBENCH_LAKE, then the nearest workbench.toml from here up, "
                       "then ~/.local/share/workbench/lake; `workbench config` shows which).")
    @wraps(func)
    def wrapper(*args: Any, lake: str | None, **kwargs: Any) -> Any:
        def session() -> Session:
            from workbench.session import connect

            return connect(lake)

        return func(*args, session=session, **kwargs)

    return wrapper  # type: ignore[return-value]


def format_option(*choices: str) -> Callable[[F], F]:
    return click.option("--format", "fmt", type=click.Choice(list(choices)), default=choices[0], show_default=True,
                        help="Output format; json and csv are for scripts.")


def emit(frame: pl.DataFrame, fmt: str, title: str | None = None) -> None:
    """Print a frame as a rich table, CSV or JSON (a list of records)."""
    if fmt == "json":
        click.echo(json.dumps(frame.to_dicts(), default=str, ensure_ascii=False, indent=1))
    elif fmt == "csv":
        click.echo(frame.write_csv(), nl=False)
    else:
        table = Table(title=title, show_lines=False)
        for col in frame.columns:
            table.add_column(col, overflow="fold")
        for row in frame.iter_rows():
            table.add_row(*("" if v is None else str(v) for v in row))
        console.print(table)


class WorkbenchGroup(click.Group):
    """A click group that turns library errors into one line and exit status 1.

    A missing table that a step of the stack's background jobs makes (``jobs.toml``) gets
    that step's command, and its progress when it runs, in the same line.
    """

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except WorkbenchError as exc:
            click.echo(f"error: {exc}{missing_step_hint(exc)}", err=True)
            sys.exit(1)


def missing_step_hint(exc: WorkbenchError) -> str:
    """"; it is made by `workbench network build` (being built: 40%, about 3 min)" for a table a job makes."""
    if not isinstance(exc, UnknownTable):
        return ""
    from workbench.platform.jobs import building, missing_step

    step = missing_step(exc.name)
    if step is None:
        return ""
    try:
        progress = building([exc.name])
    except (OSError, WorkbenchError):
        progress = None
    return f"; it is made by `{step}`" + (f" ({progress})" if progress else "")


SessionFactory = Callable[[], "Session"]
