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

Start-up time (spawn-to-ready, goal <= 5 s): the notebook server is the same code as the
hub's, but two things it would do at every start buy nothing here and are switched off
for the single-user server only (``-X importtime`` and timed starts, see the platform
benchmark):

- ``jsonschema`` registers an "iri" format checker by importing ``rfc3987_syntax``, whose
  import builds an Earley parser for RFC 3987 (1.5-4 s of CPU per start). No schema of
  the server or its extensions uses that format, so ``singleuser_cmd`` makes the import
  fail (``sys.modules[name] = None``, Python's documented way) and jsonschema skips the
  checker. Kernels and Dask workers are other processes and keep it.
- JupyterLab computes its app version at import and, on the way, asks ``node yarn.js
  config`` for a package registry (a Node.js process, 1-3 s) that only matters for
  building extensions from source, which nobody does in a notebook server (and which
  cannot reach a registry here). ``SERVER_BOOT`` gives it the answer it uses when Node.js
  is not installed: no yarn configuration, the default registry.
- ``SERVER_EXTENSIONS_OFF``: server extensions disabled through the environment's own
  config folder, the way ``jupyter server extension disable`` does it.

Air-gapped and at home (``SERVER_SETTINGS``, ``PAGE_CONFIG``): JupyterLab's news feed and
update check are off on the server (``news_url``, ``check_for_updates_class``) and its
announcements plugin is disabled in the page, so nobody is asked to fetch news from the
internet; new notebooks open in the Customs Workbench kernel.
"""

from __future__ import annotations

import json
import os
import site
import stat
import subprocess
import sys
from pathlib import Path

from workbench.errors import WorkbenchError

SYSTEM_PYTHON = "/usr/bin/python3"


SERVER_EXTENSIONS_OFF = {
    "jupyter_lsp": "no language server is installed, so it offers nothing, yet probes for them at every start",
    "panel.io.jupyter_server_extension": (
        "serves only JupyterLab's 'Render with Panel' preview and imports Panel and Bokeh at every start "
        "(~3 s); Panel output in notebooks goes through the kernel, and dashboards are published "
        "to the dashboards service"),
}
SERVER_SETTINGS = {
    "LabApp": {"news_url": None, "check_for_updates_class": "jupyterlab.handlers.announcements.NeverCheckForUpdate"},
    "MappingKernelManager": {"default_kernel_name": "customs-workbench"},
}
PAGE_CONFIG = {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}
SERVER_BOOT = "; ".join([
    "import sys",
    "sys.modules['rfc3987_syntax'] = None",
    "import jupyterlab.commands as lab",
    "lab._yarn_config = lambda logger: {'yarn config': {}, 'npm config': {}}",
    "from jupyterhub.singleuser import main",
    "sys.exit(main())",
])


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
    # Jupyter finds lab assets and kernelspecs under sys.prefix (linked), and server config
    # there too (mirrored, with the single-user server's own overrides added).
    link, source = target / "share" / "jupyter", prefix / "share" / "jupyter"
    if source.exists() and not link.is_symlink():
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(source)
    _server_config(target / "etc" / "jupyter", prefix / "etc" / "jupyter")
    os.chmod(target, 0o755)
    if not world_traversable(target):
        raise UserEnvError(f"{target} is not reachable by other users (a parent folder lacks o+x)")
    return python


def _server_config(folder: Path, source: Path) -> None:
    """``etc/jupyter``: links to the venv's config files, plus the file disabling ``SERVER_EXTENSIONS_OFF``.

    One level of folders is real (so a file can be added next to the venv's); every file
    is a link, so an extension installed into the venv later shows up at the next start.
    """
    if folder.is_symlink():  # environments built before the overrides existed
        folder.unlink()
    folder.mkdir(parents=True, exist_ok=True)
    for entry in sorted(source.iterdir()) if source.is_dir() else []:
        mirrored = folder / entry.name
        if entry.is_dir():
            mirrored.mkdir(exist_ok=True)
            for item in entry.iterdir():
                if not (mirrored / item.name).is_symlink():
                    (mirrored / item.name).symlink_to(item)
        elif not mirrored.is_symlink():
            mirrored.symlink_to(entry)
    overrides = folder / "jupyter_server_config.d"
    overrides.mkdir(exist_ok=True)
    # Read after the venv's files (sorted by name), so these values win.
    (overrides / "zz-workbench-singleuser.json").write_text(json.dumps(
        {"ServerApp": {"jpserver_extensions": dict.fromkeys(SERVER_EXTENSIONS_OFF, False)}}, indent=1) + "\n")
    # Extensions are enabled from the .d folder; other settings are read from the main file only.
    _own_json(folder / "jupyter_server_config.json", SERVER_SETTINGS)
    labconfig = folder / "labconfig"
    if labconfig.is_symlink():
        labconfig.unlink()
    labconfig.mkdir(exist_ok=True)
    _own_json(labconfig / "page_config.json", PAGE_CONFIG)
    for path in [folder, *folder.rglob("*")]:
        if not path.is_symlink():
            os.chmod(path, 0o755 if path.is_dir() else 0o644)


def _own_json(path: Path, settings: dict[str, dict[str, object]]) -> None:
    """Write ``settings`` into the JSON config file at ``path``, over the venv's own (a mirrored link), if any."""
    if path.is_symlink():
        base = json.loads(path.read_text(encoding="utf-8"))
        path.unlink()
    else:
        base = {}
    merged = {**base, **{section: {**base.get(section, {}), **values} for section, values in settings.items()}}
    path.write_text(json.dumps(merged, indent=1) + "\n")


def singleuser_cmd(python: str | os.PathLike[str]) -> list[str]:
    """The command the spawner runs: the hub's single-user server from the user environment.

    ``SERVER_BOOT`` is ``python -m jupyterhub.singleuser`` without the rfc3987 parser build
    and the yarn configuration probe (see the module docstring).
    """
    return [str(python), "-c", SERVER_BOOT]
