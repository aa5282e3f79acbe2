"""Models in the running stack: trained once per spec and data, a champion in place, the world scored.

``workbench models up`` (run by ``make up``) calls ``deploy`` for each lake model: a model
is trained and registered only when no registered version was trained from the same
spec and the same data (``training_fingerprint``), so a second ``make up`` over unchanged
data reuses what is there. A model without a champion gets the version just found or
trained; a champion a modeller chose is never replaced here. The champion then scores its
table into ``curated.risk_scores``, and its latest weeks are selected and monitored
(``curated.model_monitoring``) so the risk overview shows how it does.

What "the same data" means while the live feed commits every second: the stack trains
on a snapshot cut at the start of the current UTC day (``snapshot_as_of``) - the rows
dated before it - and the fingerprint holds a digest of that snapshot's content, not the
table's Delta version. Records the feed lands today do not change it; a late inspection
result on an older record, or yesterday's feed once the day turns, does, and the next
``make up`` trains a challenger on it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from workbench.session import Session
from workbench.registry.store import CHAMPION, Registry
from workbench.risk.data import last_day, snapshot_digest
from workbench.risk.model import RiskModel
from workbench.risk.monitoring import monitor
from workbench.risk.scores import RISK_SCORES, ScoresReport, score_into_scores
from workbench.risk.selection import select_table
from workbench.risk.specs import LakeData, ModelSpec
from workbench.risk.training import train

Progress = Callable[[str], None]
MONITORED_WEEKS = 12


def snapshot_as_of(now: datetime | None = None) -> datetime:
    """Where the stack's training snapshot ends: the start of the current UTC day (module docstring)."""
    now = now or datetime.now(UTC)
    return datetime.combine(now.astimezone(UTC).date(), time())


def training_fingerprint(spec: ModelSpec, session: Session, as_of: datetime) -> str:
    """Hash of the spec and of the content of its training snapshot before ``as_of``: same hash, same model."""
    assert isinstance(spec.data, LakeData), "only lake models are deployed in the stack"
    payload = spec.model_dump_json(by_alias=True) + snapshot_digest(session, spec, as_of)
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


@dataclass(frozen=True)
class Deployment:
    """One model in the stack: its champion, whether this call trained a version, and the scores written."""

    name: str
    champion: int
    trained: int | None
    scores: ScoresReport | None

    def summary(self) -> str:
        how = f"trained v{self.trained}" if self.trained else "reused (spec and data unchanged)"
        scored = "" if self.scores is None else (
            f"; scored {self.scores.scored:,} records ({self.scores.selected:,} selected) in "
            f"{self.scores.seconds:.1f} s")
        return f"{self.name}: {how}; champion v{self.champion}{scored}"


def ensure_trained(session: Session, registry: Registry, spec: ModelSpec, progress: Progress = lambda _: None,
                   as_of: datetime | None = None) -> tuple[int, int | None]:
    """The version trained from this spec and its snapshot before ``as_of`` (default ``snapshot_as_of()``),
    training and registering one if none is, and the champion, set to that version if the model had none.
    Returns (champion, version trained or None)."""
    as_of = as_of or snapshot_as_of()
    fingerprint = training_fingerprint(spec, session, as_of)
    version = registry.trained_from(spec.name, fingerprint)
    trained = None
    if version is None:
        run = train(spec, progress=progress, session=session, as_of=as_of)
        progress("registering")
        version = trained = registry.register(run, fingerprint=fingerprint)
    if not registry.has_alias(spec.name, CHAMPION):
        registry.promote(spec.name, version)
    return registry.version_of(spec.name, CHAMPION), trained


def deploy(session: Session, registry: Registry, spec: ModelSpec, score: bool = True,
           progress: Progress = lambda _: None) -> Deployment:
    """``ensure_trained``, then score the model's table with the champion into ``curated.risk_scores``.

    Scoring is skipped when nothing changed: the champion was not trained now and its
    scores are in the table already.
    """
    champion, trained = ensure_trained(session, registry, spec, progress)
    report = None
    if score and (trained is not None or not _has_scores(session, spec.name, champion)):
        progress(f"scoring with v{champion}")
        model = registry.load(spec.name, CHAMPION)
        # the live scorer merges into the same table from its own process: the table's write lock
        # (workbench.lake.locks) makes its ticks wait for this merge instead of winning the race
        report = score_into_scores(session, model, champion, progress=lambda done: progress(f"scored {done:,} records"))
        progress("monitoring the latest weeks")
        monitor_latest(session, model, champion)
    return Deployment(spec.name, champion, trained, report)


def monitor_latest(session: Session, model: RiskModel, version: int, weeks: int = MONITORED_WEEKS) -> None:
    """Select and monitor the model's latest ``weeks`` whole weeks, so the risk overview has the champion's
    drift and realised hit rates per selection reason from the start (``workbench models select|monitor``)."""
    latest = last_day(session, model.spec)
    if latest is None:
        return
    until = latest + timedelta(days=1)
    since = until - timedelta(weeks=weeks)
    select_table(session, model, version, since, until)
    # a session reads tables made after it opened through a path that fails on text filters (the gate's
    # sandbox lists folders at open): the selections table may be new, so monitoring opens its own
    monitor(Session(session.settings), model, version, since, until)


def _has_scores(session: Session, name: str, version: int) -> bool:
    if RISK_SCORES not in set(session.tables()["name"].to_list()):
        return False
    found = session.sql(f"SELECT count(*) AS n FROM {RISK_SCORES} WHERE model = $model AND version = $version",
                        {"model": name, "version": version})
    return bool(found["n"][0])
