"""The Python environment single-user servers run in, executable by every workbench user.

Why: the project's venv links its interpreter into ``/root/.pyenv`` (mode 0700), which a
per-user server dropped to its own uid cannot execute. Instead of a second full install
(minutes, and a second set of versions to keep in step), the user environment is a
venv made from the system interpreter (``/usr/bin/python3``, same minor version), whose
only content is a ``.pth`` file that adds the project venv's ``site-packages`` (world
readable) and links to its Jupyter data and config. The packages a user's kernel sees
are therefore exactly those of the hub and the Dask workers; only the interpreter
binary and standard library differ (same ABI, cp3XX).

What a caller may rely on: ``build_user_env`` is idempotent, leaves the target 0755 and
every file in it world-readable, and raises ``UserEnvError`` when the base interpreter's
``major.minor`` differs from the running one's (binary wheels would not load).
"""

from __future__ import annotations

import os
import site
import stat
import subprocess
import sys
from pathlib import Path

from workbench.errors import WorkbenchError

SYSTEM_PYTHON = "/usr/bin/python3"


class UserEnvError(WorkbenchError):
    """The single-user environment cannot be built or would not be usable by other users."""


def _version(python: str) -> str:
    out = subprocess.run([python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                         check=True, capture_output=True, text=True)
    return out.stdout.strip()


def source_site_packages() -> Path:
    """The running environment's site-packages (the hub's venv)."""
    return Path(site.getsitepackages()[0])


def world_traversable(path: Path) -> bool:
    """True when every folder from ``/`` down to ``path`` lets other users in (o+x)."""
    for folder in [path, *path.parents]:
        if folder.exists() and not stat.S_IMODE(folder.stat().st_mode) & stat.S_IXOTH:
            return False
    return True


def user_python(target: str | os.PathLike[str]) -> Path:
    return Path(target) / "bin" / "python"


def build_user_env(target: str | os.PathLike[str], base_python: str = SYSTEM_PYTHON,
                   source_prefix: str | os.PathLike[str] | None = None) -> Path:
    """Create (or refresh) the user environment at ``target``; returns its python."""
    target = Path(target)
    prefix = Path(source_prefix) if source_prefix is not None else Path(sys.prefix)
    wanted = "%d.%d" % sys.version_info[:2]
    if not Path(base_python).exists():
        raise UserEnvError(f"base interpreter {base_python} not found")
    if (found := _version(base_python)) != wanted:
        raise UserEnvError(f"{base_python} is Python {found}, the workbench venv is {wanted}")
    packages = prefix / "lib" / f"python{wanted}" / "site-packages"
    if not world_traversable(packages):
        raise UserEnvError(f"{packages} is not readable by other users")
    python = user_python(target)
    if not python.exists():
        subprocess.run([base_python, "-m", "venv", "--without-pip", str(target)], check=True,
                       capture_output=True, text=True)
    own = target / "lib" / f"python{wanted}" / "site-packages"
    (own / "workbench-overlay.pth").write_text(f"import site; site.addsitedir({str(packages)!r})\n")
    # Jupyter finds lab assets, kernelspecs and server-extension config under sys.prefix.
    for sub in ("share/jupyter", "etc/jupyter"):
        link, source = target / sub, prefix / sub
        if source.exists() and not link.is_symlink():
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(source)
    # Also the console scripts the spawner may name (jupyterhub-singleuser, jupyter-lab).
    os.chmod(target, 0o755)
    if not world_traversable(target):
        raise UserEnvError(f"{target} is not reachable by other users (a parent folder lacks o+x)")
    return python


def singleuser_cmd(python: str | os.PathLike[str]) -> list[str]:
    """The command the spawner runs: the hub's single-user server from the user environment."""
    return [str(python), "-m", "jupyterhub.singleuser"]
