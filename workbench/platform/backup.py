"""Backup and restore of a stack's data: lake, audit trail, accounts, registry, hub state, configuration.

A backup is a folder (0700, root only) with the copies and ``manifest.json``: every file's
path, size and SHA-256, each Delta table's pinned version, and the audit trail's last
record. It is taken while the stack runs, so each part is copied the way its writer keeps
it consistent:

- **Delta tables** (any folder of the lake with a ``_delta_log``): the table's current
  version is read once and pinned; the backup copies the data files of that version and the
  log up to it (commits and checkpoints of later versions are left out), so a commit landing
  meanwhile is simply not in the backup. Writers never change a file once committed, so a
  copied file is the committed one. (Tables are pinned one after another: Delta has no
  cross-table transaction to pin them together.)
- **SQLite databases** (accounts store, MLflow registry, hub database): SQLite's online
  backup API, a consistent copy while others write.
- **The audit trail**: ``checkpoints.jsonl`` first, then ``audit.jsonl`` up to its last
  complete line (records are appended whole, one ``write`` each), so every signed
  checkpoint in the copy refers to a record in it, and the copy verifies.
- **Everything else** (registry artefacts, documents, published apps, secrets, config
  files): plain copies, hashed.

What is left out: what the stack rebuilds or what describes running processes (the user
environment, logs, sockets, pid files, Dask clusters' working folders, supervisord's
config) and, in the lake, files of Delta tables that are not part of the pinned version.

``restore`` rebuilds a *stopped* stack into empty folders: every file's hash is checked
against the manifest before anything is written, then the audit chain (``audit.verify``)
and each table's pinned version are checked on the restored copy; a mismatch stops the
restore with the file or table named. Both steps write an audit record (``backup`` into
the live trail, ``restore`` into the restored one).

Why not ``tar``: a tar of live folders copies Delta files of half-finished commits, log
entries after the data it copied, and SQLite files mid-transaction; it has no per-table
version and no hash to check on restore (``benchmarks/bench_platform.py`` times both).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from workbench.errors import WorkbenchError

MANIFEST = "manifest.json"
FORMAT = 1
SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3")
STATE_SKIPPED = {"userenv", "logs", "run", "sockets", "gateway"}
"""Hub state folders the stack rebuilds or that describe running processes."""
STATE_SKIPPED_FILES = {"supervisord.conf", "jupyterhub.pid", "proxy.pid"}
_LOG_ENTRY = re.compile(r"^(\d{20})\.(json|checkpoint\.parquet|checkpoint\.\d+\.\d+\.parquet)$")


class BackupError(WorkbenchError):
    """A backup could not be taken or does not restore; the message names the file or table."""


@dataclass
class Sources:
    """Where a stack keeps what a backup holds (a local lake)."""

    lake: Path
    audit: Path
    state: Path
    config: list[Path] = field(default_factory=list)
    """Configuration files or folders (``workbench.toml``, connectors/, apps/, hub_config/)."""


@dataclass
class BackupResult:
    folder: Path
    files: int
    bytes: int
    tables: dict[str, int]
    audit_records: int
    seconds: float


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as source:
        for block in iter(lambda: source.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def delta_tables(lake: Path) -> Iterator[Path]:
    """Every Delta table folder under ``lake`` (a folder with a ``_delta_log``), sorted."""
    for log in sorted(lake.rglob("_delta_log")):
        if log.is_dir():
            yield log.parent


class _Writer:
    """Copies into the backup folder and keeps the manifest's file list."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.files: list[dict[str, Any]] = []

    def target(self, part: str, relative: Path) -> Path:
        target = self.folder / part / relative
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        return target

    def add(self, part: str, relative: Path, source: Path) -> None:
        target = self.target(part, relative)
        if source.suffix in SQLITE_SUFFIXES and _is_sqlite(source):
            src, dst = sqlite3.connect(f"file:{source}?mode=ro", uri=True), sqlite3.connect(target)
            try:
                src.backup(dst)  # consistent while the stack writes
            finally:
                dst.close()
                src.close()
        else:
            shutil.copyfile(source, target)
        self.record(part, relative, target)

    def write(self, part: str, relative: Path, data: bytes) -> None:
        target = self.target(part, relative)
        target.write_bytes(data)
        self.record(part, relative, target)

    def record(self, part: str, relative: Path, target: Path) -> None:
        os.chmod(target, 0o600)
        self.files.append({"path": f"{part}/{relative.as_posix()}", "bytes": target.stat().st_size,
                           "sha256": _sha256(target)})


