"""The managers' risk overview: declarations, inspections, hit rate, seizures and value.

Data functions (``declaration_facts``, ``seizure_facts``, ``filter_facts``, ``headline``,
``breakdown``) are plain Polars and usable from a notebook; ``overview_app`` lays them out
as a Panel dashboard with a date range and port filter and a CSV download of the view.

Facts are pre-aggregated by (day, port, HS chapter) with one cached query per table, so a
filter change is a Polars filter over a few thousand rows, not a lake query.
A hit is an inspection whose result is anything other than ``clear``.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date
from typing import Any

import polars as pl

from workbench.apps.queries import missing_tables, run_cached
from workbench.explore import Session

DECLARATIONS = "curated.declarations"
SEIZURES = "curated.seizures"
CASES = "curated.cases"

DECLARATION_FACTS_SQL = f"""
select lodged_on as day, port_code as port, hs_chapter,
       count(*) as declarations,
       count(*) filter (where inspected) as inspections,
       count(*) filter (where inspected and coalesce(inspection_result, 'clear') <> 'clear') as hits,
       sum(value_hkd) as value_hkd
from {DECLARATIONS}
group by all
"""

SEIZURE_FACTS_SQL = f"""
select s.seized_on as day, coalesce(c.location_code, 'unknown') as port, s.hs_chapter,
       count(*) as seizures, sum(s.value_hkd) as seized_value_hkd
from {SEIZURES} s left join {CASES} c on c.case_id = s.case_id
group by all
"""

GROUPINGS = {"day": "day", "port": "port", "HS chapter": "hs_chapter"}


def declaration_facts(wb: Session) -> pl.DataFrame:
    """Declarations, inspections, hits and value per (day, port, hs_chapter); cached on the table version."""
    return run_cached(wb, DECLARATION_FACTS_SQL, [DECLARATIONS])


def seizure_facts(wb: Session) -> pl.DataFrame | None:
    """Seizures and seized value per (day, port of the case, hs_chapter); None when the tables are missing."""
    if missing_tables(wb, [SEIZURES, CASES]):
        return None
    return run_cached(wb, SEIZURE_FACTS_SQL, [SEIZURES, CASES])


def filter_facts(facts: pl.DataFrame, start: date | None = None, end: date | None = None,
                 ports: list[str] | None = None) -> pl.DataFrame:
    """Rows of ``facts`` with ``start <= day <= end`` (either bound optional) and port in ``ports`` (all when empty)."""
    if start is not None:
        facts = facts.filter(pl.col("day") >= start)
    if end is not None:
        facts = facts.filter(pl.col("day") <= end)
    if ports:
        facts = facts.filter(pl.col("port").is_in(ports))
    return facts


@dataclass(frozen=True)
class Headline:
    """The overview's headline figures for the filtered view; seizure figures are None when not available."""

    declarations: int
    inspections: int
    hits: int
    value_hkd: float
    seizures: int | None
    seized_value_hkd: float | None

    @property
    def hit_rate(self) -> float | None:
        return self.hits / self.inspections if self.inspections else None


def headline(decl: pl.DataFrame, seiz: pl.DataFrame | None) -> Headline:
    def total(frame: pl.DataFrame, col: str) -> Any:
        return frame[col].sum() if frame.height else 0

    return Headline(
        declarations=int(total(decl, "declarations")), inspections=int(total(decl, "inspections")),
        hits=int(total(decl, "hits")), value_hkd=float(total(decl, "value_hkd") or 0.0),
        seizures=None if seiz is None else int(total(seiz, "seizures")),
        seized_value_hkd=None if seiz is None else float(total(seiz, "seized_value_hkd") or 0.0),
    )


def breakdown(decl: pl.DataFrame, seiz: pl.DataFrame | None, by: str) -> pl.DataFrame:
    """Figures per ``by`` (``day``, ``port`` or ``hs_chapter``) with the hit rate; seizure columns when available."""
    out = decl.group_by(by).agg(pl.col("declarations", "inspections", "hits", "value_hkd").sum())
    if seiz is not None:
        seized = seiz.group_by(by).agg(pl.col("seizures", "seized_value_hkd").sum())
        out = out.join(seized, on=by, how="full", coalesce=True).with_columns(
            pl.col("declarations", "inspections", "hits", "seizures").fill_null(0))
    out = out.with_columns(
        (pl.col("hits") / pl.when(pl.col("inspections") > 0).then(pl.col("inspections"))).alias("hit_rate"))
    return out.sort(by)


def to_csv(frame: pl.DataFrame) -> io.StringIO:
    """The frame as CSV in a buffer, for ``pn.widgets.FileDownload``."""
    return io.StringIO(frame.write_csv())


# ----------------------------------------------------------------------------- layout


