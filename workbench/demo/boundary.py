"""Land Boundary System: goods-vehicle crossings at the control points, chunk by chunk.

Ordinary crossings use non-ring vehicles and their regular drivers; ring vehicles, driven by
ring drivers, carry hidden or mis-described cargo (smartphones and chips northbound,
cigarettes and fuel southbound). Illicit crossings and seizures are written to a
``CrossingLedger`` for the case and truth tables.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from workbench.demo.batches import make_batch
from workbench.demo.config import Tag, WorldConfig
from workbench.demo.declarations import EPOCH_US, SECONDS, chunk_bounds
from workbench.demo.entities import VARIANTS_PER_SYSTEM, Population
from workbench.demo.identifiers import container_array, numbered_ids
from workbench.demo.vocabulary import COMMODITIES, CONTAINER_OWNERS, HS_INDEX, LAND_CARGO_POINTS, LOCATION_INDEX

RING_SHARE = 0.04
BACKGROUND_ILLICIT_SHARE = 0.004
CROSSING_SCHEMES = ("", "concealment", "cargo_misdescription")
_OUTBOUND_CONTRABAND = np.array([HS_INDEX[c] for c in ("85171300", "85423100", "02023000", "19011000", "91021100")])
_INBOUND_CONTRABAND = np.array([HS_INDEX[c] for c in ("24022000", "27101900", "05079000", "22083000")])
_COVER = np.array([HS_INDEX[c] for c in ("39269000", "95030000", "48025600", "21069000", "61091000")])
_ORDINARY = np.array([i for i, c in enumerate(COMMODITIES) if c.category in ("general", "high_value")])
_HS = pa.array([c.hs_code for c in COMMODITIES])
_DESC = pa.array([c.desc_en for c in COMMODITIES])
_KG_PER_UNIT = np.array([c.kg_per_unit for c in COMMODITIES])
_POINTS = pa.array(LAND_CARGO_POINTS)


@dataclass
class CrossingLedger:
    """Illicit crossings and seizures, accumulated while crossings stream."""

    illicit_ids: list[pa.Array] = field(default_factory=list)
    illicit_schemes: list[pa.Array] = field(default_factory=list)
    seizures: list[dict[str, np.ndarray]] = field(default_factory=list)
    complete: bool = False

    def seized(self) -> dict[str, np.ndarray]:
        keys = ("crossing_id", "driver", "vehicle", "goods", "weight_kg", "day", "point", "consignee")
        if not self.seizures:
            return {k: np.array([], dtype=object if k == "crossing_id" else int) for k in keys}
        return {k: np.concatenate([s[k] for s in self.seizures]) for k in keys}


class CrossingGenerator:
    """Streams ``raw.lbs_crossings``."""

    def __init__(self, cfg: WorldConfig, pop: Population) -> None:
        self.cfg, self.pop = cfg, pop
        self.ledger = CrossingLedger()
        self.ordinary_vehicles = np.flatnonzero(pop.vehicle_ring < 0)
        self.ring_vehicles = np.flatnonzero(pop.vehicle_ring >= 0)
        self.plates = pop.vehicles.column("plate").combine_chunks()
        self.driver_ids = pop.drivers.column("driver_id").combine_chunks()

    def batches(self) -> Iterator[pa.RecordBatch]:
        for chunk, (lo, hi) in enumerate(chunk_bounds(self.cfg.n_crossings, self.cfg.chunk_rows)):
            yield self._chunk(chunk, lo, hi)
        self.ledger.complete = True

    def _chunk(self, chunk: int, lo: int, hi: int) -> pa.RecordBatch:
        pop, n = self.pop, hi - lo
        rng = self.cfg.rng(Tag.CROSSINGS, chunk)
        g = np.arange(lo, hi)
        seconds = ((g + rng.random(n)) * (SECONDS / self.cfg.n_crossings)).astype(np.int64)
        u = rng.random(n)
        ring_row = u < RING_SHARE
        vehicle = self.ordinary_vehicles[rng.integers(0, len(self.ordinary_vehicles), n)]
        vehicle[ring_row] = self.ring_vehicles[rng.integers(0, len(self.ring_vehicles), int(ring_row.sum()))]
        driver = pop.vehicle_drivers[vehicle, rng.integers(0, 2, n)]
        outbound = rng.random(n) < 0.5
        point = rng.choice(len(LAND_CARGO_POINTS), n, p=[0.3, 0.25, 0.15, 0.15, 0.1, 0.05])
        empty = (rng.random(n) < 0.15) & ~ring_row

        illicit = (ring_row & (rng.random(n) < 0.7)) | ((u >= RING_SHARE) & (u < RING_SHARE + BACKGROUND_ILLICIT_SHARE) & ~empty)
        scheme = np.where(illicit, np.where(rng.random(n) < 0.6, 1, 2), 0)
        contraband = np.where(outbound, rng.choice(_OUTBOUND_CONTRABAND, n), rng.choice(_INBOUND_CONTRABAND, n))
        shown = np.where(illicit, rng.choice(_COVER, n), rng.choice(_ORDINARY, n))
        weight = np.round(rng.lognormal(np.log(4_000), 0.7, n), 1)
        weight = np.where(empty, np.round(rng.uniform(0, 50, n), 1), weight)
        # Concealed goods ride under a legitimate load; mis-described loads show an off weight.
        weight = np.where(scheme == 2, np.round(weight * rng.uniform(0.4, 0.7, n), 1), weight)

        consignee_trader = np.where(pop.vehicle_owner_trader[vehicle] >= 0, pop.vehicle_owner_trader[vehicle],
                                    rng.integers(0, len(pop.trader_names), n))
        consignee_trader = np.where(rng.random(n) < 0.5, consignee_trader, rng.integers(0, len(pop.trader_names), n))
        consignee = pop.trader_variants["lbs"].take(consignee_trader * VARIANTS_PER_SYSTEM + rng.integers(0, VARIANTS_PER_SYSTEM, n))
        loaded = pa.array(~empty)
        containers = container_array(rng.integers(0, len(CONTAINER_OWNERS), n), rng.integers(0, 1_000_000, n))
        has_container = ~empty & (pop.vehicles.column("vehicle_type").to_numpy(zero_copy_only=False)[vehicle] == "container tractor")

        risk = 0.03 + 0.04 * (pop.vehicle_ring[vehicle] >= 0) + 0.05 * (weight < 1_500) * ~empty + 0.02 * outbound
        inspected = rng.random(n) < risk
        found = inspected & illicit & (rng.random(n) < 0.75)
        result_code = np.where(found, 2, np.where(inspected & (rng.random(n) < 0.02), 1, 0))
        results = pa.array(["clear", "discrepancy", "seizure"]).take(pa.array(result_code, mask=~inspected))

        ids = numbered_ids("X", g + 1, 10)
        batch = make_batch("raw.lbs_crossings", {
            "crossing_id": ids,
            "crossed_at": pa.array(EPOCH_US + seconds * 1_000_000, type=pa.timestamp("us")),
            "control_point": _POINTS.take(point),
            "direction": np.where(outbound, "outbound", "inbound"),
            "plate": self.plates.take(vehicle),
            "driver_id": self.driver_ids.take(driver),
            "cargo_desc": pc.if_else(loaded, _DESC.take(shown), pa.nulls(n, pa.string())),
            "hs_code": pc.if_else(loaded, _HS.take(shown), pa.nulls(n, pa.string())),
            "consignee_name": pc.if_else(loaded, consignee, pa.nulls(n, pa.string())),
            "declared_weight_kg": weight,
            "container_no": pc.if_else(pa.array(has_container), containers, pa.nulls(n, pa.string())),
            "inspected": inspected,
            "inspection_result": results,
        })
        bad = np.flatnonzero(illicit)
        self.ledger.illicit_ids.append(ids.take(bad))
        self.ledger.illicit_schemes.append(pa.array(CROSSING_SCHEMES).take(scheme[bad]))
        s = np.flatnonzero(result_code == 2)
        self.ledger.seizures.append({
            "crossing_id": np.array(ids.take(s).to_pylist(), dtype=object), "driver": driver[s], "vehicle": vehicle[s],
            "goods": contraband[s], "weight_kg": np.maximum(1.0, weight[s] * 0.3), "day": seconds[s] // 86_400,
            "point": np.array([LOCATION_INDEX[LAND_CARGO_POINTS[p]] for p in point[s]], dtype=int),
            "consignee": consignee_trader[s],
        })
        return batch


def contraband_quantity(goods: np.ndarray, weight_kg: np.ndarray) -> np.ndarray:
    """Quantity in the commodity's unit for a seized weight."""
    return np.maximum(1, np.round(weight_kg / _KG_PER_UNIT[goods]))
