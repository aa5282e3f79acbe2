"""Dashboards behind the hub login, per-app roles, and publishing, in a real stack and a real browser.

One stack per module, started the way `make up` starts it (``workbench.platform.stack``):
configurable-http-proxy, JupyterHub with the workbench authenticator and the
``dashboards`` hub service (Panel behind hub OAuth) on free loopback ports, a temporary
state folder, Unix users with the ``wbt<hex>-`` prefix (removed at teardown) and a copy of
the tiny world as the lake. The gateway is off (not needed here). Debian's chromium,
driven by Playwright, logs in through the hub's form as each demo role and opens each
registered app whose file is in the tree (risk overview, lookup, labelling; the security
events and network explorer apps are still being built and are not in the matrix).
Screenshots go to a pytest temp folder (path printed).

Registry and store rules without a stack are tested first (fast).

Published apps run in their own server process as their publisher's Unix user
(``workbench/apps/published_process.py``): the probe app below reports its uid and
groups and tries to read a ``truth`` file of the lake; a manager opens it in the browser
and its button (a server callback: the websocket through the service's relay) answers.
At teardown no published app's process may outlive ``stack.down``.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.hub_support import DashboardsStack as Stack
from tests.hub_support import api_token, app_processes
from tests.test_apps import CHROMIUM, CHROMIUM_ARGS, page_text, wait_for_text
from workbench.apps.specs import Viewer, available, load_apps
from workbench.errors import ConfigError

PREFIX = "/services/dashboards"
ROLES = ("analyst", "modeller", "manager", "admin")

PUBLISHED_APP = '''
import hvplot.pandas  # noqa: F401
import panel as pn

import workbench

wb = workbench.connect()
ports = wb.sql("select port_code as port, count(*) as n from curated.declarations group by 1 order by 2 desc")
pn.Column(
    pn.pane.Markdown(f"## Team KPIs: {ports['n'].sum()} declarations (session of {wb.user} as {wb.role})"),
    pn.pane.HoloViews(ports.to_pandas().hvplot.bar(x="port", y="n", height=300, width=600)),
).servable(title="Team KPIs")
'''

PROBE_APP = '''
import grp
import os

import panel as pn

TRUTH = %r


def probe() -> str:
    try:
        open(TRUTH, "rb").read(4)
        truth = "read"
    except PermissionError:
        truth = "PermissionError"
    groups = ",".join(sorted(grp.getgrgid(g).gr_name for g in os.getgroups()))
    return f"uid={os.getuid()} euid={os.geteuid()} groups={groups} truth={truth}"


report = pn.pane.Markdown(f"started: {probe()}")
button = pn.widgets.Button(name="Probe again")
button.on_click(lambda _event: setattr(report, "object", f"callback: {probe()}"))
pn.Column(report, button).servable(title="Who runs me")
'''

NOTEBOOK_CELL = '''import panel as pn
import workbench
wb = workbench.connect()
n = wb.sql("select count(*) from curated.crossings").item()
pn.pane.Markdown(f"## Notebook dashboard: {n} crossings for {wb.role}").servable()'''


# ----------------------------------------------------------------------------- no stack


def test_app_list_maps_each_app_to_its_roles_and_tables() -> None:
    apps = load_apps()
    assert set(apps["risk-overview"].roles) == {"manager", "field_officer", "analyst", "modeller", "admin"}
    assert set(apps["lookup"].roles) == {"field_officer", "analyst", "manager"}
    assert apps["security-events"].roles == ("admin",)
    assert set(apps["network-explorer"].roles) == set(apps["labelling"].roles) == {"analyst", "modeller"}
    assert apps["lookup"].allows(Viewer("x", "manager")) and not apps["lookup"].allows(Viewer("x", "modeller"))
    assert not apps["lookup"].allows(Viewer("x", None))
    assert "curated.declarations" in apps["risk-overview"].tables and all(app.exists() for app in apps.values())


@pytest.mark.parametrize("body, message", [
    ('[apps.a-b]\nfile = "a.py"\ntitle = "A"\nroles = ["officer"]\n', "apps.a-b.roles: unknown role 'officer'"),
    ('[apps.a-b]\nfile = "a.py"\ntitle = "A"\nroles = []\n', "apps.a-b.roles"),
    ('[apps.a-b]\nfile = "../a.py"\ntitle = "A"\nroles = ["admin"]\n', "apps.a-b.file"),
    ('[apps.a-b]\nfile = "a.py"\nroles = ["admin"]\n', "apps.a-b.title: Field required"),
    ('[apps.A]\nfile = "a.py"\ntitle = "A"\nroles = ["admin"]\n', "apps.A: invalid app name"),
    ('[apps.a-b]\nfile = "a.py"\ntitle = "A"\nroles = ["admin"]\ncolour = 1\n', "apps.a-b.colour"),
    ('[apps.a-b]\ntitle = "A"\nroles = ["admin"]\n', "apps.a-b: give either build = 'module:function' or file"),
    ('[apps.a-b]\nbuild = "m:f"\nfile = "a.py"\ntitle = "A"\nroles = ["admin"]\n', "give either build"),
    ('[apps.a-b]\nbuild = "m.f"\ntitle = "A"\nroles = ["admin"]\n', "apps.a-b.build: 'm.f' is not 'package.module:function'"),
])
def test_app_list_errors_name_file_key_and_reason(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "apps.toml"
    path.write_text(body)
    with pytest.raises(ConfigError) as raised:
        load_apps(path)
    assert str(raised.value).startswith(f"{path}: ") and message in str(raised.value)


def test_store_keeps_owner_and_refuses_others(tmp_path: Path) -> None:
    from workbench.apps.publishing import PublishedStore, PublishError

    store = PublishedStore(tmp_path / "published", reserved={"lookup"})
    alice, bob, boss = Viewer("alice", "analyst"), Viewer("bob", "analyst"), Viewer("root-admin", "admin")
    meta = store.publish(alice, "app", "kpis.py", b"x = 1\n", ["manager"], "kpis")
    assert (meta.owner, meta.roles) == ("alice", ("manager",))
    assert oct((tmp_path / "published").stat().st_mode & 0o777) == "0o700"
    for viewer, kind, source, content, roles, name, status, text in [
        (Viewer("m", "manager"), "app", "k.py", b"x=1", ["manager"], "k2", 403, "may not publish"),
        (bob, "app", "k.py", b"x=1", ["manager"], "kpis", 403, "published by alice"),
        (alice, "app", "k.py", b"def (:", ["manager"], "k3", 400, "k.py: line 1"),
        (alice, "notebook", "k.ipynb", b"{}", ["manager"], "k3", 400, "no 'cells' list"),
        (alice, "app", "k.ipynb", b"x=1", ["manager"], "k3", 400, "must be a .py file"),
        (alice, "app", "k.py", b"x=1", ["officer"], "k3", 400, "unknown role 'officer'"),
        (alice, "app", "k.py", b"x=1", ["manager"], "lookup", 400, "registered dashboard"),
        (alice, "app", "k.py", b"x=1", ["manager"], "../x", 400, "invalid app name"),
    ]:
        with pytest.raises(PublishError) as raised:
            store.publish(viewer, kind, source, content, roles, name)
        assert raised.value.status == status and text in str(raised.value), (name, str(raised.value))
    assert [d.name for d in store.list()] == ["kpis"]  # nothing half-written by the refusals
    with pytest.raises(PublishError, match="only they or an administrator"):
        store.remove(bob, "kpis")
    store.publish(alice, "app", "kpis.py", b"x = 2\n", ["manager", "analyst"], "kpis")  # the owner replaces it
    assert store.get("kpis").path.read_bytes() == b"x = 2\n" and store.get("kpis").roles == ("manager", "analyst")
    assert store.remove(boss, "kpis").name == "kpis" and store.list() == []


def test_a_ticket_opens_one_published_app_for_one_viewer_for_a_shift(monkeypatch: pytest.MonkeyPatch) -> None:
    """The path segment a sandboxed app's requests carry instead of the cookie: signed, bound to the app and
    the viewer, expiring; anything else is refused."""
    from workbench.apps.published_proxy import TICKET_HOURS, check_ticket, issue_ticket

    ticket = issue_ticket("s3cret", "kpis", Viewer("mia", "manager"))
    assert re.fullmatch(r"~[A-Za-z0-9_-]+", ticket), ticket  # fits the service's route, needs no escaping
    assert check_ticket("s3cret", "kpis", ticket) == Viewer("mia", "manager")
    for secret, app, forged in [("other", "kpis", ticket), ("s3cret", "kpis2", ticket), ("s3cret", "kpis", ticket[:-4]),
                                ("s3cret", "kpis", ticket[1:]), ("s3cret", "kpis", "~" + "QUFB" * 20),
                                ("s3cret", "kpis", issue_ticket("other", "kpis", Viewer("mia", "admin")))]:
        assert check_ticket(secret, app, forged) is None, (secret, app, forged)
    later = time.time() + (TICKET_HOURS + 0.1) * 3600
    monkeypatch.setattr(time, "time", lambda: later)
    assert check_ticket("s3cret", "kpis", ticket) is None  # after a shift: reload the page for a new one


def test_hub_profile_reads_its_settings_not_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from workbench.platform.profile import HubProfile

    profile = HubProfile(port=9100, lake="/data/lake", demo_accounts=False, gateway=False, dashboards_port=9105)
    for key, value in profile.to_env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("WORKBENCH_HUB_CGROUP_PARENT", "")  # empty: the default, as before
    assert HubProfile.from_env() == profile
    monkeypatch.setenv("WORKBENCH_HUB_PORT", "not-a-port")
    with pytest.raises(ValueError, match="port"):
        HubProfile.from_env()


def test_app_servers_get_no_hub_credential_and_a_chosen_backend(tmp_path: Path) -> None:
    """What reaches a published app's server: its publisher's identity and the lake settings, never the
    service's hub token, the viewer's cookie or a viewer name the browser made up."""
    import pwd

    from tornado.httputil import HTTPHeaders

    from workbench.apps.published_process import AppProcess, LocalAppProcess, app_class, app_environment
    from workbench.apps.published_proxy import forwarded_headers
    from workbench.errors import WorkbenchError
    from workbench.settings import Settings

    settings = Settings(lake=str(tmp_path / "lake"), role="manager", hub_token="hub-secret",
                        audit_socket="/run/audit.sock", audit_dir="/ignored")
    env = app_environment(settings, pwd.getpwuid(os.getuid()), "alice", Path("/opt/userenv/bin/python"))
    assert env["WORKBENCH_USER"] == "alice" and env["WORKBENCH_LAKE"] == settings.lake
    assert env["WORKBENCH_AUDIT_SOCKET"] == "/run/audit.sock" and "WORKBENCH_AUDIT_DIR" not in env
    assert env["PATH"].startswith("/opt/userenv/bin:")
    assert "hub-secret" not in json.dumps(env) and not any(k.startswith("JUPYTERHUB") for k in env)

    browser = HTTPHeaders({"Cookie": "dashboards-oauth=secret", "Authorization": "token t", "Accept": "text/html",
                           "X-Workbench-Viewer": '{"name": "admin", "role": "admin"}', "Connection": "keep-alive"})
    sent = forwarded_headers(browser, Viewer("mia", "manager"))
    assert "Cookie" not in sent and "Authorization" not in sent and "Connection" not in sent
    assert json.loads(sent["X-Workbench-Viewer"]) == {"name": "mia", "role": "manager"}
    assert len(sent.get_list("X-Workbench-Viewer")) == 1 and sent["Accept"] == "text/html"

    assert app_class(Settings()) is LocalAppProcess and issubclass(LocalAppProcess, AppProcess)
    with pytest.raises(WorkbenchError, match="dashboards_app_class: workbench.settings.Settings is not"):
        app_class(Settings(dashboards_app_class="workbench.settings.Settings"))


@pytest.fixture
def open_tmp() -> Iterator[Path]:
    """A temp folder other users can traverse (the hub's user environment must be), removed afterwards."""
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="wbt-hubcfg-"))
    os.chmod(folder, 0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_hub_config_serves_the_dashboards_and_lets_servers_publish(open_tmp: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from types import SimpleNamespace

    from traitlets.config import Config

    from workbench.platform.hubconfig import apply

    from workbench.platform.profile import HubProfile
    from workbench.settings import load_settings

    profile = HubProfile(state_dir=open_tmp / "state", port=9200, lake="/data/lake", audit_dir="/data/audit",
                         gateway=False, demo_accounts=False)
    c = Config()
    apply(c, profile)
    service = next(s for s in c.JupyterHub.services if s["name"] == "dashboards")
    port = service["url"].removeprefix("http://127.0.0.1:")
    assert service["command"][service["command"].index("--port") + 1] == port and int(port) > 0
    assert "--origin=127.0.0.1:9200" in service["command"] and service["oauth_no_confirm"] is True
    assert {k: service["environment"][k] for k in ("WORKBENCH_LAKE", "WORKBENCH_AUDIT_DIR", "WORKBENCH_ROLE")} == {
        "WORKBENCH_LAKE": "/data/lake", "WORKBENCH_AUDIT_DIR": "/data/audit", "WORKBENCH_ROLE": "manager"}
    assert oct(profile.dashboards_dir.stat().st_mode & 0o777) == "0o700"
    env = c.Spawner.environment
    assert env["WORKBENCH_DASHBOARDS_URL"] == "http://127.0.0.1:9200/services/dashboards"
    token = env["WORKBENCH_HUB_TOKEN"](SimpleNamespace(api_token="server-token"))  # the hub calls it at spawn
    assert "access:services!service=dashboards" in c.Spawner.server_token_scopes
    monkeypatch.setenv("WORKBENCH_HUB_TOKEN", token)
    monkeypatch.setenv("WORKBENCH_DASHBOARDS_URL", env["WORKBENCH_DASHBOARDS_URL"])
    settings = load_settings()  # what `workbench publish` in that server reads
    assert settings.hub_token is not None and settings.hub_token.get_secret_value() == "server-token"
    assert settings.dashboards_url == env["WORKBENCH_DASHBOARDS_URL"]


def test_hosted_settings_reach_sessions_opened_inside_only(tmp_path: Path) -> None:
    from workbench.session import connect
    from workbench.settings import hosted

    lake = str(tmp_path / "lake")
    with hosted(user="mia", role="manager"):
        inside = connect(lake)
        explicit = connect(lake, role="analyst")
    outside = connect(lake, user="tester")
    assert (inside.user, inside.role) == ("mia", "manager")
    assert explicit.role == "analyst"  # explicit arguments still win
    assert (outside.user, outside.role) == ("tester", "system")


# ----------------------------------------------------------------------------- the stack


@pytest.fixture(scope="module")
def running(dashboards_stack: Stack) -> Stack:
    """The session's dashboards stack (``tests/hub_support.dashboards_stack``), shared with the devices and
    source viewer tests: one hub start for the three."""
    return dashboards_stack


@pytest.fixture(scope="module")
def browser(running: Stack) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "Debian chromium is not installed (apt-get install -y chromium)"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def assert_painted_canvas(page: Any, timeout: float = 30.0) -> None:
    """The first Bokeh canvas holds a picture (more than a handful of colours), polled until it does."""
    from PIL import Image

    canvas = page.locator("canvas").first
    canvas.wait_for(timeout=timeout * 1000)
    deadline = time.monotonic() + timeout
    while True:
        colours = Image.open(io.BytesIO(canvas.screenshot())).convert("RGB").getcolors(maxcolors=1 << 20)
        if colours is None or len(colours) > 8:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"plot canvas is blank ({len(colours)} colours)")
        page.wait_for_timeout(250)


def wait_until_rendered(page: Any, timeout: float = 60.0) -> str:
    """The document's models are on the page (some text), polled with a deadline."""
    deadline = time.monotonic() + timeout
    while not (text := page_text(page).strip()):
        if time.monotonic() > deadline:
            raise AssertionError(f"{page.url} shows nothing after {timeout} s")
        page.wait_for_timeout(200)
    return text


def login_page(s: Stack, browser: Any, name: str) -> Any:
    """A fresh browser context logged in through the hub's form, starting from the dashboards index."""
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    page.goto(s.dashboards + "/")
    page.wait_for_url("**/hub/login**", timeout=30_000)  # anonymous: sent to the hub's login
    page.fill("#username_input", name)
    page.fill("#password_input", s.passwords[name])
    page.click("#login_submit")
    try:
        page.wait_for_url(f"{s.dashboards}/**", timeout=60_000)  # back through OAuth to the index
    except Exception as exc:
        raise AssertionError(f"{name}: login ended at {page.url}: {page_text(page)[:500]}") from exc
    wait_for_text(page, "Dashboards")
    return page


def shot(s: Stack, page: Any, name: str) -> None:
    page.screenshot(path=str(s.artifacts / f"{name}.png"), full_page=True)


def test_anonymous_requests_go_to_the_hub_login(running: Stack) -> None:
    import requests
    import websocket

    for path in ("/", "/risk-overview", "/lookup", "/published?app=x", "/forbidden?app=lookup"):
        response = requests.get(running.dashboards + path, timeout=30)
        assert response.url.startswith(f"{running.url}/hub/login"), (path, response.url)
        assert "username" in response.text
    first = requests.get(running.dashboards + "/risk-overview", timeout=30, allow_redirects=False)
    assert first.status_code == 302 and "login" in first.headers["Location"]
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:  # no cookie: no websocket either
        websocket.create_connection(running.dashboards.replace("http", "ws") + "/risk-overview/ws",
                                    header=[f"Origin: {running.url}"], timeout=30)
    assert refused.value.status_code == 403
    api = requests.get(running.dashboards + "/api/published", timeout=30)
    assert api.status_code == 401


def test_status_reports_the_dashboards_service(running: Stack) -> None:
    from workbench.platform import stack

    components = {c.name: c for c in stack.status(running.profile)}
    assert components["dashboards"].running and PREFIX in components["dashboards"].detail
    assert "dask-gateway" not in components  # off in this profile


def test_dashboard_only_roles_land_on_a_home_with_a_card_per_app(running: Stack) -> None:
    """Managers and field officers (no notebooks) get a real page at the dashboards' home: a card per app their
    role may open, saying what it answers, when its data was last written and which table versions it reads."""
    import html

    import requests

    from workbench.session import connect

    versions = dict(connect(str(running.lake), user="tester").tables().select("name", "version").rows())
    apps = available(load_apps())
    for name, role in (("manager", "manager"), ("field-officer", "field_officer")):
        token = api_token(running.url, name, running.passwords[name])
        home = requests.get(running.dashboards + "/", headers={"Authorization": f"token {token}"}, timeout=60)
        assert home.status_code == 200 and "<h1>Dashboards</h1>" in home.text, home.text[:300]
        assert f"{name} · {role}" in home.text
        for app_name, app in apps.items():
            card = f"href='{PREFIX}/{app_name}'"
            assert (card in home.text) == (role in app.roles), (role, app_name)
            if role in app.roles:
                assert html.escape(app.description) in home.text
        overview = home.text[home.text.index(f"href='{PREFIX}/risk-overview'"):]
        overview = overview[:overview.index("</a>")]
        assert "Last refreshed 20" in overview and " UTC" in overview, overview
        assert f"curated.declarations <b>v{versions['curated.declarations']}</b>" in overview, overview


def test_each_role_opens_its_apps_and_is_refused_the_others(running: Stack, browser: Any) -> None:
    from workbench.apps.layout import number_text
    from workbench.session import connect

    wb = connect(str(running.lake), user="tester")
    declarations = number_text(wb.sql("select count(*) from curated.declarations").item())
    container, plate = wb.sql("select container_no, plate from curated.crossings where container_no is not null "
                              "and plate is not null limit 1").row(0)
    registry = load_apps()
    for role in ROLES:
        page = login_page(running, browser, role)
        index = page_text(page)
        shot(running, page, f"{role}_index")
        for name, app in available(registry).items():
            listed = app.title in index
            page.goto(f"{running.dashboards}/{name}")
            if role not in app.roles:
                assert not listed, (role, name)
                page.wait_for_url(f"**{PREFIX}/forbidden?app={name}", timeout=30_000)
                text = wait_for_text(page, "Not allowed")
                assert f"is for: {app.roles_text}" in text and f"You are {role} ({role})" in text
                status = page.request.get(f"{running.dashboards}/{name}", max_redirects=0).status
                assert status == 302, (role, name, status)  # to the 403 page, never the app
                assert page.request.get(page.url).status == 403
                shot(running, page, f"{role}_{name}_refused")
                continue
            assert listed, (role, name, index[:300])
            if name == "risk-overview":
                text = wait_for_text(page, "Hit rate", timeout=60)
                assert declarations in text, (role, text[:400])
                assert_painted_canvas(page)
            elif name == "lookup":
                box = page.locator("input[type=text]").first
                box.wait_for(timeout=30_000)
                box.fill(container)
                box.press("Enter")
                text = wait_for_text(page, "Recent crossings")
                # The document was built with the viewer's role: managers see plates masked.
                if role == "manager":
                    assert plate not in text and "***" in text, text[:600]
                else:
                    assert plate in text, text[:600]
            elif name == "labelling":
                wait_for_text(page, "Find a document")
            else:  # apps built in parallel (security events, network explorer): they render, as the viewer
                wait_until_rendered(page)
            assert page.title() == app.title, (role, name, page.title())
            shot(running, page, f"{role}_{name}")
        page.context.close()


@pytest.mark.hub
@pytest.mark.slow
@pytest.mark.browser
def test_field_officer_gets_the_lookup_on_a_phone_the_overview_and_no_other_app(running: Stack,
                                                                               browser: Any) -> None:
    """Logged in through the hub as the demo field officer: each registered app opens (real data, a painted
    plot, the lookup at a phone's width with nothing cut off) or is refused with the 403 page; no server."""
    import requests

    from workbench.apps.layout import number_text
    from workbench.session import connect

    hub, phone = running, {"width": 390, "height": 844}
    wb = connect(str(hub.lake), user="tester")
    declarations = number_text(wb.sql("select count(*) from curated.declarations").item())
    plate, owner = wb.sql("select c.plate, v.owner_name from curated.crossings c join curated.vehicles v "
                          "using (plate) order by c.crossing_id limit 1").row(0)
    page = login_page(hub, browser, "field-officer")
    index = page_text(page)
    apps = available(load_apps())
    assert {"lookup", "risk-overview"} <= set(apps)
    for name, app in apps.items():
        page.goto(f"{hub.dashboards}/{name}")
        if "field_officer" not in app.roles:
            assert app.title not in index, name
            page.wait_for_url(f"**{PREFIX}/forbidden?app={name}", timeout=30_000)
            assert "You are field-officer (field_officer)" in wait_for_text(page, "Not allowed")
            assert page.request.get(page.url).status == 403
            continue
        assert app.title in index, (name, index[:300])
        if name == "risk-overview":
            assert declarations in wait_for_text(page, "Hit rate", timeout=60)
            assert_painted_canvas(page)
            shot(hub, page, "field_officer_risk_overview")
            continue
        if name != "lookup":  # the clearance app: its queue and decisions in tests/test_clearance_app.py
            wait_until_rendered(page)
            continue
        page.set_viewport_size(phone)
        box = page.locator("input[type=text]").first
        box.wait_for(timeout=30_000)
        box.fill(plate.replace(" ", "").lower())  # as typed on a phone
        box.press("Enter")
        text = wait_for_text(page, "Recent crossings")
        assert plate in text and owner in text and "***" not in text, text[:600]  # unmasked for officers
        rows = page.locator(".hrow")
        assert rows.count() > 0
        for i in range(rows.count()):  # every history entry fits the screen: nothing cut off or to scroll
            edge = rows.nth(i).bounding_box()
            assert edge is not None and 0 <= edge["x"] and edge["x"] + edge["width"] <= phone["width"], (i, edge)
        assert page.evaluate("() => document.documentElement.scrollWidth") <= phone["width"]
        shot(hub, page, "field_officer_lookup_phone")
        page.set_viewport_size({"width": 1280, "height": 1000})
    page.context.close()

    token = api_token(hub.url, "field-officer", hub.passwords["field-officer"])
    spawn = requests.post(f"{hub.url}/hub/api/users/field-officer/server", timeout=30,
                          headers={"Authorization": f"token {token}"})
    assert spawn.status_code == 403, spawn.text  # dashboards only: no notebook server


def test_analyst_publishes_an_app_a_manager_sees_it_another_analyst_does_not(
        running: Stack, browser: Any, tmp_path: Path) -> None:
    import nbformat
    import requests
    from click.testing import CliRunner

    from workbench.cli.main import main
    from workbench.session import connect

    app_file = tmp_path / "team_kpis.py"
    app_file.write_text(PUBLISHED_APP)
    token = api_token(running.url, "analyst", running.passwords["analyst"])
    env = {"WORKBENCH_DASHBOARDS_URL": running.dashboards, "WORKBENCH_HUB_TOKEN": token}
    runner = CliRunner()
    done = runner.invoke(main, ["publish", "app", str(app_file), "--roles", "manager"], env=env)
    assert done.exit_code == 0, done.output
    assert "published team-kpis for manager" in done.output
    meta = json.loads((running.profile.dashboards_dir / "published" / "team-kpis" / "meta.json").read_text())
    assert meta["owner"] == "analyst" and meta["roles"] == ["manager"] and meta["published_at"]
    refused = runner.invoke(main, ["publish", "app", str(app_file), "--roles", "officer"], env=env)
    assert refused.exit_code == 1 and "unknown role 'officer'" in refused.output

    notebook = tmp_path / "Traders Notebook.ipynb"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(NOTEBOOK_CELL)])
    nbformat.write(nb, str(notebook))
    done = runner.invoke(main, ["publish", "notebook", str(notebook), "--roles", "manager,analyst",
                                "--name", "traders"], env=env)
    assert done.exit_code == 0, done.output

    manager = login_page(running, browser, "manager")  # no restart: both are listed and open
    assert "Team kpis" in page_text(manager) and "Traders" in page_text(manager)
    manager.goto(f"{running.dashboards}/published?app=team-kpis")
    total = connect(str(running.lake), user="tester").sql("select count(*) from curated.declarations").item()
    text = wait_for_text(app_frame(manager, "team-kpis"), "Team KPIs", timeout=60)
    assert f"Team KPIs: {total} declarations (session of manager as manager)" in text, text[:300]
    assert_painted_canvas(app_frame(manager, "team-kpis"))  # drawn in its sandbox
    shot(running, manager, "manager_published_app")
    manager.goto(f"{running.dashboards}/published?app=traders")
    wait_for_text(app_frame(manager, "traders"), "crossings for manager")
    shot(running, manager, "manager_published_notebook")

    other = login_page(running, browser, "analyst2")
    assert "Team kpis" not in page_text(other) and "Traders" in page_text(other)
    other.goto(f"{running.dashboards}/published?app=team-kpis")
    other.wait_for_url(f"**{PREFIX}/forbidden?app=team-kpis", timeout=30_000)
    assert "is for: manager (and analyst, who published it)" in wait_for_text(other, "Not allowed")
    shot(running, other, "analyst2_published_refused")

    other_token = api_token(running.url, "analyst2", running.passwords["analyst2"])
    stolen = runner.invoke(main, ["publish", "remove", "team-kpis"],
                           env={**env, "WORKBENCH_HUB_TOKEN": other_token})
    assert stolen.exit_code == 1 and "only they or an administrator" in stolen.output
    listed = runner.invoke(main, ["publish", "list"], env=env)
    assert listed.exit_code == 0 and "team-kpis\tmanager\tanalyst" in listed.output
    removed = runner.invoke(main, ["publish", "remove", "team-kpis"], env=env)
    assert removed.exit_code == 0, removed.output
    manager.goto(f"{running.dashboards}/published?app=team-kpis")
    wait_for_text(manager, "does not exist")
    cookie_less = requests.post(running.dashboards + "/api/published", timeout=30,
                                cookies={c["name"]: c["value"] for c in manager.context.cookies()})
    assert cookie_less.status_code == 401  # the API never takes the browser cookie (no CSRF)
    manager.context.close()
    other.context.close()



