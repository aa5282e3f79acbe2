"""Declarative files (table specs, connectors, model specs, the app registry, the access policy)
read into typed objects, with one error style.

Every such file is TOML validated by a pydantic model, and a person fixing one needs the same
three things whichever it is: the file, the key and the reason. Keeping the parse and the
translation of pydantic's first error here means each loader says only which model and which
extra fields it adds.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from workbench.errors import ConfigError

Model = TypeVar("Model", bound=BaseModel)


def read_toml(text: str, source: str) -> dict[str, Any]:
    """The TOML document in ``text``; ``source`` names it in the error."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from exc


def validated(model: type[Model], data: Mapping[str, Any], source: str, at: str = "") -> Model:
    """``data`` as a ``model``; a ConfigError names ``source``, the key (under ``at``) and the reason."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join([*([at] if at else []), *(str(part) for part in first["loc"])]) or "(top level)"
        raise ConfigError(f"{source}: {where}: {first['msg'].removeprefix('Value error, ')}") from exc


def parse_toml(model: type[Model], text: str, source: str, fields: Mapping[str, Any] | None = None) -> Model:
    """A whole TOML file as one ``model``; ``fields`` are set beside the file's own (its name, its path)."""
    return validated(model, {**read_toml(text, source), **(fields or {})}, source)
