"""The world's actors, held in memory: addresses, traders, brokers, people, vessels, vehicles, drivers, rings.

Entity counts grow linearly with scale (about 2,000 traders per unit), so a Python loop
per entity is affordable; the high-volume tables (declarations, crossings) only index
into the arrays built here. Rings are planted by rewiring ordinary entities: their
traders get shared addresses, phones and a complicit broker, their vehicles a few
shared drivers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pyarrow as pa

from workbench.demo.config import Tag, WorldConfig
from workbench.demo.identifiers import hk_phone, hk_plate, hkid, imo_number, mainland_phone, mainland_plate
from workbench.demo.names import PersonName, company_variants, person_variant, person_variants
from workbench.demo.vocabulary import (
    AIRLINES,
    BROKER_TRADES,
    COMMODITIES,
    COMPANY_FORMS,
    COMPANY_TRADES,
    COMPANY_WORDS,
    COUNTRIES,
    FOREIGN_COMPANY_TRADES,
    FOREIGN_COMPANY_WORDS,
    FOREIGN_SUFFIX,
    GIVEN_NAMES,
    MISDECLARATION_COVERS,
    PROHIBITED_COVERS,
    RIVER_VESSEL_WORDS,
    STREETS,
    SURNAMES,
    TRADER_TYPES,
    SPLIT_GOODS,
    UNDERVALUED_GOODS,
    VEHICLE_TYPES,
    VESSEL_FLAGS,
    VESSEL_PREFIXES,
    VESSEL_WORDS,
    HS_INDEX,
)

SYSTEMS = ("tdec", "lbs", "cdcs", "cps")
"""Systems that write names their own way (CIRMS holds the canonical registration)."""
VARIANTS_PER_SYSTEM = 4
CHINESE_SHARE = {"tdec": 0.05, "lbs": 0.1, "cdcs": 0.05, "cps": 0.3}
"""How often a system writes only the Chinese name."""
RING_SCHEMES = ("undervaluation", "hs_misdeclaration", "split_shipment", "prohibited_goods")

_DECLARABLE = np.array([i for i, c in enumerate(COMMODITIES) if c.category != "prohibited"])


@dataclass
class Ring:
    """One planted smuggling network and the entities it shares."""

    ring_id: str
    traders: np.ndarray
    people: np.ndarray
    drivers: np.ndarray
    vehicles: np.ndarray
    addresses: np.ndarray
    phones: list[str]
    broker: int
    schemes: tuple[str, ...]
    goods: dict[str, np.ndarray]  # scheme -> commodity indices of the goods it really moves
    origin: str
    partner: int  # overseas shipper index


@dataclass
class Population:
    """Every entity of the world plus the side arrays later generators index into."""

    addresses: pa.Table
    traders: pa.Table
    brokers: pa.Table
    people: pa.Table
    vessels: pa.Table
    vehicles: pa.Table
    drivers: pa.Table
    rings: list[Ring]
    trader_ring: np.ndarray
    trader_weight: np.ndarray  # activity share among non-ring traders (ring traders 0)
    trader_goods: np.ndarray  # (n, 3) preferred commodity indices
    trader_broker: np.ndarray
    trader_partners: np.ndarray  # (n, 2) overseas shipper indices
    trader_director: np.ndarray  # person index of the main director
    trader_names: list[tuple[str, str]]
    trader_variants: dict[str, pa.Array]  # system -> n * VARIANTS_PER_SYSTEM names
    person_names: list[PersonName]
    person_ring: np.ndarray
    person_variants: dict[str, pa.Array]
    person_doc: list[tuple[str, str]]  # (document type, number) as CIRMS holds it
    person_kind: np.ndarray  # 0 director, 1 driver, 2 traveller
    driver_person: np.ndarray
    vehicle_drivers: np.ndarray  # (n, 2) driver indices
    vehicle_owner_trader: np.ndarray  # -1 when owned by a person
    vehicle_owner_person: np.ndarray  # -1 when owned by a company
    vehicle_ring: np.ndarray
    driver_ring: np.ndarray
    shipper_names: pa.Array
    shipper_country: np.ndarray  # ISO2 strings
    flights: list[tuple[str, str]]  # (flight number, airline)
    river_vessels: np.ndarray  # vessel indices without IMO
    ocean_vessels: np.ndarray

    @property
    def ring_traders(self) -> np.ndarray:
        return np.flatnonzero(self.trader_ring >= 0)


def _days(rng: np.random.Generator, start: date, end: date, n: int) -> list[date]:
    span = (end - start).days
    return [start + timedelta(days=int(d)) for d in rng.integers(0, span, n)]


def _build_addresses(cfg: WorldConfig) -> tuple[pa.Table, np.ndarray]:
    """Hong Kong flats and units in English and Chinese; returns the table and each row's use."""
    rng = cfg.rng(Tag.ADDRESSES)
    n = cfg.n_addresses
    uses = rng.choice(["residential", "commercial", "industrial"], n, p=[0.4, 0.35, 0.25])
    ids, en, zh, districts = [], [], [], []
    for i in range(n):
        street = STREETS[int(rng.integers(0, len(STREETS)))]
        number, floor = int(rng.integers(1, 400)), int(rng.integers(1, 40))
        if uses[i] == "residential":
            unit = f"{rng.integers(1, 40)}{'ABCDEFGH'[rng.integers(0, 8)]}"
            en.append(f"Flat {unit}, {floor}/F, {number} {street.en}, {street.district_en}")
        else:
            unit = f"{floor}{rng.integers(1, 30):02d}"
            en.append(f"Unit {unit}, {floor}/F, {number} {street.en}, {street.district_en}")
        zh.append(f"{street.district_zh}{street.zh}{number}號{floor}樓{unit}室")
        ids.append(f"A{i + 1:07d}")
        districts.append(street.district_en)
    table = pa.table({"address_id": ids, "address_en": en, "address_zh": zh, "district": districts, "building_use": uses.tolist()})
    return table, uses


