"""JupyterHub config, local profile: ``jupyterhub -f hub_config/jupyterhub_config.py``.

All choices live in ``workbench.platform.hubconfig``; knobs come from the ``WORKBENCH_HUB_*``
settings (state dir, ports, home root, Unix prefix, cgroup parent, gateway and dashboards
on/off; ``workbench.settings.HubSettings``), see ``HubProfile``. Services: the idle culler,
Dask Gateway and the dashboards (Panel behind hub OAuth, ``workbench/apps/service.py``).
Loading it builds nothing: ``workbench platform up`` makes the user environment and the demo
accounts first (``hubconfig.prepare``). Each role's workspace, landing page, memory cap and
gateway limits come from the access policy's ``[roles.NAME.hub]`` tables
(``workbench/security/policy.toml``); ``templates/admin.html`` is the administrators' landing.
"""

from workbench.platform.hubconfig import apply

from workbench.platform.profile import HubProfile

c = get_config()  # type: ignore[name-defined]  # noqa: F821  (injected by JupyterHub)
apply(c, HubProfile.from_env())
