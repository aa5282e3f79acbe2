"""Recovery after SIGKILL: every supervised component killed in turn, ``--rounds`` times, beside ``platform up``.

The real local stack starts in a sandbox as the fault tests start it
(``tests/fault_support.SharedStack``: free ports, temp state, Unix users ``wbt<hex>-*``, the
tiny world in its lake, the demo source PostgreSQL under supervisord; all removed at the
end). Then each round kills every component once, in the fault test's order, and times
from the SIGKILL to a new process whose probe answers (``fault_support.recovery_probes``:
PostgreSQL accepts a connection, the audit socket accepts, the hub answers through the
proxy, the gateway and the dashboards answer their health checks through it). For the
dashboards a second figure: the kill to a manager's real dashboard page (risk overview,
hub OAuth, the app's code and the lake) rendered, which includes the warm-up the service
does after it answers (``workbench.apps.service.warm_up``).

Baseline, same run: what recovery was before supervision, ``platform up`` of the stopped
stack (the issue measured about 35 s). Reported: per component the median and max
seconds and the CPU seconds the restarted process used until it answered (load-
independent), the p95 over all kills against the 10 s goal, the ratio p95 / ``up``, and
the load average before and after (the machine is shared: quote it beside the figures).

    nice -n 10 python benchmarks/bench_recovery.py --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the stack sandbox and the probes are the tests' own

from tests import hub_support as support  # noqa: E402
from tests.fault_support import COMPONENTS, Recovery, SharedStack, kill_and_wait, percentile, recovery_probes  # noqa: E402
from tests.hub_support import wait_until  # noqa: E402
from workbench.platform import stack  # noqa: E402
from workbench.platform.supervisor import Supervisor  # noqa: E402

GOAL_SECONDS = 10.0
GIVE_UP_AFTER = 180.0


def page_served(url: str, session: object) -> bool:
    import requests

    try:
        page = session.get(f"{url}/services/dashboards/risk-overview", timeout=30)  # type: ignore[attr-defined]
    except requests.RequestException:
        return False
    return page.status_code == 200 and "bokeh" in page.text.lower()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="Kills of each component.")
    args = parser.parse_args()
    load_before = os.getloadavg()
    shared = SharedStack("recov")
    try:
        running = shared.get()
        s = running.stack
        supervisor = Supervisor(s.profile.state_dir)
        probes = recovery_probes(s.profile, running.source_url)
        manager = support.login(s.url, "manager", s.passwords["manager"])[0]
        wait_until(lambda: page_served(s.url, manager), 120, what="the first dashboard page")
        kills: dict[str, list[Recovery]] = {name: [] for name in COMPONENTS}
        page_seconds: list[float] = []
        for _ in range(args.rounds):
            for name in COMPONENTS:
                killed = time.monotonic()
                kills[name].append(kill_and_wait(supervisor, name, probes[name], GIVE_UP_AFTER))
                if name == "dashboards":
                    wait_until(lambda: page_served(s.url, manager), GIVE_UP_AFTER, interval=0.05,
                               what="a dashboard page after the kill")
                    page_seconds.append(time.monotonic() - killed)
        stack.down(s.profile)
        started = time.monotonic()
        stack.up(s.profile, timeout=GIVE_UP_AFTER)
        up_seconds = time.monotonic() - started
    finally:
        shared.close()
    every = [r.seconds for runs in kills.values() for r in runs]
    p95 = percentile(every, 0.95)
    report = {
        "bench": "recovery", "rounds": args.rounds,
        "components": {name: {"median_s": round(statistics.median(r.seconds for r in runs), 2),
                              "max_s": round(max(r.seconds for r in runs), 2),
                              "cpu_median_s": round(statistics.median(r.cpu for r in runs), 2)}
                       for name, runs in kills.items()},
        "dashboards_page_median_s": round(statistics.median(page_seconds), 2),
        "dashboards_page_max_s": round(max(page_seconds), 2),
        "p95_s": round(p95, 2), "goal_s": GOAL_SECONDS, "goal_met": p95 <= GOAL_SECONDS,
        "baseline_platform_up_s": round(up_seconds, 2), "ratio_p95_to_up": round(p95 / up_seconds, 3),
        "load_average_before": [round(x, 1) for x in load_before],
        "load_average_after": [round(x, 1) for x in os.getloadavg()],
    }
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
