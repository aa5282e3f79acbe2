"""Dask Gateway's local backend, made safe.

dask-gateway-server 2026.3.0 ``LocalBackend.setup_working_directory`` does
``paths.extend(path)`` on a *string*: the list gains one path per character, among them
``"/"``, and ``set_file_permissions`` then chowns ``/`` (and one-letter names in the
current folder) to the cluster's user before the backend crashes. ``SafeLocalBackend``
overrides those two narrow hooks and nothing else:

- ``setup_working_directory`` appends the certificate paths (the upstream intent);
- ``set_file_permissions`` refuses, before touching anything, every path that is not
  absolute or not inside the cluster's own working directory, so a future regression of
  the same kind fails loudly instead of chowning a system path.

Each scheduler and worker runs in its own memory cgroup (``cgroups.MemoryCgroups``), capped
at the ``scheduler_memory`` / ``worker_memory`` the role's options handler granted, exactly
as a notebook server is capped: a worker that allocates past its grant is killed by the
kernel, its scheduler and the rest of the machine are not.

It also maps the gateway's user name (the hub name, ``analyst``) to the Unix user the
hub runs that person's server as (``<unix_prefix>analyst``), so a cluster's scheduler and
workers run as the same Unix user as the person's notebook server.

The rest of the module is the gateway as a JupyterHub service (``configure``): JupyterHub
authentication with service access scopes, ``python -m dask scheduler|worker`` from the
user environment, per-role limits through the cluster options handler and an idle
timeout. The hub side (service definition, scopes, spawner environment) is in
``hubconfig.apply``; both read the same ``HubProfile``.
"""

from __future__ import annotations

import base64
import os
import pwd
import secrets
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from aiohttp import web
from dask_gateway_server.auth import JupyterHubAuthenticator, unauthorized
from dask_gateway_server.backends.local import LocalBackend
from dask_gateway_server.models import User
from dask_gateway_server.options import Float, Integer, Options
from traitlets import Unicode

from workbench.security.accounts import ACCOUNTS_SERVICE
from workbench.platform.cgroups import MemoryCgroups
from workbench.platform.unix import run_as

if TYPE_CHECKING:
    from workbench.platform.profile import HubProfile

SERVICE_NAME = "dask-gateway"
SERVICE_PREFIX = f"/services/{SERVICE_NAME}"


class UnsafePathError(PermissionError):
    """A chown outside the cluster's working directory was asked for and refused."""


