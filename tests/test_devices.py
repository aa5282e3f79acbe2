"""Field devices: registered at a field officer's sign-in, listed and revoked by an administrator.

The store, the one rule both the hub and the dashboards apply (``judge``), the revocation
list, the SIEM detector and the CLI are tested alone; then the whole stack (hub, proxy,
dashboards service on free ports, ``wbt<hex>-`` users) in a real chromium at a phone's
size: two phones of one officer, an administrator revokes one, its next request, its open
page and its back button show nothing, the other phone keeps working, and the audit trail
and the SIEM have the events. Screenshots go to a temp artifacts folder (path printed).
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import polars as pl
import pytest
from click.testing import CliRunner
from tornado.websocket import WebSocketHandler

from tests.hub_support import DashboardsStack, wait_until
from workbench.security.audit import AuditTrail, read_records
from workbench.security.devices import (
    DEVICE_COOKIE,
    LOGIN,
    DeviceError,
    DeviceStore,
    RevocationList,
    Verdict,
    clean_name,
    device_id_of,
    judge,
)

PHONE_UA = ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/131.0 Mobile Safari/537.36")
PREFIX = "/services/dashboards"
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def store(tmp_path: Path) -> DeviceStore:
    return DeviceStore(tmp_path, audit=AuditTrail(tmp_path / "audit", "root-admin", "admin"))


def test_a_device_is_found_by_its_cookie_and_only_the_secrets_hash_is_stored(store: DeviceStore) -> None:
    device, secret = store.register("officer", "Lok Ma Chau phone 3", PHONE_UA, "10.1.2.3")
    assert store.find(secret) == device and device.device_id == device_id_of(secret)
    assert (device.owner, device.name, device.address, device.revoked) == ("officer", "Lok Ma Chau phone 3",
                                                                         "10.1.2.3", None)
    assert store.find("not-a-secret") is None and store.find(None) is None
    assert secret.encode() not in store.path.read_bytes()  # a copy of the store opens no session
    assert oct(store.folder.stat().st_mode & 0o777) == "0o700" and oct(store.path.stat().st_mode & 0o777) == "0o600"
    other, _ = store.register("officer-2", "", PHONE_UA, None)
    assert other.name == "Chrome on Android"  # no name typed: one from the user agent
    assert [d.owner for d in store.list()] == ["officer", "officer-2"] and store.list("officer") == [device]


def test_device_names_are_cleaned_never_refused() -> None:
    # no angle brackets (the list escapes names anyway); spaces collapsed
    assert clean_name("  Phone   <script>alert(1)</script> 3 ", PHONE_UA) == "Phone scriptalert(1)/script 3"
    assert clean_name("x" * 200, PHONE_UA) == "x" * 60
    assert clean_name("<>", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0) Safari/604.1") == "Safari on iPhone"


def test_judge_refuses_unknown_foreign_revoked_and_idle_devices(store: DeviceStore) -> None:
    device, _ = store.register("officer", "A", PHONE_UA, None)
    idle = timedelta(minutes=15)
    assert judge(device, "officer", frozenset(), idle) is Verdict.OK
    assert judge(None, "officer", frozenset(), idle) is Verdict.UNKNOWN
    assert judge(device, "someone-else", frozenset(), idle) is Verdict.UNKNOWN  # another person's phone cookie
    assert judge(device, "officer", frozenset({device.device_id}), idle) is Verdict.REVOKED  # the list, before the row
    later = datetime.now(UTC) + timedelta(minutes=16)
    assert judge(device, "officer", frozenset(), idle, now=later) is Verdict.IDLE
    assert judge(store.revoke(device.device_id), "officer", frozenset(), idle) is Verdict.REVOKED


def test_revocation_list_is_rewritten_atomically_and_reread_only_when_it_changes(store: DeviceStore) -> None:
    a, _ = store.register("officer", "A", PHONE_UA, None)
    b, _ = store.register("officer", "B", PHONE_UA, None)
    revoked = RevocationList(store.revoked_file)
    before = revoked.current()
    assert before == frozenset() and revoked.current() is before  # unchanged file: not read again
    store.revoke(a.device_id)
    assert a.device_id in revoked and b.device_id not in revoked
    assert store.revoked_file.read_text() == f"{a.device_id}\n"
    assert not [p for p in store.folder.iterdir() if p.name.startswith(".revoked")]  # no half-written leftovers
    again = store.revoke(a.device_id)  # idempotent: no second record, same state
    assert again.revoked and again.revoked_by == "root-admin"
    with pytest.raises(DeviceError, match="no device 'nope'"):
        store.revoke("nope")


def test_device_events_are_audited_with_owner_admin_and_address(store: DeviceStore, tmp_path: Path) -> None:
    device, _ = store.register("officer", "A", PHONE_UA, "10.0.0.7")
    store.seen(device.device_id, "10.0.0.8", "session-1")
    store.revoke(device.device_id)
    revoked = store.get(device.device_id)
    assert revoked is not None
    store.refused(revoked, "10.0.0.9", "dashboards")
    store.refused(revoked, "10.0.0.9", LOGIN)
    records = [(r["event"], r["user"], r["status"], r["detail"].get("source_ip"), r["detail"]["resource"])
               for r in read_records(tmp_path / "audit")]
    resource = f"device:{device.device_id}"
    assert records == [("device_new", "officer", "ok", "10.0.0.7", resource),
                       ("device_revoked", "root-admin", "ok", None, resource),  # the administrator who did it
                       ("device_refused", "officer", "denied", "10.0.0.9", resource),
                       ("device_refused", "officer", "signed_in", "10.0.0.9", resource)]
    assert store.sessions(device.device_id) == ["session-1"]


def test_idle_devices_with_open_sessions_are_found_until_their_sessions_end(store: DeviceStore) -> None:
    device, _ = store.register("officer", "A", PHONE_UA, None)
    store.seen(device.device_id, None, "s1")
    assert store.idle_with_sessions(timedelta(minutes=15)) == []
    assert [d.device_id for d in store.idle_with_sessions(timedelta(seconds=-1))] == [device.device_id]
    store.mark_ended(device.device_id)
    assert store.idle_with_sessions(timedelta(seconds=-1)) == []
    store.seen(device.device_id, None, "s1")  # used again in the same hub session: open again
    assert len(store.idle_with_sessions(timedelta(seconds=-1))) == 1


def test_siem_alerts_once_per_revoked_device_burst_critical_after_a_password_sign_in() -> None:
    from workbench.siem.detectors import RevokedDevice, run_detectors

    t0 = datetime(2026, 12, 6, 9, 0)
    events = pl.DataFrame([
        {"event_id": f"audit:{i}", "source": "audit", "ts": t0 + timedelta(minutes=i), "user_name": user,
         "source_ip": "10.9.9.9", "action": action, "resource": resource, "rows_returned": None, "status": status}
        for i, (user, action, resource, status) in enumerate([
            ("officer", "device_refused", "device:aaa", "denied"),
            ("officer", "device_refused", "device:aaa", "denied"),
            ("officer", "device_new", "device:bbb", "ok"),
            ("officer2", "device_refused", "device:ccc", "denied"),
            ("officer2", "device_refused", "device:ccc", "signed_in"),
        ])]).cast({"ts": pl.Datetime("us"), "rows_returned": pl.Int64})
    alerts = [a for a in run_detectors(events) if a.detector == "revoked_device"]
    assert [(a.user_name, a.severity, len(a.evidence)) for a in alerts] == [("officer", "high", 2),
                                                                            ("officer2", "critical", 2)]
    assert "revoked device:aaa of officer tried 2 time(s) from 10.9.9.9" in alerts[0].summary
    assert RevokedDevice().detect(events.filter(pl.col("action") != "device_refused"), None) == []  # type: ignore[arg-type]


def test_cli_lists_and_revokes_devices(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from workbench.cli.main import main

    monkeypatch.setenv("WORKBENCH_AUDIT_DIR", str(tmp_path / "audit"))
    monkeypatch.setenv("WORKBENCH_USER", "root-admin")
    plain = DeviceStore(tmp_path)
    a, _ = plain.register("officer", "Phone A", PHONE_UA, "10.0.0.1")
    plain.register("officer", "Phone B", PHONE_UA, "10.0.0.2")
    listed = CliRunner().invoke(main, ["devices", "list", "--format", "json", "--base-dir", str(tmp_path)])
    assert listed.exit_code == 0, listed.output
    assert {(d["name"], d["revoked"]) for d in json.loads(listed.output)} == {("Phone A", None), ("Phone B", None)}
    done = CliRunner().invoke(main, ["devices", "revoke", a.device_id, "--base-dir", str(tmp_path)])
    assert done.exit_code == 0 and f"revoked {a.device_id} (Phone A, officer)" in done.output, done.output
    assert plain.get(a.device_id).revoked_by == "root-admin"  # type: ignore[union-attr]
    unknown = CliRunner().invoke(main, ["devices", "revoke", "nope", "--base-dir", str(tmp_path)])
    assert unknown.exit_code == 1 and "no device 'nope'" in unknown.output


class FakeSocket(WebSocketHandler):
    """A websocket handler as the dashboards' auth sees one (cookies, address), without a connection."""

    def __init__(self, cookies: dict[str, str]) -> None:  # noqa: D107 - no tornado connection behind it
        self.cookies_sent, self.headers_set, self.closed = cookies, {}, None
        self.request = SimpleNamespace(remote_ip="10.0.0.5")
        self.messages: list[str] = []

    def get_cookie(self, name: str, default: str | None = None) -> str | None:  # type: ignore[override]
        return self.cookies_sent.get(name, default)

    def set_header(self, name: str, value: Any) -> None:
        self.headers_set[name] = value

    def on_message(self, message: str | bytes) -> None:
        self.messages.append(str(message))

    def close(self, code: int | None = None, reason: str | None = None) -> None:
        self.closed = (code, reason)


