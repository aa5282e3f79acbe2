"""The NLP training corpus: labelled, varied, reproducible, and independent of the synthetic world's text."""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import datetime
from functools import cache
from pathlib import Path

import polars as pl
import pytest

from workbench.demo.documents import EN_TEMPLATES, ZH_TEMPLATES, document_topic
from workbench.demo.vocabulary import COMPANY_WORDS, GIVEN_NAMES, VESSEL_WORDS
from workbench.session import connect
from workbench.labelling import effective_span_annotations
from workbench.lake.documents import Document
from workbench.nlp.corpus import GENRES, KINDS, generate_corpus
from workbench.reference.numerals import zh_numeral
from workbench.nlp.merge import merge
from workbench.nlp.recognisers import recognise
from workbench.nlp.spans import LABELS
from workbench.nlp.training import annotated_sentences, cut_sentences, gold_sentences
from workbench.nlp.triage import TOPICS, triage_priority

HANDWRITTEN = Path(__file__).resolve().parents[1] / "benchmarks" / "data" / "ner_handwritten"
TOPICS_TEST = Path(__file__).resolve().parents[1] / "benchmarks" / "data" / "topics_handwritten" / "test.jsonl"

CORPUS = generate_corpus(300, seed=5)


@cache
def training_corpus_text() -> str:
    """The text of the default training draws (seed 0, more documents than either model trains on), made once."""
    return "\n".join(d.text for d in generate_corpus(1500, seed=0))


def test_corpus_is_reproducible_and_covers_languages_labels_topics_and_shapes() -> None:
    assert generate_corpus(300, seed=5) == CORPUS
    assert generate_corpus(300, seed=6) != CORPUS
    assert {d.language for d in CORPUS} == {"en", "zh"}
    assert {label for d in CORPUS for *_, label in d.spans} == set(LABELS)
    assert {d.topic for d in CORPUS} == set(TOPICS)
    assert {d.priority for d in CORPUS} == {"high", "medium", "low"}
    assert {d.kind for d in CORPUS} == {f"{g}/{k}" for g in GENRES for k in KINDS}
    assert any("：" in d.text or "，" in d.text for d in CORPUS if d.language == "en")
    assert any("\n1. " in d.text for d in CORPUS)


def test_corpus_writes_the_names_and_amounts_reports_really_use() -> None:
    """Out-of-register ships, code-switching and amounts whose qualifier stays outside the span."""
    spans = [(d.language, d.text[a:b], label, d.text[max(0, a - 6):a]) for d in CORPUS for a, b, label in d.spans]
    vessels = [text for _, text, label, _ in spans if label == "VESSEL"]
    assert any(v.startswith(("MV ", "M.V. ", "MT ")) for v in vessels)
    assert any(re.search(r" \d+$", v) for v in vessels), "numbered hulls"
    assert any(v.endswith("號") for v in vessels) and any(re.match(r"粵.+\d+$", v) for v in vessels)
    assert any(lang == "zh" and text.isascii() and label in ("ORG", "PERSON") for lang, text, label, _ in spans)
    money = [(text, before) for _, text, label, before in spans if label == "MONEY"]
    assert not any(text.startswith(("about", "約", "逾", "approximately")) for text, _ in money)
    assert any(before.endswith(("約", "about ")) for _, before in money)
    assert any(re.search(r"(million|thousand) (dollars|Hong Kong dollars|US dollars)", t) for t, _ in money)
    goods = [text for _, text, label, _ in spans if label == "COMMODITY"]
    assert not any(g.startswith(("suspected", "懷疑")) for g in goods)
    assert zh_numeral(1_200_000) == "一百二十萬" and zh_numeral(1005) == "一千零五" and zh_numeral(12) == "十二"


def test_spans_are_exact_ordered_and_trimmed() -> None:
    for d in CORPUS:
        assert all(a < b and d.text[a:b] == d.text[a:b].strip() for a, b, _ in d.spans)
        assert all(b1 <= a2 for (_, b1, _), (a2, _, _) in zip(d.spans, d.spans[1:]))


