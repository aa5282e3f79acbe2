"""The access policy enforced by the operating system, underneath the session.

The session refuses reads above a role's clearance, but a kernel is a Python process: it
can open Parquet files by path. So the same policy (``policy.toml`` + the table specs +
the catalog's classification of work tables) is compiled into file permissions:

- one Unix group per role (``AccessPolicy.unix_group``: ``wbr-analyst``, ...); each
  person's Unix user has exactly their role's group (``platform/unix.py``, set by the
  authenticator, handed to the kernel by the spawner's setuid path);
- every lake folder is owned by root (a personal table by its writer), group root with no
  group rights, no rights for others, and a POSIX ACL naming the groups of the roles that
  may read it (``r-x``) or write it (``rwx``). Tables get their own ACL, so a need-to-know rule or a
  classification that differs inside a zone is honoured (``curated.traders`` is not
  readable by managers, ``curated.declarations`` is; ``security.*`` only by admins);
- every folder also gets the same ACL as its *default* ACL, and is setgid: files written
  later by services or sessions (whatever their umask) inherit exactly these rights;
- zone folders' default ACL is what a table created later in the zone gets: the readers
  of the highest classification among the zone's specs; ``truth`` (secret) is therefore
  readable by nobody but services;
- personal zones (``work``) are writable by the roles that may write them and sticky,
  so nobody deletes another's table; a new table starts private to its writer, and the
  session shares it (``share_table``) with the roles cleared for its classification,
  derived from what the session read (``policy.derived_classification``). The catalog
  and the quarantine are writable by those roles too, since every write records itself
  there: the OS protects their confidentiality, not their integrity against a writer
  (the audit trail records every write);
- ``<root>/.permissions.json`` records the role -> group mapping, so a kernel can share
  its tables without knowing the hub's configuration.

ACLs are read and written through the kernel's own interface (``os.getxattr`` /
``os.setxattr`` on ``system.posix_acl_access|default``, the format of
``linux/posix_acl_xattr.h``) instead of running ``setfacl``/``getfacl`` per path: the
plan is compared with each file's current state in one pass with no subprocess, which
keeps re-runs cheap (only differences are written) and lets an analyst's kernel share its
own table without the ``acl`` package. Every path is opened with ``O_NOFOLLOW`` relative
to its parent's descriptor (``os.fwalk``), and symlinks, devices and hard-linked files are
skipped, so nothing a user plants in a writable zone can redirect a root ``--apply`` to a
file outside the lake. A filesystem without ACL support raises ``ConfigError``.

Object stores (``s3://``) have no file permissions: the same plan maps to one storage
credential per role (an IAM/MinIO policy per role group granting ``GetObject`` on the
prefixes of the tables that role reads and ``PutObject`` on its writable prefixes), handed
to the role's kernels instead of the group; ``apply`` refuses an object-store lake with a
``ConfigError`` saying so, and ``compile_plan`` still prints the per-table grants.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import stat
import struct
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from workbench.errors import ConfigError
from workbench.lake.catalog import CATALOG
from workbench.lake.lake import QUARANTINE, Lake
from workbench.lake.specs import ZONES, Classification
from workbench.lake.storage import LakeLocation
from workbench.security.policy import AccessPolicy, level

MANIFEST = ".permissions.json"
VERIFIED = ".permissions-verified.json"
"""Root's own record (0600) of the last complete ``apply_plan``: when it started and what each rule asked."""
CTIME_MARGIN_NS = 1_000_000_000
"""A file changed less than this before the last run started is checked again: the kernel stamps ctime
from a clock that runs up to a tick behind ``time.time_ns``."""
SHARED_TABLES = (CATALOG, QUARANTINE)
"""Tables every ``Lake.write`` records into, so every role that writes anywhere writes them."""

SYSTEM_PATHS = frozenset({
    "/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib32", "/lib64", "/media", "/mnt", "/opt",
    "/proc", "/root", "/run", "/sbin", "/srv", "/sys", "/tmp", "/usr", "/usr/local", "/var", "/var/lib",
    "/var/tmp", "/work", "/work/main", "/work/shared",
})

