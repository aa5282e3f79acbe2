"""Ground-truth tables: what the generator knows and analytics must rediscover.

Built only from the generator's in-memory state (population, ledgers, documents), never
by reading raw tables back, so truth cannot drift from what was planted.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa

from workbench.demo.batches import make_batch
from workbench.demo.cases import CaseTables
from workbench.demo.cash import CashRecords
from workbench.demo.config import WorldConfig
from workbench.demo.declarations import DeclarationGenerator, assign_traders, chunk_bounds
from workbench.demo.documents import Document
from workbench.demo.entities import Population
from workbench.demo.identifiers import numbered_ids


def ring_batch(pop: Population) -> pa.RecordBatch:
    """One row per (ring, kind, source id), ids exactly as the source tables hold them."""
    col = {name: pop.__getattribute__(table).column(column).to_pylist()
           for name, table, column in (("trader", "traders", "trader_id"), ("person", "people", "person_id"),
                                       ("driver", "drivers", "driver_id"), ("plate", "vehicles", "plate"),
                                       ("address", "addresses", "address_id"), ("broker", "brokers", "broker_id"))}
    rows: dict[tuple[str, str, str], None] = {}
    for ring in pop.rings:
        members = (
            [("trader", col["trader"][t]) for t in ring.traders]
            + [("person", col["person"][p]) for p in ring.people]
            + [("person", col["driver"][d]) for d in ring.drivers]
            + [("vehicle", col["plate"][v]) for v in ring.vehicles]
            + [("phone", p) for p in ring.phones]
            + [("address", col["address"][a]) for a in ring.addresses]
            + [("broker", col["broker"][ring.broker])]
        )
        for kind, source_id in members:
            rows[(ring.ring_id, kind, source_id)] = None
    keys = list(rows)
    return make_batch("truth.rings", {"ring_id": [k[0] for k in keys], "kind": [k[1] for k in keys], "source_id": [k[2] for k in keys]})


def _entities(entity: list[str] | pa.Array, kind: str | list[str], system: str, source: list[str] | pa.Array) -> pa.RecordBatch:
    n = len(source)
    return make_batch("truth.entities", {
        "entity_id": entity, "kind": [kind] * n if isinstance(kind, str) else kind,
        "source_system": [system] * n, "source_id": source,
    })


def _org(index: np.ndarray) -> pa.Array:
    return numbered_ids("E-ORG-", np.asarray(index) + 1, 7)


def _per(index: np.ndarray) -> pa.Array:
    return numbered_ids("E-PER-", np.asarray(index) + 1, 7)


def entity_batches(cfg: WorldConfig, pop: Population, declarations: DeclarationGenerator, cash: CashRecords,
                   cases: CaseTables) -> Iterator[pa.RecordBatch]:
    """The real company or person behind each source record, system by system."""
    n_tr = pop.traders.num_rows
    yield _entities(_org(np.arange(n_tr)), "company", "cirms", pop.traders.column("trader_id").combine_chunks())
    yield _entities(_org(n_tr + np.arange(pop.brokers.num_rows)), "company", "cirms", pop.brokers.column("broker_id").combine_chunks())
    yield _entities(_per(np.arange(pop.people.num_rows)), "person", "cirms", pop.people.column("person_id").combine_chunks())
    yield _entities(_per(pop.driver_person), "person", "lbs", pop.drivers.column("driver_id").combine_chunks())
    owner_is_company = pop.vehicle_owner_trader >= 0
    owners = [f"E-ORG-{t + 1:07d}" if t >= 0 else f"E-PER-{p + 1:07d}"
              for t, p in zip(pop.vehicle_owner_trader, pop.vehicle_owner_person)]
    yield _entities(owners, np.where(owner_is_company, "company", "person").tolist(), "lbs", pop.vehicles.column("plate").combine_chunks())
    yield _entities(_per(cash.person), "person", "cdcs", cash.ids)
    has_company = np.flatnonzero(cash.company >= 0)
    yield _entities(_org(cash.company[has_company]), "company", "cdcs", cash.ids.take(has_company))
    if cases.party_entities:
        yield _entities([e[0] for e in cases.party_entities], [e[1] for e in cases.party_entities], "cps",
                        [e[2] for e in cases.party_entities])
    for chunk, (lo, hi) in enumerate(chunk_bounds(cfg.n_declarations, cfg.chunk_rows)):
        trader, _ = assign_traders(cfg, pop, declarations.plan, chunk, lo, hi)
        yield _entities(_org(trader), "company", "tdec", numbered_ids("D", np.arange(lo, hi) + 1, 10))


def flagged_batches(name: str, id_column: str, ids: list[pa.Array], schemes: list[pa.Array]) -> Iterator[pa.RecordBatch]:
    """Illicit declarations or crossings, one batch per generated chunk."""
    for chunk_ids, chunk_schemes in zip(ids, schemes):
        yield make_batch(name, {id_column: chunk_ids, "scheme": chunk_schemes})


def document_entity_batch(docs: list[Document]) -> pa.RecordBatch:
    rows = [(d.doc_id, *span) for d in docs for span in d.spans]
    return make_batch("truth.document_entities", {
        "doc_id": [r[0] for r in rows], "start": [r[1] for r in rows], "end": [r[2] for r in rows],
        "label": [r[3] for r in rows], "text": [r[4] for r in rows],
    })
