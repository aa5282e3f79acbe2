"""The resolver every record goes through: keys, a splink model estimated from the data, clusters.

One path for all callers: ``workbench network resolve --input`` (any CSV of records), the
lake's mentions (``resolution.resolve``) and the FEBRL4 benchmark all build a frame of
records (``record_id``, ``source_system``, ``names``, ``address``, ``phone``, ``id_no``, and
optionally ``kind`` and ``register``) and call ``link``.

The model is one declarative splink settings object (``model_settings``) compiled to SQL
for DuckDB. Its m and u probabilities are **estimated from the records being resolved**:
u by random sampling of record pairs (``estimate_u_using_random_sampling``: how often two
unrelated records agree by chance), m by expectation maximisation on blocked pairs (one
session blocked on shared identifiers, which trains the name and address comparisons, one
blocked on shared names, which trains the identifier comparisons). The only fixed prior is
the recall assumed for the deterministic rules that estimate how likely two random records
are a match (``PRIOR_RULE_RECALL``, justified below). Comparisons of a column that holds no
value in the data are left out, so a file with names only is resolved on names alone.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

import networkx as nx
import polars as pl

from workbench.graph.names import name_keys
from workbench.graph.normalise import address_area, address_numbers, phone_key, registration_key

THRESHOLD = 0.5
"""Match probability above which two records are linked (more likely the same entity than not)."""
PRIOR_RULE_RECALL = 0.6
"""Share of true matches the deterministic rules (same identifier, same phone, same name key)
are assumed to find when estimating the prior match probability. Systems share identifiers
and phones for only part of their records and names vary, so well under 1; the estimate only
moves the prior, which EM and the evidence of each pair then dominate."""
U_SAMPLE_PAIRS = 1_000_000
"""Random pairs drawn to estimate u (more than all pairs of a file of 1,400 records)."""

FULL_EM_PAIRS = 5_000_000
"""Up to this many record pairs, EM runs over every pair and estimates u as well as m.

