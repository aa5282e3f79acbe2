"""Table contracts: split a batch into rows that may land and rejections with reasons.

A ``TableSpec`` is compiled once into a pandera (Polars backend) schema for the value
rules. Two checks pandera cannot do per row on a stream are done here: coercion (a value
that does not parse as the column's type rejects its row, not the whole batch) and key
uniqueness across batches and against rows already in the table (``KeyLedger``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandera.polars as pa_pl
import polars as pl
import pyarrow as pa
from pandera.api.polars.types import PolarsData
from pandera.backends.polars import builtin_checks  # noqa: F401 - registers the checks' Polars implementations
from pandera.backends.polars.checks import PolarsCheckBackend
from pandera.constants import CHECK_OUTPUT_KEY
from pandera.errors import SchemaErrors

from workbench.lake.specs import ColumnSpec, TableSpec

POLARS_TYPES: dict[str, pl.DataType] = {
    "string": pl.String(),
    "int64": pl.Int64(),
    "float64": pl.Float64(),
    "bool": pl.Boolean(),
    "date": pl.Date(),
    "timestamp": pl.Datetime("us"),
}

_TIME_FORMATS = ("%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S",
                 "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d")
"""ISO forms a text date or timestamp may take. Each value is tried against every form,
never against one form guessed from the first value (a first value such as "yesterday"
would otherwise fail the whole batch instead of its one row)."""

_TRUE = ("true", "t", "yes", "y", "1")
_FALSE = ("false", "f", "no", "n", "0")


@dataclass(frozen=True)
class Rejection:
    """Why one record was kept out of a table: which record, which field, which rule."""

    table: str
    record: str
    field: str
    rule: str
    value: str | None
    payload: str
    also: tuple[str, ...] = ()
    """Further (field: rule) failures of the same record, so one fix round fixes all."""

    @property
    def reason(self) -> str:
        more = f"; also {'; '.join(self.also)}" if self.also else ""
        return f"record {self.record}: field {self.field!r} breaks rule {self.rule} (value {self.value!r}){more}"


def _checks(spec: ColumnSpec) -> list[pa_pl.Check]:
    checks = []
    if spec.min is not None:
        checks.append(pa_pl.Check.ge(spec.min))
    if spec.max is not None:
        checks.append(pa_pl.Check.le(spec.max))
    if spec.isin is not None:
        checks.append(pa_pl.Check.isin(list(spec.isin)))
    if spec.pattern is not None:
        checks.append(pa_pl.Check.str_matches(spec.pattern))
    return checks


def compile_schema(table: TableSpec) -> pa_pl.DataFrameSchema:
    """The pandera schema for a spec's value rules (types are already coerced)."""
    return pa_pl.DataFrameSchema(
        {
            name: pa_pl.Column(
                POLARS_TYPES[col.type],
                checks=_checks(col),
                nullable=col.nullable and name not in table.key,
            )
            for name, col in table.columns.items()
        },
        strict=False,
    )


def breaks_a_rule(schema: pa_pl.DataFrameSchema, frame: pl.DataFrame) -> bool:
    """Whether any row of ``frame`` breaks a value rule of ``schema``: one parallel Polars query.

    ``validate(lazy=True)`` runs every check, and every column's null and type check, as a
    query of its own: 69 of them a batch for the ingest benchmark's 8 columns, about 20 ms
    whatever the batch's size, which made the contract cost more than the Delta write. The
    schema's own checks run here through pandera's check backend (so the rules mean what
    they mean to pandera, nulls included), all in one ``collect_all``; only a batch that
    breaks one goes on to ``validate`` for its failure cases. Types need no check: the
    frame was built with the spec's types (``Contract.split``).
    """
    lazy = frame.lazy()
    verdict = pl.col(CHECK_OUTPUT_KEY)
    queries = [lazy.select(pl.col(name).is_null().any()) for name, column in schema.columns.items()
               if not column.nullable]
    for name, column in schema.columns.items():
        for check in column.checks:
            output = PolarsCheckBackend(check).apply(PolarsData(lazy, name))
            if isinstance(output, bool):
                if not output:
                    return True
                continue
            passed = (verdict | verdict.is_null()) if check.ignore_na else verdict.fill_null(False)
            queries.append(output.select(passed.all().not_()))
    return any(bool(result.item()) for result in pl.collect_all(queries))


