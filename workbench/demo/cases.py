"""Case Processing System: cases, seizures and case parties.

Cases come from four places, as in a real department: seizures found at inspection of
declarations and of vehicle crossings, intelligence-led operations against rings (so some
ring members appear in cases even where no inspection caught them), and patrol cases
against unrelated individuals. CPS writes names its own way, often only in Chinese.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np
import pyarrow as pa

from workbench.demo.batches import make_batch
from workbench.demo.boundary import CrossingLedger, contraband_quantity
from workbench.demo.config import Tag, WorldConfig
from workbench.demo.declarations import DeclarationLedger
from workbench.demo.entities import VARIANTS_PER_SYSTEM, Population
from workbench.demo.vocabulary import COMMODITIES, HS_INDEX, LOCATIONS, WORLD_DAYS, WORLD_START

_DRUGS = {HS_INDEX["29223900"], HS_INDEX["29397100"]}
_PATROL_GOODS = ("24022000", "27101900", "42022100", "85171300", "22083000")


def offence_for(goods: int) -> str:
    """The offence a seizure of these goods is charged under."""
    category = COMMODITIES[goods].category
    if goods in _DRUGS:
        return "dangerous drugs trafficking"
    if category == "prohibited":
        return "endangered species trafficking"
    if category == "dutiable":
        return "dutiable commodities offence"
    return "smuggling of goods"


@dataclass
class _Case:
    day: int
    offence: str
    location: str
    detected_by: str
    declaration_id: str | None = None
    crossing_id: str | None = None
    seizures: list[tuple[int, float, float]] = field(default_factory=list)  # goods, quantity, value
    companies: list[tuple[int, str]] = field(default_factory=list)  # trader index, role
    people: list[tuple[int, str]] = field(default_factory=list)  # person index, role


@dataclass
class CaseTables:
    cases: pa.RecordBatch
    seizures: pa.RecordBatch
    parties: pa.RecordBatch
    party_entities: list[tuple[str, str, str]]  # (entity_id, kind, party_id)


def build_cases(cfg: WorldConfig, pop: Population, declarations: DeclarationLedger, crossings: CrossingLedger) -> CaseTables:
    """All three CPS tables; requires the declaration and crossing streams fully consumed."""
    if not (declarations.complete and crossings.complete):
        raise RuntimeError("raw.cps_* need raw.tdec_declarations and raw.lbs_crossings fully consumed first")
    rng = cfg.rng(Tag.CASES)
    cases: list[_Case] = []

    seized = declarations.seizures()
    for i in range(len(seized["declaration_id"])):
        if rng.random() > 0.9:
            continue
        goods, trader = int(seized["goods"][i]), int(seized["trader"][i])
        case = _Case(int(seized["day"][i]) + int(rng.integers(0, 4)), offence_for(goods), LOCATIONS[int(seized["port"][i])].code,
                     "inspection", declaration_id=str(seized["declaration_id"][i]))
        case.seizures.append((goods, float(seized["quantity"][i]), float(seized["value_hkd"][i]) * rng.uniform(1.2, 2.0)))
        case.companies.append((trader, "company"))
        case.people.append((int(pop.trader_director[trader]), "arrested" if rng.random() < 0.6 else "suspect"))
        cases.append(case)

    lbs = crossings.seized()
    for i in range(len(lbs["crossing_id"])):
        goods = int(lbs["goods"][i])
        case = _Case(int(lbs["day"][i]), offence_for(goods), LOCATIONS[int(lbs["point"][i])].code, "inspection",
                     crossing_id=str(lbs["crossing_id"][i]))
        qty = float(contraband_quantity(np.array([goods]), np.array([lbs["weight_kg"][i]]))[0])
        case.seizures.append((goods, qty, qty * COMMODITIES[goods].kg_per_unit * COMMODITIES[goods].hkd_per_kg * rng.uniform(1.2, 2.0)))
        case.people.append((int(pop.driver_person[int(lbs["driver"][i])]), "arrested"))
        owner = int(pop.vehicle_owner_trader[int(lbs["vehicle"][i])])
        if owner >= 0:
            case.companies.append((owner, "company"))
        if rng.random() < 0.5:
            case.companies.append((int(lbs["consignee"][i]), "suspect"))
        cases.append(case)

    for ring in pop.rings:
        for _ in range(1 + int(rng.random() < 0.3)):
            scheme = ring.schemes[0]
            goods = int(rng.choice(ring.goods[scheme]))
            case = _Case(int(rng.integers(0, WORLD_DAYS)), offence_for(goods), str(rng.choice(["KCCT", "LMC", "HKIA", "SBC"])), "intelligence")
            weight = float(rng.lognormal(np.log(800), 0.6))
            qty = float(contraband_quantity(np.array([goods]), np.array([weight]))[0])
            case.seizures.append((goods, qty, weight * COMMODITIES[goods].hkd_per_kg * rng.uniform(1.0, 1.8)))
            members = rng.choice(ring.traders, min(len(ring.traders), int(rng.integers(2, 4))), replace=False)
            case.companies.extend((int(t), "company") for t in members)
            case.people.extend((int(pop.trader_director[t]), "arrested" if rng.random() < 0.5 else "suspect") for t in members)
            if len(ring.people):
                case.people.append((int(rng.choice(ring.people)), "suspect"))
            cases.append(case)

    travellers = np.flatnonzero((pop.person_kind == 2) & (pop.person_ring < 0))
    for _ in range(cfg.n_background_cases):
        goods = HS_INDEX[str(rng.choice(_PATROL_GOODS))]
        case = _Case(int(rng.integers(0, WORLD_DAYS)), offence_for(goods), str(rng.choice(["LMC", "LMCSL", "SBC", "HZMB", "HYW", "CFT"])), "patrol")
        qty = float(np.round(rng.lognormal(np.log(50 / COMMODITIES[goods].kg_per_unit), 0.8)))
        case.seizures.append((goods, max(qty, 1.0), max(qty, 1.0) * COMMODITIES[goods].kg_per_unit * COMMODITIES[goods].hkd_per_kg * 2))
        case.people.append((int(rng.choice(travellers)), "arrested"))
        cases.append(case)

    for case in cases:
        if rng.random() < 0.2:
            case.people.append((int(rng.choice(travellers)), "witness"))
    cases.sort(key=lambda c: c.day)
    return _tables(rng, pop, cases)


def _tables(rng: np.random.Generator, pop: Population, cases: list[_Case]) -> CaseTables:
    case_rows: dict[str, list] = {k: [] for k in ("case_id", "opened_on", "offence", "location_code", "detected_by",
                                                  "declaration_id", "crossing_id", "status", "disposal")}
    seizure_rows: dict[str, list] = {k: [] for k in ("seizure_id", "case_id", "seized_on", "goods_desc", "hs_code",
                                                     "quantity", "quantity_unit", "value_hkd")}
    party_rows: dict[str, list] = {k: [] for k in ("party_id", "case_id", "party_kind", "name", "id_document", "br_number", "role")}
    party_entities: list[tuple[str, str, str]] = []
    br = pop.traders.column("br_number").to_pylist()
    trader_names = pop.trader_variants["cps"]
    person_names = pop.person_variants["cps"]
    per_year: dict[int, int] = {}
    cutoff = WORLD_DAYS - 180
    for case in cases:
        day = min(case.day, WORLD_DAYS - 1)
        opened = WORLD_START + timedelta(days=day)
        per_year[opened.year] = per_year.get(opened.year, 0) + 1
        case_id = f"CPS{opened.year}{per_year[opened.year]:06d}"
        if day >= cutoff:
            status, disposal = "under investigation", None
        else:
            status = str(rng.choice(["prosecution", "closed"], p=[0.4, 0.6]))
            disposal = (str(rng.choice(["convicted", "goods forfeited", "compounded", "acquitted", "no further action"],
                                       p=[0.45, 0.2, 0.15, 0.1, 0.1])) if status == "closed"
                        else (None if rng.random() < 0.5 else "convicted"))
        for key, value in zip(case_rows, (case_id, opened, case.offence, case.location, case.detected_by,
                                          case.declaration_id, case.crossing_id, status, disposal)):
            case_rows[key].append(value)
        for goods, qty, value in case.seizures:
            c = COMMODITIES[goods]
            seizure_rows["seizure_id"].append(f"SZ{len(seizure_rows['seizure_id']) + 1:08d}")
            for key, v in (("case_id", case_id), ("seized_on", opened), ("goods_desc", c.desc_en), ("hs_code", c.hs_code),
                           ("quantity", round(qty, 1)), ("quantity_unit", c.unit), ("value_hkd", round(value, -2))):
                seizure_rows[key].append(v)
        parties = [("company", t, role) for t, role in case.companies] + [("person", p, role) for p, role in case.people]
        for kind, idx, role in parties:
            party_id = f"PTY{len(party_rows['party_id']) + 1:08d}"
            k = int(rng.integers(0, VARIANTS_PER_SYSTEM))
            if kind == "company":
                name = trader_names[idx * VARIANTS_PER_SYSTEM + k].as_py()
                doc, brn, entity = None, br[idx] if rng.random() < 0.6 else None, f"E-ORG-{idx + 1:07d}"
            else:
                name = person_names[idx * VARIANTS_PER_SYSTEM + k].as_py()
                doc, brn, entity = pop.person_doc[idx][1] if rng.random() < 0.7 else None, None, f"E-PER-{idx + 1:07d}"
            for key, v in (("party_id", party_id), ("case_id", case_id), ("party_kind", kind), ("name", name),
                           ("id_document", doc), ("br_number", brn), ("role", role)):
                party_rows[key].append(v)
            party_entities.append((entity, kind, party_id))
    return CaseTables(
        make_batch("raw.cps_cases", case_rows),
        make_batch("raw.cps_seizures", seizure_rows),
        make_batch("raw.cps_case_parties", party_rows),
        party_entities,
    )
