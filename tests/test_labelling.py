"""Labelling: the annotation contract the NLP training reads, its validation and role checks,
and the round trip in a real chromium (select a span in the served labelling app, read it
back from the lake table).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from tests.test_apps import browser, served_app, wait_for_text  # noqa: F401  (browser is a fixture)
from workbench.errors import AccessDenied, ContractViolation
from workbench.session import Session, connect
from workbench.labelling.annotations import (
    LABELS, NER_LABELS, SPANS, annotate_span, document_labels, document_spans, effective_span_annotations, label_target,
    rejected_spans,
)



@pytest.fixture(scope="module")
def lake(tiny_world: Session, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of the tiny world (these tests append annotations)."""
    copy = tmp_path_factory.mktemp("labelling") / "lake"
    shutil.copytree(tiny_world.settings.lake, copy)
    return copy


@pytest.fixture(scope="module")
def wb(lake: Path) -> Session:
    return connect(str(lake), user="ana", role="analyst")


def a_doc(wb: Session, language: str) -> tuple[str, str]:
    row = wb.sql("SELECT doc_id, text FROM documents.index WHERE language = $l ORDER BY doc_id LIMIT 1",
                 {"l": language}).row(0)
    return row[0], row[1]


def test_the_contract_labels_are_the_nlp_labels_and_the_tables_are_restricted(wb: Session) -> None:
    from workbench.nlp.spans import LABELS as NLP_LABELS

    assert NER_LABELS == NLP_LABELS
    for name in (SPANS, LABELS):
        assert wb.lake.specs[name].classification == "restricted"
    assert list(wb.lake.specs[SPANS].columns) == ["annotation_id", "doc_id", "start", "end", "label", "surface",
                                                  "action", "annotator", "annotated_at"]


def test_a_chinese_span_round_trips_with_code_point_offsets_and_a_later_remove_withdraws_it(wb: Session) -> None:
    doc_id, text = a_doc(wb, "zh")
    start = next(i for i, ch in enumerate(text) if "\u4e00" <= ch <= "\u9fff")
    annotate_span(wb, doc_id, start, start + 2, "ORG")
    annotate_span(wb, doc_id, start + 3, start + 5, "LOCATION")
    spans = effective_span_annotations(wb).filter(pl.col("doc_id") == doc_id)
    assert spans["surface"].to_list() == [text[start:start + 2], text[start + 3:start + 5]]
    assert spans.schema["start"] == pl.Int32 and set(spans["annotator"]) == {"ana"}

    annotate_span(wb, doc_id, start + 3, start + 5, "LOCATION", action="remove")
    after = effective_span_annotations(wb).filter(pl.col("doc_id") == doc_id)
    assert after.select("start", "end").rows() == [(start, start + 2)]
    assert rejected_spans(wb).filter(pl.col("doc_id") == doc_id)["surface"].to_list() == [text[start + 3:start + 5]]
    assert wb.table(SPANS).filter(pl.col("doc_id") == doc_id).height == 3  # history kept, nothing rewritten
    shown = document_spans(wb, doc_id)
    assert shown.filter(pl.col("origin") == "analyst").select("start", "label").rows() == [(start, "ORG")]


def test_bad_spans_and_labels_are_refused_naming_record_field_and_rule(wb: Session) -> None:
    doc_id, text = a_doc(wb, "en")
    before = wb.table(SPANS).height if SPANS in wb.tables()["name"].to_list() else 0
    with pytest.raises(ContractViolation, match="surface"):
        annotate_span(wb, doc_id, 0, 4, "ORG", surface=text[1:5] + "x")
    with pytest.raises(ContractViolation, match="start/end"):
        annotate_span(wb, doc_id, 0, len(text) + 1, "ORG")
    with pytest.raises(ContractViolation, match="label"):
        annotate_span(wb, doc_id, 0, 4, "WEAPON")
    with pytest.raises(ContractViolation, match="doc_id"):
        annotate_span(wb, "DOC-NOPE", 0, 4, "ORG")
    with pytest.raises(ContractViolation, match="value"):
        label_target(wb, "topic", doc_id, "weapons")
    with pytest.raises(ContractViolation, match="target_id"):
        label_target(wb, "risk", "D-NOPE", "clear")
    after = wb.table(SPANS).height if SPANS in wb.tables()["name"].to_list() else 0
    assert after == before


def test_latest_label_per_target_wins_and_notes_are_kept(wb: Session) -> None:
    doc_id, _ = a_doc(wb, "en")
    declaration = wb.sql("SELECT declaration_id FROM curated.declarations ORDER BY declaration_id LIMIT 1").item()
    label_target(wb, "topic", doc_id, "drugs")
    label_target(wb, "topic", doc_id, "tobacco")
    label_target(wb, "priority", doc_id, "high")
    label_target(wb, "risk", declaration, "suspicious", note="under-valued <b>again</b>")
    topics = document_labels(wb, "topic").filter(pl.col("target_id") == doc_id)
    assert topics.select("target_kind", "value", "annotator").rows() == [("document", "tobacco", "ana")]
    risk = document_labels(wb, "risk").row(0, named=True)
    assert (risk["target_kind"], risk["target_id"], risk["value"], risk["note"]) == \
        ("declaration", declaration, "suspicious", "under-valued <b>again</b>")


