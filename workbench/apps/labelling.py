"""The analysts' labelling app: entity spans in documents, document topic and priority, declaration risk.

An analyst picks a document from ``documents.index``, sees its text with the spans the
NLP predicted (``curated.document_mentions``, when built) and those analysts added,
selects a span with the mouse and gives it an NER label, or removes a wrong span; labels
the document's topic and priority; and labels a declaration suspicious or clear with a
note. Everything is written by ``workbench.labelling`` through the viewer's session (role
checks and audit there), appended with who and when; a refused or invalid annotation
shows the reason and writes nothing.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from workbench.apps.queries import missing_tables, run_cached
from workbench.errors import WorkbenchError
from workbench.session import Session
from workbench.labelling import NER_LABELS, TASK_VALUES, annotate_span, document_labels, document_spans, label_target
from workbench.labelling.annotations import DECLARATIONS, DOCUMENTS, document_text

DOCUMENT_LIST_SQL = f"SELECT doc_id, language, kind, title FROM {DOCUMENTS} ORDER BY doc_id"
DECLARATION_SQL = f"""
SELECT declaration_id, lodged_on, port_code AS port, trader_id, hs_code, goods_desc_en AS goods, value_hkd,
       CASE WHEN inspected THEN coalesce(inspection_result, 'pending') ELSE 'not inspected' END AS inspection
FROM {DECLARATIONS} WHERE declaration_id = $id
"""
LIST_LIMIT = 300


def document_choices(docs: pl.DataFrame, search: str = "", limit: int = LIST_LIMIT) -> dict[str, str]:
    """``{"DOC1 · zh · title": "DOC1"}`` for documents whose id or title contains ``search`` (case-blind)."""
    needle = search.strip().lower()
    if needle:
        docs = docs.filter(pl.col("doc_id").str.to_lowercase().str.contains(needle, literal=True)
                           | pl.col("title").str.to_lowercase().str.contains(needle, literal=True))
    return {f"{r['doc_id']} · {r['language']} · {r['title']}": r["doc_id"] for r in docs.head(limit).iter_rows(named=True)}


def document_search(docs: pl.DataFrame, noun: str, example: str, width: int) -> tuple[Any, Any]:
    """A search box and the document picker it filters (``document_choices``), wired together."""
    import panel as pn

    search = pn.widgets.TextInput(name=f"Find a {noun} (id or title)", placeholder=f"e.g. {example} or 走私", width=300)
    picker = pn.widgets.Select(name="Document", options=document_choices(docs), width=width)
    search.param.watch(lambda event: setattr(picker, "options", document_choices(docs, event.new or "")), "value")
    return search, picker


def labels_of(wb: Session, doc_id: str) -> dict[str, str | None]:
    """The document's current topic and priority (None when not labelled yet)."""
    out: dict[str, str | None] = {}
    for task in ("topic", "priority"):
        rows = document_labels(wb, task).filter((pl.col("target_kind") == "document") & (pl.col("target_id") == doc_id))
        out[task] = rows["value"][0] if rows.height else None
    return out


