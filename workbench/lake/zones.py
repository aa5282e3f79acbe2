"""The lake's zones and its classification scale: what the access policy needs of the lake, and no more.

Apart from ``specs`` so that what reads only these (the access policy, hence the hub, its
authenticator and the audit service at each start) does not import pyarrow with the
table specs.
"""

from __future__ import annotations

from enum import StrEnum

ZONES = ("raw", "curated", "documents", "quarantine", "truth", "system", "work", "security")
"""Lake zones. ``work`` holds analysts' own tables; ``system`` the catalog and run logs."""


class Classification(StrEnum):
    """Sensitivity of a table, lowest first; roles get a clearance on the same scale."""

    public = "public"
    internal = "internal"
    restricted = "restricted"
    secret = "secret"
