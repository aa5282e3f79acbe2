"""The generator stays the generator: no analytics module imports ``workbench.demo``.

The synthetic world is for plumbing, not proof: an analytics module that reads the
generator's vocabularies measures a lookup of what the generator planted. Only the demo
package itself, the demo CLI, tests and benchmarks may import it. Public-standard reference
data that both sides need lives in ``workbench.reference``. The check walks every
module's syntax tree, so imports inside functions count as much as those at the top.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "workbench"
GENERATOR = "workbench.demo"
ALLOWED = {"workbench/cli/demo.py"}
"""Outside ``workbench/demo`` itself: the CLI that runs the generator."""
TEMPORARY_EXEMPTIONS: set[str] = set()
"""Modules allowed to import the generator while they are rewritten (none left)."""


def package_of(path: Path) -> str:
    """The package relative imports in ``path`` resolve against (``workbench.graph`` for graph/names.py)."""
    return ".".join(path.relative_to(ROOT).parent.parts)


def imported_modules(source: str, package: str) -> set[str]:
    """Every module a source file imports, at any depth, with relative imports resolved against ``package``."""
    found: set[str] = set()
    parts = package.split(".")
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = parts[: len(parts) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def imports_generator(source: str, package: str) -> bool:
    return any(name == GENERATOR or name.startswith(GENERATOR + ".") for name in imported_modules(source, package))


def violations() -> list[str]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith("workbench/demo/") or rel in ALLOWED | TEMPORARY_EXEMPTIONS:
            continue
        if imports_generator(path.read_text(encoding="utf-8"), package_of(path)):
            out.append(rel)
    return out


@pytest.mark.parametrize("source, package", [
    ("from workbench.demo.vocabulary import SURNAMES", "workbench.graph"),
    ("import workbench.demo.documents as docs", "workbench.nlp"),
    ("from workbench import demo", "workbench.risk"),
    ("def f():\n    from ..demo.identifiers import hkid\n    return hkid", "workbench.graph"),
    ("from .demo import world", "workbench"),
])
def test_the_checker_catches_every_way_of_importing_the_generator(source: str, package: str) -> None:
    assert imports_generator(source, package)


def test_the_checker_lets_reference_data_through() -> None:
    assert not imports_generator("from workbench.reference import HS_CODES\nimport workbench.demographics", "workbench.x")


def test_no_analytics_module_imports_the_generator() -> None:
    assert violations() == [], "analytics must not import workbench.demo; move public reference data to workbench.reference"


def test_temporary_exemptions_are_still_needed() -> None:
    """An exemption whose module no longer imports the generator must be removed from the list."""
    stale = [rel for rel in sorted(TEMPORARY_EXEMPTIONS)
             if not imports_generator((ROOT / rel).read_text(encoding="utf-8"), package_of(ROOT / rel))]
    assert stale == [], f"remove from TEMPORARY_EXEMPTIONS: {stale}"
