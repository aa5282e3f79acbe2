"""Attack corpus: hostile SQL typed into a session by each role, and what stops it.

Every case runs as manager, field officer, analyst and modeller. A case is either
refused (``AccessDenied`` naming the statement, relation or function, or a ``QueryError``
where DuckDB rejects the statement first) or returns only what the role may see. Paths
point at real lake files: a masked table's (``curated.crossings`` for managers), a table
outside need-to-know (``curated.people`` for field officers) and secret ground truth.
A second group talks to the DuckDB connection directly, past the session's parse check,
to show the engine's own sandbox holds on its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import polars as pl
import pytest

from workbench.errors import AccessDenied, QueryError
from workbench.session import Session, connect

ROLES = ("manager", "field_officer", "analyst", "modeller")


@pytest.fixture(scope="module")
def attackers(tiny_world: Session, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Session]]:
    audit = tmp_path_factory.mktemp("attack-audit")
    yield {role: connect(tiny_world.settings.lake, user=f"{role}-attacker", role=role, audit_dir=str(audit))
           for role in ROLES}


@pytest.fixture(scope="module")
def paths(tiny_world: Session) -> dict[str, str]:
    root = Path(tiny_world.settings.lake).resolve()

    def first(table: str) -> str:
        return str(next((root / table).glob("*.parquet")))

    return {"root": str(root), "people": first("curated/people"), "crossings": first("curated/crossings"),
            "rings": first("truth/rings"), "crossings_dir": str(root / "curated/crossings"),
            "people_dir": str(root / "curated/people")}


REFUSED = [
    # file reads by path, spelled every way
    ("bare path", "SELECT * FROM '{crossings}'"),
    ("bare path, secret", "SELECT * FROM '{rings}'"),
    ("bare path glob", "SELECT * FROM '{people_dir}/*.parquet'"),
    ("bare path traversal", "SELECT * FROM '{crossings_dir}/../people/x.parquet'"),
    ("read_parquet", "SELECT * FROM read_parquet('{crossings}')"),
    ("quoted function name", "SELECT * FROM \"read_parquet\"('{crossings}')"),
    ("comment before parenthesis", "SELECT * FROM read_parquet /* x */ ('{crossings}')"),
    ("upper case and newlines", "select *\nFROM   READ_PARQUET\n(\n'{people}'\n)"),
    ("schema-qualified function", "SELECT * FROM main.read_parquet('{people}')"),
    ("parquet_scan", "SELECT * FROM parquet_scan('{rings}')"),
    ("read_csv_auto", "SELECT * FROM read_csv_auto('/etc/passwd')"),
    ("read_csv", "SELECT * FROM read_csv('/etc/passwd', header = false)"),
    ("sniff_csv", "SELECT * FROM sniff_csv('/etc/passwd')"),
    ("read_text", "SELECT * FROM read_text('/etc/passwd')"),
    ("read_blob", "SELECT * FROM read_blob('{people}')"),
    ("read_json_objects_auto", "SELECT * FROM read_json_objects_auto('/etc/passwd')"),
    ("read_json_auto", "SELECT * FROM read_json_auto('/etc/hostname')"),
    ("read_ndjson_objects", "SELECT * FROM read_ndjson_objects('/etc/hostname')"),
    ("glob", "SELECT * FROM glob('{root}/*/*')"),
    ("parquet_metadata", "SELECT * FROM parquet_metadata('{crossings}')"),
    ("parquet_file_metadata", "SELECT * FROM parquet_file_metadata('{crossings}')"),
    ("parquet_kv_metadata", "SELECT * FROM parquet_kv_metadata('{crossings}')"),
    ("parquet_schema", "SELECT * FROM parquet_schema('{people}')"),
    ("delta_scan", "SELECT * FROM delta_scan('{people_dir}')"),
    ("iceberg_scan", "SELECT * FROM iceberg_scan('{people_dir}')"),
    ("file read in a scalar subquery", "SELECT (SELECT count(*) FROM read_text('/etc/passwd')) AS n"),
    ("file read in a lambda", "SELECT list_transform([1], x -> (SELECT max(content) FROM read_text('/etc/passwd')))"),
    ("file read in a CTE", "WITH c AS (SELECT * FROM read_text('/etc/passwd')) SELECT * FROM c"),
    ("CTE named like a lake table", "WITH crossings AS (SELECT * FROM '{crossings}') SELECT * FROM crossings"),
    ("path from a variable", "SELECT * FROM read_parquet(getvariable('p'))"),
    ("path built by string functions", "SELECT * FROM read_parquet(concat('{crossings_dir}', '/', 'x.parquet'))"),
    # SQL run from strings
    ("query() with a concatenated string", "SELECT * FROM query('SELECT * FROM read_' || 'text(''/etc/passwd'')')"),
    ("nested query()", "SELECT * FROM query('SELECT * FROM query(''SELECT 1'')')"),
    ("query_table", "SELECT * FROM query_table('curated.crossings')"),
    ("json_execute_serialized_sql",
     "SELECT * FROM json_execute_serialized_sql(json_serialize_sql('SELECT * FROM read_text(''/etc/passwd'')'))"),
    ("PREPARE", "PREPARE p AS SELECT * FROM read_text('/etc/passwd')"),
    ("EXECUTE", "EXECUTE p"),
    ("CREATE MACRO", "CREATE MACRO m() AS TABLE SELECT * FROM read_text('/etc/passwd')"),
    ("CREATE TEMP MACRO", "CREATE TEMP MACRO m(x) AS x"),
    ("CREATE VIEW", "CREATE VIEW v AS SELECT * FROM curated.declarations"),
    ("replace a lake view", "CREATE OR REPLACE VIEW curated.crossings AS SELECT * FROM '{crossings}'"),
    ("replace a lake view after a comment", "/* hi */ CREATE OR REPLACE VIEW curated.crossings AS SELECT 1 AS plate"),
    ("DROP a lake view", "DROP VIEW curated.crossings"),
    ("CREATE TABLE AS", "CREATE TEMP TABLE t AS SELECT * FROM curated.declarations"),
    ("INSERT", "INSERT INTO curated.crossings SELECT * FROM curated.crossings"),
    # writes and databases
    ("COPY TO", "COPY (SELECT * FROM curated.declarations) TO '/tmp/wb-attack.csv'"),
    ("COPY TO after a comment", "-- note\nCOPY (SELECT 1) TO '{crossings_dir}/evil.parquet'"),
    ("COPY FROM", "COPY curated.crossings FROM '/etc/passwd'"),
    ("multi-statement: COPY after SELECT", "SELECT 1; COPY (SELECT 1) TO '/tmp/wb-attack.csv'"),
    ("multi-statement: ATTACH after SELECT", "SELECT 1 ; ATTACH '/tmp/wb-attack.db' AS x"),
    ("multi-statement: two SELECTs", "SELECT 1; SELECT * FROM read_text('/etc/passwd')"),
    ("ATTACH", "ATTACH '/tmp/wb-attack.db' AS x"),
    ("ATTACH in lower case", "attach  ':memory:'  as m"),
    ("DETACH", "DETACH memory"),
    ("USE", "USE curated"),
    ("EXPORT DATABASE", "EXPORT DATABASE '/tmp/wb-attack-export'"),
    ("IMPORT DATABASE", "IMPORT DATABASE '/tmp/wb-attack-export'"),
    ("CHECKPOINT", "CHECKPOINT"),
    ("VACUUM", "VACUUM"),
    ("transaction", "BEGIN TRANSACTION"),
    ("CREATE SECRET", "CREATE SECRET s (TYPE s3, KEY_ID 'a', SECRET 'b')"),
    # configuration, extensions, environment
    ("INSTALL", "INSTALL httpfs"),
    ("LOAD", "LOAD httpfs"),
    ("SET external access", "SET enable_external_access = true"),
    ("SET allowed directories", "SET allowed_directories = ['/']"),
    ("RESET", "RESET lock_configuration"),
    ("SET VARIABLE", "SET VARIABLE p = '{crossings}'"),
    ("PRAGMA", "PRAGMA database_list"),
    ("CALL", "CALL pragma_version()"),
    ("pragma_ table function", "SELECT * FROM pragma_table_info('curated.crossings')"),
    ("duckdb_settings()", "SELECT * FROM duckdb_settings()"),
    ("duckdb_views() (view SQL names files)", "SELECT sql FROM duckdb_views()"),
    ("duckdb_tables()", "FROM duckdb_tables()"),
    ("duckdb_databases()", "FROM duckdb_databases()"),
    ("information_schema", "SELECT * FROM information_schema.tables"),
    ("sqlite_master", "SELECT * FROM sqlite_master"),
    ("SHOW TABLES", "SHOW TABLES"),
    ("current_setting", "SELECT current_setting('allowed_directories')"),
    ("getenv", "SELECT getenv('HOME')"),
    ("getvariable", "SELECT getvariable('p')"),
    ("which_secret", "SELECT which_secret('s3://x/y', 's3')"),
    # names that are not lake views
    ("registered Arrow name", "SELECT * FROM __lake_curated_crossings"),
    ("catalog-qualified registered name", "SELECT * FROM memory.main.__lake_curated_crossings"),
    ("temp catalog", "SELECT * FROM temp.main.__lake_curated_crossings"),
    ("unqualified name (Python variable replacement scan)", "SELECT * FROM attackers"),
    ("system catalog view", "SELECT * FROM system.main.duckdb_settings"),
    # what EXPLAIN and DESCRIBE wrap is judged too
    ("EXPLAIN a file read", "EXPLAIN SELECT * FROM read_text('/etc/passwd')"),
    ("EXPLAIN ANALYZE a COPY", "EXPLAIN ANALYZE COPY (SELECT 1) TO '/tmp/wb-attack.csv'"),
    ("EXPLAIN with options and comment", "EXPLAIN (FORMAT json) /* x */ SELECT * FROM '{crossings}'"),
    ("comment before EXPLAIN", "/* x */ EXPLAIN SELECT * FROM read_text('/etc/passwd')"),
    ("comment inside EXPLAIN ANALYZE", "EXPLAIN /* x */ ANALYZE SELECT * FROM read_blob('{people}')"),
    ("EXPLAIN then another statement", "EXPLAIN SELECT 1; SELECT * FROM curated.declarations"),
    ("DESCRIBE a file", "DESCRIBE SELECT * FROM read_parquet('{people}')"),
    ("SUMMARIZE a file", "SUMMARIZE SELECT * FROM '{crossings}'"),
    ("PIVOT statement", "PIVOT curated.declarations ON mode USING count(*)"),
]

TIME_TRAVEL = [
    "SELECT * FROM curated.crossings AT (VERSION => 0)",
    "SELECT * FROM curated.crossings AT (TIMESTAMP => TIMESTAMP '2000-01-01')",
]


@pytest.mark.parametrize("role", ROLES)
def test_every_attack_in_the_corpus_is_refused(attackers: dict[str, Session], paths: dict[str, str], role: str) -> None:
    wb = attackers[role]
    passed = []
    for name, template in REFUSED:
        query = template.format(**paths)
        try:
            wb.sql(query)
        except AccessDenied as refused:
            assert refused.role == role
            continue
        except QueryError:
            continue  # DuckDB itself rejects the statement before it reads anything
        passed.append(name)
    for query in TIME_TRAVEL:
        with pytest.raises((AccessDenied, QueryError), match="time travel|AT"):
            wb.sql(query)
    assert not passed, f"{role}: these attacks were not refused: {passed}"
    assert not Path("/tmp/wb-attack.csv").exists() and not Path("/tmp/wb-attack.db").exists()
    assert not (Path(paths["crossings_dir"]) / "evil.parquet").exists()


def test_refusals_name_what_was_refused(attackers: dict[str, Session], paths: dict[str, str]) -> None:
    wb = attackers["analyst"]
    cases = {
        "SELECT * FROM read_text /* c */ ('/etc/passwd')": "function read_text",
        "SELECT 1; COPY (SELECT 1) TO '/tmp/x.csv'": "multi-statement",
        "/* c */ COPY (SELECT 1) TO '/tmp/x.csv'": "COPY statement",
        "ATTACH '/tmp/x.db'": "ATTACH statement",
        "INSTALL httpfs": "LOAD statement",  # DuckDB parses INSTALL as a LOAD statement
        "SET enable_external_access = true": "SET statement",
        "PRAGMA version": "PRAGMA statement",
        f"SELECT * FROM '{paths['people']}'": paths["people"].lower(),
        "SELECT getenv('HOME')": "function getenv",
        "CREATE OR REPLACE VIEW curated.crossings AS SELECT 1": "CREATE statement",
    }
    for query, named in cases.items():
        with pytest.raises(AccessDenied) as refused:
            wb.sql(query)
        assert named in str(refused.value), (query, str(refused.value))


@pytest.mark.parametrize("role", ROLES)
def test_what_a_role_may_read_still_answers_through_every_allowed_form(
        attackers: dict[str, Session], role: str) -> None:
    wb = attackers[role]
    n = wb.sql("SELECT count(*) AS n FROM curated.declarations")["n"][0]
    assert n > 0
    assert wb.sql("WITH d AS (SELECT * FROM curated.declarations) SELECT count(*) AS n FROM d")["n"][0] == n
    assert wb.sql('SELECT count(*) AS n FROM "CURATED"."Declarations"')["n"][0] == n
    assert wb.sql("FROM curated.declarations SELECT count(*) AS n")["n"][0] == n
    assert wb.sql("SELECT count(*) AS n FROM range(10)")["n"][0] == 10
    assert wb.sql("DESCRIBE curated.declarations").height > 10
    assert wb.sql("SUMMARIZE SELECT value_hkd FROM curated.declarations").height == 1
    assert wb.sql("EXPLAIN SELECT count(*) FROM curated.declarations").height >= 1
    # PIVOT with its values listed; without them DuckDB runs it as several statements (it creates a type first)
    assert wb.sql("PIVOT (SELECT mode FROM curated.declarations) ON mode IN ('sea', 'air', 'land', 'river') USING count(*)").height == 1
    assert wb.sql("SELECT port_code, count(*) AS n FROM curated.declarations WHERE mode = $m GROUP BY 1",
                  {"m": "land"}).height >= 1


@pytest.mark.parametrize("role", ROLES)
def test_the_lake_views_cannot_be_replaced_or_dropped(attackers: dict[str, Session], role: str) -> None:
    wb = attackers[role]
    for statement in ("CREATE OR REPLACE VIEW curated.declarations AS SELECT 1 AS x",
                      "DROP VIEW curated.declarations", "ALTER VIEW curated.declarations RENAME TO d2"):
        with pytest.raises((AccessDenied, QueryError)):
            wb.sql(statement)
    assert "declaration_id" in wb.sql("SELECT * FROM curated.declarations LIMIT 1").columns


MASKED_FOR_MANAGERS = [
    "SELECT plate AS v FROM curated.crossings",
    "SELECT max(plate) AS v FROM curated.crossings",
    "SELECT DISTINCT upper(plate) AS v FROM curated.crossings",
    "SELECT transport_id AS v FROM curated.declarations WHERE mode = 'land'",
    "SELECT transport_id AS v FROM raw.tdec_declarations WHERE mode = 'land'",
    "WITH c AS (SELECT plate AS p FROM curated.crossings) SELECT p AS v FROM c",
    "SELECT \"PLATE\" AS v FROM \"CURATED\".\"CROSSINGS\"",
    "SELECT CAST(c AS VARCHAR) AS v FROM curated.crossings c",
    "SELECT to_json(c) AS v FROM curated.crossings AS c",
    "SELECT min(plate) AS v FROM curated.crossings UNION ALL SELECT max(plate) FROM curated.crossings",
]


def test_managers_get_masked_values_however_they_ask(attackers: dict[str, Session], tiny_world: Session) -> None:
    """Masked tables reach the engine already masked: no query shape recovers a plate."""
    plates = set(tiny_world.sql("SELECT DISTINCT plate FROM curated.crossings")["plate"].to_list())
    manager = attackers["manager"]
    for query in MASKED_FOR_MANAGERS:
        values = manager.sql(query)["v"].drop_nulls().to_list()
        assert values, query
        assert not any(p in str(v) for v in values for p in plates), query
    summary = manager.sql("SUMMARIZE curated.crossings").filter(pl.col("column_name") == "plate")
    assert summary["min"].to_list() == ["***"] and summary["max"].to_list() == ["***"]


def test_field_officers_cannot_reach_the_people_register_by_any_name(attackers: dict[str, Session]) -> None:
    officer = attackers["field_officer"]
    for query in ("SELECT * FROM curated.people", "SELECT * FROM raw.cirms_people",
                  "WITH people AS (SELECT 1 AS x) SELECT * FROM curated.people",
                  "SELECT (SELECT max(name_en) FROM curated.people) AS n",
                  "SELECT * FROM curated.crossings WHERE EXISTS (SELECT 1 FROM curated.drivers)",
                  "EXPLAIN SELECT * FROM curated.people"):
        with pytest.raises(AccessDenied):
            officer.sql(query)


@pytest.mark.parametrize("role", ROLES)
def test_the_engine_sandbox_holds_without_the_parse_check(
        attackers: dict[str, Session], paths: dict[str, str], role: str) -> None:
    """Straight to the DuckDB connection, past the session: DuckDB's own settings still refuse."""
    con = attackers[role].engine.con
    for query in ("SELECT * FROM read_text('/etc/passwd')", f"SELECT * FROM '{paths['rings']}'",
                  "ATTACH '/tmp/wb-attack.db' AS x", f"SELECT * FROM glob('{paths['root']}/truth/*')"):
        with pytest.raises(duckdb.PermissionException):
            con.execute(query)
    for setting in ("SET enable_external_access = true", "SET allowed_directories = ['/']",
                    "RESET lock_configuration", "SET python_enable_replacements = true"):
        with pytest.raises(duckdb.Error, match="locked"):
            con.execute(setting)
    masked_or_refused = role == "manager" or role == "field_officer"
    people_file = f"SELECT count(*) FROM '{paths['crossings' if role == 'manager' else 'people']}'"
    if masked_or_refused:  # masked (managers: crossings) or outside need-to-know (officers: people): no files
        with pytest.raises(duckdb.PermissionException):
            con.execute(people_file)
    else:  # analysts and modellers read these tables whole: their files are in the sandbox
        assert con.execute(people_file).fetchone()[0] > 0