Random-sampling u counts the true matches among the sampled pairs as chance agreement; that
bias is negligible in a large file (matches are a vanishing share of all pairs) but not in
a small one where each entity has several records (in a 171-record file 1.2% of all pairs
are matches, and they sit in the levels that matter, inflating u there about tenfold)."""

FEATURES = ("unique_id", "source_system", "register", "kind", "key_en", "key_yue", "key_cmn", "brand_en", "brand_yue", "brands",
            "brand_heads", "brand_tails", "trade", "trades", "id_no", "phone", "addr_nums", "addr_area")
LIST_FEATURES = ("brands", "brand_heads", "brand_tails", "trades")


def features(records: pl.DataFrame) -> pl.DataFrame:
    """The comparison columns of every record (one row per ``record_id``, renamed ``unique_id``)."""
    rows = []
    kinds = records["kind"] if "kind" in records.columns else pl.Series([None] * records.height)
    registers = records["register"] if "register" in records.columns else records["record_id"]
    for rec, kind, register in zip(records.iter_rows(named=True), kinds, registers, strict=True):
        keys = name_keys(rec["names"], None if kind is None else kind == "company")
        brands = sorted({b for b in (keys.brand_en, keys.brand_yue, keys.brand_cmn) if b})
        rows.append({
            "unique_id": rec["record_id"], "source_system": rec.get("source_system") or "",
            "register": register, "kind": kind or ("company" if keys.company else "person"),
            "key_en": keys.key_en, "key_yue": keys.key_yue, "key_cmn": keys.key_cmn,
            "brand_en": keys.brand_en, "brand_yue": keys.brand_yue, "brands": brands,
            "brand_heads": sorted({b[:4] for b in brands}), "brand_tails": sorted({b[-4:] for b in brands}),
            "trade": keys.trade, "trades": keys.trade.split() if keys.trade else [],
            "id_no": registration_key(rec.get("id_no")), "phone": phone_key(rec.get("phone")),
            "addr_nums": address_numbers(rec.get("address")), "addr_area": address_area(rec.get("address")),
        })
    schema = {c: pl.Utf8 for c in FEATURES} | {c: pl.List(pl.Utf8) for c in LIST_FEATURES}
    return pl.DataFrame(rows, schema=schema)


def present(frame: pl.DataFrame, column: str) -> bool:
    return frame[column].null_count() < frame.height


def _level(label: str, sql: str) -> dict[str, object]:
    return {"sql_condition": sql, "label_for_charts": label}


def _null(sql: str) -> dict[str, object]:
    return {"sql_condition": sql, "label_for_charts": "null", "is_null_level": True}


def _name_similarity() -> str:
    """Best Jaro-Winkler similarity over the readings of the two names (English, Cantonese, Mandarin)."""
    slots = ("key_en", "key_yue", "key_cmn")
    return "greatest(" + ", ".join(
        f'jaro_winkler_similarity("{a}_l", "{b}_r")' for a in slots for b in slots) + ")"


SAME_BRAND = 'len(list_intersect("brands_l", "brands_r")) > 0'
SAME_TRADE = 'coalesce("trade_l", \'\') = coalesce("trade_r", \'\')'
CONFLICTING_TRADE = 'len("trades_l") > 0 AND len("trades_r") > 0 AND len(list_intersect("trades_l", "trades_r")) = 0'
"""Both names say what the company does and they share no trade word (``Trading`` / ``Logistics``)."""
CROSS_SCRIPT = ('"kind_l" = \'company\' AND "kind_r" = \'company\' AND '
                '("key_en_l" IS NULL) <> ("key_en_r" IS NULL) AND ("key_yue_l" IS NULL) <> ("key_yue_r" IS NULL)')
"""Two company names, one written only in Latin letters, the other only in Chinese characters."""


def name_comparison(frame: pl.DataFrame | None = None, company_rules: bool = True) -> dict[str, object]:
    """Names: same brand and trade words, same brand only, close spellings, different scripts, else.

    A near-name distractor (``Wing Fat Trading`` vs ``Wing Fat Logistics``; ``Wing Fat`` vs
    ``Wing Tat``) falls to a lower level than a re-spelling of one name, and EM learns how
    much each level is worth from the data. Two general facts shape the levels:

    - names whose **trade words conflict** (both say what the company does and no word
      agrees: ``Hang Cheong Foods`` / ``Hang Cheong Hardware``) name different companies
      however alike their brands are: a sister company or a namesake, not a re-spelling. No
      level that rewards a similar brand takes them; they fall to "else". (Left to EM, such
      rare pairs without other evidence are drawn into the match class of a small file.)
    - a name in Chinese characters and one in Latin letters whose readings do not meet are
      not evidence against a match the way two unlike English names are: a Hong Kong
      company's English name is often a translation or a brand (``皇冠`` = ``Crown``,
      ``亞太`` = ``Asia Pacific``), not a reading. Such pairs fall to "different scripts"
      levels (split by whether the trade words agree) instead of "else", so their weight is
      learnt from cross-script pairs alone. The levels exist only when the records hold
      names in both scripts.

    ``company_rules=False`` leaves both out (the levels before them are unchanged). The
    lake's mentions need that for now: there person and company names share this one
    comparison, and on a scale-1 world moving the many namesake-company pairs to "else"
    shifts EM so far that a common person name alone links two people (pairwise precision
    .98 -> .57 on the world, ring-member precision of detection .92 -> .48). Person names
    need a comparison of their own (with term-frequency adjustment) before the lake can
    take these rules; record files (companies, or people as in FEBRL4) take them.
    """
    similarity = _name_similarity()
    agree = f" AND NOT ({CONFLICTING_TRADE})" if company_rules else ""
    scripts = company_rules and (frame is None or (present(frame, "key_en") and present(frame, "key_yue")))
    cross = [_level("different scripts, same trade words", f'{CROSS_SCRIPT} AND {SAME_TRADE} AND "trade_l" IS NOT NULL'),
             _level("different scripts", f"{CROSS_SCRIPT}{agree}")] if scripts else []
    return {
        "output_column_name": "name",
        "comparison_levels": [
            _null(" OR ".join(f'coalesce("key_en_{s}", "key_yue_{s}", "key_cmn_{s}") IS NULL' for s in "lr")),
            _level("same brand, same trade words", f"{SAME_BRAND} AND {SAME_TRADE}"),
            _level("spelling >= 0.95, same trade words", f"{similarity} >= 0.95 AND {SAME_TRADE}"),
            _level("same brand, other trade words", f"{SAME_BRAND}{agree}"),
            _level("spelling >= 0.9", f"{similarity} >= 0.9{agree}"),
            *cross,
            _level("spelling >= 0.8", f"{similarity} >= 0.8{agree}"),
            _level("else", "ELSE"),
        ],
    }


def identifier_comparison(column: str, label: str, fuzzy: bool) -> dict[str, object]:
    levels = [_null(f'"{column}_l" IS NULL OR "{column}_r" IS NULL'), _level("exact", f'"{column}_l" = "{column}_r"')]
    if fuzzy:
        levels.append(_level("one edit", f'damerau_levenshtein("{column}_l", "{column}_r") <= 1'))
    return {"output_column_name": label, "comparison_levels": [*levels, _level("else", "ELSE")]}


def address_comparison() -> dict[str, object]:
    """Addresses: same numbers on the same street or district; same numbers; numbers a typo or two apart; same street; else."""
    nums = '"addr_nums_l" = "addr_nums_r"'
    area = '"addr_area_l" = "addr_area_r"'
    return {
        "output_column_name": "address",
        "comparison_levels": [
            _null('("addr_nums_l" IS NULL AND "addr_area_l" IS NULL) OR ("addr_nums_r" IS NULL AND "addr_area_r" IS NULL)'),
            _level("same numbers and place", f"{nums} AND {area}"),
            _level("same numbers", nums),
            _level("numbers one or two typos apart", f'damerau_levenshtein("addr_nums_l", "addr_nums_r") <= 2'),
            _level("same place", area),
            _level("else", "ELSE"),
        ],
    }


BLOCKING = {
    "id_no": "l.id_no = r.id_no",
    "phone": "l.phone = r.phone",
    "addr_nums": "l.addr_nums = r.addr_nums AND length(l.addr_nums) > 4",
}
"""Candidate pairs: records sharing an identifier, a phone or a detailed address, plus (list
columns, exploded) a name key or the first or last four letters of one."""


def model_settings(frame: pl.DataFrame, same_kind: bool = False) -> dict[str, object]:
    """The splink settings for these records: comparisons of the columns that hold values, no fixed m/u.

    ``same_kind``: only pair records of one kind (company or person), for sources that say
    which each record is (a file of names alone does not, and a company written without a
    legal form would read as a person).
    """
    comparisons = [name_comparison(frame, company_rules=not same_kind)]
    if present(frame, "id_no"):
        comparisons.append(identifier_comparison("id_no", "id_no", fuzzy=True))
    if present(frame, "phone"):
        comparisons.append(identifier_comparison("phone", "phone", fuzzy=False))
    if present(frame, "addr_nums") or present(frame, "addr_area"):
        comparisons.append(address_comparison())
    distinct = "l.register <> r.register" + (" AND l.kind = r.kind" if same_kind else "")
    rules: list[dict[str, object]] = [
        {"blocking_rule": f"{sql} AND {distinct}"} for col, sql in BLOCKING.items() if present(frame, col)]
    rules += [{"blocking_rule": f"l.{col} = r.{col} AND {distinct}", "arrays_to_explode": [col]}
              for col in ("brands", "brand_heads", "brand_tails")]
    return {
        "link_type": "dedupe_only",
        "unique_id_column_name": "unique_id",
        "blocking_rules_to_generate_predictions": rules,
        "comparisons": comparisons,
        "retain_intermediate_calculation_columns": False,
        "retain_matching_columns": False,
        "additional_columns_to_retain": [],
    }


@dataclass(frozen=True)
class Model:
    """A linker's trained parameters, kept so a run can say what it learnt."""

    settings: dict[str, object]
    prior: float


