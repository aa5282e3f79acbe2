"""Entity resolution over the lake: which mentions (source records) are the same company or person.

The lake's mentions (``mentions.py``) go through the same resolver as any record file
(``linker.link``: name readings, identifiers, a splink model whose m/u are estimated from
these records, clustering); analysts' overrides (``overrides.py``) are applied while
clustering. Entity ids are derived from their smallest member, so a re-run over grown
sources keeps the ids of entities that did not change.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import polars as pl

from workbench.errors import UnknownTable
from workbench.session import Session
from workbench.graph.linker import THRESHOLD, link
from workbench.graph.mentions import SOURCE_TABLES, load_mentions
from workbench.graph.overrides import load_overrides
from workbench.graph.tables import ENTITIES, OVERRIDES
from workbench.lake import Lineage

PAIRS = "curated.entity_pairs"
MODEL_SOURCES = ("linker.py", "names.py", "normalise.py")
"""The modules that make the model: a change to any of them makes a different result."""


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


def entity_id(kind: str, root: str) -> str:
    """A stable id: the same smallest member gives the same id on every run."""
    return f"ENT-{'ORG' if kind == 'company' else 'PER'}-{hashlib.sha1(root.encode()).hexdigest()[:10]}"


def run_key(threshold: float) -> str:
    """What a run depends on besides its input tables: the threshold and the model (hash of its modules)."""
    here = Path(__file__).parent
    model = hashlib.sha1(b"".join((here / name).read_bytes() for name in MODEL_SOURCES)).hexdigest()[:10]
    return f"workbench network resolve threshold={threshold:g} model={model}"


def input_versions(wb: Session) -> dict[str, int]:
    """Current Delta versions of every table resolution reads (sources and analysts' overrides)."""
    versions = wb.engine.versions(" UNION ALL ".join(f"SELECT 1 FROM {t}" for t in SOURCE_TABLES))
    try:
        versions.update(wb.engine.versions(f"SELECT 1 FROM {OVERRIDES}"))
    except UnknownTable:
        pass
    return versions


def resolve(wb: Session, threshold: float = THRESHOLD, write: bool = True, force: bool = False) -> Resolution:
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
    overrides = load_overrides(wb)
    linked = link(mentions, threshold, overrides.accepted, overrides.rejected)
    pairs, roots = linked.pairs, linked.roots
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
