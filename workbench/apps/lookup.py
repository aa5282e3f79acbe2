"""The field officers' lookup: a plate, container number, company name (EN or 中文) or BR number
-> a risk summary and recent history, on a phone-sized screen.

``classify`` decides what the officer typed; ``lookup`` runs the matching searches through
the session (cached on table versions) and returns ``Finding`` records a notebook can use;
``lookup_app`` renders them. Every value from the lake is escaped before it enters markup.

The risk level is a rule of thumb over past inspections and cases (high: a case, or at
least two hits making 30% of inspections; medium: any hit; low: inspected, never a hit;
unknown: never inspected). Beside it, when the risk models have scored the records
(``curated.risk_scores``), each history entry carries its model score, the newest
record's score and reasons are shown, and records awaiting an officer's decision
(``curated.clearance_queue``) are listed with why they were selected.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

import polars as pl

from workbench.apps.queries import missing_tables, run_cached
from workbench.session import Session

TRADERS = "curated.traders"
DECLARATIONS = "curated.declarations"
CROSSINGS = "curated.crossings"
VEHICLES = "curated.vehicles"
CASE_PARTIES = "curated.case_parties"
CASES = "curated.cases"
RISK_SCORES = "curated.risk_scores"
QUEUE = "curated.clearance_queue"

Kind = Literal["br", "container", "plate", "company"]
BR_RE = re.compile(r"\d{8}")
CONTAINER_RE = re.compile(r"[A-Z]{4}\d{7}")
PLATE_RE = re.compile(r"[A-Z]{1,2} ?\d{1,4}")
HISTORY_ROWS = 15


def classify(text: str) -> Kind:
    """What an officer typed: an 8-digit BR number, an ISO 6346 container number, a HK plate, else a company name."""
    compact = text.strip().upper()
    if BR_RE.fullmatch(compact.replace(" ", "")):
        return "br"
    if CONTAINER_RE.fullmatch(compact.replace(" ", "")):
        return "container"
    if PLATE_RE.fullmatch(compact):
        return "plate"
    return "company"


@dataclass
class Finding:
    """One thing the lookup found: a trader, a vehicle or a container, its summary and recent history."""

    kind: str
    title: str
    subtitle: str = ""
    facts: dict[str, object] = field(default_factory=dict)
    history: pl.DataFrame | None = None
    history_label: str = ""
    notes: list[str] = field(default_factory=list)


@dataclass
class LookupResult:
    query: str
    kind: Kind
    findings: list[Finding]
    unavailable: list[str]  # tables a search needed but the lake lacks (or the role may not read)


def risk_level(inspections: int, hits: int, cases: int) -> str:
    if cases > 0 or (hits >= 2 and inspections and hits / inspections >= 0.3):
        return "high"
    if hits > 0:
        return "medium"
    return "low" if inspections else "unknown"


TRADER_MATCH_SQL = f"""
select trader_id, br_number, name_en, name_zh, trader_type, district
from {TRADERS}
where br_number = $exact
   or ($pattern is not null and (name_en ilike $pattern or name_norm ilike $pattern or name_zh like $pattern))
order by name_en
limit 20
"""

TRADER_STATS_SQL = f"""
select count(*) as declarations,
       count(*) filter (where inspected) as inspections,
       count(*) filter (where inspected and coalesce(inspection_result, 'clear') <> 'clear') as hits,
       sum(value_hkd) as value_hkd, max(lodged_on) as last_lodged
from {DECLARATIONS} where trader_id = $trader_id
"""

TRADER_HISTORY_SQL = f"""
select declaration_id, lodged_on, port_code as port, hs_chapter, goods_desc_en as goods, value_hkd,
       case when inspected then coalesce(inspection_result, 'pending') else 'not inspected' end as inspection
from {DECLARATIONS} where trader_id = $trader_id
order by lodged_at desc limit {HISTORY_ROWS}
"""

CASES_BY_BR_SQL = f"""
select c.case_id, c.opened_on, c.offence, c.status
from {CASE_PARTIES} p join {CASES} c on c.case_id = p.case_id
where p.br_number = $br order by c.opened_on desc
"""

CROSSINGS_BY_SQL = """
select crossing_id, crossed_on, control_point, direction, plate, container_no, cargo_desc,
       case when inspected then coalesce(inspection_result, 'pending') else 'not inspected' end as inspection
from {table} where {column} = $value order by crossed_at desc
"""

DECLARATIONS_BY_CONTAINER_SQL = f"""
select declaration_id, lodged_on, port_code as port, trader_id, goods_desc_en as goods, value_hkd,
       case when inspected then coalesce(inspection_result, 'pending') else 'not inspected' end as inspection
