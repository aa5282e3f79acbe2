"""The audit service: the one writer of the trail, identifying clients by SO_PEERCRED.

The service runs for real (in a thread of this root test process, or as the ``workbench
audit serve`` process the stack starts); the unprivileged client is a real throwaway Unix
user (prefix ``wbt<hex>-``, removed with its home at teardown) running the workbench from
a user environment, exactly as a kernel does.
"""

from __future__ import annotations

import grp
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.hub_support import IS_ROOT, remove_users, wait_until
from workbench.errors import AccessDenied
from workbench.session import connect
from workbench.security.audit import AuditUnavailable, read_records, verify
from workbench.security.audit_service import AuditClient, AuditService


@pytest.fixture
def service(tmp_path: Path) -> Iterator[AuditService]:
    running = AuditService(tmp_path / "audit", tmp_path / "sockets" / "audit.sock", unix_prefix="wbt-",
                           roles={"alice": "analyst"}.get, checkpoint_every=3)
    thread = threading.Thread(target=running.serve, kwargs={"checkpoint_seconds": 3600}, daemon=True)
    thread.start()
    try:
        yield running
    finally:
        running.shutdown()
        thread.join(timeout=10)
        running.server_close()


def test_records_are_chained_acknowledged_and_verified(service: AuditService) -> None:
    client = AuditClient(service.socket_file, "hub", "system")
    first = client.record("login", user="alice", role="analyst", source_ip="10.0.0.7")
    assert (first["seq"], first["user"]) == (0, "alice")  # root may name whom a record is about
    for i in range(4):
        assert client.record("query", tables=["curated.declarations"], rows=i, query=f"SELECT {i}")["seq"] == i + 1
    client.close()
    records = list(read_records(service.folder))
    assert [r["event"] for r in records] == ["login"] + ["query"] * 4
    assert records[0]["detail"]["source_ip"] == "10.0.0.7" and records[0]["detail"]["peer_pid"] == os.getpid()
    result = verify(service.folder)
    assert result.ok and result.records == 5 and result.checkpoints == 1  # signed by the service at seq 2
    assert stat.S_IMODE(service.folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(service.socket_file.stat().st_mode) == 0o666
    assert stat.S_IMODE(service.socket_file.parent.stat().st_mode) == 0o755


def test_a_read_returns_once_handed_over_and_a_record_the_service_failed_stops_the_next_action(
        service: AuditService, monkeypatch: pytest.MonkeyPatch) -> None:
    client = AuditClient(service.socket_file, "hub", "system")
    handed = client.record("query", rows=1, query="SELECT 1", wait=False)
    assert "seq" not in handed  # returned before the service answered
    assert client.record("query", rows=2, query="SELECT 2")["seq"] == 1  # the earlier answer was read first

    tried = threading.Event()

    def disk_full(body: dict[str, object]) -> dict[str, object]:
        tried.set()
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(service.trail, "append", disk_full)
    client.record("query", rows=3, query="SELECT 3", wait=False)  # handed over; the service cannot write it
    assert tried.wait(10)
    monkeypatch.undo()  # room again
    with pytest.raises(AuditUnavailable, match="an earlier 'query' record was not written: .*No space left"):
        client.record("dashboard_export", rows=4)  # the next action is refused, and was not recorded either
    assert client.record("dashboard_export", rows=4)["seq"] == 2  # the service writes again: so does the session
    client.record("query", rows=5, query="SELECT 5", wait=False)
    client.close()  # confirms what is still owed
    assert [(r["event"], r["rows"]) for r in read_records(service.folder)] == [
        ("query", 1), ("query", 2), ("dashboard_export", 4), ("query", 5)]
    assert verify(service.folder).ok


def test_bad_requests_get_a_clear_error_and_the_chain_stays_intact(service: AuditService) -> None:
    import socket

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as raw:
        raw.connect(str(service.socket_file))
        reader = raw.makefile("rb")
        raw.sendall(b'{"event": "query", "rows": "many"}\n')
        assert "field 'rows' must be an integer" in json.loads(reader.readline())["error"]
        raw.sendall(b"not json\n")
        assert "bad audit request" in json.loads(reader.readline())["error"]
        raw.sendall(b'{"event": "query", "rows": 3}\n')
        assert json.loads(reader.readline())["seq"] == 0
        reader.close()
    assert verify(service.folder).ok


def test_a_session_on_the_socket_records_through_the_service_and_fails_closed(
        service: AuditService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import polars as pl

    monkeypatch.setenv("WORKBENCH_AUDIT_SOCKET", str(service.socket_file))
    monkeypatch.setenv("WORKBENCH_ROLE", "analyst")
    wb = connect(str(tmp_path / "work" / "lake"), user="alice")
    wb.write(pl.DataFrame({"k": [1, 2, 3]}), "work.sock_test")
    assert wb.sql("SELECT count(*) AS n FROM work.sock_test")["n"][0] == 3
    with pytest.raises(AccessDenied):
        wb.write(pl.DataFrame({"k": [1]}), "raw.sock_test")
    events = [(r["user"], r["event"], r["rows"]) for r in read_records(service.folder)]
    assert events == [("alice", "session_start", None), ("alice", "write", 3), ("alice", "query", 1),
                      ("alice", "denied", None)]
    assert not (tmp_path / "work" / "audit").exists()  # nothing went to the local folder
    # No audit, no access: with the service gone, the query is refused.
    service.shutdown()
    service.server_close()
    with pytest.raises(AuditUnavailable, match="audit service"):
        wb.sql("SELECT count(*) AS n FROM work.sock_test")


@pytest.mark.skipif(not IS_ROOT, reason="creating a throwaway Unix user needs root")
def test_an_unprivileged_user_appends_through_the_socket_but_cannot_touch_the_log() -> None:
    from workbench.platform import unix
    from workbench.platform.userenv import build_user_env

    prefix = f"wbt{uuid.uuid4().hex[:4]}-"
    root = Path(tempfile.mkdtemp(prefix="wbt-audit-"))
    os.chmod(root, 0o755)  # our own temp folder: the user must reach the socket and the userenv
    try:
        homes = root / "homes"
        homes.mkdir(mode=0o755)
        entry = unix.ensure_user(f"{prefix}carol", homes)
        python = build_user_env(root / "userenv")
        folder, sock = root / "audit", root / "sockets" / "audit.sock"
        service = AuditService(folder, sock, unix_prefix=prefix, roles={"carol": "analyst"}.get)
        thread = threading.Thread(target=service.serve, kwargs={"checkpoint_seconds": 3600}, daemon=True)
        thread.start()
        try:
            AuditClient(sock, "root-tool", "system").record("session_start")  # a record before the user's
            script = "\n".join([
                "import json, os, sys",
                "from workbench.security.audit_service import AuditClient",
                "c = AuditClient(sys.argv[1], 'admin', 'admin')  # claims to be someone else",
                "rec = c.record('query', tables=['curated.people'], rows=5, query='SELECT 1')",
                "out = {'seq': rec['seq'], 'user': rec['user']}",
                "for mode in ('rb', 'ab', 'r+b'):",
                "    try:",
                "        open(os.path.join(sys.argv[2], 'audit.jsonl'), mode).close(); out[mode] = 'opened'",
                "    except PermissionError:",
                "        out[mode] = 'denied'",
                "print(json.dumps(out))",
            ])
            done = subprocess.run([str(python), "-c", script, str(sock), str(folder)], user=entry.pw_uid,
                                  group=entry.pw_gid, extra_groups=[], cwd=root, capture_output=True, text=True,
                                  env={"HOME": entry.pw_dir, "PATH": "/usr/bin:/bin"}, timeout=120)
            assert done.returncode == 0, done.stderr
            seen = json.loads(done.stdout.strip().splitlines()[-1])
            assert seen == {"seq": 1, "user": "carol", "rb": "denied", "ab": "denied", "r+b": "denied"}
        finally:
            service.shutdown()
            thread.join(timeout=10)
            service.server_close()
        records = list(read_records(folder))
        assert (records[1]["user"], records[1]["role"], records[1]["rows"]) == ("carol", "analyst", 5)
        assert records[1]["detail"]["claimed_user"] == "admin" and records[1]["detail"]["claimed_role"] == "admin"
        assert (folder / "audit.jsonl").stat().st_uid == 0
        assert stat.S_IMODE((folder / "audit.jsonl").stat().st_mode) == 0o600
        result = verify(folder)
        assert result.ok and result.records == 2 and result.checkpoints == 1  # signed at shutdown
    finally:
        remove_users(prefix)
        shutil.rmtree(root, ignore_errors=True)


def test_the_cli_service_stops_cleanly_on_sigterm_with_a_final_checkpoint(tmp_path: Path) -> None:
    import signal

    sock = tmp_path / "s" / "audit.sock"
    proc = subprocess.Popen([str(Path(sys.executable).parent / "workbench"), "audit", "serve", "--dir",
                             str(tmp_path / "audit"), "--socket", str(sock)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_until(lambda: sock.exists(), 30, what="the audit socket")
        AuditClient(sock, "tester", "system").record("query", rows=1)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""
    assert not sock.exists()
    result = verify(tmp_path / "audit")
    assert result.ok and (result.records, result.checkpoints) == (1, 1)


@pytest.mark.skipif(not IS_ROOT, reason="creating a throwaway Unix user needs root")
def test_a_users_wb_sql_is_recorded_through_the_socket_as_the_peer_not_as_claimed(tmp_path: Path) -> None:
    """What a kernel does: ``workbench.connect()`` + ``wb.sql`` as its own Unix user, with the socket in its
    environment (as the spawner gives it) and a false name and role claimed in the settings."""
    import polars as pl

    from workbench.platform import unix
    from workbench.platform.userenv import build_user_env

    prefix = f"wbt{uuid.uuid4().hex[:4]}-"
    root = Path(tempfile.mkdtemp(prefix="wbt-audit-"))
    os.chmod(root, 0o755)
    try:
        homes = root / "homes"
        homes.mkdir(mode=0o755)
        entry = unix.ensure_user(f"{prefix}dana", homes)
        python = build_user_env(root / "userenv")
        lake = root / "lake"
        loader = connect(str(lake), user="loader", role="system", audit_dir=str(root / "loader-audit"))
        loader.write(pl.DataFrame({"k": list(range(7))}), "work.shared_probe")
        # The lake is closed to other users from its first write (0750); what opens it to dana is what opens it
        # on the stack: the access policy applied as ACLs (``platform up``) and her role's group (the spawner's).
        from workbench.security.lake_permissions import enforce_for_hub
        from workbench.security.policy import load_policy

        assert stat.S_IMODE(lake.stat().st_mode) & 0o007 == 0
        enforce_for_hub(str(lake), prefix)
        analysts = grp.getgrnam(load_policy().unix_group("analyst", prefix)).gr_gid
        folder, sock = root / "service-audit", root / "sockets" / "audit.sock"
        service = AuditService(folder, sock, unix_prefix=prefix, roles={"dana": "analyst"}.get)
        thread = threading.Thread(target=service.serve, kwargs={"checkpoint_seconds": 3600}, daemon=True)
        thread.start()
        try:
            script = "\n".join([
                "import sys, workbench",
                "wb = workbench.connect(sys.argv[1])",
                "print(wb.sql('SELECT count(*) AS n FROM work.shared_probe')['n'][0])",
            ])
            env = {"HOME": entry.pw_dir, "PATH": "/usr/bin:/bin", "WORKBENCH_AUDIT_SOCKET": str(sock),
                   "WORKBENCH_USER": "admin", "WORKBENCH_ROLE": "analyst"}  # the name is a false claim
            done = subprocess.run([str(python), "-c", script, str(lake)], user=entry.pw_uid, group=entry.pw_gid,
                                  extra_groups=[analysts], cwd=root, capture_output=True, text=True, env=env, timeout=180)
            assert done.returncode == 0, done.stderr[-2000:]
            assert done.stdout.strip().splitlines()[-1] == "7"
        finally:
            service.shutdown()
            thread.join(timeout=10)
            service.server_close()
        records = list(read_records(folder))
        query = next(r for r in records if r["event"] == "query")
        assert (query["user"], query["role"], query["rows"], query["tables"]) == ("dana", "analyst", 1,
                                                                                  ["work.shared_probe"])
        assert query["detail"]["claimed_user"] == "admin" and query["detail"]["peer_pid"] > 0
        assert {r["user"] for r in records} == {"dana"}  # session start too: nothing under the claimed name
        assert verify(folder).ok
        assert not (lake.parent / "audit").exists()  # the session's default folder: nothing went there
    finally:
        remove_users(prefix)
        shutil.rmtree(root, ignore_errors=True)


def test_a_peer_without_an_account_gets_no_role_whatever_it_claims(tmp_path: Path) -> None:
    """A subverted process of a system user (the fetcher's, say) cannot write records as an administrator."""
    import pwd

    service = AuditService(tmp_path / "audit", tmp_path / "sockets" / "audit.sock", roles={"carol": "analyst"}.get)
    try:
        nobody = pwd.getpwnam("nobody").pw_uid
        assert service.identify(nobody, "fetcher", "admin") == ("nobody", "none", {"claimed_user": "fetcher",
                                                                                 "claimed_role": "admin"})
        unstored = AuditService(tmp_path / "audit2", tmp_path / "sockets2" / "audit.sock")  # no account store
        try:
            assert unstored.identify(nobody, None, "analyst")[1] == "analyst"
        finally:
            unstored.server_close()
    finally:
        service.server_close()
