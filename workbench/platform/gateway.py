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
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from dask_gateway_server.backends.local import LocalBackend


class UnsafePathError(PermissionError):
    """A chown outside the cluster's working directory was asked for and refused."""


class SafeLocalBackend(LocalBackend):
    """``LocalBackend`` with the working-directory bug fixed and chowns confined to the workdir."""

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
        self._confined_chown(paths, cluster.username, Path(workdir))
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
