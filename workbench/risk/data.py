"""Reading model input: files or lake tables checked row by row, and the provenance of what was read.

Training and scoring read through the same contract (``workbench.lake.contracts``), so a
value that would be rejected at scoring time is never learned from, and a bad row names
its id, field and rule instead of failing the whole file. Lake tables are read through a
session (the one gate for data), which also reports the Delta versions read.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import polars as pl
import pyarrow as pa

from workbench.errors import WorkbenchError
from workbench.session import Session
from workbench.lake.contracts import Contract, Rejection
from workbench.risk.specs import LakeData, ModelSpec


RESULTS = "curated.clearance_results"
"""Officers' decisions on queued records (written by the clearance app, through the officer's session)."""
HITS = ("discrepancy", "seizure")
"""Inspection results that are hits."""


class MissingColumns(WorkbenchError):
    """A file lacks columns the model needs; nothing in it can be scored."""

    def __init__(self, source: str, columns: list[str]) -> None:
        self.source, self.columns = source, columns
        super().__init__(f"{source}: missing required column(s) {', '.join(repr(c) for c in columns)}")


@dataclass(frozen=True)
class CheckedFrame:
    """Rows that passed the contract (typed) and the rows that did not (with reasons)."""

    rows: pd.DataFrame
    rejections: list[Rejection]
    typed: pa.Table | None = None
    """The same rows as the contract typed them, in Arrow (``records()``); set by ``check_frame``."""

    def records(self) -> list[dict[str, Any]]:
        """The rows as plain typed values (str, float, int, datetime, None): what ``risk.online`` scores."""
        assert self.typed is not None, "rows checked elsewhere than check_frame"
        return self.typed.to_pylist()


@dataclass(frozen=True)
class DataFile:
    """One file a training run read: enough to tell later whether the data changed."""

    role: str
    path: str
    sha256: str
    rows: int


def sha256(path: Path) -> str:
    """Content hash of a file, read in chunks (CSV files may be large)."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_frame(raw: pl.DataFrame, spec: ModelSpec, source: str, with_label: bool = False) -> CheckedFrame:
    """Type and rule-check raw string columns; a missing required column raises ``MissingColumns``."""
    table = spec.input_table(with_label=with_label)
    required = [c for c, col in table.columns.items() if not col.nullable]
    missing = [c for c in required if c not in raw.columns]
    if missing:
        raise MissingColumns(source, missing)
    present = raw.select([c for c in table.columns if c in raw.columns])
    good, rejections = Contract(table).split(present.to_arrow())
    return CheckedFrame(good.to_pandas(), rejections, good)


def read_csv(path: Path, spec: ModelSpec, with_label: bool = False) -> CheckedFrame:
    """Read a CSV shaped like the model's input; every value starts as text so nothing is guessed."""
    if not path.is_file():
        raise WorkbenchError(f"{path}: no such file")
    raw = pl.read_csv(path, infer_schema=False, null_values=[""])
    return check_frame(raw, spec, str(path), with_label=with_label)


@dataclass(frozen=True)
class LakeRows:
    """Checked rows of a lake table with the derived label (NaN where unlabelled) and the versions read."""

    checked: CheckedFrame
    versions: dict[str, int]


def _quoted(column: str) -> str:
    return '"' + column.replace('"', '""') + '"'


def lake_query(spec: ModelSpec, table: str, with_label: bool, window: bool = False, as_of: bool = False,
               results: bool = False) -> str:
    """SQL selecting the model's input columns from ``table``; for training also the derived label, oldest first.

    ``window`` restricts rows to ``$since <= date < $until`` (monitoring reads recent rows
    with their outcomes so far, the label being NULL until an inspection result arrives).
    ``as_of`` restricts training rows to ``date < $as_of`` (a training snapshot: see ``read_lake``).
    ``results``: an officer's inspection result in ``curated.clearance_results`` is the
    record's label where there is one (the live loop's outcomes feed back into training).
    """
    columns = [f"t.{_quoted(c)}" for c in spec.input.columns]
    date = f"t.{_quoted(spec.model.date)}"
    where = [f"{date} >= $since AND {date} < $until"] if window else []
    if as_of:
        where.append(f"{date} < $as_of")
    if not with_label:
        return f"SELECT {', '.join(columns)} FROM {table} t" + (f" WHERE {' AND '.join(where)}" if where else "")
    data = spec.data
    assert isinstance(data, LakeData), "a label can only be derived for a lake data source"
    source = f"{table} t"
    label = (f"CASE WHEN t.{_quoted(data.labelled)} THEN CAST(list_contains($positive, "
             f"t.{_quoted(data.outcome)}) AS BIGINT) END")
    if results:
        source += (f" LEFT JOIN (SELECT record_id, result FROM {RESULTS} WHERE decision = 'inspect' AND result IS NOT "
                   f"NULL) r ON r.record_id = CAST(t.{_quoted(spec.model.id)} AS VARCHAR)")
        label = f"CASE WHEN r.result IS NOT NULL THEN CAST(list_contains($positive, r.result) AS BIGINT) ELSE {label} END"
    columns.append(f"{label} AS {_quoted(spec.model.label)}")
    if data.train_from and not window:
        where.append(f"{date} >= $train_from")
    return f"SELECT {', '.join(columns)} FROM {source}{' WHERE ' + ' AND '.join(where) if where else ''} ORDER BY {date}"


