"""Background processes outside the stack's supervisord, each with a pid file and a log.

What uses it: the demo's live loop (``workbench.demo.loop``: the feed, the followers, the
scorer), which ``workbench demo loop start|stop|status`` runs beside the stack. These
processes are not restarted when they die: the stack's own components are supervised
(``workbench.platform.stack``); bringing the loop under supervisord is one ``Program``
per process there.

A pid is checked against the command line (``marker``) before any signal, so a recycled
pid is never signalled.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from workbench.errors import WorkbenchError
from workbench.platform.supervisor import _alive, _cmdline


class DaemonError(WorkbenchError):
    """A background process exited at start or did not become ready; the message has its log's end."""


@dataclass
class StackProcess:
    """A background process started detached with a pid file and a log."""

    name: str
    command: list[str]
    marker: str
    pid_file: Path
    log_file: Path
    ready: Callable[[], bool]
    detail: str

    def pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if _alive(pid) and self.marker in _settled_cmdline(pid) else None

    def start(self, env: dict[str, str], timeout: float) -> None:
        """Start unless running; return once ``ready``, else raise ``DaemonError`` with the log's end."""
        if self.pid() is None:
            for folder in (self.pid_file.parent, self.log_file.parent):
                folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            with open(self.log_file, "ab") as log:
                os.chmod(self.log_file, 0o600)
                proc = subprocess.Popen(self.command, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
            self.pid_file.write_text(str(proc.pid))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.pid() is None:
                raise DaemonError(f"the {self.name} process exited at start:\n{self._tail()}")
            if self.ready():
                return
            time.sleep(0.1)
        raise DaemonError(f"the {self.name} process is not ready after {timeout:.0f} s:\n{self._tail()}")

    def stop(self, timeout: float = 15.0) -> bool:
        """SIGTERM, wait, then SIGKILL of its own session; True when it was running."""
        from workbench.platform.unix import terminate

        pid = self.pid()
        if pid is not None:
            terminate(pid, lambda: self.pid() is not None, timeout)
        self.pid_file.unlink(missing_ok=True)
        return pid is not None

    def _tail(self, chars: int = 2000) -> str:
        try:
            return self.log_file.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"


def _settled_cmdline(pid: int, settle: float = 1.0) -> str:
    """The command line, re-read for up to ``settle`` s while empty: right after ``Popen`` the kernel may
    still be setting up the new program (measured here: 1 in 10 starts read empty)."""
    deadline = time.monotonic() + settle
    while not (line := _cmdline(pid)) and _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    return line
