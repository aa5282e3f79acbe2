"""The synthetic customs world: deterministic, true to its own contracts and to its truth."""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict

import duckdb
import polars as pl
import pyarrow as pa
import pytest

from workbench.demo import TABLES, generate_world
from workbench.demo.identifiers import container_is_valid, imo_is_valid
from workbench.lake.macros import install_macros
from workbench.lake.specs import load_spec_files, standard_specs

SCALE = 0.02


def _collect(seed: int, scale: float = SCALE) -> dict[str, pa.Table]:
    out = {}
    for stream in generate_world(seed, scale):
        batches = list(stream.batches)
        for b in batches:
            assert b.schema.equals(stream.schema), stream.name
        out[stream.name] = pa.Table.from_batches(batches, schema=stream.schema)
    return out


def _digest(table: pa.Table) -> str:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table.combine_chunks())
    return hashlib.sha256(sink.getvalue().to_pybytes()).hexdigest()


@pytest.fixture(scope="module")
def world() -> dict[str, pa.Table]:
    return _collect(7)


@pytest.fixture(scope="module")
def frames(world: dict[str, pa.Table]) -> dict[str, pl.DataFrame]:
    return {name: pl.from_arrow(t) for name, t in world.items()}


@pytest.fixture(scope="module")
def specs():
    from importlib import resources

    folder = resources.files("workbench.lake") / "tables"
    return load_spec_files([folder / "raw.toml", folder / "truth.toml", folder / "curated.toml"])


def test_streams_every_table_once_in_order(world):
    assert tuple(world) == TABLES
    assert all(t.num_rows > 0 for t in world.values()), [n for n, t in world.items() if t.num_rows == 0]


def test_schemas_equal_specs(world, specs):
    for name, table in world.items():
        assert table.schema.equals(specs[name].arrow_schema()), name


def test_standard_specs_include_demo_tables():
    names = set(standard_specs())
    assert set(TABLES) <= names


def test_same_seed_same_content_and_other_seed_differs(world):
    again = _collect(7)
    other = _collect(8)
    for name in TABLES:
        assert _digest(world[name]) == _digest(again[name]), name
    for name in ("raw.tdec_declarations", "raw.cirms_traders", "raw.lbs_crossings", "raw.documents", "truth.rings"):
        assert _digest(world[name]) != _digest(other[name]), name


def test_rows_keep_their_contract(frames, specs):
    for name, df in frames.items():
        spec = specs[name]
        if spec.key:
            assert df.select(spec.key).is_duplicated().sum() == 0, f"{name}: duplicate key"
            assert df.select(spec.key).null_count().sum_horizontal().item() == 0, f"{name}: null key"
        for col, rule in spec.columns.items():
            values = df[col]
            if not rule.nullable:
                assert values.null_count() == 0, f"{name}.{col} has nulls"
            present = values.drop_nulls()
            if rule.isin is not None:
                bad = present.filter(~present.is_in(list(rule.isin)))
                assert bad.len() == 0, f"{name}.{col}: {bad.unique().to_list()[:5]}"
            if rule.pattern is not None:
                bad = present.filter(~present.str.contains(rule.pattern))
                assert bad.len() == 0, f"{name}.{col}: {bad.to_list()[:5]}"
            if rule.min is not None:
                assert (present < rule.min).sum() == 0, f"{name}.{col} below min"
            if rule.max is not None:
                assert (present > rule.max).sum() == 0, f"{name}.{col} above max"


def _ids(frames, table, column) -> set[str]:
    return set(frames[table][column].drop_nulls().to_list())


def test_ring_members_exist_in_their_source_tables(frames):
    rings = frames["truth.rings"]
    sources = {
        "trader": _ids(frames, "raw.cirms_traders", "trader_id"),
        "person": _ids(frames, "raw.cirms_people", "person_id") | _ids(frames, "raw.lbs_drivers", "driver_id"),
        "vehicle": _ids(frames, "raw.lbs_vehicles", "plate"),
        "phone": _ids(frames, "raw.cirms_traders", "phone") | _ids(frames, "raw.cirms_people", "phone"),
        "address": _ids(frames, "raw.cirms_addresses", "address_id"),
        "broker": _ids(frames, "raw.cirms_brokers", "broker_id"),
    }
    for kind, source_id in rings.select("kind", "source_id").iter_rows():
        assert source_id in sources[kind], (kind, source_id)
    assert rings["ring_id"].n_unique() >= 4
    per_ring = rings.filter(pl.col("kind") == "trader").group_by("ring_id").len()
    assert per_ring["len"].min() >= 3 and per_ring["len"].max() <= 8


