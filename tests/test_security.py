"""Security: the access policy at the session gate, the tamper-evident audit trail, the SIEM."""

from __future__ import annotations

import hashlib
import json
import shutil
import socketserver
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import ThreadingHTTPServer
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from tests.hub_support import AlertWebhook
from workbench.cli.main import main
from workbench.errors import AccessDenied, ConfigError
from workbench.lake.macros import name_key_expr
from workbench.session import Session, connect
from workbench.security import AuditTrail, search, verify
from workbench.security.audit import MAX_QUERY_CHARS, checkpoint_now, read_records
from workbench.siem.detectors import score
from workbench.security.policy import LEVELS, level, load_policy, parse_policy
from workbench.demo.access_log import demo_accounts
from workbench.siem.pipeline import EVENTS, run_cycle
from workbench.siem.sinks import EmailSink, WebhookSink

TABLE_OF = {"public": "raw.ref_fx_rates", "internal": "curated.declarations",
            "restricted": "curated.traders", "secret": "truth.rings"}
ROLES = ("manager", "field_officer", "analyst", "modeller", "admin", "system")


def as_role(tiny_world: Session, monkeypatch: pytest.MonkeyPatch, role: str, audit: Path | None = None) -> Session:
    monkeypatch.setenv("WORKBENCH_ROLE", role)
    if audit is not None:
        monkeypatch.setenv("WORKBENCH_AUDIT_DIR", str(audit))
    return connect(tiny_world.settings.lake, user=f"{role}-user")


# -- access policy ----------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_each_role_reads_exactly_the_classifications_it_is_cleared_for(
        tiny_world: Session, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, role: str) -> None:
    wb = as_role(tiny_world, monkeypatch, role, tmp_path / "audit")
    cleared = level(load_policy().clearance(role))
    for classification, table in TABLE_OF.items():
        if level(classification) <= cleared:
            assert wb.sql(f"SELECT count(*) AS n FROM {table}")["n"][0] > 0
            assert wb.table(table).height > 0
        else:
            with pytest.raises(AccessDenied) as refused:
                wb.sql(f"SELECT count(*) FROM {table}")
            assert (refused.value.table, refused.value.clearance, refused.value.role) == (table, classification, role)
            with pytest.raises(AccessDenied):
                wb.table(table)
            with pytest.raises(AccessDenied):
                wb.scan(table)
    visible = set(wb.tables()["classification"].to_list())
    assert visible == {c.value for c in LEVELS if level(c) <= cleared}


