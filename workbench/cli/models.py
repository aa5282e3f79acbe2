"""``workbench models``: train, score (files, lake tables, HTTP), promote, list and compare risk models.

Specs come from ``models/<NAME>.toml`` in the checkout (``--specs`` for another folder);
the registry lives under the lake (``<lake>/models/registry``) unless ``--registry`` says
otherwise, so ``train`` followed by ``score`` needs no other step.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click
import pandas as pd
import polars as pl

import workbench
from workbench.cli.common import console, emit, format_option
from workbench.errors import AccessDenied, WorkbenchError
from workbench.registry import Registry, registry_folder
from workbench.risk import load_model_spec, score_file, score_table, train
from workbench.risk.data import last_day
from workbench.risk.model import RiskModel
from workbench.risk.monitoring import MONITORING, monitor
from workbench.risk.selection import SELECTIONS, select_table
from workbench.risk.service import scoring_token, serve
from workbench.risk.specs import LakeData

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_SPECS = Path(workbench.__file__).resolve().parents[1] / "models"
PROMOTERS = ("modeller", "system")
"""Roles whose session may promote a champion: modellers, and the platform's own jobs (``models up``)."""


@dataclass(frozen=True)
class Home:
    """Where a command works: the registry, and the lake a session opens on when a command needs data."""

    registry: Registry
    lake: str | None

    def session(self) -> workbench.Session:
        return workbench.connect(self.lake)


def home_option(func: F) -> F:
    """Add ``--lake`` and ``--registry`` and pass a ``Home`` as ``home``."""

    @click.option("--lake", default=None, metavar="DIR",
                  help="Lake root whose models/registry folder holds the registry (default: the configured lake).")
    @click.option("--registry", "folder", default=None, type=click.Path(file_okay=False, path_type=Path),
                  help="Registry folder, overriding the one under the lake.")
    @wraps(func)
    def wrapper(*args: Any, lake: str | None, folder: Path | None, **kwargs: Any) -> Any:
        return func(*args, home=Home(Registry(folder or registry_folder(lake)), lake), **kwargs)

    return wrapper  # type: ignore[return-value]


def specs_option(func: F) -> F:
    return click.option("--specs", "specs", default=DEFAULT_SPECS, show_default=True,
                        type=click.Path(file_okay=False, path_type=Path), help="Folder of model spec files.")(func)


def _frame(table: pd.DataFrame) -> pl.DataFrame:
    return pl.from_pandas(table)


@click.group("models")
def models() -> None:
    """Risk models: train with baselines, register in MLflow, promote, score files (list and promote serve the
    NLP models, ner and topics, too)."""


@models.command("train")
@click.argument("name")
@specs_option
@home_option
@format_option("table", "json")
def train_command(name: str, specs: Path, home: Home, fmt: str) -> None:
    """Train NAME from models/NAME.toml, compare with baselines, register a new version."""
    spec = load_model_spec(name, specs)
    session = home.session() if isinstance(spec.data, LakeData) else None
    with console.status(f"training {name}") as status:
        run = train(spec, progress=lambda step: status.update(f"{name}: {step}"), session=session)
        status.update(f"{name}: registering")
        version = home.registry.register(run)
    if fmt == "json":
        click.echo(json.dumps({"name": name, "version": version, "selected": run.selected,
                               "results": run.results.to_dict("records")}, default=str, indent=1))
        return
    headline = [c for c in run.results.columns if c.startswith(("precision_at", "recall_at")) or c == "roc_auc"]
    emit(_frame(run.results[["kind", "name", *headline]].round(3)), fmt, title=f"{name} v{version}: validation period (selected {run.selected})")
    if run.data.rejections:
        console.print(f"{len(run.data.rejections)} training rows broke the input contract and were left out")


