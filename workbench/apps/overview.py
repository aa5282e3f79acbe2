"""The managers' risk overview: declarations, inspections, hit rate, seizures and value; model performance.

Data functions (``declaration_facts``, ``seizure_facts``, ``filter_facts``, ``headline``,
``breakdown``, ``weekly``, ``model_performance``) are plain Polars and usable from a
notebook; ``overview_app`` lays them out as a Panel dashboard with a date range and port
filter, a CSV download of the view's table and a PNG of the view (``workbench.apps.export``).

Model performance over time: the realised hit rate of inspections per week (from the
declarations, always there) and, once the risk area's monitoring job has written
``curated.model_monitoring``, each model's weekly hit rate per selection reason (model
score, mandatory rule, random quota): the model's rate above the random quota's is its lift.
Clearance decisions (``curated.clearance_results``, recorded by officers in the clearance
app) are shown live: decisions, inspections, hits and the hit rate per selection reason,
refreshed every 15 seconds.

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

from workbench.apps.layout import number_text
from workbench.apps.queries import missing_tables, run_cached
from workbench.session import Session

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

MONITORING = "curated.model_monitoring"
MODEL_PERFORMANCE_SQL = f"""
select model, version, window_start as week, subject, value as hit_rate, rows as selected, labelled, hits
from {MONITORING} where kind = 'hit_rate'
order by model, version, week, subject
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


def weekly(decl: pl.DataFrame) -> pl.DataFrame:
    """Declarations, inspections, hits and the realised hit rate (hits / inspections) per week (Monday start)."""
    return (decl.sort("day").group_by_dynamic(pl.col("day").cast(pl.Datetime).alias("week"), every="1w")
            .agg(pl.col("declarations", "inspections", "hits").sum())
            .with_columns((pl.col("hits") / pl.when(pl.col("inspections") > 0).then(pl.col("inspections")))
                          .alias("hit_rate")))


CLEARANCE_RESULTS = "curated.clearance_results"
CLEARANCE_SQL = f"""
select case when selection like 'rule:%' then 'rule' when selection = 'score' then 'model' else selection end as reason,
       count(*) as decisions,
       count(*) filter (where decision = 'inspect' and result is not null) as inspections,
       count(*) filter (where result in ('discrepancy', 'seizure')) as hits,
       count(*) filter (where result = 'seizure') as seizures,
       sum(seizure_value_hkd) as seized_value_hkd
from {CLEARANCE_RESULTS}
group by all order by reason
"""


def clearance_outcomes(wb: Session) -> pl.DataFrame | None:
    """Officers' decisions so far per selection reason: decisions, inspections, hits, hit rate, seizures;
    None before the first decision. Read afresh on each call (cached on the table's version)."""
    if missing_tables(wb, [CLEARANCE_RESULTS]):
        return None
    frame = run_cached(wb, CLEARANCE_SQL, [CLEARANCE_RESULTS])
    return frame.with_columns(
        (pl.col("hits") / pl.when(pl.col("inspections") > 0).then(pl.col("inspections"))).alias("hit_rate"))


def model_performance(wb: Session) -> pl.DataFrame | None:
    """Each monitored model's realised hit rate per week and selection reason; None when not monitored yet."""
    if missing_tables(wb, [MONITORING]):
        return None
    return run_cached(wb, MODEL_PERFORMANCE_SQL, [MONITORING])


def to_csv(frame: pl.DataFrame) -> io.StringIO:
    """The frame as CSV in a buffer, for ``pn.widgets.FileDownload``."""
    return io.StringIO(frame.write_csv())


# ----------------------------------------------------------------------------- layout