def test_refused_attacks_are_audited(attackers: dict[str, Session], tmp_path: Path) -> None:
    from workbench.security.audit import read_records

    wb = attackers["analyst"]
    with pytest.raises(AccessDenied):
        wb.sql("SELECT * FROM read_text('/etc/passwd')")
    folder = Path(str(wb.settings.audit_dir))
    denied = [r for r in read_records(folder) if r["event"] == "denied" and r["user"] == "analyst-attacker"]
    assert denied and "read_text" in denied[-1]["query"] and "read_text" in denied[-1]["tables"][0]


# -- laundering: writing what a role may not see into a table it may read -------------------

LAUNDERING = [  # (query an analyst writes to work, column that must stay masked for managers)
    ("SELECT crossing_id, plate AS port FROM curated.crossings", "port"),
    ("SELECT crossing_id, plate, plate FROM curated.crossings", "plate_1"),
    ("SELECT * FROM curated.crossings c JOIN curated.declarations d ON c.container_no = d.container_no", None),
    ("SELECT * FROM curated.crossings a, curated.crossings b WHERE a.crossing_id = b.crossing_id", "plate_1"),
    ("SELECT crossing_id, CAST({'p': plate} AS VARCHAR) AS s FROM curated.crossings", "s"),
    ("SELECT crossing_id, 'x' || plate AS z FROM curated.crossings", "z"),
    ("SELECT crossing_id, (SELECT max(plate) FROM curated.crossings) AS m FROM curated.crossings", "m"),
    ("WITH a AS (SELECT crossing_id, plate AS q FROM curated.crossings), b AS (SELECT crossing_id, q AS r FROM a) "
     "SELECT crossing_id, r AS w FROM b", "w"),
    ("SELECT crossing_id, CAST(c AS VARCHAR) AS whole FROM curated.crossings c", "whole"),
    ("SELECT crossing_id, upper(plate) FROM curated.crossings", "upper(plate)"),
    ("SELECT crossing_id, plate AS a FROM curated.crossings UNION ALL SELECT crossing_id, 'x' FROM curated.crossings", "a"),
    ("SELECT crossing_id, u FROM curated.crossings, unnest([plate]) AS t(u)", "u"),
    ("SELECT crossing_id, COLUMNS('pla.*') FROM curated.crossings", "plate"),
    ("SELECT crossing_id, string_agg(plate, ',') OVER () AS l FROM curated.crossings", "l"),
]


