"""The live feed: new declarations, manifests and crossings keep arriving in the demo's source systems.

``workbench demo feed`` publishes records into the PostgreSQL that ``publish-sources``
filled, at a steady rate (``rate`` records a second, in commits of ``burst``), so the
followers (``workbench ingest run --follow``), the live scorer and the officers' queue have
something to do. Records come from the same world: each is a fresh copy of a record the
world already holds (a random template: the same traders, brokers, vehicles, drivers and
routes), lodged now under a new id, with its weight and value moved by up to 10%. Drawing
templates uniformly keeps the world's rates: a copy of an illicit record is illicit (and
its truth goes to ``truth.*`` through ``truth``, for scoring only); nothing is inspected
yet, so outcomes stay unknown until an officer inspects.

Pause it without stopping it by creating the pause file (``Feed.pause_file``: ``touch
var/sources/feed.paused``); it resumes when the file is gone.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pyarrow as pa

from workbench.lake import Lake, Lineage

TEMPLATES = 4000
"""Records of each kind sampled from the world as templates (a uniform sample keeps its rates)."""
DECLARATIONS, MANIFESTS, CROSSINGS = "tdec.declarations", "tdec.manifests", "lbs.crossings"


@dataclass
class FeedBatch:
    """What one commit of the feed published: ids per source table, and which are illicit (with the scheme)."""

    at: datetime
    ids: dict[str, list[str]] = field(default_factory=dict)
    illicit: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def records(self) -> int:
        return sum(len(v) for k, v in self.ids.items() if k != MANIFESTS)


class Feed:
    """Publishes copies of the world's records into its source database (see the module docstring)."""

    def __init__(self, db_url: str, illicit: dict[str, dict[str, str]] | None = None, seed: int = 0,
                 folder: Path | None = None) -> None:
        """``illicit``: the world's truth per source table (``tdec.declarations`` / ``lbs.crossings``: id -> scheme)."""
        self.db_url, self.illicit = db_url, illicit or {}
        self.random = random.Random(seed)
        self.pause_file = (folder or Path(".")) / "feed.paused"
        with psycopg.connect(db_url) as conn:
            self.templates = {table: self._sample(conn, table) for table in (DECLARATIONS, CROSSINGS)}
            ids = [row["manifest_id"] for row in self.templates[DECLARATIONS]]
            self.manifests = {row["manifest_id"]: row for row in self._rows(
                conn, f"SELECT * FROM {MANIFESTS} WHERE manifest_id = ANY(%s)", (ids,))}
            self.next_id = {table: self._max_number(conn, table, column) + 1 for table, column in
                            ((DECLARATIONS, "declaration_id"), (CROSSINGS, "crossing_id"), (MANIFESTS, "manifest_id"))}
            counts = {t: int(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]) for t in (DECLARATIONS, CROSSINGS)}
        self.routes: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for row in self.templates[DECLARATIONS]:
            self.routes.setdefault((row["mode"], row["port_code"]), []).append(row)
        self.crossing_share = counts[CROSSINGS] / max(1, sum(counts.values()))

    @staticmethod
    def _rows(conn: psycopg.Connection, query: str, params: Any = None) -> list[dict[str, Any]]:
        with conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
            cur.execute(query, params)
            return [{k: v for k, v in row.items() if k != "updated_at"} for row in cur.fetchall()]

    def _sample(self, conn: psycopg.Connection, table: str) -> list[dict[str, Any]]:
        conn.execute("SELECT setseed(%s)", (self.random.random() * 2 - 1,))
        rows = self._rows(conn, f"SELECT * FROM {table} ORDER BY random() LIMIT %s", (TEMPLATES,))
        if not rows:
            raise ValueError(f"{table} is empty: publish the world first (workbench demo publish-sources)")
        return rows

    @staticmethod
    def _max_number(conn: psycopg.Connection, table: str, column: str) -> int:
        found = conn.execute(f"SELECT max(substr({column}, 2)::bigint) FROM {table}").fetchone()
        return int(found[0] or 0) if found else 0

    def _new_id(self, table: str, prefix: str, digits: int) -> str:
        number = self.next_id[table]
        self.next_id[table] += 1
        return f"{prefix}{number:0{digits}d}"

    def _jitter(self, value: float | None) -> float | None:
        return None if value is None else round(value * self.random.uniform(0.9, 1.1), 2)

    def _declarations(self, now: datetime, count: int, out: FeedBatch) -> list[tuple[str, dict[str, Any]]]:
        template = self.random.choice(self.templates[DECLARATIONS])
        manifest = {**self.manifests.get(template["manifest_id"], {}),
                    "manifest_id": self._new_id(MANIFESTS, "M", 13), "arrival_on": now.date(), "line_count": count}
        rows: list[tuple[str, dict[str, Any]]] = [(MANIFESTS, manifest)] if len(manifest) > 4 else []
        alike = self.routes[template["mode"], template["port_code"]]  # lines of one manifest share its route
        for i in range(count):
            source = template if i == 0 else self.random.choice(alike)
            row = {**source, "declaration_id": self._new_id(DECLARATIONS, "D", 10), "lodged_at": now,
                   "quantity": self._jitter(source["quantity"]), "gross_weight_kg": self._jitter(source["gross_weight_kg"]),
                   "declared_value": self._jitter(source["declared_value"]), "inspected": False,
                   "inspection_result": None}
            if len(rows) and rows[0][0] == MANIFESTS:
                row.update(manifest_id=manifest["manifest_id"], mode=manifest["mode"], port_code=manifest["port_code"],
                           transport_id=manifest["transport_id"])
            self._note(out, DECLARATIONS, source["declaration_id"], row["declaration_id"])
            rows.append((DECLARATIONS, row))
        return rows

    def _crossing(self, now: datetime, out: FeedBatch) -> tuple[str, dict[str, Any]]:
        source = self.random.choice(self.templates[CROSSINGS])
        row = {**source, "crossing_id": self._new_id(CROSSINGS, "X", 10), "crossed_at": now,
               "declared_weight_kg": self._jitter(source["declared_weight_kg"]), "inspected": False,
               "inspection_result": None}
        self._note(out, CROSSINGS, source["crossing_id"], row["crossing_id"])
        return CROSSINGS, row

    def _note(self, out: FeedBatch, table: str, template_id: str, new_id: str) -> None:
        out.ids.setdefault(table, []).append(new_id)
        scheme = self.illicit.get(table, {}).get(template_id)
        if scheme is not None:
            out.illicit.setdefault(table, {})[new_id] = scheme

    def publish(self, count: int, now: datetime | None = None) -> FeedBatch:
        """Publish ``count`` new declarations and crossings (and the manifests they ride on) in one commit."""
        now = now or datetime.now(UTC).replace(tzinfo=None)
        out = FeedBatch(now)
        rows: list[tuple[str, dict[str, Any]]] = []
        crossings = sum(self.random.random() < self.crossing_share for _ in range(count))  # each record's kind
        rows += [self._crossing(now, out) for _ in range(crossings)]
        left = count - crossings
        while left > 0:  # declarations ride on manifests of one to three lines
            lines = min(left, self.random.randint(1, 3))
            rows += self._declarations(now, lines, out)
            left -= lines
        for table, row in rows:
            out.ids.setdefault(table, [])
            if table == MANIFESTS:
                out.ids[MANIFESTS].append(row["manifest_id"])
        self._insert(rows)
        return out

    def publish_crossing(self, now: datetime | None = None, **values: Any) -> FeedBatch:
        """Publish one crossing with ``values`` set (e.g. ``hs_code="93011000"``): a demo's or a test's own case."""
        out = FeedBatch(now or datetime.now(UTC).replace(tzinfo=None))
        table, row = self._crossing(out.at, out)
        row.update(values)
        self._insert([(table, row)])
        return out

    def _insert(self, rows: list[tuple[str, dict[str, Any]]]) -> None:
        """One source commit: what the followers will find together."""
        with psycopg.connect(self.db_url) as conn, conn.cursor() as cur:
            for table, row in rows:
                columns = ", ".join(f'"{c}"' for c in row)
                cur.execute(f"INSERT INTO {table} ({columns}) VALUES ({', '.join(['%s'] * len(row))})",
                            list(row.values()))

    def run(self, rate: float, burst: int = 1, stop: threading.Event | None = None, seconds: float | None = None,
            on_publish: Callable[[FeedBatch], None] = lambda _: None) -> int:
        """Publish ``burst`` records every ``burst / rate`` seconds until ``stop`` or ``seconds``; records published.

        Commits keep to the schedule (a slow commit is caught up, not skipped); while the
        pause file exists nothing is published, and the schedule restarts on resume.
        """
        stop = stop or threading.Event()
        interval, published = burst / rate, 0
        due = time.monotonic()
        deadline = None if seconds is None else due + seconds
        while deadline is None or due < deadline:
            if stop.wait(max(0.0, due - time.monotonic())):
                break
            if self.pause_file.exists():
                stop.wait(0.5)
                due = time.monotonic()
                continue
            batch = self.publish(burst)
            published += batch.records
            on_publish(batch)
            due += interval
        return published


