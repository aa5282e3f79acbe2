"""Governance: the access policy and each role's facts, the gate that applies them, lineage,
the accounts people log in with, and the audit trail.

The session (``workbench.session.session``) is the only caller of the gate and the
audit trail for people's reads and writes; services call ``record`` for their own events
(logins, role changes, model promotions). The SIEM (``workbench.siem``) is an application
over this package: it reads the audit trail into ``security.events``.
"""

from typing import TYPE_CHECKING

from workbench.exports import lazy_exports

if TYPE_CHECKING:
    from workbench.security.audit import AuditTrail, AuditUnavailable, Verification, audit_dir_for, search, verify
    from workbench.security.gate import Gate, GuardedSQL
    from workbench.security.policy import AccessPolicy, configured_role, load_policy, policy_path

# Loaded on first use (``workbench.exports``): the hub, the audit service and the SIEM import ``accounts`` or
# ``audit`` at every (re)start and need not pay for the gate's engines.
__all__, __getattr__ = lazy_exports(__name__, {
    "workbench.security.audit": ("AuditTrail", "AuditUnavailable", "Verification", "audit_dir_for", "search",
                                 "verify"),
    "workbench.security.gate": ("Gate", "GuardedSQL"),
    "workbench.security.policy": ("AccessPolicy", "configured_role", "load_policy", "policy_path"),
})
