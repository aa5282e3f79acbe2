"""Scoring of the graph components against the synthetic world's truth (tests and benchmarks only).

Nothing under ``workbench/graph`` that resolves, builds or detects imports this module;
callers pass the truth frames in, so a resolver cannot read truth by accident.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from itertools import combinations

import polars as pl

from workbench.lake.macros import name_key_expr


@dataclass(frozen=True)
class PairScore:
    """Pairwise precision, recall and F1 of a clustering against true clusters."""

    precision: float
    recall: float
    f1: float
    predicted_pairs: int
    true_pairs: int


def _pairs(groups: Iterable[list[str]]) -> set[tuple[str, str]]:
    return {(a, b) if a < b else (b, a) for g in groups for a, b in combinations(sorted(set(g)), 2)}


def pairwise_score(predicted: pl.DataFrame, truth: pl.DataFrame, record: str = "record", cluster: str = "cluster") -> PairScore:
    """Compare two ``(record, cluster)`` frames over the records both hold."""
    common = predicted.join(truth.select(record), on=record, how="semi")
    truth = truth.join(common.select(record), on=record, how="semi")
    pred = _pairs(common.group_by(cluster).agg(pl.col(record))[record].to_list())
    true = _pairs(truth.group_by(cluster).agg(pl.col(record))[record].to_list())
    tp = len(pred & true)
    p = tp / len(pred) if pred else 1.0
    r = tp / len(true) if true else 1.0
    return PairScore(p, r, 2 * p * r / (p + r) if p + r else 0.0, len(pred), len(true))


def truth_clusters(entities: pl.DataFrame) -> pl.DataFrame:
    """truth.entities as ``(record, cluster)`` keyed like mentions (``system/source_id/kind``).

    The resolver's ``unique_id`` also names the table; truth does not, so both sides are
    keyed on system, source id and kind here. Trade declarations are left out: they carry
    the trader id and are not resolved by name.
    """
    return entities.filter(pl.col("source_system") != "tdec").select(
        pl.concat_str("source_system", "source_id", "kind", separator="/").alias("record"),
        pl.col("entity_id").alias("cluster"),
    )


def resolved_clusters(members: pl.DataFrame, cluster: str = "entity_id") -> pl.DataFrame:
    """A resolution's members as ``(record, cluster)`` in the key of ``truth_clusters``."""
    return members.select(
        pl.concat_str("source_system", "source_id", "kind", separator="/").alias("record"),
        pl.col(cluster).alias("cluster"),
    )


@dataclass(frozen=True)
class RingScore:
    """How well the top networks recover planted rings (a ring counts as found at >= half its members)."""

    rings: int
    found: int
    member_recall: float
    member_precision: float
    hits: int = 0
    """Ring members inside their ring's best network (pooled over worlds by summing)."""
    members: int = 0
    claimed: int = 0
    """Members of the networks matched to rings."""

    @property
    def ring_recall(self) -> float:
        return self.found / self.rings if self.rings else 1.0


def ring_score(networks: list[dict], rings: pl.DataFrame) -> RingScore:
    """Match each truth ring to its best-overlapping network among ``networks`` (detect's JSON records)."""
    predicted = [{(m["kind"], i) for m in n["members"] for i in m["source_ids"]} for n in networks]
    found, hit, size, claimed = 0, 0, 0, 0
    for _, group in rings.group_by("ring_id"):
        members = set(zip(group["kind"].to_list(), group["source_id"].to_list(), strict=True))
        best = max(predicted, key=lambda p: len(p & members), default=set())
        overlap = len(best & members)
        found += overlap * 2 >= len(members)
        hit, size, claimed = hit + overlap, size + len(members), claimed + len(best)
    n = rings["ring_id"].n_unique()
    return RingScore(n, found, hit / size if size else 1.0, hit / claimed if claimed else 1.0, hit, size, claimed)


def exact_name_clusters(members: pl.DataFrame) -> pl.DataFrame:
    """The baseline: records with the same kind and the same normalised name (as curated ``*_norm``) are one entity."""
    norm = name_key_expr(pl.col("name"))
    keyed = members.with_columns(
        pl.when(norm == "").then(pl.col("unique_id")).otherwise(pl.concat_str(pl.col("kind"), norm)).alias("baseline"))
    return resolved_clusters(keyed, "baseline")


def br_phone_name_clusters(records: pl.DataFrame) -> pl.DataFrame:
    """The baseline for record files: records sharing a BR number, phone digits or normalised English name are one entity."""
    import networkx as nx

    norm = name_key_expr(pl.col("name")).str.replace_all(r"\b(LTD|CO)\b", "").str.replace_all(r"\s+", " ").str.strip_chars()
    keyed = records.select("record_id", pl.concat_list(
        pl.lit("br:") + pl.col("br_no").str.replace_all(r"\D", "").str.slice(0, 8),
        pl.lit("phone:") + pl.col("phone").str.replace_all(r"\D", "").str.slice(-8),
        pl.lit("name:") + norm).alias("key")).explode("key").filter(~pl.col("key").str.ends_with(":"))
    graph = nx.Graph()
    graph.add_nodes_from(records["record_id"].to_list())
    for _, group in keyed.drop_nulls("key").group_by("key"):
        ids = group["record_id"].to_list()
        graph.add_edges_from(zip(ids, ids[1:]))
    return pl.DataFrame([{"record": r, "cluster": min(c)} for c in nx.connected_components(graph) for r in c])