def test_validated_recognisers_agree_with_the_corpus_spans() -> None:
    """Where a recogniser fires on a corpus entity it finds exactly that span (it is trusted over the model);
    identifiers written with a country code or a check digit are always found."""
    checked = Counter()
    for d in CORPUS:
        found = {(s.start, s.end): s.label for s in merge(recognise(d.text)) if s.label != "HS_CODE"}
        for a, b, label in d.spans:
            overlapping = {span: lab for span, lab in found.items() if span[0] < b and a < span[1]}
            if label in ("CONTAINER", "PHONE", "MONEY", "PLATE"):
                assert all(span == (a, b) and lab == label for span, lab in overlapping.items()), (d.text[a:b], d.text)
            if label == "CONTAINER" or (label == "PHONE" and d.text[a:b].startswith(("+", "("))):
                assert (a, b) in found, (d.text[a:b], d.text)
                checked[(label, d.language)] += 1
    assert min(checked.values()) > 10 and len(checked) == 4


def test_handwritten_set_is_balanced_exact_and_never_in_the_corpus() -> None:
    """The evaluation set: >= 150 sentences per language, every label in each split, offsets exact, and no
    sentence of it appears in what the tagger trains on."""
    splits = {name: gold_sentences(HANDWRITTEN / f"{name}.jsonl") for name in ("dev", "test")}
    both = splits["dev"] + splits["test"]
    assert min(sum(s.language == lang for s in both) for lang in ("en", "zh")) >= 150
    for sentences in splits.values():
        assert {label for s in sentences for *_, label in s.spans} == set(LABELS)
    rows = [json.loads(line) for name in splits for line in (HANDWRITTEN / f"{name}.jsonl").read_text().splitlines()]
    assert all(r["text"][e["start"]:e["end"]] == e["text"] for r in rows for e in r["entities"])
    assert [s.text for s in both if s.text in training_corpus_text()] == []