_ACCESS, _DEFAULT = "system.posix_acl_access", "system.posix_acl_default"
_USER_OBJ, _GROUP_OBJ, _GROUP, _MASK, _OTHER = 0x01, 0x04, 0x08, 0x10, 0x20
_UNDEFINED = 0xFFFFFFFF


@dataclass(frozen=True)
class Access:
    """What roles get on one folder and everything in it: read, write, or only pass through."""

    read: frozenset[str] = frozenset()
    write: frozenset[str] = frozenset()
    traverse: frozenset[str] = frozenset()

    def bits(self, role: str, is_dir: bool) -> int:
        if role in self.write:
            return 0o7 if is_dir else 0o6
        if role in self.read:
            return 0o5 if is_dir else 0o4
        return 0o1 if is_dir and role in self.traverse else 0


PRIVATE = Access()
"""Only the owner (and root): what new top-level folders and new personal tables get."""


@dataclass(frozen=True)
class Rule:
    """The planned permissions of one lake path (relative to the root; ``""`` is the root)."""

    path: str
    kind: str  # root | zone | table | folder | other | manifest
    classification: Classification | None
    access: Access
    new: Access  # the default ACL: what entries created below inherit
    sticky: bool = False  # personal zones' folder: only an entry's owner may delete it
    recursive: bool = True  # covers the whole subtree (tables, folders), not just the folder
    keep_owner: bool = False  # personal tables belong to their writer; others are root's

    def row(self) -> dict[str, object]:
        def names(roles: frozenset[str]) -> str:
            return ",".join(sorted(roles)) or "-"

        return {"path": self.path or ".", "kind": self.kind,
                "classification": str(self.classification) if self.classification else "",
                "read": names(self.access.read | self.access.write), "write": names(self.access.write),
                "new_entries_read": names(self.new.read | self.new.write) if self.kind in ("root", "zone") else "",
                "flags": ("" if self.kind == "manifest" else "setgid") + (",sticky" if self.sticky else "")}


@dataclass
class LakePlan:
    """The OS permissions a lake should have: groups per role and one rule per path."""

    root: Path
    remote: bool
    groups: dict[str, str]
    rules: list[Rule]

    def frame(self) -> pl.DataFrame:
        return pl.DataFrame([r.row() for r in self.rules])

    def rule(self, path: str) -> Rule:
        return next(r for r in self.rules if r.path == path)


@dataclass
class Report:
    """What applying (or checking) a plan found: paths changed or pending, and those skipped."""

    checked: int = 0
    unchanged: int = 0
    """Files of the ``checked`` left unopened: untouched since the last complete run verified them."""
    changed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    created_groups: list[str] = field(default_factory=list)
    missing_groups: list[str] = field(default_factory=list)

    def summary(self) -> str:
        if self.missing_groups:
            return f"groups to create first: {', '.join(self.missing_groups)}"
        return (f"{self.checked} paths checked ({self.unchanged} files unchanged since the last run), "
                f"{len(self.changed)} changed, {len(self.skipped)} skipped"
                + (f", groups created: {', '.join(self.created_groups)}" if self.created_groups else ""))


# -- the plan ---------------------------------------------------------------------------


def check_root(root: Path) -> Path:
    """``root`` resolved, or ConfigError when it is (or contains) a system path."""
    resolved = root.resolve()
    text = str(resolved)
    if text in SYSTEM_PATHS or any(p.startswith(text.rstrip("/") + "/") for p in SYSTEM_PATHS):
        raise ConfigError(f"{root}: refusing to manage permissions of a system path; a lake lives in a folder of its own")
    home = Path.home().resolve()
    if resolved == home or resolved in home.parents:
        raise ConfigError(f"{root}: refusing to manage permissions of a home folder or its parents")
    return resolved


