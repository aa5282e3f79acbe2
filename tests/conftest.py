"""Shared fixtures: lakes on local disk and on a local S3-compatible server, a tiny world."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from workbench.platform.profile import free_port
from workbench.session import Session, connect

if TYPE_CHECKING:
    from tests.fault_support import SharedStack

pytest_plugins = ["tests.nlp_shipped"]  # trains make up's tagger in the background when a test needs it
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# No settings file from the checkout (`make up` leaves one): tests name their lakes themselves.
os.environ.setdefault("WORKBENCH_CONFIG", "")
TINY_SCALE = 0.02
TINY_SEED = 7


def wait_for_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on port {port} after {timeout} s")


@pytest.fixture(scope="session")
def s3_server() -> Iterator[dict[str, str]]:
    """A moto S3 server on loopback, as a production MinIO would be reached."""
    port = free_port()
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port)
        yield {
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": "us-east-1",
            "AWS_ALLOW_HTTP": "true",
        }
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _bucket(options: dict[str, str]) -> str:
    import boto3

    name = f"lake-{uuid.uuid4().hex[:10]}"
    boto3.client(
        "s3", endpoint_url=options["AWS_ENDPOINT_URL"], aws_access_key_id="testing",
        aws_secret_access_key="testing", region_name=options["AWS_REGION"],
    ).create_bucket(Bucket=name)
    return name


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def lake_session(request: pytest.FixtureRequest, tmp_path: Path) -> Session:
    """An empty lake, once on local disk and once on the S3 server: the same code path."""
    if request.param == "local":
        return connect(str(tmp_path / "lake"), user="tester")
    options = request.getfixturevalue("s3_server")
    return connect(f"s3://{_bucket(options)}/lake", storage_options=options, user="tester")


@pytest.fixture(scope="session")
def tiny_world(tmp_path_factory: pytest.TempPathFactory) -> Session:
    """The synthetic world at a tiny scale, landed and curated once for the whole run."""
    from workbench.demo.load import load_world

    wb = connect(str(tmp_path_factory.mktemp("world") / "lake"), user="tester")
    load_world(wb.lake, seed=TINY_SEED, scale=TINY_SCALE, actor="tester")
    return wb


@pytest.fixture(scope="session")
def dashboards_stack(tiny_world: Session, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One hub + proxy + dashboards service over a copy of the tiny world for the publishing, devices and source
    viewer tests (``tests/hub_support.dashboards_stack``); the tests that use it run last (see below), so it is
    started once and stopped as soon as they are done, not left idling under the rest of the suite."""
    from tests.hub_support import dashboards_stack as start

    with start(tiny_world.settings.lake, tmp_path_factory.mktemp("dashboards-artifacts")) as stack:
        yield stack


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Move the tests that use the shared dashboards stack to the end, in their order: a session fixture is
    torn down at the session's end, so they run together there and the stack lives only while they do."""
    shared = [item for item in items if "dashboards_stack" in getattr(item, "fixturenames", ())]
    if shared:
        moved = {id(item) for item in shared}
        items[:] = [item for item in items if id(item) not in moved] + shared


def world_copy(world: Session, folder: Path, user: str = "tester") -> Session:
    """A session on a private copy of ``world``'s lake under ``folder``: tests that write to it stay apart."""
    import shutil

    target = folder / "lake"
    shutil.copytree(world.settings.lake, target)
    return connect(str(target), user=user)


@pytest.fixture(scope="session")
def fetch_user() -> Iterator[str]:
    """The Unix user web fetches run as in tests (created on first fetch as root), removed at the end."""
    import secrets
    import subprocess

    name = f"wbt{secrets.token_hex(3)}-fetch"
    yield name
    if os.geteuid() == 0:
        subprocess.run(["userdel", name], capture_output=True, check=False)


@pytest.fixture(scope="session")
def shared_siem_stack() -> Iterator[SharedStack]:
    """The real stack with its SIEM that test_siem_platform and test_supervision share (``fault_support``)."""
    from tests.fault_support import SharedStack

    shared = SharedStack()
    try:
        yield shared
    finally:
        shared.close()
