"""``workbench network``: resolve entities, build the evidence graph, detect suspected networks."""

from __future__ import annotations

from pathlib import Path

import click
import polars as pl

from workbench.cli.common import SessionFactory, console, emit, format_option, lake_option


@click.group()
def network() -> None:
    """Smuggling networks: entity resolution across systems, the evidence graph, detection."""


@network.command()
@click.option("--threshold", default=0.6, show_default=True, help="Match probability above which two records merge.")
@click.option("--force", is_flag=True, help="Re-resolve even when no input table changed since the last run.")
@format_option("table", "json")
@lake_option
def resolve(session: SessionFactory, threshold: float, force: bool, fmt: str) -> None:
    """Resolve traders, brokers, people and vehicle owners across systems into curated.resolved_entities.

    A re-run whose input tables (sources, overrides) are at the versions the last run
    recorded in its lineage, with the same threshold, reuses that result.
    """
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

    result = build_graph(session())
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

    networks = run(session(), top=top)
    write_networks(networks, output)
    console.print(f"{len(networks)} networks written to {output}")
