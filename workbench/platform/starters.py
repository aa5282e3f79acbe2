"""Starter notebooks in a person's home: their own copies, newer versions offered beside them, never overwritten.

The spawner runs this file as a script, as the person's Unix user (never as root: a home
is theirs, and a link they planted there must not make root write elsewhere), before
their server starts: ``python -I starters.py SOURCE HOME``. Standard library only, so it
costs one interpreter start, not an import of the workbench.

For each ``SOURCE/*.ipynb``:

- never seen in this home: copied to ``~/notebooks/NAME`` (unless a file of that name is
  there already: then it is offered, as below);
- changed since the version last copied or offered: the new version goes to
  ``~/notebooks/updates/NAME`` for the person to compare and take; their copy stays as is;
- otherwise (unchanged, or deleted by the person): nothing.

What was copied or offered is recorded (by content hash) in ``~/.workbench/starters.json``.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from pathlib import Path

UPDATES_NOTE = """# Newer starter notebooks

The workbench's starter notebooks changed since they were copied into `notebooks/`.
The new versions are here; your own copies were not touched. Compare, take what you
want, and delete this folder when done: it comes back only when a starter changes again.
"""


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def offer(source: Path, home: Path) -> dict[str, str]:
    """Copy or offer the starters of ``source`` into ``home``; what happened to each ("copied", "offered")."""
    target, manifest_file = home / "notebooks", home / ".workbench" / "starters.json"
    try:
        manifest: dict[str, str] = json.loads(manifest_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        manifest = {}
    done: dict[str, str] = {}
    for notebook in sorted(source.glob("*.ipynb")):
        digest = _digest(notebook)
        if manifest.get(notebook.name) == digest:
            continue
        mine = target / notebook.name
        if notebook.name not in manifest and not mine.exists():
            target.mkdir(mode=0o700, exist_ok=True)
            shutil.copyfile(notebook, mine)
            done[notebook.name] = "copied"
        else:
            updates = target / "updates"
            updates.mkdir(mode=0o700, parents=True, exist_ok=True)
            shutil.copyfile(notebook, updates / notebook.name)
            (updates / "README.md").write_text(UPDATES_NOTE, encoding="utf-8")
            done[notebook.name] = "offered"
        manifest[notebook.name] = digest
    if done:
        manifest_file.parent.mkdir(mode=0o700, exist_ok=True)
        manifest_file.write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    return done


if __name__ == "__main__":
    print(json.dumps(offer(Path(sys.argv[1]), Path(sys.argv[2]))))
