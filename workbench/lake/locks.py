"""Writers of one lake table take turns: threads of a process, and processes on a local lake.

Delta's optimistic concurrency lets only one of two writers that read the same version
commit; the other gets ``CommitFailedError`` and has to redo its whole write. Retrying is
enough for short writes, not for a long one beside a daemon that commits every second:
``models up`` merging a world's scores into ``curated.risk_scores`` while the live scorer
merged each tick lost every retry, since each retry read a version the scorer had already
moved past by the time the merge was ready to commit. So a writer holds the table's lock
from reading the table to committing: an ``RLock`` per table in the process and, on a
local lake, an exclusive ``flock`` on ``LOCK_FILE`` in the table's folder.

Why flock: the kernel drops it when its holder dies (a killed follower never leaves a
stale lock behind), and it needs no server. The file is opened for writing, so only those
who may write the table's folder can take it - a reader cannot hold writers up.
Delta's vacuum leaves files whose names start with ``_`` alone. An object-store lake has
no shared file system to lock on: its writers still race, and the loser retries or fails
with nothing of its write visible.
"""

from __future__ import annotations

import fcntl
import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from workbench.errors import WriteConflict

LOCK_FILE = "_writers.lock"
LOCK_WAIT = 900.0
"""Seconds a writer waits for another process's write before giving up (the longest write here - a
world's batch scores at scale 1 - takes a few minutes)."""


class TableLock:
    """The lock of one table (see the module docstring); re-entrant within a thread."""

    def __init__(self, folder: Path | None) -> None:
        """``folder``: the table's folder on a local lake; None on an object store (threads only)."""
        self.folder = folder
        self._threads = threading.RLock()
        self._depth = 0
        self._fd: int | None = None

    @property
    def across_processes(self) -> bool:
        """Whether holding the lock keeps other processes' writers out too (a local lake)."""
        return self.folder is not None

    @contextmanager
    def held(self, wait: float = LOCK_WAIT) -> Iterator[None]:
        """Hold the table against other writers for the block's duration."""
        with self._threads:
            if self._depth == 0 and self.folder is not None:
                self._fd = _take(self.folder, wait)
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0 and self._fd is not None:
                    os.close(self._fd)  # releases the flock
                    self._fd = None

    @contextmanager
    def in_process(self) -> Iterator[None]:
        """Only this process's other threads kept out: for readers sharing a kept table handle."""
        with self._threads:
            yield


_LOCKS: dict[str, TableLock] = {}
_GUARD = threading.Lock()


def table_lock(uri: str, local: bool) -> TableLock:
    """The one lock of the table at ``uri`` in this process (``local``: the lake is a local folder)."""
    with _GUARD:
        if uri not in _LOCKS:
            _LOCKS[uri] = TableLock(Path(uri) if local else None)
        return _LOCKS[uri]


def _take(folder: Path, wait: float) -> int | None:
    """An open descriptor of ``folder``'s lock file holding its exclusive flock, polling up to ``wait`` seconds.

    None when this user may not open the lock file (one a platform job left before the lake's
    permissions were applied): the write then goes ahead as on an object store, racing other
    processes' writers, rather than failing a write the table's permissions allow.
    """
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder / LOCK_FILE, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o660)
    except PermissionError as exc:
        print(f"lake: {folder}: cannot take the table's write lock ({exc.strerror}); writing without it",
              file=sys.stderr)
        return None
    deadline, pause = time.monotonic() + wait, 0.002
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() > deadline:
                os.close(fd)
                raise WriteConflict(f"{folder}: another process held the table's write lock for {wait:g} s") from None
            time.sleep(pause)
            pause = min(pause * 2, 0.05)
