"""Where work runs: in this process or on a Dask cluster, behind one small seam.

Two things live here. ``cluster()`` is the one call a notebook makes for a cluster: on
the hub, the single-user server's environment sets ``DASK_GATEWAY__ADDRESS`` (and the
proxy address and ``__AUTH__TYPE=jupyterhub``), which Dask's own config system turns into
``gateway.address``; ``cluster()`` reads that key through ``dask.config`` (not the
environment), so a test or a notebook can also point it elsewhere with
``dask.config.set``. Without a gateway it returns a ``distributed.LocalCluster``: threads
in this process by default (starts in milliseconds and stays inside the server's memory
cap), worker processes with ``processes=True``.

``executor(client)`` is the seam library code runs batches of independent tasks through
(connectors in ingest, data files in batch scoring, text partitions in NLP): the code
is written once against ``Executor.map`` and the caller decides where it runs -
``InProcess`` (a thread pool, or the calling thread) or ``OnDask`` (one task per item on
a ``distributed.Client``'s cluster). ``partitions(frame)`` streams a Dask DataFrame's
computed partitions back to this process, which is how a frame is written to the lake in
one commit (``Session.write``).

What a caller may rely on: ``map(fn, items, *shared)`` calls ``fn(item, *shared)`` once
per item; results come in the items' order (``ordered=False``: as they finish); a task's
exception is raised to the consumer when its result is reached; a consumer that stops
early cancels what has not run. On Dask, ``shared`` values are sent to every worker once
(a model is not shipped with each task), items and ``shared`` must pickle, and a callable
in ``shared`` runs in the worker, not here (progress callbacks are in-process only).
Gateway clusters are created with the role's default options unless ``options`` are
given, and are bounded by the gateway's per-role limits (asking for more workers than
the role allows yields the role's maximum).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import dask.config

GATEWAY_ADDRESS_KEY = "gateway.address"
T = TypeVar("T")
R = TypeVar("R")


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


# -- the execution seam ----------------------------------------------------------------


class Executor(Protocol):
    """Runs ``fn(item, *shared)`` for each item somewhere; see the module docstring for the contract."""

    def map(self, fn: Callable[..., R], items: Iterable[Any], *shared: Any, ordered: bool = True) -> Iterator[R]: ...


@dataclass(frozen=True)
class InProcess:
    """Tasks in this process: ``threads`` at a time in a thread pool (1: in the calling thread, lazily).

    Threads pay off for work that waits or runs native code releasing the GIL (sources on
    the network, Arrow and Delta I/O); objects are shared, not copied.
    """

    threads: int = 1

    def map(self, fn: Callable[..., R], items: Iterable[Any], *shared: Any, ordered: bool = True) -> Iterator[R]:
        todo = list(items)
        if self.threads <= 1 or len(todo) <= 1:
            yield from (fn(item, *shared) for item in todo)
            return
        pool = ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="workbench")
        try:
            futures = [pool.submit(fn, item, *shared) for item in todo]
            for future in futures if ordered else as_completed(futures):
                yield future.result()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


@dataclass(frozen=True)
class OnDask:
    """One Dask task per item on ``client``'s cluster (the gateway's on the hub), ``shared`` sent once.

    Tasks are impure (``pure=False``: two runs of a connector are two runs). Each result
    is released on the cluster once handed over, so a long stream of large results (scored
    files) does not pile up in workers' memory.
    """

    client: Any

    def map(self, fn: Callable[..., R], items: Iterable[Any], *shared: Any, ordered: bool = True) -> Iterator[R]:
        from distributed import as_completed as dask_as_completed

        sent = [self.client.scatter([value], broadcast=True, hash=False)[0] for value in shared]
        futures = [self.client.submit(fn, item, *sent, pure=False) for item in items]
        try:
            for future in futures if ordered else dask_as_completed(futures):
                result = future.result()
                future.release()
                yield result
        finally:
            self.client.cancel(futures + sent)


def executor(client: Any = None, *, threads: int = 1) -> Executor:
    """``OnDask(client)`` when given a Dask client, else ``InProcess(threads)``."""
    return OnDask(client) if client is not None else InProcess(threads)


def partitions(frame: Any) -> Iterator[Any]:
    """The computed partitions of a Dask DataFrame, streamed here one at a time, in order.

    With a ``distributed`` client current (``cluster().get_client()`` or ``Client(...)``),
    every partition is computed on its cluster at once, so work shared between partitions
    (a shuffle, a join) runs once, and each partition is released as soon as it has been
    handed over (workers spill the ones waiting under memory pressure). Without one, each
    partition is computed in turn by Dask's local scheduler: memory stays at one partition
    and its inputs, at the cost of recomputing shared work per partition.
    """
    delayed = frame.to_delayed()
    try:
        from distributed import default_client

        current = default_client()
    except (ImportError, ValueError):
        current = None
    if current is None:
        yield from (part.compute() for part in delayed)
        return
    futures = current.compute(delayed)
    try:
        for future in futures:
            part = future.result()
            future.release()
            yield part
    finally:
        current.cancel(futures)
