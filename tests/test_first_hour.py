"""The first hour for every role, in a network namespace that leads nowhere (``first_hour_probe.py``).

One stack for the module, started inside ``unshare --net`` with the tiny world: every demo
account logs in through the real form in a real browser. Dashboard-only roles land on the
dashboards home, never on a 403 page; analysts and modellers in JupyterLab with their own
starter notebooks, the Customs Workbench kernel as the default (and working) and a
launcher tile for the dashboards, without a news prompt; the administrator on the admin
page with the users and the security events. Meanwhile nothing in the stack, its kernels
or the browser sent a packet towards the outside.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.hub_support import IS_ROOT, REPO

pytestmark = [pytest.mark.hub, pytest.mark.browser]

STARTERS = sorted(p.name for p in (REPO / "notebooks").glob("*.ipynb"))


@pytest.fixture(scope="module")
def first_hour(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    if not IS_ROOT or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare(1) for a network namespace")
    out = tmp_path_factory.mktemp("first-hour") / "result.json"
    done = subprocess.run(["unshare", "--net", sys.executable, "-m", "tests.first_hour_probe", str(out)],
                          cwd=REPO, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    return json.loads(out.read_text())


def path_of(url: str) -> str:
    return urlsplit(url).path


@pytest.mark.parametrize("name", ["manager", "field-officer"])
def test_dashboard_roles_land_on_the_dashboards_home_not_a_403(first_hour: dict[str, Any], name: str) -> None:
    seen = first_hour["accounts"][name]
    assert path_of(seen["url"]).startswith("/services/dashboards/"), seen
    assert seen["content"] and not seen["forbidden"], seen


@pytest.mark.parametrize("name", ["analyst", "modeller"])
def test_notebook_roles_land_in_lab_with_starters_default_kernel_and_dashboards_tile(
        first_hour: dict[str, Any], name: str) -> None:
    seen = first_hour["accounts"][name]
    assert path_of(seen["url"]).startswith(f"/user/{name}/lab"), seen
    assert seen["starters"] == STARTERS  # their own copies, in their own home
    assert seen["starters_listed"] == STARTERS  # what JupyterLab lists in notebooks/
    assert seen["launcher_tile"], seen
    assert seen["default_kernel"] == "customs-workbench"
    assert not seen["news_prompt"] and not seen["forbidden"], seen


def test_the_default_kernel_starts_and_answers_without_any_network(first_hour: dict[str, Any]) -> None:
    assert first_hour["accounts"]["analyst"]["kernel_idle"]


def test_admin_lands_on_users_servers_and_security_events(first_hour: dict[str, Any]) -> None:
    seen = first_hour["accounts"]["admin"]
    assert path_of(seen["url"]).startswith("/hub/admin"), seen
    assert seen["users_listed"] and seen["security_events"] and not seen["forbidden"], seen


def test_nothing_reaches_for_the_outside(first_hour: dict[str, Any]) -> None:
    """Nothing reached for an outside address on the only non-loopback link while every page and
    kernel was used; the browser asked the stack's own address only (no CDN, font or news fetch)."""
    hub = urlsplit(first_hour["hub"]).netloc
    asked = {u for u in first_hour["requests"] if not u.startswith(("data:", "blob:", "about:"))}
    assert sorted(u for u in asked if urlsplit(u).netloc != hub) == []
    assert first_hour["outside"] == []
