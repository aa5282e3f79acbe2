"""The demo stack's live loop under the stack's supervisord: the feed, a follower per live source, the scorer.

``make up`` starts them (``workbench demo loop start``), ``make down`` stops them and ``make
status`` lists them with the stack's other components (state, uptime, restarts). Each is one
entry of ``DAEMONS`` - a name and the ``workbench`` command it runs - and becomes one
``platform.supervisor.Program`` of the group ``loop`` (``Supervisor.add_group``): restarted
when it dies, given up on (FATAL, and a SIEM crash-loop alert) when it keeps dying, its log
in the stack's ``logs/NAME.log``. The group is added beside the running stack, so starting
or stopping the loop restarts nothing else; a later ``workbench platform up`` keeps it.
The followers and the scorer are the production parts; only the feed is the demo's. To
follow real sources, point the followers' connectors at them (their ``*_DB_URL`` settings)
and leave the feed out (``--no-feed``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from workbench.platform.supervisor import Program, Supervisor

GROUP = "loop"
"""The loop's group in the stack's supervisord (``<state>/private/programs.d/loop.conf``)."""
EVERY = "1"
"""Seconds between a follower's polls of its source (the connectors' schedules are for nightly loads)."""
DAEMONS: dict[str, list[str]] = {
    "feed": ["demo", "feed", "--out", "{sources}", "--lake", "{lake}"],
    "follow-tdec": ["ingest", "run", "tdec", "--follow", "--every", EVERY, "--workers", "1", "--connectors",
                    "{connectors}", "--lake", "{lake}"],
    "follow-lbs": ["ingest", "run", "lbs", "--follow", "--every", EVERY, "--table", "raw.lbs_crossings",
                   "--workers", "1", "--connectors",
                   "{connectors}", "--lake", "{lake}"],
    "scorer": ["models", "live", "--every", "0.5", "--lake", "{lake}"],
}
"""The loop's processes: name -> ``workbench`` arguments ({sources}, {connectors}, {lake} filled in)."""


@dataclass(frozen=True)
class Loop:
    """Where one demo stack's loop reads and writes, and the stack (state folder) whose supervisord runs it."""

    sources: Path
    connectors: Path
    lake: str
    state_dir: Path

    @property
    def supervisor(self) -> Supervisor:
        return Supervisor(self.state_dir)

    def programs(self, feed: bool = True) -> list[Program]:
        workbench = str(Path(sys.executable).parent / "workbench")
        values = {"sources": str(self.sources.resolve()), "connectors": str(self.connectors.resolve()),
                  "lake": self.lake}
        environment = self.environment()
        return [Program(name, [workbench, *(a.format(**values) for a in args)], environment=environment,
                        priority=70, directory=os.getcwd(), detail=f"live loop: workbench {' '.join(args[:3])}")
                for name, args in DAEMONS.items() if feed or name != "feed"]

    def environment(self) -> dict[str, str]:
        """The connectors' settings ``publish-sources`` wrote (``connectors.env``) and this process's
        ``WORKBENCH_*`` settings, over supervisord's own environment."""
        env = {k: v for k, v in os.environ.items() if k.startswith("WORKBENCH_") or k == "HF_HUB_OFFLINE"}
        env_file = self.sources / "connectors.env"
        if env_file.is_file():
            for line in env_file.read_text(encoding="utf-8").splitlines():
                name, _, value = line.removeprefix("export ").partition("=")
                if name:
                    env[name] = value
        env.setdefault("OMP_NUM_THREADS", "1")
        return env

    def start(self, feed: bool = True) -> list[str]:
        """Supervise the loop (starting supervisord when the stack does not run); the names (re)started:
        none when the loop already runs as asked."""
        return self.supervisor.add_group(GROUP, self.programs(feed), os.environ)

    def stop(self) -> list[str]:
        """Stop the loop's processes and take them out of supervision; the names stopped."""
        return self.supervisor.remove_group(GROUP)

    def status(self) -> Mapping[str, int | None]:
        """Each process's pid, or None when it is not running."""
        found = {p.name: p.pid for p in self.supervisor.processes()}
        return {name: found.get(name) for name in DAEMONS}