def _is_sqlite(path: Path) -> bool:
    with open(path, "rb") as source:
        return source.read(16) == b"SQLite format 3\x00"


def _copy_table(writer: _Writer, lake: Path, table: Path) -> int:
    """Copy one Delta table at its current version (data files of that version, log up to it); the version."""
    from deltalake import DeltaTable

    snapshot = DeltaTable(str(table))
    version = snapshot.version()
    relative = table.relative_to(lake)
    for uri in snapshot.file_uris():
        path = Path(unquote(uri.removeprefix("file://")))
        writer.add("lake", relative / path.relative_to(table), path)
    for entry in sorted((table / "_delta_log").iterdir()):
        match = _LOG_ENTRY.match(entry.name)
        if match and int(match[1]) <= version:
            writer.add("lake", relative / "_delta_log" / entry.name, entry)
    return version


def _copy_tree(writer: _Writer, part: str, root: Path, skip: set[Path], skip_dirs: set[str] = frozenset(),
               skip_files: set[str] = frozenset()) -> None:
    """Every regular file under ``root`` but those under ``skip`` folders (absolute) or named ``skip_*``."""
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        dirs[:] = sorted(d for d in dirs if here / d not in skip and not (here == root and d in skip_dirs))
        for name in sorted(files):
            path = here / name
            if name in skip_files or not path.is_file() or path.is_symlink():
                continue
            if name.endswith(("-journal", "-wal", "-shm")):
                continue  # SQLite's own side files: the backup API copy holds their content
            writer.add(part, path.relative_to(root), path)


def _copy_audit(writer: _Writer, audit: Path) -> tuple[int, str | None]:
    """Checkpoints, then the log up to its last complete line; keys and anything else as files.
    Returns the number of records copied and the last one's hash."""
    from workbench.security.audit import CHECKPOINT_FILE, LOG_FILE

    checkpoints = audit / CHECKPOINT_FILE
    if checkpoints.exists():
        writer.write("audit", Path(CHECKPOINT_FILE), _complete_lines(checkpoints))
    log = _complete_lines(audit / LOG_FILE) if (audit / LOG_FILE).exists() else b""
    writer.write("audit", Path(LOG_FILE), log)
    _copy_tree(writer, "audit", audit, set(), skip_files={CHECKPOINT_FILE, LOG_FILE})
    lines = log.splitlines()
    return len(lines), json.loads(lines[-1]).get("hash") if lines else None


def _complete_lines(path: Path) -> bytes:
    data = path.read_bytes()
    return data[: data.rfind(b"\n") + 1]


