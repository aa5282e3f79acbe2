"""SIEM detectors over ``security.events``: each a small class with one ``detect`` method.

A detector takes the events frame (columns of ``security.events``, any order) and a
``DetectionContext`` (the account directory, if known) and returns ``Alert`` objects that
carry the ids of their evidence events. Detectors never read ``truth.*``; the planted
anomalies of the synthetic world are only used to score them (``score``).

Thresholds are class attributes, so a deployment tunes one by subclassing or by passing
keyword arguments, without copying the detection logic.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import polars as pl

from workbench.security.access_log import TOKEN_CALLER

SEVERITIES = ("low", "medium", "high", "critical")
ANONYMOUS = "-"
"""``user_name`` of an event nobody was logged in for (an unauthenticated request): not an account."""


@dataclass(frozen=True)
class Alert:
    """One alert: who, when, how bad, and the events that prove it."""

    detector: str
    severity: str
    user_name: str
    first_ts: datetime
    last_ts: datetime
    summary: str
    evidence: tuple[str, ...]

    @property
    def alert_id(self) -> str:
        """Stable across collection cycles, so an alert is stored and delivered once."""
        digest = hashlib.sha256(f"{self.detector}|{self.user_name}|{self.evidence[0]}".encode()).hexdigest()
        return f"AL{digest[:16]}"

    def row(self, raised_at: datetime) -> dict[str, object]:
        return {
            "alert_id": self.alert_id, "detector": self.detector, "severity": self.severity,
            "user_name": self.user_name, "first_ts": self.first_ts, "last_ts": self.last_ts,
            "summary": self.summary, "evidence": ",".join(self.evidence), "raised_at": raised_at,
        }


@dataclass(frozen=True)
class DetectionContext:
    """What detectors may know besides the events: ``accounts`` maps name -> enabled."""

    accounts: Mapping[str, bool] | None = None


class Detector:
    """Base: subclasses set ``name`` and implement ``detect``."""

    name = "detector"

    def __init__(self, **thresholds: object) -> None:
        for key, value in thresholds.items():
            if not hasattr(self, key):
                raise TypeError(f"{type(self).__name__} has no threshold {key!r}")
            setattr(self, key, value)

    def detect(self, events: pl.DataFrame, context: DetectionContext) -> list[Alert]:
        raise NotImplementedError


def _bursts(frame: pl.DataFrame, gap: timedelta, min_size: int, by: str = "user_name") -> Iterable[pl.DataFrame]:
    """Runs of one ``by`` value's (a user's) events with less than ``gap`` between neighbours, of ``min_size`` or more."""
    if frame.is_empty():
        return []
    runs = (
        frame.sort(by, "ts")
        .with_columns(
            ((pl.col(by) != pl.col(by).shift(1))
             | ((pl.col("ts") - pl.col("ts").shift(1)) > gap)).fill_null(True).cum_sum().alias("_run")
        )
    )
    return [g for _, g in runs.group_by("_run", maintain_order=True) if g.height >= min_size]


def _span(group: pl.DataFrame) -> tuple[datetime, datetime]:
    return group["ts"].min(), group["ts"].max()  # type: ignore[return-value]


class BruteForce(Detector):
    """Many failed logins on one account in quick succession (guessing passwords)."""

    name = "brute_force"
    min_failures = 10
    gap = timedelta(minutes=5)

    def detect(self, events: pl.DataFrame, context: DetectionContext) -> list[Alert]:
        failed = events.filter(pl.col("action") == "login_failed")
        alerts = []
        for run in _bursts(failed, self.gap, self.min_failures):
            first, last = _span(run)
            ips = sorted(set(run["source_ip"].drop_nulls().to_list()))
            followed = events.filter(
                (pl.col("user_name") == run["user_name"][0]) & (pl.col("action") == "login_ok")
                & pl.col("ts").is_between(last, last + timedelta(minutes=30)) & pl.col("source_ip").is_in(ips)
            )
            severity = "critical" if followed.height else "high"
            evidence = tuple(run["event_id"].to_list() + followed["event_id"].to_list())
            alerts.append(Alert(self.name, severity, run["user_name"][0], first, last,
                                f"{run.height} failed logins in {(last - first).total_seconds() / 60:.0f} min "
                                f"from {', '.join(ips)}" + ("; then a successful login" if followed.height else ""),
                                evidence))
        return alerts


class DenialBurst(Detector):
    """A user probing tables above their clearance, or one address probing a service without
    credentials (anonymous denials are counted per source address): many denials close together."""

    name = "denial_burst"
    min_denials = 5
    gap = timedelta(minutes=5)

    def detect(self, events: pl.DataFrame, context: DetectionContext) -> list[Alert]:
        denied = events.filter((pl.col("action") == "access_denied") | (pl.col("status") == "denied")).with_columns(
            pl.when(pl.col("user_name") == ANONYMOUS)
            .then(pl.lit(ANONYMOUS + "@") + pl.col("source_ip").fill_null("?"))
            .otherwise(pl.col("user_name")).alias("_caller"))
        alerts = []
        for run in _bursts(denied, self.gap, self.min_denials, by="_caller"):
            first, last = _span(run)
            resources = sorted(set(run["resource"].drop_nulls().to_list()))
            ips = sorted(set(run["source_ip"].drop_nulls().to_list()))
            alerts.append(Alert(self.name, "medium" if run.height < 20 else "high", run["user_name"][0], first, last,
                                f"{run.height} access denials in {(last - first).total_seconds() / 60:.0f} min "
                                f"on {', '.join(resources[:5])}" + (f" from {', '.join(ips[:5])}" if ips else ""),
                                tuple(run["event_id"].to_list())))
        return alerts


class UnusualLogin(Detector):
    """A successful login at an hour the user never works, or from an address they never used.

    An hour is unusual when under ``rare_hour_share`` of the user's other logins fall
    within an hour of it. Needs ``warmup`` earlier events of the user (a new account has no habits yet). The
    evidence is the login and what the same user did from the same address in the next
    ``follow`` hours.
    """

    name = "unusual_login"
    warmup = 20
    rare_hour_share = 0.005
    min_logins = 50
    """Hours are judged only against 50+ earlier logins: fewer say too little about habits."""
    follow = timedelta(hours=2)

    def detect(self, events: pl.DataFrame, context: DetectionContext) -> list[Alert]:
        ok = events.filter(pl.col("status") == "ok").sort("ts").with_columns(
            pl.int_range(pl.len()).over("user_name").alias("_nth"),
            (pl.int_range(pl.len()).over("user_name", "source_ip") == 0).alias("_new_ip"),
            pl.col("ts").dt.hour().alias("_hour"),
        )
        logins = ok.filter(pl.col("action") == "login_ok")
        # Share of the user's other logins within an hour either side of this one's hour.
        hours = logins.group_by("user_name", "_hour").len()
        near = pl.concat([hours.with_columns(((pl.col("_hour") + d) % 24).alias("_hour")) for d in (-1, 0, 1)])
        near = near.group_by("user_name", "_hour").agg(pl.col("len").sum().alias("_near")).join(
            logins.group_by("user_name").len().rename({"len": "_logins"}), on="user_name")
        flagged = (
            ok.join(near, on=["user_name", "_hour"], how="left")
            .with_columns(
                ((((pl.col("_near").fill_null(1) - 1) / pl.col("_logins").fill_null(1).clip(lower_bound=1))
                  < self.rare_hour_share) & (pl.col("_logins").fill_null(0) >= self.min_logins)).alias("_odd_hour"))
            .filter((pl.col("_nth") >= self.warmup)
                    & ((pl.col("_new_ip") & pl.col("source_ip").is_not_null())
                       | ((pl.col("action") == "login_ok") & pl.col("_odd_hour"))))
        )
        alerts: list[Alert] = []
        covered: set[str] = set()
        for row in flagged.iter_rows(named=True):
            if row["event_id"] in covered:
                continue
            start = row["ts"]
            after = ok.filter((pl.col("user_name") == row["user_name"]) & (pl.col("source_ip") == row["source_ip"])
                              & pl.col("ts").is_between(start, start + self.follow))
            ids = after["event_id"].to_list() or [row["event_id"]]
            covered.update(ids)
            reasons = []
            if row["_new_ip"]:
                reasons.append(f"first use of address {row['source_ip']}")
            if row["_odd_hour"] and row["action"] == "login_ok":
                reasons.append(f"login at {start:%H:%M}, an hour this user does not work")
            severity = "high" if len(reasons) == 2 else "medium"
            alerts.append(Alert(self.name, severity, row["user_name"], start, after["ts"].max() or start,
                                "; ".join(reasons), tuple(ids)))
        return alerts


class BulkExtraction(Detector):
    """Reads far above the user's own norm: robust z-score of log(rows) per user.

    z = (log rows - median) / (1.4826 * MAD) over the user's queries and exports; robust
    statistics, so the extraction itself barely moves the baseline it is judged against.
    """

    name = "bulk_extraction"
    z_threshold = 5.0
    min_history = 20
    min_rows = 1_000
    gap = timedelta(hours=1)

    def detect(self, events: pl.DataFrame, context: DetectionContext) -> list[Alert]:
        reads = events.filter(pl.col("rows_returned").is_not_null() & (pl.col("rows_returned") > 0)).with_columns(
            pl.col("rows_returned").cast(pl.Float64).log().alias("_log"))
        if reads.is_empty():
            return []
        scored = (
            reads.with_columns(
                pl.col("_log").median().over("user_name").alias("_med"),
                pl.len().over("user_name").alias("_n"),
            )
            .with_columns((pl.col("_log") - pl.col("_med")).abs().median().over("user_name").alias("_mad"))
            .with_columns(((pl.col("_log") - pl.col("_med")) / (1.4826 * pl.col("_mad").clip(lower_bound=0.05)))
                          .alias("_z"))
            .filter((pl.col("_n") >= self.min_history) & (pl.col("_z") >= self.z_threshold)
                    & (pl.col("rows_returned") >= self.min_rows))
        )
        alerts = []
        for run in _bursts(scored, self.gap, 1):
            first, last = _span(run)
            total = int(run["rows_returned"].sum())
            typical = float(run["_med"][0])
            z = float(run["_z"].max())
            severity = "critical" if z >= 2 * self.z_threshold else "high"
            alerts.append(Alert(self.name, severity, run["user_name"][0], first, last,
                                f"{total:,} rows in {run.height} reads (typical read {int(round(2.718281828 ** typical)):,} rows; "
                                f"robust z up to {z:.1f})", tuple(run["event_id"].to_list())))
        return alerts


class PrivilegeChange(Detector):
    """Every role change is reported: rare, and the first step of many attacks."""

    name = "privilege_change"

    def detect(self, events: pl.DataFrame, context: DetectionContext) -> list[Alert]:
        changes = events.filter(pl.col("action") == "role_change")
        return [
            Alert(self.name, "critical" if "admin" in str(row["resource"] or "") else "high", row["user_name"],
                  row["ts"], row["ts"], f"role change by {row['user_name']}: {row['resource']}", (row["event_id"],))
            for row in changes.iter_rows(named=True)
        ]


class DisabledAccount(Detector):
    """Any activity under a disabled account, or an account the directory does not know."""

    name = "disabled_account"

    def detect(self, events: pl.DataFrame, context: DetectionContext) -> list[Alert]:
        if context.accounts is None:
            return []
        known = context.accounts
        suspect = events.filter(~pl.col("user_name").is_in([n for n, enabled in known.items() if enabled])
                                & (pl.col("user_name") != ANONYMOUS) & ~pl.col("user_name").str.starts_with(TOKEN_CALLER))
        alerts = []
        for user, group in suspect.sort("ts").group_by("user_name", maintain_order=True):
            name = str(user[0])
            first, last = _span(group)
            state = "disabled" if name in known else "unknown"
            alerts.append(Alert(self.name, "critical" if state == "disabled" else "high", name, first, last,
                                f"{group.height} events under {state} account {name}", tuple(group["event_id"].to_list())))
        return alerts


class CrashLoop(Detector):
    """A platform component that keeps dying (``SupervisorLogCollector`` events).

    Critical when supervisord gave up on it (FATAL: it died at start ``startretries`` times
    in a row, and stays down until an administrator fixes the cause and runs ``workbench
    platform up``); high when it keeps dying after starting, ``min_exits`` unexpected exits
    less than ``gap`` apart (supervisord restarts those without end).
    """

    name = "crash_loop"
    min_exits = 5
    gap = timedelta(minutes=2)

    def detect(self, events: pl.DataFrame, context: DetectionContext) -> list[Alert]:
        alerts = [
            Alert(self.name, "critical", ANONYMOUS, row["ts"], row["ts"],
                  f"{row['resource']} kept dying at start; supervisord gave up restarting it (FATAL): fix the cause, "
                  "then `workbench platform up`", (row["event_id"],))
            for row in events.filter(pl.col("action") == "process_fatal").iter_rows(named=True)
        ]
        exits = events.filter(pl.col("action") == "process_exit").with_columns(
            pl.col("resource").str.split(":").list.first().alias("component"))
        for run in _bursts(exits, self.gap, self.min_exits, by="component"):
            first, last = _span(run)
            alerts.append(Alert(self.name, "high", ANONYMOUS, first, last,
                                f"{run['component'][0]} exited unexpectedly {run.height} times in "
                                f"{(last - first).total_seconds() / 60:.0f} min", tuple(run["event_id"].to_list())))
        return alerts


class RevokedDevice(Detector):
    """A field device an administrator revoked was used again (``device_refused``: ``security/devices.py``).

    Refused, so nothing was shown; yet whoever holds the lost or stolen phone is trying.
    One alert per device per burst (tries less than ``gap`` apart), critical when the
    device also tried to sign in again with the password (someone knows it).
    """

    name = "revoked_device"
    gap = timedelta(hours=1)

    def detect(self, events: pl.DataFrame, context: DetectionContext) -> list[Alert]:
        tries = events.filter(pl.col("action") == "device_refused")
        alerts = []
        for run in _bursts(tries, self.gap, 1, by="resource"):
            first, last = _span(run)
            ips = sorted(set(run["source_ip"].drop_nulls().to_list()))
            login = run.filter(pl.col("status") == "signed_in").height > 0
            alerts.append(Alert(self.name, "critical" if login else "high", run["user_name"][0], first, last,
                                f"revoked {run['resource'][0]} of {run['user_name'][0]} tried {run.height} time(s)"
                                + (f" from {', '.join(ips[:5])}" if ips else "")
                                + ("; including a password sign-in" if login else ""),
                                tuple(run["event_id"].to_list())))
        return alerts


DETECTORS: dict[str, type[Detector]] = {
    d.name: d for d in (BruteForce, UnusualLogin, BulkExtraction, DenialBurst, PrivilegeChange, DisabledAccount,
                        CrashLoop, RevokedDevice)
}


def run_detectors(events: pl.DataFrame, context: DetectionContext | None = None,
                  detectors: Sequence[Detector] | None = None) -> list[Alert]:
    """All alerts of ``detectors`` (default: one of each kind) over ``events``."""
    context = context or DetectionContext()
    chosen = detectors if detectors is not None else [cls() for cls in DETECTORS.values()]
    alerts: list[Alert] = []
    for detector in chosen:
        alerts.extend(detector.detect(events, context))
    return sorted(alerts, key=lambda a: (a.first_ts, a.detector, a.user_name))


# -- scoring against planted anomalies (tests and benchmarks only) -------------------------

TRUTH_KIND = {
    "brute_force": "brute_force", "unusual_login": "night_login_new_ip", "bulk_extraction": "bulk_export",
    "denial_burst": "access_denied_burst", "privilege_change": "privilege_change",
    "disabled_account": "disabled_account",
}


@dataclass
class DetectorScore:
    detector: str
    precision: float
    recall: float
    flagged: int
    planted: int
    alerts: int
    extra: dict[str, float] = field(default_factory=dict)


def score(alerts: Sequence[Alert], truth: pl.DataFrame) -> dict[str, DetectorScore]:
    """Event-level precision/recall per detector against ``truth`` (event_id, kind), plus ``all``.

    A detector is judged on the events of its own kind; ``all`` judges the union of every
    alert's evidence against every planted event.
    """
    by_kind: dict[str, set[str]] = {}
    for event_id, kind in truth.select("event_id", "kind").iter_rows():
        by_kind.setdefault(kind, set()).add(event_id)
    scores = {}
    for name, kind in TRUTH_KIND.items():
        flagged = {e for a in alerts if a.detector == name for e in a.evidence}
        planted = by_kind.get(kind, set())
        hit = len(flagged & planted)
        scores[name] = DetectorScore(name, hit / len(flagged) if flagged else 1.0,
                                     hit / len(planted) if planted else 1.0, len(flagged), len(planted),
                                     sum(a.detector == name for a in alerts))
    every = {e for a in alerts for e in a.evidence}
    planted_all = set().union(*by_kind.values()) if by_kind else set()
    hit = len(every & planted_all)
    scores["all"] = DetectorScore("all", hit / len(every) if every else 1.0,
                                  hit / len(planted_all) if planted_all else 1.0, len(every), len(planted_all), len(alerts))
    return scores
