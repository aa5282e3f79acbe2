"""``workbench network``: resolve entities, build the evidence graph, detect suspected networks."""

from __future__ import annotations

from pathlib import Path

import click
import polars as pl

from workbench.cli.common import SessionFactory, console, emit, format_option, lake_option
from workbench.errors import WorkbenchError
from workbench.session import Session
from workbench.graph.tables import ENTITIES, NODES


class MissingStep(WorkbenchError):
    """A command's input table is produced by another command that has not run on this lake."""


def require(wb: Session, table: str, step: str) -> None:
    """Stop with the command that produces ``table`` when the lake does not hold it yet."""
    if table not in set(wb.tables()["name"].to_list()):
        raise MissingStep(f"{table} is not in the lake {wb.settings.lake} yet: run `{step} --lake {wb.settings.lake}` first")


@click.group()
def network() -> None:
    """Smuggling networks: entity resolution across systems, the evidence graph, detection."""


@network.command()
@click.option("--input", "source", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Resolve a CSV of records (record_id, name; optional source_system, address, phone, br_no) "
                   "instead of the lake; needs --output.")
@click.option("--output", "output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="With --input: CSV to write, one row per record: record_id, entity_id.")
@click.option("--threshold", type=float, default=None,
              help="Match probability above which two records merge (default: the linker's, 0.5).")
@click.option("--force", is_flag=True, help="Re-resolve even when no input table changed since the last run.")
@format_option("table", "json")
@lake_option
def resolve(session: SessionFactory, source: Path | None, output: Path | None, threshold: float | None, force: bool,
            fmt: str) -> None:
    """Resolve records into entities: a CSV file (--input/--output, no lake needed) or the lake's curated tables.

    With the lake: traders, brokers, people, drivers, vehicle owners, cash declarants and case
    parties into curated.resolved_entities. A re-run whose input tables (sources, overrides)
    are at the versions the last run recorded in its lineage, with the same threshold, reuses
    that result.
    """
    from workbench.graph.linker import THRESHOLD

    threshold = THRESHOLD if threshold is None else threshold
    if source is not None or output is not None:
        if source is None or output is None:
            raise click.UsageError("--input and --output go together")
        from workbench.graph.records import resolve_file

        result = resolve_file(source, output, threshold=threshold)
        console.print(f"{result.height:,} records, {result['entity_id'].n_unique():,} entities written to {output}")
        return
    from workbench.graph.resolution import resolve as run

    result = run(session(), threshold=threshold, force=force)
    summary = result.members.group_by("kind").agg(
        pl.len().alias("records"), pl.col("entity_id").n_unique().alias("entities")).sort("kind")
    title = "curated.resolved_entities" + (" (inputs unchanged: last result reused)" if result.reused else "")
    emit(summary, fmt, title=title)


@network.command()
@click.argument("decision", type=click.Choice(["accept", "reject"]))
@click.argument("left_id")
@click.argument("right_id")
@click.option("--note", default="", help="Why: kept with the decision for whoever reviews it next.")
@lake_option
def review(session: SessionFactory, decision: str, left_id: str, right_id: str, note: str) -> None:
    """Accept or reject the merge of two records (unique_id as in curated.resolved_entities).

    The decision persists in curated.entity_overrides and every later resolve applies it.
    """
    from workbench.graph.overrides import record_override

    record_override(session(), left_id, right_id, decision, note)  # type: ignore[arg-type]
    console.print(f"{decision}ed: {left_id} ~ {right_id}; run `workbench network resolve` to apply it")


@network.command()
@format_option("table", "json")
@lake_option
def build(session: SessionFactory, fmt: str) -> None:
    """Build the evidence graph (curated.graph_nodes, graph_edges, graph_evidence) from resolved entities."""
    from workbench.graph.build import build_graph

    wb = session()
    require(wb, ENTITIES, "workbench network resolve")
    result = build_graph(wb)
    emit(result.edges.group_by("relation").agg(pl.len().alias("edges"), pl.col("n_records").sum().alias("records"))
         .sort("relation"), fmt, title=f"{result.graph.number_of_nodes():,} nodes")


@network.command()
@click.option("--output", "output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="JSON file to write the ranked networks to.")
@click.option("--top", default=20, show_default=True, help="How many networks to keep.")
@lake_option
def detect(session: SessionFactory, output: Path, top: int) -> None:
    """Rank suspected networks with reasons and write them as JSON."""
    from workbench.graph.detect import detect as run
    from workbench.graph.detect import write_networks

    wb = session()
    require(wb, ENTITIES, "workbench network resolve")
    require(wb, NODES, "workbench network build")
    networks = run(wb, top=top)
    write_networks(networks, output)
    console.print(f"{len(networks)} networks written to {output}")
