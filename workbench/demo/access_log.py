"""The analytics platform's own access log, with planted security anomalies.

About twenty staff work office hours from their usual workstation addresses; on top of
that the generator plants the incidents a SIEM must catch: a brute-force burst, a 3 a.m.
login from a new address, a bulk extraction, a burst of access denials, a privilege change
and use of a disabled account. Events are sorted by time and numbered afterwards, and
the anomaly events are listed in ``truth.log_anomalies``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from workbench.demo.batches import make_batch
from workbench.demo.config import Tag, WorldConfig
from workbench.demo.declarations import EPOCH_US
from workbench.demo.identifiers import numbered_ids
from workbench.demo.vocabulary import DISABLED_USER, LOG_RESOURCES, PLATFORM_USERS, WORLD_DAYS

LOG_DAYS = 90
"""The platform went live 90 days before the end of the world period."""
_NORMAL_ACTIONS = ("login_ok", "login_failed", "query", "export", "view_dashboard", "logout", "access_denied")
_NORMAL_P = (0.12, 0.02, 0.55, 0.04, 0.14, 0.12, 0.01)
_HOUR_P = np.array([0, 0, 0, 0, 0, 0, 0.01, 0.03, 0.10, 0.12, 0.12, 0.11, 0.06, 0.10, 0.11, 0.1, 0.08, 0.04, 0.02, 0.0, 0, 0, 0, 0])


@dataclass
class AccessLog:
    batch: pa.RecordBatch
    anomalies: pa.RecordBatch


def _ip(rng: np.random.Generator, internal: bool = True) -> str:
    if internal:
        return f"10.20.{rng.integers(1, 60)}.{rng.integers(2, 250)}"
    return f"{rng.choice([45, 103, 185, 197])}.{rng.integers(0, 256)}.{rng.integers(0, 256)}.{rng.integers(1, 255)}"


def build_access_log(cfg: WorldConfig) -> AccessLog:
    rng = cfg.rng(Tag.ACCESS_LOG)
    n = cfg.n_log_events
    users = [u for u, _ in PLATFORM_USERS]
    home_ip = [_ip(rng) for _ in users]
    typical_rows = rng.lognormal(np.log(2_000), 0.8, len(users)).astype(int) + 10
    start_day = WORLD_DAYS - LOG_DAYS

    # Ordinary behaviour, vectorised.
    user = rng.integers(0, len(users), n)
    day = start_day + rng.integers(0, LOG_DAYS, n)
    weekday = (day + 5) % 7 < 5  # 2022-01-01 was a Saturday
    day = np.where(weekday | (rng.random(n) < 0.1), day, day - 2)
    hour = rng.choice(24, n, p=_HOUR_P / _HOUR_P.sum())
    seconds = day * 86_400 + hour * 3_600 + rng.integers(0, 3_600, n)
    action = rng.choice(len(_NORMAL_ACTIONS), n, p=_NORMAL_P)
    names = np.array(_NORMAL_ACTIONS)[action]
    reads = np.isin(names, ("query", "export", "view_dashboard", "access_denied"))
    resource = np.where(reads, np.array(LOG_RESOURCES)[rng.integers(0, len(LOG_RESOURCES), n)], None)
    rows = np.where(np.isin(names, ("query", "export")), (typical_rows[user] * rng.lognormal(0, 0.5, n)).astype(int), -1)
    status = np.select([names == "login_failed", names == "access_denied"], ["failed", "denied"], "ok")
    events = {
        "seconds": seconds.tolist(), "user": np.array(users)[user].tolist(), "ip": np.array(home_ip)[user].tolist(),
        "action": names.tolist(), "resource": resource.tolist(), "rows": rows.tolist(), "status": status.tolist(),
        "anomaly": [None] * n,
    }

    def add(sec: int, who: str, ip: str, act: str, res: str | None, nrows: int, st: str, kind: str) -> None:
        for key, value in zip(events, (sec, who, ip, act, res, nrows, st, kind)):
            events[key].append(value)

    def when(day_offset: int, hour: int) -> int:
        return (start_day + day_offset) * 86_400 + hour * 3_600 + int(rng.integers(0, 3_000))

    # Planted incidents.
    victim = users[int(rng.integers(0, 8))]
    t0, attacker = when(int(rng.integers(10, 80)), 22), _ip(rng, internal=False)
    for k in range(int(rng.integers(40, 80))):
        add(t0 + k * int(rng.integers(2, 8)), victim, attacker, "login_failed", None, -1, "failed", "brute_force")
    night_user = users[int(rng.integers(0, 8))]
    t1 = when(int(rng.integers(10, 80)), 3)
    new_ip = _ip(rng, internal=False)
    add(t1, night_user, new_ip, "login_ok", None, -1, "ok", "night_login_new_ip")
    add(t1 + 120, night_user, new_ip, "query", "curated.people", 5_000, "ok", "night_login_new_ip")
    bulk = int(rng.integers(0, 8))
    t2 = when(int(rng.integers(10, 80)), 16)
    for k in range(3):
        add(t2 + k * 300, users[bulk], home_ip[bulk], "export", "curated.declarations", int(typical_rows[bulk] * 100 * (k + 1)), "ok", "bulk_export")
    prober = int(rng.integers(8, 14))
    t3 = when(int(rng.integers(10, 80)), 11)
    for k in range(int(rng.integers(20, 35))):
        add(t3 + k * 20, users[prober], home_ip[prober], "access_denied", "truth.rings" if k % 2 else "truth.entities", -1, "denied", "access_denied_burst")
    admin = int(rng.integers(18, 20))
    t4 = when(int(rng.integers(10, 80)), 19)
    add(t4, users[admin], home_ip[admin], "role_change", f"user:{users[int(rng.integers(0, 8))]} -> admin", -1, "ok", "privilege_change")
    t5 = when(int(rng.integers(10, 80)), 14)
    for k, act in enumerate(("login_ok", "query", "export")):
        add(t5 + k * 200, DISABLED_USER, _ip(rng), act, None if k == 0 else "curated.traders", -1 if k == 0 else 20_000, "ok", "disabled_account")

    order = np.argsort(np.array(events["seconds"]), kind="stable")
    ids = numbered_ids("EV", np.arange(1, len(order) + 1), 9)
    rows_ = np.array(events["rows"])[order]
    batch = make_batch("raw.platform_access_log", {
        "event_id": ids,
        "ts": pa.array(EPOCH_US + np.array(events["seconds"])[order] * 1_000_000, type=pa.timestamp("us")),
        "user_name": [events["user"][i] for i in order],
        "source_ip": [events["ip"][i] for i in order],
        "action": [events["action"][i] for i in order],
        "resource": [events["resource"][i] for i in order],
        "rows_returned": pa.array(rows_, mask=rows_ < 0, type=pa.int64()),
        "status": [events["status"][i] for i in order],
    })
    kinds = [events["anomaly"][i] for i in order]
    flagged = [j for j, k in enumerate(kinds) if k]
    anomalies = make_batch("truth.log_anomalies", {"event_id": ids.take(flagged), "kind": [kinds[j] for j in flagged]})
    return AccessLog(batch, anomalies)


def demo_accounts() -> dict[str, bool]:
    """The synthetic world's account directory (name -> enabled): its staff and one disabled contractor.

    What the SIEM checks its access log against when it runs on this world (tests, benchmarks).
    """
    return {**{name: True for name, _ in PLATFORM_USERS}, DISABLED_USER: False}