def score_pairs(frame: pl.DataFrame, floor: float = 0.01, same_kind: bool = False) -> tuple[pl.DataFrame, Model]:
    """Scored candidate pairs ``unique_id_l, unique_id_r, match_probability`` and the trained model."""
    from splink import DuckDBAPI, Linker

    settings = model_settings(frame, same_kind)
    db = DuckDBAPI()
    linker = Linker(db.register(frame.select(FEATURES).to_arrow()), settings, log_level=logging.ERROR)
    deterministic = [r["blocking_rule"] for r in settings["blocking_rules_to_generate_predictions"]
                     if "arrays_to_explode" not in r and "addr_nums" not in str(r["blocking_rule"])]
    deterministic.append("l.key_en = r.key_en OR l.key_yue = r.key_yue OR l.key_en = r.key_yue OR l.key_yue = r.key_en")
    try:
        linker.training.estimate_probability_two_random_records_match(deterministic, recall=PRIOR_RULE_RECALL)
    except ValueError:  # a tiny file where the rules already find more pairs than the assumed recall allows
        linker.training.estimate_probability_two_random_records_match(deterministic, recall=1.0)
    linker.training.estimate_u_using_random_sampling(max_pairs=U_SAMPLE_PAIRS, seed=1)
    all_pairs = frame.height * (frame.height - 1) // 2
    full_em = all_pairs <= FULL_EM_PAIRS
    if full_em:
        try:
            linker.training.estimate_parameters_using_expectation_maximisation("1=1", fix_u_probabilities=False)
        except Exception as exc:  # a level seen only among matches drives u to 0; a tiny file gives NaN weights
            logging.getLogger(__name__).info("EM over all pairs failed (%s); EM on blocked pairs instead", exc)
            full_em = False
    if not full_em:
        for rule in _em_rules(frame):
            try:
                linker.training.estimate_parameters_using_expectation_maximisation(rule)
            except Exception as exc:  # splink refuses a session whose blocked pairs are too few to learn from
                logging.getLogger(__name__).info("EM session %s skipped: %s", rule, exc)
    trained = linker.misc.save_model_to_json()
    try:
        predictions = linker.inference.predict(threshold_match_probability=floor)
        pairs = pl.from_arrow(predictions.as_duckdbpyrelation().select(
            "unique_id_l, unique_id_r, match_probability").arrow())
    except Exception as exc:  # too few records to estimate anything (NaN weights): the deterministic rules decide
        logging.getLogger(__name__).info("no model could be estimated from %d records (%s)", frame.height, exc)
        return deterministic_pairs(frame), Model(trained, float("nan"))
    assert isinstance(pairs, pl.DataFrame)
    return pairs, Model(trained, float(trained.get("probability_two_random_records_match", 0.0)))