def test_derived_tables_keep_masks_however_the_query_renames_them(
        tiny_world: Session, tmp_path_factory: pytest.TempPathFactory) -> None:
    audit = str(tmp_path_factory.mktemp("launder-audit"))
    manager = connect(tiny_world.settings.lake, user="manager-launder", role="manager", audit_dir=audit)
    plates = set(tiny_world.sql("SELECT DISTINCT plate FROM curated.crossings")["plate"])
    for i, (query, column) in enumerate(LAUNDERING):
        analyst = connect(tiny_world.settings.lake, user="analyst-launder", role="analyst", audit_dir=audit)
        analyst.write(analyst.sql(query), f"work.launder_{i}", mode="overwrite")
        seen = manager.sql(f"SELECT * FROM work.launder_{i}")
        leaked = [c for c in seen.columns for v in seen[c].cast(pl.String).drop_nulls() if any(p in v for p in plates)]
        assert not leaked, (query, leaked)
        if column is not None:
            assert set(seen[column].drop_nulls()) <= {"***"}, query


def test_column_lineage_masks_only_what_flowed_in(tiny_world: Session, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Precision, not only safety: an unnamed aggregate of a plate is masked, the columns beside it are not."""
    audit = str(tmp_path_factory.mktemp("precise-audit"))
    analyst = connect(tiny_world.settings.lake, user="analyst-precise", role="analyst", audit_dir=audit)
    analyst.write(analyst.sql("SELECT control_point, count(DISTINCT plate), max(plate) FROM curated.crossings "
                              "GROUP BY control_point"), "work.per_point", mode="overwrite")
    seen = connect(tiny_world.settings.lake, user="manager-precise", role="manager", audit_dir=audit).sql(
        "SELECT * FROM work.per_point")
    counted, top = seen.columns[1], seen.columns[2]
    assert "***" not in set(seen["control_point"]) and set(seen[top]) == {"***"}
    assert seen[counted].null_count() == seen.height  # a count of plates is derived from plates: masked too
