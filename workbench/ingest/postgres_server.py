"""A throwaway local PostgreSQL server: for tests, benchmarks and the demo's source systems.

It runs the Debian packages' binaries (``/usr/lib/postgresql/<ver>/bin``) on a data
folder of its own, listening on 127.0.0.1 only. PostgreSQL refuses to run as root, so
when the caller is root the server runs as the ``postgres`` user (``runuser``) and the
folder is handed to that user.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

import psycopg

from workbench.errors import WorkbenchError


def postgres_bin() -> Path:
    """The newest installed PostgreSQL's bin folder."""
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"), key=lambda p: int(p.parts[-3]))
    if not versions:
        raise WorkbenchError("PostgreSQL is not installed: apt-get install -y postgresql")
    return versions[-1].parent


class LocalPostgres:
    """``with LocalPostgres(port) as pg: pg.url`` - initdb, start, and on exit stop and delete."""

    def __init__(self, port: int, folder: Path | None = None, durable: bool = False) -> None:
        self.port = port
        self.durable = durable
        self._owned = folder is None
        self.folder = folder or Path(tempfile.mkdtemp(prefix="workbench-pg-"))
        self.data = self.folder / "data"
        self._as_postgres = os.geteuid() == 0

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def running(self) -> bool:
        """A server runs on this data folder (its pid file names a live process)."""
        pid_file = self.data / "postmaster.pid"
        try:
            os.kill(int(pid_file.read_text().split()[0]), 0)
        except (OSError, ValueError, IndexError):
            return False
        return True

    def _run(self, *args: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if self._as_postgres else []
        done = subprocess.run([*prefix, *args], capture_output=True, text=True, check=False)
        if done.returncode:
            raise WorkbenchError(f"{Path(args[0]).name} failed: {done.stderr.strip() or done.stdout.strip()}")

    def start(self, timeout: float = 60.0) -> LocalPostgres:
        bin_dir = postgres_bin()
        if self._as_postgres:
            shutil.chown(self.folder, "postgres", "postgres")
        if not (self.data / "PG_VERSION").exists():
            self._run(str(bin_dir / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust",
                      "--encoding=UTF8", "--locale=C")
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.folder}"
        if not self.durable:  # a throwaway server: skip flushes, tests and benchmarks are not about crash safety
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._run(str(bin_dir / "pg_ctl"), "-D", str(self.data), "-l", str(self.folder / "server.log"),
                  "-o", options, "-w", "-t", str(int(timeout)), "start")
        deadline = time.monotonic() + timeout
        while True:
            try:
                psycopg.connect(self.url, connect_timeout=2).close()
                return self
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def restart(self, timeout: float = 60.0) -> LocalPostgres:
        """Stop the server (fast: its clients' connections are cut) and start it again on the same data and port,
        as a source system's maintenance restart does."""
        self._run(str(postgres_bin() / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")
        return self.start(timeout)

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run(str(postgres_bin() / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")
        if self._owned:
            shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> LocalPostgres:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
