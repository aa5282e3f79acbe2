"""One real stack with its SIEM for the modules that need one, and what killing its components means.

``SharedStack`` is the stack ``test_siem_platform`` and ``test_supervision`` both work on
(the ``shared_siem_stack`` session fixture): the tiny world in its lake, the demo source
PostgreSQL under supervisord, the SIEM on a ``SIEM_INTERVAL`` cycle posting to a local
webhook. One start instead of two (a stack's up and down is the dearest thing a hub test
does); the last module that needs it (``test_supervision``) stops it, so it does not idle
through the rest of the session.

``recovery_probes`` and ``kill_and_wait`` are shared by the fault test and
``benchmarks/bench_recovery.py``: what "back and serving" means for each component, seen
from outside, and the seconds and CPU a SIGKILLed component takes to get there.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.hub_support import RunningStack, running_stack, siem_alerts_to_webhook, wait_until
from workbench.platform.profile import HubProfile
from workbench.platform.supervisor import Supervisor

SIEM_INTERVAL = 4.0
COMPONENTS = ("postgres", "audit", "proxy", "hub", "dask-gateway", "dashboards", "idle-culler", "siem")
"""Every component of the shared stack, in the order the fault test kills them."""


@dataclass
class SiemStack:
    stack: RunningStack
    source_url: str
    alerts: list[dict[str, Any]]
    """The batches the stack's SIEM loop posted to the webhook."""


def start_source(root: Path) -> str:
    """A durable demo PostgreSQL in ``<root>/sources/postgres`` with a traders table; its URL.
    ``running_stack(sources_of=...)`` hands it to supervisord."""
    import psycopg

    from tests.conftest import free_port
    from workbench.ingest.postgres_server import LocalPostgres

    server = LocalPostgres(free_port(), folder=root / "sources" / "postgres", durable=True)
    server.folder.mkdir(parents=True)
    server.start()
    with psycopg.connect(server.url, autocommit=True) as conn:
        conn.execute("CREATE TABLE traders (trader_id text PRIMARY KEY, name text, turnover numeric(14, 2), "
                     "registered_on date, updated_at timestamp NOT NULL)")
    return server.url


class SharedStack:
    """The stack, started on first ``get`` and stopped by ``close`` (a later ``get`` starts a fresh one)."""

    def __init__(self, kind: str = "siem") -> None:
        self.kind = kind
        self._exit: ExitStack | None = None
        self._value: SiemStack | None = None

    def get(self) -> SiemStack:
        if self._value is None:
            from tests.test_platform_stack import load_tiny_world

            found: dict[str, str] = {}

            def prepare(root: Path) -> dict[str, Any]:
                found["url"] = start_source(root)
                return load_tiny_world(root)

            with ExitStack() as exits:
                alerts = exits.enter_context(siem_alerts_to_webhook(SIEM_INTERVAL))
                stack = exits.enter_context(running_stack(
                    self.kind, prepare=prepare, sources_of=lambda root: root / "sources", gateway_idle_timeout=600))
                self._value = SiemStack(stack, found["url"], alerts)
                self._exit = exits.pop_all()
        return self._value

    def close(self) -> None:
        exits, self._exit, self._value = self._exit, None, None
        if exits is not None:
            exits.close()


def connects(url: str) -> bool:
    import psycopg

    try:
        psycopg.connect(url, connect_timeout=2).close()
        return True
    except psycopg.OperationalError:
        return False


def recovery_probes(profile: HubProfile, source_url: str) -> dict[str, Callable[[], bool]]:
    """What "back and serving" means for each component, seen from outside."""
    from workbench.platform import stack

    return {
        "postgres": lambda: connects(source_url),
        "audit": lambda: stack._socket_answers(stack.audit_socket(profile)),
        "proxy": lambda: stack.hub_answers(profile) and stack.dashboards_answers(profile),  # routes back too
        "hub": lambda: stack.hub_answers(profile),
        "dask-gateway": lambda: stack.gateway_answers(profile),
        "dashboards": lambda: stack.dashboards_answers(profile),
        "idle-culler": lambda: True,
        "siem": lambda: True,
    }


def process_state(supervisor: Supervisor, name: str) -> tuple[str, int | None]:
    """One XML-RPC call (polled at 20 Hz while a component restarts: no log reading, no CPU taken from it)."""
    info = supervisor.rpc().supervisor.getProcessInfo(name)
    return info["statename"], info["pid"] or None


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU of ``pid`` and its children so far: what a restart costs, whatever the machine's load."""
    import psutil

    try:
        times = psutil.Process(pid).cpu_times()
    except (psutil.Error, ValueError):
        return float("nan")
    return times.user + times.system + times.children_user + times.children_system


@dataclass(frozen=True)
class Recovery:
    name: str
    seconds: float
    """From the SIGKILL to a new process whose probe answers."""
    cpu: float
    """CPU seconds the new process used until then (load-independent)."""


def kill_and_wait(supervisor: Supervisor, name: str, probe: Callable[[], bool], timeout: float) -> Recovery:
    """SIGKILL ``name``'s process; return once supervisord runs a new one and ``probe`` answers."""
    _, before = process_state(supervisor, name)
    killed = time.monotonic()
    supervisor.signal(name, signal.SIGKILL)

    def back() -> bool:
        state, pid = process_state(supervisor, name)
        return state in ("RUNNING", "STARTING") and pid not in (None, before) and probe()

    wait_until(back, timeout, interval=0.05, what=f"{name} back")
    seconds = time.monotonic() - killed
    return Recovery(name, seconds, cpu_seconds(process_state(supervisor, name)[1]))


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..1) of a small sample."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]