@models.command("up")
@click.argument("names", nargs=-1)
@click.option("--no-score", is_flag=True, help="Train and register only; leave curated.risk_scores as it is.")
@specs_option
@home_option
def up_command(names: tuple[str, ...], no_score: bool, specs: Path, home: Home) -> None:
    """Put the lake models (NAMES, default every spec reading the lake) in the stack: train unless the spec
    and data are unchanged, set a champion where none is, score their tables into curated.risk_scores."""
    from workbench.registry.deploy import deploy

    chosen = [load_model_spec(n, specs) for n in names] if names else _lake_specs(specs)
    session = home.session()
    failed = []
    for spec in chosen:
        with console.status(f"{spec.name}") as status:
            try:
                done = deploy(session, home.registry, spec, score=not no_score,
                              progress=lambda step, name=spec.name: status.update(f"{name}: {step}"))
            except WorkbenchError as exc:  # one model that cannot be trained must not keep the others out
                console.print(f"[red]{spec.name} not deployed[/]: {exc}", highlight=False)
                failed.append(spec.name)
                continue
        console.print(done.summary(), highlight=False)
    if chosen and len(failed) == len(chosen):
        raise SystemExit(1)


@models.command("live")
@click.argument("names", nargs=-1)
@click.option("--every", default=1.0, show_default=True, type=click.FloatRange(0.05),
              help="Seconds between looks for newly landed records.")
@click.option("--alias", default="champion", show_default=True, help="Which registered version scores.")
@specs_option
@home_option
def live_command(names: tuple[str, ...], every: float, alias: str, specs: Path, home: Home) -> None:
    """Score each record that lands in NAMES' tables (default: every lake model), queue the selected ones in
    curated.clearance_queue, and take officers' decisions into the hit rates (until Ctrl-C or SIGTERM)."""
    import signal
    import threading

    from workbench.risk.champions import Champions
    from workbench.risk.live import LiveScorer

    chosen = list(names) or [spec.name for spec in _lake_specs(specs)]
    registry = home.registry
    champions = Champions(lambda name: registry.version_of(name, alias),
                          lambda name, version: registry.load(name, version=version), chosen)
    champions.check()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    served = ", ".join(f"{n} v{s.version}" for n, s in champions.served.items()) or "no model yet"
    click.echo(f"live scoring with {served}, every {every:g} s", err=True)

    def report(tick: Any) -> None:
        if tick.scored or tick.decided or tick.rejected:
            scored = ", ".join(f"{n} {c}" for n, c in tick.scored.items()) or "none"
            click.echo(f"scored {scored}; queued {tick.queued}; {tick.decided} decided; {tick.rejected} rejected "
                       f"({tick.seconds:.2f} s)", err=True)

    try:
        LiveScorer(home.session(), champions).run(every=every, stop=stop, on_tick=report)
    except KeyboardInterrupt:
        pass


def _lake_specs(folder: Path) -> list[Any]:
    """The specs of ``folder`` that the stack deploys: lake data and an ``[inspection]``."""
    specs = (load_model_spec(p, folder) for p in sorted(folder.glob("*.toml")))
    return [s for s in specs if isinstance(s.data, LakeData) and s.inspection is not None]


@models.command("score")
@click.argument("name")
@click.option("--input", "source", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="CSV shaped like the model's input, without label columns.")
@click.option("--output", "target", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="CSV to write: id, score, reason_1..3, riskiest first.")
@click.option("--alias", default="champion", show_default=True, help="Which registered version scores.")
@home_option
@format_option("table", "json")
def score_command(name: str, source: Path, target: Path, alias: str, home: Home, fmt: str) -> None:
    """Score a CSV with NAME's champion; rows breaking the input rules are reported and skipped."""
    report = score_file(home.registry.load(name, alias), source, target)
    if fmt == "json":
        click.echo(json.dumps({"output": report.output, "scored": report.scored,
                               "rejected": [r.__dict__ | {"reason": r.reason} for r in report.rejections]},
                              default=str, indent=1))
        return
    for rejection in report.rejections:
        click.echo(f"rejected: {rejection.reason}", err=True)
    click.echo(f"scored {report.scored} rows into {report.output}; {len(report.rejections)} rejected")


