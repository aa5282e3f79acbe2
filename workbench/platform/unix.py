"""Unix accounts behind workbench accounts: one system user per person, private 0700 home.

A workbench account ``alice`` runs its notebook server as the system user
``<prefix>alice`` (prefix ``wb-`` by default, so workbench users are recognisable and
never collide with system accounts). Homes live under a configurable root.

Each user's supplementary groups are exactly the Unix group of their workbench role
(``AccessPolicy.unix_group``), which the lake's ACLs grant (``security/lake_permissions``):
the authenticator sets them at every login and refresh, and the spawner's setuid path
(JupyterHub's ``set_user_setuid``: ``os.getgrouplist`` + ``os.setgroups``) hands them to
the kernel when it starts. A disabled account keeps no role group.
"""

from __future__ import annotations

import grp
import os
import pwd
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from workbench.platform.cgroups import MemoryCgroups


def system_name(name: str, prefix: str) -> str:
    return f"{prefix}{name}"


def exists(user: str) -> bool:
    try:
        pwd.getpwnam(user)
        return True
    except KeyError:
        return False


def ensure_user(user: str, home_root: str | os.PathLike[str], shell: str = "/bin/bash") -> pwd.struct_passwd:
    """Create the system user with a private home (0700, owned by them) unless it exists; idempotent.

    The account has no password (``useradd`` leaves it locked): people log in to the hub,
    never to the machine.
    """
    home = Path(home_root) / user
    if not exists(user):
        Path(home_root).mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["useradd", "--create-home", "--home-dir", str(home), "--shell", shell,
             "--user-group", "--comment", "workbench user", user],
            check=True, capture_output=True, text=True,
        )
    entry = pwd.getpwnam(user)
    home = Path(entry.pw_dir)
    # Never chown/chmod anything but a home inside our own root (a pre-existing account
    # with home "/" or "/root" must not make us touch a system path).
    root = Path(home_root).resolve()
    if root not in home.resolve().parents:
        raise PermissionError(f"{user}'s home {home} is not under {root}; refusing to manage it")
    home.mkdir(mode=0o700, exist_ok=True)
    os.chown(home, entry.pw_uid, entry.pw_gid)
    os.chmod(home, 0o700)
    return entry


def delete_user(user: str) -> None:
    """Remove the system user, its group and its home; quiet when it does not exist."""
    if not exists(user):
        return
    subprocess.run(["userdel", "--remove", "--force", user], check=False, capture_output=True, text=True)


def group_id(group: str) -> int | None:
    """The gid of ``group``; ``None`` when there is no such group."""
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        return None


def ensure_group(group: str) -> int:
    """Create the group ``group`` unless it exists; its gid. Idempotent.

    A regular (not ``--system``) group: the system range holds under 900 ids, and
    throwaway hubs on a test machine each make one group per role.
    """
    gid = group_id(group)
    if gid is None:
        subprocess.run(["groupadd", group], check=True, capture_output=True, text=True)
        gid = grp.getgrnam(group).gr_gid
    return gid


def supplementary_groups(user: str) -> set[str]:
    """The groups that list ``user`` as a member (its primary group excluded)."""
    return {g.gr_name for g in grp.getgrall() if user in g.gr_mem}


def set_supplementary_groups(user: str, groups: set[str] | frozenset[str]) -> bool:
    """Make ``groups`` (existing groups) exactly ``user``'s supplementary groups; True if changed.

    Exact, not additive: a role change removes the old role's group, so access follows
    the account store at the next spawn. Running processes keep the groups they started
    with until they restart (the kernel has no way to revoke them from outside).
    """
    if supplementary_groups(user) == set(groups):
        return False
    subprocess.run(["usermod", "--groups", ",".join(sorted(groups)), user], check=True, capture_output=True, text=True)
    return True


def run_as(user: str, cgroup: Path | None = None, cwd: str | os.PathLike[str] | None = None) -> Callable[[], None]:
    """A ``preexec_fn`` that turns the child into ``user`` inside the memory ``cgroup``: the one way the
    platform starts a person's code (notebook servers, Dask schedulers and workers).

    Order matters: the child joins the capped group while still root (so nothing of the
    person's runs uncapped), then takes the user's groups as ``os.getgrouplist`` lists
    them (the role's group, which the lake's ACLs grant), gid, uid, and ``cwd``. Names are
    resolved here, in the parent: the child between fork and exec only makes system calls.
    """
    entry = pwd.getpwnam(user)
    groups = os.getgrouplist(entry.pw_name, entry.pw_gid)

    def preexec() -> None:  # pragma: no cover - runs in the child
        if cgroup is not None:
            MemoryCgroups.join(Path(cgroup))
        os.setgid(entry.pw_gid)
        os.setgroups(groups)
        os.setuid(entry.pw_uid)
        if cwd is not None:
            os.chdir(cwd)

    return preexec


def terminate(pid: int, running: Callable[[], bool], timeout: float) -> None:
    """Stop a daemon this platform started in its own session: SIGTERM, wait up to ``timeout``
    while ``running()``, then SIGKILL its whole session (its pid is its group id); reap it when
    this process is its parent."""
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and running():
        time.sleep(0.1)
    if running():
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