def _coerce(series: pl.Series, target: str) -> pl.Series:
    """Cast leniently: values that do not parse become null (and are then caught)."""
    dtype = POLARS_TYPES[target]
    if series.dtype == dtype:
        return series
    if series.dtype == pl.String:
        text = series.str.strip_chars()
        if target == "bool":
            lowered = text.str.to_lowercase()
            parsed = pl.when(lowered.is_in(_TRUE)).then(True).when(lowered.is_in(_FALSE)).then(False)
            return pl.select(parsed).to_series().alias(series.name)
        if target in ("date", "timestamp"):
            stamps = [text.str.to_datetime(f, strict=False, time_unit="us") for f in _TIME_FORMATS]
            stamp = pl.select(pl.coalesce(stamps)).to_series()
            return (stamp.dt.date() if target == "date" else stamp).alias(series.name)
        return text.cast(dtype, strict=False)
    return series.cast(dtype, strict=False)


class KeyLedger:
    """Remembers the keys a write has accepted so far, as 64-bit hashes.

    A Python set of ten million composite keys would cost gigabytes; int64 hashes cost
    80 MB. They are kept as a few sorted runs (see ``_remember``), so checking a batch costs
    a binary search per run instead of re-sorting everything seen. Two
    distinct keys sharing a hash is possible but at 10^7 keys the chance is about 10^-5
    per write; such a row is quarantined as a duplicate, never lost.
    """


    def __init__(self, key: tuple[str, ...]) -> None:
        self.key = key
        self._runs: list[np.ndarray] = []

    def hashes(self, frame: pl.DataFrame) -> np.ndarray:
        cols = [pl.col(k).cast(pl.String) for k in self.key]
        return frame.select(pl.struct(cols).hash(seed=7)).to_series().to_numpy()

    def _remember(self, sorted_unique: np.ndarray) -> None:
        """Add a run, merging the newest runs while the older is at most twice the newer's size.

        Like a binary counter (or an LSM tree): about log2(batches) runs remain to search,
        and each key is merged about log2(batches) times.
        """
        self._runs.append(sorted_unique)
        while len(self._runs) > 1 and len(self._runs[-2]) <= 2 * len(self._runs[-1]):
            newer = self._runs.pop()
            merged = np.concatenate([self._runs.pop(), newer])
            merged.sort(kind="stable")  # timsort: a linear merge of two sorted runs
            self._runs.append(merged)

    def _seen(self, hashes: np.ndarray) -> np.ndarray:
        """Which of ``hashes`` (sorted, so numpy's binary search walks each run in order) were seen."""
        seen = np.zeros(len(hashes), dtype=bool)
        for run in self._runs:
            if len(run):
                pos = np.minimum(np.searchsorted(run, hashes), len(run) - 1)
                seen |= run[pos] == hashes
        return seen

    def add_existing(self, frame: pl.DataFrame) -> None:
        self._remember(pl.Series(self.hashes(frame)).unique().sort().to_numpy())

    def admit(self, frame: pl.DataFrame) -> np.ndarray:
        """Mark which rows carry a key seen before (in this batch or earlier) and record the rest.

        The first occurrence of a key in the batch is the one kept. Polars finds first
        occurrences by hashing and sorts in parallel; a stable numpy argsort of the whole
        batch did both in one step but took twice the time on a million keys.
        """
        hashes = pl.Series(self.hashes(frame))
        first = hashes.is_first_distinct().to_numpy()
        fresh = hashes.filter(first).sort().to_numpy()
        seen = self._seen(fresh)
        duplicate = ~first
        if seen.any():
            duplicate |= np.isin(hashes.to_numpy(), fresh[seen])
        self._remember(fresh[~seen])
        return duplicate


