"""Trade declarations (TDEC) and their manifests, generated chunk by chunk.

Each chunk of rows draws from its own random streams (``[seed, tag, chunk]``), so a chunk
is reproducible on its own and ten million rows never sit in memory. Declarations are
ordered by lodging time: row ``g`` of ``N`` is lodged at ``(g + u) / N`` of the three-year
period. Rings, background fraud and the split-shipment plan are overlaid on the ordinary
trade, and everything later tables need (illicit rows, seizures, manifests) is written to
a ``DeclarationLedger`` while the batches stream out.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from workbench.demo.batches import make_batch
from workbench.demo.config import Tag, WorldConfig
from workbench.demo.entities import VARIANTS_PER_SYSTEM, Population
from workbench.demo.identifiers import container_array, mix64, numbered_ids
from workbench.demo.reference import FxRates, month_index
from workbench.demo.vocabulary import (
    CARGO_PORTS,
    COMMODITIES,
    CONTAINER_OWNERS,
    CURRENCIES,
    HIGH_RISK_ORIGINS,
    HS_INDEX,
    ISO2,
    LOCATION_INDEX,
    LOCATIONS,
    MISDECLARATION_COVERS,
    MODES,
    PROHIBITED_COVERS,
    SELECTION_THRESHOLD_HKD,
    UNDERVALUED_GOODS,
    WORLD_DAYS,
    COUNTRIES,
)

SCHEMES = ("", "undervaluation", "hs_misdeclaration", "split_shipment", "prohibited_goods")
"""Scheme codes used inside the generator; index 0 means legitimate."""
LEGIT, UNDERVALUATION, MISDECLARATION, SPLIT, PROHIBITED = range(5)
RING_ROW_SHARE = 0.015
RING_ILLICIT_SHARE = 0.75
BACKGROUND_ILLICIT_SHARE = 0.009
SPLIT_ROW_SHARE = 0.004
DETECTION_RATE = 0.8

_N_COMM = len(COMMODITIES)
_KG_PER_UNIT = np.array([c.kg_per_unit for c in COMMODITIES])
_HKD_PER_KG = np.array([c.hkd_per_kg for c in COMMODITIES])
_CATEGORY = np.array([("general", "high_value", "dutiable", "prohibited").index(c.category) for c in COMMODITIES])
_DECLARABLE = np.flatnonzero(_CATEGORY != 3)
_HS = pa.array([c.hs_code for c in COMMODITIES])
_DESC_EN = pa.array([c.desc_en for c in COMMODITIES])
_DESC_ZH = pa.array([c.desc_zh for c in COMMODITIES])
_UNIT = pa.array([c.unit for c in COMMODITIES])
# Per true commodity, three cover commodities it may be declared under (itself if none).
_COVERS = np.tile(np.arange(_N_COMM)[:, None], (1, 3))
for _true, _covers in {**MISDECLARATION_COVERS, **PROHIBITED_COVERS}.items():
    _COVERS[HS_INDEX[_true]] = [HS_INDEX[_covers[j % len(_covers)]] for j in range(3)]
_MISDECLARED_GOODS = np.array([HS_INDEX[c] for c in MISDECLARATION_COVERS])
_PROHIBITED_GOODS = np.array([HS_INDEX[c] for c in PROHIBITED_COVERS])
_UNDERVALUED_GOODS = np.array([HS_INDEX[c] for c in UNDERVALUED_GOODS])
# Mode probabilities (sea, air, land, river) per commodity category.
_MODE_P = np.array([[0.50, 0.10, 0.33, 0.07], [0.15, 0.60, 0.22, 0.03], [0.45, 0.05, 0.40, 0.10], [0.60, 0.20, 0.15, 0.05]])
_PORTS = [np.array([LOCATION_INDEX[c] for c in CARGO_PORTS[m]]) for m in MODES]
_LOCATION_CODES = pa.array([loc.code for loc in LOCATIONS])
_COUNTRY_P = np.array([c[2] for c in COUNTRIES]) / sum(c[2] for c in COUNTRIES)
_ISO2 = pa.array(ISO2)
_ISO2_INDEX = {c: i for i, c in enumerate(ISO2)}
_HIGH_RISK = np.isin(np.arange(len(ISO2)), [_ISO2_INDEX[c] for c in HIGH_RISK_ORIGINS])
SECONDS = WORLD_DAYS * 86_400
EPOCH_US = np.datetime64("2022-01-01T00:00:00", "us").astype(np.int64)


@dataclass(frozen=True)
class SplitPlan:
    """Rows taken over by split-shipment episodes: one consignment a day for 5-9 days."""

    rows: np.ndarray
    trader: np.ndarray
    goods: np.ndarray


@dataclass
class DeclarationLedger:
    """What the declaration stream leaves behind for manifests, cases and truth."""

    illicit_ids: list[pa.Array] = field(default_factory=list)
    illicit_schemes: list[pa.Array] = field(default_factory=list)
    seizure_columns: list[dict[str, np.ndarray | pa.Array]] = field(default_factory=list)
    manifest_keys: list[np.ndarray] = field(default_factory=list)
    manifest_counts: list[np.ndarray] = field(default_factory=list)
    rows: int = 0
    complete: bool = False

    def seizures(self) -> dict[str, np.ndarray]:
        """Declarations whose inspection ended in a seizure, columns concatenated."""
        keys = ("declaration_id", "trader", "goods", "quantity", "value_hkd", "day", "port")
        if not self.seizure_columns:
            return {k: np.array([], dtype=object if k == "declaration_id" else int) for k in keys}
        return {k: np.concatenate([np.asarray(c[k]) for c in self.seizure_columns]) for k in keys}


def plan_split_shipments(cfg: WorldConfig, pop: Population) -> SplitPlan:
    """Choose, once for the whole world, which rows split-shipment rings take over."""
    rng = cfg.rng(Tag.SPLIT_PLAN)
    n = cfg.n_declarations
    rings = [r for r in pop.rings if "split_shipment" in r.schemes]
    if not rings:
        return SplitPlan(np.array([], int), np.array([], int), np.array([], int))
    per_ring = max(1, round(n * SPLIT_ROW_SHARE / 7 / len(rings)))
    rows, traders, goods = [], [], []
    per_day = n / WORLD_DAYS
    for ring in rings:
        for _ in range(per_ring):
            k = int(rng.integers(5, 10))
            start = int(rng.integers(0, WORLD_DAYS - k))
            trader = int(rng.choice(ring.traders))
            item = int(rng.choice(ring.goods["split_shipment"]))
            offset = int(rng.integers(0, max(1, int(per_day))))
            for day in range(start, start + k):
                rows.append(min(n - 1, int(np.ceil(day * per_day)) + offset))
                traders.append(trader)
                goods.append(item)
    rows_a, first = np.unique(np.array(rows), return_index=True)
    return SplitPlan(rows_a, np.array(traders)[first], np.array(goods)[first])


def chunk_bounds(total: int, chunk_rows: int) -> list[tuple[int, int]]:
    return [(lo, min(total, lo + chunk_rows)) for lo in range(0, total, chunk_rows)]


def assign_traders(cfg: WorldConfig, pop: Population, plan: SplitPlan, chunk: int, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
    """Declaring trader and row kind (0 ordinary, 1 ring, 2 background fraud, 3 split) of rows lo..hi.

    Drawn from its own stream so the truth tables can recompute it without the rest.
    """
    rng = cfg.rng(Tag.DECLARATION_PARTIES, chunk)
    n = hi - lo
    u = rng.random(n)
    kind = np.where(u < RING_ROW_SHARE, 1, np.where(u < RING_ROW_SHARE + BACKGROUND_ILLICIT_SHARE, 2, 0))
    weights = pop.trader_weight / pop.trader_weight.sum()
    trader = rng.choice(len(weights), n, p=weights)
    ring_traders = pop.ring_traders
    is_ring = kind == 1
    trader[is_ring] = ring_traders[rng.integers(0, len(ring_traders), int(is_ring.sum()))]
    in_chunk = (plan.rows >= lo) & (plan.rows < hi)
    local = plan.rows[in_chunk] - lo
    trader[local] = plan.trader[in_chunk]
    kind[local] = 3
    return trader, kind


def _ring_tables(pop: Population) -> tuple[np.ndarray, np.ndarray]:
    """Per ring: two row-level schemes and, per scheme slot, two goods (true commodities)."""
    n = len(pop.rings)
    schemes = np.zeros((n, 2), int)
    goods = np.zeros((n, 2, 2), int)
    for r, ring in enumerate(pop.rings):
        usable = [s for s in ring.schemes if s != "split_shipment"] or ["undervaluation"]
        for j in range(2):
            s = usable[j % len(usable)]
            schemes[r, j] = SCHEMES.index(s)
            goods[r, j] = ring.goods.get(s, _UNDERVALUED_GOODS[[r % len(_UNDERVALUED_GOODS), (r + 3) % len(_UNDERVALUED_GOODS)]])
    return schemes, goods


def _sample_rows(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One categorical draw per row from a per-row probability matrix."""
    return (rng.random(len(probs))[:, None] > np.cumsum(probs, axis=1)).sum(axis=1).clip(0, probs.shape[1] - 1)