def _has_results(session: Session) -> bool:
    """Whether officers' results exist and this session may read them (labels then come from them too)."""
    return RESULTS in set(session.tables()["name"].to_list())


def training_params(spec: ModelSpec, as_of: datetime | None = None) -> dict[str, object]:
    """The parameters of ``lake_query(spec, ..., with_label=True, as_of=as_of is not None)``."""
    data = spec.data
    assert isinstance(data, LakeData), "training parameters are for a lake data source"
    params: dict[str, object] = {"positive": list(data.positive)}
    if data.train_from:
        params["train_from"] = data.train_from
    if as_of is not None:
        params["as_of"] = as_of
    return params


def snapshot_digest(session: Session, spec: ModelSpec, as_of: datetime | None = None) -> str:
    """A digest of the rows ``read_lake(session, spec, as_of)`` reads: their count and an order-free hash of their
    content. Same digest, same training data, whatever commits (a live feed's, compaction) moved the table's
    version meanwhile."""
    data = spec.data
    assert isinstance(data, LakeData), "a snapshot digest needs a lake data source"
    query = lake_query(spec, data.table, with_label=True, as_of=as_of is not None, results=_has_results(session))
    found = session.sql(f"SELECT count(*) AS n, bit_xor(hash(q)) AS h FROM ({query}) q", training_params(spec, as_of))
    return f"{found['n'][0]}:{found['h'][0]}"


def read_lake(session: Session, spec: ModelSpec, as_of: datetime | None = None) -> LakeRows:
    """Read the training rows of a lake spec through ``session``; rows breaking the input contract are set aside.

    ``as_of`` cuts a training snapshot: only rows dated before it. With a live feed the
    table changes every second; the rows before a past instant change only when something
    about them changes (a late inspection result), so a snapshot can be compared between runs.
    Officers' results (``curated.clearance_results``) label the records they decided.
    """
    data = spec.data
    assert isinstance(data, LakeData), "read_lake needs a lake data source"
    query = lake_query(spec, data.table, with_label=True, as_of=as_of is not None, results=_has_results(session))
    versions = session.engine.versions(query)
    raw = session.sql(query, training_params(spec, as_of))
    return LakeRows(check_frame(raw, spec, data.table, with_label=True), versions)


def read_window(session: Session, spec: ModelSpec, since: date, until: date, table: str | None = None) -> LakeRows:
    """Checked rows of a lake spec's table dated ``since <= date < until``, with the label as known so far.

    The label is NaN until an inspection result arrives, so the same read serves drift
    (inputs) and realised hit rates (outcomes). ``table`` overrides the spec's table.
    """
    data = spec.data
    if not isinstance(data, LakeData):
        raise WorkbenchError(f"model {spec.name!r} reads CSV files: monitoring and selection need a lake table")
    query = lake_query(spec, table or data.table, with_label=True, window=True, results=_has_results(session))
    params: dict[str, object] = {"positive": list(data.positive), "since": since, "until": until}
    raw = session.sql(query, params)
    return LakeRows(check_frame(raw, spec, table or data.table, with_label=True), session.engine.versions(query))


def last_day(session: Session, spec: ModelSpec) -> date | None:
    """The latest date in a lake spec's table (None when empty): where "recent" ends for monitoring."""
    assert isinstance(spec.data, LakeData), "last_day needs a lake data source"
    found = session.sql(f"SELECT CAST(max({_quoted(spec.model.date)}) AS DATE) AS day FROM {spec.data.table}")["day"][0]
    return found
