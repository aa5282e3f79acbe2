"""Need-to-know that follows the data: what a table written by a session carries from its inputs.

A table an analyst writes from ``curated.people`` must stay out of reach of those who may
not read ``curated.people`` and keep its names masked for those who see them masked, or
the write launders the data. So every session write records, in the catalog entry's
``carried`` field:

- ``inputs``: every table the data came from (and what those carried): the gate refuses
  the table to a role refused any of them, and its folder's ACL grants only the roles
  that may read them all (``lake_permissions.share_table``);
- ``columns``: per column, the sensitive columns ``(table, column, semantic type)`` whose
  values flowed into it: the gate masks the column for every role that sees any of those
  masked (``Gate.masked``).

Column-level flows come from DuckDB's parse of the query that produced the frame
(``column_flows``), when the frame written is one ``wb.sql`` returned and is unchanged.
The analysis is conservative: a column is tainted by every sensitive column its
expression names anywhere (subqueries included), by name through CTEs and subqueries; a
construct it does not model (set operations, PIVOT, DESCRIBE/SUMMARIZE, column aliases
lists, COLUMNS(), a whole row as a struct, positional references) falls back to the whole
table. Any other frame (Polars work, ``scan``, ``table``) falls back too: every column
carries every sensitive column of every table the session has read, i.e. it is masked for
every role that could not read one of its inputs whole. What is not tracked: implicit
flows (a WHERE clause on a masked column choosing which rows are written).
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import polars as pl

from workbench.lake.sql import QueryShape

Source = tuple[str, str, str]
"""``(table, column, semantic type)`` of a sensitive value."""


class _Unmodelled(Exception):
    """The query uses a construct the column analysis does not follow: fall back to the whole table."""


def _refs(node: object, found: set[str], relations: set[str]) -> None:
    """Every name a column reference in ``node`` uses (all parts), and whole-row references."""
    if isinstance(node, dict):
        kind = node.get("type")
        if kind == "COLUMN_REF":
            names = [str(n).lower() for n in node.get("column_names", [])]
            if len(names) == 1 and names[0] in relations:
                raise _Unmodelled("a whole row as a value")
            found.update(names)
        elif kind == "POSITIONAL_REFERENCE":
            raise _Unmodelled("a positional reference")
        for value in node.values():
            _refs(value, found, relations)
    elif isinstance(node, list):
        for value in node:
            _refs(value, found, relations)


def _scan(node: object, items: list[tuple[str | None, Any]], relations: set[str]) -> None:
    """Collect every select-list item (output name, expression) and refuse unmodelled constructs."""
    if isinstance(node, dict):
        kind = node.get("type")
        if kind in ("SET_OPERATION_NODE", "PIVOT", "SHOW_REF", "RECURSIVE_CTE_NODE"):
            raise _Unmodelled(str(kind))
        if node.get("aliases") or node.get("column_name_alias"):
            raise _Unmodelled("column alias lists")
        if kind in ("BASE_TABLE", "SUBQUERY", "TABLE_FUNCTION", "JOIN") or "table_name" in node:
            for key in ("alias", "table_name"):
                if node.get(key):
                    relations.add(str(node[key]).lower())
        for item in node.get("select_list", []) if kind == "SELECT_NODE" else []:
            if item.get("class") == "STAR":
                if item.get("columns") or item.get("expr") or item.get("relation_name") not in ("", None):
                    raise _Unmodelled("COLUMNS() or a qualified star")
                for replace in item.get("replace_list", []):
                    items.append((str(replace.get("name") or replace.get("key") or "").lower() or None, replace))
                if item.get("rename_list"):
                    raise _Unmodelled("a star with RENAME")
                continue
            name = item.get("alias") or (item["column_names"][-1] if item.get("type") == "COLUMN_REF" else None)
            items.append((str(name).lower() if name else None, item))
        for value in node.values():
            _scan(value, items, relations)
    elif isinstance(node, list):
        for value in node:
            _scan(value, items, relations)


def column_flows(shape: QueryShape, sensitive: Mapping[str, set[Source]], output: list[str],
                 known: set[str] = frozenset()) -> dict[str, set[Source]]:  # type: ignore[assignment]
    """Per output column, the sensitive sources flowing into it; ``sensitive`` maps column name -> sources,
    ``known`` holds every column name of the inputs (what a star passes through).

    Raises ``_Unmodelled`` (caught by ``carry``) when the query leaves the modelled subset.
    """
    if len(shape.tree) != 1:
        raise _Unmodelled("not one SELECT")
    tree = json.loads(shape.tree[0])
    items: list[tuple[str | None, Any]] = []
    relations: set[str] = set()
    _scan(tree, items, relations)
    tainted: dict[str, set[Source]] = {name: set(sources) for name, sources in sensitive.items() if sources}
    rows = relations - {n for n, _ in items if n}  # names that, alone in a column reference, mean a whole row
    top = tree["statements"][0]["node"]
    top_items = top.get("select_list", []) if top.get("type") == "SELECT_NODE" else []
    at_top = {id(item) for item in top_items}
    refs_of = []
    for name, expr in items:
        refs: set[str] = set()
        _refs(expr, refs, rows)
        refs_of.append((name, refs, id(expr) in at_top))
    changed = True
    while changed:  # names pass taint on through CTEs and subqueries until nothing changes
        changed = False
        for name, refs, top_level in refs_of:
            flowing = set().union(*(tainted.get(r, set()) for r in refs))
            if not flowing:
                continue
            if name is None:
                if top_level:
                    continue  # an output column: mapped by position below, or unexplained by name
                raise _Unmodelled("a sensitive value in an expression without a name")
            if not flowing <= tainted.get(name, set()):
                tainted.setdefault(name, set()).update(flowing)
                changed = True
    if top_items and len(top_items) == len(output) and all(i.get("class") != "STAR" for i in top_items):
        # No star at the top: output column i is select item i, whatever DuckDB named it.
        flows = {}
        for column, item in zip(output, top_items, strict=True):
            refs = set()
            _refs(item, refs, rows)
            flows[column] = set().union(*(tainted.get(r, set()) for r in refs))
        return flows
    explained = {n for n, _ in items if n} | set(sensitive) | known
    unexplained = [c for c in output if c.lower() not in explained]
    if unexplained:  # a name DuckDB made up (duplicates become "a_1"): cannot tell where it came from
        raise _Unmodelled(f"output columns {unexplained}")
    return {column: tainted.get(column.lower(), set()) for column in output}


def carry(inputs: Mapping[str, Mapping[str, set[Source]]], carried_inputs: Iterable[str], output: list[str],
          shape: QueryShape | None) -> dict[str, Any]:
    """The ``carried`` record of a write: ``inputs`` maps each input table to its columns' sources.

    ``shape`` is the parse of the query that produced the frame (``None``: not known, the
    whole-table fallback applies).
    """
    everything = set().union(*(s for cols in inputs.values() for s in cols.values())) if inputs else set()
    flows: dict[str, set[Source]]
    try:
        if shape is None:
            raise _Unmodelled("frame not produced by one query")
        by_name: dict[str, set[Source]] = {}
        for cols in inputs.values():
            for column, sources in cols.items():
                by_name.setdefault(column.lower(), set()).update(sources)
        flows = column_flows(shape, by_name, output, {c.lower() for cols in inputs.values() for c in cols})
    except _Unmodelled:
        flows = {column: set(everything) for column in output}
    return {
        "inputs": sorted(set(inputs) | set(carried_inputs)),
        "columns": {column: sorted(list(s) for s in sources) for column, sources in flows.items() if sources},
    }


def merge_carried(new: dict[str, Any], old: Mapping[str, Any]) -> dict[str, Any]:
    """What a table carries after a write: never less than before (older versions stay readable by time travel)."""
    columns = {c: {tuple(s) for s in srcs} for c, srcs in old.get("columns", {}).items()}
    for column, sources in new.get("columns", {}).items():
        columns.setdefault(column, set()).update(tuple(s) for s in sources)
    return {"inputs": sorted(set(old.get("inputs", [])) | set(new.get("inputs", []))),
            "columns": {c: sorted(list(s) for s in srcs) for c, srcs in columns.items() if srcs}}


@dataclass(frozen=True)
class Produced:
    """The query a frame came from and the lake tables it read."""

    query: str
    tables: tuple[str, ...]


class FrameLineage:
    """Remembers, while each lives, which query produced the frames ``wb.sql`` returned.

    A snapshot (``clone``: shares the buffers, no copy) is kept beside it, so a frame
    changed in place afterwards (``replace_column``, ``df[...] = ...``) no longer counts as
    that query's result and falls back to the whole-table rule.
    """

    def __init__(self) -> None:
        self._frames: dict[int, tuple[pl.DataFrame, Produced]] = {}

    def remember(self, frame: pl.DataFrame, produced: Produced) -> None:
        key = id(frame)
        self._frames[key] = (frame.clone(), produced)
        weakref.finalize(frame, self._frames.pop, key, None)

    def of(self, data: object) -> Produced | None:
        entry = self._frames.get(id(data))
        if entry is None or not isinstance(data, pl.DataFrame):
            return None
        snapshot, produced = entry
        same = snapshot.schema == data.schema and snapshot.height == data.height and snapshot.equals(data)
        return produced if same else None