def _take_or_null(values: pa.Array, index: np.ndarray, present: np.ndarray) -> pa.Array:
    return values.take(pa.array(index, mask=~present))


class DeclarationGenerator:
    """Streams ``raw.tdec_declarations`` and then ``raw.tdec_manifests``."""

    def __init__(self, cfg: WorldConfig, pop: Population, fx: FxRates) -> None:
        self.cfg, self.pop, self.fx = cfg, pop, fx
        self.plan = plan_split_shipments(cfg, pop)
        self.ledger = DeclarationLedger()
        self.ring_schemes, self.ring_goods = _ring_tables(pop)
        self.trader_ids = pop.traders.column("trader_id").combine_chunks()
        self.broker_ids = pop.brokers.column("broker_id").combine_chunks()
        self.non_ring_vehicles = np.flatnonzero(pop.vehicle_ring < 0)
        self.ring_vehicles = [r.vehicles for r in pop.rings]

    def batches(self) -> Iterator[pa.RecordBatch]:
        for chunk, (lo, hi) in enumerate(chunk_bounds(self.cfg.n_declarations, self.cfg.chunk_rows)):
            yield self._chunk(chunk, lo, hi)
        self.ledger.complete = True

    def _chunk(self, chunk: int, lo: int, hi: int) -> pa.RecordBatch:
        cfg, pop = self.cfg, self.pop
        n_total, n = cfg.n_declarations, hi - lo
        rng = cfg.rng(Tag.DECLARATION_GOODS, chunk)
        g = np.arange(lo, hi)
        seconds = ((g + rng.random(n)) * (SECONDS / n_total)).astype(np.int64)
        day = seconds // 86_400
        trader, kind = assign_traders(cfg, pop, self.plan, chunk, lo, hi)

        # What is really shipped and under which scheme.
        pick = rng.integers(0, 3, n)
        goods = np.where(rng.random(n) < 0.85, pop.trader_goods[trader, pick], rng.choice(_DECLARABLE, n))
        scheme = np.zeros(n, int)
        ring = pop.trader_ring[trader]
        ring_illicit = (kind == 1) & (rng.random(n) < RING_ILLICIT_SHARE)
        slot = rng.integers(0, 2, n)
        rr = np.maximum(ring, 0)
        scheme[ring_illicit] = self.ring_schemes[rr, slot][ring_illicit]
        goods[ring_illicit] = self.ring_goods[rr, slot, rng.integers(0, 2, n)][ring_illicit]
        background = kind == 2
        bg_scheme = np.array([UNDERVALUATION, MISDECLARATION, PROHIBITED])[_sample_rows(rng, np.tile([0.6, 0.3, 0.1], (n, 1)))]
        scheme[background] = bg_scheme[background]
        bg_goods = np.select(
            [bg_scheme == UNDERVALUATION, bg_scheme == MISDECLARATION],
            [rng.choice(_UNDERVALUED_GOODS, n), rng.choice(_MISDECLARED_GOODS, n)],
            rng.choice(_PROHIBITED_GOODS, n),
        )
        goods[background] = bg_goods[background]
        split = kind == 3
        in_chunk = (self.plan.rows >= lo) & (self.plan.rows < hi)
        goods[self.plan.rows[in_chunk] - lo] = self.plan.goods[in_chunk]
        scheme[split] = SPLIT
        concealed = (scheme == MISDECLARATION) | (scheme == PROHIBITED)
        declared = np.where(concealed, _COVERS[goods, rng.integers(0, 3, n)], goods)

        # Mode, port, origin, counterparty.
        mode = _sample_rows(rng, _MODE_P[_CATEGORY[goods]])
        port = np.zeros(n, int)
        for m, ports in enumerate(_PORTS):
            sel = mode == m
            port[sel] = ports[rng.integers(0, len(ports), int(sel.sum()))]
        partner = np.where(rng.random(n) < 0.8, pop.trader_partners[trader, rng.integers(0, 2, n)],
                           rng.integers(0, len(pop.shipper_names), n))
        shipper_country = np.array([_ISO2_INDEX[c] for c in pop.shipper_country])
        origin = np.where(rng.random(n) < 0.85, shipper_country[partner], rng.choice(len(ISO2), n, p=_COUNTRY_P))
        origin = np.where((mode == MODES.index("land")) & (rng.random(n) < 0.9), _ISO2_INDEX["CN"], origin)
        ring_origin = np.array([_ISO2_INDEX[r.origin] for r in pop.rings])[rr]
        origin = np.where(ring_illicit & (rng.random(n) < 0.7), ring_origin, origin)
        direction = np.where(rng.random(n) < 0.8, "import", "export")

        # Quantities and values: weight follows the true goods, value what is declared.
        illicit = scheme != LEGIT
        median_value = np.select([concealed, scheme == UNDERVALUATION], [1.5e6, 4e5], 1.2e5)
        true_value = np.clip(rng.lognormal(np.log(median_value), 0.9), 2_000, 5e7)
        price = _HKD_PER_KG[goods] * rng.lognormal(0, 0.25, n)
        split_target = rng.uniform(0.82, 0.995, n) * SELECTION_THRESHOLD_HKD
        true_value = np.where(split, split_target, true_value)
        quantity = np.maximum(1, np.floor(true_value / (price * _KG_PER_UNIT[goods])))
        net_kg = quantity * _KG_PER_UNIT[goods]
        true_value = net_kg * price
        value_hkd = np.select(
            [scheme == UNDERVALUATION, concealed],
            [true_value * rng.uniform(0.08, 0.35, n), net_kg * _HKD_PER_KG[declared] * rng.uniform(0.6, 1.1, n)],
            true_value,
        )
        value_hkd = np.where(split, np.minimum(value_hkd, SELECTION_THRESHOLD_HKD - 1), value_hkd)
        gross_kg = np.round(net_kg * rng.uniform(1.05, 1.25, n) + 0.2, 1)
        from_cn = origin == _ISO2_INDEX["CN"]
        currency = _sample_rows(rng, np.where(from_cn[:, None], [0.4, 0.3, 0.3], [0.45, 0.55, 0.0]))
        rate = self.fx.to_hkd(currency, month_index(day))
        declared_value = np.round(value_hkd / rate, 2)
        value_hkd = declared_value * rate

        # Inspection: rule-based selection plus a random share, blind to the truth.
        unit_value = value_hkd / np.maximum(net_kg, 1e-6)
        risk = (0.02
                + 0.09 * np.isin(_CATEGORY[declared], [1, 2])
                + 0.10 * ((value_hkd > 0.8 * SELECTION_THRESHOLD_HKD) & (value_hkd < SELECTION_THRESHOLD_HKD))
                + 0.06 * _HIGH_RISK[origin]
                + 0.12 * (unit_value < 0.3 * _HKD_PER_KG[declared])
                + 0.12 * (np.abs(np.log(net_kg / quantity / _KG_PER_UNIT[declared])) > np.log(5))
                + 0.02 * (mode == MODES.index("land")))
        inspected = rng.random(n) < risk
        found = inspected & illicit & (rng.random(n) < DETECTION_RATE)
        false_alarm = inspected & ~illicit & (rng.random(n) < 0.03)
        result_code = np.where(found, np.where(concealed, 2, 1), np.where(false_alarm, 1, 0))
        results = pa.array(["clear", "discrepancy", "seizure"]).take(pa.array(result_code, mask=~inspected))

        # Transport, manifests, containers.
        carrier = self._carriers(rng, day, mode, port, ring, kind)
        manifest_key = day * 10**9 + mode * 10**8 + port * 10**6 + carrier
        has_container = rng.random(n) < np.array([1.0, 0.0, 0.7, 0.8])[mode]
        containers = container_array(rng.integers(0, len(CONTAINER_OWNERS), n), rng.integers(0, 1_000_000, n))
        has_broker = (rng.random(n) < 0.7) | (ring >= 0)
        name_pick = trader * VARIANTS_PER_SYSTEM + rng.integers(0, VARIANTS_PER_SYSTEM, n)

        ids = numbered_ids("D", g + 1, 10)
        batch = make_batch("raw.tdec_declarations", {
            "declaration_id": ids,
            "lodged_at": pa.array(EPOCH_US + seconds * 1_000_000, type=pa.timestamp("us")),
            "direction": direction,
            "trader_id": self.trader_ids.take(trader),
            "consignee_name": self.pop.trader_variants["tdec"].take(name_pick),
            "shipper_name": self.pop.shipper_names.take(partner),
            "hs_code": _HS.take(declared),
            "goods_desc_en": _DESC_EN.take(declared),
            "goods_desc_zh": _DESC_ZH.take(declared),
            "quantity": quantity,
            "quantity_unit": _UNIT.take(declared),
            "gross_weight_kg": gross_kg,
            "declared_value": declared_value,
            "currency": pa.array(CURRENCIES).take(currency),
            "origin_country": _ISO2.take(origin),
            "mode": pa.array(MODES).take(mode),
            "port_code": _LOCATION_CODES.take(port),
            "broker_id": _take_or_null(self.broker_ids, pop.trader_broker[trader], has_broker),
            "container_no": pc.if_else(pa.array(has_container), containers, pa.nulls(n, pa.string())),
            "transport_id": self._transport_ids(mode, carrier),
            "manifest_id": numbered_ids("M", manifest_key, 13),
            "inspected": inspected,
            "inspection_result": results,
        })
        self._record(ids, scheme, inspected & (result_code == 2), trader, goods, quantity, true_value, day, port, manifest_key)
        return batch

    def _carriers(self, rng: np.random.Generator, day: np.ndarray, mode: np.ndarray, port: np.ndarray,
                  ring: np.ndarray, kind: np.ndarray) -> np.ndarray:
        """Carrier index per row: vessel (a pure function of day, port and slot), flight or vehicle."""
        n = len(day)
        pop = self.pop
        vessel_slot = rng.integers(0, 6, n)
        mixed = mix64(self.cfg.seed, day, port, vessel_slot)
        ocean = pop.ocean_vessels[(mixed % np.uint64(max(1, len(pop.ocean_vessels)))).astype(np.int64)] if len(pop.ocean_vessels) else np.zeros(n, int)
        river = pop.river_vessels[(mixed % np.uint64(max(1, len(pop.river_vessels)))).astype(np.int64)] if len(pop.river_vessels) else ocean
        flight = (mixed % np.uint64(len(pop.flights))).astype(np.int64)
        vehicle = self.non_ring_vehicles[rng.integers(0, len(self.non_ring_vehicles), n)]
        for r, vehicles in enumerate(self.ring_vehicles):
            sel = (ring == r) & (kind == 1)
            vehicle[sel] = vehicles[rng.integers(0, len(vehicles), int(sel.sum()))]
        return np.choose(mode, [ocean, flight, vehicle, river])

    def _transport_ids(self, mode: np.ndarray, carrier: np.ndarray) -> pa.Array:
        """IMO number for ocean vessels, vessel name for river craft, flight number, or HK plate."""
        pop = self.pop
        imo = pop.vessels.column("imo_number").combine_chunks()
        vessel_names = pop.vessels.column("name").combine_chunks()
        flights = pa.array([f for f, _ in pop.flights])
        plates = pop.vehicles.column("plate").combine_chunks()
        vessel_label = pc.coalesce(imo, vessel_names)
        choices = [vessel_label, flights, plates, vessel_label]
        out = pa.nulls(len(mode), pa.string())
        for m, values in enumerate(choices):
            sel = mode == m
            taken = values.take(pa.array(np.where(sel, carrier, 0)))
            out = pc.if_else(pa.array(sel), taken, out)
        return out

    def _record(self, ids: pa.Array, scheme: np.ndarray, seized: np.ndarray, trader: np.ndarray, goods: np.ndarray,
                quantity: np.ndarray, true_value: np.ndarray, day: np.ndarray, port: np.ndarray, manifest_key: np.ndarray) -> None:
        led = self.ledger
        illicit = np.flatnonzero(scheme != LEGIT)
        led.illicit_ids.append(ids.take(illicit))
        led.illicit_schemes.append(pa.array(SCHEMES).take(scheme[illicit]))
        s = np.flatnonzero(seized)
        led.seizure_columns.append({
            "declaration_id": np.array(ids.take(s).to_pylist(), dtype=object), "trader": trader[s], "goods": goods[s],
            "quantity": quantity[s], "value_hkd": true_value[s], "day": day[s], "port": port[s],
        })
        keys, counts = np.unique(manifest_key, return_counts=True)
        led.manifest_keys.append(keys)
        led.manifest_counts.append(counts)
        led.rows += len(ids)

    def manifest_batches(self) -> Iterator[pa.RecordBatch]:
        """Manifests, one per (day, mode, port, carrier), built from the keys the declarations used."""
        if not self.ledger.complete:
            raise RuntimeError("raw.tdec_manifests needs raw.tdec_declarations fully consumed first")
        keys = np.concatenate(self.ledger.manifest_keys)
        counts = np.concatenate(self.ledger.manifest_counts)
        order = np.argsort(keys, kind="stable")
        keys, counts = keys[order], counts[order]
        starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
        keys, counts = keys[starts], np.add.reduceat(counts, starts)
        self.ledger.manifest_keys, self.ledger.manifest_counts = [], []
        for lo in range(0, len(keys), self.cfg.chunk_rows):
            k = keys[lo : lo + self.cfg.chunk_rows]
            day, mode = k // 10**9, k // 10**8 % 10
            port, carrier = k // 10**6 % 100, k % 10**6
            pop = self.pop
            vessel_names = pop.vessels.column("name").combine_chunks()
            names = [vessel_names, pa.array([a for _, a in pop.flights]), pop.vehicles.column("owner_name").combine_chunks(), vessel_names]
            carrier_name = pa.nulls(len(k), pa.string())
            for m, values in enumerate(names):
                sel = mode == m
                carrier_name = pc.if_else(pa.array(sel), values.take(pa.array(np.where(sel, carrier, 0))), carrier_name)
            yield make_batch("raw.tdec_manifests", {
                "manifest_id": numbered_ids("M", k, 13),
                "mode": pa.array(MODES).take(mode),
                "port_code": _LOCATION_CODES.take(port),
                "transport_id": self._transport_ids(mode, carrier),
                "carrier_name": carrier_name,
                "arrival_on": pa.array(day.astype(np.int32) + np.int32(np.datetime64("2022-01-01", "D").astype(int)), type=pa.int32()).cast(pa.date32()),
                "line_count": counts[lo : lo + self.cfg.chunk_rows],
            })