def test_illicit_rows_exist_and_every_scheme_is_planted(frames):
    ids = _ids(frames, "raw.tdec_declarations", "declaration_id")
    illicit = frames["truth.illicit_declarations"]
    assert set(illicit["declaration_id"].to_list()) <= ids
    assert set(illicit["scheme"].unique().to_list()) == {"undervaluation", "hs_misdeclaration", "split_shipment", "prohibited_goods"}
    share = illicit.height / len(ids)
    assert 0.015 <= share <= 0.05, share
    assert set(frames["truth.illicit_crossings"]["crossing_id"].to_list()) <= _ids(frames, "raw.lbs_crossings", "crossing_id")


def test_ring_declarations_look_illicit(frames):
    """Undervalued rows declare far less per kg than their HS peers."""
    d = frames["raw.tdec_declarations"].join(frames["truth.illicit_declarations"], on="declaration_id", how="left")
    fx = frames["raw.ref_fx_rates"]
    d = d.with_columns(pl.col("lodged_at").dt.truncate("1mo").cast(pl.Date).alias("month")).join(fx, on=["currency", "month"])
    d = d.with_columns((pl.col("declared_value") * pl.col("rate_to_hkd") / pl.col("gross_weight_kg")).alias("unit"))
    d = d.with_columns((pl.col("unit") / pl.col("unit").median().over("hs_code")).alias("ratio"))
    under = d.filter(pl.col("scheme") == "undervaluation")["ratio"].median()
    legit = d.filter(pl.col("scheme").is_null())["ratio"].median()
    assert under < 0.5 * legit


def test_entities_point_at_existing_records(frames):
    sources = {
        "cirms": _ids(frames, "raw.cirms_traders", "trader_id") | _ids(frames, "raw.cirms_brokers", "broker_id")
        | _ids(frames, "raw.cirms_people", "person_id"),
        "tdec": _ids(frames, "raw.tdec_declarations", "declaration_id"),
        "lbs": _ids(frames, "raw.lbs_drivers", "driver_id") | _ids(frames, "raw.lbs_vehicles", "plate"),
        "cdcs": _ids(frames, "raw.cdcs_cash_declarations", "declaration_id"),
        "cps": _ids(frames, "raw.cps_case_parties", "party_id"),
    }
    entities = frames["truth.entities"]
    for system, source_id in entities.select("source_system", "source_id").iter_rows():
        assert source_id in sources[system], (system, source_id)
    covered = entities.filter(pl.col("source_system") == "tdec").height
    assert covered == frames["raw.tdec_declarations"].height
    assert entities.filter(pl.col("source_system") == "cps").height == frames["raw.cps_case_parties"].height


def test_some_ring_members_appear_in_cases(frames):
    ring_traders = set(frames["truth.rings"].filter(pl.col("kind") == "trader")["source_id"].to_list())
    e = frames["truth.entities"]
    ring_entities = set(e.filter((pl.col("source_system") == "cirms") & pl.col("source_id").is_in(list(ring_traders)))["entity_id"].to_list())
    in_cases = set(e.filter(pl.col("source_system") == "cps")["entity_id"].to_list())
    assert ring_entities & in_cases


