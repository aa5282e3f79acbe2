"""Every source record that names a company or a person, as one frame of "mentions".

Entity resolution compares mentions, not tables: a CIRMS trader, a vehicle's owner in the
Land Boundary System, a cash declarant's company and a case party are all mentions of
some company. Each gets a ``unique_id`` ``<system>/<table>/<source id>/<kind>`` (a cash
declaration names a person and a company, so the kind is part of the id), the identifiers
the systems share (phone, identity document, business registration number) and the name
keys from ``names.py``. Trade declarations carry ``trader_id`` already, so they are not
mentions: they attach to their trader's entity directly in ``build.py``.
"""

from __future__ import annotations

import polars as pl

from workbench.explore import Session
from workbench.graph.names import company_key, has_han, looks_like_company, person_key, surname_keys

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
    """All mentions with their comparison keys, ready for splink (one row per ``unique_id``)."""
    frames = []
    for query in MENTION_QUERIES.values():
        frame = wb.sql(query)
        frames.append(frame.rename(dict(zip(frame.columns, COLUMNS, strict=True))).cast(pl.Utf8))
    return add_keys(pl.concat(frames, how="vertical"))


def add_keys(raw: pl.DataFrame) -> pl.DataFrame:
    """Derive kind (for vehicle owners), Chinese name, name keys and the blocking key."""
    rows = []
    for r in raw.iter_rows(named=True):
        name = r["name"] or ""
        kind = r["kind"] or ("company" if looks_like_company(name) else "person")
        zh = name.strip() if has_han(name) else r["name_zh"]
        key = company_key(name) if kind == "company" else person_key(name)
        surnames = surname_keys(name) if kind == "person" else []
        if kind == "person" and zh and not surnames:
            surnames = surname_keys(zh)
        rows.append({
            **r, "kind": kind, "name_zh": zh or None, "name_key": key or None, "surnames": surnames,
            "name_block": _block(kind, key, surnames),
            "unique_id": f"{r['source_system']}/{r['source_table']}/{r['source_id']}/{kind}",
        })
    frame = pl.DataFrame(rows, schema_overrides={"surnames": pl.List(pl.Utf8)}, infer_schema_length=None)
    return frame.with_columns(
        [pl.col(c).replace("", None) for c in ("phone", "id_doc", "br_number")]
        + [pl.col("unique_id").map_elements(register_of, return_dtype=pl.Utf8).alias("register")]
    ).unique("unique_id", keep="first", maintain_order=True)


def register_of(unique_id: str) -> str:
    """The register a mention belongs to, or the mention itself when it is not a register record."""
    prefix = "/".join(unique_id.split("/", 2)[:2])
    return prefix if prefix in REGISTERS else unique_id


def _block(kind: str, key: str, surnames: list[str]) -> str | None:
    """Coarse key for candidate pairs: a company's first two words; a person's surname and first initial."""
    if not key:
        return None
    words = key.split()
    if kind == "company":
        return " ".join(words[:2])
    return f"{surnames[0] if surnames else '?'}:{words[0][0]}"