def test_manager_sees_personal_identifiers_masked_and_can_still_join(
        tiny_world: Session, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    manager = as_role(tiny_world, monkeypatch, "manager", tmp_path / "audit")
    plates = manager.sql("SELECT DISTINCT plate FROM curated.crossings")["plate"].to_list()
    assert plates == ["***"]
    assert manager.table("curated.crossings")["plate"].unique().to_list() == ["***"]
    assert manager.scan("curated.crossings").select("plate").unique().collect()["plate"].to_list() == ["***"]
    assert manager.describe("curated.crossings").filter(pl.col("column") == "plate")["distinct"][0] == 1
    joined = manager.sql("SELECT count(*) AS n FROM curated.crossings c JOIN curated.declarations d "
                         "ON c.container_no = d.container_no")
    assert joined.height == 1  # unmasked keys still join
    analyst = as_role(tiny_world, monkeypatch, "analyst", tmp_path / "audit")
    assert "***" not in analyst.sql("SELECT DISTINCT plate FROM curated.crossings")["plate"].to_list()
    assert "***" not in analyst.sql("SELECT phone FROM curated.people LIMIT 5")["phone"].to_list()


def test_field_officers_see_a_companys_cases_but_not_the_persons_in_them(
        tiny_world: Session, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    officer = as_role(tiny_world, monkeypatch, "field_officer", tmp_path / "audit")
    parties = officer.sql("SELECT * FROM curated.case_parties")
    assert parties.height > 0
    persons = parties.filter(pl.col("party_kind") == "person")
    assert set(persons["name"]) == {"***"} and set(persons["id_document"]) - {None} <= {"***"}
    assert "***" not in parties["case_id"].to_list()  # the link to the case stays
    assert "***" not in officer.sql("SELECT DISTINCT plate FROM curated.crossings")["plate"].to_list()  # looked up
    analyst = as_role(tiny_world, monkeypatch, "analyst", tmp_path / "audit")
    assert "***" not in analyst.sql("SELECT name FROM curated.case_parties")["name"].to_list()


def test_a_plate_is_masked_for_managers_wherever_it_appears(
        tiny_world: Session, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Masks follow meaning: transport_id carries the plate of a land declaration (the specs mark it)."""
    plates = set(tiny_world.sql("SELECT plate FROM curated.crossings")["plate"])
    land = tiny_world.sql("SELECT transport_id FROM curated.declarations WHERE mode = 'land'")["transport_id"]
    assert set(land) & plates  # the demo's land declarations name the crossing vehicle's plate
    manager = as_role(tiny_world, monkeypatch, "manager", tmp_path / "audit")
    for table in ("curated.declarations", "raw.tdec_declarations"):
        assert set(manager.sql(f"SELECT transport_id FROM {table} WHERE mode = 'land'")["transport_id"]) == {"***"}
        assert set(manager.table(table)["transport_id"]) == {"***"}
        assert set(manager.scan(table).select("transport_id").collect()["transport_id"]) == {"***"}
    profile = manager.describe("curated.declarations").filter(pl.col("column") == "transport_id")
    assert "manager" in profile["masked_for"][0] and "(plate)" in profile["carries"][0]
    officer = as_role(tiny_world, monkeypatch, "field_officer", tmp_path / "audit")  # plates are what they look up
    assert set(officer.sql("SELECT transport_id FROM curated.declarations WHERE mode = 'land'")["transport_id"]) & plates


def test_identifiers_typed_into_a_work_table_are_recognised_and_masked(
        tiny_world: Session, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No input carried them: the recognisers find a plate, a valid HKID and a phone by their form."""
    from workbench.security.recognisers import hkid_check_digit

    assert hkid_check_digit("A", "123456") == "3" and hkid_check_digit("A", "000002") == "A"
    analyst = as_role(tiny_world, monkeypatch, "analyst", tmp_path / "audit")
    notes = pl.DataFrame({"note": ["stopped XY 123 at Lok Ma Chau", "no plate"], "who": ["A123456(3)", None],
                          "call": ["+852 9123 4567", None], "fake_id": ["A123456(4)", None], "k": ["a", "b"]})
    analyst.write(notes, "work.typed_notes", mode="overwrite")
    carried = json.loads(tiny_world.lake.catalog.entry("work.typed_notes")["carried"])["columns"]
    assert {c: [s[2] for s in v] for c, v in carried.items()} == {
        "note": ["plate"], "who": ["identity_document"], "call": ["phone"]}  # a wrong check digit is no HKID
    seen = as_role(tiny_world, monkeypatch, "manager", tmp_path / "audit").sql("SELECT * FROM work.typed_notes")
    assert set(seen["note"]) == set(seen["who"]) == set(seen["call"]) == {"***"}
    assert set(seen["k"]) == {"a", "b"} and "A123456(4)" in set(seen["fake_id"])


def test_every_semantic_type_a_spec_names_is_one_the_policy_knows(tiny_world: Session) -> None:
    known = load_policy().semantic_types
    named = {(n, c, spec.semantic) for n, s in tiny_world.lake.specs.items() for c, spec in s.columns.items()
             if spec.semantic}
    assert {"plate", "person_name", "identity_document", "phone", "address"} <= {t for _, _, t in named}
    assert [x for x in named if x[2] not in known] == []


def test_a_derived_table_keeps_the_need_to_know_and_masks_of_what_it_came_from(
        tiny_world: Session, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The leak of issue 16: an analyst's work.suspect_list from curated.people, read by a field officer."""
    audit = tmp_path / "audit"
    analyst = as_role(tiny_world, monkeypatch, "analyst", audit)
    suspects = analyst.sql("SELECT person_id, name_en AS suspect, phone AS contact FROM curated.people LIMIT 20")
    analyst.write(suspects, "work.suspect_list", mode="overwrite", produced_by="suspect triage")
    officer = as_role(tiny_world, monkeypatch, "field_officer", audit)
    for read in (lambda: officer.sql("SELECT * FROM work.suspect_list"), lambda: officer.table("work.suspect_list"),
                 lambda: officer.scan("work.suspect_list")):
        with pytest.raises(AccessDenied, match="derived from curated.people"):
            read()
    assert "work.suspect_list" not in officer.tables()["name"].to_list()
    entry = tiny_world.lake.catalog.entry("work.suspect_list")
    carried = json.loads(entry["carried"])
    assert carried["inputs"] == ["curated.people"]
    assert {c: sorted({s[2] for s in srcs}) for c, srcs in carried["columns"].items()} == {
        "suspect": ["person_name"], "contact": ["phone"]}  # column-level: person_id carries nothing
    assert "suspect triage" in entry["produced_by"]

    # Column masks travel too: plates renamed in a CTE stay masked for managers, other columns stay clear.
    analyst = as_role(tiny_world, monkeypatch, "analyst", audit)
    plates = analyst.sql("WITH c AS (SELECT crossing_id, plate AS reg, control_point FROM curated.crossings) "
                         "SELECT crossing_id, upper(reg) AS vehicle, control_point FROM c")
    analyst.write(plates, "work.vehicle_list", mode="overwrite")
    manager = as_role(tiny_world, monkeypatch, "manager", audit)
    seen = manager.sql("SELECT * FROM work.vehicle_list")
    assert set(seen["vehicle"]) == {"***"} and "***" not in set(seen["control_point"])
    assert set(manager.table("work.vehicle_list")["vehicle"]) == {"***"}
    described = manager.describe("work.vehicle_list").filter(pl.col("column") == "vehicle")
    assert "curated.crossings.plate (plate)" in described["carries"][0] and "manager" in described["masked_for"][0]

    # A frame changed after wb.sql returned it falls back to the whole table: every column masked.
    changed = analyst.sql("SELECT crossing_id, plate FROM curated.crossings").rename({"plate": "innocent"})
    analyst.write(changed, "work.renamed", mode="overwrite")
    assert set(manager.sql("SELECT innocent, crossing_id FROM work.renamed")["innocent"]) == {"***"}


def test_only_admins_and_services_read_the_security_zone(tiny_world: Session) -> None:
    policy = load_policy()
    assert not policy.may_read("analyst", "security.alerts", "restricted")
    assert policy.may_read("admin", "security.alerts", "restricted")


def test_file_reads_and_unknown_roles_are_refused(
        tiny_world: Session, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    analyst = as_role(tiny_world, monkeypatch, "analyst", tmp_path / "audit")
    root = tiny_world.settings.lake
    with pytest.raises(AccessDenied, match="by table name"):
        analyst.sql(f"SELECT * FROM read_parquet('{root}/truth/rings/*.parquet')")
    with pytest.raises(AccessDenied, match="not defined"):
        as_role(tiny_world, monkeypatch, "intruder", tmp_path / "audit")


def test_writes_need_a_writable_zone_and_are_audited(
        tiny_world: Session, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    frame = pl.DataFrame({"k": [1, 2]})
    manager = as_role(tiny_world, monkeypatch, "manager", tmp_path / "audit")
    with pytest.raises(AccessDenied, match="may not write to the work zone"):
        manager.write(frame, "work.sec_manager")
    analyst = as_role(tiny_world, monkeypatch, "analyst", tmp_path / "audit")
    with pytest.raises(AccessDenied, match="raw zone"):
        analyst.write(frame, "raw.sec_analyst")
    assert analyst.write(frame, "work.sec_analyst").rows_written == 2
    writes = search(tmp_path / "audit", user="analyst-user", event="write")
    assert writes["tables"].to_list() == ["work.sec_analyst"] and writes["rows"].to_list() == [2]


def test_policy_errors_name_file_key_and_reason() -> None:
    with pytest.raises(ConfigError, match=r"custom\.toml: roles\.boss\.clearance: .*public.*secret"):
        parse_policy('default_role = "boss"\n[roles.boss]\nclearance = "top"\n', "custom.toml")
    with pytest.raises(ConfigError, match=r"custom\.toml: .*default_role 'nobody'"):
        parse_policy('default_role = "nobody"\n[roles.a]\nclearance = "public"\n', "custom.toml")
    with pytest.raises(ConfigError, match=r"roles\.a\.write_zones.*unknown zones"):
        parse_policy('default_role = "a"\n[roles.a]\nclearance = "public"\nwrite_zones = ["attic"]\n', "custom.toml")


# -- audit trail --------------------------------------------------------------------------


def test_queries_and_denials_are_audited_with_tables_and_rows(
        tiny_world: Session, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    audit = tmp_path / "audit"
    manager = as_role(tiny_world, monkeypatch, "manager", audit)
    manager.sql("SELECT * FROM curated.declarations LIMIT 7")
    with pytest.raises(AccessDenied):
        manager.sql("SELECT * FROM curated.people p JOIN curated.declarations d ON true")
    records = search(audit, user="manager-user")
    assert records["event"].to_list() == ["session_start", "query", "denied"]
    query, denied = records.row(1, named=True), records.row(2, named=True)
    assert (query["tables"], query["rows"]) == ("curated.declarations", 7)
    assert denied["status"] == "denied" and denied["tables"] == "curated.people"
    assert "curated.people" in denied["query"]
    assert search(audit, table="curated.people").height == 1
    assert search(audit, since="1h").height == 3 and search(audit, since="2999-01-01").height == 0
    assert verify(audit).ok


def test_sql_cells_go_through_the_gate_and_are_audited(
        tiny_world: Session, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from IPython.testing.globalipapp import start_ipython

    from workbench.session.jupyter import load_ipython_extension

    audit = tmp_path / "audit"
    manager = as_role(tiny_world, monkeypatch, "manager", audit)
    ipython = start_ipython()
    load_ipython_extension(ipython, session=manager)
    counted = ipython.run_cell_magic("sql", "", "SELECT count(*) AS n FROM curated.declarations")
    assert counted["n"][0] > 0
    with pytest.raises(AccessDenied):
        ipython.run_cell_magic("sql", "", "SELECT * FROM curated.people")
    events = search(audit, user="manager-user")
    assert events["event"].to_list() == ["session_start", "query", "denied"]
    query = [r for r in read_records(audit) if r.get("event") == "query"]
    assert [(r["detail"]["via"], r["tables"]) for r in query] == [("%%sql", ["curated.declarations"])]


def test_every_query_path_is_audited_with_what_duckdb_resolved(
        tiny_world: Session, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    audit = tmp_path / "audit"
    analyst = as_role(tiny_world, monkeypatch, "analyst", audit)
    padded = "SELECT count(*) AS n FROM curated.declarations" + " " * 30_000 + "-- hidden tail"
    analyst.sql(padded)
    analyst.engine.frame("SELECT count(*) FROM curated.crossings")  # the engine directly, past wb.sql
    analyst.engine.relation("SELECT 1 AS x FROM curated.traders LIMIT 1")
    analyst.describe("curated.brokers")
    analyst.history("curated.cases")
    records = [r for r in read_records(audit) if r["user"] == "analyst-user"]
    queries = [r for r in records if r["event"] == "query"]
    first = queries[0]
    assert first["query_chars"] == len(padded) and len(first["query"]) < len(padded)
    assert first["query_sha256"] == hashlib.sha256(padded.encode()).hexdigest()
    assert first["detail"]["versions"] == {"curated.declarations": tiny_world.lake.catalog.entry(
        "curated.declarations")["version"]}
    vias = {(r["detail"]["via"], tuple(r["tables"])) for r in queries}
    assert {("sql", ("curated.declarations",)), ("engine", ("curated.crossings",)),
            ("engine", ("curated.traders",)), ("describe", ("curated.brokers",))} <= vias
    assert {"describe", "history"} <= {r["event"] for r in records}
    assert verify(audit).ok


def test_the_audit_service_stamps_records_itself_and_rejects_malformed_ones(tmp_path: Path) -> None:
    from workbench.security.audit_service import checked_request

    good = {"event": "query", "query": "SELECT 1", "query_sha256": hashlib.sha256(b"SELECT 1").hexdigest(),
            "query_chars": 8, "tables": ["curated.x"], "rows": 1, "detail": {}}
    assert checked_request(good)["query_chars"] == 8
    bad = {
        "unknown fields": {**good, "ts": "1999-01-01T00:00:00"},
        "'event' must be a lower-case word": {**good, "event": "Query\nforged"},
        "'query_sha256' does not match": {**good, "query_sha256": "0" * 64},
        "must describe the whole query": {**good, "query_chars": 3},
        "cut at": {**good, "query_chars": 50},
        "'tables' must be a list": {**good, "tables": "curated.x"},
        "'rows' must be an integer": {**good, "rows": -1},
        "need a 'query'": {"event": "query", "query_sha256": "0" * 64},
    }
    for rule, request in bad.items():
        with pytest.raises(ValueError, match=rule):
            checked_request(request)
    cut = "x" * MAX_QUERY_CHARS
    assert checked_request({**good, "query": cut, "query_chars": MAX_QUERY_CHARS + 5,
                            "query_sha256": "a" * 64})["detail"] == {"query_hash": "client"}


def _trail(folder: Path, n: int = 10, checkpoint_every: int = 4) -> list[str]:
    trail = AuditTrail(folder, "alice", "analyst", checkpoint_every=checkpoint_every)
    for i in range(n):
        trail.record("query", tables=["curated.declarations"], rows=i, query=f"SELECT {i}")
    trail.close()
    return (folder / "audit.jsonl").read_text().splitlines()


def _rewrite(folder: Path, lines: list[str]) -> None:
    (folder / "audit.jsonl").write_text("".join(line + "\n" for line in lines))


def test_audit_verify_names_the_first_edited_deleted_or_swapped_record(tmp_path: Path) -> None:
    lines = _trail(tmp_path)
    result = verify(tmp_path)
    assert result.ok and result.records == 10 and result.checkpoints == 2

    edited = lines.copy()
    edited[4] = edited[4].replace('"rows":4', '"rows":40000')
    _rewrite(tmp_path, edited)
    assert (verify(tmp_path).position, verify(tmp_path).kind) == (4, "edited")

    _rewrite(tmp_path, lines[:4] + lines[5:])
    assert (verify(tmp_path).position, verify(tmp_path).kind) == (4, "deleted")

    _rewrite(tmp_path, lines[:4] + [lines[5], lines[4]] + lines[6:])
    assert (verify(tmp_path).position, verify(tmp_path).kind) == (4, "reordered")

    # A forger who re-hashes the edited record still breaks the next record's link.
    from workbench.security.audit import canonical, record_hash
    rec = json.loads(lines[4])
    rec["rows"] = 0
    rec["hash"] = record_hash(rec)
    _rewrite(tmp_path, lines[:4] + [canonical(rec)] + lines[5:])
    assert (verify(tmp_path).position, verify(tmp_path).kind) == (4, "edited")

    # Deleting the tail is caught by the signed checkpoint that covered it.
    _rewrite(tmp_path, lines[:6])
    result = verify(tmp_path)
    assert (result.ok, result.kind, result.position) == (False, "deleted", 6)

    _rewrite(tmp_path, lines)
    assert verify(tmp_path).ok


def test_audit_cli_verify_exits_nonzero_naming_the_position(tmp_path: Path) -> None:
    lines = _trail(tmp_path, n=6, checkpoint_every=0)
    assert checkpoint_now(tmp_path)["seq"] == 5  # type: ignore[index]
    runner = CliRunner()
    ok = runner.invoke(main, ["audit", "verify", "--dir", str(tmp_path)])
    assert ok.exit_code == 0 and "intact: 6 records, 1 signed" in ok.output
    _rewrite(tmp_path, lines[:2] + lines[3:])
    bad = runner.invoke(main, ["audit", "verify", "--dir", str(tmp_path)])
    assert bad.exit_code == 1 and "position 2" in bad.output and "deleted" in bad.output
    found = runner.invoke(main, ["audit", "search", "--dir", str(tmp_path), "--user", "alice", "--format", "json"])
    assert found.exit_code == 0 and len(json.loads(found.output)) == 5


def test_audit_key_is_private(tmp_path: Path) -> None:
    _trail(tmp_path, n=4, checkpoint_every=2)
    assert (tmp_path / "keys" / "checkpoint.key").stat().st_mode & 0o077 == 0
    assert (tmp_path / "audit.jsonl").stat().st_mode & 0o077 == 0


# -- SIEM -----------------------------------------------------------------------------------


class _SMTP(socketserver.StreamRequestHandler):
    """Just enough SMTP to accept a message (a local test sink)."""

    messages: list[str] = []

    def handle(self) -> None:
        self.wfile.write(b"220 sink ready\r\n")
        while line := self.rfile.readline():
            command = line.decode().strip().upper()
            if command.startswith("DATA"):
                self.wfile.write(b"354 go on\r\n")
                data = []
                while (row := self.rfile.readline()) not in (b".\r\n", b""):
                    data.append(row.decode())
                type(self).messages.append("".join(data))
                self.wfile.write(b"250 queued\r\n")
            elif command.startswith("QUIT"):
                self.wfile.write(b"221 bye\r\n")
                return
            elif command.startswith("EHLO"):
                self.wfile.write(b"250 sink\r\n")
            else:
                self.wfile.write(b"250 ok\r\n")


@pytest.fixture
def sinks() -> Iterator[tuple[WebhookSink, EmailSink]]:
    AlertWebhook.received, _SMTP.messages = [], []
    http = ThreadingHTTPServer(("127.0.0.1", 0), AlertWebhook)
    smtp = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _SMTP)
    for server in (http, smtp):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield (WebhookSink(f"http://127.0.0.1:{http.server_address[1]}/alerts"),
               EmailSink("127.0.0.1", smtp.server_address[1], "siem@workbench.local", ["admins@workbench.local"]))
    finally:
        for server in (http, smtp):
            server.shutdown()
            server.server_close()


@pytest.fixture
def world_copy(tiny_world: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Session:
    """A private copy of the tiny world, so SIEM tables never leak into the shared one."""
    shutil.copytree(tiny_world.settings.lake, tmp_path / "lake")
    monkeypatch.setenv("WORKBENCH_ROLE", "system")
    return connect(str(tmp_path / "lake"), user="siem")


def test_siem_finds_the_planted_anomalies_and_alerts_admins_once(
        world_copy: Session, sinks: tuple[WebhookSink, EmailSink]) -> None:
    accounts = {**demo_accounts(), "siem": True}
    result = run_cycle(world_copy, list(sinks), accounts=accounts)
    scores = score(result.alerts, world_copy.table("truth.log_anomalies"))
    for name, s in scores.items():
        assert s.precision >= 0.9 and s.recall >= 0.9, s
    assert result.delivered == 2 and not result.failures
    delivered = AlertWebhook.received[0]["alerts"]
    assert {a["detector"] for a in delivered} == {s for s in scores if s != "all"}  # type: ignore[union-attr]
    assert "new alert(s), worst critical" in _SMTP.messages[0]
    stored = world_copy.table("security.alerts")
    assert stored.height == len(result.new_alerts) and set(stored["severity"]) <= {"medium", "high", "critical"}
    again = run_cycle(world_copy, list(sinks), accounts=accounts)
    assert again.new_alerts == [] and len(AlertWebhook.received) == 1


def _inject(wb: Session, rows: list[dict[str, object]]) -> None:
    frame = pl.DataFrame(rows).with_columns(pl.col("ts").cast(pl.Datetime("us")),
                                            pl.col("rows_returned").cast(pl.Int64))
    wb.lake.write(frame.to_arrow(), "raw.platform_access_log", actor="test")


def test_brute_force_and_bulk_extraction_raise_alerts_within_one_cycle(
        world_copy: Session, sinks: tuple[WebhookSink, EmailSink]) -> None:
    accounts = {**demo_accounts(), "siem": True}
    run_cycle(world_copy, accounts=accounts)
    log = world_copy.table("raw.platform_access_log")
    last = log["ts"].max() + timedelta(days=1)  # type: ignore[operator]
    user = "analyst05"
    home = log.filter(pl.col("user_name") == user)["source_ip"][0]
    typical = int(log.filter((pl.col("user_name") == user) & (pl.col("action") == "query"))["rows_returned"].median())
    base = {"resource": None, "rows_returned": None}
    guesses = [{**base, "event_id": f"EV9{i:08d}", "ts": last + timedelta(seconds=5 * i), "user_name": "analyst07",
                "source_ip": "185.1.2.3", "action": "login_failed", "status": "failed"} for i in range(25)]
    dump = [{"event_id": f"EV9{50 + i:08d}", "ts": last + timedelta(hours=3, minutes=i), "user_name": user,
             "source_ip": home, "action": "export", "resource": "curated.declarations",
             "rows_returned": typical * 500, "status": "ok"} for i in range(2)]
    _inject(world_copy, guesses + dump)
    result = run_cycle(world_copy, list(sinks), accounts=accounts)
    new = {a.detector: a for a in result.new_alerts}
    assert set(new) == {"brute_force", "bulk_extraction"}, result.new_alerts
    assert set(new["brute_force"].evidence) == {g["event_id"] for g in guesses}
    assert new["bulk_extraction"].user_name == user and set(new["bulk_extraction"].evidence) == {
        d["event_id"] for d in dump}
    assert {a["detector"] for a in AlertWebhook.received[0]["alerts"]} == set(new)  # type: ignore[union-attr]
    assert world_copy.sql(f"SELECT count(*) AS n FROM {EVENTS} WHERE event_id LIKE 'EV9%'")["n"][0] == 27


def test_name_key_is_one_rule_in_sql_and_polars_and_sandboxed_sessions_can_call_it(
        tiny_world: Session, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    wb = as_role(tiny_world, monkeypatch, "analyst", tmp_path / "audit")
    names = ["Wing On Trading Company Limited", "  O'Brien & Co., Ltd.", "九龍 貿易 有限公司", "A.B.C.  co"]
    in_sql = wb.sql("SELECT name_key(x) AS k FROM (SELECT unnest(?::VARCHAR[]) AS x)", params=[names])["k"].to_list()
    in_polars = pl.DataFrame({"x": names}).select(name_key_expr(pl.col("x")))["x"].to_list()
    assert in_sql == in_polars == ["WING ON TRADING CO LTD", "OBRIEN CO LTD", "九龍 貿易 有限公司", "ABC CO"]
    traders = wb.sql("SELECT name_en, name_norm FROM curated.traders")
    assert traders["name_norm"].to_list() == traders.select(name_key_expr(pl.col("name_en")))["name_en"].to_list()