def overview_app(wb: Session | None = None, lake: str | None = None) -> Any:
    """The risk overview as a Panel layout (one per browser session); ``wb`` defaults to ``connect(lake)``."""
    import holoviews as hv
    import panel as pn

    from workbench.apps.layout import data_table, empty_state, esc, off_loop, open_app, plain_formatters

    wb, title, blank = open_app(wb, lake, "Risk overview", [DECLARATIONS], "the risk overview")
    if blank is not None:
        return blank

    facts = declaration_facts(wb)
    seized = seizure_facts(wb)
    perf = model_performance(wb)
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
        line, bars, chapters = view_charts(decl, responsive=True)
        return pn.Column(pn.pane.HoloViews(line, sizing_mode="stretch_width"),
                         pn.Row(pn.pane.HoloViews(bars, sizing_mode="stretch_width"),
                                pn.pane.HoloViews(chapters, sizing_mode="stretch_width"), sizing_mode="stretch_width"),
                         sizing_mode="stretch_width")

    def performance(_dates: Any, _ports: Any, model: str | None) -> Any:
        decl, _ = view()
        chart = performance_chart(decl, perf, model, responsive=True)
        parts: list[Any] = [pn.pane.HoloViews(chart, sizing_mode="stretch_width")]
        if perf is None:
            parts.append(empty_state([MONITORING], "model hit rates per selection reason (the risk area's "
                                                   "`workbench models monitor` writes them)"))
        return pn.Column(*parts, sizing_mode="stretch_width")

    def table_frame() -> Any:
        return breakdown(*view(), GROUPINGS[group.value]).to_pandas()

    initial = table_frame()
    table = pn.widgets.Tabulator(initial, disabled=True, show_index=False, pagination="local", page_size=15,
                                 formatters=plain_formatters(initial), sizing_mode="stretch_width")

    def refresh_table(_event: Any) -> None:  # patch the one table's data: cheaper than drawing a new widget
        frame = table_frame()
        table.formatters = plain_formatters(frame)
        table.value = frame

    for widget in (dates, ports, group):
        widget.param.watch(refresh_table, "value")

    def csv() -> io.StringIO:
        decl, seiz = view()
        return to_csv(breakdown(decl, seiz, GROUPINGS[group.value]))

    download = pn.widgets.FileDownload(callback=csv, filename="risk_overview.csv", label="Download CSV",
                                       button_type="primary", width=180)
    make_png = pn.widgets.Button(name="Make PNG of this view", button_type="default", width=200)
    png = pn.widgets.FileDownload(filename="risk_overview.png", label="Download PNG", button_type="primary",
                                  width=180, visible=False)
    png_note = pn.pane.HTML("", width=360)

    async def render_png(_event: Any) -> None:
        from workbench.apps.export import ExportError

        decl, seiz = view()
        start, end = dates.value or (None, None)
        caption = f"Lodged {start} to {end}; ports: {', '.join(ports.value) or 'all'}"
        make_png.loading, png.visible = True, False
        try:
            picture = await off_loop(wb, overview_png, decl, seiz, perf, models.value, caption)
        except ExportError as failed:
            png_note.object = f'<span style="color:#c92a2a">{esc(failed)}</span>'
            return
        finally:
            make_png.loading = False
        png.file, png.visible = io.BytesIO(picture), True
        png_note.object = f"PNG ready ({len(picture) // 1024} KB)"

    make_png.on_click(render_png)
    model_names = [] if perf is None else sorted(perf["model"].unique().to_list())
    models = pn.widgets.Select(name="Model", options=model_names, value=model_names[0] if model_names else None,
                               width=240, visible=bool(model_names))
    live = pn.Column(sizing_mode="stretch_width")

    async def refresh_live() -> None:
        outcomes = await off_loop(wb, clearance_outcomes, wb)
        if outcomes is None or not outcomes.height:
            live.objects = [pn.pane.Alert("No clearance decision recorded yet (the clearance app records them).",
                                          alert_type="info", sizing_mode="stretch_width")]
            return
        total = outcomes.select(pl.col("decisions", "inspections", "hits").sum()).row(0, named=True)
        rate = total["hits"] / total["inspections"] if total["inspections"] else None
        cards = [("Decisions", number_text(total["decisions"])), ("Inspections", number_text(total["inspections"])),
                 ("Hits", number_text(total["hits"])), ("Hit rate", "n/a" if rate is None else f"{rate:.1%}")]
        live.objects = [pn.FlexBox(*[pn.pane.HTML(
            f'<div class="kpi"><div class="kpi-label">{label}</div><div class="kpi-value">{value}</div></div>',
            stylesheets=[KPI_CSS]) for label, value in cards]),
            data_table(outcomes.with_columns(pl.col("hit_rate").round(3)))]

    pn.state.onload(refresh_live)
    pn.state.add_periodic_callback(refresh_live, period=15_000)
    hv.extension("bokeh", logo=False)
    return pn.Column(
        title, pn.Row(dates, ports, download, make_png, png, png_note),
        pn.pane.Markdown("### Clearance decisions (live, per selection reason)"), live,
        pn.panel(pn.bind(figures, dates, ports)),
        pn.panel(pn.bind(plots, dates, ports)),
        pn.pane.Markdown("### Model performance over time"), models,
        pn.panel(pn.bind(performance, dates, ports, models)),
        group, table,
        sizing_mode="stretch_width",
    )


