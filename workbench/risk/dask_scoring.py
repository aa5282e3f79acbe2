"""Batch scoring of a large lake table on a Dask cluster: one task per Delta data file.

``score_table`` streams a table through one process; for tables beyond one machine's
patience this splits the same work by the Parquet files of the table's current Delta
snapshot. The model is scattered to every worker once (``broadcast=True``), not shipped
with each task; each task reads its file's input columns, checks them against the model's
input contract, scores, and returns the scores and any rejections. The client writes what
the tasks return as one streamed commit, so readers never see a half-scored table,
exactly as the single-process path.

Workers read the files directly (no session in a worker), so the session first checks
that its role may read the table and that none of the model's input columns is masked for
it; the read is audited on the client. Tables with deletion vectors or column mapping are
refused: their files alone do not say which rows are live.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import polars as pl
import pyarrow as pa

from workbench.errors import AccessDenied, WorkbenchError
from workbench.explore import Session
from workbench.lake import TableStream
from workbench.lake.contracts import Rejection
from workbench.risk.data import check_frame
from workbench.risk.model import RiskModel
from workbench.risk.scoring import TableScoringReport, model_label
from workbench.risk.specs import LakeData


def score_file_part(uri: str, model: RiskModel, storage_options: dict[str, str], explain_top: float | None,
                    label: str, scored_at: datetime) -> tuple[pa.Table | None, list[Rejection]]:
    """One task: score the rows of one Parquet data file (runs on a worker)."""
    raw = pl.read_parquet(uri, columns=[c for c in model.spec.input.columns], storage_options=storage_options or None)
    checked = check_frame(raw, model.spec, uri)
    if checked.rows.empty:
        return None, checked.rejections
    scores = pl.from_pandas(model.score(checked.rows, explain_top=explain_top)).with_columns(
        pl.lit(label).alias("model"), pl.lit(scored_at).alias("scored_at"))
    return scores.to_arrow(), checked.rejections


def _readable_files(session: Session, source: str, model: RiskModel) -> tuple[list[str], int]:
    """The data files of ``source``'s current snapshot, after the session's access checks."""
    if source not in set(session.tables()["name"].to_list()):
        raise WorkbenchError(f"{source}: no such table, or role {session.role!r} may not read it")
    masked = session.gate.masked(source, list(model.spec.input.columns))
    if masked:
        raise AccessDenied(source, "masked", session.role, reason=f"columns {masked} are masked for this role; "
                           "distributed scoring reads files directly: use score_table")
    delta = session.lake.delta(source)
    protocol = delta.protocol()
    if "deletionVectors" in (protocol.reader_features or []) or "columnMapping" in (protocol.reader_features or []):
        raise WorkbenchError(f"{source}: deletion vectors or column mapping; score it with score_table")
    version = int(delta.version())
    session.audit.record("scan", tables=[source], version=version)
    return list(delta.file_uris()), version


def score_table_dask(session: Session, model: RiskModel, into: str, client: Any, table: str | None = None,
                     model_version: str = "", explain_top: float | None = 0.05,
                     progress: Callable[[int], None] = lambda _: None) -> TableScoringReport:
    """``score_table`` on a Dask ``client``: same output table, one task per data file of ``table``.

    Reasons go to the ``explain_top`` share of each file's highest scores (a file is the
    batch here). Tasks finish in any order; rows are written as they arrive, in one commit.
    """
    spec = model.spec
    source = table or (spec.data.table if isinstance(spec.data, LakeData) else None)
    if source is None:
        raise ValueError(f"model {spec.name!r} has no lake table of its own: name the table to score")
    from distributed import as_completed

    started = time.perf_counter()
    files, version = _readable_files(session, source, model)
    label = model_label(spec, model_version)
    scored_at = datetime.now(UTC).replace(tzinfo=None)
    shared = client.scatter(model, broadcast=True)
    options = dict(session.lake.location.storage_options)
    futures = [client.submit(score_file_part, uri, shared, options, explain_top, label, scored_at, pure=False)
               for uri in files]
    scored, rejections = 0, []

    def batches() -> Iterator[pa.RecordBatch]:
        nonlocal scored
        for future in as_completed(futures):
            part, rejected = future.result()
            rejections.extend(rejected)
            future.release()
            if part is None:
                continue
            scored += part.num_rows
            progress(scored)
            yield from part.to_batches()

    stream = batches()
    first = next(stream, None)
    versions = {source: version}
    if first is not None:
        session.write(TableStream(into, first.schema, itertools.chain([first], stream)), into, mode="overwrite",
                      inputs=versions, description=f"risk scores of {source} by {spec.name} (Dask)")
    return TableScoringReport(source, into, scored, rejections, versions, time.perf_counter() - started)