@models.command("promote")
@click.argument("name")
@click.argument("version", type=int)
@home_option
def promote_command(name: str, version: int, home: Home) -> None:
    """Make VERSION of NAME the champion used by score, the scoring service and the NLP loaders (modellers only;
    audited)."""
    session = home.session()
    if session.role not in PROMOTERS:
        session.audit.record("model_promote", status="denied", resource=f"model:{name} v{version}", model=name,
                             version=version)
        raise AccessDenied(f"model:{name}", "promote", session.role,
                           reason=f"only {' or '.join(PROMOTERS)} sessions promote a model")
    trail = session.audit  # opened first: no audit trail, no promotion
    home.registry.promote(name, version)
    trail.record("model_promote", resource=f"model:{name} v{version}", model=name, version=version)
    click.echo(f"{name} v{version} is now champion")


@models.command("list")
@click.argument("name", required=False)
@home_option
@format_option("table", "json")
def list_command(name: str | None, home: Home, fmt: str) -> None:
    """List registered versions with their aliases and selection metric."""
    emit(_frame(home.registry.versions(name)), fmt, title="Registered models")


@models.command("compare")
@click.argument("name")
@click.option("--recent-weeks", type=click.IntRange(1), default=None, metavar="N",
              help="Also score the champion and the challenger on the newest N weeks' labelled rows, side by side.")
@home_option
@format_option("table", "json", "csv")
def compare_command(name: str, recent_weeks: int | None, home: Home, fmt: str) -> None:
    """Validation metrics of NAME's versions side by side (model, candidates, baselines); with --recent-weeks,
    the champion and the challenger judged on the same newest traffic."""
    emit(_frame(home.registry.compare(name)), fmt, title=f"{name}: versions compared")
    if recent_weeks:
        from workbench.registry.store import CHALLENGER, CHAMPION
        from workbench.risk.monitoring import compare_recent

        chosen = {f"{alias} v{home.registry.version_of(name, alias)}": home.registry.load(name, alias)
                  for alias in (CHAMPION, CHALLENGER)}
        table = compare_recent(home.session(), chosen, recent_weeks)
        emit(_frame(table.round(4)), fmt, title=f"{name}: champion and challenger on the newest {recent_weeks} weeks")


@models.command("score-table")
@click.argument("name")
@click.option("--table", default=None, help="Lake table to score (default: the model's own table).")
@click.option("--into", required=True, help="Scores table to (re)write, e.g. work.declaration_scores.")
@click.option("--alias", default="champion", show_default=True, help="Which registered version scores.")
@click.option("--batch-rows", default=200_000, show_default=True, help="Rows read and scored per batch.")
@click.option("--dask-workers", default=0, show_default=True,
              help="Score on a Dask cluster of this many workers (the hub's gateway, else local), one task per "
                   "data file; 0 scores in this process.")
@home_option
@format_option("table", "json")
def score_table_command(name: str, table: str | None, into: str, alias: str, batch_rows: int, dask_workers: int,
                        home: Home, fmt: str) -> None:
    """Score a lake table with NAME in batches into a scores table (id, score, reasons, model)."""
    version = home.registry.version_of(name, alias)
    model = home.registry.load(name, alias)
    with console.status(f"scoring with {name} v{version}") as status:
        progress = lambda done: status.update(f"{done:,} rows scored")  # noqa: E731
        if dask_workers:
            from workbench.compute import client

            with client(workers=dask_workers, processes=True) as dask_client:
                report = score_table(home.session(), model, into, table=table, model_version=f"v{version}",
                                     progress=progress, client=dask_client)
                dask_client.cluster.close()
        else:
            report = score_table(home.session(), model, into, table=table, model_version=f"v{version}",
                                 batch_rows=batch_rows, progress=progress)
    summary = {"table": report.table, "into": report.into, "scored": report.scored,
               "rejected": len(report.rejections), "versions": report.versions,
               "rows_per_second": round(report.rows_per_second)}
    if fmt == "json":
        click.echo(json.dumps(summary, indent=1))
        return
    for rejection in report.rejections[:20]:
        click.echo(f"rejected: {rejection.reason}", err=True)
    click.echo(f"scored {report.scored:,} rows of {report.table} into {report.into} with {name} v{version} "
               f"({summary['rows_per_second']:,} rows/s); {len(report.rejections)} rejected")