def test_a_published_app_runs_as_its_publisher_with_the_lake_closed_as_to_their_kernel(
        running: Stack, browser: Any, tmp_path: Path) -> None:
    import pwd
    import signal

    import requests
    import websocket
    from click.testing import CliRunner

    from tests.hub_support import wait_until
    from workbench.cli.main import main
    from workbench.platform.cgroups import parse_size
    from workbench.security.policy import load_policy

    truth = str(next((running.lake / "truth").rglob("*.parquet")))
    app_file = tmp_path / "who_runs_me.py"
    app_file.write_text(PROBE_APP % truth)
    token = api_token(running.url, "analyst", running.passwords["analyst"])
    env = {"WORKBENCH_DASHBOARDS_URL": running.dashboards, "WORKBENCH_HUB_TOKEN": token}
    manager_token = api_token(running.url, "manager", running.passwords["manager"])
    runner = CliRunner()
    started = time.monotonic()
    done = runner.invoke(main, ["publish", "app", str(app_file), "--roles", "manager"], env=env)
    assert done.exit_code == 0, done.output
    first = requests.get(f"{running.dashboards}/published/who-runs-me/", timeout=180,
                         headers={"Authorization": f"token {manager_token}"})  # waits for the app's server
    assert first.status_code == 200 and "<title>Who runs me</title>" in first.text, first.text[:300]
    print(f"\npublish to the app's first page (its own server started as the analyst): "
          f"{time.monotonic() - started:.2f} s")
    analyst = pwd.getpwnam(f"{running.profile.unix_prefix}analyst")
    processes = wait_until(lambda: app_processes(running.profile, "who-runs-me"), 30, what="the app's server")
    assert list(processes.values()) == [analyst.pw_uid], processes  # one server, as the publisher
    (pid,) = processes
    group = running.profile.cgroup_parent + f"/published.{running.profile.unix_prefix}who-runs-me"
    assert pid in [int(p) for p in Path(group, "cgroup.procs").read_text().split()]  # capped like their server
    analyst_cap = parse_size(running.profile.role_mem_limits["analyst"])
    assert Path(group, "memory.limit_in_bytes").read_text().strip() == str(analyst_cap)

    anonymous = requests.get(f"{running.dashboards}/published/who-runs-me/", timeout=30)
    assert anonymous.url.startswith(f"{running.url}/hub/login"), anonymous.url
    ticket = re.search(r"/published/who-runs-me/(~[\w-]+)/", first.text).group(1)  # the manager's, for this app
    sockets = running.dashboards.replace("http", "ws") + "/published"
    for path in ("/who-runs-me/~forged/ws", f"/who-runs-me/{ticket[:-2]}/ws", f"/team-kpis/{ticket}/ws"):
        with pytest.raises(websocket.WebSocketBadStatusException) as refused:  # no or wrong ticket: no websocket
            websocket.create_connection(sockets + path, header=["Origin: null"], timeout=30)
        assert refused.value.status_code == 403, path
    assert requests.get(f"{running.dashboards}/published/who-runs-me/{ticket}/", timeout=30).headers[
        "Content-Security-Policy"].startswith("sandbox allow-scripts allow-downloads;")

    groups = ",".join(sorted([analyst.pw_name, load_policy().unix_group("analyst", running.profile.unix_prefix)]))
    expected = f"uid={analyst.pw_uid} euid={analyst.pw_uid} groups={groups} truth=PermissionError"
    manager = login_page(running, browser, "manager")
    assert "Who runs me" in page_text(manager)
    manager.goto(f"{running.dashboards}/published?app=who-runs-me")  # the old link form redirects
    manager.wait_for_url(f"{running.dashboards}/published/who-runs-me/")
    assert f"started: {expected}" in wait_for_text(app_frame(manager, "who-runs-me"), "started:", timeout=60)
    # a server callback: the relayed websocket, from the app's sandbox
    app_frame(manager, "who-runs-me").get_by_role("button", name="Probe again").click()
    assert f"callback: {expected}" in wait_for_text(app_frame(manager, "who-runs-me"), "callback:", timeout=30)
    shot(running, manager, "manager_published_probe")

    os.kill(pid, signal.SIGKILL)  # a crashed app server is restarted by the service
    restarted = wait_until(lambda: {p: u for p, u in app_processes(running.profile, "who-runs-me").items()
                                    if p != pid}, 60, what="the app's server restarted")
    assert list(restarted.values()) == [analyst.pw_uid]
    manager.reload()
    assert f"started: {expected}" in wait_for_text(app_frame(manager, "who-runs-me"), "started:", timeout=60)

    # A role change reaches the running app at once: the publisher's Unix groups change with the
    # account, and the service restarts the app with them (a process keeps the groups it started with).
    base = ["users", "set-role", "analyst", "--base-dir", str(running.profile.state_dir)]

    def replaced(old: dict[int, int]) -> dict[int, int]:
        return wait_until(lambda: {p: u for p, u in app_processes(running.profile, "who-runs-me").items()
                                   if p not in old}, 30, what="the app restarted with the publisher's new groups")

    try:
        changed = runner.invoke(main, [*base, "--role", "modeller"])
        assert changed.exit_code == 0 and "Unix groups now follow the account" in changed.output, changed.output
        moved = replaced(restarted)
        assert list(moved.values()) == [analyst.pw_uid]
        modeller = ",".join(sorted([analyst.pw_name, load_policy().unix_group("modeller", running.profile.unix_prefix)]))
        manager.reload()
        assert f"groups={modeller} truth=PermissionError" in wait_for_text(app_frame(manager, "who-runs-me"),
                                                                           "started:", timeout=60)
    finally:
        assert runner.invoke(main, [*base, "--role", "analyst"]).exit_code == 0
    replaced(moved)
    manager.reload()
    assert f"started: {expected}" in wait_for_text(app_frame(manager, "who-runs-me"), "started:", timeout=60)

    removed = runner.invoke(main, ["publish", "remove", "who-runs-me"], env=env)
    assert removed.exit_code == 0, removed.output
    assert app_processes(running.profile, "who-runs-me") == {}  # stopped before the API answered
    assert not Path(group).exists()
    manager.goto(f"{running.dashboards}/published/who-runs-me/")
    wait_for_text(manager, "does not exist")
    manager.context.close()


