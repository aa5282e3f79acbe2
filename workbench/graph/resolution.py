"""Entity resolution: which mentions (source records) are the same company or person.

The model is one declarative splink settings object (``SETTINGS``) compiled to SQL for
DuckDB here and for Spark at scale. Its m/u probabilities are set from domain knowledge
(an identity document or a BR number almost never collides; a phone is shared by a
company and its staff, so it is only strong together with a name) and refined by
splink's label-free u estimation, so no labelled pairs and no truth table are needed.
Pairs above ``threshold`` are clustered into entities after analysts' overrides
(``overrides.py``) are applied. Entity ids are derived from their smallest member, so a
re-run over grown sources keeps the ids of entities that did not change.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime

import networkx as nx
import polars as pl

from workbench.errors import UnknownTable
from workbench.explore import Session
from workbench.graph.mentions import SOURCE_TABLES, load_mentions, register_of
from workbench.graph.overrides import OverrideSet, load_overrides
from workbench.graph.tables import ENTITIES, OVERRIDES
from workbench.lake import Lineage

PAIRS = "curated.entity_pairs"

ENTITY_COLUMNS = ("unique_id", "register", "kind", "name", "name_zh", "name_key", "name_block", "surnames", "phone", "id_doc", "br_number")


def _level(label: str, sql: str, m: float, u: float) -> dict[str, object]:
    return {"sql_condition": sql, "label_for_charts": label, "m_probability": m, "u_probability": u}


def _null(*cols: str) -> dict[str, object]:
    cond = " OR ".join(f'"{c}_l" IS NULL OR "{c}_r" IS NULL' for c in cols)
    return {"sql_condition": cond, "label_for_charts": "null", "is_null_level": True}


def _exact(col: str, m: float, u: float) -> dict[str, object]:
    """An identifier that the same entity shares across systems: agree or not."""
    return {
        "output_column_name": col,
        "comparison_levels": [_null(col), _level("exact", f'"{col}_l" = "{col}_r"', m, u), _level("else", "ELSE", 1 - m, 1 - u)],
    }


COMPANY = "\"kind_l\" = 'company'"
SAME_DIGITS = "regexp_replace(\"name_key_l\", '[^0-9]', '', 'g') = regexp_replace(\"name_key_r\", '[^0-9]', '', 'g')"
SETTINGS: dict[str, object] = {
    "link_type": "dedupe_only",
    "unique_id_column_name": "unique_id",
    "probability_two_random_records_match": 0.003,
    "blocking_rules_to_generate_predictions": [
        {"blocking_rule": f"l.kind = r.kind AND l.{col} = r.{col} AND l.register <> r.register"}
        for col in ("id_doc", "br_number", "phone", "name_zh", "name_key", "name_block")
    ],
    "comparisons": [
        _exact("id_doc", 0.85, 1e-5),
        _exact("br_number", 0.85, 1e-5),
        _exact("phone", 0.6, 0.002),
        {
            "output_column_name": "name_zh",
            "comparison_levels": [
                _null("name_zh"),
                _level("company, exact", f'{COMPANY} AND "name_zh_l" = "name_zh_r"', 0.7, 1e-4),
                _level("person, exact", '"name_zh_l" = "name_zh_r"', 0.5, 0.01),
                _level("else", "ELSE", 0.3, 0.998),
            ],
        },
        {
            "output_column_name": "name_key",
            "comparison_levels": [
                _null("name_key"),
                _level("company, exact", f'{COMPANY} AND "name_key_l" = "name_key_r"', 0.6, 2e-4),
                _level("company, one typo or spacing, same numbers",
                       f'{COMPANY} AND {SAME_DIGITS} AND (damerau_levenshtein("name_key_l", "name_key_r") <= 2 '
                       f'OR jaro_winkler_similarity("name_key_l", "name_key_r") >= 0.97)', 0.3, 5e-4),
                _level("person, same given names", '"name_key_l" = "name_key_r"', 0.55, 0.03),
                _level("person, close given names", 'jaro_winkler_similarity("name_key_l", "name_key_r") >= 0.9', 0.25, 0.03),
                _level("else", "ELSE", 0.13, 0.94),
            ],
        },
        {
            "output_column_name": "surnames",
            "comparison_levels": [
                {"sql_condition": 'len("surnames_l") = 0 OR len("surnames_r") = 0', "label_for_charts": "null",
                 "is_null_level": True},
                _level("same surname (any romanisation)", 'list_has_any("surnames_l", "surnames_r")', 0.95, 0.08),
                _level("else", "ELSE", 0.05, 0.92),
            ],
        },
    ],
    "retain_intermediate_calculation_columns": False,
    "retain_matching_columns": False,
}
"""The splink model: blocking rules, comparisons and prior m/u probabilities, as data.