class SafeLocalBackend(LocalBackend):
    """``LocalBackend`` with the working-directory bug fixed and chowns confined to the workdir."""

    unix_prefix = Unicode("", config=True,
                          help="Prefix of the Unix user a gateway user's processes run as (hub: 'wb-').")
    cgroup_parent = Unicode(
        "", config=True,
        help="Memory cgroup folder for schedulers' and workers' groups; '' = <gateway's own cgroup>/workbench-gateway.",
    )

    # The group the next process joins: set by start_process, read by make_preexec_fn, which
    # upstream's start_process calls synchronously before its first await (no interleaving).
    _pending_group: Path | None = None

    def system_username(self, username: str) -> str:
        """The Unix user behind gateway user ``username``; must exist (the hub creates it)."""
        return f"{self.unix_prefix}{username}"

    def make_preexec_fn(self, cluster: Any) -> Callable[[], None]:
        # Upstream's, with the Unix name mapped (it would setuid to the hub name), inside the capped group.
        cgroup, self._pending_group = self._pending_group, None
        return run_as(self.system_username(cluster.username), cgroup, cluster.state["workdir"])

    def get_env(self, cluster: Any) -> dict[str, str]:
        env = super().get_env(cluster)
        entry = pwd.getpwnam(self.system_username(cluster.username))
        env["USER"] = entry.pw_name
        env["HOME"] = entry.pw_dir
        return env

    def get_worker_command(self, cluster: Any, worker_name: str, scheduler_address: str | None = None) -> list[str]:
        # Upstream gives the scheduler ``--host 127.0.0.1`` but not the workers, which then
        # listen (nanny and worker, mutual TLS) on every interface; found by the endpoint sweep.
        return [*super().get_worker_command(cluster, worker_name, scheduler_address), "--host", self.default_host]

    def _cgroups(self) -> MemoryCgroups:
        return MemoryCgroups(self.cgroup_parent or None, name="workbench-gateway")

    async def start_process(self, cluster: Any, cmd: list[str], env: dict[str, str], name: str) -> int:
        limit = cluster.config.scheduler_memory if name == "scheduler" else cluster.config.worker_memory
        self._pending_group = self._cgroups().create(f"{cluster.name}.{name}", limit)
        try:
            return int(await super().start_process(cluster, cmd, env, name))
        finally:
            self._pending_group = None

    async def do_stop_worker(self, worker: Any) -> None:
        await super().do_stop_worker(worker)
        self._release_group(f"{worker.cluster.name}.worker-{worker.name}")

    async def do_stop_cluster(self, cluster: Any) -> None:
        await super().do_stop_cluster(cluster)
        for name in self._cgroups().names(prefix=f"{cluster.name}."):
            self._release_group(name)
        self._cgroups().remove_parent()

    def _release_group(self, name: str) -> None:
        """Remove a process's group once it stopped; say so when the kernel killed it for its cap."""
        groups = self._cgroups()
        if not groups.path(name).exists():
            return
        kills = groups.oom_kills(name)
        if kills:
            self.log.warning("%s passed its memory cap and was killed by the kernel (%d OOM kill(s))", name, kills)
        groups.remove(name)

    def setup_working_directory(self, cluster: Any) -> str:
        if self.clusters_directory:
            workdir = os.path.join(self.clusters_directory, cluster.name)
        else:
            workdir = tempfile.mkdtemp(prefix="dask", suffix=cluster.name)
        certsdir = self.get_certs_directory(workdir)
        logsdir = self.get_logs_directory(workdir)
        paths = [workdir, certsdir, logsdir]
        for path in paths:
            os.makedirs(path, 0o700, exist_ok=True)
        cert_path, key_path = self._get_tls_paths(workdir)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
        for path, data in [(cert_path, cluster.tls_cert), (key_path, cluster.tls_key)]:
            with os.fdopen(os.open(path, flags, 0o600), "wb") as fil:
                fil.write(data)
            paths.append(path)  # upstream: paths.extend(path) -> one entry per character
        self._confined_chown(paths, self.system_username(cluster.username), Path(workdir))
        self.log.debug("Working directory %s for cluster %s created", workdir, cluster.name)
        return workdir

    def set_file_permissions(self, paths: list[str], username: str) -> None:
        # Only ever reached through setup_working_directory above, which confines itself;
        # any other caller gets nothing chowned.
        raise UnsafePathError("SafeLocalBackend chowns only through setup_working_directory")

    def _confined_chown(self, paths: list[str], username: str, workdir: Path) -> None:
        root = workdir.resolve()
        if root == Path("/") or len(root.parts) < 3:
            raise UnsafePathError(f"cluster working directory {root} is too close to /")
        resolved = []
        for p in paths:
            path = Path(p)
            if not path.is_absolute():
                raise UnsafePathError(f"refusing to chown relative path {p!r}")
            real = path.resolve()
            if real != root and root not in real.parents:
                raise UnsafePathError(f"refusing to chown {p!r}: outside {root}")
            resolved.append(real)
        super().set_file_permissions([str(r) for r in resolved], username)


class ClusterStopper(User):
    """The account service (``accounts.ACCOUNTS_SERVICE``) at the gateway: may act on every cluster.

    Upstream's ``User.has_permissions`` is ownership only (its ``admin`` flag is not
    consulted), and the hub's admin flag is never set for workbench users. Only the
    routes that check ``has_permissions`` are widened (view, stop, scale); the service
    has no groups, so the options handler refuses it a cluster of its own.
    """

    def has_permissions(self, cluster: Any) -> bool:
        return True


