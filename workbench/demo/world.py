"""Orchestration: one deterministic synthetic customs world, streamed table by table.

``generate_world(seed, scale)`` yields one ``TableStream`` per table, in an order where
each table only needs tables streamed before it: reference data, registers (CIRMS, LBS),
declarations and manifests, crossings, cash declarations, cases, documents, the access log,
and finally the truth zone. Streams must be consumed in order and completely; later streams
read ledgers the earlier ones filled while they streamed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import cache

import pyarrow as pa

from workbench.demo.access_log import AccessLog, build_access_log
from workbench.demo.batches import make_batch, slices, stream
from workbench.demo.boundary import CrossingGenerator
from workbench.demo.cases import CaseTables, build_cases
from workbench.demo.cash import cash_declarations
from workbench.demo.config import WorldConfig
from workbench.demo.declarations import DeclarationGenerator
from workbench.demo.documents import Document, document_labels_batch, generate_documents
from workbench.demo.entities import Population, build_population
from workbench.demo.reference import build_fx, fx_batch, hs_codes_batch, locations_batch
from workbench.demo.truth import document_entity_batch, entity_batches, flagged_batches, ring_batch
from workbench.lake.streams import TableStream

__all__ = ["Document", "WorldConfig", "generate_world", "documents_batch", "TABLES"]

TABLES = (
    "raw.ref_fx_rates", "raw.ref_locations", "raw.ref_hs_codes",
    "raw.cirms_addresses", "raw.cirms_traders", "raw.cirms_brokers", "raw.cirms_people", "raw.cirms_vessels",
    "raw.lbs_vehicles", "raw.lbs_drivers",
    "raw.tdec_declarations", "raw.tdec_manifests", "raw.lbs_crossings", "raw.cdcs_cash_declarations",
    "raw.cps_cases", "raw.cps_seizures", "raw.cps_case_parties", "raw.documents", "raw.platform_access_log",
    "truth.rings", "truth.illicit_declarations", "truth.illicit_crossings", "truth.entities",
    "truth.document_entities", "truth.document_labels", "truth.log_anomalies",
)
"""Every table ``generate_world`` streams, in streaming order."""


def documents_batch(docs: list[Document]) -> pa.RecordBatch:
    return make_batch("raw.documents", {
        "doc_id": [d.doc_id for d in docs], "kind": [d.kind for d in docs], "language": [d.language for d in docs],
        "title": [d.title for d in docs], "source": [d.source for d in docs],
        "published_at": [d.published_at for d in docs], "text": [d.text for d in docs],
    })


def _later(make: Callable[[], Iterator[pa.RecordBatch]]) -> Iterator[pa.RecordBatch]:
    """Defer building a table until its stream is read (after earlier streams are consumed)."""
    yield from make()


def generate_world(seed: int, scale: float, chunk_rows: int = 100_000) -> Iterator[TableStream]:
    """Stream every raw and truth table of the world for ``seed`` and ``scale``.

    Same seed and scale give identical tables (same rows, same order). Scale 1 is about
    100,000 declarations; memory stays bounded at any scale because declarations and
    crossings are generated ``chunk_rows`` at a time.
    """
    cfg = WorldConfig(seed, scale, chunk_rows)
    pop: Population = build_population(cfg)
    fx = build_fx(cfg)
    size = cfg.chunk_rows

    yield stream("raw.ref_fx_rates", [fx_batch(fx)])
    yield stream("raw.ref_locations", [locations_batch()])
    yield stream("raw.ref_hs_codes", [hs_codes_batch()])
    for name, table in (("raw.cirms_addresses", pop.addresses), ("raw.cirms_traders", pop.traders),
                        ("raw.cirms_brokers", pop.brokers), ("raw.cirms_people", pop.people),
                        ("raw.cirms_vessels", pop.vessels), ("raw.lbs_vehicles", pop.vehicles),
                        ("raw.lbs_drivers", pop.drivers)):
        yield stream(name, (make_batch(name, dict(zip(b.schema.names, b.columns))) for b in slices(table, size)))

    declarations = DeclarationGenerator(cfg, pop, fx)
    yield stream("raw.tdec_declarations", declarations.batches())
    yield stream("raw.tdec_manifests", declarations.manifest_batches())
    crossings = CrossingGenerator(cfg, pop)
    yield stream("raw.lbs_crossings", crossings.batches())
    cash_stream, cash_records = cash_declarations(cfg, pop, fx)
    yield stream("raw.cdcs_cash_declarations", cash_stream)

    @cache
    def cases() -> CaseTables:
        return build_cases(cfg, pop, declarations.ledger, crossings.ledger)

    yield stream("raw.cps_cases", _later(lambda: iter([cases().cases])))
    yield stream("raw.cps_seizures", _later(lambda: iter([cases().seizures])))
    yield stream("raw.cps_case_parties", _later(lambda: iter([cases().parties])))

    @cache
    def documents() -> list[Document]:
        return generate_documents(cfg, pop)

    @cache
    def access_log() -> AccessLog:
        return build_access_log(cfg)

    yield stream("raw.documents", _later(lambda: slices(documents_batch(documents()), 5_000)))
    yield stream("raw.platform_access_log", _later(lambda: slices(access_log().batch, size)))

    yield stream("truth.rings", _later(lambda: iter([ring_batch(pop)])))
    yield stream("truth.illicit_declarations", _later(lambda: flagged_batches(
        "truth.illicit_declarations", "declaration_id", declarations.ledger.illicit_ids, declarations.ledger.illicit_schemes)))
    yield stream("truth.illicit_crossings", _later(lambda: flagged_batches(
        "truth.illicit_crossings", "crossing_id", crossings.ledger.illicit_ids, crossings.ledger.illicit_schemes)))
    yield stream("truth.entities", _later(lambda: entity_batches(cfg, pop, declarations, cash_records, cases())))
    yield stream("truth.document_entities", _later(lambda: iter([document_entity_batch(documents())])))
    yield stream("truth.document_labels", _later(lambda: iter([document_labels_batch(documents())])))
    yield stream("truth.log_anomalies", _later(lambda: iter([access_log().anomalies])))
