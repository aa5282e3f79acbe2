"""What confines a fetcher child, by the kernel's own means, and the broker through which alone it reaches the network.

A child enters its confinement first thing, while it is still root (``enter``):

- **memory cgroup**: it joins a cgroup v1 memory group made for it alone by the parent
  (``memory_group``), so the kernel caps everything it and its descendants (chromium, its
  renderers, their ``/dev/shm``) hold, and kills the group, not the ingest process, past
  the cap. Where no writable memory controller exists, an address-space limit
  (``RLIMIT_AS``) over what the forked interpreter already maps stands in for it; chromium
  cannot run under such a limit (it reserves tens of GB), so no image is taken then.
- **network namespace**: it moves into a new, empty network namespace (only its own
  loopback, which it brings up for the snapshot server). It can reach no address at all,
  loopback services of the host included; the only way out is a connected socket the
  parent hands it (``Broker``), after checking the host against the source's policy in
  the parent. Where ``unshare`` is refused (not root, or a container without the
  capability) the child stays in the host's namespace and the same policy is checked by
  the broker, but nothing in the kernel stops a subverted child connecting by itself.
- **Unix user and limits**: CPU seconds, open files, file size (0 unless it has a work
  folder for chromium), then it drops to the fetcher's user (no groups).

Why a broker rather than a virtual ethernet pair and NAT: the allowed hosts of a source
may be loopback services of the host (the demo site) that a veth cannot reach without
routing rules on the host, and a broker keeps the allow-list decision in the parent, out of
reach of anything that runs in the child.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import ipaddress
import json
import os
import resource
import secrets
import shutil
import signal
import socket
import struct
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing import reduction
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Self

from workbench.platform.cgroups import MEMORY_MOUNT, CgroupError, MemoryCgroups

CLONE_NEWNET = 0x40000000
PR_SET_CHILD_SUBREAPER = 36
_SIOCGIFFLAGS, _SIOCSIFFLAGS, _IFF_UP = 0x8913, 0x8914, 0x1
GROUP_PARENT = "workbench-fetcher"
"""The memory group (inside the ingest process's own) that holds one child group per fetch."""


class Refused(Exception):
    """The broker or the confinement refused something; ``kind`` is ``refused`` (policy) or ``down`` (network)."""

    def __init__(self, message: str, kind: str = "refused") -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True, kw_only=True)
class Confinement:
    """What the parent decided for one child (plain values: it crosses to the child)."""

    identity: tuple[int, int] | None
    """uid/gid to drop to; None when the workbench is not root (the child keeps the caller's user)."""
    user: str = ""
    """The name of that user, for the record (the uid differs from machine to machine)."""
    memory_bytes: int
    cpu_seconds: int
    cgroup: str | None = None
    """The memory group folder to join; None where the machine has no writable memory controller."""
    workdir: str | None = None
    """A folder owned by the fetcher user for chromium's throwaway profile; None: the child may write no file."""
    forbidden: tuple[str, ...] = ()


# -- the parent side ---------------------------------------------------------------------------


def memory_groups_available() -> bool:
    """Root and a writable cgroup v1 memory controller (this process's own group can hold children)."""
    if os.geteuid() != 0 or not MemoryCgroups.available():
        return False
    try:
        MemoryCgroups(name=GROUP_PARENT)
    except CgroupError:
        return False
    return True


@contextlib.contextmanager
def memory_group(limit: int) -> Iterator[str | None]:
    """A fresh memory group capped at ``limit`` bytes for one child; every process left in it is killed on exit.

    Killing the leftovers matters: a child stopped at its time limit may leave chromium
    processes behind, and they are in the group too. The group (and the shared parent,
    once empty) is removed. Yields None where memory groups are not available.
    """
    if not memory_groups_available():
        yield None
        return
    groups = MemoryCgroups(name=GROUP_PARENT)
    for stale in groups.names("fetch-"):  # left by an ingest process that was killed outright
        if not Path(f"/proc/{stale.split('-')[1]}").exists():
            _empty(groups, stale)
    name = f"fetch-{os.getpid()}-{secrets.token_hex(4)}"
    path = groups.create(name, limit)
    try:
        yield str(path)
    finally:
        _empty(groups, name)
        groups.remove_parent()


def _empty(groups: MemoryCgroups, name: str) -> None:
    """Kill every process left in group ``name`` (by its pid in ``cgroup.procs``), then remove the group."""
    deadline = time.monotonic() + 5.0
    while (left := groups.pids(name)) and time.monotonic() < deadline:
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.02)
    groups.remove(name)