def test_dashboards_guard_refuses_revoked_devices_closes_their_sockets_and_ends_idle_sessions(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    from tornado.web import HTTPError

    from workbench.apps import field_devices
    from workbench.apps.field_devices import DeviceGuard
    from workbench.apps.specs import Viewer

    monkeypatch.setenv("WORKBENCH_AUDIT_DIR", str(tmp_path / "audit"))
    guard = DeviceGuard(tmp_path, idle_minutes=15)
    officer, manager = Viewer("officer", "field_officer"), Viewer("mia", "manager")
    a, secret_a = guard.store.register("officer", "A", PHONE_UA, None)
    b, secret_b = guard.store.register("officer", "B", PHONE_UA, None)
    socket_a, socket_b = FakeSocket({DEVICE_COOKIE: secret_a}), FakeSocket({DEVICE_COOKIE: secret_b})

    async def scenario() -> None:
        assert await guard.admit(socket_a, officer, "session-a") and await guard.admit(socket_b, officer, "session-b")
        assert socket_a.headers_set["Cache-Control"] == "no-store"
        assert await guard.admit(FakeSocket({}), manager, "") is True  # other roles: no device, no check
        assert await guard.admit(FakeSocket({}), officer, "") is False  # no device: the login registers one
        assert await guard.admit(FakeSocket({DEVICE_COOKIE: secret_a}), Viewer("other", "field_officer"), "") is False
        socket_a.on_message("patch")  # the wrapped handler still gets the message; it counts as use
        assert socket_a.messages == ["patch"]
        guard.store.revoke(a.device_id)
        await guard.sweep()
        assert socket_a.closed == (4003, "device revoked") and socket_b.closed is None
        with pytest.raises(HTTPError) as refused:
            guard.refuse_revoked_cookie(FakeSocket({DEVICE_COOKIE: secret_a}))
        assert refused.value.status_code == 403 and "revoked" in str(refused.value.reason)
        guard.refuse_revoked_cookie(FakeSocket({DEVICE_COOKIE: secret_b}))  # the other phone: no refusal
        token_request = FakeSocket({})
        token_request._token_authenticated = True  # type: ignore[attr-defined]
        with pytest.raises(HTTPError):  # a token issued in the revoked device's session
            await guard.admit(token_request, officer, "session-a")
        assert await guard.admit(token_request, officer, "session-b")
        with pytest.raises(HTTPError):
            guard.admit_ticket(a.device_id, officer)  # a published app's ticket from the revoked phone
        guard.admit_ticket(b.device_id, officer)
        monkeypatch.setattr(field_devices, "IDLE_SWEEP_SECONDS", 0.0)
        guard.idle = timedelta(seconds=-1)  # every device is idle now
        await guard.sweep()  # ends phone B's session (no hub here: no token to delete) and records it
        assert guard.store.idle_with_sessions(timedelta(seconds=-1)) == []
        assert await guard.admit(socket_b, officer, "session-b") is False  # idle: the login asks for the password

    asyncio.run(scenario())
    events = [r["event"] for r in read_records(tmp_path / "audit")]
    assert events.count("device_refused") == 1  # throttled: one record per REFUSAL_RECORD_SECONDS per device
    assert "device_idle" in events


class FakeHubHandler:
    """What the authenticator reads of a hub request: cookies, address, user agent; the cookies it sets."""

    def __init__(self, cookies: dict[str, str]) -> None:
        self.cookies, self.set_cookies = cookies, {}
        self.request = SimpleNamespace(remote_ip="10.0.0.6", protocol="http", headers={"User-Agent": PHONE_UA})

    def get_cookie(self, name: str, default: str | None = None) -> str | None:
        return self.cookies.get(name, default)

    def set_cookie(self, name: str, value: str, **options: Any) -> None:
        self.set_cookies[name] = (value, options)


def test_hub_login_registers_the_device_and_refresh_refuses_revoked_idle_and_cookieless_browsers(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    from workbench.platform.authenticator import WorkbenchAuthenticator
    from workbench.security.accounts import AccountStore

    monkeypatch.setenv("WORKBENCH_AUDIT_DIR", str(tmp_path / "audit"))
    password = AccountStore(tmp_path).add("officer", "field_officer")
    AccountStore(tmp_path).add("mia", "manager", password.swapcase() + "x")
    hub = WorkbenchAuthenticator(accounts_dir=str(tmp_path), create_system_users=False, device_idle_minutes=15)
    user = SimpleNamespace(name="officer", groups=[SimpleNamespace(name="field_officer")])

    async def scenario() -> None:
        phone = FakeHubHandler({})
        assert await hub.authenticate(phone, {"username": "officer", "password": password,
                                              "device_name": "Phone 7"})  # type: ignore[arg-type]
        secret, options = phone.set_cookies[DEVICE_COOKIE]
        assert options["httponly"] and options["samesite"] == "Lax" and options["path"] == "/"
        device = hub.devices.find(secret)
        assert device is not None and (device.name, device.address) == ("Phone 7", "10.0.0.6")
        signed_in = FakeHubHandler({DEVICE_COOKIE: secret, "jupyterhub-session-id": "s1"})
        assert await hub.refresh_user(user, signed_in) is not False  # type: ignore[arg-type]
        assert hub.devices.sessions(device.device_id) == ["s1"]
        assert await hub.refresh_user(user, FakeHubHandler({})) is False  # type: ignore[arg-type]  # no device
        token_call = FakeHubHandler({})
        token_call._token_authenticated = True  # type: ignore[attr-defined]
        assert await hub.refresh_user(user, token_call) is not False  # type: ignore[arg-type]
        again = FakeHubHandler({DEVICE_COOKIE: secret})  # the same phone signing in again: the same device
        assert await hub.authenticate(again, {"username": "officer", "password": password})  # type: ignore[arg-type]
        assert DEVICE_COOKIE not in again.set_cookies and len(hub.devices.list("officer")) == 1
        hub.device_idle_minutes = -1.0
        assert await hub.refresh_user(user, signed_in) is False  # type: ignore[arg-type]  # idle: password again
        hub.device_idle_minutes = 15.0
        hub.devices.revoke(device.device_id)
        assert await hub.refresh_user(user, signed_in) is False  # type: ignore[arg-type]
        manager = FakeHubHandler({})
        assert await hub.authenticate(manager, {"username": "mia", "password": password.swapcase() + "x"})  # type: ignore[arg-type]
        assert manager.set_cookies == {}  # other roles sign in without a device

    asyncio.run(scenario())
    events = [(r["event"], r["status"]) for r in read_records(tmp_path / "audit") if r["event"].startswith("device_")]
    assert events == [("device_new", "ok"), ("device_revoked", "ok"), ("device_refused", "denied")]


# ----------------------------------------------------------------------------- the real stack, in a browser


@pytest.fixture(scope="module")
def stack(dashboards_stack: DashboardsStack) -> DashboardsStack:
    """The session's dashboards stack (hub, proxy, dashboards service over the tiny world), shared with the
    publishing and source viewer tests."""
    return dashboards_stack


def sign_in(s: DashboardsStack, browser: Any, name: str, device: str | None, viewport: dict[str, int]) -> Any:
    context = browser.new_context(viewport=viewport, user_agent=PHONE_UA if viewport == PHONE else None)
    page = context.new_page()
    page.goto(f"{s.url}{PREFIX}/")
    page.wait_for_url("**/hub/login**", timeout=30_000)
    page.fill("#username_input", name)
    page.fill("#password_input", s.passwords[name])
    if device:
        page.fill("#device_name_input", device)
    page.click("#login_submit")
    page.wait_for_url(f"{s.url}{PREFIX}/**", timeout=60_000)
    return page


@pytest.mark.hub
@pytest.mark.browser
@pytest.mark.slow
def test_revoking_one_phone_ends_it_within_a_second_and_leaves_the_other_working_until_idle(
        stack: DashboardsStack, tmp_path_factory: pytest.TempPathFactory) -> None:
    import requests
    from playwright.sync_api import sync_playwright

    from tests.test_apps import CHROMIUM, CHROMIUM_ARGS, page_text, wait_for_text
    from workbench.cli.main import main
    from workbench.security.accounts import service_access, transaction
    from workbench.siem.pipeline import AuditCollector

    s = stack
    artifacts = tmp_path_factory.mktemp("devices-artifacts")
    print(f"\nbrowser artifacts: {artifacts}")
    app = f"{s.url}{PREFIX}/risk-overview"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        phone_a = sign_in(s, browser, "field-officer", "Phone A", PHONE)
        phone_b = sign_in(s, browser, "field-officer", "Phone B", PHONE)
        sockets: list[Any] = []
        phone_a.on("websocket", lambda ws: sockets.append(ws))
        response = phone_a.goto(app)  # phone B's session is open from its sign-in; it loads the app later
        assert response is not None and response.headers.get("cache-control") == "no-store"
        wait_for_text(phone_a, "Hit rate")
        shown = page_text(phone_a)
        storage = phone_a.evaluate("() => JSON.stringify([Object.entries(localStorage), "
                                   "Object.entries(sessionStorage)])")
        assert storage == "[[],[]]", storage  # nothing of the page kept in the browser's storage

        admin = sign_in(s, browser, "admin", None, {"width": 1280, "height": 900})
        admin.goto(f"{s.url}{PREFIX}/devices")
        table = wait_for_text(admin, "Phone A")
        assert "Phone B" in table and "field-officer" in table and "Revoke" in table
        admin.screenshot(path=str(artifacts / "device_list.png"), full_page=True)
        listed = CliRunner().invoke(main, ["devices", "list", "--format", "json", "--base-dir",
                                           str(s.profile.state_dir)])
        every = json.loads(listed.output)
        devices = {d["name"]: d for d in every if d["name"] in ("Phone A", "Phone B")}
        assert len(devices) == 2 and {d["owner"] for d in every} == {"field-officer"}  # the admin's browser is no device
        assert devices["Phone A"]["user_agent"] == PHONE_UA and devices["Phone A"]["address"] == "127.0.0.1"

        # Revoke phone A on the admin page; time until its next request is refused. The probe is the service's
        # cheapest checked page (an unknown app's 404: hub OAuth and the device check, no document built).
        probe = f"{s.url}{PREFIX}/forbidden?app=none"
        assert phone_a.request.get(probe, max_redirects=0).status == 404
        revoked_list = Path(s.profile.state_dir) / "accounts" / "revoked-devices"
        phone_a_id = devices["Phone A"]["device_id"]
        clicked = time.perf_counter()
        admin.locator(f"tr[data-device='{phone_a_id}'] button").click()
        listed_at = refused_at = None
        while time.perf_counter() - clicked < 10 and refused_at is None:
            if listed_at is None and phone_a_id in revoked_list.read_text():
                listed_at = time.perf_counter()
            if phone_a.request.get(probe, max_redirects=0).status == 403:
                refused_at = time.perf_counter()
        assert listed_at is not None and refused_at is not None, "phone A was not refused within 10 s"
        print(f"revocation: admin's click -> revocation committed {(listed_at - clicked) * 1000:.0f} ms, "
              f"committed -> phone A's first 403 {(refused_at - listed_at) * 1000:.0f} ms, "
              f"click -> 403 {(refused_at - clicked) * 1000:.0f} ms")
        assert refused_at - listed_at < 1.0  # enforcement: the next request after the revocation is refused
        wait_for_text(admin, "Revoked")
        admin.screenshot(path=str(artifacts / "device_list_revoked.png"), full_page=True)
        def sockets_closed() -> bool:
            phone_a.wait_for_timeout(50)  # Playwright's sync API takes in the browser's events only inside its calls
            return bool(sockets) and all(ws.is_closed() for ws in sockets)

        wait_until(sockets_closed, 2, what="phone A's websocket closed")

        # The phone: its reload and its back button show nothing of what it showed.
        phone_a.reload()
        assert "revoked" in page_text(phone_a).lower()
        phone_a.go_back()
        phone_a.wait_for_load_state()
        after = page_text(phone_a)
        assert "Hit rate" not in after and "revoked" in after.lower(), after[:300]
        assert not [line for line in shown.splitlines() if len(line) > 12 and line in after]  # none of its data
        phone_a.screenshot(path=str(artifacts / "phone_a_after_revocation.png"), full_page=True)
        def hub_sends_to_login() -> bool:
            answer = phone_a.request.get(f"{s.url}/hub/home", max_redirects=0)
            return answer.status == 302 and "/hub/login" in answer.headers["location"]

        wait_until(hub_sends_to_login, 3, what="the hub asks phone A for the password")  # auth_refresh_age: 1 s

        # Its session's tokens are gone at the hub; the other phone's are not (the hub's REST DELETE would end both).
        access = service_access(s.profile.state_dir)
        assert access is not None
        endpoints, service_token = access
        tokens = requests.get(f"{endpoints['hub_api']}/users/field-officer/tokens", timeout=10,
                              headers={"Authorization": f"token {service_token}"}).json()["api_tokens"]
        store = DeviceStore(s.profile.state_dir)
        sessions = {t["session_id"] for t in tokens}
        assert not sessions & set(store.sessions(devices["Phone A"]["device_id"]))
        assert sessions & set(store.sessions(devices["Phone B"]["device_id"]))

        # The other phone of the same officer keeps working.
        answer = phone_b.goto(app)
        assert answer is not None and answer.headers.get("cache-control") == "no-store"
        wait_for_text(phone_b, "Hit rate")
        assert phone_b.request.get(app, max_redirects=0).status == 200
        phone_b.screenshot(path=str(artifacts / "phone_b_still_working.png"), full_page=True)

        # Phone B left unused past the idle limit (its last use moved back 16 minutes): its session ends, its
        # tokens are deleted, the dashboards and the hub ask for the password; signing in again continues.
        b_id = devices["Phone B"]["device_id"]
        long_ago = (datetime.now(UTC) - timedelta(minutes=16)).isoformat(timespec="seconds")
        with transaction(store.path) as db:
            db.execute("UPDATE devices SET last_seen = ? WHERE device_id = ?", (long_ago, b_id))
        answer = phone_b.request.get(probe, max_redirects=0)
        assert answer.status == 302 and f"{PREFIX}/login" in answer.headers["location"], answer.status
        tokens = requests.get(f"{endpoints['hub_api']}/users/field-officer/tokens", timeout=10,
                              headers={"Authorization": f"token {service_token}"}).json()["api_tokens"]
        assert not {t["session_id"] for t in tokens} & set(store.sessions(b_id))
        phone_b.goto(f"{s.url}{PREFIX}/")
        phone_b.wait_for_url("**/hub/login**", timeout=30_000)
        phone_b.fill("#username_input", "field-officer")
        phone_b.fill("#password_input", s.passwords["field-officer"])
        phone_b.click("#login_submit")
        phone_b.wait_for_url(f"{s.url}{PREFIX}/**", timeout=60_000)
        wait_for_text(phone_b, "Dashboards")
        assert [d.name for d in store.list("field-officer")].count("Phone B") == 1  # the same device, in use again
        browser.close()

    records = list(read_records(s.lake.parent / "audit"))
    events = [(r["event"], r["user"], r["detail"].get("device_name")) for r in records
              if str(r["event"]).startswith("device_")]
    assert ("device_new", "field-officer", "Phone A") in events and ("device_new", "field-officer", "Phone B") in events
    assert ("device_revoked", "admin", "Phone A") in events
    assert ("device_refused", "field-officer", "Phone A") in events
    assert ("device_idle", "field-officer", "Phone B") in events
    from workbench.siem.detectors import run_detectors

    frame = AuditCollector(s.lake.parent / "audit").new_events(None, None)  # type: ignore[arg-type]
    alerts = [a for a in run_detectors(frame) if a.detector == "revoked_device"]
    assert [a.user_name for a in alerts] == ["field-officer"], alerts
