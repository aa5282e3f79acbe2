"""Benchmark of semantic search: cross-lingual recall and the cost of scoring chunk vectors.

Quality. Parallel English/Chinese documents are generated *for this evaluation only*
from the demo world's sentence templates, which are index-aligned translations
(``EN_TEMPLATES[i]`` says what ``ZH_TEMPLATES[i]`` says), filled with the same entities
in each language (names from the world's name parts, places and goods from its
vocabulary). Both languages go into one lake and are indexed by ``ChunkIndexer``; the
query is the first sentence of a document, the target its translation, searched with the
target language as filter. Reported: recall@5 and MRR, EN->ZH and ZH->EN, for
multilingual-e5 (``workbench.nlp.search``) beside BM25 over the same chunks (rank_bm25,
words as the tagger splits them), which matches only language-neutral tokens (plates,
container and phone numbers) across languages. Nothing reads ``truth.*``.

Speed. Top-10 by cosine over 10k and 100k unit vectors, numpy (BLAS mat-vec +
argpartition over an in-memory float32 matrix, what ``search`` does) against DuckDB's
``array_cosine_similarity`` over a ``FLOAT[384]`` column of the same vectors; plus the
one-off cost of decoding the stored base64 column (``embed.unpack``).

    python benchmarks/bench_nlp_search.py --pairs 100
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import polars as pl  # noqa: E402

import workbench  # noqa: E402
from workbench.demo.documents import EN_TEMPLATES, ZH_TEMPLATES, money_en, money_zh, render  # noqa: E402
from workbench.demo.identifiers import container_check_digit  # noqa: E402
from workbench.demo.names import PersonName  # noqa: E402
from workbench.demo.vocabulary import (  # noqa: E402
    COMMODITIES, COMPANY_FORMS, COMPANY_TRADES, COMPANY_WORDS, CONTAINER_OWNERS, GIVEN_NAMES, LOCATIONS, SURNAMES,
    VESSEL_PREFIXES, VESSEL_WORDS,
)
from workbench.lake.documents import Document  # noqa: E402
from workbench.nlp.embed import DIMENSION, ChunkIndexer, embedding_version, pack, unpack  # noqa: E402
from workbench.nlp.encoder import ENCODER_DIR, convert  # noqa: E402
from workbench.nlp.models import model_cache  # noqa: E402
from workbench.nlp.search import search  # noqa: E402
from workbench.nlp.tagger import split_words  # noqa: E402

def _pick(rng: np.random.Generator, items):  # noqa: ANN001, ANN202
    return items[int(rng.integers(0, len(items)))]


def parallel_values(rng: np.random.Generator) -> tuple[dict, dict]:
    """One set of entities written in English and in Chinese (slot -> (text, label))."""
    def person() -> PersonName:
        return PersonName(int(rng.integers(0, len(SURNAMES))), int(rng.integers(0, len(GIVEN_NAMES))), False)

    p1, p2 = person(), person()
    word, trade = _pick(rng, COMPANY_WORDS), _pick(rng, COMPANY_TRADES)
    place, goods = _pick(rng, LOCATIONS), _pick(rng, COMMODITIES)
    owner = _pick(rng, CONTAINER_OWNERS) + f"{int(rng.integers(0, 1_000_000)):06d}"
    amount, weight = float(rng.uniform(1e5, 5e7)), int(rng.integers(50, 3000))
    shared = {"VESSEL": f"{_pick(rng, VESSEL_PREFIXES)} {_pick(rng, VESSEL_WORDS)}",
              "PLATE": f"{'ABCDEFGHJKLMNPRSTUVWXYZ'[int(rng.integers(0, 23))]}{'ABCDEFGHJKLMNPRSTUVWXYZ'[int(rng.integers(0, 23))]} {int(rng.integers(1, 9999))}",
              "CONTAINER": owner + str(container_check_digit(owner)),
              "PHONE": f"+852 {int(rng.integers(5, 10))}{int(rng.integers(0, 10_000_000)):07d}"}
    en = {"PERSON": p1.en, "PERSON2": p2.en, "ORG": f"{word[0]} {trade[0]} {_pick(rng, COMPANY_FORMS)}",
          "LOCATION": place.name_en, "COMMODITY": goods.desc_en.lower(), "MONEY": money_en(amount),
          "N": f"{weight:,} kg", **shared}
    zh = {"PERSON": p1.zh, "PERSON2": p2.zh, "ORG": f"{word[1]}{trade[1]}有限公司", "LOCATION": place.name_zh,
          "COMMODITY": goods.desc_zh, "MONEY": money_zh(amount, rng), "N": f"{weight}公斤", **shared}
    return ({k: (v, None) for k, v in en.items()}, {k: (v, None) for k, v in zh.items()})


def parallel_documents(pairs: int, seed: int) -> list[tuple[Document, Document, str, str]]:
    """(EN doc, ZH doc, EN first sentence, ZH first sentence) built from aligned templates."""
    rng = np.random.default_rng(seed)
    out = []
    stamp = datetime(2024, 1, 1)
    for i in range(pairs):
        en_values, zh_values = parallel_values(rng)
        chosen = [int(t) for t in rng.choice(len(EN_TEMPLATES), int(rng.integers(3, 6)), replace=False)]
        en_text, _ = render([EN_TEMPLATES[t] for t in chosen], en_values, " ")
        zh_text, _ = render([ZH_TEMPLATES[t] for t in chosen], zh_values, "")
        en_query, _ = render([EN_TEMPLATES[chosen[0]]], en_values, " ")
        zh_query, _ = render([ZH_TEMPLATES[chosen[0]]], zh_values, "")
        docs = [Document(doc_id=f"P{i:04d}{lang.upper()}", kind="intel_note", language=lang, title=f"pair {i} {lang}",
                         source="bench", published_at=stamp, text=text)
                for lang, text in (("en", en_text), ("zh", zh_text))]
        out.append((docs[0], docs[1], en_query, zh_query))
    return out


def _words(text: str) -> list[str]:
    return [text[a:b].lower() for a, b in split_words(text)]


def bm25_ranker(chunks: pl.DataFrame) -> Callable[[str, str], list[str]]:
    """Documents of a language ranked by their best chunk's BM25 score for a query (the keyword baseline)."""
    from rank_bm25 import BM25Okapi

    by_language = {}
    for language, part in chunks.group_by("language"):
        by_language[language[0]] = (BM25Okapi([_words(t) for t in part["text"]]), part["doc_id"].to_list())

    def rank(query: str, language: str) -> list[str]:
        model, ids = by_language[language]
        scores = model.get_scores(_words(query))
        best = pl.DataFrame({"doc_id": ids, "score": scores}).group_by("doc_id").agg(pl.col("score").max())
        return best.sort("score", descending=True)["doc_id"].to_list()

    return rank