def oom_killed(group: str | None) -> bool:
    """Whether the kernel killed a process of ``group`` for passing its memory cap."""
    if group is None:
        return False
    path = Path(group)
    return MemoryCgroups(path.parent).oom_kills(path.name) > 0


@contextlib.contextmanager
def work_folder(identity: tuple[int, int] | None) -> Iterator[str]:
    """A private folder (0700) owned by the fetcher user for one child, removed afterwards whatever happened."""
    folder = tempfile.mkdtemp(prefix="wb-fetch-")
    try:
        if identity is not None:
            os.chown(folder, *identity)
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


class Broker:
    """Connects for a child, in the parent, to hosts the policy allows; hands over the socket, never the choice.

    ``check(host, port)`` returns the address to connect to or raises ``Refused``; at most
    ``max_connections`` are made for one child (redirect hops), then it refuses. ``connected``
    lists the ``(host, port)`` it connected, in order: the parent checks the child's claims
    about where a page came from against it.
    """

    def __init__(self, connection: Connection, check: Any, max_connections: int, timeout: float) -> None:
        self.connection = connection
        self.check = check
        self.left = max_connections
        self.timeout = timeout
        self.connected: list[tuple[str, int]] = []
        self.thread = threading.Thread(target=self._serve, name="fetcher-broker", daemon=True)

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.thread.join(5.0)  # the child is gone: its end of the pipe is closed, the thread reads EOF
        self.connection.close()

    def _serve(self) -> None:
        while True:
            try:
                request = json.loads(self.connection.recv_bytes(4096))
                host, port = str(request["host"]), int(request["port"])
            except (EOFError, OSError, ValueError, KeyError, TypeError):
                return  # the child is gone, or asks in a way its own code never does: no more connections
            try:
                self._answer(host, port)
            except (OSError, EOFError):
                return

    def _answer(self, host: str, port: int) -> None:
        try:
            if self.left <= 0:
                raise Refused("too many connections for one fetch")
            if not 0 < port < 65536:
                raise Refused(f"port {port} is not a TCP port")
            self.left -= 1
            try:
                address = self.check(host, port)
            except ValueError as exc:  # a host name no resolver takes (NUL, bad IDNA)
                raise Refused(f"host {host!r} is not a usable name: {exc}") from None
            try:
                sock = socket.create_connection((address, port), timeout=self.timeout)
            except TimeoutError:
                raise Refused(f"{host}:{port}: no connection within {self.timeout:.0f} s", "down") from None
            except OSError as exc:
                raise Refused(f"{host}:{port}: {exc}", "down") from None
        except Refused as exc:
            self.connection.send_bytes(json.dumps({"error": str(exc), "kind": exc.kind}).encode())
            return
        self.connected.append((host, port))
        with sock:
            self.connection.send_bytes(b'{"ok": true}')
            reduction.send_handle(self.connection, sock.fileno(), 0)


def public_address(host: str, port: int, hosts: frozenset[str],
                   private_endpoints: frozenset[tuple[str, int]]) -> str:
    """The address to connect to for ``host:port``: the host must be allowed, and every address it resolves to
    public, unless the source names ``(host, port)`` as a private endpoint (its own intranet or loopback site).

    Why per port: a source that lives on a loopback or intranet address (the demo site on
    127.0.0.1) must not become a way to reach the other services there (the hub on
    127.0.0.1:8000, PostgreSQL); a redirect or a link to another port is refused. An
    IPv6 address that embeds an IPv4 one (mapped, NAT64, 6to4, IPv4-compatible) is judged
    by the IPv4 address it leads to.
    """
    if host not in hosts:
        raise Refused(f"host {host!r} is not among the source's allowed_hosts {sorted(hosts)}")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise Refused(f"cannot resolve {host}: {exc}", "down") from None
    addresses = [str(info[4][0]) for info in infos]
    listed = sorted(p for h, p in private_endpoints if h == host)
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%")[0])
        if is_public(ip) or port in listed:
            continue
        if listed:
            raise Refused(f"{host}:{port}: {host} is a non-public address ({ip}) the source may reach only on port(s) "
                          f"{', '.join(map(str, listed))}; list \"{host}:{port}\" in allowed_hosts to allow this one")
        raise Refused(f"{host} resolves to the non-public address {ip}; "
                      f"list the host in allowed_hosts if the source really lives there")
    return addresses[0]


_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")