def backup(sources: Sources, folder: str | os.PathLike[str]) -> BackupResult:
    """Take a backup of ``sources`` into the new or empty folder ``folder`` (made 0700)."""
    from workbench import __version__

    started = time.perf_counter()
    folder = Path(folder)
    if folder.exists() and any(folder.iterdir()):
        raise BackupError(f"{folder} is not empty: a backup goes into a new folder")
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(folder, 0o700)
    writer = _Writer(folder)
    tables = {}
    for table in delta_tables(sources.lake):
        tables[table.relative_to(sources.lake).as_posix()] = _copy_table(writer, sources.lake, table)
    _copy_tree(writer, "lake", sources.lake, {sources.lake / t for t in tables})
    records, head = _copy_audit(writer, sources.audit)
    if sources.state.exists():
        _copy_tree(writer, "state", sources.state, set(), skip_dirs=STATE_SKIPPED, skip_files=STATE_SKIPPED_FILES)
    for item in sources.config:
        if item.is_dir():
            _copy_tree(writer, f"config/{item.name}", item, set())
        elif item.is_file():
            writer.add("config", Path(item.name), item)
    manifest = {
        "format": FORMAT, "created": datetime.now(UTC).isoformat(timespec="seconds"), "workbench": __version__,
        "sources": {"lake": str(sources.lake), "audit": str(sources.audit), "state": str(sources.state)},
        "tables": tables, "audit": {"records": records, "head": head}, "files": writer.files,
    }
    manifest_file = folder / MANIFEST
    manifest_file.write_text(json.dumps(manifest, indent=1))
    os.chmod(manifest_file, 0o600)
    return BackupResult(folder, len(writer.files), sum(f["bytes"] for f in writer.files), tables, records,
                        time.perf_counter() - started)


def read_manifest(folder: str | os.PathLike[str]) -> dict[str, Any]:
    try:
        return dict(json.loads((Path(folder) / MANIFEST).read_text()))
    except (OSError, ValueError) as exc:
        raise BackupError(f"{folder} holds no readable {MANIFEST}: {exc}") from exc


def check(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """The manifest, once every file it lists is present with its size and SHA-256; else ``BackupError``."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    if manifest.get("format") != FORMAT:
        raise BackupError(f"{folder / MANIFEST}: format {manifest.get('format')!r}, this workbench reads {FORMAT}")
    for entry in manifest["files"]:
        path = folder / entry["path"]
        if not path.is_file():
            raise BackupError(f"{entry['path']}: listed in the manifest, missing from the backup")
        if path.stat().st_size != entry["bytes"] or _sha256(path) != entry["sha256"]:
            raise BackupError(f"{entry['path']}: its SHA-256 does not match the manifest (changed or damaged)")
    return manifest


@dataclass
class RestoreResult:
    tables: dict[str, int]
    files: int
    audit_records: int


def restore(folder: str | os.PathLike[str], target: Sources) -> RestoreResult:
    """Rebuild ``target`` (empty or missing folders; the stack stopped) from the backup ``folder``.

    Order: every hash against the manifest; copy; the audit chain and signed checkpoints
    verify; every table opens at its pinned version. Raises ``BackupError`` naming what failed.
    """
    from deltalake import DeltaTable

    from workbench.security.audit import verify

    folder = Path(folder)
    manifest = check(folder)
    for where in (target.lake, target.audit, target.state):
        if where.exists() and any(where.iterdir()):
            raise BackupError(f"{where} is not empty: restore rebuilds a stack into empty folders")
    parts = {"lake": target.lake, "audit": target.audit, "state": target.state}
    for entry in manifest["files"]:
        part, _, relative = entry["path"].partition("/")
        if part not in parts:
            continue  # configuration stays in the backup: compare and copy it by hand
        destination = parts[part] / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(folder / entry["path"], destination)
        os.chmod(destination, 0o600 if part != "lake" else 0o644)
    for where, mode in ((target.audit, 0o700), (target.state, 0o755), (target.state / "private", 0o700),
                        (target.state / "accounts", 0o700)):
        if where.exists():
            os.chmod(where, mode)
    public_key = target.audit / "keys" / "checkpoint.pub"
    if public_key.exists():
        os.chmod(public_key, 0o644)
    verification = verify(target.audit)
    if not verification.ok:
        raise BackupError(f"the restored audit trail does not verify: {verification}")
    for name, version in manifest["tables"].items():
        restored = DeltaTable(str(target.lake / name))
        if restored.version() != version:
            raise BackupError(f"table {name}: restored at version {restored.version()}, backed up at {version}")
    return RestoreResult(dict(manifest["tables"]), len(manifest["files"]), int(manifest["audit"]["records"]))
