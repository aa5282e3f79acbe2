"""Memory caps through the kernel's cgroup v1 memory controller.

One parent group (``workbench`` by default) holds one child group per single-user server;
the child's ``memory.limit_in_bytes`` is the cap, and the kernel's OOM killer ends a
process of that group that allocates past it, leaving the rest of the machine alone.

By default the parent is created *inside the cgroup the hub itself runs in*, the way a
systemd unit with delegation nests its children: whatever limit or accounting already
confines the hub also confines its users, and the groups leave with the hub's own.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from pathlib import Path

MEMORY_MOUNT = Path("/sys/fs/cgroup/memory")
PARENT_RACE_ATTEMPTS = 20
"""How often ``create`` remakes a shared parent another process removed under it before giving up."""
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")  # gateway groups: <cluster hex>.worker-<hex>


class CgroupError(OSError):
    """The memory controller is missing, read-only, or a group could not be made or removed."""


def own_memory_cgroup(mount: Path = MEMORY_MOUNT) -> Path:
    """The memory cgroup folder this process belongs to (cgroup v1)."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):
            return mount / path.lstrip("/")
    raise CgroupError("no cgroup v1 memory controller for this process")


def parse_size(value: int | str) -> int:
    """Bytes from ``123``, ``"512M"``, ``"2G"`` (powers of 1024), as JupyterHub's mem_limit accepts."""
    if isinstance(value, int):
        return value
    text = value.strip().upper()
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    if text and text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(text)


class MemoryCgroups:
    """Child groups with a memory cap under one parent group.

    ``parent`` is a folder in the memory hierarchy; it is created on first use and removed
    by ``remove_parent`` once empty. Names are checked so that no caller can reach a path
    outside the parent.
    """

    def __init__(self, parent: str | os.PathLike[str] | None = None, name: str = "workbench") -> None:
        self.parent = Path(parent) if parent is not None else own_memory_cgroup() / name
        if not str(self.parent.resolve()).startswith(str(MEMORY_MOUNT) + "/"):
            raise CgroupError(f"{self.parent} is not inside {MEMORY_MOUNT}")

    @staticmethod
    def available(mount: Path = MEMORY_MOUNT) -> bool:
        return (mount / "cgroup.procs").exists() and os.access(mount, os.W_OK)

    def path(self, name: str) -> Path:
        if not _NAME.match(name):
            raise CgroupError(f"invalid cgroup name {name!r}")
        return self.parent / name

    def create(self, name: str, limit: int | str) -> Path:
        """Create (or reuse) the child group ``name`` capped at ``limit`` bytes; returns its folder.

        Another process sharing the parent may remove it, empty, between our making it and
        making the child (``remove_parent``); once the child exists the parent cannot go,
        so making both again until the child stands is enough, without a lock.
        """
        group = self.path(name)
        for attempt in range(PARENT_RACE_ATTEMPTS):
            with contextlib.suppress(FileExistsError):  # not Path.mkdir(exist_ok=True): it re-checks, and may
                os.mkdir(self.parent)                   # find the parent gone again and raise FileExistsError
            try:
                os.mkdir(group)
                break
            except FileExistsError:
                break
            except FileNotFoundError:
                if attempt == PARENT_RACE_ATTEMPTS - 1:
                    raise
        # Without swap accounting the cap is on RAM; with it, cap RAM+swap too where allowed.
        (group / "memory.limit_in_bytes").write_text(str(parse_size(limit)))
        memsw = group / "memory.memsw.limit_in_bytes"
        if memsw.exists():
            try:
                memsw.write_text(str(parse_size(limit)))
            except OSError:
                pass
        return group

    @staticmethod
    def add_pid(group: Path, pid: int) -> None:
        """Move process ``pid`` (all its threads) into ``group``; its later children stay there."""
        (group / "cgroup.procs").write_text(str(pid))

    @staticmethod
    def join(group: Path) -> None:
        """Move the calling process into ``group`` (used in a pre-exec hook, before dropping root)."""
        (group / "cgroup.procs").write_text(str(os.getpid()))

    def names(self, prefix: str = "") -> list[str]:
        """The child groups whose name starts with ``prefix`` (none when the parent does not exist)."""
        try:
            return sorted(p.name for p in self.parent.iterdir() if p.is_dir() and p.name.startswith(prefix))
        except FileNotFoundError:  # never made, or removed by another process sharing it
            return []

    def pids(self, name: str) -> list[int]:
        """The processes in group ``name`` (none when it does not exist, or no longer)."""
        try:
            return [int(p) for p in (self.path(name) / "cgroup.procs").read_text().split()]
        except FileNotFoundError:
            return []

    def remove(self, name: str, timeout: float = 5.0) -> None:
        """Remove the child group; processes still in it are moved up to the parent first."""
        group = self.path(name)
        if not group.exists():
            return
        deadline = time.monotonic() + timeout
        while True:
            for pid in self.pids(name):
                try:
                    self.add_pid(self.parent, pid)
                except OSError:
                    pass  # it exited meanwhile
            try:
                group.rmdir()
                return
            except FileNotFoundError:
                return  # another process removed it meanwhile (two cleaning up one stale group)
            except OSError as exc:
                if time.monotonic() > deadline:
                    raise CgroupError(f"cannot remove {group}: {exc}") from exc
                time.sleep(0.05)

    def remove_parent(self) -> None:
        """Remove the parent group if no child group and no process is left in it."""
        try:
            self.parent.rmdir()
        except FileNotFoundError:
            pass
        except OSError:
            pass  # still in use: left for the next stop

    def oom_kills(self, name: str) -> int:
        """How many processes the kernel killed in this group for passing the cap (0 if unknown)."""
        control = self.path(name) / "memory.oom_control"
        if control.exists():
            for line in control.read_text().splitlines():
                if line.startswith("oom_kill "):
                    return int(line.split()[1])
        return 0
