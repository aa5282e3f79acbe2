"""Each role's platform facts, from the one declarative place: the ``[roles.NAME.hub]`` tables of the
access policy (``workbench/security/policy.toml``).

The policy already said what a role may read and write; the same table now says what the
platform gives a person of that role (workspace, landing page, server memory cap, Dask
Gateway limits), so the hub config (RBAC groups, landing), the spawner (cap, refusal),
the gateway (limits), the dashboards (viewer's role) and the Kubernetes profile read one
file and cannot disagree. Typed by ``policy.HubSpec``.

``role_of`` is the one rule for a person's role from their hub groups (the authenticator
gives exactly one group, the account's role): the first of the user's groups in the
policy's order of roles; None when no group names a person's role.
"""

from __future__ import annotations

from collections.abc import Iterable

from workbench.security.policy import AccessPolicy, GatewaySpec, HubSpec, load_policy


def hub_roles(policy: AccessPolicy | None = None) -> dict[str, HubSpec]:
    """Role name -> its platform facts, for the roles people hold (in the policy's order)."""
    policy = policy or load_policy()
    return {name: spec.hub for name, spec in policy.roles.items() if spec.hub is not None}


def role_of(groups: Iterable[str], policy: AccessPolicy | None = None) -> str | None:
    """A person's role from their hub group names: the first, in the policy's order, that is a person's role."""
    mine = set(groups)
    return next((name for name in hub_roles(policy) if name in mine), None)


def roles_with(workspace: str, policy: AccessPolicy | None = None) -> list[str]:
    """The roles whose workspace is ``workspace`` (notebooks, dashboards or admin)."""
    return [name for name, hub in hub_roles(policy).items() if hub.workspace == workspace]


def server_memory(policy: AccessPolicy | None = None) -> dict[str, str]:
    """Role -> memory cap of its notebook servers, for the roles that have one."""
    return {name: hub.server_memory for name, hub in hub_roles(policy).items() if hub.server_memory}


def gateway_limits(policy: AccessPolicy | None = None) -> dict[str, GatewaySpec]:
    """Role -> its Dask Gateway limits, for the roles that get clusters."""
    return {name: hub.gateway for name, hub in hub_roles(policy).items() if hub.gateway is not None}


def landing(role: str | None, policy: AccessPolicy | None = None) -> str:
    """Where the hub sends a person of ``role`` after login (``/hub/home`` for an unknown role: no 403 page)."""
    hub = hub_roles(policy).get(role or "")
    return hub.landing if hub is not None else "/hub/home"


def device_roles(policy: AccessPolicy | None = None) -> frozenset[str]:
    """The roles whose people sign in per registered device (``devices = true``; see ``security/devices.py``)."""
    return frozenset(name for name, hub in hub_roles(policy).items() if hub.devices)