def test_names_are_written_differently_across_systems(frames):
    lookups = [
        ("cirms", "raw.cirms_traders", "trader_id", "name_en"), ("cirms", "raw.cirms_people", "person_id", "name_en"),
        ("cirms", "raw.cirms_brokers", "broker_id", "name_en"), ("tdec", "raw.tdec_declarations", "declaration_id", "consignee_name"),
        ("lbs", "raw.lbs_drivers", "driver_id", "name"), ("lbs", "raw.lbs_vehicles", "plate", "owner_name"),
        ("cps", "raw.cps_case_parties", "party_id", "name"),
    ]
    written: dict[tuple[str, str], str] = {}
    for system, table, key, column in lookups:
        for k, v in frames[table].select(key, column).iter_rows():
            written[(system, k)] = v
    cash = frames["raw.cdcs_cash_declarations"]
    per_entity: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for entity, kind, system, source in frames["truth.entities"].iter_rows():
        if system == "cdcs":
            row = cash.row(by_predicate=pl.col("declaration_id") == source, named=True)
            value = row["company_name"] if kind == "company" else row["declarant_name"]
        else:
            value = written[(system, source)]
        per_entity[entity][system].add(value)
    multi = [systems for systems in per_entity.values() if len(systems) >= 2]
    assert len(multi) >= 20
    differ = sum(1 for systems in multi if len({n for s in systems.values() for n in s}) > 1)
    assert differ / len(multi) >= 0.3
    assert any(re.search(r"[\u4e00-\u9fff]", n) for n in frames["raw.cps_case_parties"]["name"].to_list())


def test_outcomes_only_where_inspected(frames):
    for table in ("raw.tdec_declarations", "raw.lbs_crossings"):
        df = frames[table]
        assert df.filter(pl.col("inspected") != pl.col("inspection_result").is_not_null()).height == 0
    d = frames["raw.tdec_declarations"]
    assert 0.03 <= d["inspected"].mean() <= 0.12


def test_identifiers_carry_valid_check_digits(frames):
    for table in ("raw.tdec_declarations", "raw.lbs_crossings"):
        assert all(container_is_valid(c) for c in frames[table]["container_no"].drop_nulls().to_list())
    assert all(imo_is_valid(i) for i in frames["raw.cirms_vessels"]["imo_number"].drop_nulls().to_list())


def test_document_spans_match_text(frames):
    docs = dict(frames["raw.documents"].select("doc_id", "text").iter_rows())
    spans = frames["truth.document_entities"]
    for doc_id, start, end, label, text in spans.iter_rows():
        assert docs[doc_id][start:end] == text, (doc_id, label)
    assert set(spans["label"].unique().to_list()) == {"PERSON", "ORG", "LOCATION", "VESSEL", "PLATE", "CONTAINER", "PHONE", "COMMODITY", "MONEY"}
    assert set(frames["raw.documents"]["language"].unique().to_list()) == {"en", "zh"}


def test_every_log_anomaly_is_planted(frames):
    kinds = set(frames["truth.log_anomalies"]["kind"].unique().to_list())
    assert kinds == {"brute_force", "night_login_new_ip", "bulk_export", "access_denied_burst", "privilege_change", "disabled_account"}
    assert set(frames["truth.log_anomalies"]["event_id"].to_list()) <= _ids(frames, "raw.platform_access_log", "event_id")


def test_curated_sql_runs_and_matches_its_spec(world, specs):
    con = duckdb.connect()
    install_macros(con)  # what every lake connection defines (name_key)
    con.execute("CREATE SCHEMA raw")
    for name, table in world.items():
        if name.startswith("raw."):
            view = name.split(".", 1)[1]
            con.register(f"_{view}", table)
            con.execute(f"CREATE VIEW raw.{view} AS SELECT * FROM _{view}")
    curated = {n: s for n, s in specs.items() if n.startswith("curated.")}
    assert len(curated) >= 14
    for name, spec in curated.items():
        result = con.sql(spec.sql).to_arrow_table()
        assert result.column_names == list(spec.columns), name
        df = pl.from_arrow(result)
        assert df.height > 0, name
        if spec.key:
            assert df.select(spec.key).is_duplicated().sum() == 0, name
        for col, rule in spec.columns.items():
            cast = result.column(col).cast(rule.arrow_type)
            if not rule.nullable:
                assert cast.null_count == 0, f"{name}.{col}"
            present = df[col].drop_nulls()
            if rule.isin is not None:
                assert present.is_in(list(rule.isin)).all(), f"{name}.{col}"
            if rule.pattern is not None:
                assert present.str.contains(rule.pattern).all(), f"{name}.{col}"
            if rule.min is not None:
                assert (present >= rule.min).all(), f"{name}.{col}"