def is_public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Globally reachable, and so is any IPv4 address it embeds (``ipaddress`` judges ``64:ff9b::7f00:1``,
    a NAT64 address of 127.0.0.1, and ``2002:7f00:1::``, a 6to4 one, as global)."""
    if not ip.is_global:
        return False
    if isinstance(ip, ipaddress.IPv4Address):
        return True
    if ip in _NAT64_LOCAL:  # a network's own translator, whatever it leads to
        return False
    embedded = ip.ipv4_mapped or ip.sixtofour
    if embedded is None and (ip in _IPV4_COMPATIBLE or ip in _NAT64):
        embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return embedded is None or embedded.is_global


# -- the child side ----------------------------------------------------------------------------


def enter(confinement: Confinement) -> dict[str, Any]:
    """Confine the calling child (run first, as root); returns the facts of its isolation for the record."""
    facts: dict[str, Any] = {"memory_cap_bytes": confinement.memory_bytes}
    if confinement.cgroup is not None:
        Path(confinement.cgroup, "cgroup.procs").write_text(str(os.getpid()))
        facts["memory_cap"] = "cgroup"
    else:
        mapped = _mapped_bytes()  # the preloaded interpreter already maps ~3 GB (mostly reservations)
        cap = mapped + confinement.memory_bytes
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
        facts["memory_cap"] = "address space"
    facts["network_namespace"] = confinement.identity is not None and _own_network_namespace()
    ctypes.CDLL(None).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)  # orphaned chromium helpers come back to be reaped
    resource.setrlimit(resource.RLIMIT_CPU, (confinement.cpu_seconds, confinement.cpu_seconds))
    written = 64 * 1024 * 1024 if confinement.workdir else 0
    resource.setrlimit(resource.RLIMIT_FSIZE, (written, written))
    files = 1024 if confinement.workdir else 64
    resource.setrlimit(resource.RLIMIT_NOFILE, (files, files))
    if confinement.identity is not None:
        uid, gid = confinement.identity
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)
    facts["user"] = confinement.user if confinement.identity is not None else "the workbench's own"
    for path in confinement.forbidden if confinement.identity is not None else ():
        if _readable(path):
            raise Refused(f"{path}: isolation: the fetcher user can read this path; make it unreadable to others")
    return facts


def _own_network_namespace() -> bool:
    """Move into a new network namespace with only a loopback, brought up; False where the kernel refuses."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNET) != 0:
        return False
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sH22x", b"lo", 0)
        flags = struct.unpack("16sH22x", fcntl.ioctl(sock, _SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(sock, _SIOCSIFFLAGS, struct.pack("16sH22x", b"lo", flags | _IFF_UP))
    return True


def end_descendants() -> None:
    """Kill every other process of this child's memory group (chromium's helpers) and reap them.

    Chromium's sandboxed helpers leave its process group; as a child subreaper the fetcher
    child inherits them when the browser exits, so it can reap them instead of leaving
    zombies to an init that may not reap.
    """
    procs = _own_group_procs()
    for pid in procs:
        if pid != os.getpid():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
    while True:
        try:
            if os.waitpid(-1, 0)[0] == 0:
                return
        except ChildProcessError:
            return


def _own_group_procs() -> list[int]:
    with open("/proc/self/cgroup", encoding="ascii") as groups:
        path = next((line.split(":", 2)[2].strip() for line in groups if ":memory:" in line), None)
    if path is None:
        return []
    try:
        return [int(p) for p in (MEMORY_MOUNT / path.lstrip("/") / "cgroup.procs").read_text().split()]
    except OSError:
        return []


def connect(broker: Connection | None, host: str, port: int, timeout: float) -> socket.socket:
    """A socket connected to ``host:port`` by the parent's broker; ``Refused`` with its reason otherwise."""
    if broker is None:
        raise Refused(f"{host}:{port}: this fetcher has no network (documents are parsed offline)")
    broker.send_bytes(json.dumps({"host": host, "port": port}).encode())
    answer = json.loads(broker.recv_bytes(4096))
    if "error" in answer:
        raise Refused(answer["error"], answer["kind"])
    sock = socket.socket(fileno=reduction.recv_handle(broker))
    sock.settimeout(timeout)
    return sock


def _mapped_bytes() -> int:
    """This process's address space now (``VmSize``): the cap is a budget on top of it."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def _readable(path: str) -> bool:
    """Whether this process can list the folder or read the file at ``path``."""
    try:
        if os.path.isdir(path):
            os.listdir(path)
        else:
            with open(path, "rb") as handle:
                handle.read(1)
    except (PermissionError, FileNotFoundError):
        return False
    return True


__all__ = [
    "Broker",
    "Confinement",
    "Refused",
    "connect",
    "end_descendants",
    "enter",
    "is_public",
    "memory_group",
    "memory_groups_available",
    "oom_killed",
    "public_address",
    "work_folder",
]
