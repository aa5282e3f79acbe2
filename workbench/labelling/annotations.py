"""Writing and reading analysts' annotations: entity spans in documents, labels of documents and declarations.

Annotations are append-only rows with who and when (``curated.annotation_spans``,
``curated.annotation_labels``, specs in ``tables.toml``): a correction is a newer row, so
the history of every decision stays in the lake and two analysts never overwrite each
other's commit. Readers take the latest row per span or per (target, task).

Every write goes through the analyst's ``Session`` (role-checked and audited there) after
validation against the lake itself: the document or declaration must exist, offsets must
fall inside the text, ``surface`` must equal ``text[start:end]``. Offsets count Unicode
code points (Python ``str`` indices), so CJK and astral characters are one each; the
browser converts its UTF-16 offsets before they get here.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import polars as pl

from workbench.errors import ContractViolation
from workbench.session import Session
from workbench.lake.lake import WriteResult
from workbench.lake.specs import standard_specs

SPANS = "curated.annotation_spans"
LABELS = "curated.annotation_labels"
DOCUMENTS = "documents.index"
DECLARATIONS = "curated.declarations"
MENTIONS = "curated.document_mentions"

_SPECS = standard_specs()
NER_LABELS: tuple[str, ...] = _SPECS[SPANS].columns["label"].isin or ()
"""The entity labels analysts may give a span (the spec's ``isin``, one source of truth)."""

TASK_VALUES: dict[str, tuple[str, ...]] = {
    "topic": ("drugs", "tobacco", "counterfeit", "endangered_species", "cash", "fuel", "other"),
    "priority": ("high", "medium", "low"),
    "risk": ("suspicious", "clear"),
}
"""Which values each labelling task takes (all of them are in the spec's ``value`` isin)."""

TASK_TARGETS: dict[str, str] = {"topic": "document", "priority": "document", "risk": "declaration"}
"""The kind of thing each task labels."""

SPAN_SCHEMA = {"doc_id": pl.Utf8, "start": pl.Int32, "end": pl.Int32, "label": pl.Utf8, "surface": pl.Utf8,
               "annotator": pl.Utf8, "annotated_at": pl.Datetime("us")}
LABEL_SCHEMA = {"target_kind": pl.Utf8, "target_id": pl.Utf8, "value": pl.Utf8, "note": pl.Utf8,
                "annotator": pl.Utf8, "labelled_at": pl.Datetime("us")}


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _readable(wb: Session, name: str) -> bool:
    return name in set(wb.tables()["name"].to_list())


def document_text(wb: Session, doc_id: str) -> str:
    """The extracted text of one document; ``ContractViolation`` when the documents zone has no such id."""
    rows = wb.sql(f"SELECT text FROM {DOCUMENTS} WHERE doc_id = $d", {"d": doc_id})  # the session checks the role
    if not rows.height:
        raise ContractViolation(SPANS, doc_id, "doc_id", f"must name a document in {DOCUMENTS}", doc_id)
    return rows["text"][0] or ""


def check_span(text: str, doc_id: str, start: int, end: int, label: str, surface: str | None = None) -> str:
    """The span's surface ``text[start:end]`` once offsets, label and any given surface pass their rules."""
    record = f"{doc_id}[{start}:{end}]"
    if label not in NER_LABELS:
        raise ContractViolation(SPANS, record, "label", f"one of {', '.join(NER_LABELS)}", label)
    if not 0 <= start < end <= len(text):
        raise ContractViolation(SPANS, record, "start/end", f"0 <= start < end <= {len(text)} (text length)",
                                (start, end))
    found = text[start:end]
    if not found.strip():
        raise ContractViolation(SPANS, record, "surface", "a span must contain more than white space", found)
    if surface is not None and surface != found:
        raise ContractViolation(SPANS, record, "surface", f"must equal text[start:end] = {found!r}", surface)
    return found


def annotate_span(wb: Session, doc_id: str, start: int, end: int, label: str, action: str = "add",
                  surface: str | None = None) -> WriteResult:
    """Append one span decision (``add`` or ``remove``) by ``wb.user``, validated against the document's text."""
    if action not in ("add", "remove"):
        raise ContractViolation(SPANS, doc_id, "action", "add or remove", action)
    found = check_span(document_text(wb, doc_id), doc_id, start, end, label, surface)
    row = pl.DataFrame([{"annotation_id": uuid.uuid4().hex, "doc_id": doc_id, "start": start, "end": end,
                         "label": label, "surface": found, "action": action, "annotator": wb.user,
                         "annotated_at": _now()}],
                       schema={"annotation_id": pl.Utf8, "doc_id": pl.Utf8, "start": pl.Int64, "end": pl.Int64,
                               "label": pl.Utf8, "surface": pl.Utf8, "action": pl.Utf8, "annotator": pl.Utf8,
                               "annotated_at": pl.Datetime("us")})
    return wb.write(row, SPANS, mode="append", description=_SPECS[SPANS].description)


def _target_exists(wb: Session, kind: str, target_id: str) -> bool:
    table, key = (DOCUMENTS, "doc_id") if kind == "document" else (DECLARATIONS, "declaration_id")
    return wb.sql(f"SELECT count(*) FROM {table} WHERE {key} = $i", {"i": target_id}).item() > 0


def label_target(wb: Session, task: str, target_id: str, value: str, note: str | None = None) -> WriteResult:
    """Append one label by ``wb.user``: a document's topic or priority, or a declaration's risk (with a note)."""
    if task not in TASK_VALUES:
        raise ContractViolation(LABELS, target_id, "task", f"one of {', '.join(TASK_VALUES)}", task)
    if value not in TASK_VALUES[task]:
        raise ContractViolation(LABELS, target_id, "value", f"for {task}: one of {', '.join(TASK_VALUES[task])}", value)
    kind = TASK_TARGETS[task]
    if not _target_exists(wb, kind, target_id):
        table = DOCUMENTS if kind == "document" else DECLARATIONS
        raise ContractViolation(LABELS, target_id, "target_id", f"must name a {kind} in {table}", target_id)
    row = pl.DataFrame([{"label_id": uuid.uuid4().hex, "target_kind": kind, "target_id": target_id, "task": task,
                         "value": value, "note": (note or "").strip() or None, "annotator": wb.user,
                         "labelled_at": _now()}],
                       schema={"label_id": pl.Utf8, "target_kind": pl.Utf8, "target_id": pl.Utf8, "task": pl.Utf8,
                               "value": pl.Utf8, "note": pl.Utf8, "annotator": pl.Utf8,
                               "labelled_at": pl.Datetime("us")})
    return wb.write(row, LABELS, mode="append", description=_SPECS[LABELS].description)


def _latest_span_actions(wb: Session, doc_id: str | None = None) -> pl.DataFrame:
    """The latest decision per (doc_id, start, end, label), with its action; empty when nothing was annotated."""
    if not _readable(wb, SPANS):
        return pl.DataFrame(schema={**SPAN_SCHEMA, "action": pl.Utf8})
    where = "WHERE doc_id = $d" if doc_id is not None else ""
    frame = wb.sql(f"""SELECT doc_id, start, "end", label, surface, annotator, annotated_at, action
        FROM {SPANS} {where}
        QUALIFY row_number() OVER (PARTITION BY doc_id, start, "end", label
                                   ORDER BY annotated_at DESC, annotation_id DESC) = 1
        ORDER BY doc_id, start, "end", label""", {"d": doc_id} if doc_id is not None else None)
    return frame.with_columns(pl.col("start", "end").cast(pl.Int32))


def effective_span_annotations(wb: Session) -> pl.DataFrame:
    """Spans analysts currently assert: each span's latest action is ``add`` (a later ``remove`` withdraws it).

    Columns ``doc_id, start, end (Int32, code points), label, surface, annotator, annotated_at``;
    empty (same columns) when nothing was annotated yet. For the NLP training set.
    """
    return _latest_span_actions(wb).filter(pl.col("action") == "add").select(list(SPAN_SCHEMA))


def rejected_spans(wb: Session) -> pl.DataFrame:
    """Spans whose latest action is ``remove``: predictions analysts marked wrong (same columns as the effective set)."""
    return _latest_span_actions(wb).filter(pl.col("action") == "remove").select(list(SPAN_SCHEMA))


def document_labels(wb: Session, task: str) -> pl.DataFrame:
    """The latest label of every target for ``task`` (topic, priority or risk).

    Columns ``target_kind, target_id, value, note, annotator, labelled_at``; empty when none.
    """
    if task not in TASK_VALUES:
        raise ValueError(f"task must be one of {', '.join(TASK_VALUES)}, not {task!r}")
    if not _readable(wb, LABELS):
        return pl.DataFrame(schema=LABEL_SCHEMA)
    return wb.sql(f"""SELECT target_kind, target_id, value, note, annotator, labelled_at FROM {LABELS}
        WHERE task = $task
        QUALIFY row_number() OVER (PARTITION BY target_kind, target_id ORDER BY labelled_at DESC, label_id DESC) = 1
        ORDER BY target_kind, target_id""", {"task": task})


def document_spans(wb: Session, doc_id: str) -> pl.DataFrame:
    """What the labelling view shows for one document: predicted and analysts' spans, minus withdrawn ones.

    Columns ``start, end, label, surface, origin`` (``model`` from ``curated.document_mentions``
    when that table exists, ``analyst`` for effective annotations), ordered by position.
    """
    decided = _latest_span_actions(wb, doc_id)
    keys = ["start", "end", "label"]
    analyst = decided.filter(pl.col("action") == "add").select(*keys, "surface", pl.lit("analyst").alias("origin"))
    frames = [analyst]
    if _readable(wb, MENTIONS):
        model = wb.sql(f'SELECT start, "end", label, text AS surface FROM {MENTIONS} WHERE doc_id = $d', {"d": doc_id})
        model = model.with_columns(pl.col("start", "end").cast(pl.Int32), pl.lit("model").alias("origin"))
        frames.append(model.join(decided.select(keys), on=keys, how="anti"))
    return pl.concat(frames).unique(keys, keep="first", maintain_order=True).sort("start", "end", "label")