def test_readers_are_empty_and_a_manager_may_not_annotate(tmp_path: Path, lake: Path) -> None:
    empty = connect(str(tmp_path / "empty"), user="ana")
    assert effective_span_annotations(empty).is_empty() and document_labels(empty, "priority").is_empty()
    manager = connect(str(lake), user="boss", role="manager")
    with pytest.raises(AccessDenied):  # the session refuses: managers may not read documents nor write curated
        annotate_span(manager, "DOC000001", 0, 2, "ORG")
    with pytest.raises(AccessDenied):
        label_target(manager, "priority", "DOC000001", "low")


# ----------------------------------------------------------------------------- browser

ASTRAL_DOC = "DOC-ASTRAL-1"
TARGET = "鳳門貿易有限公司"
HOSTILE = '<img src=x onerror="window.pwned=1">'
ASTRAL_TEXT = f"情報：𠮷野家的司機 CHAN Tai Man 替{TARGET}運貨 {HOSTILE} 經落馬洲。"

# Select `needle` inside the labelling text (in Bokeh's shadow DOM) as a user's mouse would, then release.
SELECT_JS = """(needle) => {
  const boxes = [];
  const find = (n) => {
    if (n.classList && n.classList.contains('doc-text')) boxes.push(n);
    for (const c of [...(n.shadowRoot ? [n.shadowRoot] : []), ...n.childNodes]) find(c);
  };
  find(document.body);
  for (const box of boxes) {
    const walker = document.createTreeWalker(box, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const at = node.data.indexOf(needle);
      if (at >= 0) {
        box.getRootNode().getSelection().setBaseAndExtent(node, at, node, at + needle.length);
        box.dispatchEvent(new MouseEvent('mouseup', { bubbles: true }));
        return at;
      }
    }
  }
  return -1;
}"""


@pytest.fixture(scope="module")
def labelling_url(lake: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from datetime import datetime

    from workbench.lake.documents import Document

    wb = connect(str(lake), user="loader")
    wb.documents.add([Document(ASTRAL_DOC, "intel_note", "zh", f"測試 {HOSTILE}", "test", datetime(2024, 5, 1),
                               ASTRAL_TEXT)])
    log = tmp_path_factory.mktemp("labelling_server") / "server.log"
    with served_app("labelling", lake, log, WORKBENCH_USER="ana", WORKBENCH_ROLE="analyst") as url:
        yield url


@pytest.mark.browser
def test_a_span_selected_in_the_browser_lands_in_the_lake_with_code_point_offsets(
        labelling_url: str, browser: Any, wb: Session, tmp_path: Path) -> None:
    page = browser.new_page(viewport={"width": 1300, "height": 1000})
    page.goto(labelling_url)
    search = page.get_by_placeholder("e.g. DOC000012")
    search.wait_for(timeout=30_000)
    search.fill(ASTRAL_DOC)
    search.press("Enter")
    wait_for_text(page, "CHAN Tai Man")
    utf16_at = page.evaluate(SELECT_JS, TARGET)
    expected = ASTRAL_TEXT.index(TARGET)
    assert utf16_at == expected + 1  # 𠮷 is two UTF-16 units: the page must convert to code points
    wait_for_text(page, f"characters {expected}–{expected + len(TARGET)}")
    page.get_by_role("button", name="ORG", exact=True).click()
    page.get_by_role("button", name="Add span").click()
    wait_for_text(page, "Added ORG")
    wait_for_text(page, "analyst")  # the spans table shows it back
    page.screenshot(path=str(tmp_path / "labelling.png"), full_page=True)
    print(f"\nscreenshot: {tmp_path / 'labelling.png'}")

    spans = effective_span_annotations(wb).filter(pl.col("doc_id") == ASTRAL_DOC)
    assert spans.select("start", "end", "label", "surface", "annotator").rows() == \
        [(expected, expected + len(TARGET), "ORG", TARGET, "ana")]
    assert HOSTILE in wait_for_text(page, HOSTILE)  # the document's markup is shown as text...
    assert page.evaluate("() => window.pwned") is None  # ...and never ran

    def choose(value: str) -> None:
        exact = page.locator("option", has_text=re.compile(f"^{re.escape(value)}$"))
        page.locator("select", has=exact).select_option(value)

    choose("endangered_species")
    choose("medium")
    page.get_by_role("button", name="Save document labels").click()
    wait_for_text(page, f"Labelled {ASTRAL_DOC}")
    declaration = wb.sql("SELECT declaration_id FROM curated.declarations ORDER BY declaration_id DESC LIMIT 1").item()
    page.get_by_placeholder("e.g. D0000000123").fill(declaration)
    choose("suspicious")
    page.get_by_placeholder("Why (kept with the label)").fill("value far below peers")
    page.get_by_role("button", name="Save declaration label").click()
    wait_for_text(page, f"Labelled {declaration} suspicious")
    labels = {task: document_labels(wb, task) for task in ("topic", "priority", "risk")}
    assert labels["topic"].filter(pl.col("target_id") == ASTRAL_DOC)["value"].to_list() == ["endangered_species"]
    assert labels["priority"].filter(pl.col("target_id") == ASTRAL_DOC)["value"].to_list() == ["medium"]
    risk = labels["risk"].filter(pl.col("target_id") == declaration).row(0, named=True)
    assert (risk["value"], risk["note"], risk["annotator"]) == ("suspicious", "value far below peers", "ana")