class HubTokenAuthenticator(JupyterHubAuthenticator):
    """Upstream's JupyterHub authenticator; an invalid token is a 401, not a 500, and the
    account service's token may stop anyone's cluster (``ClusterStopper``).

    JupyterHub 6 answers ``/hub/api/user`` with 403 for an unknown or expired token;
    dask-gateway-server 2026.3.0 reads a 403 as "the gateway lacks permission" and
    answers 500. Only that reply is mapped; everything else is upstream's.
    """

    async def authenticate(self, request: Any) -> Any:
        try:
            user = await super().authenticate(request)
        except web.HTTPInternalServerError as exc:
            if (exc.reason or "").startswith("Permission failure verifying"):
                raise unauthorized("jupyterhub") from None
            raise
        if user.name == f"service:{ACCOUNTS_SERVICE}":
            return ClusterStopper(user.name)
        return user


# --- limits per role ------------------------------------------------------------------


@dataclass(frozen=True)
class GatewayLimits:
    """What one role may ask of the gateway: per-worker cores/memory bounds and a worker cap."""

    max_workers: int
    max_worker_cores: int
    max_worker_memory_gib: float
    default_worker_memory_gib: float = 1.0
    scheduler_memory_gib: float = 0.5

    @property
    def cluster_max_cores(self) -> int:
        return self.max_workers * self.max_worker_cores + 1  # + the scheduler's core

    @property
    def cluster_max_memory(self) -> int:
        return int((self.max_workers * self.max_worker_memory_gib + self.scheduler_memory_gib) * 2**30)


def policy_limits() -> dict[str, GatewayLimits]:
    """Role -> limits, from the ``gateway`` of the policy's ``[roles.NAME.hub]`` (analysts: small exploratory
    clusters; modellers: room for feature builds and training). Roles without one (manager, admin) get no
    clusters, even with a token that reaches the gateway."""
    from workbench.security.roles import gateway_limits

    return {role: GatewayLimits(**spec.model_dump()) for role, spec in gateway_limits().items()}


DEFAULT_GATEWAY_LIMITS: dict[str, GatewayLimits] = policy_limits()


class NoClustersForRole(PermissionError):
    """The user's role gets no Dask clusters (shown to the client as the refusal reason)."""


def role_with_limits(groups: set[str] | list[str], limits: dict[str, GatewayLimits]) -> str | None:
    """The user's role (``roles.role_of``, the hub's one rule) when it has limits; None = no clusters."""
    from workbench.security.roles import role_of

    role = role_of(groups)
    return role if role in limits else None


def cluster_options(limits: dict[str, GatewayLimits], idle_timeout: float, hard_limits: bool = False,
                    role_config: dict[str, dict[str, Any]] | None = None) -> Callable[[Any], Options]:
    """``c.Backend.cluster_options``: the options form and its handler for the requesting user.

    The bounds of the form depend on the user's role (from their hub groups, as the
    JupyterHub authenticator reports them); the handler turns a valid request into the
    cluster's configuration, including the worker cap and the idle timeout, which the
    user cannot choose. ``hard_limits`` (Kubernetes) also sets the pods' resource limits
    to what was requested, so a scheduler or worker cannot grow past its grant (the
    local backend enforces the same figures with memory cgroups instead). ``role_config``
    adds per-role cluster configuration (Kubernetes: the role's lake credentials).
    """

    def for_user(user: Any) -> Options:
        role = role_with_limits(user.groups, limits)
        if role is None:
            def refuse(options: Any, user: Any) -> dict[str, Any]:
                raise NoClustersForRole(f"{user.name}: this role gets no Dask clusters")

            return Options(handler=refuse)
        lim = limits[role]

        def handler(options: Any, user: Any) -> dict[str, Any]:
            config: dict[str, Any] = {
                "worker_cores": options.worker_cores,
                "worker_memory": int(options.worker_memory * 2**30),
                "scheduler_cores": 1,
                "scheduler_memory": int(lim.scheduler_memory_gib * 2**30),
                "cluster_max_workers": lim.max_workers,
                "cluster_max_cores": lim.cluster_max_cores,
                "cluster_max_memory": lim.cluster_max_memory,
                "idle_timeout": idle_timeout,
            }
            if hard_limits:
                for part in ("worker", "scheduler"):
                    config[f"{part}_cores_limit"] = config[f"{part}_cores"]
                    config[f"{part}_memory_limit"] = config[f"{part}_memory"]
            return {**config, **(role_config or {}).get(role, {})}

        return Options(
            Integer("worker_cores", default=1, min=1, max=lim.max_worker_cores, label="Worker cores"),
            Float("worker_memory", default=min(lim.default_worker_memory_gib, lim.max_worker_memory_gib),
                  min=0.25, max=lim.max_worker_memory_gib, label="Worker memory (GiB)"),
            handler=handler,
        )

    return for_user


