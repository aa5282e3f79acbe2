"""The local stack's profile: where its state lives, which ports and Unix prefix it uses.

Everything the platform's modules share about one stack, kept apart from ``hubconfig``
(which builds the hub's whole configuration from it and so imports every platform module):
the gateway, the scoring service, the stack and the CLI read a profile without importing
JupyterHub or each other.
"""

from __future__ import annotations

import os
import random
import secrets
import socket
from dataclasses import dataclass, field
from pathlib import Path

from workbench.security.roles import server_memory

REPO = Path(__file__).resolve().parents[2]
DEFAULT_PROXY = REPO / "var" / "npm" / "node_modules" / ".bin" / "configurable-http-proxy"
DEFAULT_STATE = REPO / "var" / "hub"
KERNELS = REPO / "kernels"
NOTEBOOKS = REPO / "notebooks"
TEMPLATES = REPO / "hub_config" / "templates"
GATEWAY_CONFIG = REPO / "hub_config" / "dask_gateway_config.py"
DASHBOARDS_SERVICE = "dashboards"
DASHBOARDS_PREFIX = f"/services/{DASHBOARDS_SERVICE}"


@dataclass
class HubProfile:
    """The local profile's knobs; every field has a safe one-machine default."""

    state_dir: Path = DEFAULT_STATE
    ip: str = "127.0.0.1"
    port: int = 8000
    hub_port: int = 8081
    proxy_api_port: int = 8001
    proxy_command: str = str(DEFAULT_PROXY)
    home_root: Path = Path("/home")
    unix_prefix: str = "wb-"
    cgroup_parent: str = ""
    role_mem_limits: dict[str, str] = field(default_factory=lambda: dict(server_memory()))
    idle_timeout: int = 3600
    demo_accounts: bool = True
    log_level: str = "INFO"
    gateway: bool = True
    gateway_port: int = 8002
    gateway_api_port: int = 8003
    gateway_tcp_port: int = 8004
    gateway_idle_timeout: int = 1800
    gateway_config_file: Path = GATEWAY_CONFIG
    lake: str | None = None
    audit_dir: str | None = None
    dashboards: bool = True
    dashboards_port: int = 0  # 0: a free loopback port, chosen when the hub starts
    config_file: str | None = None  # the project's workbench.toml, handed to servers and services
    supervised: bool = False  # set by the stack for its hub: supervisord runs the proxy and services (supervised_hub.hand_over)

    @classmethod
    def from_env(cls) -> HubProfile:
        """The profile from the ``WORKBENCH_HUB_*`` settings; unset or empty ones keep the defaults."""
        from workbench.settings import HubSettings

        profile = cls()
        for name, value in HubSettings().model_dump(exclude_none=True).items():
            setattr(profile, "state_dir" if name == "state" else name, value)
        return profile

    def to_env(self) -> dict[str, str]:
        """The ``WORKBENCH_HUB_*`` variables that give ``from_env`` this profile back.

        The hub hands them to the services it starts (the gateway reads the same profile).
        """
        env = {
            "WORKBENCH_HUB_STATE": str(self.state_dir),
            "WORKBENCH_HUB_IP": self.ip,
            "WORKBENCH_HUB_PROXY_COMMAND": self.proxy_command,
            "WORKBENCH_HUB_HOME_ROOT": str(self.home_root),
            "WORKBENCH_HUB_UNIX_PREFIX": self.unix_prefix,
            "WORKBENCH_HUB_CGROUP_PARENT": self.cgroup_parent,
            "WORKBENCH_HUB_DEMO_ACCOUNTS": "1" if self.demo_accounts else "0",
            "WORKBENCH_HUB_LOG_LEVEL": self.log_level,
            "WORKBENCH_HUB_GATEWAY": "1" if self.gateway else "0",
            "WORKBENCH_HUB_DASHBOARDS": "1" if self.dashboards else "0",
        }
        for name in ("port", "hub_port", "proxy_api_port", "idle_timeout", "gateway_port",
                     "gateway_api_port", "gateway_tcp_port", "gateway_idle_timeout", "dashboards_port"):
            env[f"WORKBENCH_HUB_{name.upper()}"] = str(getattr(self, name))
        if self.lake:
            env["WORKBENCH_HUB_LAKE"] = self.lake
        if self.audit_dir:
            env["WORKBENCH_HUB_AUDIT_DIR"] = self.audit_dir
        if self.config_file:
            env["WORKBENCH_HUB_CONFIG_FILE"] = self.config_file
        return env

    @property
    def private_dir(self) -> Path:
        return self.state_dir / "private"

    @property
    def credentials_file(self) -> Path:
        return self.private_dir / "demo-credentials.tsv"

    @property
    def user_env(self) -> Path:
        return self.state_dir / "userenv"

    @property
    def dashboards_dir(self) -> Path:
        """The dashboards service's own folder (published apps), 0700."""
        return self.state_dir / "dashboards"


def secret_file(path: Path, nbytes: int = 32) -> str:
    """The hex secret in ``path``, generated into a new 0600 file (in a 0700 folder) on first use."""
    if not path.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(nbytes))
    os.chmod(path, 0o600)
    return path.read_text().strip()


def free_port() -> int:
    """A loopback port nothing listens on, below the kernel's ephemeral range, not handed out before by this process.

    ``bind(0)`` answers from the ephemeral range, where every outgoing connection takes its
    local port: between choosing a port and its server binding it (seconds, for a component
    supervisord starts), another process's connection may take it, and the server cannot
    start. Below that range only servers bind. Remembering what was handed out keeps the
    several ports of one stack apart.
    """
    low = _ephemeral_start()
    for _ in range(1000):
        port = random.randrange(max(1024, low - 16384), low)
        if port in _HANDED_OUT:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return port
    raise OSError(f"no free loopback port below {low}")


_HANDED_OUT: set[int] = set()


def _ephemeral_start() -> int:
    """The first port of the kernel's ephemeral range (Linux's default when it cannot be read)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def workbench_environment(profile: HubProfile) -> dict[str, str]:
    """The ``WORKBENCH_*`` settings every process of the platform gets: servers and the dashboards service."""
    environment = {}
    if profile.config_file:  # the settings `make up` built the stack with (lake, NLP precision, ...)
        environment["WORKBENCH_CONFIG"] = profile.config_file
    if profile.lake:
        environment["WORKBENCH_LAKE"] = profile.lake
    if profile.audit_dir and not audit_socket_environment():
        # no audit service (a bare hub, as in some tests): records go straight to a folder
        # the users can append to; with the service they go through its socket only
        environment["WORKBENCH_AUDIT_DIR"] = profile.audit_dir
    return environment


def audit_socket_environment() -> dict[str, str]:
    """The audit service's socket, when the stack runs one (the hub's own settings name it)."""
    from workbench.settings import load_settings

    socket_path = load_settings().audit_socket
    return {"WORKBENCH_AUDIT_SOCKET": socket_path} if socket_path else {}