class Contract:
    """Checks batches for one table; ``split`` never raises on bad rows."""

    def __init__(self, table: TableSpec) -> None:
        self.table = table
        self.schema = compile_schema(table)
        self.arrow_schema = table.arrow_schema()
        self.keys = KeyLedger(table.key) if table.key else None

    def _record_label(self, frame: pl.DataFrame, row: int, offset: int) -> str:
        if self.table.key:
            values = [frame[k][row] for k in self.table.key]
            if all(v is not None for v in values):
                return ",".join(f"{k}={v}" for k, v in zip(self.table.key, values, strict=True))
        return f"#{offset + row}"

    def split(self, batch: pa.RecordBatch | pa.Table, offset: int = 0) -> tuple[pa.Table, list[Rejection]]:
        """Return (conforming rows cast to the spec's schema, rejections); ``offset`` numbers rows."""
        raw = pl.from_arrow(batch)
        assert isinstance(raw, pl.DataFrame)
        problems: dict[int, list[tuple[str, str, object]]] = {}

        def flag(rows: Iterable[int], field: str, rule: str, values: pl.Series | None = None) -> None:
            for i, row in enumerate(rows):
                found = problems.setdefault(row, [])
                if all(f != field for f, _, _ in found):  # a value that failed to parse is also "missing"
                    found.append((field, rule, None if values is None else values[i]))

        columns: dict[str, pl.Series] = {}
        as_sent = True  # every column arrived with its type: the source batch can land as it is
        for name, col in self.table.columns.items():
            if name not in raw.columns:
                as_sent = False
                series = pl.Series(name, [None] * raw.height, dtype=POLARS_TYPES[col.type])
                if not (col.nullable and name not in self.table.key):
                    flag(range(raw.height), name, "column present")
            else:
                original = raw[name]
                series = _coerce(original, col.type)
                # a column sent with its type has nothing that failed to parse: not asking saves five Polars
                # queries a column, most of the contract's time on the live loop's batches of a few rows
                if series is not original:
                    as_sent = False
                    bad = (series.is_null() & original.is_not_null()).arg_true()
                    flag(bad.to_list(), name, f"type {col.type}", original.gather(bad))
            columns[name] = series.alias(name)
        frame = pl.DataFrame(columns)

        try:
            if breaks_a_rule(self.schema, frame):
                self.schema.validate(frame, lazy=True)
        except SchemaErrors as exc:
            cases = exc.failure_cases.filter(pl.col("index").is_not_null()).sort("index")
            for row, field, rule, value in cases.select("index", "column", "check", "failure_case").iter_rows():
                flag([row], field, "required" if rule == "not_nullable" else rule, pl.Series([value]))

        if self.keys is not None:
            clean = np.ones(frame.height, dtype=bool)
            clean[list(problems)] = False
            dup = np.zeros(frame.height, dtype=bool)
            dup[clean] = self.keys.admit(frame.filter(pl.Series(clean)))
            dup_rows = np.flatnonzero(dup)
            key_values = frame[dup_rows.tolist()].select(
                pl.concat_str([pl.col(k).cast(pl.String) for k in self.table.key], separator=",")
            ).to_series()
            flag(dup_rows.tolist(), ",".join(self.table.key), "unique key", key_values)

        rejections = [
            Rejection(
                table=self.table.name,
                record=self._record_label(frame, row, offset),
                field=found[0][0],
                rule=found[0][1],
                value=None if found[0][2] is None else str(found[0][2]),
                payload=json.dumps(raw.row(row, named=True), default=str, ensure_ascii=False),
                also=tuple(f"{f}: {r}" for f, r, _ in found[1:]),
            )
            for row, found in sorted(problems.items())
        ]
        if as_sent and not problems:  # skips a copy of the whole batch, a fifth of the contract's time
            source = pa.Table.from_batches([batch]) if isinstance(batch, pa.RecordBatch) else batch
            return source.select(list(self.table.columns)).cast(self.arrow_schema), rejections
        keep = np.ones(frame.height, dtype=bool)
        keep[list(problems)] = False
        good = frame.filter(pl.Series(keep)).to_arrow().cast(self.arrow_schema)
        return good, rejections