from {DECLARATIONS} where container_no = $value order by lodged_at desc
"""

VEHICLE_SQL = f"select plate, mainland_plate, vehicle_type, owner_name from {VEHICLES} where plate = $plate"


SCORES_SQL = f"""
select record_id, model, version, score, selection, reason_1, reason_2, reason_3
from {RISK_SCORES} where list_contains($ids, record_id)
"""

QUEUED_SQL = f"""
select record_id, place, score, selection from {QUEUE} where list_contains($ids, record_id) order by score desc
"""


def with_model_scores(wb: Session, finding: Finding, id_column: str) -> None:
    """Add the risk models' view to a finding: a score per history entry, the newest record's score and
    reasons, and the records awaiting a decision. Nothing changes when no model has scored them."""
    if finding.history is None or not finding.history.height or missing_tables(wb, [RISK_SCORES]):
        return
    ids = finding.history[id_column].to_list()
    scores = run_cached(wb, SCORES_SQL, [RISK_SCORES], {"ids": ids})
    if not scores.height:
        return
    by_id = {r["record_id"]: r for r in scores.iter_rows(named=True)}
    finding.history = finding.history.with_columns(
        pl.col(id_column).replace_strict({k: round(v["score"], 2) for k, v in by_id.items()}, default=None,
                                         return_dtype=pl.Float64).alias("model_score"))
    newest = next((by_id[i] for i in ids if i in by_id), None)
    if newest is not None:
        finding.facts["Model score"] = f"{newest['score']:.2f} ({newest['model']} v{newest['version']}, {newest['record_id']})"
        reasons = [newest[f"reason_{i}"] for i in (1, 2, 3) if newest[f"reason_{i}"]]
        if reasons:
            finding.notes.append("Why: " + "; ".join(reasons))
    if not missing_tables(wb, [QUEUE]):
        queued = run_cached(wb, QUEUED_SQL, [QUEUE], {"ids": ids})
        for row in queued.iter_rows(named=True):
            finding.notes.append(f"Awaiting decision at {row['place']}: {row['record_id']} (score {row['score']:.2f}, "
                                 f"selected by {row['selection']})")


def _inspection_counts(history: pl.DataFrame) -> tuple[int, int]:
    inspected = history.filter(pl.col("inspection") != "not inspected")
    hits = inspected.filter(~pl.col("inspection").is_in(["clear", "pending"]))
    return inspected.height, hits.height


def _traders(wb: Session, text: str, kind: Kind, unavailable: list[str]) -> list[Finding]:
    if missing_tables(wb, [TRADERS]):
        unavailable.append(TRADERS)
        return []
    exact = text.replace(" ", "") if kind == "br" else None
    pattern = None if kind == "br" else f"%{text.strip()}%"
    matches = run_cached(wb, TRADER_MATCH_SQL, [TRADERS], {"exact": exact, "pattern": pattern})
    have_decl = not missing_tables(wb, [DECLARATIONS])
    have_cases = not missing_tables(wb, [CASE_PARTIES, CASES])
    if not have_decl:
        unavailable.append(DECLARATIONS)
    if not have_cases:
        unavailable.extend([CASE_PARTIES, CASES])
    findings = []
    for t in matches.iter_rows(named=True):
        f = Finding("trader", t["name_en"], t["name_zh"] or "",
                    facts={"BR number": t["br_number"], "Trader id": t["trader_id"], "Type": t["trader_type"],
                           "District": t["district"]})
        inspections = hits = cases = 0
        if have_decl:
            stats = run_cached(wb, TRADER_STATS_SQL, [DECLARATIONS], {"trader_id": t["trader_id"]}).row(0, named=True)
            inspections, hits = stats["inspections"], stats["hits"]
            f.facts.update({"Declarations": stats["declarations"], "Inspections": inspections, "Hits": hits,
                            "Last lodged": stats["last_lodged"]})
            f.history = run_cached(wb, TRADER_HISTORY_SQL, [DECLARATIONS], {"trader_id": t["trader_id"]})
            f.history_label = "Recent declarations"
            with_model_scores(wb, f, "declaration_id")
        if have_cases:
            case_rows = run_cached(wb, CASES_BY_BR_SQL, [CASE_PARTIES, CASES], {"br": t["br_number"]})
            cases = case_rows.height
            f.facts["Cases"] = cases
            if cases:
                f.notes.append("Cases: " + ", ".join(f"{r['case_id']} ({r['offence']}, {r['status']})"
                                                     for r in case_rows.head(5).iter_rows(named=True)))
        f.facts["Risk"] = risk_level(inspections, hits, cases)
        findings.append(f)
    return findings


def _plate(wb: Session, text: str, unavailable: list[str]) -> list[Finding]:
    plate = re.sub(r"\s+", " ", text.strip().upper())
    if " " not in plate:  # "AB1234" -> "AB 1234", as the registers write plates
        plate = re.sub(r"^([A-Z]+)(\d+)$", r"\1 \2", plate)
    if missing_tables(wb, [CROSSINGS]):
        unavailable.append(CROSSINGS)
        return []
    history = run_cached(wb, CROSSINGS_BY_SQL.format(table=CROSSINGS, column="plate"), [CROSSINGS], {"value": plate})
    f = Finding("vehicle", plate)
    if not missing_tables(wb, [VEHICLES]):
        vehicle = run_cached(wb, VEHICLE_SQL, [VEHICLES], {"plate": plate})
        if vehicle.height:
            v = vehicle.row(0, named=True)
            f.subtitle = f"{v['vehicle_type']} · owner {v['owner_name']}"
            f.facts["Mainland plate"] = v["mainland_plate"]
        elif not history.height:
            return []
    else:
        unavailable.append(VEHICLES)
        if not history.height:
            return []
    inspections, hits = _inspection_counts(history)
    f.facts.update({"Crossings": history.height, "Inspections": inspections, "Hits": hits,
                    "Last crossed": history["crossed_on"].max() if history.height else None,
                    "Risk": risk_level(inspections, hits, 0)})
    f.history, f.history_label = history.head(HISTORY_ROWS), "Recent crossings"
    with_model_scores(wb, f, "crossing_id")
    return [f]


def _container(wb: Session, text: str, unavailable: list[str]) -> list[Finding]:
    number = text.replace(" ", "").upper()
    parts = []
    for table, sql in ((DECLARATIONS, DECLARATIONS_BY_CONTAINER_SQL),
                       (CROSSINGS, CROSSINGS_BY_SQL.format(table=CROSSINGS, column="container_no"))):
        if missing_tables(wb, [table]):
            unavailable.append(table)
            continue
        rows = run_cached(wb, sql, [table], {"value": number})
        if rows.height:
            parts.append((table, rows))
    findings = []
    for table, rows in parts:
        inspections, hits = _inspection_counts(rows)
        label = "declarations" if table == DECLARATIONS else "crossings"
        finding = Finding("container", number, f"in {rows.height} {label}",
                          facts={label.capitalize(): rows.height, "Inspections": inspections, "Hits": hits,
                                 "Risk": risk_level(inspections, hits, 0)},
                          history=rows.head(HISTORY_ROWS), history_label=f"Recent {label}")
        with_model_scores(wb, finding, "declaration_id" if table == DECLARATIONS else "crossing_id")
        findings.append(finding)
    return findings


def lookup(wb: Session, text: str) -> LookupResult:
    """Everything the lake knows about what an officer typed, most specific search first."""
    kind = classify(text)
    unavailable: list[str] = []
    if kind == "plate":
        findings = _plate(wb, text, unavailable) or _traders(wb, text, "company", unavailable)
    elif kind == "container":
        findings = _container(wb, text, unavailable)
    else:
        findings = _traders(wb, text, kind, unavailable)
    return LookupResult(text, kind, findings, sorted(set(unavailable)))


# ----------------------------------------------------------------------------- layout

RISK_COLOURS = {"high": "#c62828", "medium": "#ef6c00", "low": "#2e7d32", "unknown": "#616161"}


def history_entry(row: dict[str, object]) -> str:
    """One history row as a short block that wraps to any width (escaped): id, date and inspection on the
    first line, the other fields as ``label value`` pairs below.

    A phone is ~390 px wide: a table of seven or eight columns either scrolls sideways or
    clips the inspection result, the one column an officer needs first.
    """
    from workbench.apps.layout import esc, number_text

    values = dict(row)
    inspection = str(values.pop("inspection", "") or "")
    record = next((k for k in values if k.endswith("_id")), None)
    day = next((k for k in values if k.endswith("_on")), None)
    head = [f'<span class="when">{esc(values.pop(day))}</span>' if day else "",
            f'<span class="id">{esc(values.pop(record))}</span>' if record else "",
            f'<span class="insp insp-{esc(inspection.replace(" ", "-"))}">{esc(inspection)}</span>' if inspection else ""]
    rest = " · ".join(
        f'{esc(k.replace("_", " "))} <b>{esc(number_text(v) if k.endswith("_hkd") else v)}</b>'
        for k, v in values.items() if v is not None)
    return f'<div class="hrow"><div class="hhead">{" ".join(h for h in head if h)}</div><div class="hrest">{rest}</div></div>'


def finding_card(f: Finding) -> Any:
    """One finding as a card: escaped title and facts, then its recent history as wrapping entries."""
    import panel as pn

    from workbench.apps.layout import esc

    risk = str(f.facts.get("Risk", "unknown"))
    facts = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in f.facts.items() if k != "Risk")
    head = (f'<div class="finding"><div class="risk" style="background:{RISK_COLOURS.get(risk, "#616161")}">'
            f'risk: {esc(risk)}</div><div class="title">{esc(f.title)}</div>'
            f'<div class="subtitle">{esc(f.subtitle)}</div><table class="facts">{facts}</table>'
            + "".join(f'<div class="note">{esc(n)}</div>' for n in f.notes) + "</div>")
    parts: list[Any] = [pn.pane.HTML(head, stylesheets=[CARD_CSS], sizing_mode="stretch_width")]
    if f.history is not None and f.history.height:
        entries = "".join(history_entry(r) for r in f.history.iter_rows(named=True))
        parts.append(pn.pane.HTML(f'<div class="history"><div class="hlabel">{esc(f.history_label)}</div>{entries}</div>',
                                  stylesheets=[HISTORY_CSS], sizing_mode="stretch_width"))
    return pn.Column(*parts, sizing_mode="stretch_width", css_classes=["finding-card"])


def render(result: LookupResult) -> Any:
    import panel as pn

    from workbench.apps.layout import empty_state, esc

    parts: list[Any] = []
    if result.unavailable:
        parts.append(empty_state(result.unavailable, "part of this lookup"))
    if not result.findings:
        parts.append(pn.pane.Alert(f"Nothing found for {esc(result.query)} (searched as {result.kind}).",
                                   alert_type="info", sizing_mode="stretch_width"))
    parts.extend(finding_card(f) for f in result.findings)
    return pn.Column(*parts, sizing_mode="stretch_width")


def lookup_app(wb: Session | None = None, lake: str | None = None) -> Any:
    """The lookup as a Panel layout for a small screen; ``wb`` defaults to ``connect(lake)``."""
    import panel as pn

    from workbench.apps.layout import off_loop, viewer_session

    pn.extension(loading_indicator=True)
    wb, refused = viewer_session(wb, lake)
    if refused is not None:
        return refused
    box = pn.widgets.TextInput(name="Plate, container, company (EN/中文) or BR number",
                               placeholder="e.g. AB 1234, TCNU9442950, 鳳門貿易, 79549985", sizing_mode="stretch_width")
    go = pn.widgets.Button(name="Look up", button_type="primary", sizing_mode="stretch_width")
    out = pn.Column(sizing_mode="stretch_width")

    async def run(_event: Any = None) -> None:
        text = (box.value or "").strip()
        if not text:
            return
        out.loading = True
        try:
            found = await off_loop(wb, lookup, wb, text)
        finally:
            out.loading = False
        out.objects = [render(found)]

    go.on_click(run)
    box.param.watch(run, "enter_pressed")
    return pn.Column(pn.pane.Markdown("## Lookup", margin=(0, 10)), box, go, out,
                     sizing_mode="stretch_width", styles={"max-width": "560px", "margin": "0 auto"})


CARD_CSS = """
.finding { padding: 8px 10px; border: 1px solid #ddd; border-radius: 6px; font-size: 15px; }
.finding .title { font-size: 18px; font-weight: 600; word-break: break-word; }
.finding .subtitle { color: #444; margin-bottom: 6px; word-break: break-word; }
.finding .risk { float: right; color: white; padding: 2px 8px; border-radius: 10px; font-size: 13px; }
.finding table.facts th { text-align: left; padding-right: 12px; font-weight: normal; color: #555; }
.finding .note { margin-top: 6px; color: #8a1c1c; }
"""
HISTORY_CSS = """
.history { font-size: 14px; }
.history .hlabel { font-weight: 600; margin: 4px 0; }
.history .hrow { padding: 6px 2px; border-bottom: 1px solid #eee; overflow-wrap: anywhere; }
.history .when { font-weight: 600; }
.history .id { color: #555; }
.history .insp { float: right; padding: 0 6px; border-radius: 8px; background: #eee; }
.history .insp-discrepancy, .history .insp-seizure { background: #c62828; color: white; }
.history .hrest { color: #333; font-size: 13px; }
"""
