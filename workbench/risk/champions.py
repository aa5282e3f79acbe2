"""The champion of each model as a long-running process serves it, replaced whole when a new one is promoted.

The scoring service and the live scorer both keep one ``Served`` per model and call
``Champions.check`` now and then: a promoted version is loaded beside the one in use and
swapped in with one assignment, so work in flight finishes on the version it started with.
"""

from __future__ import annotations

import asyncio
import gc
import sys
from collections.abc import Callable
from dataclasses import dataclass

from workbench.errors import WorkbenchError
from workbench.risk.model import RiskModel
from workbench.risk.online import OnlineScorer


@dataclass(frozen=True)
class Served:
    """One model version as the service scores with it (the fast path built once, at load)."""

    model: RiskModel
    version: int
    fast: OnlineScorer | None

    @classmethod
    def of(cls, model: RiskModel, version: int) -> Served:
        return cls(model, version, OnlineScorer.for_model(model))


class Champions:
    """The version served per model name; a new champion replaces its entry whole.

    A request reads its model's entry once, so it finishes on the version it started with
    while ``watch`` loads a promoted one beside it (in a thread: loading and building the
    fast path take a second) and swaps the entry in one assignment: no request waits, none
    fails, and each response names the version that made it.
    """

    def __init__(self, version_of: Callable[[str], int], load: Callable[[str, int], RiskModel],
                 names: list[str]) -> None:
        """``version_of`` and ``load`` name a model's current champion version and load it (the registry's);
        ``names`` are the models to serve (one without a champion yet is served once it has one)."""
        self.version_of, self.load, self.names = version_of, load, list(names)
        self.served: dict[str, Served] = {}

    @classmethod
    def fixed(cls, served: dict[str, Served]) -> Champions:
        """Models that never change (a test's, or a service run with ``--watch 0``)."""
        champions = cls(lambda name: served[name].version, lambda name, _: served[name].model, list(served))
        champions.served = dict(served)
        return champions

    def check(self) -> list[str]:
        """Load every model whose champion moved or first appeared (blocking: call it from a thread); their names."""
        moved = {}
        for name in self.names:
            try:
                version = self.version_of(name)
            except WorkbenchError:  # no champion yet
                continue
            if name not in self.served or self.served[name].version != version:
                moved[name] = version
        for name, version in moved.items():
            fresh = Served.of(self.load(name, version), version)
            gc.collect()
            gc.freeze()  # keep the new model's tables out of the collector's reach too (see ``serve``)
            self.served[name] = fresh
        return list(moved)

    async def watch(self, interval: float) -> None:
        """Check the registry every ``interval`` seconds until cancelled; a failed check is retried next time."""
        while True:
            await asyncio.sleep(interval)
            try:
                await asyncio.to_thread(self.check)
            except Exception as exc:  # a registry hiccup must not stop the service serving what it has
                print(f"scoring: champion check failed, serving what is loaded: {exc}", file=sys.stderr)
