"""Platform events into the audit trail, collectors over the platform's own logs, the SIEM loop.

The stack tests use the REAL stack the way ``make up`` starts it (audit service, SIEM loop,
configurable-http-proxy, JupyterHub, Dask Gateway) on free loopback ports in a temporary
state folder, with the same cleanup as ``test_platform_stack`` (Unix users ``wbt<hex>-``,
memory cgroups, the temp folder): the one ``test_supervision`` then kills components of
(``tests/fault_support.SharedStack``). The collectors are checked on the lines those programs
wrote, and the dashboards collector on a real Panel server's access log.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from click.testing import CliRunner

from tests import hub_support as support
from tests.conftest import free_port, wait_for_port
from tests.fault_support import SIEM_INTERVAL, SharedStack
from tests.hub_support import wait_until
from tests.test_risk_kcs import KCS, sample_spec, sample_specs, trained  # noqa: F401 - fixtures used here
from workbench.security.accounts import AccountStore
from workbench.security.audit import AuditTrail, read_records, record_dashboard, verify
from workbench.siem.collectors import DashboardLogCollector

# -- platform events into the audit trail ----------------------------------------------------


def test_account_events_are_audited_with_address_and_lockout(tmp_path: Path) -> None:
    trail = AuditTrail(tmp_path / "audit", "root", "admin")
    store = AccountStore(tmp_path, max_failures=3, audit=trail)
    store.add("dora", "analyst", "Correct-Horse-42-battery")
    for _ in range(3):
        assert store.verify("dora", "wrong-password-123", source_ip="10.9.8.7") is None
    assert store.verify("dora", "Correct-Horse-42-battery", source_ip="10.9.8.7") is None  # locked
    store.set_enabled("dora", True)
    assert store.verify("dora", "Correct-Horse-42-battery", source_ip="10.9.8.6") is not None
    store.set_role("dora", "admin")
    store.reset_password("dora", "Another-Horse-43-battery")
    store.set_enabled("dora", False)
    assert store.verify("ghost", "whatever-password-1", source_ip="10.9.8.5") is None
    records = [(r["user"], r["event"], r["status"], r["detail"].get("source_ip"), r["detail"].get("reason"))
               for r in read_records(tmp_path / "audit")]
    assert records == [
        ("root", "account_add", "ok", None, None),
        ("dora", "login_failed", "failed", "10.9.8.7", "wrong password"),
        ("dora", "login_failed", "failed", "10.9.8.7", "wrong password"),
        ("dora", "login_failed", "failed", "10.9.8.7", "wrong password"),
        ("dora", "lockout", "locked", "10.9.8.7", None),
        ("dora", "login_failed", "failed", "10.9.8.7", "locked"),
        ("root", "account_enable", "ok", None, None),
        ("dora", "login", "ok", "10.9.8.6", None),
        ("root", "role_change", "ok", None, None),
        ("root", "password_reset", "ok", None, None),
        ("root", "account_disable", "ok", None, None),
        ("ghost", "login_failed", "failed", "10.9.8.5", "unknown account"),
    ]
    change = next(r for r in read_records(tmp_path / "audit") if r["event"] == "role_change")
    assert change["role"] == "admin"  # the administrator's role, not the new one
    assert change["detail"] == {"account": "dora", "new_role": "admin", "previous": "analyst",
                                "resource": "user:dora -> admin"}
    assert "Horse" not in (tmp_path / "audit" / "audit.jsonl").read_text()  # no password in the trail
    assert verify(tmp_path / "audit").ok


def test_an_admin_change_whose_record_cannot_be_written_is_rolled_back(tmp_path: Path) -> None:
    store = AccountStore(tmp_path)
    store.add("erin", "analyst", "Correct-Horse-42-battery")
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("")
    audited = AccountStore(tmp_path, audit=AuditTrail(blocked / "audit", "root", "admin"))
    with pytest.raises(Exception, match="cannot write the audit log"):
        audited.set_role("erin", "admin")
    assert store.get("erin").role.value == "analyst"  # type: ignore[union-attr]


def test_users_cli_records_the_administrator_as_actor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from workbench.cli.users import users

    monkeypatch.setenv("WORKBENCH_USER", "alice-admin")
    base = ["--base-dir", str(tmp_path)]
    runner = CliRunner()
    assert runner.invoke(users, ["add", "frank", "--role", "analyst", *base]).exit_code == 0
    assert runner.invoke(users, ["set-role", "frank", "--role", "modeller", *base]).exit_code == 0
    found = [(r["user"], r["event"], r["detail"]["account"]) for r in read_records(tmp_path / "audit")]
    assert found == [("alice-admin", "account_add", "frank"), ("alice-admin", "role_change", "frank")]


def test_dashboard_views_and_exports_reach_the_siem_as_events(
        tiny_world, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    from workbench.session import connect
    from workbench.siem.pipeline import AuditCollector

    monkeypatch.setenv("WORKBENCH_ROLE", "manager")
    wb = connect(tiny_world.settings.lake, user="mgr", audit_dir=str(tmp_path / "audit"))
    record_dashboard(wb.audit, "risk-overview")
    record_dashboard(wb.audit, "risk-overview", export="csv", tables=["curated.declarations"], rows=1234)
    events = AuditCollector(tmp_path / "audit").new_events(wb, None)
    assert events.select("action", "resource", "rows_returned").rows() == [
        ("session_start", None, None), ("view_dashboard", "dashboard:risk-overview", None),
        ("export", "curated.declarations", 1234)]


@pytest.mark.skipif(not KCS.is_dir(), reason="KCS data not present")
def test_model_promotion_is_audited_as_the_person_who_ran_it(
        trained, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    from workbench.cli.main import main
    from workbench.registry import Registry

    registry = Registry(tmp_path / "registry")
    registry.register(trained)
    second = registry.register(trained)
    monkeypatch.setenv("WORKBENCH_USER", "mona")
    monkeypatch.setenv("WORKBENCH_ROLE", "modeller")
    monkeypatch.setenv("WORKBENCH_AUDIT_DIR", str(tmp_path / "audit"))
    where = ["--registry", str(tmp_path / "registry"), "--lake", str(tmp_path / "lake")]
    done = CliRunner().invoke(main, ["models", "promote", "kcs_fraud", str(second), *where])
    assert done.exit_code == 0, done.output
    refused = CliRunner().invoke(main, ["models", "promote", "kcs_fraud", "99", *where])
    assert refused.exit_code != 0  # no such version: nothing promoted, nothing recorded
    promotions = [(r["user"], r["role"], r["detail"]["resource"], r["detail"]["version"])
                  for r in read_records(tmp_path / "audit") if r["event"] == "model_promote"]
    assert promotions == [("mona", "modeller", f"model:kcs_fraud v{second}", second)]
    assert registry.version_of("kcs_fraud") == second


# -- the dashboards' access log, from a real Panel server -------------------------------------


def test_dashboard_collector_reads_a_real_panel_server_access_log(tmp_path: Path) -> None:
    import requests

    log, port = tmp_path / "dashboards.log", free_port()
    script = "\n".join([
        "import sys, panel as pn",
        "from workbench.siem.collectors import dashboard_logging",
        "dashboard_logging(sys.argv[1])",
        "pn.serve({'risk-overview': lambda: pn.pane.Markdown('# hi')}, port=int(sys.argv[2]), address='127.0.0.1',",
        "         show=False, websocket_origin=[f'127.0.0.1:{sys.argv[2]}'])",
    ])
    proc = subprocess.Popen([sys.executable, "-c", script, str(log), str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for_port(port, 60)
        assert requests.get(f"http://127.0.0.1:{port}/risk-overview", timeout=30).status_code == 200
        assert requests.get(f"http://127.0.0.1:{port}/nowhere", timeout=30).status_code == 404
        wait_until(lambda: "/risk-overview" in log.read_text(), 10, what="the access line")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    events = DashboardLogCollector(log).new_events(None, None)  # type: ignore[arg-type]
    assert events.select("source", "user_name", "source_ip", "action", "resource", "status").rows() == [
        ("dashboards", "-", "127.0.0.1", "view_dashboard", "/risk-overview", "ok")]
    collector = DashboardLogCollector(log)
    assert collector.new_events(None, collector.watermark(events)).height == 1  # type: ignore[arg-type]


# -- the whole stack: audit service, SIEM loop, hub, proxy, gateway ------------------------------


@dataclass
class Stack:
    profile: object
    url: str
    root: Path
    lake: Path
    passwords: dict[str, str]


@pytest.fixture(scope="module")
def stack_with_siem(shared_siem_stack: SharedStack) -> tuple[Stack, list[dict[str, Any]]]:
    """The stack test_supervision kills components of, started once for both (``tests/fault_support.py``);
    that module also checks that ``down`` stops the audit service and the SIEM loop."""
    shared = shared_siem_stack.get()
    s = shared.stack
    return Stack(s.profile, s.url, s.root, Path(s.profile.lake), s.passwords), shared.alerts


@pytest.mark.hub
def test_brute_force_on_the_real_login_form_raises_an_alert_within_one_cycle(
        stack_with_siem: tuple[Stack, list[dict[str, Any]]]) -> None:
    import requests

    from workbench.platform import stack

    running, webhook = stack_with_siem
    components = {c.name: c for c in stack.status(running.profile)}  # type: ignore[arg-type]
    assert components["audit"].running and components["siem"].running, components
    support.login(running.url, "analyst", running.passwords["analyst"])  # one good login first
    # An unauthenticated request the gateway refuses, and one the hub refuses.
    assert requests.get(f"{running.url}/services/dask-gateway/api/v1/clusters/", timeout=10).status_code == 401
    assert requests.get(f"{running.url}/hub/api/users", timeout=10).status_code == 403
    for i in range(12):
        _, response = support.login(running.url, "modeller", f"not-the-password-{i}")
        assert response.status_code == 403
    burst_end = time.monotonic()

    def brute_force_alert() -> dict[str, object] | None:
        alerts = [a for batch in webhook for a in batch["alerts"]]
        return next((a for a in alerts if a["detector"] == "brute_force" and a["user"] == "modeller"), None)

    alert = wait_until(brute_force_alert, 2 * SIEM_INTERVAL + 60, interval=0.2, what="a brute-force alert")
    latency = time.monotonic() - burst_end
    print(f"brute force -> alert delivered: {latency:.2f} s (cycle every {SIEM_INTERVAL:g} s)")
    assert alert["severity"] in ("high", "critical")
    log = (running.profile.state_dir / "logs" / "siem.log").read_text()  # type: ignore[attr-defined]
    cycles = [float(line.rsplit(", ", 1)[1].split()[0]) for line in log.splitlines() if "siem cycle:" in line]
    assert latency <= SIEM_INTERVAL + 2 * max(cycles), (latency, cycles)  # picked up by the next cycle

    from workbench.session import connect

    wb = connect(str(running.lake), role="system", audit_dir=str(running.root / "reader-audit"))
    events = wb.table("security.events")
    by_source = {s: events.filter(pl.col("source") == s) for s in ("hub", "proxy", "gateway", "audit")}
    hub = by_source["hub"]
    failed = hub.filter((pl.col("action") == "login_failed") & (pl.col("user_name") == "modeller"))
    assert failed.height == 12 and set(failed["source_ip"]) == {"127.0.0.1"}
    assert hub.filter((pl.col("action") == "login_ok") & (pl.col("user_name") == "analyst")).height == 1
    assert hub.filter((pl.col("action") == "access_denied") & (pl.col("resource") == "/hub/api/users")).height >= 1
    gateway = by_source["gateway"]
    assert gateway.filter((pl.col("action") == "access_denied") & (pl.col("resource") == "/api/v1/clusters/")).height >= 1
    assert by_source["proxy"].filter(pl.col("action") == "route_add").height >= 1
    audited = by_source["audit"]
    assert audited.filter((pl.col("action") == "login_failed") & (pl.col("user_name") == "modeller")).height == 12
    assert audited.filter(pl.col("action") == "lockout")["user_name"].to_list() == ["modeller"]
    # The hub's records went through the audit service into the lake's audit folder; the chain holds.
    folder = running.lake.parent / "audit"  # audit_dir_for(lake): what `workbench audit verify --lake` checks
    assert any(r["event"] == "login" and r["user"] == "analyst" and r["detail"]["source_ip"] == "127.0.0.1"
               for r in read_records(folder))
    assert verify(folder).ok


@pytest.mark.hub
def test_scoring_service_refusals_reach_the_stacks_siem_as_a_denial_burst(
        stack_with_siem: tuple[Stack, list[dict[str, Any]]]) -> None:
    """The stack's SIEM reads the scoring service's access log where the service writes it by default
    (``<lake>/../logs/scoring-access.log``); the lines are the service's format (see test_risk_service)."""
    from datetime import UTC, datetime

    from workbench.security.access_log import scoring_access_log_path
    from workbench.settings import load_settings

    running, webhook = stack_with_siem
    log = scoring_access_log_path(load_settings(lake=str(running.lake)))
    assert log == running.lake.parent / "logs" / "scoring-access.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a", encoding="utf-8") as out:
        for _ in range(6):
            out.write(json.dumps({"ts": datetime.now(UTC).isoformat(), "client": "10.9.8.7", "identity": "anonymous",
                                  "method": "POST", "path": "/score", "status": 401, "latency_ms": 0.2}) + "\n")

    def burst_alert() -> dict[str, object] | None:
        alerts = [a for batch in webhook for a in batch["alerts"]]
        return next((a for a in alerts if a["detector"] == "denial_burst" and "10.9.8.7" in str(a["summary"])), None)

    alert = wait_until(burst_alert, 2 * SIEM_INTERVAL + 60, interval=0.2, what="a denial-burst alert")
    assert alert["user"] == "-" and "/score" in str(alert["summary"])


