"""The officers' clearance app: the queue of a control point or port, one record opened, a decision recorded.

Field officers see the records the risk models selected for their place
(``curated.clearance_queue``, filled by the live scorer), riskiest first, each with why it
was selected (a mandatory rule, the model's score, the random monitoring quota) and the
features that pushed its score up. Opening one shows the declaration or crossing itself,
the trader's or the vehicle's recent history and the model's reasons; the officer then
releases it or inspects it and records the result (no discrepancy, a discrepancy, or a
seizure with what and how much was seized). The decision is written through the
officer's own session to ``curated.clearance_results``, the one table field officers may
write (``security/policy.toml``), so the audit trail names the officer; the live scorer
then takes the record out of the queue and counts the result in the hit rates.
Analysts and managers see the same queue and records, read-only.

``queue``, ``open_record`` and ``record_decision`` are plain functions over a session
(usable from a notebook); ``clearance_app`` lays them out for a phone (390 px) and a desktop.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import polars as pl

from workbench.apps.queries import missing_tables
from workbench.errors import WorkbenchError
from workbench.session import Session

QUEUE = "curated.clearance_queue"
RESULTS = "curated.clearance_results"
DECLARATIONS = "curated.declarations"
CROSSINGS = "curated.crossings"
DECIDERS = ("field_officer",)
"""Roles that record decisions; everyone else who may open the app reads it."""
HISTORY_ROWS = 10
RESULT_LABELS = {"clear": "no discrepancy", "discrepancy": "hit: discrepancy", "seizure": "hit: seizure"}


def places(wb: Session) -> list[str]:
    """Control points and ports with records waiting."""
    if missing_tables(wb, [QUEUE]):
        return []
    found = wb.sql(f"SELECT DISTINCT place FROM {QUEUE} WHERE place IS NOT NULL ORDER BY place")
    return [str(p) for p in found["place"].to_list()]


def queue(wb: Session, place: str | None = None, limit: int = 50) -> pl.DataFrame:
    """The records awaiting a decision at ``place`` (all places when None), riskiest first.

    Decided records leave the queue table when the live scorer next looks; until then the
    results table hides them here, so an officer never sees a record twice.
    """
    missing = missing_tables(wb, [QUEUE, RESULTS])  # one look at the catalog: an officer's screen polls this
    if QUEUE in missing:
        return pl.DataFrame()
    decided = f" ANTI JOIN {RESULTS} r USING (record_id)" if RESULTS not in missing else ""
    where = " WHERE q.place = $place" if place else ""
    return wb.sql(f"SELECT q.* FROM {QUEUE} q{decided}{where} ORDER BY q.score DESC, q.record_at LIMIT {int(limit)}",
                  {"place": place} if place else None)


@dataclass(frozen=True)
class RecordKind:
    """Where a queued record of one kind lives, and whose history an officer sees beside it."""

    table: str
    key: str
    owner: str
    time: str
    history: str
    label: str


KINDS = {
    "crossing": RecordKind(CROSSINGS, "crossing_id", "plate", "crossed_at",
                           "crossed_on, control_point, direction, cargo_desc", "The vehicle's recent crossings"),
    "declaration": RecordKind(DECLARATIONS, "declaration_id", "trader_id", "lodged_at",
                              "lodged_on, port_code AS port, hs_chapter, goods_desc_en AS goods, value_hkd",
                              "The trader's recent declarations"),
}


@dataclass
class OpenedRecord:
    """One queued record as an officer opens it."""

    queued: dict[str, Any]
    record: dict[str, Any]
    history: pl.DataFrame
    history_label: str
    reasons: list[str] = field(default_factory=list)


def open_record(wb: Session, record_id: str) -> OpenedRecord:
    """The queued record, its declaration or crossing, and the trader's or vehicle's recent history."""
    found = wb.sql(f"SELECT * FROM {QUEUE} WHERE record_id = $id", {"id": record_id})
    if not found.height:
        raise WorkbenchError(f"record {record_id}: not in the clearance queue (decided already, or never selected)")
    queued = found.row(0, named=True)
    kind = KINDS[queued["kind"]]
    record = wb.sql(f"SELECT * FROM {kind.table} WHERE {kind.key} = $id", {"id": record_id})
    owner = record[kind.owner][0] if record.height else None
    history = wb.sql(f"SELECT {kind.key}, {kind.history}, CASE WHEN inspected THEN coalesce(inspection_result, "
                     f"'pending') ELSE 'not inspected' END AS inspection FROM {kind.table} "
                     f"WHERE {kind.owner} = $owner AND {kind.key} <> $id ORDER BY {kind.time} DESC LIMIT {HISTORY_ROWS}",
                     {"owner": owner, "id": record_id})
    label = kind.label
    reasons = [queued[f"reason_{i}"] for i in (1, 2, 3) if queued.get(f"reason_{i}")]
    return OpenedRecord(queued, record.row(0, named=True) if record.height else {}, history, label, reasons)


def record_decision(wb: Session, queued: dict[str, Any], decision: str, result: str | None = None,
                    seizure_goods: str | None = None, seizure_value_hkd: float | None = None,
                    note: str | None = None) -> None:
    """Write the officer's decision on a queued record to the results table, through their session (audited).

    An inspection needs its result; a seizure its goods. The table's contract checks the
    rest (values, who may write: field officers only).
    """
    if decision not in ("release", "inspect"):
        raise WorkbenchError(f"decision: {decision!r} is not release or inspect")
    if decision == "inspect" and result not in RESULT_LABELS:
        raise WorkbenchError(f"result: an inspection records its result ({', '.join(RESULT_LABELS)})")
    if result == "seizure" and not (seizure_goods or "").strip():
        raise WorkbenchError("seizure_goods: say what was seized")
    row = {"record_id": queued["record_id"], "kind": queued["kind"], "model": queued["model"],
           "version": queued["version"], "selection": queued["selection"], "place": queued["place"],
           "decision": decision, "result": result if decision == "inspect" else None,
           "seizure_goods": (seizure_goods or "").strip() or None if result == "seizure" else None,
           "seizure_value_hkd": seizure_value_hkd if result == "seizure" else None,
           "note": (note or "").strip() or None, "officer": wb.user,
           "decided_at": datetime.now(UTC).replace(tzinfo=None)}
    schema = {"record_id": pl.Utf8, "kind": pl.Utf8, "model": pl.Utf8, "version": pl.Int64, "selection": pl.Utf8,
              "place": pl.Utf8, "decision": pl.Utf8, "result": pl.Utf8, "seizure_goods": pl.Utf8,
              "seizure_value_hkd": pl.Float64, "note": pl.Utf8, "officer": pl.Utf8, "decided_at": pl.Datetime("us")}
    written = wb.write(pl.DataFrame([row], schema=schema), RESULTS, mode="merge",
                       description="an officer's clearance decision")
    if written.rejections:
        raise WorkbenchError(written.rejections[0].reason)


# ----------------------------------------------------------------------------- layout


def _card(row: dict[str, Any]) -> str:
    from workbench.apps.layout import esc

    reasons = "".join(f"<li>{esc(row[f'reason_{i}'])}</li>" for i in (1, 2, 3) if row.get(f"reason_{i}"))
    return (f'<div class="qcard"><span class="score">{row["score"]:.2f}</span>'
            f'<span class="rid">{esc(row["record_id"])}</span> <span class="kind">{esc(row["kind"])}</span>'
            f'<div class="why">selected by <b>{esc(row["selection"])}</b> · {esc(row["place"])} · '
            f'{esc(row["record_at"])}</div><ul class="reasons">{reasons}</ul></div>')


def _facts(record: dict[str, Any]) -> str:
    from workbench.apps.layout import esc

    rows = "".join(f"<tr><th>{esc(k.replace('_', ' '))}</th><td>{esc(v)}</td></tr>" for k, v in record.items()
                   if v is not None and not k.endswith("_norm") and k not in ("inspected", "inspection_result"))
    return f'<table class="facts">{rows}</table>'


def clearance_app(wb: Session | None = None, lake: str | None = None) -> Any:
    """The clearance app (one per browser session); ``wb`` defaults to the viewer's session (``connect(lake)``)."""
    import panel as pn

    from workbench.apps.layout import data_table, esc, off_loop, open_app

    wb, heading, blank = open_app(wb, lake, "Clearance", [QUEUE], "the clearance queue")
    if blank is not None:
        return blank
    decides = wb.role in DECIDERS
    options = ["all", *places(wb)]
    asked = (pn.state.session_args.get("place") or [b""])[0].decode() if pn.state.session_args else ""
    place = pn.widgets.Select(name="Control point / port", options=options,
                              value=asked if asked in options else options[0], sizing_mode="stretch_width")
    listing = pn.Column(sizing_mode="stretch_width")
    detail = pn.Column(sizing_mode="stretch_width")
    message = pn.pane.HTML("", sizing_mode="stretch_width")

    async def show_queue(_event: Any = None) -> None:
        rows = await off_loop(wb, queue, wb, None if place.value == "all" else place.value)
        if not rows.height:
            listing.objects = [pn.pane.Alert("No records await a decision here.", alert_type="info",
                                             sizing_mode="stretch_width")]
            return
        items: list[Any] = []
        for row in rows.iter_rows(named=True):
            button = pn.widgets.Button(name=f"Open {row['record_id']}", button_type="primary",
                                       sizing_mode="stretch_width")
            button.on_click(opener(row["record_id"]))
            items += [pn.pane.HTML(_card(row), stylesheets=[CSS], sizing_mode="stretch_width"), button]
        listing.objects = items

    def opener(record_id: str) -> Any:
        async def clicked(_event: Any) -> None:
            await show_record(record_id)
        return clicked

    async def show_record(record_id: str) -> None:
        message.object = ""
        try:
            opened = await off_loop(wb, open_record, wb, record_id)
        except WorkbenchError as gone:
            message.object = f'<div class="msg">{esc(gone)}</div>'
            await show_queue()
            return
        parts: list[Any] = [
            pn.pane.HTML(f'<h3>{esc(record_id)}</h3>{_card(opened.queued)}<h4>The {esc(opened.queued["kind"])}</h4>'
                         f'{_facts(opened.record)}', stylesheets=[CSS], sizing_mode="stretch_width"),
            pn.pane.Markdown(f"#### {opened.history_label}"),
            data_table(opened.history) if opened.history.height else pn.pane.Markdown("No earlier records."),
        ]
        if decides:
            parts.append(decision_form(opened.queued))
        else:
            parts.append(pn.pane.Alert("Read-only: field officers record decisions.", alert_type="secondary",
                                       sizing_mode="stretch_width"))
        detail.objects = parts

    def decision_form(queued: dict[str, Any]) -> Any:
        decision = pn.widgets.RadioButtonGroup(name="Decision", options=["release", "inspect"], value="inspect",
                                               button_type="default", sizing_mode="stretch_width")
        result = pn.widgets.Select(name="Inspection result", options={v: k for k, v in RESULT_LABELS.items()},
                                   value="clear", sizing_mode="stretch_width")
        goods = pn.widgets.TextInput(name="Seized goods", placeholder="e.g. 120 cartons of cigarettes",
                                     sizing_mode="stretch_width")
        value = pn.widgets.FloatInput(name="Seized value (HKD)", value=None, start=0, sizing_mode="stretch_width")
        note = pn.widgets.TextAreaInput(name="Note", sizing_mode="stretch_width", height=70)
        save = pn.widgets.Button(name="Record decision", button_type="success", sizing_mode="stretch_width")

        async def submit(_event: Any) -> None:
            save.disabled = True
            try:
                await off_loop(wb, record_decision, wb, queued, decision.value, result.value, goods.value,
                               value.value, note.value)
            except WorkbenchError as refused:
                message.object = f'<div class="msg err">Not recorded: {esc(refused)}</div>'
                save.disabled = False
                return
            shown = "released" if decision.value == "release" else f"inspected: {RESULT_LABELS[result.value]}"
            message.object = f'<div class="msg ok">Recorded: {esc(queued["record_id"])} {esc(shown)}</div>'
            detail.objects = []
            await show_queue()

        save.on_click(submit)
        return pn.Column(pn.pane.Markdown("#### Decision"), decision, result, goods, value, note, save,
                         sizing_mode="stretch_width")

    place.param.watch(show_queue, "value")
    pn.state.onload(show_queue)
    return pn.Column(heading, place, message, detail, pn.pane.Markdown("#### Awaiting a decision"), listing,
                     sizing_mode="stretch_width", styles={"max-width": "760px", "margin": "0 auto"})


CSS = """
.qcard { padding: 8px 10px; border: 1px solid #ddd; border-radius: 6px; font-size: 15px; margin-top: 6px; }
.qcard .score { float: right; background: #c62828; color: white; padding: 1px 8px; border-radius: 10px; }
.qcard .rid { font-weight: 600; } .qcard .kind { color: #555; }
.qcard .why { color: #333; font-size: 13px; overflow-wrap: anywhere; }
.qcard ul.reasons { margin: 4px 0 0 18px; padding: 0; font-size: 13px; overflow-wrap: anywhere; }
table.facts { font-size: 14px; } table.facts th { text-align: left; padding-right: 10px; color: #555; font-weight: normal; }
table.facts td { overflow-wrap: anywhere; }
.msg { padding: 6px 10px; border-radius: 6px; background: #eef; } .msg.ok { background: #e8f5e9; }
.msg.err { background: #fdecea; }
"""
