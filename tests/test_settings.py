"""Where settings come from: arguments over environment over workbench.toml over defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.settings import DEFAULT_LAKE, load_settings


def test_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "workbench.toml"
    config.write_text('lake = "/from/file"\nuser = "file-user"\n')
    monkeypatch.setenv("WORKBENCH_CONFIG", str(config))
    monkeypatch.delenv("WORKBENCH_LAKE", raising=False)
    assert load_settings().lake == "/from/file"
    monkeypatch.setenv("WORKBENCH_LAKE", "/from/env")
    assert load_settings().lake == "/from/env"
    assert load_settings(lake="/from/arg").lake == "/from/arg"
    assert load_settings(lake=None).lake == "/from/env"  # an unset CLI flag does not override
    assert load_settings().user == "file-user"


def test_defaults_and_object_store_options(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("WORKBENCH_CONFIG", str(tmp_path / "absent.toml"))
    monkeypatch.delenv("WORKBENCH_LAKE", raising=False)
    assert load_settings().lake == str(DEFAULT_LAKE)
    monkeypatch.setenv("WORKBENCH_STORAGE_OPTIONS", '{"AWS_ENDPOINT_URL": "http://127.0.0.1:9000"}')
    assert load_settings().storage_options == {"AWS_ENDPOINT_URL": "http://127.0.0.1:9000"}


def test_the_nearest_workbench_toml_is_found_from_any_subfolder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from workbench.settings import config_file

    (tmp_path / "workbench.toml").write_text('lake = "var/lake"\nthreads = 3\n[hub]\nport = 9123\n')
    deep = tmp_path / "notebooks" / "drafts"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    monkeypatch.delenv("WORKBENCH_CONFIG", raising=False)
    monkeypatch.delenv("WORKBENCH_LAKE", raising=False)
    assert config_file() == tmp_path / "workbench.toml"
    settings = load_settings()
    assert settings.lake == str(tmp_path / "var" / "lake")  # relative to the file, not to the working folder
    assert settings.threads == 3
    from workbench.settings import HubSettings

    assert HubSettings().port == 9123  # the stack's knobs live in the same file's [hub]
    monkeypatch.setenv("WORKBENCH_CONFIG", "")  # set but empty: no file at all
    assert config_file() is None and load_settings().lake == str(DEFAULT_LAKE)


def test_config_reports_each_setting_with_its_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from workbench.settings import setting_sources

    config = tmp_path / "workbench.toml"
    config.write_text('lake = "/from/file"\nnlp_precision = "fp32"\n')
    monkeypatch.setenv("WORKBENCH_CONFIG", str(config))
    monkeypatch.setenv("WORKBENCH_USER", "env-user")
    monkeypatch.delenv("WORKBENCH_LAKE", raising=False)
    sources = setting_sources({"threads": 2})
    assert sources["lake"] == ("/from/file", f"file {config}")
    assert sources["nlp_precision"] == ("fp32", f"file {config}")
    assert sources["user"] == ("env-user", "env WORKBENCH_USER")
    assert sources["threads"] == (2, "flag")
    assert sources["audit_fsync"] == (False, "default")


def test_commands_without_lake_in_the_checkout_use_its_lake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What `make up` leaves: `workbench config init --lake var/lake`; then any command in the checkout finds it."""
    import json

    import polars as pl
    from click.testing import CliRunner

    from workbench.cli.main import main
    from workbench.session import connect

    checkout = tmp_path / "checkout"
    (checkout / "notebooks").mkdir(parents=True)
    connect(str(checkout / "var" / "lake"), user="tester").write(pl.DataFrame({"n": [1, 2]}), "work.marker")
    monkeypatch.delenv("WORKBENCH_CONFIG", raising=False)
    monkeypatch.delenv("WORKBENCH_LAKE", raising=False)
    monkeypatch.chdir(checkout)
    runner = CliRunner()
    init = runner.invoke(main, ["config", "init", "--lake", "var/lake"])
    assert init.exit_code == 0, init.output
    assert 'lake = "var/lake"' in (checkout / "workbench.toml").read_text()  # relative: the checkout may move
    monkeypatch.chdir(checkout / "notebooks")
    listed = runner.invoke(main, ["tables", "--format", "json"])
    assert listed.exit_code == 0, listed.output
    assert "work.marker" in {row["name"] for row in json.loads(listed.output)}
    shown = runner.invoke(main, ["config", "--format", "json"])
    lake = next(r for r in json.loads(shown.output)["settings"] if r["setting"] == "lake")
    assert lake == {"setting": "lake", "value": str(checkout / "var" / "lake"),
                    "source": f"file {checkout / 'workbench.toml'}"}
