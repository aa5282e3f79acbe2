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
import math
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

import networkx as nx
import numpy as np
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

FEATURES = ("unique_id", "source_system", "register", "kind", "key_en", "key_yue", "key_cmn", "name_key", "brand_en",
            "brand_yue", "brands", "brand_heads", "brand_tails", "trade", "trades", "keys", "initial_keys", "written", "id_no",
            "phone", "addr_nums", "addr_area")
LIST_FEATURES = ("brands", "brand_heads", "brand_tails", "trades", "keys", "initial_keys", "written")


def written(name: str | None) -> str | None:
    """A name as written, legal form and all, with only case, width and punctuation set aside."""
    words = re.findall(r"\w+", unicodedata.normalize("NFKC", name or "").upper())
    return " ".join(words) or None


def initial_keys(keys: Iterable[str | None]) -> list[str]:
    """A person's name read as initials plus one whole word, once per word and reading: ``WU J`` -> ``JW|WU``.

    Systems shorten given names to initials (``WU J``, ``NG M``) and reorder them
    (``Junjie Wu``); two spellings of one person then still share the sorted initials of
    all their words and at least one whole word (the surname, as a rule).
    """
    out: set[str] = set()
    for key in keys:
        if key:
            words = key.split()
            initials = "".join(sorted(w[0] for w in words))
            out.update(f"{initials}|{w}" for w in words if len(w) > 1)
    return sorted(out)