@pytest.mark.hub
def test_role_change_and_disable_stop_the_persons_server_and_gateway_clusters(
        stack_with_siem: tuple[Stack, list[dict[str, Any]]]) -> None:
    """A running kernel or Dask process keeps the Unix groups of the role it started under:
    `workbench users set-role|disable` must stop them (hub API for servers, gateway API for clusters)."""
    import pwd

    import psutil
    import requests

    from workbench.cli.users import users
    from workbench.platform import gateway, unix
    from workbench.security.policy import load_policy

    running, _ = stack_with_siem
    profile = running.profile
    token = support.api_token(running.url, "analyst", running.passwords["analyst"])
    uid = pwd.getpwnam(f"{profile.unix_prefix}analyst").pw_uid  # type: ignore[attr-defined]
    api = f"{gateway.public_address(profile)}/api/v1/clusters/"  # type: ignore[arg-type]
    as_analyst = {"Authorization": f"jupyterhub {token}"}

    def processes_of_analyst() -> list[str]:
        return [" ".join(p.info["cmdline"] or [])[:80] for p in psutil.process_iter(["uids", "cmdline"])
                if p.info["uids"] and p.info["uids"].real == uid]

    support.spawn_and_wait(running.url, "analyst", token)
    made = requests.post(api, json={"cluster_options": {}}, headers=as_analyst, timeout=30)
    assert made.status_code == 201, made.text
    cluster = made.json()["name"]
    wait_until(lambda: requests.get(f"{api}{cluster}", headers=as_analyst, timeout=10).json()["status"] == "RUNNING",
               120, what="the analyst's cluster running")
    workdir = profile.state_dir / "gateway" / "clusters" / cluster  # type: ignore[attr-defined]
    assert workdir.stat().st_uid == uid
    found = processes_of_analyst()
    assert any("scheduler" in p for p in found) and any("scheduler" not in p for p in found), found  # + the server
    base = ["--base-dir", str(profile.state_dir)]  # type: ignore[attr-defined]
    result = CliRunner().invoke(users, ["set-role", "analyst", "--role", "manager", *base])
    assert result.exit_code == 0, result.output
    assert "server (default)" in result.output and f"cluster {cluster}" in result.output, result.output
    system_user = f"{profile.unix_prefix}analyst"  # type: ignore[attr-defined]
    policy = load_policy()
    assert unix.supplementary_groups(system_user) == {policy.unix_group("manager", profile.unix_prefix)}  # at once
    # Asked with the account service's token: the analyst's own, now a manager's, may no longer read servers.
    service_token = (profile.private_dir / "accounts_api_token").read_text().strip()  # type: ignore[attr-defined]
    hub = {"Authorization": f"token {service_token}"}
    assert requests.get(f"{running.url}/hub/api/users/analyst", headers=hub, timeout=10).json()["servers"] == {}
    wait_until(lambda: not workdir.exists() and not processes_of_analyst(), 60,
               what="the analyst's kernel, scheduler and cluster folder gone")
    # Back to analyst: a new server; disabling the account stops it too.
    assert CliRunner().invoke(users, ["set-role", "analyst", "--role", "analyst", *base]).exit_code == 0
    token = support.api_token(running.url, "analyst", running.passwords["analyst"])
    support.spawn_and_wait(running.url, "analyst", token)
    result = CliRunner().invoke(users, ["disable", "analyst", *base])
    assert result.exit_code == 0 and "server (default)" in result.output, result.output
    assert unix.supplementary_groups(system_user) == set()
    wait_until(lambda: not processes_of_analyst(), 60, what="the disabled analyst's server gone")
    stops = [r["detail"]["stopped"] for r in read_records(running.lake.parent / "audit")
             if r["event"] == "work_stopped" and r["detail"]["account"] == "analyst"]
    assert stops == [["server (default)", f"cluster {cluster}"], ["server (default)"]]  # in the audit trail
    assert CliRunner().invoke(users, ["enable", "analyst", *base]).exit_code == 0
    assert unix.supplementary_groups(system_user) == {policy.unix_group("analyst", profile.unix_prefix)}
    # The account service's token reaches no one's notebook and gets no cluster of its own.
    assert requests.post(api, json={"cluster_options": {}}, timeout=30,
                         headers={"Authorization": f"jupyterhub {service_token}"}).status_code in (403, 422)
