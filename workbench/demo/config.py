"""Size and seeding of a synthetic world: every count derives from one ``scale``.

Scale 1 is about 100,000 trade declarations; every entity count grows linearly with it and
has a floor so that a tiny test world (scale 0.02) still has every table and every kind
of planted ring.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from workbench.errors import ConfigError


class Tag(IntEnum):
    """Stream tags: each generator draws from ``default_rng([seed, tag, chunk, ...])``.

    Fixed integers (never ``hash()``) so that a table's content depends only on seed, scale
    and its own tag, and chunks can be generated independently.
    """

    FX = 1
    ADDRESSES = 2
    TRADERS = 3
    BROKERS = 4
    PEOPLE = 5
    VESSELS = 6
    VEHICLES = 7
    RINGS = 8
    VARIANTS = 9
    SHIPPERS = 10
    DECLARATION_PARTIES = 11
    DECLARATION_GOODS = 12
    SPLIT_PLAN = 13
    CROSSINGS = 14
    CASH = 15
    CASES = 16
    DOCUMENTS = 17
    ACCESS_LOG = 18


@dataclass(frozen=True)
class WorldConfig:
    """Seed and scale of a world, and the counts they imply."""

    seed: int
    scale: float
    chunk_rows: int = 100_000

    def __post_init__(self) -> None:
        if self.seed < 0:
            raise ConfigError("seed must be a non-negative integer")
        if not self.scale > 0:
            raise ConfigError("scale must be positive")
        if self.chunk_rows < 1:
            raise ConfigError("chunk_rows must be positive")

    def rng(self, tag: Tag, *parts: int) -> np.random.Generator:
        """An independent random stream for one table (and optionally one chunk of it)."""
        return np.random.default_rng([self.seed, int(tag), *parts])

    def count(self, per_unit: float, minimum: int, cap: int | None = None) -> int:
        n = max(minimum, round(per_unit * self.scale))
        return min(n, cap) if cap is not None else n

    @property
    def n_declarations(self) -> int:
        return self.count(100_000, 1_000)

    @property
    def n_crossings(self) -> int:
        return self.count(25_000, 500)

    @property
    def n_cash_declarations(self) -> int:
        return self.count(2_500, 150)

    @property
    def n_traders(self) -> int:
        return self.count(2_000, 80)

    @property
    def n_brokers(self) -> int:
        return self.count(80, 10)

    @property
    def n_addresses(self) -> int:
        return self.count(2_500, 120)

    @property
    def n_vessels(self) -> int:
        return self.count(150, 25, cap=6_000)

    @property
    def n_vehicles(self) -> int:
        return self.count(600, 30)

    @property
    def n_drivers(self) -> int:
        return self.count(700, 35)

    @property
    def n_travellers(self) -> int:
        """People who appear only as cash declarants, case parties or witnesses."""
        return self.count(900, 40)

    @property
    def n_shippers(self) -> int:
        return self.count(1_500, 60, cap=40_000)

    @property
    def n_rings(self) -> int:
        return self.count(6, 4, cap=300)

    @property
    def n_background_cases(self) -> int:
        return self.count(150, 8)

    @property
    def n_documents(self) -> int:
        return self.count(600, 60, cap=20_000)

    @property
    def n_log_events(self) -> int:
        return self.count(20_000, 3_000, cap=300_000)