def deterministic_pairs(frame: pl.DataFrame) -> pl.DataFrame:
    """Pairs that share an identifier, a phone or a name reading, at probability 1 (for files too small to learn from)."""
    keys = frame.select("unique_id", "register", pl.concat_list(
        pl.lit("id:") + pl.col("id_no"), pl.lit("phone:") + pl.col("phone"), *(pl.lit("name:") + pl.col(c) for c in (
            "key_en", "key_yue", "key_cmn"))).list.drop_nulls().alias("key")).explode("key").drop_nulls("key")
    joined = keys.join(keys, on="key", suffix="_r").filter(
        (pl.col("unique_id") < pl.col("unique_id_r")) & (pl.col("register") != pl.col("register_r")))
    return joined.select(pl.col("unique_id").alias("unique_id_l"), "unique_id_r",
                         pl.lit(1.0).alias("match_probability")).unique()


def _em_rules(frame: pl.DataFrame) -> list[str]:
    """EM sessions: blocked on identifiers (trains names and addresses), then on names (trains identifiers)."""
    rules: list[str] = []
    ids = [c for c in ("id_no", "phone") if present(frame, c)]
    if ids:
        rules.append(" OR ".join(f"l.{c} = r.{c}" for c in ids))
    elif present(frame, "addr_nums"):
        rules.append("l.addr_nums = r.addr_nums")
    rules += ["l.brand_en = r.brand_en", "l.brand_en = r.brand_yue OR l.brand_yue = r.brand_en"]
    return rules


