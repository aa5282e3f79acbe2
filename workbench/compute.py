"""Dask compute for notebooks: the shared Dask Gateway on the hub, a local cluster elsewhere.

``cluster()`` is the one call a notebook makes. On the hub, the single-user server's
environment sets ``DASK_GATEWAY__ADDRESS`` (and the proxy address and
``__AUTH__TYPE=jupyterhub``), which Dask's own config system turns into
``gateway.address``; ``cluster()`` reads that key through ``dask.config`` (not the
environment), so a test or a notebook can also point it elsewhere with
``dask.config.set``. Without a gateway it returns a ``distributed.LocalCluster``: threads
in this process by default (starts in milliseconds and stays inside the server's memory
cap), worker processes with ``processes=True``.

What a caller may rely on: the returned object is a context manager with ``scale``,
``get_client`` and ``close``; gateway clusters are created with the role's default
options unless ``options`` are given, and are bounded by the gateway's per-role limits
(asking for more workers than the role allows yields the role's maximum).
"""

from __future__ import annotations

from typing import Any

import dask.config

GATEWAY_ADDRESS_KEY = "gateway.address"


def gateway_address() -> str | None:
    """The configured Dask Gateway address, or None when this process has no gateway."""
    import dask_gateway  # noqa: F401  (registers the gateway.* config defaults)

    value = dask.config.get(GATEWAY_ADDRESS_KEY, None)
    return str(value) if value else None


def cluster(workers: int = 2, *, processes: bool = False, **options: Any) -> Any:
    """A Dask cluster with ``workers`` workers: the gateway's when configured, else local.

    ``options`` are gateway cluster options (``worker_cores``, ``worker_memory`` in GiB),
    checked by the gateway against the caller's role; they are ignored locally.
    """
    if gateway_address() is not None:
        from dask_gateway import Gateway

        gateway = Gateway()
        try:
            made = gateway.new_cluster(**options) if options else gateway.new_cluster()
        finally:
            gateway.close()
        if workers:
            made.scale(workers)
        return made
    from distributed import LocalCluster

    return LocalCluster(n_workers=workers, threads_per_worker=1, processes=processes,
                        dashboard_address=":0")


def client(target: Any = None, **kwargs: Any) -> Any:
    """A ``distributed.Client`` on ``target`` (a cluster) or on a new ``cluster(**kwargs)``."""
    from distributed import Client

    return Client(target if target is not None else cluster(**kwargs))
