"""The synthetic world landed in a lake: every table present, conforming, curated, catalogued."""

from __future__ import annotations

import json

import polars as pl

from workbench.session import Session
from workbench.lake import standard_specs

SPECS = standard_specs()


def test_every_declared_table_is_in_the_catalog_with_rows(tiny_world: Session) -> None:
    catalog = tiny_world.tables()
    # raw.documents is routed to the documents zone (files + documents.index), not kept as a table
    landed = {n for n, s in SPECS.items() if s.zone in ("raw", "truth") or (s.zone == "curated" and s.sql)}
    expected = landed - {"raw.documents"}
    expected.add("documents.index")
    missing = expected - set(catalog["name"])
    assert not missing, f"tables not landed: {sorted(missing)}"
    empty = catalog.filter(pl.col("name").is_in(list(expected)) & (pl.col("row_count") == 0))["name"].to_list()
    assert not empty, f"tables without rows: {empty}"


def test_the_generated_world_passes_its_own_contracts(tiny_world: Session) -> None:
    rejected = tiny_world.sql("SELECT table_name, rule, count(*) AS n FROM quarantine.rejections GROUP BY ALL") \
        if "quarantine.rejections" in tiny_world.tables()["name"] else pl.DataFrame()
    assert rejected.height == 0, f"generated rows broke their contracts: {rejected.to_dicts()[:10]}"


def test_catalog_carries_classification_and_lineage(tiny_world: Session) -> None:
    catalog = tiny_world.tables()
    classes = dict(zip(catalog["name"], catalog["classification"], strict=True))
    assert all(classes[n] == "secret" for n in classes if n.startswith("truth."))
    curated = catalog.filter(pl.col("name") == "curated.declarations").row(0, named=True)
    inputs = {i["table"] for i in json.loads(curated["inputs"])}
    assert "raw.tdec_declarations" in inputs
    assert curated["produced_by"] == "curate curated.declarations"


def test_curated_declarations_are_in_hkd_with_normalised_names(tiny_world: Session) -> None:
    row_counts = tiny_world.sql(
        "SELECT (SELECT count(*) FROM raw.tdec_declarations) AS raw_n, (SELECT count(*) FROM curated.declarations) AS cur_n"
    ).row(0, named=True)
    assert row_counts["raw_n"] == row_counts["cur_n"]
    check = tiny_world.sql("""
        SELECT r.currency, r.declared_value, c.value_hkd
        FROM raw.tdec_declarations r JOIN curated.declarations c USING (declaration_id)
        WHERE r.currency = 'USD' LIMIT 50
    """)
    assert check.height > 0
    ratio = (check["value_hkd"] / check["declared_value"])
    assert ratio.min() > 7.7 and ratio.max() < 7.9  # the HKD peg band


def test_documents_zone_keeps_originals_and_text(tiny_world: Session) -> None:
    docs = tiny_world.sql("SELECT doc_id, language, path, sha256, text FROM documents.index ORDER BY doc_id LIMIT 20")
    languages = tiny_world.sql("SELECT DISTINCT language FROM documents.index")["language"]
    assert set(languages) == {"en", "zh"}
    import hashlib

    for row in docs.iter_rows(named=True):
        original = tiny_world.documents.read(row["path"])
        assert hashlib.sha256(original).hexdigest() == row["sha256"]
        assert original.decode("utf-8") == row["text"]