Blocking never pairs two records of one master register (CIRMS traders, brokers,
people; LBS drivers): a register is deduplicated by its own key, and at scale it holds
genuine namesakes (two ``CHAN Wai``, two ``Chung Wah Logistics``) that names cannot tell
apart. The priors are kept rather than re-estimated from random pairs: cash declarations repeat
the same declarant dozens of times, which inflates random-sample u for exactly the
identifiers that matter (a travel document agreeing looked 400 times commoner than it is).
"""


@dataclass(frozen=True)
class Resolution:
    """Result of a run: one row per mention with its entity, plus the scored pairs."""

    members: pl.DataFrame
    pairs: pl.DataFrame
    reused: bool = False
    """True when the inputs had not changed since the last run and its tables were reused."""

    @property
    def n_entities(self) -> int:
        return self.members["entity_id"].n_unique()


def score_pairs(mentions: pl.DataFrame) -> pl.DataFrame:
    """Scored candidate pairs ``unique_id_l, unique_id_r, match_probability`` from splink on DuckDB."""
    from splink import DuckDBAPI, Linker

    db = DuckDBAPI()
    frame = mentions.select(*ENTITY_COLUMNS).to_arrow()
    linker = Linker(db.register(frame), SETTINGS, log_level=logging.WARNING)
    predictions = linker.inference.predict(threshold_match_probability=0.01)
    pairs = pl.from_arrow(predictions.as_duckdbpyrelation().select("unique_id_l, unique_id_r, match_probability").arrow())
    assert isinstance(pairs, pl.DataFrame)
    return pairs


def cluster(ids: list[str], pairs: pl.DataFrame, overrides: OverrideSet, threshold: float) -> dict[str, str]:
    """Connected components of pairs at ``threshold``, with accepted merges added and rejected ones cut.

    A rejected pair that is still joined through third records is separated by removing
    the weakest link on the path between them until no path is left (a cannot-link).
    """
    graph = nx.Graph()
    graph.add_nodes_from(ids)
    for left, right, p in best_register_links(pairs.filter(pl.col("match_probability") >= threshold)).iter_rows():
        graph.add_edge(left, right, p=p)
    for left, right in overrides.accepted:
        if left in graph and right in graph:
            graph.add_edge(left, right, p=1.0)
    for left, right in overrides.rejected:
        if graph.has_edge(left, right):
            graph.remove_edge(left, right)
        while left in graph and right in graph and nx.has_path(graph, left, right):
            path = nx.shortest_path(graph, left, right)
            weakest = min(zip(path, path[1:]), key=lambda e: graph.edges[e]["p"])
            graph.remove_edge(*weakest)
    return {node: root for comp in nx.connected_components(graph) for root in [min(comp)] for node in comp}


def best_register_links(pairs: pl.DataFrame) -> pl.DataFrame:
    """Keep, for each record, only its single strongest link into each master register.

    A cash declaration naming ``Chung Wah Logistics`` may match two namesake traders
    equally; linking it to both would chain two register entries into one entity. A tie
    for the best link is ambiguous and drops both.
    """
    both = pl.concat([
        pairs.select(pl.col("unique_id_l").alias("rec"), pl.col("unique_id_r").alias("other"), "match_probability"),
        pairs.select(pl.col("unique_id_r").alias("rec"), pl.col("unique_id_l").alias("other"), "match_probability"),
    ]).with_columns(pl.col("other").map_elements(register_of, return_dtype=pl.Utf8).alias("register"))
    ranked = both.filter(pl.col("register") != pl.col("other")).with_columns(
        pl.col("match_probability").max().over("rec", "register").alias("best"),
        pl.len().over("rec", "register", "match_probability").alias("ties"),
    )
    drop = ranked.filter((pl.col("match_probability") < pl.col("best")) | (pl.col("ties") > 1)).select(
        pl.min_horizontal("rec", "other").alias("unique_id_l"), pl.max_horizontal("rec", "other").alias("unique_id_r"))
    ordered = pairs.with_columns(
        pl.min_horizontal("unique_id_l", "unique_id_r").alias("unique_id_l"),
        pl.max_horizontal("unique_id_l", "unique_id_r").alias("unique_id_r"))
    return ordered.join(drop, on=["unique_id_l", "unique_id_r"], how="anti")


def entity_id(kind: str, root: str) -> str:
    """A stable id: the same smallest member gives the same id on every run."""
    return f"ENT-{'ORG' if kind == 'company' else 'PER'}-{hashlib.sha1(root.encode()).hexdigest()[:10]}"


def run_key(threshold: float) -> str:
    """What a run depends on besides its input tables: the threshold and the model (hash of ``SETTINGS``)."""
    model = hashlib.sha1(json.dumps(SETTINGS, sort_keys=True).encode()).hexdigest()[:10]
    return f"workbench network resolve threshold={threshold:g} model={model}"


def input_versions(wb: Session) -> dict[str, int]:
    """Current Delta versions of every table resolution reads (sources and analysts' overrides)."""
    versions = wb.engine.versions(" UNION ALL ".join(f"SELECT 1 FROM {t}" for t in SOURCE_TABLES))
    try:
        versions.update(wb.engine.versions(f"SELECT 1 FROM {OVERRIDES}"))
    except UnknownTable:
        pass
    return versions


def resolve(wb: Session, threshold: float = 0.6, write: bool = True, force: bool = False) -> Resolution:
    """Resolve every mention in the curated zone into entities and (optionally) write them to the lake.

    Writes ``curated.resolved_entities`` (one row per member record) and
    ``curated.entity_pairs`` (scored pairs, for review); returns both frames. The write
    records the Delta version of every input table and the run key (threshold, model) as
    lineage; when a later run finds the same key and versions, nothing can have changed
    and the stored result is returned (``reused=True``) without re-scoring, unless
    ``force``. The reused ``pairs`` are the stored ones (probability >= 0.5).
    """
    key = run_key(threshold)
    versions = input_versions(wb)
    lineage = Lineage(produced_by=key, inputs=tuple(sorted(versions.items())))
    if write and not force and wb.lake.catalog.last_lineage((ENTITIES, PAIRS)) == lineage:
        pairs = wb.table(PAIRS).rename({"left_id": "unique_id_l", "right_id": "unique_id_r"})
        return Resolution(wb.table(ENTITIES), pairs, reused=True)
    mentions = load_mentions(wb)
    pairs = score_pairs(mentions)
    roots = cluster(mentions["unique_id"].to_list(), pairs, load_overrides(wb), threshold)
    confidence = _member_confidence(pairs.filter(pl.col("match_probability") >= threshold))
    members = (
        mentions.with_columns(pl.col("unique_id").replace_strict(roots).alias("root"))
        .join(confidence, on="unique_id", how="left")
        .with_columns(
            pl.struct("kind", "root").map_elements(lambda s: entity_id(s["kind"], s["root"]), return_dtype=pl.Utf8)
            .alias("entity_id"),
            pl.col("match_confidence").fill_null(1.0),
        )
    )
    members = members.join(_canonical_names(members), on="entity_id", how="left").select(
        "entity_id", "kind", "canonical_name", "unique_id", "source_system", "source_table", "source_id",
        "name", "match_confidence",
        pl.lit(datetime.now()).alias("resolved_at"),
    )
    if write:
        wb.write(members, ENTITIES, mode="overwrite", inputs=dict(lineage.inputs), produced_by=lineage.produced_by,
                 description="Resolved entities: one row per source record with its entity")
        wb.write(pairs.filter(pl.col("match_probability") >= 0.5).rename(
            {"unique_id_l": "left_id", "unique_id_r": "right_id"}), PAIRS, mode="overwrite",
            inputs=dict(lineage.inputs), produced_by=lineage.produced_by)
    return Resolution(members, pairs)


def _member_confidence(pairs: pl.DataFrame) -> pl.DataFrame:
    """Per mention, the probability of its strongest link into its entity (1.0 for singletons)."""
    both = pl.concat([
        pairs.select(pl.col("unique_id_l").alias("unique_id"), "match_probability"),
        pairs.select(pl.col("unique_id_r").alias("unique_id"), "match_probability"),
    ])
    return both.group_by("unique_id").agg(pl.col("match_probability").max().alias("match_confidence"))


def _canonical_names(members: pl.DataFrame) -> pl.DataFrame:
    """The name to show for an entity: the CIRMS register's name if any member has one, else the commonest."""
    ranked = members.with_columns((pl.col("source_system") != "cirms").alias("not_register"))
    return (
        ranked.filter(pl.col("name").is_not_null())
        .group_by("entity_id", "not_register", "name").len()
        .sort(["entity_id", "not_register", "len", "name"], descending=[False, False, True, False])
        .group_by("entity_id", maintain_order=True).first()
        .select("entity_id", pl.col("name").alias("canonical_name"))
    )
