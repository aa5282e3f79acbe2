"""Code the fetcher tests run inside a confined fetcher child (stdlib only: the child cannot import lazily).

Each probe has the children's calling convention, ``(broker, workdir, *args) -> (value, attachments)``,
and reports what the child could do instead of doing anything with it.
"""

from __future__ import annotations

import os
import socket
from typing import Any


def reach(_broker: Any, _workdir: str | None, targets: list[tuple[str, int]],
          paths: list[str]) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Try to connect to each ``(host, port)`` and to list each path; which memory cgroup the child is in."""
    outcome: dict[str, str] = {}
    for host, port in targets:
        try:
            socket.create_connection((host, port), timeout=2.0).close()
            outcome[f"{host}:{port}"] = "connected"
        except OSError as exc:
            outcome[f"{host}:{port}"] = type(exc).__name__
    for path in paths:
        try:
            os.listdir(path)
            outcome[path] = "listed"
        except OSError as exc:
            outcome[path] = type(exc).__name__
    with open("/proc/self/cgroup", encoding="ascii") as groups:
        memory = next((line.split(":", 2)[2].strip() for line in groups if ":memory:" in line), "")
    return {"outcome": outcome, "memory_group": memory, "uid": os.getuid()}, {}


def ask_broker(broker: Any, _workdir: str | None, targets: list[tuple[str, int]]) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Ask the parent's broker for a connection to each ``(host, port)``, as subverted code in the child could."""
    from workbench.ingest.confinement import Refused, connect

    outcome: list[str] = []
    for host, port in targets:
        try:
            connect(broker, host, port, 2.0).close()
            outcome.append("connected")
        except Refused as exc:
            outcome.append(str(exc))
    return {"outcome": outcome}, {}
