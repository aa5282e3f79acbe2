"""``workbench models``: train, score, promote, list and compare risk models.

Specs come from ``models/<NAME>.toml`` in the checkout (``--specs`` for another folder);
the registry lives under the lake (``<lake>/models/registry``) unless ``--registry`` says
otherwise, so ``train`` followed by ``score`` needs no other step.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click
import pandas as pd
import polars as pl

import workbench
from workbench.cli.common import console, emit, format_option
from workbench.registry import Registry, registry_folder
from workbench.risk import load_model_spec, score_file, train

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_SPECS = Path(workbench.__file__).resolve().parents[1] / "models"


def registry_option(func: F) -> F:
    """Add ``--lake`` and ``--registry`` and pass an opened ``Registry``."""

    @click.option("--lake", default=None, metavar="DIR",
                  help="Lake root whose models/registry folder holds the registry (default: the configured lake).")
    @click.option("--registry", "folder", default=None, type=click.Path(file_okay=False, path_type=Path),
                  help="Registry folder, overriding the one under the lake.")
    @wraps(func)
    def wrapper(*args: Any, lake: str | None, folder: Path | None, **kwargs: Any) -> Any:
        return func(*args, registry=Registry(folder or registry_folder(lake)), **kwargs)

    return wrapper  # type: ignore[return-value]


def specs_option(func: F) -> F:
    return click.option("--specs", "specs", default=DEFAULT_SPECS, show_default=True,
                        type=click.Path(file_okay=False, path_type=Path), help="Folder of model spec files.")(func)


def _frame(table: pd.DataFrame) -> pl.DataFrame:
    return pl.from_pandas(table)


@click.group("models")
def models() -> None:
    """Risk models: train with baselines, register in MLflow, promote, score files."""


@models.command("train")
@click.argument("name")
@specs_option
@registry_option
@format_option("table", "json")
def train_command(name: str, specs: Path, registry: Registry, fmt: str) -> None:
    """Train NAME from models/NAME.toml, compare with baselines, register a new version."""
    spec = load_model_spec(name, specs)
    with console.status(f"training {name}") as status:
        run = train(spec, progress=lambda step: status.update(f"{name}: {step}"))
        status.update(f"{name}: registering")
        version = registry.register(run)
    if fmt == "json":
        click.echo(json.dumps({"name": name, "version": version, "selected": run.selected,
                               "results": run.results.to_dict("records")}, default=str, indent=1))
        return
    headline = [c for c in run.results.columns if c.startswith(("precision_at", "recall_at")) or c == "roc_auc"]
    emit(_frame(run.results[["kind", "name", *headline]].round(3)), fmt, title=f"{name} v{version}: validation period (selected {run.selected})")
    if run.data.rejections:
        console.print(f"{len(run.data.rejections)} training rows broke the input contract and were left out")


@models.command("score")
@click.argument("name")
@click.option("--input", "source", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="CSV shaped like the model's input, without label columns.")
@click.option("--output", "target", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="CSV to write: id, score, reason_1..3, riskiest first.")
@click.option("--alias", default="champion", show_default=True, help="Which registered version scores.")
@registry_option
@format_option("table", "json")
def score_command(name: str, source: Path, target: Path, alias: str, registry: Registry, fmt: str) -> None:
    """Score a CSV with NAME's champion; rows breaking the input rules are reported and skipped."""
    report = score_file(registry.load(name, alias), source, target)
    if fmt == "json":
        click.echo(json.dumps({"output": report.output, "scored": report.scored,
                               "rejected": [r.__dict__ | {"reason": r.reason} for r in report.rejections]},
                              default=str, indent=1))
        return
    for rejection in report.rejections:
        click.echo(f"rejected: {rejection.reason}", err=True)
    click.echo(f"scored {report.scored} rows into {report.output}; {len(report.rejections)} rejected")


@models.command("promote")
@click.argument("name")
@click.argument("version", type=int)
@registry_option
def promote_command(name: str, version: int, registry: Registry) -> None:
    """Make VERSION of NAME the champion used by score."""
    registry.promote(name, version)
    click.echo(f"{name} v{version} is now champion")


@models.command("list")
@click.argument("name", required=False)
@registry_option
@format_option("table", "json")
def list_command(name: str | None, registry: Registry, fmt: str) -> None:
    """List registered versions with their aliases and selection metric."""
    emit(_frame(registry.versions(name)), fmt, title="Registered models")


@models.command("compare")
@click.argument("name")
@registry_option
@format_option("table", "json", "csv")
def compare_command(name: str, registry: Registry, fmt: str) -> None:
    """Validation metrics of NAME's versions side by side (model, candidates, baselines)."""
    emit(_frame(registry.compare(name)), fmt, title=f"{name}: versions compared")