def features(records: pl.DataFrame) -> pl.DataFrame:
    """The comparison columns of every record (one row per ``record_id``, renamed ``unique_id``)."""
    rows = []
    kinds = records["kind"] if "kind" in records.columns else pl.Series([None] * records.height)
    registers = records["register"] if "register" in records.columns else records["record_id"]
    for rec, kind, register in zip(records.iter_rows(named=True), kinds, registers, strict=True):
        keys = name_keys(rec["names"], None if kind is None else kind == "company")
        brands = sorted({b for b in (keys.brand_en, keys.brand_yue, keys.brand_cmn) if b})
        readings = (keys.key_en, keys.key_yue, keys.key_cmn)
        kind = kind or ("company" if keys.company else "person")
        rows.append({
            "unique_id": rec["record_id"], "source_system": rec.get("source_system") or "",
            "register": register, "kind": kind,
            "key_en": keys.key_en, "key_yue": keys.key_yue, "key_cmn": keys.key_cmn,
            "name_key": next((k for k in readings if k), None), "keys": sorted({k for k in readings if k}),
            "initial_keys": initial_keys(readings) if kind == "person" else [],
            "written": sorted({w for w in map(written, rec["names"] or []) if w}),
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


def name_comparison(frame: pl.DataFrame | None = None, kind: str | None = None) -> dict[str, object]:
    """Names: company names by brand and trade words, person names by reading, spelling and initials.

    A near-name distractor (``Wing Fat Trading`` vs ``Wing Fat Logistics``; ``Wing Fat`` vs
    ``Wing Tat``) falls to a lower level than a re-spelling of one name, and EM learns how
    much each level is worth from the data. Two general facts shape the company levels:

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

    ``kind="person"`` (records known to be people, as the lake's mentions say): person names
    have no brand or trade words; they agree in a reading (``MAK Ka Yan`` / ``麥嘉欣``), in
    spelling, or in initials plus a whole word (``WU J`` / ``Junjie Wu``). The exact level
    carries splink's **term-frequency adjustment** on the name: two people share a common
    name far more often than two companies share a full name, and agreeing on a name one
    record in a thousand carries is worth more than agreeing on ``CHAN Tai Man``.
    """
    similarity = _name_similarity()
    agree = f" AND NOT ({CONFLICTING_TRADE})"
    scripts = frame is None or (present(frame, "key_en") and present(frame, "key_yue"))
    cross = [_level("different scripts, same trade words", f'{CROSS_SCRIPT} AND {SAME_TRADE} AND "trade_l" IS NOT NULL'),
             _level("different scripts", f"{CROSS_SCRIPT}{agree}")] if scripts else []
    company = [
        _level("same name as written", SAME_WRITTEN),
        _level("same brand, same trade words", f"{SAME_BRAND} AND {SAME_TRADE}"),
        _level("spelling >= 0.95, same trade words", f"{similarity} >= 0.95 AND {SAME_TRADE}"),
        _level("same brand, other trade words", f"{SAME_BRAND}{agree}"),
        _level("spelling >= 0.9", f"{similarity} >= 0.9{agree}"),
        *cross,
        _level("spelling >= 0.8", f"{similarity} >= 0.8{agree}"),
    ]
    person = [
        {**_level("same name", SAME_KEY), "tf_adjustment_column": "name_key", "disable_tf_exact_match_detection": True},
        _level("spelling >= 0.92", f"{similarity} >= 0.92"),
        _level("same initials and a same word", SAME_INITIALS),
        _level("spelling >= 0.85", f"{similarity} >= 0.85"),
    ]
    return {
        "output_column_name": "name",
        "comparison_levels": [
            _null(" OR ".join(f'coalesce("key_en_{s}", "key_yue_{s}", "key_cmn_{s}") IS NULL' for s in "lr")),
            *(person if kind == "person" else company),
            _level("else", "ELSE"),
        ],
    }


SAME_WRITTEN = 'len(list_intersect("written_l", "written_r")) > 0'
"""The very same name, legal form included: where a register holds namesakes that differ only in
their legal form (``Tai Sang Enterprise Limited`` / ``Tai Sang Enterprise Co., Limited``), a record
that copies one of them letter for letter points to that one."""
SAME_KEY = 'len(list_intersect("keys_l", "keys_r")) > 0'
"""The two names agree in some reading (``MAK Ka Yan`` and ``麥嘉欣`` read in Cantonese)."""
SAME_INITIALS = 'len(list_intersect("initial_keys_l", "initial_keys_r")) > 0'
"""Same initials of every word and one same whole word (``WU J`` and ``Junjie Wu``; see ``initial_keys``)."""


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
            _level("numbers one or two typos apart", 'damerau_levenshtein("addr_nums_l", "addr_nums_r") <= 2'),
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


def model_settings(frame: pl.DataFrame, kind: str | None = None) -> dict[str, object]:
    """The splink settings for these records: comparisons of the columns that hold values, no fixed m/u.

    ``kind``: every record is known to be of this kind (``company`` or ``person``); person
    names are compared as such and also blocked on their readings and initials (see
    ``name_comparison``). A file of names alone does not say (a company written without a
    legal form would read as a person), so it is compared on the company levels, which
    also serve people (FEBRL4).
    """
    comparisons = [name_comparison(frame, kind)]
    if present(frame, "id_no"):
        comparisons.append(identifier_comparison("id_no", "id_no", fuzzy=True))
    if present(frame, "phone"):
        comparisons.append(identifier_comparison("phone", "phone", fuzzy=False))
    if present(frame, "addr_nums") or present(frame, "addr_area"):
        comparisons.append(address_comparison())
    distinct = "l.register <> r.register"
    rules: list[dict[str, object]] = [
        {"blocking_rule": f"{sql} AND {distinct}"} for col, sql in BLOCKING.items() if present(frame, col)]
    rules += [{"blocking_rule": f"l.{col} = r.{col} AND {distinct}", "arrays_to_explode": [col]}
              for col in ("brands", "brand_heads", "brand_tails", *(("keys", "initial_keys") if kind == "person" else ()))]
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


def score_pairs(frame: pl.DataFrame, floor: float = 0.01, kind: str | None = None) -> tuple[pl.DataFrame, Model]:
    """Scored candidate pairs ``unique_id_l, unique_id_r, match_probability`` and the trained model.

    A small file is trained by EM over all its pairs, a large one on blocked pairs; for
    people known to be people the prior is then refitted (``reestimate_prior``). Not for
    companies or files of unknown kind: there the refit lowered the prior below what a
    full company name alone can reach. Random-sampling u counts the many matching pairs
    of a company named on many cash declarations as chance agreement, so a name's weight
    is understated; correcting u for it (``u - lambda m``) and the prior together swung
    between two answers on worlds of one generator (company recall .80 and .20), so it
    was left out, and FEBRL4 fell from .990 to .84 with it.
    """
    from splink import DuckDBAPI, Linker

    settings = model_settings(frame, kind)
    db = DuckDBAPI()
    all_pairs = frame.height * (frame.height - 1) // 2
    full_em = all_pairs <= FULL_EM_PAIRS
    linker = Linker(db.register(frame.select(FEATURES).to_arrow()), settings, log_level=logging.ERROR)
    deterministic = [r["blocking_rule"] for r in settings["blocking_rules_to_generate_predictions"]
                     if "arrays_to_explode" not in r and "addr_nums" not in str(r["blocking_rule"])]
    deterministic.append("l.key_en = r.key_en OR l.key_yue = r.key_yue OR l.key_en = r.key_yue OR l.key_yue = r.key_en")
    try:
        linker.training.estimate_probability_two_random_records_match(deterministic, recall=PRIOR_RULE_RECALL)
    except ValueError:  # a tiny file where the rules already find more pairs than the assumed recall allows
        linker.training.estimate_probability_two_random_records_match(deterministic, recall=1.0)
    linker.training.estimate_u_using_random_sampling(max_pairs=U_SAMPLE_PAIRS, seed=1)
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
    prior = float(trained.get("probability_two_random_records_match", 0.0))
    try:
        predictions = linker.inference.predict(
            threshold_match_weight=CANDIDATE_FLOOR_WEIGHT if kind == "person" and not full_em else None)
        pairs = pl.from_arrow(predictions.as_duckdbpyrelation().select(
            "unique_id_l, unique_id_r, match_weight, match_probability").arrow())
    except Exception as exc:  # too few records to estimate anything (NaN weights): the deterministic rules decide
        logging.getLogger(__name__).info("no model could be estimated from %d records (%s)", frame.height, exc)
        return deterministic_pairs(frame), Model(trained, float("nan"))
    assert isinstance(pairs, pl.DataFrame)
    if kind == "person" and not full_em:
        pairs, prior = reestimate_prior(pairs, prior, all_pairs)
    return pairs.filter(pl.col("match_probability") >= floor).select(*EMPTY_PAIRS), Model(trained, prior)


CANDIDATE_FLOOR_WEIGHT = -20.0
"""Candidate pairs below this match weight are left out of ``reestimate_prior`` (each adds under 1e-6 expected matches)."""


def _logit2(p: float) -> float:
    return math.log2(p / (1 - p))


def reestimate_prior(pairs: pl.DataFrame, prior: float, all_pairs: int, rounds: int = 200) -> tuple[pl.DataFrame, float]:
    """Candidate pairs re-scored with the prior EM converges to when m and u are held.

    The deterministic rules only start the prior (``PRIOR_RULE_RECALL``), and among people
    far too high: two people with one common name satisfy "same name key" without being one
    person, so namesakes count as matches and a common name alone crossed the threshold (a
    scale-1 world: person pairwise precision .40). EM's own update of the prior,
    ``lambda = sum of match posteriors / all pairs``, iterated over the candidate pairs with
    m and u held, corrects it from the records' evidence (to about 2^-12 from 2^-9 there;
    precision .998). Pairs outside the blocking add almost nothing to the sum.
    """
    evidence = pairs["match_weight"].to_numpy() - _logit2(prior)
    lam = prior
    for _ in range(rounds):
        new = min(max(float((1 / (1 + np.exp2(-(evidence + _logit2(lam))))).sum()) / all_pairs, 1e-12), 0.5)
        converged = abs(math.log2(new) - math.log2(lam)) < 1e-4
        lam = new
        if converged:
            break
    weight = evidence + _logit2(lam)
    return pairs.with_columns(pl.Series("match_weight", weight),
                              pl.Series("match_probability", 1 / (1 + np.exp2(-weight)))), lam


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
    link into each register (``best_register_links``), and two records of one register that
    are still joined through third records are separated: a register is deduplicated by its
    own key, so such a chain (two namesake companies each linked to an abbreviated mention
    of the other) is wrong somewhere. Analysts' decisions come after: an accepted pair is
    joined even across a register's records, and a rejected pair is separated the same way.
    Separating cuts the links of least total match probability between the two (a minimum cut).
    """
    graph = nx.Graph()
    graph.add_nodes_from(ids)
    strong = (best_register_links(pairs, registers) if registers else pairs).filter(
        pl.col("match_probability") >= threshold)
    for left, right, p in strong.select("unique_id_l", "unique_id_r", "match_probability").iter_rows():
        graph.add_edge(left, right, p=p)
    for component in list(nx.connected_components(graph)) if registers else []:
        held: dict[str, list[str]] = {}
        for node in sorted(component):
            if registers.get(node, node) != node:
                held.setdefault(registers[node], []).append(node)
        for nodes in held.values():
            for i, left in enumerate(nodes):
                for right in nodes[i + 1:]:
                    separate(graph, left, right)
    for left, right in accepted:
        if left in graph and right in graph:
            graph.add_edge(left, right, p=1.0)
    for left, right in rejected:
        separate(graph, left, right)
    return {node: root for comp in nx.connected_components(graph) for root in [min(comp)] for node in comp}


def separate(graph: nx.Graph, left: str, right: str) -> None:
    """Remove the links of least total match probability whose loss leaves ``left`` and ``right`` apart."""
    if left not in graph or right not in graph or not nx.has_path(graph, left, right):
        return
    component = graph.subgraph(nx.node_connected_component(graph, left))
    _, (side, _) = nx.minimum_cut(component.to_directed(), left, right, capacity="p")
    graph.remove_edges_from([(u, v) for u, v in component.edges if (u in side) != (v in side)])


def best_register_links(pairs: pl.DataFrame, registers: dict[str, str]) -> pl.DataFrame:
    """Links into master registers re-scored as exclusive alternatives; only each record's best one per register kept.

    A register is deduplicated by its own key, so a cash declaration naming ``Tai Sang
    Enterprise Ltd`` is at most one of the register's namesakes ``Tai Sang Enterprise
    Limited`` and ``Tai Sang Enterprise Co., Limited``. Each link's odds ``p / (1 - p)`` are
    therefore shared with its rivals: ``p' = odds / (1 + sum of the odds of all links from
    the record into that register)``. Two equally good namesakes each fall below one half
    (ambiguous: neither is linked); one clearly better (the name copied letter for letter)
    keeps most of its weight. A link between two register records is judged from both ends.
    """
    odds = pl.col("match_probability") / (1 - pl.col("match_probability").clip(upper_bound=1 - 1e-12))
    both = pl.concat([
        pairs.select(pl.col("unique_id_l").alias("rec"), pl.col("unique_id_r").alias("other"), "match_probability"),
        pairs.select(pl.col("unique_id_r").alias("rec"), pl.col("unique_id_l").alias("other"), "match_probability"),
    ]).with_columns(pl.col("other").replace_strict(registers, default=pl.col("other")).alias("register"))
    shared = both.filter(pl.col("register") != pl.col("other")).with_columns(
        (odds / (1 + odds.sum().over("rec", "register"))).alias("shared"),
        pl.col("match_probability").max().over("rec", "register").alias("best"),
        pl.len().over("rec", "register", "match_probability").alias("ties"),
    ).with_columns(pl.when((pl.col("match_probability") < pl.col("best")) | (pl.col("ties") > 1))
                   .then(0.0).otherwise(pl.col("shared")).alias("shared"))
    judged = shared.group_by(pl.min_horizontal("rec", "other").alias("unique_id_l"),
                             pl.max_horizontal("rec", "other").alias("unique_id_r")).agg(pl.col("shared").min())
    ordered = pairs.with_columns(
        pl.min_horizontal("unique_id_l", "unique_id_r").alias("unique_id_l"),
        pl.max_horizontal("unique_id_l", "unique_id_r").alias("unique_id_r"))
    return ordered.join(judged, on=["unique_id_l", "unique_id_r"], how="left").with_columns(
        pl.coalesce("shared", "match_probability").alias("match_probability")).drop("shared")


EMPTY_PAIRS = {"unique_id_l": pl.Utf8, "unique_id_r": pl.Utf8, "match_probability": pl.Float64}


def score_by_kind(frame: pl.DataFrame, floor: float = 0.01) -> tuple[pl.DataFrame, dict[str, Model]]:
    """Pairs of records that say their kind, scored by one model per kind (companies, people).

    A model of its own per kind, rather than one model over both: m, u and the prior are
    then estimated for company names and for person names apart. In one model the EM
    session blocked on identity documents sees mostly people, so it learnt that a full
    company-name agreement is rare among matches, and two records naming one company with
    no phone or BR number (a cash declaration and its trader) never reached a match.
    """
    scored, models = [pl.DataFrame(schema=EMPTY_PAIRS)], {}
    for (kind,), part in frame.group_by("kind", maintain_order=True):
        if part.height >= 2:
            pairs, models[kind] = score_pairs(part, floor, kind)
            scored.append(pairs.select(*EMPTY_PAIRS).cast(EMPTY_PAIRS))
    return pl.concat(scored), models


@dataclass(frozen=True)
class Linked:
    """Records with their cluster root, the scored pairs and the models that scored them (by kind, or ``all``)."""

    roots: dict[str, str]
    pairs: pl.DataFrame
    features: pl.DataFrame
    models: dict[str, Model]


def link(records: pl.DataFrame, threshold: float = THRESHOLD, accepted: Iterable[tuple[str, str]] = (),
         rejected: Iterable[tuple[str, str]] = ()) -> Linked:
    """Resolve records (see the module docstring for the columns) into clusters.

    Records with a ``kind`` column are only ever paired with records of their kind.
    """
    frame = features(records)
    ids = frame["unique_id"].to_list()
    if frame.height < 2:
        return Linked({i: i for i in ids}, pl.DataFrame(schema=EMPTY_PAIRS), frame, {})
    if "kind" in records.columns:
        pairs, models = score_by_kind(frame)
    else:
        pairs, model = score_pairs(frame)
        models = {"all": model}
    registers = dict(zip(ids, frame["register"].to_list(), strict=True)) if "register" in records.columns else None
    roots = cluster(ids, pairs, threshold, accepted, rejected, registers)
    return Linked(roots, pairs, frame, models)
