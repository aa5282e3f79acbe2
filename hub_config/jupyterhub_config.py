"""JupyterHub config, local profile: ``jupyterhub -f hub_config/jupyterhub_config.py``.

All choices live in ``workbench.platform.hubconfig``; knobs come from ``WORKBENCH_HUB_*``
variables (state dir, ports, home root, Unix prefix, cgroup parent), see ``HubProfile``.
"""

from workbench.platform.hubconfig import HubProfile, apply

c = get_config()  # type: ignore[name-defined]  # noqa: F821  (injected by JupyterHub)
apply(c, HubProfile.from_env())
