"""The demo stack's live loop as background processes: the feed, a follower per live source, the scorer.

``make up`` starts them (``workbench demo loop start``), ``make down`` stops them and ``make
status`` lists them. Each is one entry of ``DAEMONS`` - a name and the ``workbench``
command it runs - started detached with a pid file and a log under ``var/loop`` (the
``platform.daemons.StackProcess``: not supervised; the pid is checked against the command line before any signal).
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

from workbench.platform.daemons import StackProcess

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
    """Where one demo stack's loop reads and writes, and where its pid files and logs go."""

    sources: Path
    connectors: Path
    lake: str
    folder: Path

    def processes(self, feed: bool = True) -> list[StackProcess]:
        workbench = str(Path(sys.executable).parent / "workbench")
        values = {"sources": str(self.sources.resolve()), "connectors": str(self.connectors.resolve()),
                  "lake": self.lake}
        out = []
        for name, args in DAEMONS.items():
            if name == "feed" and not feed:
                continue
            command = [workbench, *(a.format(**values) for a in args)]
            out.append(StackProcess(name=name, command=command, marker=" ".join(args[:3]).format(**values),
                                    pid_file=self.folder / f"{name}.pid", log_file=self.folder / f"{name}.log",
                                    ready=lambda: True, detail=" ".join(command[1:])))
        return out

    def environment(self) -> dict[str, str]:
        """The connectors' settings ``publish-sources`` wrote (``connectors.env``) over this process's environment."""
        env = dict(os.environ)
        env_file = self.sources / "connectors.env"
        if env_file.is_file():
            for line in env_file.read_text(encoding="utf-8").splitlines():
                name, _, value = line.removeprefix("export ").partition("=")
                if name:
                    env[name] = value
        env.setdefault("OMP_NUM_THREADS", "1")
        return env

    def start(self, feed: bool = True) -> list[str]:
        """Start what is not running; the names started."""
        started = []
        env = self.environment()
        for process in self.processes(feed):
            if process.pid() is None:
                process.start(env, timeout=10)
                started.append(process.name)
        return started

    def stop(self) -> list[str]:
        """Stop every running process of the loop; the names stopped."""
        return [p.name for p in self.processes() if p.stop()]

    def status(self) -> Mapping[str, int | None]:
        """Each process's pid, or None when it is not running."""
        return {p.name: p.pid() for p in self.processes()}