# A published app written to act as whoever opens it. Each probe writes what it got into the
# app's page (#attack-report), so the test reads what the app's script could see and do; the
# hub and the viewer's server are then asked, as the viewer, whether anything was done.
ATTACK_JS = r"""
(async () => {
  const viewer = %(viewer)r, out = {};
  const report = () => {
    let pre = document.getElementById('attack-report');
    if (!pre) { pre = document.createElement('pre'); pre.id = 'attack-report'; document.body.appendChild(pre); }
    pre.textContent = JSON.stringify(out);
  };
  const refused = (e) => 'refused: ' + e.name;
  // same-origin frames would hand over a page's cookies and its XSRF token
  const frame = async (url) => {
    const f = document.createElement('iframe');
    f.src = url;
    document.body.appendChild(f);
    await new Promise((done) => { f.onload = done; setTimeout(done, 8000); });
    return f.contentDocument;
  };
  try { out.cookie = document.cookie; } catch (e) { out.cookie = refused(e); }
  let hubXsrf = null, serverXsrf = null;
  try {
    const d = await frame('/hub/home');
    out.hub_cookie = d.cookie;
    hubXsrf = (d.documentElement.innerHTML.match(/xsrf_token: *"([^"]+)"/) || [])[1] || null;
  } catch (e) { out.hub_cookie = refused(e); }
  try {
    const d = await frame(`/user/${viewer}/api/status`);
    out.server_cookie = d.cookie;
    serverXsrf = (d.cookie.match(/_xsrf=([^;]+)/) || [])[1] || null;
  } catch (e) { out.server_cookie = refused(e); }
  const call = async (key, url, init) => {
    try {
      const r = await fetch(url, {credentials: 'include', ...init});
      out[key] = r.status + ' ' + (await r.text()).slice(0, 120);
    } catch (e) { out[key] = refused(e); }
  };
  await call('hub_user', '/hub/api/user', {});
  await call('hub_token', `/hub/api/users/${viewer}/tokens`, {method: 'POST',
    headers: {'Content-Type': 'application/json', ...(hubXsrf ? {'X-XSRFToken': hubXsrf} : {})},
    body: JSON.stringify({note: 'stolen-by-app'})});
  await call('server_write', `/user/${viewer}/api/contents/stolen.txt`, {method: 'PUT',
    headers: {'Content-Type': 'application/json', ...(serverXsrf ? {'X-XSRFToken': decodeURIComponent(serverXsrf)} : {})},
    body: JSON.stringify({type: 'file', format: 'text', content: 'written by a published app'})});
  out.done = true;
  report();
})();
"""