def _looks_like_a_lake(root: Path) -> None:
    """Refuse a non-empty folder without a catalog: a typo (the lake's parent) must not be privatised."""
    if root.is_dir() and any(root.iterdir()) and not (root / "system" / "catalog" / "_delta_log").is_dir():
        raise ConfigError(f"{root}: not a lake (no system/catalog in it); refusing to change its permissions")


def _writers_everywhere(policy: AccessPolicy) -> frozenset[str]:
    return frozenset(r for r, s in policy.roles.items() if "*" in s.write_zones)


def _table_access(policy: AccessPolicy, table: str, classification: Classification,
                  inputs: Mapping[str, Classification | str] | None = None) -> Access:
    """Who reads and writes ``table``; a table derived from ``inputs`` is read only by roles that may read them all."""
    zone = table.partition(".")[0]
    read = frozenset(policy.readers(table, classification)).intersection(
        *(policy.readers(name, Classification(c)) for name, c in (inputs or {}).items()))
    anywhere = _writers_everywhere(policy)
    if table in SHARED_TABLES:
        write = frozenset(r for r, s in policy.roles.items() if s.write_zones) & read
    elif zone in policy.unix.personal_zones:
        write = anywhere & read  # a personal table is written by its owner (and services)
    else:
        write = frozenset(r for r in read if policy.role(r).may_write_table(table))
    return Access(read=read, write=write)


def _zone_default(policy: AccessPolicy, lake: Lake, zone: str) -> tuple[Classification | None, Access]:
    """What a table created later in ``zone`` gets: readers of the zone's highest classification
    (in a personal zone: nobody but its writer and services, until the session shares it)."""
    if zone in policy.unix.personal_zones:
        return None, Access(write=_writers_everywhere(policy))
    levels = [s.classification for s in lake.specs.values() if s.zone == zone]
    highest = max(levels, key=level) if levels else Classification.restricted
    return highest, _table_access(policy, f"{zone}.<new table>", highest)


