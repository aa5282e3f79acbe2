"""The ``workbench`` command: formats for scripts, one-line errors, help everywhere."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pyarrow as pa
import pytest
from click.testing import CliRunner

from workbench.cli.main import main
from workbench.session import connect


@pytest.fixture
def lake(tmp_path: Path) -> str:
    root = str(tmp_path / "lake")
    connect(root).write(pa.table({"port": ["Kwai Chung", "HKIA", "HKIA"], "n": [1, 2, 3]}), "work.ports")
    return root


def test_tables_as_json_lists_the_catalog(lake: str) -> None:
    result = CliRunner().invoke(main, ["tables", "--lake", lake, "--format", "json"])
    assert result.exit_code == 0, result.output
    names = {row["name"] for row in json.loads(result.output)}
    assert "work.ports" in names


def test_sql_binds_parameters_and_writes_csv(lake: str) -> None:
    result = CliRunner().invoke(main, ["sql", "SELECT sum(n) AS total FROM work.ports WHERE port = $p",
                                       "-p", "p=HKIA", "--format", "csv", "--lake", lake])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == ["total", "5"]


def test_lake_comes_from_the_environment(lake: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKBENCH_LAKE", lake)
    result = CliRunner().invoke(main, ["sql", "SELECT count(*) AS n FROM work.ports", "--format", "json"])
    assert json.loads(result.output) == [{"n": 3}]


def test_errors_are_one_line_and_exit_non_zero(lake: str) -> None:
    result = CliRunner().invoke(main, ["sql", "SELECT * FROM work.port", "--lake", lake])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == ["error: unknown table 'work.port'; did you mean work.ports?"]


def test_describe_prints_a_profile(lake: str) -> None:
    result = CliRunner().invoke(main, ["describe", "work.ports", "--lake", lake, "--format", "json"])
    profile = {row["column"]: row for row in json.loads(result.output)}
    assert profile["n"]["max"] == "3" and profile["port"]["top_values"].startswith("HKIA (2)")


LAKELESS = {("users",), ("devices",), ("platform", "down"), ("platform", "status"), ("platform", "render-k8s"),
            ("demo", "stop-sources"), ("publish",), ("apps", "hub-service"), ("jobs",)}
"""Commands that never take a lake argument: accounts and field devices live in the hub's own root-only store;
stopping or probing the stack reads only its pid files; rendering the Kubernetes values and
stopping the demo's database touch no lake; publishing talks to the dashboards service over
HTTP; the dashboards service is started by the hub with the platform's environment; and the
stack's background jobs are tracked in its state folder (each job's own command finds the lake
through the checkout's workbench.toml)."""


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    context = click.Context(group)
    for name in group.list_commands(context):  # the main group loads its sub-commands when asked
        command = group.get_command(context, name)
        found.append((*prefix, name))
        if isinstance(command, click.Group):
            found.extend(_commands(command, (*prefix, name)))
    return found


@pytest.mark.parametrize("command", _commands(main), ids=" ".join)
def test_every_command_has_help_and_leaf_commands_take_lake(command: tuple[str, ...]) -> None:
    result = CliRunner().invoke(main, [*command, "--help"])
    assert result.exit_code == 0 and "Usage:" in result.output
    leaf = not isinstance(main.get_command(click.Context(main), command[0]), click.Group) or len(command) > 1
    if not any(command[: len(prefix)] == prefix for prefix in LAKELESS):
        assert not leaf or "--lake" in result.output
