"""Queries behind the dashboards: through the session, cached on the versions of the tables read.

A dashboard re-runs the same few aggregates for every visitor and every filter change.
``run_cached`` keys a result on (lake, role, query, params, version of each table read), so
a cached frame is reused until one of those tables gets a new commit, and one role never
sees a frame computed for another (masking differs per role). Cached frames are shared
across browser sessions; callers must treat them as read-only (Polars frames are).
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

import polars as pl

from workbench.session import Session
from workbench.session.session import Params


def missing_tables(wb: Session, names: Iterable[str]) -> list[str]:
    """The tables among ``names`` that are not in the lake or that the session's role may not read.

    Asked before nearly every query of an app, so it asks the catalog's entries and the
    gate only: ``wb.tables()`` also reads each system table's live figures, which was half
    of an officer's queue query on a live lake (9 of 18 ms, measured).
    """
    entries = wb.gate.catalog_entries()
    return [n for n in names if n not in entries or not wb.gate.may_read(n, entries)]


class QueryCache:
    """A small thread-safe LRU of query results."""

    def __init__(self, maxsize: int = 256) -> None:
        self.maxsize = maxsize
        self._items: OrderedDict[tuple[Any, ...], pl.DataFrame] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: tuple[Any, ...]) -> pl.DataFrame | None:
        with self._lock:
            frame = self._items.get(key)
            if frame is not None:
                self._items.move_to_end(key)
                self.hits += 1
            else:
                self.misses += 1
            return frame

    def put(self, key: tuple[Any, ...], frame: pl.DataFrame) -> None:
        with self._lock:
            self._items[key] = frame
            self._items.move_to_end(key)
            while len(self._items) > self.maxsize:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


CACHE = QueryCache()


def run_cached(wb: Session, query: str, tables: Iterable[str], params: Params = None,
               cache: QueryCache = CACHE) -> pl.DataFrame:
    """``wb.sql(query, params)``, reused while every table in ``tables`` stays at the same version.

    ``tables`` must list every table the query reads; the access policy and the audit
    trail apply on a miss (a hit returns what this role was already allowed to read).
    """
    names = tuple(sorted(tables))
    key = (wb.settings.lake, wb.role, query, json.dumps(params, default=str, sort_keys=True),
           tuple(wb.lake.catalog.version(n) for n in names))
    frame = cache.get(key)
    if frame is None:
        frame = wb.sql(query, params)
        cache.put(key, frame)
    return frame