# --- the gateway as a hub service -----------------------------------------------------


def fernet_key_file(path: Path) -> str:
    """A Fernet key (base64 of 32 random bytes) in a 0600 file, generated on first use."""
    if not path.exists():
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())
    os.chmod(path, 0o600)
    return path.read_text().strip()


def service_token(profile: HubProfile) -> str:
    """The gateway's hub API token, shared by the hub's service definition and the gateway."""
    from workbench.platform.profile import secret_file

    return secret_file(profile.private_dir / "gateway_api_token")


def public_address(profile: HubProfile) -> str:
    """Where clients reach the gateway's HTTP API: through the hub's proxy, under the service prefix."""
    return f"http://{profile.ip}:{profile.port}{SERVICE_PREFIX}"


def proxy_address(profile: HubProfile) -> str:
    """The gateway's scheduler (TLS/TCP) proxy, which clients connect to directly."""
    return f"gateway://127.0.0.1:{profile.gateway_tcp_port}"


def service_definition(profile: HubProfile) -> dict[str, Any]:
    """The hub's ``services`` entry: a hub-managed process behind ``/services/dask-gateway``."""
    return {
        "name": SERVICE_NAME,
        "url": f"http://127.0.0.1:{profile.gateway_port}",
        "api_token": service_token(profile),
        "command": [sys.executable, "-m", "dask_gateway_server", "-f",
                    str(profile.gateway_config_file)],
        "environment": profile.to_env(),
        "display": False,
    }


def dask_command(python: str, part: str) -> list[str]:
    """``python -m dask scheduler|worker --no-dashboard``: distributed 2026.x ships no dask-scheduler/dask-worker scripts.

    Neither schedulers nor workers serve a Bokeh dashboard. Distributed has no
    authentication for it (``distributed.dashboard`` is plain Bokeh on tornado), so a
    scheduler's dashboard answered anyone through the gateway's proxy (its route is a
    capability URL, ``/clusters/<name>/``) and every local user on its loopback port; the
    endpoint sweep found both. The scheduler still starts its HTTP server (dask-gateway's
    preload registers its address and proxies to it) with the liveness probe only
    (``DASK_HTTP_ENVIRONMENT``). The owner gets the same plots through the authenticated
    client (mutual TLS with the cluster's own certificate): ``distributed.performance_report``
    renders the task stream, progress and worker profile into an HTML file in the owner's
    home, and ``Client.get_task_stream`` returns the raw records.
    """
    return [python, "-m", "dask", part, "--no-dashboard"]


DASK_HTTP_ENVIRONMENT = {
    # Distributed's HTTP routes have no authentication: schedulers and workers keep only the
    # liveness probe. Gone with the dashboard: its pages, static files and plot list,
    # Prometheus metrics, the /info pages (logs, call stacks) and the /proxy route (requests
    # to other hosts' ports).
    "DASK_DISTRIBUTED__SCHEDULER__HTTP__ROUTES": "['distributed.http.health']",
    "DASK_DISTRIBUTED__WORKER__HTTP__ROUTES": "['distributed.http.health']",
}


