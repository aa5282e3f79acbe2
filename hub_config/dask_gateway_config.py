"""Dask Gateway config, local profile: started by the hub as the ``dask-gateway`` service.

All choices live in ``workbench.platform.gateway.configure`` (safe local backend,
JupyterHub auth, per-role limits, idle timeout); knobs come from the same
``WORKBENCH_HUB_*`` variables as the hub's (the hub passes them to the service).
"""

from workbench.platform.gateway import configure
from workbench.platform.profile import HubProfile

c = get_config()  # type: ignore[name-defined]  # noqa: F821  (injected by dask-gateway-server)
configure(c, HubProfile.from_env())
