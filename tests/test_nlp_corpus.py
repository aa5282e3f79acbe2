"""The NLP training corpus: labelled, varied, reproducible, and independent of the synthetic world's text."""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime
from pathlib import Path

import polars as pl
import pytest

from workbench.demo.documents import EN_TEMPLATES, TOPICS, ZH_TEMPLATES, document_topic, triage_priority
from workbench.demo.vocabulary import COMPANY_WORDS, GIVEN_NAMES, VESSEL_WORDS
from workbench.explore import connect
from workbench.lake.documents import Document
from workbench.nlp.corpus import KINDS, generate_corpus
from workbench.nlp.recognisers import recognise
from workbench.nlp.spans import LABELS
from workbench.labelling import effective_span_annotations
from workbench.nlp.training import annotated_sentences, cut_sentences

CORPUS = generate_corpus(300, seed=5)


def test_corpus_is_reproducible_and_covers_languages_labels_topics_and_shapes() -> None:
    assert generate_corpus(300, seed=5) == CORPUS
    assert generate_corpus(300, seed=6) != CORPUS
    assert {d.language for d in CORPUS} == {"en", "zh"}
    assert {label for d in CORPUS for *_, label in d.spans} == set(LABELS)
    assert {d.topic for d in CORPUS} == set(TOPICS)
    assert {d.priority for d in CORPUS} == {"high", "medium", "low"}
    assert {d.kind for d in CORPUS} == set(KINDS)
    assert any("：" in d.text or "（" in d.text for d in CORPUS if d.language == "en")
    assert any("\n1. " in d.text for d in CORPUS)


def test_spans_are_exact_ordered_and_trimmed() -> None:
    for d in CORPUS:
        assert all(a < b and d.text[a:b] == d.text[a:b].strip() for a, b, _ in d.spans)
        assert all(b1 <= a2 for (_, b1, _), (a2, _, _) in zip(d.spans, d.spans[1:]))


def test_structured_values_pass_the_validated_recognisers() -> None:
    """Containers carry a right check digit, phones and sums are well formed: the recognisers find them exactly."""
    checked = Counter()
    for d in CORPUS:
        found = {(s.start, s.end, s.label) for s in recognise(d.text)}
        for a, b, label in d.spans:
            if label in ("CONTAINER", "PHONE", "MONEY"):
                assert (a, b, label) in found, (d.text[a:b], d.text)
                checked[(label, d.language)] += 1
    assert min(checked.values()) > 10 and len(checked) == 6


def test_corpus_shares_no_sentence_frame_or_name_pool_with_the_world() -> None:
    """The world's documents stay unseen: no literal run of a world template, no world company,
    given-name or vessel word appears in the corpus."""
    fragments = {f.strip() for t in EN_TEMPLATES + ZH_TEMPLATES for f in re.split(r"\{[A-Z0-9]+\}", t)}
    long_fragments = [f for f in fragments if len(f) >= (12 if f.isascii() else 6)]
    assert len(long_fragments) > 20
    text = "\n".join(d.text for d in generate_corpus(1500, seed=0))
    assert [f for f in long_fragments if f in text] == []
    names = [d.text[a:b] for d in CORPUS for a, b, label in d.spans if label in ("ORG", "VESSEL", "PERSON")]
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