def _derived_inputs(catalog: pl.DataFrame, cataloged: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """For each table a session wrote, the tables it carries (catalog ``carried``) with their classifications."""
    if "carried" not in catalog.columns:
        return {}
    found = {}
    for name, text in zip(catalog["name"].to_list(), catalog["carried"].to_list(), strict=True):
        if text:
            found[name] = {i: cataloged.get(i, "internal") for i in json.loads(text).get("inputs", []) if i != name}
    return found


def _on_disk(folder: Path) -> list[str]:
    try:
        return sorted(e.name for e in os.scandir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return []


def compile_plan(location: LakeLocation, policy: AccessPolicy, unix_prefix: str = "wb-") -> LakePlan:
    """The permissions ``location`` should have under ``policy``, one rule per path.

    Tables come from the specs, the catalog and (local lakes) the folders on disk, so a
    table nobody declared still gets a rule (its zone's default). Cheap: reads the catalog
    and lists two levels of folders.
    """
    remote = location.is_remote
    root = Path(location.root) if remote else check_root(Path(location.root.removeprefix("file://")))
    if not remote:
        _looks_like_a_lake(root)
    lake = Lake(location)
    catalog = lake.catalog.frame()
    cataloged = dict(zip(catalog["name"].to_list(), catalog["classification"].to_list(), strict=True))
    derived = _derived_inputs(catalog, cataloged)
    groups = {role: policy.unix_group(role, unix_prefix) for role in policy.roles}
    all_roles = frozenset(policy.roles)
    rules: list[Rule] = []
    seen: set[str] = set()
    for zone in ZONES:
        default_class, new = _zone_default(policy, lake, zone)
        names = {n.partition(".")[2] for n in [*lake.specs, *cataloged] if n.partition(".")[0] == zone}
        if not remote:
            names |= set(_on_disk(root / zone))
        tables = []
        for short in sorted(names):
            name = f"{zone}.{short}"
            spec = lake.specs.get(name)
            known = spec.classification if spec else cataloged.get(name)
            classification = Classification(known) if known else default_class
            access = _table_access(policy, name, Classification(known), derived.get(name)) if known else new
            tables.append(Rule(f"{zone}/{short}", "table", classification, access, access,
                               keep_owner=zone in policy.unix.personal_zones))
        personal = zone in policy.unix.personal_zones
        read = frozenset().union(*(t.access.read | t.access.write for t in tables), new.read)
        write = frozenset(r for r, s in policy.roles.items() if s.may_write(zone))
        zone_access = Access(read=read, write=write, traverse=all_roles if personal else frozenset())
        rules.append(Rule(zone, "zone", None, zone_access, new, sticky=personal, recursive=False))
        rules.extend(tables)
        seen.add(zone)
    for folder, classification in sorted(policy.unix.folders.items()):
        # Need-to-know applies as to tables: a [[tables]] rule matching "<folder>.*" narrows who reads it.
        access = Access(read=frozenset(policy.readers(f"{folder}.*", classification)),
                        write=_writers_everywhere(policy))
        rules.append(Rule(folder, "folder", classification, access, access))
        seen.add(folder)
    if not remote:
        for other in _on_disk(root):
            if other not in seen and other not in (MANIFEST, VERIFIED):
                rules.append(Rule(other, "other", None, PRIVATE, PRIVATE))
    everyone = frozenset().union(*(r.access.read | r.access.write | r.access.traverse for r in rules))
    rules.insert(0, Rule("", "root", None, Access(read=everyone), PRIVATE, recursive=False))
    rules.insert(1, Rule(MANIFEST, "manifest", None, Access(read=all_roles), PRIVATE))
    return LakePlan(root, remote, groups, rules)


# -- ACLs through the kernel's xattr interface ------------------------------------------


def encode_acl(owner: int, named: dict[int, int]) -> bytes | None:
    """The ``posix_acl_xattr`` bytes for owner bits + named groups; ``None`` when no group is named.

    Group-owner and others get nothing. Without named groups the ACL equals the mode bits
    and the kernel stores no xattr, so ``None`` is what a read-back gives too.
    """
    named = {gid: bits for gid, bits in named.items() if bits}
    if not named:
        return None
    mask = 0
    for bits in named.values():
        mask |= bits
    entries = [(_USER_OBJ, owner, _UNDEFINED), (_GROUP_OBJ, 0, _UNDEFINED)]
    entries += [(_GROUP, bits, gid) for gid, bits in sorted(named.items())]
    entries += [(_MASK, mask, _UNDEFINED), (_OTHER, 0, _UNDEFINED)]
    return struct.pack("<I", 2) + b"".join(struct.pack("<HHI", *e) for e in entries)


def _default_acl(named: dict[int, int]) -> bytes:
    """A default ACL is stored even when minimal (it also overrides the creator's umask)."""
    encoded = encode_acl(0o7, named)
    if encoded is not None:
        return encoded
    entries = [(_USER_OBJ, 0o7, _UNDEFINED), (_GROUP_OBJ, 0, _UNDEFINED), (_OTHER, 0, _UNDEFINED)]
    return struct.pack("<I", 2) + b"".join(struct.pack("<HHI", *e) for e in entries)


def effective(data: bytes | None) -> frozenset[tuple[int, int, int]] | None:
    """What an ACL grants: (tag, id, bits) with the mask applied to group entries.

    Files created under a default ACL keep the named entries as written (``r-x``) and
    narrow the mask instead (``r--``); comparing effective rights keeps such files from
    counting as changes on every re-run.
    """
    if data is None:
        return None
    entries = [struct.unpack_from("<HHI", data, offset) for offset in range(4, len(data), 8)]
    mask = next((bits for tag, bits, _ in entries if tag == _MASK), 0o7)
    return frozenset((tag, ident, bits & mask if tag in (_GROUP, _GROUP_OBJ) else bits)
                     for tag, bits, ident in entries if tag != _MASK)


def _get(fd: int, name: str) -> bytes | None:
    try:
        return os.getxattr(fd, name)
    except OSError as exc:
        if exc.errno == errno.ENODATA:
            return None
        raise


def _set(fd: int, name: str, value: bytes | None, where: str) -> None:
    try:
        if value is None:
            try:
                os.removexattr(fd, name)
            except OSError as exc:
                if exc.errno != errno.ENODATA:
                    raise
        else:
            os.setxattr(fd, name, value)
    except OSError as exc:
        if exc.errno in (errno.EOPNOTSUPP, errno.ENOTSUP):
            raise ConfigError(f"{where}: the filesystem does not support POSIX ACLs (mount it with the acl option, "
                              f"or put the lake on ext4/xfs); the lake's permissions cannot be enforced") from exc
        raise


@dataclass(frozen=True)
class _Target:
    """The desired state of one path, in the form the kernel reports it."""

    uid: int | None
    gid: int | None
    mode: int
    access: bytes | None
    default: bytes | None


def _target(access: Access, new: Access, is_dir: bool, gids: dict[str, int], sticky: bool,
            owner: int | None, gid: int | None) -> _Target:
    named = {gids[role]: access.bits(role, is_dir) for role in gids}
    owner_bits = 0o7 if is_dir else 0o6
    acl = encode_acl(owner_bits, named)
    mask = 0
    for bits in named.values():
        mask |= bits
    mode = (owner_bits << 6) | (mask << 3)
    default = None
    if is_dir:
        mode |= stat.S_ISGID | (stat.S_ISVTX if sticky else 0)
        default = _default_acl({gids[role]: new.bits(role, True) for role in gids})
    return _Target(owner, gid, mode, acl, default)


def _enforce(fd: int, target: _Target, where: str, write: bool) -> bool:
    """Bring one open path to ``target``; True when something differed (and, if ``write``, was fixed)."""
    st = os.fstat(fd)
    differs = ((target.uid is not None and st.st_uid != target.uid)
               or (target.gid is not None and st.st_gid != target.gid)
               or stat.S_IMODE(st.st_mode) != target.mode
               or effective(_get(fd, _ACCESS)) != effective(target.access)
               or (target.default is not None and effective(_get(fd, _DEFAULT)) != effective(target.default)))
    if differs and write:
        if (target.uid is not None and st.st_uid != target.uid) or (target.gid is not None and st.st_gid != target.gid):
            os.fchown(fd, -1 if target.uid is None else target.uid, -1 if target.gid is None else target.gid)
        _set(fd, _ACCESS, target.access, where)
        if target.default is not None:
            _set(fd, _DEFAULT, target.default, where)
        os.fchmod(fd, target.mode)  # after the ACL: keeps setgid/sticky, and mode == ACL
    return differs


def _open(name: str, dir_fd: int | None, expect: os.stat_result) -> int | None:
    """Open without following links; ``None`` when the entry changed under us."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    if stat.S_ISDIR(expect.st_mode):
        flags |= os.O_DIRECTORY
    try:
        fd = os.open(name, flags, dir_fd=dir_fd)
    except OSError:
        return None
    now = os.fstat(fd)
    if (now.st_dev, now.st_ino) != (expect.st_dev, expect.st_ino):
        os.close(fd)
        return None
    return fd


def _entries(top: Path, recursive: bool) -> Iterator[tuple[str, int | None, str]]:
    """(display path, parent dir fd, name) of ``top`` and, if ``recursive``, everything below it."""
    yield str(top), None, str(top)
    if not recursive or not top.is_dir() or top.is_symlink():
        return
    for folder, dirs, files, dirfd in os.fwalk(top, follow_symlinks=False):
        for name in [*dirs, *files]:
            yield os.path.join(folder, name), dirfd, name


def _apply_rule(rule: Rule, root: Path, gids: dict[str, int], report: Report, write: bool,
                owned_only: bool = False, verified_before: int | None = None) -> None:
    """Bring every path of ``rule`` to its target; a file whose inode has not changed since
    ``verified_before`` (ns, its ctime) is not reopened: the run then verified it and nothing changed it."""
    top = root / rule.path if rule.path else root
    is_root_run = os.geteuid() == 0
    for where, dirfd, name in _entries(top, rule.recursive):
        try:
            st = os.lstat(name, dir_fd=dirfd) if dirfd is not None else os.lstat(name)
        except FileNotFoundError:
            continue
        report.checked += 1
        is_dir = stat.S_ISDIR(st.st_mode)
        if not (is_dir or stat.S_ISREG(st.st_mode)) or (not is_dir and st.st_nlink > 1):
            report.skipped.append(f"{where} (not a plain file or folder)")
            continue
        if owned_only and st.st_uid != os.geteuid():
            continue
        if verified_before is not None and not is_dir and st.st_ctime_ns < verified_before:
            report.unchanged += 1
            continue
        top_level = dirfd is None and rule.kind in ("root", "zone", "table", "folder")
        uid = 0 if is_root_run and top_level and not rule.keep_owner else None
        target = _target(rule.access, rule.new, is_dir, gids, rule.sticky and top_level, uid,
                         0 if is_root_run else None)
        fd = _open(name, dirfd, st)
        if fd is None:
            report.skipped.append(f"{where} (changed while checking)")
            continue
        try:
            if _enforce(fd, target, where, write):
                report.changed.append(where)
        finally:
            os.close(fd)


def _group_ids(plan: LakePlan, create: bool, report: Report) -> dict[str, int] | None:
    from workbench.platform import unix  # not at module level: kernels import this module via the session

    gids = {}
    for role, group in plan.groups.items():
        gid = unix.group_id(group)
        if gid is None:
            if not create:
                return None
            gid = unix.ensure_group(group)
            report.created_groups.append(group)
        gids[role] = gid
    return gids


def apply_plan(plan: LakePlan, write: bool = True, full: bool = False) -> Report:
    """Bring the lake to ``plan`` (``write=False``: only report what differs); idempotent.

    Creates the role groups, the zone folders, the declared folders and the folders of
    the shared tables (so tables made later inherit the right default ACL, and a writer
    never needs to create a folder in a zone it may not write), then fixes each path
    that differs.

    Incremental unless ``full`` (or only checking): a file is reopened only when its rule
    asks something else than at the last complete run, or its inode changed since that run
    started (ctime: a chmod, an ACL, an owner, a new link or its creation all set it, and no
    user can set it back). Every folder is checked each time. Why: the live loop adds some
    thousand files a minute, and a full pass reads two ACLs of each (10 s of ``platform up``
    after an hour, growing with the lake); what is not reopened is what nothing touched.
    """
    if plan.remote:
        raise ConfigError(f"{plan.root}: an object-store lake has no file permissions; give each role its own "
                          "storage credentials granting the prefixes `workbench lake permissions` lists for it")
    if write and os.geteuid() != 0:
        raise ConfigError("applying lake permissions needs root (it creates groups and changes owners)")
    report = Report()
    gids = _group_ids(plan, create=write, report=report)
    if gids is None:
        report.missing_groups = [g for g in plan.groups.values() if _gid(g) is None]
        return report
    if write:
        plan.root.mkdir(parents=True, exist_ok=True)
        for rule in plan.rules:
            if rule.kind in ("zone", "folder"):
                (plan.root / rule.path).mkdir(exist_ok=True)
        for name in SHARED_TABLES:  # a writer's first rejection must not need to create a folder in a zone
            Path(LakeLocation(str(plan.root)).table_uri(name)).mkdir(exist_ok=True)
        _write_root_file(plan.root / MANIFEST, json.dumps({"groups": plan.groups}, indent=1, sort_keys=True))
    since, asked = _read_verified(plan.root) if write and not full else (None, {})
    started = time.time_ns()
    fingerprints = {}
    for rule in plan.rules:
        fingerprints[rule.path] = _fingerprint(rule, gids)
        unchanged = since is not None and asked.get(rule.path) == fingerprints[rule.path]
        _apply_rule(rule, plan.root, gids, report, write,
                    verified_before=since - CTIME_MARGIN_NS if since is not None and unchanged else None)
    if write:
        _write_root_file(plan.root / VERIFIED, json.dumps({"started_ns": started, "rules": fingerprints}))
    return report


def _fingerprint(rule: Rule, gids: Mapping[str, int]) -> str:
    """What ``rule`` asks of its paths, with the groups' ids and whether root applies it: equal, same targets."""
    def roles(access: Access) -> list[list[str]]:
        return [sorted(access.read), sorted(access.write), sorted(access.traverse)]

    asked = [rule.kind, roles(rule.access), roles(rule.new), rule.sticky, rule.recursive, rule.keep_owner,
             sorted(gids.items()), os.geteuid() == 0]
    return hashlib.sha256(json.dumps(asked).encode()).hexdigest()[:16]


def _read_verified(root: Path) -> tuple[int | None, dict[str, str]]:
    """When the last complete run started (ns) and each rule's fingerprint then; ``(None, {})`` (a full run)
    without a record, or with one that is not a plain file written by this user alone."""
    try:
        fd = os.open(root / VERIFIED, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None, {}
    with os.fdopen(fd) as record:
        st = os.fstat(record.fileno())
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o022:
            return None, {}
        try:
            data = json.load(record)
        except ValueError:
            return None, {}
    started, rules = (data.get("started_ns"), data.get("rules")) if isinstance(data, dict) else (None, None)
    if not isinstance(started, int) or not isinstance(rules, dict):
        return None, {}
    return started, rules


def _write_root_file(path: Path, body: str) -> None:
    """Replace ``path`` with ``body`` (created 0600, never through a planted link) unless it holds it already."""
    if not path.is_symlink() and path.is_file() and path.read_text() == body:
        return
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(body)
    os.replace(tmp, path)


def read_manifest(location: LakeLocation) -> dict[str, str] | None:
    """The role -> group mapping the lake was last enforced with; ``None`` when it never was."""
    if location.is_remote:
        return None
    try:
        data = json.loads((Path(location.root.removeprefix("file://")) / MANIFEST).read_text())
    except (FileNotFoundError, PermissionError, ValueError):
        return None
    return dict(data.get("groups", {}))


def _gid(group: str) -> int | None:
    from workbench.platform.unix import group_id  # importing workbench.platform costs ~1 s (accounts)

    return group_id(group)


def share_table(location: LakeLocation, policy: AccessPolicy, table: str, classification: Classification | str,
                inputs: Mapping[str, Classification | str] | None = None) -> int:
    """Grant ``table``'s files to the roles cleared for ``classification`` that may read every one of
    ``inputs`` (the tables it was derived from: the folder gets the ACL of its strictest input); paths changed.

    Run by the session after a write to a personal zone, as the writer: only files the
    writer owns are touched (the writer may set their ACLs; nobody else's). A lake never
    put under OS enforcement (no manifest) is left alone.
    """
    groups = read_manifest(location)
    if groups is None:
        return 0
    gids = {role: gid for role, group in groups.items() if (gid := _gid(group)) is not None}
    root = Path(location.root.removeprefix("file://")).resolve()
    access = _table_access(policy, table, Classification(classification), inputs)
    zone, _, short = table.partition(".")
    rule = Rule(f"{zone}/{short}", "table", Classification(classification), access, access,
                keep_owner=zone in policy.unix.personal_zones)
    report = Report()
    _apply_rule(rule, root, gids, report, write=True, owned_only=os.geteuid() != 0)
    return len(report.changed)


def enforce_for_hub(lake: str, unix_prefix: str, policy: AccessPolicy | None = None) -> Report | None:
    """What ``workbench platform up`` runs before the hub starts: apply the plan to a local lake.

    An object-store lake is skipped (``None``): its enforcement is per-role credentials.
    """
    from workbench.security.policy import load_policy

    location = LakeLocation(lake)
    if location.is_remote:
        return None
    return apply_plan(compile_plan(location, policy or load_policy(), unix_prefix))
