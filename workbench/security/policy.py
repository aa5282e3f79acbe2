"""The access policy: roles, clearances, need-to-know rules and masked columns, in one file.

``policy.toml`` (next to this module, or the file a deployment names) is parsed into an
``AccessPolicy``, validated with errors that name the file, the key and the reason, the
way table specs are. The session and its SQL engine ask the policy three questions and
nothing else: may this role read this table (``check_read``), may it write there
(``check_write``), and does it see a value of this meaning from that table masked
(``masked_for``). The OS
layer underneath (``lake_permissions.py``) asks the same policy who reads a table
(``readers``) and which Unix group a role is (``unix_group``), so the two never disagree.

What a caller may rely on: clearances and classifications share one ordered scale
(public < internal < restricted < secret); a rule that names no role applies to all;
a role the policy does not know is refused everything (``AccessDenied``), never given a
default.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Literal
from fnmatch import fnmatchcase
from functools import lru_cache
from importlib import resources
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from workbench.errors import AccessDenied, ConfigError
from workbench.lake.zones import ZONES, Classification
from workbench.settings import Settings, load_settings
from workbench.specfiles import parse_toml

LEVELS: tuple[Classification, ...] = tuple(Classification)
"""Lowest first; ``LEVELS.index(c)`` orders clearances and classifications."""


def level(value: Classification | str) -> int:
    return LEVELS.index(Classification(value))


class GatewaySpec(BaseModel):
    """The Dask Gateway clusters a role may ask for (enforced by ``workbench/platform/gateway.py``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_workers: int = Field(ge=1)
    max_worker_cores: int = Field(ge=1)
    max_worker_memory_gib: float = Field(gt=0)


class HubSpec(BaseModel):
    """What the multi-user platform gives a person of this role; read through ``workbench.security.roles``
    by the hub config (RBAC, landing page), the spawner (memory cap), the gateway (limits) and the
    dashboards (who is a viewer). A role without it (``system``) is not a person's role."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    workspace: Literal["notebooks", "dashboards", "admin"]
    """notebooks: a JupyterLab server of their own (and the gateway); dashboards: published dashboards
    only, never a server; admin: the hub's user and server administration."""
    landing: str = Field(pattern=r"^/")
    """Where the hub sends the person after login (a path under the hub's base URL)."""
    server_memory: str | None = Field(default=None, pattern=r"^\d+[KMGT]?$")
    """Memory cap of the person's notebook server (bytes or 512M/2G)."""
    gateway: GatewaySpec | None = None
    """Dask Gateway limits; None: no clusters."""
    devices: bool = False
    """Sign-in per registered device, which an administrator can revoke (``workbench.security.devices``)."""

    @model_validator(mode="after")
    def _dashboards_get_no_compute(self) -> HubSpec:
        if self.workspace == "dashboards" and (self.server_memory or self.gateway):
            raise ValueError("a dashboards workspace gets no server_memory and no gateway")
        return self


class RoleSpec(BaseModel):
    """One role: its clearance, the zones it may write, and single tables it may write besides."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    clearance: Classification
    write_zones: tuple[str, ...] = ()
    write_tables: tuple[str, ...] = ()
    """Table globs writable outside ``write_zones`` (analysts' annotations in ``curated``)."""
    description: str = ""
    hub: HubSpec | None = None
    """The platform's facts for a person of this role (``[roles.NAME.hub]``); None: not a person's role."""

    @field_validator("write_zones")
    @classmethod
    def _zones(cls, zones: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [z for z in zones if z != "*" and z not in ZONES]
        if unknown:
            raise ValueError(f"unknown zones {unknown}; zones are {', '.join(ZONES)} or '*'")
        return zones

    def may_write(self, zone: str) -> bool:
        return "*" in self.write_zones or zone in self.write_zones

    def may_write_table(self, table: str) -> bool:
        return self.may_write(table.partition(".")[0]) or any(fnmatchcase(table, g) for g in self.write_tables)


class TableRule(BaseModel):
    """Need-to-know: tables matching ``match`` are readable only by ``roles``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    match: str
    roles: tuple[str, ...]
    reason: str = ""


class MaskRule(BaseModel):
    """Columns of the semantic ``types`` (person_name, plate ...) that roles below ``clearance`` see masked.

    Masks follow meaning, not column names: a table spec marks each sensitive column with
    its semantic type, and every column carrying that type is masked wherever it appears
    (``curated.crossings.plate`` and ``curated.declarations.transport_id`` alike), in a
    table derived from it too (the session records which sensitive columns flowed into
    each column it writes). ``tables`` narrows a rule to tables matching its globs (for a
    derived column: the table the value came from). ``roles`` also masks them for those
    roles whatever their clearance: a role that needs a table for one link (field officers,
    a company's cases) need not see everyone in it.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    types: tuple[str, ...]
    tables: tuple[str, ...] = ("*",)
    clearance: Classification
    roles: tuple[str, ...] = ()
    reason: str = ""

    def applies_to_table(self, table: str) -> bool:
        return any(fnmatchcase(table, t) for t in self.tables)

    def masks_for(self, role: str, clearance: Classification) -> bool:
        return level(clearance) < level(self.clearance) or role in self.roles

    def covers(self, table: str, semantic: str) -> bool:
        return semantic in self.types and self.applies_to_table(table)


class UnixSpec(BaseModel):
    """How the policy maps onto the operating system (see ``lake_permissions.py``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    group: str = "{stem}r-{role}"
    personal_zones: tuple[str, ...] = ("work",)
    folders: dict[str, Classification] = Field(default_factory=dict)

    @field_validator("group")
    @classmethod
    def _template(cls, group: str) -> str:
        if "{role}" not in group:
            raise ValueError("must contain {role} (one Unix group per role)")
        try:
            group.format(stem="wb", role="analyst")
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"only {{stem}} and {{role}} may be used ({exc})") from None
        return group

    @field_validator("personal_zones")
    @classmethod
    def _zones(cls, zones: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [z for z in zones if z not in ZONES]
        if unknown:
            raise ValueError(f"unknown zones {unknown}; zones are {', '.join(ZONES)}")
        return zones


class AccessPolicy(BaseModel):
    """The parsed policy file; immutable, cheap to query."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    default_role: str
    mask: str = "***"
    roles: dict[str, RoleSpec]
    tables: tuple[TableRule, ...] = ()
    masks: tuple[MaskRule, ...] = ()
    semantic_names: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    """Semantic type of a column whose spec declares none, by its name (unambiguous names only)."""
    unix: UnixSpec = Field(default_factory=UnixSpec)
    source: str = Field(default="<policy>", exclude=True)

    @model_validator(mode="after")
    def _roles_known(self) -> AccessPolicy:
        if self.default_role not in self.roles:
            raise ValueError(f"default_role {self.default_role!r} is not one of the roles {sorted(self.roles)}")
        for i, rule in enumerate(self.tables):
            unknown = [r for r in rule.roles if r not in self.roles]
            if unknown:
                raise ValueError(f"tables[{i}] names unknown roles {unknown}")
        for i, mask in enumerate(self.masks):
            unknown = [r for r in mask.roles if r not in self.roles]
            if unknown:
                raise ValueError(f"masks[{i}] names unknown roles {unknown}")
        return self

    # -- questions the gate asks --------------------------------------------------------

    def role(self, role: str) -> RoleSpec:
        spec = self.roles.get(role)
        if spec is None:
            raise AccessDenied("*", "any", role, reason=f"role {role!r} is not defined in {self.source}")
        return spec

    def clearance(self, role: str) -> Classification:
        return self.role(role).clearance

    def refusal(self, role: str, table: str, classification: Classification | str) -> AccessDenied | None:
        """Why ``role`` may not read ``table`` (an ``AccessDenied`` to raise), or ``None``."""
        spec = self.role(role)
        if level(spec.clearance) < level(classification):
            return AccessDenied(table, str(Classification(classification)), role,
                                reason=f"it is classified {Classification(classification)} and role {role!r} "
                                       f"is cleared for {spec.clearance} only")
        for rule in self.tables:
            if fnmatchcase(table, rule.match) and role not in rule.roles:
                return AccessDenied(table, str(Classification(classification)), role,
                                    reason=f"only roles {', '.join(rule.roles)} may read it ({rule.reason})")
        return None

    def may_read(self, role: str, table: str, classification: Classification | str) -> bool:
        return self.refusal(role, table, classification) is None

    def check_read(self, role: str, table: str, classification: Classification | str) -> None:
        if (refused := self.refusal(role, table, classification)) is not None:
            raise refused

    def readers(self, table: str, classification: Classification | str) -> tuple[str, ...]:
        """Every role that may read ``table`` (what its file permissions grant)."""
        return tuple(r for r in self.roles if self.refusal(r, table, classification) is None)

    def unix_group(self, role: str, unix_prefix: str) -> str:
        """The Unix group of ``role`` for a hub whose users are named ``<unix_prefix><name>``."""
        self.role(role)
        return self.unix.group.format(stem=unix_prefix.rstrip("-_"), role=role)

    def check_write(self, role: str, table: str, classification: Classification | str) -> None:
        """Writers need the zone in their ``write_zones`` and clearance for what they write."""
        self.check_read(role, table, classification)
        zone = table.partition(".")[0]
        if not self.role(role).may_write_table(table):
            raise AccessDenied(table, str(Classification(classification)), role,
                               reason=f"role {role!r} may not write to the {zone} zone")

    @property
    def semantic_types(self) -> frozenset[str]:
        """Every semantic type the policy knows (a spec naming another is an error)."""
        return frozenset(self.semantic_names).union(*(m.types for m in self.masks))

    def semantic_of(self, column: str) -> str | None:
        """The semantic type a column named ``column`` carries when its spec declares none."""
        for semantic, names in self.semantic_names.items():
            if any(fnmatchcase(column.lower(), n) for n in names):
                return semantic
        return None

    def masked_for(self, role: str, table: str, semantic: str | None) -> bool:
        """Does ``role`` see a value of type ``semantic`` that came from ``table`` masked?"""
        if semantic is None:
            return False
        mine = self.clearance(role)
        return any(r.masks_for(role, mine) and r.covers(table, semantic) for r in self.masks)


def parse_policy(text: str, source: str) -> AccessPolicy:
    """Parse one policy file; errors name ``source``, the key and the reason."""
    return parse_toml(AccessPolicy, text, source, {"source": source})


@lru_cache(maxsize=8)
def _load(path: str, mtime: float) -> AccessPolicy:
    return parse_policy(Path(path).read_text(encoding="utf-8"), path)


def load_policy(path: str | os.PathLike[str] | None = None) -> AccessPolicy:
    """The policy in ``path``, else the deployment's (``policy_path()``), else the packaged one."""
    chosen = path or policy_path()
    if chosen is None:
        text = resources.files("workbench.security").joinpath("policy.toml").read_text(encoding="utf-8")
        return _packaged(text)
    p = Path(chosen)
    if not p.is_file():
        raise ConfigError(f"{p}: access policy file not found")
    return _load(str(p), p.stat().st_mtime)


@lru_cache(maxsize=1)
def _packaged(text: str) -> AccessPolicy:
    return parse_policy(text, "workbench/security/policy.toml")


def policy_path(settings: Settings | None = None) -> str | None:
    return (settings or load_settings()).policy_file


def configured_role(settings: Settings | None = None, policy: AccessPolicy | None = None) -> str:
    """The session's role: ``settings.role`` (WORKBENCH_ROLE), else the policy's default."""
    role = (settings or load_settings()).role
    return role or (policy or load_policy(policy_path(settings))).default_role


def derived_classification(read: Iterable[Classification | str],
                           existing: Classification | str | None = None) -> Classification:
    """The classification of a table written from what was read: the highest of those reads.

    Never lower than ``existing`` (the table's current classification): older versions
    stay readable by time travel, so declassifying on overwrite would leak them. With
    nothing read, the default of a new table (internal) applies.
    """
    levels = [Classification(c) for c in read]
    if existing is not None:
        levels.append(Classification(existing))
    return max(levels, key=level) if levels else Classification.internal


def table_classification(specs: Mapping[str, object], catalog_entry: Mapping[str, object] | None,
                         name: str) -> Classification:
    """A table's classification: its spec's, else the catalog's (analysts' work tables)."""
    spec = specs.get(name)
    if spec is not None:
        return Classification(getattr(spec, "classification"))
    if catalog_entry and catalog_entry.get("classification"):
        return Classification(str(catalog_entry["classification"]))
    return Classification.internal
