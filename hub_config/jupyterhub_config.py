"""JupyterHub config, local profile: ``jupyterhub -f hub_config/jupyterhub_config.py``.

All choices live in ``workbench.platform.hubconfig``; knobs come from the ``WORKBENCH_HUB_*``
settings (state dir, ports, home root, Unix prefix, cgroup parent, gateway and dashboards
on/off; ``workbench.settings.HubSettings``), see ``HubProfile``. Services: the idle culler,
Dask Gateway and the dashboards (Panel behind hub OAuth, ``workbench/apps/service.py``).
"""

from workbench.platform.hubconfig import HubProfile, apply

c = get_config()  # type: ignore[name-defined]  # noqa: F821  (injected by JupyterHub)
apply(c, HubProfile.from_env())