def view_charts(decl: pl.DataFrame, responsive: bool = False, width: int = 1100) -> tuple[Any, Any, Any]:
    """The overview's three charts of ``decl``: per week, by port, value by HS chapter (top 15).

    ``responsive`` for the page; a fixed ``width`` for the PNG export, where no browser
    window sizes them.
    """
    import hvplot.pandas  # noqa: F401

    size: dict[str, Any] = {"responsive": True} if responsive else {"width": width}
    half: dict[str, Any] = {"responsive": True} if responsive else {"width": width // 2}
    per_week = weekly(decl).to_pandas()
    by_port = breakdown(decl, None, "port").sort("declarations", descending=True).to_pandas()
    by_ch = breakdown(decl, None, "hs_chapter").sort("value_hkd", descending=True).head(15).to_pandas()
    line = per_week.hvplot.line(x="week", y=["declarations", "inspections", "hits"], title="Per week", height=280,
                                legend="top_left", **size)
    bars = by_port.hvplot.bar(x="port", y="declarations", title="Declarations by port", height=280, rot=45, **half)
    chapters = by_ch.hvplot.bar(x="hs_chapter", y="value_hkd", title="Declared value by HS chapter (top 15)",
                                height=280, rot=45, yformatter="%.0f", **half)
    return line, bars, chapters


def performance_chart(decl: pl.DataFrame, perf: pl.DataFrame | None, model: str | None, responsive: bool = False,
                      width: int = 1100) -> Any:
    """Weekly realised hit rate of all inspections, overlaid with ``model``'s hit rate per selection reason."""
    import holoviews as hv
    import hvplot.pandas  # noqa: F401

    size: dict[str, Any] = {"responsive": True} if responsive else {"width": width}
    inspections = weekly(decl).select("week", pl.col("hit_rate").alias("all inspections")).to_pandas()
    curves = [inspections.hvplot.line(x="week", y="all inspections", label="all inspections (declarations)",
                                      height=260, **size)]
    if perf is not None and model is not None:
        mine = perf.filter(pl.col("model") == model).with_columns(
            pl.col("week").cast(pl.Datetime), (pl.col("subject") + " (" + pl.lit(model) + ")").alias("series"))
        curves += [rows.to_pandas().hvplot.line(x="week", y="hit_rate", label=str(series), height=260, **size)
                   for (series,), rows in mine.group_by("series", maintain_order=True)]
    return hv.Overlay(curves).opts(hv.opts.Overlay(title="Realised hit rate per week", legend_position="top_left",
                                                   ylabel="hits / inspected"))


def overview_png(decl: pl.DataFrame, seiz: pl.DataFrame | None, perf: pl.DataFrame | None, model: str | None,
                 caption: str, width: int = 1100) -> bytes:
    """The current view (headline figures, charts, model performance) as one PNG."""
    import holoviews as hv

    from workbench.apps.export import png_of
    from workbench.apps.layout import esc

    h = headline(decl, seiz)
    figures = [("Declarations", number_text(h.declarations)), ("Inspections", number_text(h.inspections)),
               ("Hits", number_text(h.hits)), ("Hit rate", "n/a" if h.hit_rate is None else f"{h.hit_rate:.1%}"),
               ("Declared value (HKD)", number_text(h.value_hkd))]
    if h.seizures is not None:
        figures.append(("Seizures", number_text(h.seizures)))
    text = (f"<h2 style='margin:0'>Risk overview</h2><div>{esc(caption)}</div><div style='font-size:18px'>"
            + " · ".join(f"{esc(k)}: <b>{esc(v)}</b>" for k, v in figures) + "</div>")
    from bokeh.layouts import column, row
    from bokeh.models import Div

    def draw(chart: Any) -> Any:
        return hv.render(chart.opts(toolbar=None), backend="bokeh")

    line, bars, chapters = view_charts(decl, width=width)
    view = column(Div(text=text, width=width, height=90), draw(line), row(draw(bars), draw(chapters)),
                  draw(performance_chart(decl, perf, model, width=width)))
    return png_of(view, width + 40, 90 + 3 * 300 + 80, title="Risk overview")


KPI_CSS = """
.kpi { padding: 6px 14px; border-radius: 6px; background: #f3f5f8; min-width: 130px; }
.kpi-label { font-size: 12px; color: #555; }
.kpi-value { font-size: 22px; font-weight: 600; }
"""
