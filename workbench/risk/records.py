"""Per-record input checks for the real-time service, compiled once from the model's column rules.

The lake contract (pandera over Polars frames) costs ~20 ms a request, almost all of it
fixed overhead for one row. This checker proves, in plain Python with precompiled
regexes, that a record conforms, and returns its typed values. It is deliberately
conservative: it accepts only values whose meaning is unambiguous (plain decimal numbers,
ISO timestamps without zones or fractions) and answers ``None`` for anything else, which
sends the request through the contract. So every rejection is still worded by the one
contract code (same rule names and messages as batch scoring), and a record accepted here
is one the contract accepts with the same typed values.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from workbench.lake.specs import ColumnSpec
from workbench.risk.specs import ModelSpec

Parse = Callable[[str], Any]
"""Text to typed value; raises ``ValueError`` (or returns ``None``) when the value is not provably conforming."""

_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_INTEGER = re.compile(r"[+-]?[0-9]{1,18}")
_STAMP = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}(?:[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2})?)?")
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _text(text: str) -> str | None:
    """Text as is, except with a line break: Python's ``$`` matches before a final newline, the contract's does not."""
    return None if "\n" in text else text


def _number(text: str) -> float | None:
    return float(text) if _NUMBER.fullmatch(text) else None


def _integer(text: str) -> int | None:
    return int(text) if _INTEGER.fullmatch(text) else None


def _timestamp(text: str) -> datetime | None:
    return datetime.fromisoformat(text) if _STAMP.fullmatch(text) else None


def _date(text: str) -> date | None:
    return date.fromisoformat(text) if _DAY.fullmatch(text) else None


_PARSERS: dict[str, Parse] = {"string": _text, "float64": _number, "int64": _integer, "timestamp": _timestamp,
                              "date": _date}


def _rules(spec: ColumnSpec) -> Callable[[Any], bool] | None:
    """The column's value rules as one predicate; ``None`` when a rule is outside what this checker proves."""
    numeric = spec.type in ("float64", "int64")
    if (spec.min is not None or spec.max is not None) and not numeric:
        return None
    if (spec.isin is not None or spec.pattern is not None) and spec.type != "string":
        return None
    low = float("-inf") if spec.min is None else spec.min
    high = float("inf") if spec.max is None else spec.max
    allowed = frozenset(spec.isin) if spec.isin is not None else None
    pattern = re.compile(spec.pattern) if spec.pattern is not None else None
    return lambda v: ((not numeric or low <= v <= high) and (allowed is None or v in allowed)
                      and (pattern is None or pattern.search(v) is not None))


class RecordChecker:
    """Typed values of records that provably pass the model's input contract (see the module docstring)."""

    def __init__(self, columns: dict[str, ColumnSpec], key: str) -> None:
        self.key = key
        self.columns: list[tuple[str, bool, Parse, Callable[[Any], bool]]] = []
        for name, spec in columns.items():
            rules = _rules(spec)
            if spec.type not in _PARSERS or rules is None:
                raise ValueError(f"column {name!r}: {spec.type} rules are checked by the contract only")
            self.columns.append((name, spec.nullable and name != key, _PARSERS[spec.type], rules))

    @classmethod
    def for_model(cls, spec: ModelSpec) -> RecordChecker | None:
        """The checker for a model's input columns, or ``None`` if any column needs the contract."""
        try:
            return cls(dict(spec.input.columns), spec.model.id)
        except ValueError:
            return None

    def typed(self, texts: list[dict[str, str | None]]) -> list[dict[str, Any]] | None:
        """Each record's typed values, or ``None`` if any record (or a repeated id) needs the contract's verdict."""
        typed = [r for r in map(self._record, texts) if r is not None]
        if len(typed) < len(texts) or len({r[self.key] for r in typed}) < len(typed):
            return None
        return typed

    def _record(self, texts: dict[str, str | None]) -> dict[str, Any] | None:
        typed: dict[str, Any] = {}
        for name, nullable, parse, rules in self.columns:
            text = texts.get(name)
            if text is None:
                if not nullable:
                    return None
                typed[name] = None
                continue
            try:
                value = parse(text)
            except ValueError:
                return None
            if value is None or not rules(value):
                return None
            typed[name] = value
        return typed
