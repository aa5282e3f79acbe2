"""Every source record that names a company or a person, as one frame of "mentions".

Entity resolution compares mentions, not tables: a CIRMS trader, a vehicle's owner in the
Land Boundary System, a cash declarant's company and a case party are all mentions of
some company. Each gets a ``unique_id`` ``<system>/<table>/<source id>/<kind>`` (a cash
declaration names a person and a company, so the kind is part of the id), the identifiers
the systems share (phone, identity document, business registration number) and its names
in English and Chinese, ready for ``linker.link``. Trade declarations carry ``trader_id`` already, so they are not
mentions: they attach to their trader's entity directly in ``build.py``.
"""

from __future__ import annotations

import polars as pl

from workbench.session import Session
from workbench.graph.names import looks_like_company

MENTION_QUERIES: dict[str, str] = {
    "cirms/traders": """SELECT 'cirms' AS source_system, 'traders' AS source_table, trader_id AS source_id,
        'company' AS kind, name_en AS name, name_zh, phone, NULL AS id_doc, br_number FROM curated.traders""",
    "cirms/brokers": """SELECT 'cirms', 'brokers', broker_id, 'company', name_en, name_zh, phone, NULL, br_number
        FROM curated.brokers""",
    "cirms/people": """SELECT 'cirms', 'people', person_id, 'person', name_en, name_zh, phone, id_doc_no, NULL
        FROM curated.people""",
    "lbs/drivers": """SELECT 'lbs', 'drivers', driver_id, 'person', name, name_zh, phone, doc_no, NULL
        FROM curated.drivers""",
    "lbs/vehicles": """SELECT 'lbs', 'vehicles', plate, NULL, owner_name, NULL, owner_phone, NULL, NULL
        FROM curated.vehicles""",
    "cdcs/declarant": """SELECT 'cdcs', 'cash_declarations', declaration_id, 'person', declarant_name, NULL, NULL,
        travel_doc_no, NULL FROM curated.cash_declarations""",
    "cdcs/company": """SELECT 'cdcs', 'cash_declarations', declaration_id, 'company', company_name, NULL, NULL, NULL, NULL
        FROM curated.cash_declarations WHERE company_name IS NOT NULL""",
    "cps/case_parties": """SELECT 'cps', 'case_parties', party_id, party_kind, name, NULL, NULL, id_document, br_number
        FROM curated.case_parties""",
}
"""One query per kind of mention; every query yields the same nine columns in the same order."""

COLUMNS = ("source_system", "source_table", "source_id", "kind", "name", "name_zh", "phone", "id_doc", "br_number")
REGISTERS = ("cirms/traders", "cirms/brokers", "cirms/people", "lbs/drivers")
"""Master registers: deduplicated by their own key, so two of their records are never one entity."""
SOURCE_TABLES = ("curated.traders", "curated.brokers", "curated.people", "curated.drivers", "curated.vehicles",
                 "curated.cash_declarations", "curated.case_parties")


def load_mentions(wb: Session) -> pl.DataFrame:
    """All mentions (one row per ``unique_id``) in the shape ``linker.link`` takes.

    ``record_id`` is the ``unique_id``; a record's English and Chinese names are both name
    evidence; the identity document or BR number is the shared identifier; ``register``
    keeps two records of one master register apart.
    """
    frames = []
    for query in MENTION_QUERIES.values():
        frame = wb.sql(query)
        frames.append(frame.rename(dict(zip(frame.columns, COLUMNS, strict=True))).cast(pl.Utf8))
    raw = pl.concat(frames, how="vertical")
    kind = pl.col("kind").fill_null(pl.col("name").map_elements(
        lambda n: "company" if looks_like_company(n) else "person", return_dtype=pl.Utf8))
    mentions = raw.with_columns(kind.alias("kind")).with_columns(
        pl.concat_str("source_system", "source_table", "source_id", "kind", separator="/").alias("unique_id"))
    return mentions.with_columns(
        pl.col("unique_id").alias("record_id"),
        pl.concat_list(pl.col("name"), pl.col("name_zh")).list.drop_nulls().alias("names"),
        pl.coalesce(pl.col("id_doc").replace("", None), pl.col("br_number").replace("", None)).alias("id_no"),
        pl.lit(None, pl.Utf8).alias("address"),
        pl.col("unique_id").map_elements(register_of, return_dtype=pl.Utf8).alias("register"),
    ).unique("unique_id", keep="first", maintain_order=True)


def register_of(unique_id: str) -> str:
    """The register a mention belongs to, or the mention itself when it is not a register record."""
    prefix = "/".join(unique_id.split("/", 2)[:2])
    return prefix if prefix in REGISTERS else unique_id