def labelling_app(wb: Session | None = None, lake: str | None = None) -> Any:
    """The labelling app as a Panel layout (one per browser session); ``wb`` defaults to ``connect(lake)``."""
    import panel as pn

    from workbench.apps.layout import esc, off_loop, open_app
    from workbench.apps.span_text import SpanText, span_dicts

    wb, title, blank = open_app(wb, lake, "Labelling", [DOCUMENTS], "document labelling")
    if blank is not None:
        return blank

    docs = run_cached(wb, DOCUMENT_LIST_SQL, [DOCUMENTS])
    search, picker = document_search(docs, "document", "DOC000012", 520)
    text = SpanText(sizing_mode="stretch_width")
    chosen = pn.pane.HTML("Select text with the mouse to mark a span.", sizing_mode="stretch_width")
    label = pn.widgets.RadioButtonGroup(name="Entity label", options=list(NER_LABELS), value="ORG",
                                        button_type="light", sizing_mode="stretch_width")
    add = pn.widgets.Button(name="Add span", button_type="primary", width=140, disabled=True)
    spans_table = pn.widgets.Tabulator(pl.DataFrame(schema={"start": pl.Int32, "end": pl.Int32, "label": pl.Utf8,
                                                            "surface": pl.Utf8, "origin": pl.Utf8}).to_pandas(),
                                       disabled=True, selectable=1, show_index=False, height=260,
                                       formatters={"surface": {"type": "plaintext"}, "label": {"type": "plaintext"}},
                                       sizing_mode="stretch_width")
    remove = pn.widgets.Button(name="Remove selected span", button_type="danger", width=200)
    topic = pn.widgets.Select(name="Topic", options=["", *TASK_VALUES["topic"]], width=200)
    priority = pn.widgets.Select(name="Priority", options=["", *TASK_VALUES["priority"]], width=160)
    save_doc = pn.widgets.Button(name="Save document labels", button_type="primary", width=200)
    declaration = pn.widgets.TextInput(name="Declaration id", placeholder="e.g. D0000000123", width=260)
    declaration_info = pn.pane.HTML("", sizing_mode="stretch_width")
    verdict = pn.widgets.Select(name="Verdict", options=["", *TASK_VALUES["risk"]], width=160)
    note = pn.widgets.TextAreaInput(name="Note", placeholder="Why (kept with the label)", height=80, width=420)
    save_declaration = pn.widgets.Button(name="Save declaration label", button_type="primary", width=220)
    status = pn.pane.HTML("", sizing_mode="stretch_width")

    def say(message: str, ok: bool = True) -> None:
        colour = "#2b8a3e" if ok else "#c92a2a"
        status.object = f'<div class="status" style="color:{colour}">{esc(message)}</div>'

    async def show_document(_event: Any = None) -> None:
        doc_id = picker.value
        if not doc_id:
            return
        text.loading = True
        try:
            body, spans, current = await off_loop(wb, lambda: (
                document_text(wb, doc_id), document_spans(wb, doc_id), labels_of(wb, doc_id)))
        finally:
            text.loading = False
        text.param.update(text=body, spans=span_dicts(spans), selection=[])
        spans_table.value = spans.to_pandas()
        topic.value = current["topic"] or ""
        priority.value = current["priority"] or ""

    def show_selection(_event: Any = None) -> None:
        if len(text.selection) == 2:
            start, end = text.selection
            chosen.object = (f'Selected <b class="surface">{esc(text.text[start:end])}</b> '
                             f'(characters {start}–{end})')
            add.disabled = False
        else:
            chosen.object = "Select text with the mouse to mark a span."
            add.disabled = True

    async def write(action: Any, done: str) -> None:
        try:
            await off_loop(wb, action)
        except WorkbenchError as refused:
            say(str(refused), ok=False)
            return
        say(done)
        await show_document()

    async def add_span(_event: Any) -> None:
        if len(text.selection) != 2:
            return
        start, end = text.selection
        surface = text.text[start:end]
        await write(lambda: annotate_span(wb, picker.value, start, end, label.value, surface=surface),
                    f"Added {label.value} {surface!r} to {picker.value}.")

    async def remove_span(_event: Any) -> None:
        if not spans_table.selection:
            say("Pick the span to remove in the table first.", ok=False)
            return
        row = spans_table.value.iloc[spans_table.selection[0]]
        start, end, name = int(row["start"]), int(row["end"]), str(row["label"])
        await write(lambda: annotate_span(wb, picker.value, start, end, name, action="remove"),
                    f"Removed {name} {row['surface']!r} from {picker.value}.")

    async def save_document_labels(_event: Any) -> None:
        doc_id, chosen_topic, chosen_priority = picker.value, topic.value, priority.value
        if not chosen_topic and not chosen_priority:
            say("Choose a topic or a priority first.", ok=False)
            return

        def both() -> None:
            if chosen_topic:
                label_target(wb, "topic", doc_id, chosen_topic)
            if chosen_priority:
                label_target(wb, "priority", doc_id, chosen_priority)

        await write(both, f"Labelled {doc_id}: topic {chosen_topic or '-'}, priority {chosen_priority or '-'}.")

    async def show_declaration(_event: Any = None) -> None:
        ident = (declaration.value or "").strip()
        if not ident:
            return
        if missing_tables(wb, [DECLARATIONS]):
            declaration_info.object = f"<i>{esc(DECLARATIONS)} is not available to label declarations.</i>"
            return
        rows = await off_loop(wb, wb.sql, DECLARATION_SQL, {"id": ident})
        if not rows.height:
            declaration_info.object = f"<i>No declaration {esc(ident)}.</i>"
            return
        cells = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in rows.row(0, named=True).items())
        declaration_info.object = f'<table class="declaration">{cells}</table>'

    async def save_declaration_label(_event: Any) -> None:
        ident, value, why = (declaration.value or "").strip(), verdict.value, note.value
        if not ident or not value:
            say("Enter a declaration id and choose suspicious or clear.", ok=False)
            return
        await write(lambda: label_target(wb, "risk", ident, value, note=why), f"Labelled {ident} {value}.")

    picker.param.watch(show_document, "value")
    text.param.watch(show_selection, "selection")
    add.on_click(add_span)
    remove.on_click(remove_span)
    save_doc.on_click(save_document_labels)
    declaration.param.watch(show_declaration, "enter_pressed")
    save_declaration.on_click(save_declaration_label)
    pn.state.onload(show_document)

    notes = []
    if missing_tables(wb, ["curated.document_mentions"]):
        notes.append(pn.pane.Alert("No predicted spans: curated.document_mentions has not been built "
                                   "(`workbench nlp extract`). Analysts' spans are shown.", alert_type="info",
                                   sizing_mode="stretch_width"))
    return pn.Column(
        title, *notes, status, pn.Row(search, picker),
        pn.Row(pn.Column(text, chosen, label, add, sizing_mode="stretch_width"),
               pn.Column(pn.pane.Markdown("**Spans in this document**"), spans_table, remove, width=460),
               sizing_mode="stretch_width"),
        pn.pane.Markdown("### Document labels"), pn.Row(topic, priority, save_doc),
        pn.pane.Markdown("### Declaration"), pn.Row(declaration, verdict), declaration_info, note, save_declaration,
        sizing_mode="stretch_width",
    )
