"""Cash-type articles declaration system: currency and bearer instruments above HK$120,000.

Most declarants are ordinary travellers and company staff; ring couriers and directors move
the proceeds, often just over the threshold and on behalf of ring companies. The
generator remembers who each declaration really names, for ``truth.entities``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from workbench.demo.batches import make_batch, slices
from workbench.demo.config import Tag, WorldConfig
from workbench.demo.declarations import EPOCH_US, SECONDS
from workbench.demo.entities import VARIANTS_PER_SYSTEM, Population
from workbench.demo.identifiers import numbered_ids
from workbench.demo.reference import FxRates, month_index
from workbench.demo.vocabulary import CASH_INSTRUMENTS, CASH_POINTS, CASH_PURPOSES, CASH_THRESHOLD_HKD, CURRENCIES

RING_SHARE = 0.08
_PLACES_IN = ("Shenzhen", "Guangzhou", "Macao", "Dubai", "Singapore", "Bangkok", "Lagos", "Zhuhai")
_MODE_OF_POINT = {"HKIA": "air", "CFT": "sea"}


@dataclass
class CashRecords:
    """Who each cash declaration really names (person index, company index or -1)."""

    ids: pa.Array
    person: np.ndarray
    company: np.ndarray


def cash_declarations(cfg: WorldConfig, pop: Population, fx: FxRates) -> tuple[Iterator[pa.RecordBatch], CashRecords]:
    """Build ``raw.cdcs_cash_declarations`` (small enough to build whole) and its entity record."""
    rng = cfg.rng(Tag.CASH)
    n = cfg.n_cash_declarations
    seconds = np.sort(rng.integers(0, SECONDS, n))
    ring_people = np.flatnonzero(pop.person_ring >= 0)
    others = np.flatnonzero((pop.person_ring < 0) & (pop.person_kind != 1))
    ring_row = rng.random(n) < RING_SHARE
    person = others[rng.integers(0, len(others), n)]
    person[ring_row] = ring_people[rng.integers(0, len(ring_people), int(ring_row.sum()))]

    employer_ids = pop.people.column("employer_trader_id").to_numpy(zero_copy_only=False)
    employer = np.array([int(e[1:]) - 1 if e else -1 for e in employer_ids])[person]
    ring_company = np.array([r.traders[0] for r in pop.rings])[np.maximum(pop.person_ring[person], 0)]
    on_behalf = np.where(ring_row, rng.random(n) < 0.8, rng.random(n) < 0.5)
    company = np.where(employer >= 0, employer, rng.integers(0, len(pop.trader_names), n))
    company = np.where(ring_row, ring_company, company)
    company = np.where(on_behalf, company, -1)

    amount_hkd = CASH_THRESHOLD_HKD + rng.lognormal(np.log(250_000), 1.0, n)
    amount_hkd = np.where(ring_row & (rng.random(n) < 0.5), CASH_THRESHOLD_HKD * rng.uniform(1.0, 1.15, n), amount_hkd)
    currency = rng.choice(len(CURRENCIES), n, p=[0.4, 0.35, 0.25])
    amount = np.round(amount_hkd / fx.to_hkd(currency, month_index(seconds // 86_400)), -2)
    point = rng.integers(0, len(CASH_POINTS), n)
    points = np.array(CASH_POINTS)[point]

    docs = pop.person_doc
    doc_type = np.array([docs[p][0] for p in person], dtype=object)
    doc_no = np.array([docs[p][1] for p in person], dtype=object)
    passport = (doc_type == "HKID") & (rng.random(n) < 0.2)
    doc_type[passport] = "Passport"
    doc_no[passport] = [f"K{d:08d}" for d in rng.integers(0, 100_000_000, int(passport.sum()))]
    company_names = pop.trader_variants["cdcs"].take(np.maximum(company, 0) * VARIANTS_PER_SYSTEM + rng.integers(0, VARIANTS_PER_SYSTEM, n))

    ids = numbered_ids("CD", np.arange(1, n + 1), 9)
    batch = make_batch("raw.cdcs_cash_declarations", {
        "declaration_id": ids,
        "declared_at": pa.array(EPOCH_US + seconds * 1_000_000, type=pa.timestamp("us")),
        "declarant_name": pop.person_variants["cdcs"].take(person * VARIANTS_PER_SYSTEM + rng.integers(0, VARIANTS_PER_SYSTEM, n)),
        "travel_doc_type": doc_type.tolist(),
        "travel_doc_no": doc_no.tolist(),
        "company_name": pc.if_else(pa.array(company >= 0), company_names, pa.nulls(n, pa.string())),
        "instrument": np.array(CASH_INSTRUMENTS)[rng.choice(len(CASH_INSTRUMENTS), n, p=[0.6, 0.15, 0.05, 0.1, 0.1])],
        "currency": np.array(CURRENCIES)[currency],
        "amount": amount,
        "mode": [_MODE_OF_POINT.get(p, "land") for p in points],
        "control_point": points,
        "direction": np.where(rng.random(n) < 0.5, "inbound", "outbound"),
        "other_place": np.array(_PLACES_IN)[rng.integers(0, len(_PLACES_IN), n)],
        "purpose": np.array(CASH_PURPOSES)[rng.integers(0, len(CASH_PURPOSES), n)],
    })
    return slices(batch, cfg.chunk_rows), CashRecords(ids, person, company)
