"""Backup of a demo lake: ``workbench backup`` beside a plain ``tar`` of the same folders.

Both copy the lake (with the MLflow registry inside it), its audit folder and a hub state
folder (a real account store with the demo accounts) into a fresh folder on the same disk,
in the same run. ``backup`` pins each Delta table's version, copies only that version's
files and log, takes SQLite copies through the online backup API and hashes every file
(the manifest); ``tar -cf`` copies the folders byte for byte, as they are at that moment.
Then ``restore`` (hash check, copy, audit chain and table versions verified) into empty
folders. Reported: seconds and bytes of each, and the ratios backup / tar.

    python benchmarks/bench_backup.py --lake var/bench/world-s1   # `make bench` builds it (scale 1)
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from workbench.security.accounts import AccountStore, ensure_demo_accounts  # noqa: E402
from workbench.platform.backup import Sources, backup, restore  # noqa: E402
from workbench.security.audit import default_audit_dir  # noqa: E402


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lake", required=True, help="A demo lake (`workbench demo generate --scale 1`).")
    args = parser.parse_args()
    lake = Path(args.lake).resolve()
    audit = default_audit_dir(str(lake))
    with tempfile.TemporaryDirectory(prefix="bench-backup-", dir=lake.parent) as scratch:
        work = Path(scratch)
        state = work / "state"
        ensure_demo_accounts(AccountStore(state), state / "private" / "demo-credentials.tsv")
        sources = Sources(lake, audit, state)
        started = time.perf_counter()
        tarball = work / "plain.tar"
        folders = [p for p in (lake, audit, state) if p.exists()]
        subprocess.run(["tar", "-cf", str(tarball), *(str(p) for p in folders)], check=True, capture_output=True)
        tar_seconds = time.perf_counter() - started
        result = backup(sources, work / "backup")
        started = time.perf_counter()
        target = Sources(work / "restored" / "lake", work / "restored" / "audit", work / "restored" / "state")
        restore(work / "backup", target)
        restore_seconds = time.perf_counter() - started
        report = {
            "lake": str(lake), "tables": len(result.tables), "files": result.files,
            "audit_records": result.audit_records,
            "backup": {"seconds": round(result.seconds, 2), "bytes": folder_bytes(work / "backup")},
            "tar": {"seconds": round(tar_seconds, 2), "bytes": tarball.stat().st_size},
            "restore": {"seconds": round(restore_seconds, 2)},
        }
        report["ratio_seconds"] = round(report["backup"]["seconds"] / max(tar_seconds, 1e-9), 2)
        report["ratio_bytes"] = round(report["backup"]["bytes"] / max(report["tar"]["bytes"], 1), 3)
        shutil.rmtree(work / "restored", ignore_errors=True)
    print(json.dumps({"bench": "backup", **report}, indent=1))


if __name__ == "__main__":
    main()
