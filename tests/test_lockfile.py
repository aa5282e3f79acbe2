"""requirements.lock, which `make venv` installs (uv, hashes), matches pyproject.toml's dependency lists.

An edit of pyproject.toml's dependencies without `make lock` would leave a fresh clone's
venv without the new package (the lock is installed with ``--no-deps``): this fails first.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)")


def locked() -> dict[str, tuple[Version, str]]:
    """Each pinned package of the lock: (version, its entry's text including hashes)."""
    entries = re.split(r"\n(?=[A-Za-z0-9])", (REPO / "requirements.lock").read_text(encoding="utf-8"))
    found = {}
    for entry in entries:
        if match := PIN.match(entry):
            found[canonicalize_name(match[1])] = (Version(match[2]), entry)
    return found


def declared() -> list[Requirement]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return [Requirement(r) for r in [*project["dependencies"], *(r for extra in project["optional-dependencies"].values()
                                                                   for r in extra)]]


def test_every_declared_requirement_is_locked_at_a_version_it_admits() -> None:
    pins = locked()
    wrong = []
    for req in declared():
        pin = pins.get(canonicalize_name(req.name))
        if pin is None or not req.specifier.contains(pin[0], prereleases=True):
            wrong.append(f"{req} -> {pin[0] if pin else 'not in the lock'}")
    assert not wrong, f"requirements.lock is stale; run `make lock`: {wrong}"


def test_every_locked_package_carries_hashes_and_torch_is_the_cpu_build() -> None:
    pins = locked()
    assert len(pins) > 100
    assert not [name for name, (_, entry) in pins.items() if "--hash=sha256:" not in entry]
    assert str(pins["torch"][0]) == "2.13.0+cpu"  # the file on this machine's disk, not a CUDA build
    assert not [name for name in pins if name.startswith("nvidia-")]
