"""Layers the code keeps, and no import cycles: the map in ``docs/architecture.md``, enforced.

Each package belongs to one layer; a module may import its own layer and the layers under
it, never one above. Imports inside functions count as much as those at the top (a
function-level import is still a dependency, only a later one); imports under
``if TYPE_CHECKING:`` do not, since they name a type for the reader and run nothing.
The generator rule (nothing analytic imports ``workbench.demo``) is ``test_import_rules``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parents[1]

LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("foundation", ("workbench.errors", "workbench.settings", "workbench.specfiles", "workbench.reference",
                    "workbench.exports",  # packages' exports loaded on first use (PEP 562)
                    # operating-system primitives (users, groups, cgroups) that the governance
                    # layer applies the policy with; they import nothing else of the workbench
                    "workbench.platform.unix", "workbench.platform.cgroups")),
    ("lake", ("workbench.lake", "workbench.compute")),
    ("governance", ("workbench.security",)),
    ("session", ("workbench.session",)),
    ("analytics", ("workbench.ingest", "workbench.nlp", "workbench.graph", "workbench.risk", "workbench.labelling",
                   "workbench.registry")),
    ("applications", ("workbench.siem", "workbench.apps", "workbench.platform",
                      "workbench.demo")),
    ("entry points", ("workbench.cli", "workbench")),
]
"""Lowest first. The longest matching prefix decides a module's layer."""


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


MODULES = {module_name(p): p for p in (ROOT / "workbench").rglob("*.py")}


def layer_of(module: str) -> int:
    best = max((prefix for _, prefixes in LAYERS for prefix in prefixes
                if module == prefix or module.startswith(prefix + ".")), key=len)
    return next(i for i, (_, prefixes) in enumerate(LAYERS) if best in prefixes)


def runtime_imports(path: Path) -> set[str]:
    """The workbench modules ``path`` imports at run time, at any depth, as module names."""
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    return imports_in(path.read_text(encoding="utf-8"), package) - {module_name(path)}


def imports_in(source: str, package: str) -> set[str]:
    """The workbench modules ``source`` (a module of ``package``) imports at run time."""
    tree = ast.parse(source)
    typing_only = {id(n) for node in ast.walk(tree)
                   if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.dump(node.test)
                   for stmt in node.body for n in ast.walk(stmt)}
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names]
        else:
            continue
        for name in names:
            while name and name not in MODULES:
                name = name.rpartition(".")[0]
            if name.startswith("workbench") and name != "workbench":
                found.add(name)
    return found


def import_graph() -> nx.DiGraph:
    graph = nx.DiGraph()
    graph.add_nodes_from(MODULES)
    for module, path in MODULES.items():
        graph.add_edges_from((module, target) for target in runtime_imports(path))
    return graph


def test_no_module_imports_one_that_imports_it_back() -> None:
    cycles = [sorted(c) for c in nx.strongly_connected_components(import_graph()) if len(c) > 1]
    assert cycles == [], f"import cycles: {cycles}"


def back_edges(graph: nx.DiGraph) -> list[str]:
    return [f"{a} ({LAYERS[layer_of(a)][0]}) imports {b} ({LAYERS[layer_of(b)][0]})"
            for a, b in graph.edges if layer_of(b) > layer_of(a)]


def test_no_module_imports_a_higher_layer() -> None:
    assert back_edges(import_graph()) == []


@pytest.mark.parametrize("source, expected", [
    ("from workbench.nlp.search import search", {"workbench.nlp.search"}),
    ("def f():\n    from workbench.apps import layout", {"workbench.apps.layout"}),
    ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from workbench.session import Session", set()),
    ("from ..lake import lake", {"workbench.lake.lake"}),
    ("import numpy\nfrom workbench.lake.lake import Lake", {"workbench.lake.lake"}),
])
def test_the_checker_sees_every_runtime_import(source: str, expected: set[str]) -> None:
    assert imports_in(source, "workbench.graph") == expected


def test_a_back_edge_and_a_cycle_are_caught() -> None:
    graph = nx.DiGraph([("workbench.lake.lake", "workbench.session.session"),
                        ("workbench.session.session", "workbench.lake.lake")])
    assert back_edges(graph) == ["workbench.lake.lake (lake) imports workbench.session.session (session)"]
    assert [len(c) for c in nx.strongly_connected_components(graph)] == [2]
    assert layer_of("workbench.platform.unix") < layer_of("workbench.security.accounts") < layer_of(
        "workbench.platform.hubconfig")