def recall_and_mrr(ranked: list[list[str]], targets: list[str], k: int = 5) -> dict[str, float]:
    ranks = [r.index(t) + 1 if t in r else None for r, t in zip(ranked, targets)]
    return {f"recall@{k}": round(sum(1 for r in ranks if r and r <= k) / len(ranks), 3),
            "mrr": round(sum(1 / r for r in ranks if r) / len(ranks), 3)}


def quality(pairs: int, seed: int, encoder: Path) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        wb = workbench.connect(f"{tmp}/lake", user="bench")
        data = parallel_documents(pairs, seed)
        wb.documents.add([d for en, zh, _, _ in data for d in (en, zh)])
        started = time.perf_counter()
        counts = ChunkIndexer(encoder).update(wb)
        index_seconds = time.perf_counter() - started
        chunks = wb.sql("SELECT c.doc_id, c.text, d.language FROM curated.document_chunks c "
                        "JOIN documents.index d USING (doc_id)")
        bm25 = bm25_ranker(chunks)
        report: dict = {"pairs": pairs, "documents": counts["documents"], "chunks": counts["rows"],
                        "index_docs_per_second_1_thread": round(counts["documents"] / index_seconds, 1),
                        "model_version": embedding_version()}
        latencies = []
        for direction, source, target, language in (("en->zh", 2, 1, "zh"), ("zh->en", 3, 0, "en")):
            queries = [row[source] for row in data]
            targets = [row[target].doc_id for row in data]
            ranked = []
            for q in queries:
                started = time.perf_counter()
                ranked.append(search(wb, q, k=pairs, language=language, model_dir=encoder)["doc_id"].to_list())
                latencies.append(time.perf_counter() - started)
            report[direction] = {"e5": recall_and_mrr(ranked, targets),
                                 "bm25_baseline": recall_and_mrr([bm25(q, language) for q in queries], targets)}
        report["search_ms_median"] = round(1000 * statistics.median(latencies[1:]), 1)
        return report


def _median_seconds(fn: Callable[[], object], repeat: int = 7) -> float:
    fn()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def speed(sizes: list[int], seed: int) -> dict:
    """numpy mat-vec top-10 against DuckDB array_cosine_similarity top-10 over the same vectors."""
    import duckdb
    import pyarrow as pa

    rng = np.random.default_rng(seed)
    out = {}
    for n in sizes:
        vectors = rng.standard_normal((n, DIMENSION), dtype=np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        query = vectors[0] + 0.1 * rng.standard_normal(DIMENSION, dtype=np.float32)
        query /= np.linalg.norm(query)

        def numpy_top10() -> list[int]:
            scores = vectors @ query
            top = np.argpartition(-scores, 10)[:10]
            return top[np.argsort(-scores[top])].tolist()

        con = duckdb.connect()
        embedding = pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), DIMENSION)
        chunks = pa.table({"id": pa.array(np.arange(n)), "embedding": embedding})
        con.register("chunks", chunks)
        sql = (f"SELECT id FROM chunks ORDER BY array_cosine_similarity(embedding, $q::FLOAT[{DIMENSION}]) DESC "
               "LIMIT 10")

        def duckdb_top10() -> list[int]:
            return [r[0] for r in con.execute(sql, {"q": query.tolist()}).fetchall()]

        assert numpy_top10()[:3] == duckdb_top10()[:3], "both find the same neighbours"
        stored = pl.Series(pack(vectors))
        numpy_s, duckdb_s = _median_seconds(numpy_top10), _median_seconds(duckdb_top10)
        out[f"{n}_chunks"] = {"numpy_ms": round(1000 * numpy_s, 2), "duckdb_ms": round(1000 * duckdb_s, 2),
                              "duckdb_over_numpy": round(duckdb_s / numpy_s, 1),
                              "decode_stored_column_ms_once_per_version": round(
                                  1000 * _median_seconds(lambda: unpack(stored), repeat=3), 1)}
        con.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=100, help="Parallel EN/ZH document pairs to generate.")
    parser.add_argument("--sizes", default="10000,100000", help="Chunk counts for the scoring speed comparison.")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--encoder", type=Path, default=None, help="A converted encoder folder (else converted here).")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        encoder = args.encoder or convert(model_cache(workbench.connect(f"{tmp}/cache", user="bench")) / ENCODER_DIR)
        report = {"quality": quality(args.pairs, args.seed, encoder),
                  "speed": speed([int(s) for s in args.sizes.split(",")], args.seed)}
    print(json.dumps(report, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
