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