LEAVE_JS = r"""
let pre = document.getElementById('leave-report');
if (!pre) { pre = document.createElement('pre'); pre.id = 'leave-report'; document.body.appendChild(pre); }
try { window.top.location.href = '/hub/logout'; pre.textContent = 'leave: navigated'; }
catch (e) { pre.textContent = 'leave: refused: ' + e.name; }
"""

ATTACK_APP = '''
import panel as pn

probe = pn.widgets.Button(name="Probe the hub")
probe.js_on_click(code=%r)
leave = pn.widgets.Button(name="Leave")
leave.js_on_click(code=%r)
count = pn.widgets.Button(name="Count")
said = pn.pane.Markdown("clicked 0 times")
count.on_click(lambda event: setattr(said, "object", f"clicked {count.clicks} times"))
pn.Column(pn.pane.Markdown("## Harmless looking app"), probe, leave, count, said).servable(title="Harmless")
'''


def app_frame(page: Any, name: str) -> Any:
    """The frame that holds published app ``name`` (the page's own when it is not framed)."""
    framed = [f for f in page.frames if f is not page.main_frame and f"/published/{name}/" in f.url]
    return framed[-1] if framed else page.main_frame


def test_a_published_app_cannot_act_as_its_viewer(running: Stack, browser: Any, tmp_path: Path) -> None:
    """An analyst's app, opened by another analyst whose notebook server runs and who has used it: its script
    reads no hub cookie, gets no answer from the hub's API or the viewer's server (and does nothing there as
    the viewer), cannot navigate the page it is shown in, and still works (a server callback answers)."""
    import requests
    from click.testing import CliRunner

    from tests.hub_support import spawn_and_wait, stop_server
    from workbench.cli.main import main

    viewer = "analyst2"
    app_file = tmp_path / "harmless.py"
    app_file.write_text(ATTACK_APP % (ATTACK_JS % {"viewer": viewer}, LEAVE_JS))
    env = {"WORKBENCH_DASHBOARDS_URL": running.dashboards,
           "WORKBENCH_HUB_TOKEN": api_token(running.url, "analyst", running.passwords["analyst"])}
    done = CliRunner().invoke(main, ["publish", "app", str(app_file), "--roles", "analyst"], env=env)
    assert done.exit_code == 0, done.output

    token = api_token(running.url, viewer, running.passwords[viewer])
    headers = {"Authorization": f"token {token}"}
    spawn_and_wait(running.url, viewer, token)
    try:
        page = login_page(running, browser, viewer)
        page.goto(f"{running.url}/user/{viewer}/api/status")  # through the server's OAuth: its cookie is set
        page.wait_for_url(f"**/user/{viewer}/api/status", timeout=60_000)
        hub_cookies = [c for c in page.context.cookies() if c["name"].startswith(("jupyterhub", "_xsrf", "dashboards"))]
        assert hub_cookies, page.context.cookies()
        service_cookies = [c for c in page.context.cookies() if c["path"].startswith(PREFIX)]
        assert service_cookies and all(c["sameSite"] == "Lax" for c in service_cookies), service_cookies

        page.goto(f"{running.dashboards}/published/harmless/")
        top = page.url
        app = app_frame(page, "harmless")
        app.get_by_role("button", name="Count").click(timeout=60_000)
        assert "clicked 1 times" in wait_for_text(app, "clicked 1", timeout=30)  # the websocket works
        app.get_by_role("button", name="Probe the hub").click()
        app.locator("#attack-report").wait_for(state="attached", timeout=60_000)
        report = json.loads(app.locator("#attack-report").text_content())
        shot(running, page, "analyst2_attack_app")
        print(f"\nwhat the published app's script got: {report}")
        for key in ("cookie", "hub_cookie", "server_cookie"):
            assert not any(c["value"] in report[key] for c in hub_cookies), (key, report[key])
        for key in ("hub_cookie", "server_cookie", "hub_user", "hub_token", "server_write"):
            assert report[key].startswith("refused: "), (key, report[key])

        tokens = requests.get(f"{running.url}/hub/api/users/{viewer}/tokens", headers=headers, timeout=30).json()
        assert not [t for t in tokens["api_tokens"] if t.get("note") == "stolen-by-app"], tokens
        written = requests.get(f"{running.url}/user/{viewer}/api/contents/stolen.txt", headers=headers, timeout=30)
        assert written.status_code == 404, written.text[:200]

        app.get_by_role("button", name="Leave").click()  # a click: the strongest case (user activation)
        app.locator("#leave-report").wait_for(state="attached", timeout=30_000)
        assert app.locator("#leave-report").text_content() == "leave: refused: SecurityError"
        assert page.url == top  # the page that shows the app is still there (the viewer is not logged out)
        page.context.close()
    finally:
        stop_server(running.url, viewer, token)
        CliRunner().invoke(main, ["publish", "remove", "harmless"], env=env)
