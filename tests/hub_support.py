"""What the hub and stack tests share: polling, login through the real form, tokens,
spawning, and cleaning up the Unix users a test created."""

from __future__ import annotations

import os
import pwd
import stat
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def wait_until(predicate: Callable[[], T], timeout: float, interval: float = 0.1, what: str = "condition") -> T:
    """Poll ``predicate`` until it returns something truthy; never a fixed sleep."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"{what} not met after {timeout} s")


def owners(paths: list[str]) -> dict[str, tuple[int, int, int]]:
    """(uid, gid, mode) of each existing path: compared before and after to prove nothing was chowned."""
    result = {}
    for p in paths:
        if os.path.lexists(p):
            s = os.lstat(p)
            result[p] = (s.st_uid, s.st_gid, stat.S_IMODE(s.st_mode))
    return result


def remove_users(prefix: str) -> None:
    """Kill the processes of, and delete with their homes, every Unix user named ``prefix*``."""
    for entry in pwd.getpwall():
        if entry.pw_name.startswith(prefix):
            subprocess.run(["pkill", "-KILL", "-u", entry.pw_name], check=False)
            subprocess.run(["userdel", "--remove", "--force", entry.pw_name], check=False, capture_output=True)


def login(url: str, name: str, password: str) -> tuple[Any, Any]:
    """Log in through the real form: GET for the _xsrf cookie, POST it back as a field."""
    import requests

    session = requests.Session()
    session.get(f"{url}/hub/login", timeout=10).raise_for_status()
    xsrf = session.cookies.get("_xsrf")
    assert xsrf, "login page set no _xsrf cookie"
    response = session.post(f"{url}/hub/login", timeout=30, allow_redirects=False,
                            data={"username": name, "password": password, "_xsrf": xsrf})
    return session, response


def api_token(url: str, name: str, password: str) -> str:
    """Log in and make an API token carrying the user's own permissions."""
    session, response = login(url, name, password)
    assert response.status_code == 302, response.text[:300]
    made = session.post(f"{url}/hub/api/users/{name}/tokens", json={"note": "test", "expires_in": 900},
                        headers={"X-XSRFToken": session.cookies.get("_xsrf")}, timeout=10)
    assert made.status_code == 201, made.text
    return str(made.json()["token"])


def spawn_and_wait(url: str, name: str, token: str, timeout: float = 90) -> tuple[dict[str, Any], float]:
    """Start ``name``'s server through the REST API; return its model once ready and the seconds it took."""
    import requests

    headers = {"Authorization": f"token {token}"}
    started = time.monotonic()
    response = requests.post(f"{url}/hub/api/users/{name}/server", headers=headers, timeout=60)
    assert response.status_code in (201, 202), response.text

    def ready() -> dict[str, Any] | None:
        model = requests.get(f"{url}/hub/api/users/{name}", headers=headers, timeout=10).json()
        server = model.get("servers", {}).get("")
        return server if server and server.get("ready") else None

    server = wait_until(ready, timeout, what=f"{name}'s server ready")
    return server, time.monotonic() - started


REPO = Path(__file__).resolve().parents[1]
PROXY = REPO / "var" / "npm" / "node_modules" / ".bin" / "configurable-http-proxy"
IS_ROOT = os.geteuid() == 0


@dataclass(frozen=True)
class Sandbox:
    """A throwaway hub home: a unique Unix-user prefix and a temp folder the users can enter."""

    tag: str
    prefix: str
    root: Path
    homes: Path


def hub_sandbox(kind: str) -> Sandbox:
    """Check the machine can run a real hub, then make the folders a hub test owns.

    Skips without root or the cgroup v1 memory controller (users and caps need both);
    fails when the proxy `make test` installs is missing.
    """
    import pytest

    from workbench.platform.cgroups import MemoryCgroups

    if not IS_ROOT or not MemoryCgroups.available():
        pytest.skip(f"the {kind} tests need root (Unix users) and the cgroup v1 memory controller")
    assert PROXY.exists(), f"configurable-http-proxy is not installed at {PROXY}: `make test` installs it"
    tag = uuid.uuid4().hex[:4]
    root = Path(tempfile.mkdtemp(prefix=f"wbt-{kind}-"))
    os.chmod(root, 0o755)  # our own temp folder: the Unix users must reach userenv/, homes/ (and the lake)
    homes = root / "homes"
    homes.mkdir(mode=0o755)
    os.chmod(homes, 0o755)
    return Sandbox(tag, f"wbt{tag}-", root, homes)
