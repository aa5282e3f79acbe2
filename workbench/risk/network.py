"""Network features of an actor (importer, broker) from the evidence graph, as of a date.

What the graph adds to a declaration's risk: how connected its trader is (degree, size of
its connected component) and how close it sits to known offenders (hops to the nearest
one, and how many lie within ``hops``). Read through the graph area's public tables
(``curated.graph_edges``, ``curated.resolved_entities``) and the case files.

Leakage: the graph in the lake is built from every record up to now, so it cannot be used
as it stands. Every edge carries the date it was first evidenced (``first_seen``) and
every offender the date of their first case (or confirmed hit), so the graph is replayed in time: a snapshot
"as of" a cutoff keeps only edges first seen, and offenders whose case was opened,
strictly before it. Training rows read the snapshot as of the first day of their month;
rows scored later read the snapshot as of the day after the last fitted row (frozen, like
actor history). Register edges without a date (people's phones and addresses) are kept at
every cutoff: they are standing register facts, not events. The entity resolution itself
(which records are one company) is not replayed; it decides identity, not offences, and
an offender flag only ever comes from a dated case or a dated officer's confirmed hit.

PageRank and Louvain community size are left out on purpose: both are global
computations (about a second each on the scale-1 graph here) that would have to be
redone for every monthly snapshot; degree, component size and BFS distances are linear.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import networkx as nx
import numpy as np
import pandas as pd
import polars as pl

from workbench.session import Session
from workbench.graph.analytics import offender_dates
from workbench.graph.tables import EDGES, ENTITIES
from workbench.risk.asof import AsOfFeature
from workbench.risk.specs import Network

CASES = ("curated.case_parties", "curated.cases")


def feature_names(spec: Network) -> list[str]:
    """Output columns, prefixed by the key column like history features."""
    return [f"{spec.key} network degree", f"{spec.key} network component size",
            f"{spec.key} hops to offender", f"{spec.key} offenders within {spec.hops} hops"]


def month_starts(first: date, last: date) -> list[date]:
    """The first day of every month from ``first``'s to ``last``'s."""
    return [d.date() for d in pd.date_range(first.replace(day=1), last.replace(day=1), freq="MS")]


@dataclass(frozen=True)
class NetworkSnapshots:
    """Per cutoff date and actor key, the network features as of that date (cutoff excluded)."""

    spec: Network
    table: pd.DataFrame
    """``cutoff`` (datetime64), ``key``, then ``feature_names(spec)``; actors outside the graph have no row."""


def network_snapshots(session: Session, spec: Network, cutoffs: list[date]) -> NetworkSnapshots | None:
    """Replay the evidence graph to each cutoff; ``None`` when the lake has no graph (features then absent).

    Offenders are the graph's (``graph.analytics.offender_dates``): case files' parties from
    the day the case was opened, and the entities of officers' confirmed hits from the day
    of the decision, so a hit raises the network features of the actors near it in every
    snapshot after it (a retrained model then scores them higher), and no earlier one."""
    present = set(session.tables()["name"].to_list())
    if not {EDGES, ENTITIES, *CASES} <= present:
        return None
    members = session.sql(f"SELECT source_id AS key, entity_id FROM {ENTITIES} WHERE source_table = $register",
                          {"register": spec.source_table}).to_pandas()
    edges = session.sql(f"SELECT source, target, first_seen FROM {EDGES}").to_pandas()
    offenders = offender_dates(session).drop_nulls("since").group_by("entity_id").agg(pl.col("since").min())
    return NetworkSnapshots(spec, replay(edges, members, offenders.to_pandas(), spec, cutoffs))


def replay(edges: pd.DataFrame, members: pd.DataFrame, offenders: pd.DataFrame, spec: Network,
           cutoffs: list[date]) -> pd.DataFrame:
    """The snapshot table: ``edges`` (source, target, first_seen or None for standing facts), ``members``
    (key, entity_id), ``offenders`` (entity_id, since = first case opened); each cutoff sees only what is
    dated strictly before it. One pass: the graph only grows, so edges are added cutoff by cutoff."""
    edges = edges.assign(first_seen=pd.to_datetime(edges["first_seen"])).sort_values(
        "first_seen", na_position="first", kind="stable")
    first_seen = edges["first_seen"]
    since = pd.to_datetime(offenders["since"])
    graph, done, frames = nx.Graph(), 0, []
    for cutoff in sorted(set(cutoffs)):
        stamp = pd.Timestamp(cutoff)
        known = int((first_seen.isna() | (first_seen < stamp)).sum())  # sorted: undated first, then by date
        graph.add_edges_from(zip(edges["source"].iloc[done:known], edges["target"].iloc[done:known], strict=True))
        done = known
        seeds = [n for n in offenders.loc[since < stamp, "entity_id"] if n in graph]
        frames.append(_measures(graph, members, seeds, spec).assign(cutoff=stamp))
    columns = ["cutoff", "key", *feature_names(spec)]
    return pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)


def _measures(graph: nx.Graph, members: pd.DataFrame, seeds: list[str], spec: Network) -> pd.DataFrame:
    """Features of every member entity that is in ``graph``: degree, component size, hops and offenders near."""
    inside = members[members["entity_id"].isin(set(graph.nodes))]
    entities = inside["entity_id"].unique()
    component = {n: len(c) for c in nx.connected_components(graph) for n in c}
    far = spec.hops + 1
    hops = nx.multi_source_dijkstra_path_length(graph, seeds, cutoff=far, weight=lambda *_: 1) if seeds else {}
    near: dict[str, int] = {}
    for seed in seeds:
        for node, distance in nx.single_source_shortest_path_length(graph, seed, cutoff=spec.hops).items():
            if distance > 0:
                near[node] = near.get(node, 0) + 1
    by_entity = pd.DataFrame({
        "entity_id": entities,
        "degree": [float(graph.degree(n)) for n in entities],
        "component": [np.log1p(component[n]) for n in entities],
        "hops": [float(hops.get(n, far)) for n in entities],
        "near": [float(near.get(n, 0)) for n in entities],
    })
    out = inside.merge(by_entity, on="entity_id")[["key", "degree", "component", "hops", "near"]]
    return out.set_axis(["key", *feature_names(spec)], axis=1)


class NetworkFeature(AsOfFeature):
    """The snapshot features of a row's actor: as of its month's first day (training), as of fit end (scoring)."""

    def __init__(self, spec: Network, snapshots: NetworkSnapshots) -> None:
        self.spec = spec
        self.names = feature_names(spec)
        self.snapshots = snapshots.table
        self.state = pd.DataFrame(columns=self.names)

    def fit(self, frame: pd.DataFrame, labels: np.ndarray, dates: pd.Series) -> None:
        """Keep the snapshot as of the day after the last fitted row (training must have computed it)."""
        cutoff = pd.Timestamp(pd.to_datetime(dates).max().date() + timedelta(days=1))
        taken = self.snapshots[self.snapshots["cutoff"] == cutoff]
        if taken.empty and len(self.snapshots):
            raise ValueError(f"no network snapshot as of {cutoff.date()}: compute it with the training cutoffs")
        self.state = taken.drop(columns="cutoff").drop_duplicates("key").set_index("key")[self.names]

    def past(self, frame: pd.DataFrame, labels: np.ndarray, dates: pd.Series) -> pd.DataFrame:
        month = pd.to_datetime(dates).dt.to_period("M").dt.start_time.to_numpy()
        wanted = pd.DataFrame({"cutoff": month, "key": frame[self.spec.key].to_numpy()})
        table = self.snapshots.drop_duplicates(["cutoff", "key"])
        return wanted.merge(table, on=["cutoff", "key"], how="left")[self.names].reset_index(drop=True)

    def frozen(self, frame: pd.DataFrame) -> pd.DataFrame:
        return self.state.reindex(frame[self.spec.key].to_numpy()).reset_index(drop=True)