def test_handwritten_topic_sets_follow_the_policy_stay_apart_and_are_never_in_the_corpus() -> None:
    """The classifier's calibration split (shipped) and test split (reported): both languages and every topic
    and priority in each, priorities by the triage policy from the facts written beside each text, no text in
    both splits or in what the heads train on."""
    from workbench.nlp.classify import CALIBRATION_SET

    splits = {path.name: [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
              for path in (CALIBRATION_SET, TOPICS_TEST)}
    assert [len(rows) for rows in splits.values()] == [120, 200]
    for rows in splits.values():
        assert Counter(r["language"] for r in rows)["en"] == Counter(r["language"] for r in rows)["zh"]
        assert {r["topic"] for r in rows} == set(TOPICS) and {r["priority"] for r in rows} == {"high", "medium", "low"}
        assert all(r["priority"] == triage_priority(r["topic"], r["largest_sum_hkd"], r["arrest"]) for r in rows)
    calibration, test = ({r["text"] for r in rows} for rows in splits.values())
    assert not calibration & test and len({r["id"] for rows in splits.values() for r in rows}) == 320
    assert [t for t in calibration | test if t in training_corpus_text()] == []


def test_corpus_shares_no_sentence_frame_or_name_pool_with_the_world() -> None:
    """The world's documents stay unseen: no literal run of a world template, no world company,
    given-name or vessel word appears in the corpus."""
    fragments = {f.strip() for t in EN_TEMPLATES + ZH_TEMPLATES for f in re.split(r"\{[A-Z0-9]+\}", t)}
    long_fragments = [f for f in fragments if len(f) >= (12 if f.isascii() else 6)]
    assert len(long_fragments) > 20
    assert [f for f in long_fragments if f in training_corpus_text()] == []
    names = [d.text[a:b] for d in CORPUS for a, b, label in d.spans if label in ("ORG", "PERSON")
             or (label == "VESSEL" and d.text[a:b].isascii())]  # Chinese hull names are drawn character by character
    world_words = [w for pair in COMPANY_WORDS for w in pair] + list(VESSEL_WORDS) + [
        g.zh for g in GIVEN_NAMES if len(g.zh) > 1] + [g.cantonese for g in GIVEN_NAMES if " " in g.cantonese]
    word = re.compile("|".join(rf"\b{re.escape(w)}\b" if w.isascii() else re.escape(w) for w in world_words))
    assert [n for n in names if word.search(n)] == []


def test_priorities_follow_the_triage_policy_and_topics_the_goods() -> None:
    assert triage_priority("drugs", None, False) == "high"
    assert triage_priority("other", 12e6, False) == "high"
    assert triage_priority("other", 2e6, False) == "medium"
    assert triage_priority("other", None, True) == "medium"
    assert triage_priority("tobacco", 1e4, False) == "medium"
    assert triage_priority("other", 5e5, False) == "low"
    assert document_topic("24022000", False) == "tobacco"
    assert document_topic("85171300", True) == "cash"
    assert document_topic("05071000", True) == "endangered_species"
    high_topics = [d for d in CORPUS if d.topic in ("drugs", "endangered_species")]
    assert high_topics and all(d.priority == "high" for d in high_topics)


def test_sentences_are_not_cut_inside_entities_list_numbers_or_initials() -> None:
    text = "Goods of Wing Co., Ltd. The man fled.\n1. CHAN K. W. (tel +852 91234567)\n2. 陳大文。貨物"
    spans = [(9, 23, "ORG"), (41, 51, "PERSON")]
    sentences = cut_sentences("d", "en", text, spans)
    assert [s.text for s in sentences] == ["Goods of Wing Co., Ltd. The man fled.", "1. CHAN K. W. (tel +852 91234567)",
                                           "2. 陳大文。", "貨物"]
    assert [(s.text[a:b], label) for s in sentences for a, b, label in s.spans] == [
        ("Wing Co., Ltd.", "ORG"), ("CHAN K. W.", "PERSON")]


def test_tagger_trains_on_the_analyst_spans_in_force(tmp_path: Path) -> None:
    wb = connect(str(tmp_path / "lake"), user="tester")
    text = "陳大文經落馬洲運送香煙。 CHAN Tai Man phoned."
    wb.documents.add([Document("N1", "intel_note", "zh", "note", "cirms", datetime(2024, 1, 1), text)])
    assert annotated_sentences(wb) == []
    t = [datetime(2024, 5, 1, h) for h in range(4)]
    rows = [("A1", 0, 3, "PERSON", "add", t[0]), ("A2", 9, 11, "COMMODITY", "add", t[0]),
            ("A3", 9, 11, "COMMODITY", "remove", t[1]), ("A4", 4, 7, "LOCATION", "remove", t[1]),
            ("A5", 4, 7, "LOCATION", "add", t[2]), ("A6", 13, 25, "PERSON", "add", t[3])]
    wb.write(pl.DataFrame([{"annotation_id": i, "doc_id": "N1", "start": a, "end": b, "label": label,
                            "surface": text[a:b], "action": action, "annotator": "amy", "annotated_at": at}
                           for i, a, b, label, action, at in rows]), "curated.annotation_spans")
    spans = effective_span_annotations(wb).select("doc_id", "start", "end", "label")
    assert sorted(spans.iter_rows()) == [("N1", 0, 3, "PERSON"), ("N1", 4, 7, "LOCATION"), ("N1", 13, 25, "PERSON")]
    sentences = annotated_sentences(wb)
    assert [(s.text[a:b], label) for s in sentences for a, b, label in s.spans] == [
        ("陳大文", "PERSON"), ("落馬洲", "LOCATION"), ("CHAN Tai Man", "PERSON")]


@pytest.mark.parametrize("language", ["en", "zh"])
def test_money_in_corpus_uses_both_numeral_systems(language: str) -> None:
    sums = [d.text[a:b] for d in CORPUS if d.language == language for a, b, label in d.spans if label == "MONEY"]
    if language == "zh":
        assert any(re.search("[一二三四五六七八九十百千]", s) for s in sums) and any(re.search(r"\d", s) for s in sums)
    else:
        assert any("million" in s for s in sums) and any("," in s for s in sums)