def cluster(ids: Iterable[str], pairs: pl.DataFrame, threshold: float = THRESHOLD,
            accepted: Iterable[tuple[str, str]] = (), rejected: Iterable[tuple[str, str]] = (),
            registers: dict[str, str] | None = None) -> dict[str, str]:
    """Connected components of pairs at ``threshold``, with accepted merges added and rejected ones cut.

    With ``registers`` (record -> master register), a record keeps only its single strongest
    link into each register (``best_register_links``). A rejected pair still joined through
    third records is separated by removing the weakest link on the path until none is left.
    """
    graph = nx.Graph()
    graph.add_nodes_from(ids)
    strong = pairs.filter(pl.col("match_probability") >= threshold)
    if registers:
        strong = best_register_links(strong, registers)
    for left, right, p in strong.select("unique_id_l", "unique_id_r", "match_probability").iter_rows():
        graph.add_edge(left, right, p=p)
    for left, right in accepted:
        if left in graph and right in graph:
            graph.add_edge(left, right, p=1.0)
    for left, right in rejected:
        if graph.has_edge(left, right):
            graph.remove_edge(left, right)
        while left in graph and right in graph and nx.has_path(graph, left, right):
            path = nx.shortest_path(graph, left, right)
            weakest = min(zip(path, path[1:]), key=lambda e: graph.edges[e]["p"])
            graph.remove_edge(*weakest)
    return {node: root for comp in nx.connected_components(graph) for root in [min(comp)] for node in comp}


def best_register_links(pairs: pl.DataFrame, registers: dict[str, str]) -> pl.DataFrame:
    """Keep, for each record, only its single strongest link into each master register.

    A cash declaration naming ``Chung Wah Logistics`` may match two namesake traders
    equally; linking it to both would chain two register entries into one entity. A tie
    for the best link is ambiguous and drops both.
    """
    both = pl.concat([
        pairs.select(pl.col("unique_id_l").alias("rec"), pl.col("unique_id_r").alias("other"), "match_probability"),
        pairs.select(pl.col("unique_id_r").alias("rec"), pl.col("unique_id_l").alias("other"), "match_probability"),
    ]).with_columns(pl.col("other").replace_strict(registers, default=pl.col("other")).alias("register"))
    ranked = both.filter(pl.col("register") != pl.col("other")).with_columns(
        pl.col("match_probability").max().over("rec", "register").alias("best"),
        pl.len().over("rec", "register", "match_probability").alias("ties"),
    )
    drop = ranked.filter((pl.col("match_probability") < pl.col("best")) | (pl.col("ties") > 1)).select(
        pl.min_horizontal("rec", "other").alias("unique_id_l"), pl.max_horizontal("rec", "other").alias("unique_id_r"))
    ordered = pairs.with_columns(
        pl.min_horizontal("unique_id_l", "unique_id_r").alias("unique_id_l"),
        pl.max_horizontal("unique_id_l", "unique_id_r").alias("unique_id_r"))
    return ordered.join(drop, on=["unique_id_l", "unique_id_r"], how="anti")


@dataclass(frozen=True)
class Linked:
    """Records with their cluster root, the scored pairs and the model that scored them."""

    roots: dict[str, str]
    pairs: pl.DataFrame
    features: pl.DataFrame
    model: Model


def link(records: pl.DataFrame, threshold: float = THRESHOLD, accepted: Iterable[tuple[str, str]] = (),
         rejected: Iterable[tuple[str, str]] = ()) -> Linked:
    """Resolve records (see the module docstring for the columns) into clusters."""
    frame = features(records)
    ids = frame["unique_id"].to_list()
    if frame.height < 2:
        empty = pl.DataFrame(schema={"unique_id_l": pl.Utf8, "unique_id_r": pl.Utf8, "match_probability": pl.Float64})
        return Linked({i: i for i in ids}, empty, frame, Model({}, 0.0))
    pairs, model = score_pairs(frame, same_kind="kind" in records.columns)
    registers = dict(zip(ids, frame["register"].to_list(), strict=True)) if "register" in records.columns else None
    roots = cluster(ids, pairs, threshold, accepted, rejected, registers)
    return Linked(roots, pairs, frame, model)