TRUTH_TABLES = {DECLARATIONS: ("truth.illicit_declarations", "declaration_id"),
                CROSSINGS: ("truth.illicit_crossings", "crossing_id")}
"""Where the truth of a source table's records is kept: table and id column."""


def world_illicit(lake: Lake) -> dict[str, dict[str, str]]:
    """The world's illicit records per source table (id -> scheme), from the lake's truth zone (empty without it)."""
    out: dict[str, dict[str, str]] = {}
    for table, (truth, column) in TRUTH_TABLES.items():
        if lake.catalog.entry(truth) is not None:
            frame = lake.small_table(truth)
            out[table] = dict(zip(frame[column].to_list(), frame["scheme"].to_list(), strict=True))
    return out


def record_truth(lake: Lake, published: list[FeedBatch], actor: str = "demo feed") -> int:
    """Merge the truth of published records into ``truth.*`` (scoring only); the rows written."""
    written = 0
    for table, (truth, column) in TRUTH_TABLES.items():
        rows = [{column: i, "scheme": scheme} for batch in published for i, scheme in batch.illicit.get(table, {}).items()]
        if rows:
            written += lake.write(pa.Table.from_pylist(rows, schema=lake.specs[truth].arrow_schema()), truth,
                                  mode="merge", actor=actor, lineage=Lineage("workbench demo feed")).rows_written
    return written
