"""The single-user server: a local process as the person's own Unix user, memory-capped.

``WorkbenchSpawner`` is JupyterHub's ``LocalProcessSpawner`` with these narrow changes:

- the process runs as ``<unix_prefix><hub name>`` (the Unix user the authenticator made),
  starting in that user's private 0700 home;
- before it drops root, the child process joins its own memory cgroup
  (``memory.limit_in_bytes`` from the role's limit), so there is no moment in which the
  server, its kernels or their children run uncapped; the group goes at stop;
- managers get no server even if RBAC were misconfigured (defence in depth);
- before the server starts, the starter notebooks are copied into the person's home
  (``starters.py``, run as that user: their own copies, newer versions offered beside
  them, never overwritten);
- ``start`` returns once the server answers HTTP (probed every ``ready_probe_interval``),
  not right after the process starts: the hub's own readiness probe backs off
  exponentially with random jitter (0.2 s doubling up to 5 s), which added 1-2.5 s after
  a server that needs ~4 s to start; the hub's first probe now finds it up.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jupyterhub.spawner import LocalProcessSpawner
from traitlets import Dict, Float, Unicode

from workbench.platform import unix
from workbench.security.accounts import DASHBOARD_ROLES
from workbench.platform.authenticator import role_of
from workbench.platform.cgroups import CgroupError, MemoryCgroups
from workbench.security.roles import server_memory

DEFAULT_ROLE_LIMITS = server_memory()
"""Role -> memory cap of its servers: ``server_memory`` of the policy's ``[roles.NAME.hub]``."""


class WorkbenchSpawner(LocalProcessSpawner):
    """Local single-user servers as per-person Unix users with a cgroup memory cap."""

    unix_prefix = Unicode("wb-", config=True, help="Prefix of the Unix user a hub user runs as.")
    cgroup_parent = Unicode(
        "", config=True,
        help="Memory cgroup folder under which per-server groups are made; '' = <hub's own cgroup>/workbench.",
    )
    role_mem_limits = Dict(
        DEFAULT_ROLE_LIMITS, config=True,
        help="Memory cap per role (bytes or 512M/2G); a role not listed gets Spawner.mem_limit.",
    )
    ready_probe_interval = Float(
        0.05, config=True, help="Seconds between HTTP probes of a starting server before start() returns.",
    )
    starter_notebooks = Unicode(
        "", config=True, help="Folder of starter notebooks copied into each person's home ('' = none).",
    )

    _group: Path | None = None

    @property
    def system_username(self) -> str:
        return unix.system_name(self.user.name, self.unix_prefix)

    @property
    def cgroup_name(self) -> str:
        server = self.name or "default"
        return f"{self.user.name}.{server}"

    def _cgroups(self) -> MemoryCgroups:
        return MemoryCgroups(self.cgroup_parent or None)

    def memory_limit(self) -> int | str | None:
        role = role_of([g.name for g in self.user.groups])
        if role is not None and role.value in self.role_mem_limits:
            return self.role_mem_limits[role.value]
        return self.mem_limit

    def make_preexec_fn(self, name: str) -> Callable[[], None]:
        # as JupyterHub's set_user_setuid (groups from getgrouplist, then the home), inside the capped group
        return unix.run_as(self.system_username, self._group, pwd.getpwnam(self.system_username).pw_dir)

    def user_env(self, env: dict[str, str]) -> dict[str, str]:
        entry = pwd.getpwnam(self.system_username)
        env["USER"] = entry.pw_name
        env["HOME"] = entry.pw_dir
        env["SHELL"] = entry.pw_shell or "/bin/sh"
        # The lake session's role (workbench.security) is the person's hub role.
        role = role_of([g.name for g in self.user.groups])
        if role is not None:
            env["WORKBENCH_ROLE"] = role.value
        return env

    async def start(self) -> Any:
        role = role_of([g.name for g in self.user.groups])
        if role in DASHBOARD_ROLES:  # the hub's RBAC refuses them first; this holds if that is misconfigured
            from tornado import web

            raise web.HTTPError(403, f"the {role.value} role uses dashboards, not notebook servers")
        pwd.getpwnam(self.system_username)  # fail early and clearly when the Unix user is missing
        limit = self.memory_limit()
        self._group = None
        if limit:
            try:
                self._group = self._cgroups().create(self.cgroup_name, limit)
            except (OSError, CgroupError) as exc:
                self.log.error("Cannot cap %s's memory: %s", self.user.name, exc)
                raise
        if not self.notebook_dir:
            self.notebook_dir = pwd.getpwnam(self.system_username).pw_dir
        if self.starter_notebooks:
            await asyncio.get_running_loop().run_in_executor(None, self._offer_starters)
        ip, port = await super().start()
        await self._until_answering(f"http://{ip}:{port}{self.server.base_url}" if self.server else None)
        return ip, port

    def _offer_starters(self) -> None:
        """Run ``starters.py`` as the person (see its docstring); a failure is logged, the server still starts."""
        from workbench.platform import starters

        entry = pwd.getpwnam(self.system_username)
        python = self.cmd[0] if self.cmd else "python3"
        done = subprocess.run([python, "-I", starters.__file__, self.starter_notebooks, entry.pw_dir],
                              user=entry.pw_uid, group=entry.pw_gid, extra_groups=[], cwd=entry.pw_dir,
                              env={"HOME": entry.pw_dir, "PATH": os.defpath}, capture_output=True, text=True,
                              timeout=60, check=False)
        if done.returncode != 0:
            self.log.warning("Starter notebooks for %s: %s", self.user.name, done.stderr.strip()[-500:])
        elif done.stdout.strip() not in ("", "{}"):
            self.log.info("Starter notebooks for %s: %s", self.user.name, done.stdout.strip())

    async def _until_answering(self, url: str | None) -> None:
        """Wait until ``url`` answers (any status below 500), the process exits, or http_timeout passes.

        Whatever happens, the hub then runs its own readiness check and error reporting.
        """
        from tornado.httpclient import AsyncHTTPClient, HTTPClientError

        if url is None:
            return
        client = AsyncHTTPClient()
        deadline = time.monotonic() + self.http_timeout
        while time.monotonic() < deadline and await self.poll() is None:
            try:
                response = await client.fetch(url, follow_redirects=False, raise_error=False, request_timeout=5)
                if response.code < 500 and response.code != 599:
                    return
            except (OSError, HTTPClientError):
                pass  # not listening yet
            await asyncio.sleep(self.ready_probe_interval)

    async def stop(self, now: bool = False) -> None:
        await super().stop(now=now)
        self._remove_group()

    async def poll(self) -> int | None:
        status = await super().poll()
        if status is not None:
            self._remove_group()
        return status

    def _remove_group(self) -> None:
        try:
            self._cgroups().remove(self.cgroup_name)
        except (OSError, CgroupError) as exc:
            self.log.warning("Could not remove %s's memory cgroup: %s", self.user.name, exc)
        self._group = None


def ensure_server_user(spawner: WorkbenchSpawner, home_root: str) -> None:
    """A pre-spawn hook body: make sure the Unix user exists (e.g. for users added by API)."""
    unix.ensure_user(spawner.system_username, home_root)