def overview_app(wb: Session | None = None, lake: str | None = None) -> Any:
    """The risk overview as a Panel layout (one per browser session); ``wb`` defaults to ``connect(lake)``."""
    import holoviews as hv
    import hvplot.pandas  # noqa: F401
    import panel as pn

    from workbench.apps.layout import empty_state, number_text
    from workbench.explore import connect

    pn.extension("tabulator", loading_indicator=True)
    wb = wb or connect(lake)
    title = pn.pane.Markdown("## Risk overview", margin=(0, 10))
    absent = missing_tables(wb, [DECLARATIONS])
    if absent:
        return pn.Column(title, empty_state(absent, "the risk overview"), sizing_mode="stretch_width")

    facts = declaration_facts(wb)
    seized = seizure_facts(wb)
    first, last = facts["day"].min(), facts["day"].max()
    dates = pn.widgets.DateRangePicker(name="Lodged between", value=(first, last), start=first, end=last, width=260)
    ports = pn.widgets.MultiChoice(name="Ports (all when empty)", options=sorted(facts["port"].unique().to_list()),
                                   width=320)
    group = pn.widgets.RadioButtonGroup(name="Break down by", options=list(GROUPINGS), value="port")

    def view() -> tuple[pl.DataFrame, pl.DataFrame | None]:
        start, end = dates.value or (None, None)
        decl = filter_facts(facts, start, end, ports.value)
        seiz = None if seized is None else filter_facts(seized, start, end, ports.value)
        return decl, seiz

    def figures(_dates: Any, _ports: Any) -> Any:
        h = headline(*view())
        cards = [
            ("Declarations", number_text(h.declarations)),
            ("Inspections", number_text(h.inspections)),
            ("Hits", number_text(h.hits)),
            ("Hit rate", "n/a" if h.hit_rate is None else f"{h.hit_rate:.1%}"),
            ("Declared value (HKD)", number_text(h.value_hkd)),
            ("Seizures", "not available" if h.seizures is None else number_text(h.seizures)),
            ("Seized value (HKD)", "not available" if h.seized_value_hkd is None else number_text(h.seized_value_hkd)),
        ]
        row = pn.FlexBox(*[pn.pane.HTML(
            f'<div class="kpi"><div class="kpi-label">{label}</div><div class="kpi-value">{value}</div></div>',
            stylesheets=[KPI_CSS]) for label, value in cards])
        if h.seizures is None:
            return pn.Column(row, empty_state([SEIZURES, CASES], "seizure figures"))
        return row

    def plots(_dates: Any, _ports: Any) -> Any:
        decl, _ = view()
        if not decl.height:
            return pn.pane.Alert("No declarations in this date range and port selection.", alert_type="info")
        weekly = (decl.sort("day").group_by_dynamic(pl.col("day").cast(pl.Datetime), every="1w")
                  .agg(pl.col("declarations", "inspections", "hits").sum()).to_pandas())
        by_port = breakdown(decl, None, "port").sort("declarations", descending=True).to_pandas()
        by_ch = (breakdown(decl, None, "hs_chapter").sort("value_hkd", descending=True).head(15).to_pandas())
        line = weekly.hvplot.line(x="day", y=["declarations", "inspections", "hits"], title="Per week",
                                  responsive=True, height=280, legend="top_left")
        bars = by_port.hvplot.bar(x="port", y="declarations", title="Declarations by port", responsive=True,
                                  height=280, rot=45)
        chapters = by_ch.hvplot.bar(x="hs_chapter", y="value_hkd", title="Declared value by HS chapter (top 15)",
                                    responsive=True, height=280, rot=45, yformatter="%.0f")
        return pn.Column(pn.pane.HoloViews(line, sizing_mode="stretch_width"),
                         pn.Row(pn.pane.HoloViews(bars, sizing_mode="stretch_width"),
                                pn.pane.HoloViews(chapters, sizing_mode="stretch_width"), sizing_mode="stretch_width"),
                         sizing_mode="stretch_width")

    def table(_dates: Any, _ports: Any, by: str) -> Any:
        frame = breakdown(*view(), GROUPINGS[by]).to_pandas()
        return pn.widgets.Tabulator(frame, disabled=True, show_index=False, pagination="local", page_size=15,
                                    formatters=plain_formatters(frame), sizing_mode="stretch_width")

    def csv() -> io.StringIO:
        decl, seiz = view()
        return to_csv(breakdown(decl, seiz, GROUPINGS[group.value]))

    download = pn.widgets.FileDownload(callback=csv, filename="risk_overview.csv", label="Download CSV",
                                       button_type="primary", width=180)
    hv.extension("bokeh", logo=False)
    return pn.Column(
        title, pn.Row(dates, ports, download),
        pn.panel(pn.bind(figures, dates, ports)),
        pn.panel(pn.bind(plots, dates, ports)),
        group, pn.panel(pn.bind(table, dates, ports, group)),
        sizing_mode="stretch_width",
    )


def plain_formatters(frame: Any) -> dict[str, dict[str, str]]:
    """Tabulator formatters that render every text column as escaped plain text."""
    return {col: {"type": "plaintext"} for col, dtype in frame.dtypes.items() if dtype == object or str(dtype) == "string"}


KPI_CSS = """
.kpi { padding: 6px 14px; border-radius: 6px; background: #f3f5f8; min-width: 130px; }
.kpi-label { font-size: 12px; color: #555; }
.kpi-value { font-size: 22px; font-weight: 600; }
"""