@models.command("serve")
@click.argument("names", nargs=-1, required=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on (loopback by default).")
@click.option("--alias", default="champion", show_default=True, help="Which registered version serves.")
@click.option("--token-file", default=None, type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="File holding the bearer token (default: the scoring_token setting, $WORKBENCH_SCORING_TOKEN).")
@click.option("--hub", "hub_auth", is_flag=True,
              help="Run as the hub's scoring service: callers present hub tokens with access to it, not a shared token.")
@click.option("--prefix", default="", help="Path the routes sit under (the hub service's /services/scoring).")
@click.option("--watch", "watch_seconds", default=5.0, show_default=True, type=float,
              help="Seconds between checks for a newly promoted version (0: never reload).")
@click.option("--access-log", default=None, type=click.Path(dir_okay=False, path_type=Path),
              help="JSON access log, one line per request (default: the scoring_access_log setting, "
                   "else <lake>/../logs/scoring-access.log).")
@home_option
def serve_command(names: tuple[str, ...], port: int, host: str, alias: str, token_file: Path | None, hub_auth: bool,
                  prefix: str, watch_seconds: float, access_log: Path | None, home: Home) -> None:
    """Serve NAMES over HTTP: POST /score/<name> (or /score for one model) with a JSON record or list.

    A newly promoted version is loaded beside the old one and takes over without a failed request.
    """
    from workbench.risk.service import Champions, bearer_token, scoring_app
    from workbench.security.access_log import ANONYMOUS_CALLER, open_access_log, scoring_access_log_path, token_identity
    from workbench.settings import load_settings

    if hub_auth:
        from workbench.risk.hub_access import hub_authorize

        authorize, callers = hub_authorize()
        identify = callers.identify
    else:
        token = scoring_token(token_file)
        authorize, known = bearer_token(token), f"Bearer {token}".encode()
        identify = lambda header: token_identity(token) if hmac.compare_digest(header, known) else ANONYMOUS_CALLER  # noqa: E731
    registry = home.registry
    champions = Champions(lambda name: registry.version_of(name, alias),
                          lambda name, version: registry.load(name, version=version), list(names))
    champions.check()
    log = access_log or scoring_access_log_path(load_settings(lake=home.lake))
    served = ", ".join(f"{n} v{s.version}" for n, s in champions.served.items()) or "no model yet (waiting for one)"
    click.echo(f"serving {served} on http://{host}:{port}/score, access log {log or 'stderr'}", err=True)
    serve(scoring_app(champions, authorize, watch_seconds or None, prefix=prefix), identify, host=host, port=port,
          log_fd=open_access_log(log))


def _window(home: Home, model: RiskModel, since: datetime | None, until: datetime | None,
            days: int = 28) -> tuple[date, date]:
    """``[since, until)`` as dates; ``until`` defaults to the day after the model table's latest row (or
    tomorrow when empty), ``since`` to ``days`` before ``until``."""
    if until is None:
        latest = last_day(home.session(), model.spec)
        end = (latest or date.today()) + timedelta(days=1)
    else:
        end = until.date()
    return (since.date() if since else end - timedelta(days=days)), end


def window_options(func: F) -> F:
    func = click.option("--until", type=click.DateTime(["%Y-%m-%d"]), default=None,
                        help="First day NOT included (default: the day after the table's latest row).")(func)
    return click.option("--since", type=click.DateTime(["%Y-%m-%d"]), default=None,
                        help="First day included (default: 28 days before --until).")(func)


@models.command("select")
@click.argument("name")
@window_options
@click.option("--into", default=SELECTIONS, show_default=True, help="Selections table to merge into.")
@click.option("--alias", default="champion", show_default=True, help="Which registered version scores.")
@home_option
@format_option("table", "json")
def select_command(name: str, since: datetime | None, until: datetime | None, into: str, alias: str, home: Home,
                   fmt: str) -> None:
    """Choose each week's inspections (rules, random quota, score) from NAME's table and record why."""
    version, model = home.registry.version_of(name, alias), home.registry.load(name, alias)
    start, end = _window(home, model, since, until)
    report = select_table(home.session(), model, version, start, end, into=into)
    summary = {"into": report.into, "since": start.isoformat(), "until": end.isoformat(),
               "considered": report.considered, "chosen": report.chosen, "rejected": len(report.rejections)}
    if fmt == "json":
        click.echo(json.dumps(summary, indent=1))
        return
    chosen = ", ".join(f"{n:,} by {reason}" for reason, n in sorted(report.chosen.items())) or "none"
    click.echo(f"{name} v{version}: {report.considered:,} rows from {start} to {end} (exclusive); chosen {chosen}; "
               f"recorded in {report.into}; {len(report.rejections)} rejected")


@models.command("monitor")
@click.argument("name")
@window_options
@click.option("--scores", default=None, help="Batch scores table to judge (default: the champion re-scores the rows).")
@click.option("--selections", default=SELECTIONS, show_default=True, help="Selections table for realised hit rates.")
@click.option("--into", default=MONITORING, show_default=True, help="Monitoring table to merge the figures into.")
@click.option("--alias", default="champion", show_default=True, help="Which registered version is monitored.")
@click.option("--alert/--no-alert", "alert", default=True, show_default=True,
              help="Raise drift alerts to security.alerts and the SIEM sinks of settings.siem_sinks (once each).")
@home_option
@format_option("table", "json")
def monitor_command(name: str, since: datetime | None, until: datetime | None, scores: str | None, selections: str,
                    into: str, alias: str, alert: bool, home: Home, fmt: str) -> None:
    """Weekly score and feature drift (PSI vs training) and realised hit rates per selection reason."""
    from workbench.siem.drift import drift_alerts
    from workbench.siem.pipeline import raise_alerts
    from workbench.siem.sinks import sink_from_config
    from workbench.settings import load_settings

    version, model = home.registry.version_of(name, alias), home.registry.load(name, alias)
    start, end = _window(home, model, since, until)
    session = home.session()
    report = monitor(session, model, version, start, end, selections=selections, scores=scores, into=into)
    frame = report.frame
    raised = None
    if alert:  # monitoring writes curated tables, so whoever runs it may raise its alerts too
        alerts = drift_alerts(frame, report.into or into)
        sinks = [sink_from_config(config) for config in load_settings(lake=home.lake).siem_sinks]
        new, delivered, failures = raise_alerts(session, alerts, sinks)
        raised = {"new": [a.alert_id for a in new], "known": len(alerts) - len(new), "delivered": delivered,
                  "failures": failures}
    if fmt == "json":
        click.echo(json.dumps({"into": report.into, "rows": frame.height, "alerts": report.alerts.to_dicts(),
                               "top_drifting": report.top_drifting().to_dicts(),
                               "raised": raised},
                              default=str, indent=1))
        return
    weekly = frame.filter(pl.col("kind") == "score_drift").select("window_start", "rows", pl.col("value").alias("score_psi"))
    rates = frame.filter(pl.col("kind") == "hit_rate")
    if rates.height:
        weekly = weekly.join(rates.pivot("subject", index="window_start", values="value"), on="window_start", how="full",
                             coalesce=True).sort("window_start")
    emit(weekly.with_columns(pl.selectors.float().round(3)), fmt,
         title=f"{name} v{version}: score PSI and hit rate by reason, per week (written to {report.into})")
    emit(report.top_drifting().select("subject", pl.col("value").round(3).alias("psi"), "window_start", "detail"), fmt,
         title="top drifting features")
    for alert in report.alerts.iter_rows(named=True):
        click.echo(f"ALERT {alert['kind']} {alert['subject']} week of {alert['window_start']}: "
                   f"PSI {alert['value']:.2f} > 0.25 ({alert['detail']})", err=True)
    if raised is not None and (raised["new"] or raised["known"]):
        failed = f"; failed sinks: {raised['failures']}" if raised["failures"] else ""
        click.echo(f"{len(raised['new'])} new alert(s) raised to security.alerts and delivered to "
                   f"{raised['delivered']} sink(s); {raised['known']} raised before{failed}", err=True)
