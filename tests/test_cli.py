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


def test_up_runs_each_make_up_step_in_order_with_every_option_given(monkeypatch: pytest.MonkeyPatch) -> None:
    """`workbench up` (what `make up` runs) calls the step commands in-process: an option a step gains,
    loses or renames would otherwise surface only in a real `make up`."""
    from workbench.cli.config import init
    from workbench.cli.demo import loop_command, publish_sources_command
    from workbench.cli.jobs import start_command
    from workbench.cli.platform import up as platform_up

    calls: list[tuple[str, dict[str, object]]] = []
    steps = [init, publish_sources_command, platform_up, start_command, loop_command]
    for step in steps:
        expected = {p.name for p in step.params}

        def record(*_: object, _name: str = step.name or "", _expected: set[str] = expected, **kwargs: object) -> None:
            assert set(kwargs) == _expected, (_name, set(kwargs) ^ _expected)
            calls.append((_name, kwargs))

        monkeypatch.setattr(step, "callback", record)
    result = CliRunner().invoke(main, ["up", "--lake", "/srv/lake", "--sources", "/srv/sources", "--scale", "0.5",
                                       "--db-port", "5999", "--wait"])
    assert result.exit_code == 0, result.output
    assert [name for name, _ in calls] == [s.name for s in steps]
    given = dict(calls)
    assert given["init"]["lake"] == "/srv/lake"
    assert given["publish-sources"]["if_empty"] and given["publish-sources"]["with_truth"]
    assert (given["publish-sources"]["scale"], given["publish-sources"]["db_port"]) == (0.5, 5999)
    assert given["publish-sources"]["out"] == given["up"]["sources"] == given["loop"]["out"] == Path("/srv/sources")
    assert given["start"]["block"] and given["loop"]["action"] == "start"
