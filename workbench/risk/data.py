"""Reading model input: files checked row by row, and the provenance of what was read.

Training and scoring read through the same contract (``workbench.lake.contracts``), so a
value that would be rejected at scoring time is never learned from, and a bad row names
its id, field and rule instead of failing the whole file.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import polars as pl

from workbench.errors import WorkbenchError
from workbench.lake.contracts import Contract, Rejection
from workbench.risk.specs import ModelSpec


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
    good, rejections = Contract(table).split(raw.select([c for c in table.columns if c in raw.columns]).to_arrow())
    return CheckedFrame(good.to_pandas(), rejections)


def read_csv(path: Path, spec: ModelSpec, with_label: bool = False) -> CheckedFrame:
    """Read a CSV shaped like the model's input; every value starts as text so nothing is guessed."""
    if not path.is_file():
        raise WorkbenchError(f"{path}: no such file")
    raw = pl.read_csv(path, infer_schema=False, null_values=[""])
    return check_frame(raw, spec, str(path), with_label=with_label)
