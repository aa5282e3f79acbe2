"""Reference tables: exchange rates, locations and HS codes.

Exchange rates are generated (HKD pegged to USD inside the 7.75-7.85 band, CNY drifting
around 1.05-1.12) and kept in memory so that declared values in USD or CNY convert back
to exactly the HKD values the generator meant.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pyarrow as pa

from workbench.demo.batches import make_batch
from workbench.demo.config import Tag, WorldConfig
from workbench.demo.vocabulary import COMMODITIES, CURRENCIES, LOCATIONS, WORLD_START

N_MONTHS = 36


@dataclass(frozen=True)
class FxRates:
    """Monthly HKD value of one unit of each currency, shape (currencies, months)."""

    rates: np.ndarray

    def to_hkd(self, currency: np.ndarray, month: np.ndarray) -> np.ndarray:
        return self.rates[currency, month]


def month_index(day: np.ndarray) -> np.ndarray:
    """Month number since the world start (0..35) of day offsets since the world start."""
    start = np.datetime64(WORLD_START, "D")
    months = (start + day.astype("timedelta64[D]")).astype("datetime64[M]")
    return (months - start.astype("datetime64[M]")).astype(int)


def build_fx(cfg: WorldConfig) -> FxRates:
    rng = cfg.rng(Tag.FX)
    usd = np.clip(7.80 + np.cumsum(rng.normal(0, 0.012, N_MONTHS)), 7.751, 7.849)
    cny = np.clip(1.09 + np.cumsum(rng.normal(0, 0.008, N_MONTHS)), 1.051, 1.119)
    return FxRates(np.round(np.vstack([np.ones(N_MONTHS), usd, cny]), 4))


def fx_batch(fx: FxRates) -> pa.RecordBatch:
    months = [date(WORLD_START.year + m // 12, m % 12 + 1, 1) for m in range(N_MONTHS)]
    return make_batch("raw.ref_fx_rates", {
        "currency": [c for c in CURRENCIES for _ in months],
        "month": months * len(CURRENCIES),
        "rate_to_hkd": fx.rates.ravel(),
    })


def locations_batch() -> pa.RecordBatch:
    return make_batch("raw.ref_locations", {
        "location_code": [loc.code for loc in LOCATIONS],
        "name_en": [loc.name_en for loc in LOCATIONS],
        "name_zh": [loc.name_zh for loc in LOCATIONS],
        "kind": [loc.kind for loc in LOCATIONS],
        "latitude": [loc.lat for loc in LOCATIONS],
        "longitude": [loc.lon for loc in LOCATIONS],
    })


def hs_codes_batch() -> pa.RecordBatch:
    return make_batch("raw.ref_hs_codes", {
        "hs_code": [c.hs_code for c in COMMODITIES],
        "chapter": [c.hs_code[:2] for c in COMMODITIES],
        "desc_en": [c.desc_en for c in COMMODITIES],
        "desc_zh": [c.desc_zh for c in COMMODITIES],
        "quantity_unit": [c.unit for c in COMMODITIES],
        "dutiable": [c.category == "dutiable" for c in COMMODITIES],
        "prohibited": [c.category == "prohibited" for c in COMMODITIES],
    })