def server_token_scopes() -> list[str]:
    """What a notebook server's own token carries (``Spawner.server_token_scopes``), local and Kubernetes.

    ``Gateway(auth="jupyterhub")`` sends it: it must reach the gateway service, and the
    gateway's per-role limits read the user's groups through it.
    """
    return ["access:servers!server", "users:activity!user", "read:users:groups!user",
            "read:users:name!user", f"access:services!service={SERVICE_NAME}"]


def client_environment(address: str, proxy: str) -> dict[str, str]:
    """What a notebook server needs for ``Gateway()`` (and ``workbench.compute.cluster()``)."""
    return {
        "DASK_GATEWAY__ADDRESS": address,
        "DASK_GATEWAY__PROXY_ADDRESS": proxy,
        "DASK_GATEWAY__PUBLIC_ADDRESS": SERVICE_PREFIX,  # dashboard links relative to the hub URL
        "DASK_GATEWAY__AUTH__TYPE": "jupyterhub",
    }


def single_user_environment(profile: HubProfile) -> dict[str, str]:
    """The client environment of the local profile's notebook servers."""
    return client_environment(public_address(profile), proxy_address(profile))


def configure(c: Any, profile: HubProfile,
              limits: dict[str, GatewayLimits] | None = None) -> None:
    """Set the gateway's traitlets config ``c``: the local profile as a JupyterHub service."""
    private = profile.private_dir
    private.mkdir(parents=True, exist_ok=True)
    os.chmod(private, 0o700)
    clusters = profile.state_dir / "gateway" / "clusters"
    clusters.mkdir(parents=True, exist_ok=True)
    os.chmod(clusters.parent, 0o755)
    os.chmod(clusters, 0o711)  # users reach their own 0700 workdir, cannot list others'

    c.DaskGateway.address = f"127.0.0.1:{profile.gateway_api_port}"
    c.Proxy.address = f"127.0.0.1:{profile.gateway_port}"
    c.Proxy.tcp_address = f"127.0.0.1:{profile.gateway_tcp_port}"
    c.Proxy.prefix = SERVICE_PREFIX
    c.DaskGateway.log_level = profile.log_level

    # dask_gateway_server.auth.JupyterHubAuthenticator, with the invalid-token reply fixed.
    c.DaskGateway.authenticator_class = HubTokenAuthenticator
    c.JupyterHubAuthenticator.jupyterhub_api_token = service_token(profile)
    c.JupyterHubAuthenticator.jupyterhub_api_url = f"http://127.0.0.1:{profile.hub_port}/hub/api"
    c.JupyterHubAuthenticator.jupyterhub_service_name = SERVICE_NAME
    c.JupyterHubAuthenticator.use_service_access_scopes = True

    c.DaskGateway.backend_class = SafeLocalBackend
    c.SafeLocalBackend.unix_prefix = profile.unix_prefix
    c.SafeLocalBackend.cgroup_parent = profile.cgroup_parent
    c.SafeLocalBackend.clusters_directory = str(clusters)
    c.SafeLocalBackend.db_url = f"sqlite:///{private / 'gateway.sqlite'}"
    c.SafeLocalBackend.db_encrypt_keys = [fernet_key_file(private / "gateway_db_key")]
    c.SafeLocalBackend.stop_clusters_on_shutdown = True
    python = str(profile.user_env / "bin" / "python")  # same packages as the notebooks' kernels
    c.ClusterConfig.scheduler_cmd = dask_command(python, "scheduler")
    c.ClusterConfig.worker_cmd = dask_command(python, "worker")
    c.ClusterConfig.idle_timeout = float(profile.gateway_idle_timeout)
    c.ClusterConfig.environment = dict(DASK_HTTP_ENVIRONMENT)
    c.SafeLocalBackend.cluster_options = cluster_options(
        limits if limits is not None else DEFAULT_GATEWAY_LIMITS, float(profile.gateway_idle_timeout))