_QUALIFIERS = (("", ""), (" (Hong Kong)", "(香港)"), (" (Asia)", "(亞洲)"), (" (International)", "(國際)"),
               (" (China)", "(中國)"), (" (Global)", "(環球)"), (" (HK)", "(香港)"))
"""Disambiguators HK registrations use when a name is taken; a year is added as well."""


def _company_names(rng: np.random.Generator, n: int, trades: tuple[tuple[str, str], ...]) -> list[tuple[str, str]]:
    """Unique registered names (English, Chinese); collisions get a year, as HK registrations do."""
    seen: set[str] = set()
    names: list[tuple[str, str]] = []
    for _ in range(n):
        word_en, word_zh = COMPANY_WORDS[int(rng.integers(0, len(COMPANY_WORDS)))]
        trade_en, trade_zh = trades[int(rng.integers(0, len(trades)))]
        form = COMPANY_FORMS[int(rng.integers(0, len(COMPANY_FORMS)))]
        en, zh = f"{word_en} {trade_en} {form}", f"{word_zh}{trade_zh}有限公司"
        attempt = 0
        while en in seen:
            attempt += 1
            year = int(rng.integers(1980, 2024))
            q_en, q_zh = _QUALIFIERS[min(attempt // 3, len(_QUALIFIERS) - 1)]
            serial = f" {attempt}" if attempt > 30 else ""
            en = f"{word_en} {trade_en}{q_en} ({year}{serial}) {form}"
            zh = f"{word_zh}{trade_zh}{q_zh}({year}{serial})有限公司"
        seen.add(en)
        names.append((en, zh))
    return names


def _build_shippers(cfg: WorldConfig) -> tuple[pa.Array, np.ndarray]:
    """Overseas shippers and consignees: known only by name on declarations."""
    rng = cfg.rng(Tag.SHIPPERS)
    weights = np.array([c[2] for c in COUNTRIES])
    countries = rng.choice([c[0] for c in COUNTRIES], cfg.n_shippers, p=weights / weights.sum())
    names = []
    for country in countries:
        w = FOREIGN_COMPANY_WORDS[int(rng.integers(0, len(FOREIGN_COMPANY_WORDS)))]
        t = FOREIGN_COMPANY_TRADES[int(rng.integers(0, len(FOREIGN_COMPANY_TRADES)))]
        suffix = FOREIGN_SUFFIX[str(country)]
        names.append(f"{suffix} {w} {t}" if suffix == "PT" else f"{w} {t} {suffix}")
    return pa.array(names), countries


def build_population(cfg: WorldConfig) -> Population:
    """Create all entities and plant the rings; deterministic in ``cfg``."""
    addresses, address_use = _build_addresses(cfg)
    n_addr = addresses.num_rows
    shipper_names, shipper_country = _build_shippers(cfg)

    # Traders and brokers share one BR-number space so numbers never collide.
    rng = cfg.rng(Tag.TRADERS)
    n_tr, n_br = cfg.n_traders, cfg.n_brokers
    br_numbers = [f"{b:08d}" for b in rng.choice(90_000_000, n_tr + n_br, replace=False) + 10_000_000]
    trader_names = _company_names(rng, n_tr, COMPANY_TRADES)
    business_addr = np.flatnonzero(address_use != "residential")
    trader_addr = rng.choice(business_addr if len(business_addr) else np.arange(n_addr), n_tr)
    trader_phone = [hk_phone(rng) for _ in range(n_tr)]
    trader_type = rng.choice(TRADER_TYPES, n_tr, p=[0.35, 0.15, 0.3, 0.1, 0.1])
    trader_reg = _days(rng, date(1985, 1, 1), date(2021, 12, 31), n_tr)
    trader_weight = rng.pareto(1.5, n_tr) + 0.2
    trader_goods = rng.choice(_DECLARABLE, (n_tr, 3))
    trader_partners = rng.integers(0, len(shipper_names), (n_tr, 2))
    trader_broker = rng.integers(0, n_br, n_tr)

    rng_b = cfg.rng(Tag.BROKERS)
    broker_names = _company_names(rng_b, n_br, BROKER_TRADES)
    broker_addr = rng_b.choice(business_addr if len(business_addr) else np.arange(n_addr), n_br)
    broker_phone = [hk_phone(rng_b) for _ in range(n_br)]
    broker_reg = _days(rng_b, date(1990, 1, 1), date(2021, 12, 31), n_br)
    broker_licence = [f"CB{rng_b.integers(0, 100000):05d}" for _ in range(n_br)]

    # People: one director per trader, then drivers, then travellers / couriers.
    rng_p = cfg.rng(Tag.PEOPLE)
    n_dir, n_drv, n_trav = n_tr, cfg.n_drivers, cfg.n_travellers
    n_people = n_dir + n_drv + n_trav
    person_kind = np.concatenate([np.zeros(n_dir, int), np.ones(n_drv, int), np.full(n_trav, 2)])
    mainland = rng_p.random(n_people) < np.select([person_kind == 0, person_kind == 1], [0.15, 0.5], 0.5)
    surnames = rng_p.integers(0, len(SURNAMES), n_people)
    givens = rng_p.integers(0, len(GIVEN_NAMES), n_people)
    person_names = [PersonName(int(s), int(g), bool(m)) for s, g, m in zip(surnames, givens, mainland)]
    hkid_digits = rng_p.choice(1_000_000, n_people, replace=False)
    permit_digits = rng_p.choice(100_000_000, n_people, replace=False)
    person_doc = [
        ("Mainland Travel Permit", f"C{permit_digits[i]:08d}") if mainland[i] else ("HKID", hkid(int(rng_p.integers(0, 26)), int(hkid_digits[i])))
        for i in range(n_people)
    ]
    person_phone = [mainland_phone(rng_p) if m else hk_phone(rng_p) for m in mainland]
    residential = np.flatnonzero(address_use == "residential")
    person_addr = np.where(mainland, -1, rng_p.choice(residential if len(residential) else np.arange(n_addr), n_people))
    person_dob = _days(rng_p, date(1950, 1, 1), date(2002, 12, 31), n_people)
    person_employer = np.full(n_people, -1)
    person_employer[:n_dir] = np.arange(n_tr)
    travellers = np.arange(n_dir + n_drv, n_people)
    couriers = travellers[rng_p.random(n_trav) < 0.4]
    person_employer[couriers] = rng_p.integers(0, n_tr, len(couriers))
    trader_director = np.arange(n_tr)
    driver_person = np.arange(n_dir, n_dir + n_drv)

    # Vessels (ocean with IMO numbers, river craft without) and cargo flights.
    rng_v = cfg.rng(Tag.VESSELS)
    n_ves = cfg.n_vessels
    river = rng_v.random(n_ves) < 0.3
    imo_serials = rng_v.choice(100_000, n_ves, replace=False)
    vessel_rows = []
    for i in range(n_ves):
        if river[i]:
            name = f"{RIVER_VESSEL_WORDS[int(rng_v.integers(0, len(RIVER_VESSEL_WORDS)))]} {rng_v.integers(1, 900)}"
            vessel_rows.append((None, name, "CN", "river cargo vessel", int(rng_v.integers(300, 3000))))
        else:
            name = f"{VESSEL_PREFIXES[int(rng_v.integers(0, len(VESSEL_PREFIXES)))]} {VESSEL_WORDS[int(rng_v.integers(0, len(VESSEL_WORDS)))]}"
            vessel_rows.append((imo_number(int(imo_serials[i])), name, VESSEL_FLAGS[int(rng_v.integers(0, len(VESSEL_FLAGS)))],
                                "container ship", int(rng_v.integers(9_000, 220_000))))
    flights = [(f"{code} {rng_v.integers(1, 999)}", airline) for code, airline in AIRLINES for _ in range(6)]

    # Cross-boundary vehicles and their drivers.
    rng_h = cfg.rng(Tag.VEHICLES)
    n_veh = cfg.n_vehicles
    plates = list(dict.fromkeys(hk_plate(rng_h) for _ in range(n_veh * 2)))[:n_veh]
    cb_plates = list(dict.fromkeys(mainland_plate(rng_h) for _ in range(n_veh * 2)))[:n_veh]
    n_veh = min(n_veh, len(plates), len(cb_plates))
    vehicle_type = rng_h.choice(VEHICLE_TYPES, n_veh, p=[0.45, 0.25, 0.2, 0.1])
    by_person = rng_h.random(n_veh) < 0.15
    vehicle_owner_trader = np.where(by_person, -1, rng_h.integers(0, n_tr, n_veh))
    vehicle_owner_person = np.where(by_person, driver_person[rng_h.integers(0, n_drv, n_veh)], -1)
    vehicle_drivers = rng_h.integers(0, n_drv, (n_veh, 2))
    vehicle_reg = _days(rng_h, date(2008, 1, 1), date(2021, 12, 31), n_veh)

    # Rings: rewire ordinary entities into networks.
    rng_r = cfg.rng(Tag.RINGS)
    n_rings = cfg.n_rings
    trader_ring = np.full(n_tr, -1)
    person_ring = np.full(n_people, -1)
    vehicle_ring = np.full(n_veh, -1)
    driver_ring = np.full(n_drv, -1)
    sizes = rng_r.integers(3, 9, n_rings)
    while sizes.sum() > 0.35 * n_tr and sizes.max() > 3:
        sizes = np.maximum(3, sizes - 1)
    trader_pool = rng_r.permutation(n_tr)
    driver_pool = rng_r.permutation(n_drv)
    vehicle_pool = rng_r.permutation(n_veh)
    courier_pool = rng_r.permutation(travellers)
    broker_pool = rng_r.permutation(n_br)
    address_pool = rng_r.permutation(business_addr if len(business_addr) else np.arange(n_addr))
    goods_by_scheme = {
        "undervaluation": [HS_INDEX[c] for c in UNDERVALUED_GOODS],
        "hs_misdeclaration": [HS_INDEX[c] for c in MISDECLARATION_COVERS],
        "prohibited_goods": [HS_INDEX[c] for c in PROHIBITED_COVERS],
        "split_shipment": [HS_INDEX[c] for c in SPLIT_GOODS],
    }
    rings: list[Ring] = []
    t_at = d_at = v_at = c_at = a_at = 0
    for r in range(n_rings):
        k = int(sizes[r])
        members = trader_pool[t_at : t_at + k]
        t_at += k
        n_d, n_v = int(rng_r.integers(1, 4)), int(rng_r.integers(1, 4))
        drivers = driver_pool[d_at % n_drv : d_at % n_drv + n_d]
        d_at += n_d
        vehicles = vehicle_pool[v_at % n_veh : v_at % n_veh + n_v]
        v_at += n_v
        couriers_r = courier_pool[c_at % len(courier_pool) : c_at % len(courier_pool) + int(rng_r.integers(1, 3))]
        c_at += len(couriers_r)
        n_a = int(rng_r.integers(1, 3))
        ring_addr = address_pool[a_at % len(address_pool) : a_at % len(address_pool) + n_a]
        a_at += n_a
        phones = [hk_phone(rng_r) for _ in range(int(rng_r.integers(1, 4)))]
        broker = int(broker_pool[r % n_br])
        primary = RING_SCHEMES[r % len(RING_SCHEMES)]
        secondary = RING_SCHEMES[int(rng_r.integers(0, len(RING_SCHEMES)))]
        schemes = tuple(dict.fromkeys((primary, secondary)))
        goods = {s: rng_r.choice(goods_by_scheme[s], 2) for s in schemes}
        origin = str(rng_r.choice(["CN", "VN", "NG", "AE", "MY", "TH", "ZA", "MZ"]))
        partner = int(rng_r.integers(0, len(shipper_names)))

        trader_ring[members] = r
        trader_addr[members] = ring_addr[rng_r.integers(0, len(ring_addr), k)]
        for m in members:
            trader_phone[m] = phones[int(rng_r.integers(0, len(phones)))]
        trader_broker[members] = broker
        trader_partners[members, 0] = partner
        vehicle_ring[vehicles] = r
        vehicle_owner_trader[vehicles] = rng_r.choice(members, len(vehicles))
        vehicle_owner_person[vehicles] = -1
        vehicle_drivers[vehicles] = drivers[rng_r.integers(0, len(drivers), (len(vehicles), 2))]
        driver_ring[drivers] = r
        people = np.concatenate([trader_director[members], driver_person[drivers], couriers_r])
        person_ring[people] = r
        for p in people:
            if rng_r.random() < 0.5:
                person_phone[p] = phones[int(rng_r.integers(0, len(phones)))]
            if not mainland[p] and rng_r.random() < 0.5:
                person_addr[p] = ring_addr[int(rng_r.integers(0, len(ring_addr)))]
        person_employer[couriers_r] = members[0]
        rings.append(Ring(f"R{r + 1:04d}", members, people, drivers, vehicles, ring_addr, phones, broker,
                          schemes, goods, origin, partner))

    # How each system writes each name.
    rng_n = cfg.rng(Tag.VARIANTS)
    trader_variants = {
        s: pa.array([v for en, zh in trader_names for v in company_variants(en, zh, rng_n, VARIANTS_PER_SYSTEM, CHINESE_SHARE[s])])
        for s in SYSTEMS
    }
    person_variants_ = {
        s: pa.array([v for p in person_names for v in person_variants(p, rng_n, VARIANTS_PER_SYSTEM, CHINESE_SHARE[s])])
        for s in SYSTEMS
    }

    address_ids = addresses.column("address_id").to_pylist()
    trader_ids = [f"T{i + 1:07d}" for i in range(n_tr)]
    person_ids = [f"P{i + 1:07d}" for i in range(n_people)]
    traders = pa.table({
        "trader_id": trader_ids,
        "br_number": br_numbers[:n_tr],
        "name_en": [n[0] for n in trader_names],
        "name_zh": [n[1] for n in trader_names],
        "trader_type": trader_type.tolist(),
        "address_id": [address_ids[a] for a in trader_addr],
        "phone": trader_phone,
        "director_person_id": [person_ids[d] for d in trader_director],
        "registered_on": trader_reg,
    })
    brokers = pa.table({
        "broker_id": [f"B{i + 1:05d}" for i in range(n_br)],
        "br_number": br_numbers[n_tr:],
        "name_en": [n[0] for n in broker_names],
        "name_zh": [n[1] for n in broker_names],
        "licence_no": broker_licence,
        "address_id": [address_ids[a] for a in broker_addr],
        "phone": broker_phone,
        "registered_on": broker_reg,
    })
    role = np.select([person_kind == 0, person_kind == 1], ["director", "driver"], "individual")
    people_tbl = pa.table({
        "person_id": person_ids,
        "name_en": [p.en for p in person_names],
        "name_zh": [p.zh for p in person_names],
        "id_doc_type": [d[0] for d in person_doc],
        "id_doc_no": [d[1] for d in person_doc],
        "date_of_birth": person_dob,
        "residence": np.where(mainland, "Mainland", "Hong Kong").tolist(),
        "phone": person_phone,
        "address_id": [address_ids[a] if a >= 0 else None for a in person_addr],
        "employer_trader_id": [trader_ids[t] if t >= 0 else None for t in person_employer],
        "role": role.tolist(),
    })
    vessels = pa.table({
        "vessel_id": [f"V{i + 1:05d}" for i in range(n_ves)],
        "imo_number": [v[0] for v in vessel_rows],
        "name": [v[1] for v in vessel_rows],
        "flag": [v[2] for v in vessel_rows],
        "vessel_type": [v[3] for v in vessel_rows],
        "gross_tonnage": [v[4] for v in vessel_rows],
    })
    lbs_vehicle_names = trader_variants["lbs"]
    owner_names = [
        lbs_vehicle_names[int(t) * VARIANTS_PER_SYSTEM + 1 + i % 3].as_py() if t >= 0
        else person_variant(person_names[int(p)], rng_n, CHINESE_SHARE["lbs"])
        for i, (t, p) in enumerate(zip(vehicle_owner_trader, vehicle_owner_person))
    ]
    vehicles = pa.table({
        "plate": plates[:n_veh],
        "mainland_plate": cb_plates[:n_veh],
        "vehicle_type": vehicle_type.tolist(),
        "owner_name": owner_names,
        "owner_phone": [trader_phone[t] if t >= 0 else person_phone[p] for t, p in zip(vehicle_owner_trader, vehicle_owner_person)],
        "registered_on": vehicle_reg,
    })
    drivers = pa.table({
        "driver_id": [f"DRV{i + 1:06d}" for i in range(n_drv)],
        "name": [person_variant(person_names[p], rng_n, CHINESE_SHARE["lbs"]) for p in driver_person],
        "name_zh": [person_names[p].zh if rng_n.random() < 0.6 else None for p in driver_person],
        "doc_type": ["HKID" if person_doc[p][0] == "HKID" else "Home Visit Permit" for p in driver_person],
        "doc_no": [person_doc[p][1].replace("(", "").replace(")", "") for p in driver_person],
        "phone": [person_phone[p] for p in driver_person],
        "licence_class": rng_h.choice(["articulated vehicle", "heavy goods vehicle", "medium goods vehicle"], n_drv).tolist(),
    })
    return Population(
        addresses=addresses, traders=traders, brokers=brokers, people=people_tbl, vessels=vessels,
        vehicles=vehicles, drivers=drivers, rings=rings, trader_ring=trader_ring,
        trader_weight=np.where(trader_ring >= 0, 0.0, trader_weight), trader_goods=trader_goods,
        trader_broker=trader_broker, trader_partners=trader_partners, trader_director=trader_director,
        trader_names=trader_names, trader_variants=trader_variants, person_names=person_names,
        person_ring=person_ring, person_variants=person_variants_, person_doc=person_doc, person_kind=person_kind,
        driver_person=driver_person, vehicle_drivers=vehicle_drivers, vehicle_owner_trader=vehicle_owner_trader,
        vehicle_owner_person=vehicle_owner_person, vehicle_ring=vehicle_ring, driver_ring=driver_ring,
        shipper_names=shipper_names, shipper_country=shipper_country, flights=flights,
        river_vessels=np.flatnonzero(river), ocean_vessels=np.flatnonzero(~river),
    )
