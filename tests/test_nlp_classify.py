"""Report classification: topic and priority heads on e5 embeddings, calibrated; incremental table; evaluation."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pytest

from tests.jsonl_contract import assert_refuses_malformed_input
from workbench.session import Session, connect
from workbench.nlp.classify import expected_calibration_error, money_features
from workbench.nlp.triage import PRIORITIES, TOPICS

torch = pytest.importorskip("torch")
torch.set_num_threads(1)
TOPIC_FLOOR_WORLD = 0.2
CORPUS_FLOORS = {"topic": 0.25, "priority": 0.35}
ECE_CEILING = 0.25
HANDWRITTEN_ECE_CEILING = 0.12
"""Floors of the tiny classifier these tests train (120 documents, seconds): chance is ~.14 macro-F1 on seven
topics; its raw heads' calibration error on the hand-written test split is ~.16 (topic) and ~.22 (priority).
The shipped classifier's figures (1,200 documents) are in ``benchmarks/bench_nlp.py``."""
TOPICS_TEST = Path(__file__).resolve().parents[1] / "benchmarks" / "data" / "topics_handwritten" / "test.jsonl"


def test_sum_buckets_follow_the_triage_thresholds_in_both_languages() -> None:
    texts = ["no money here", "fined HK$50,000", "worth HK$3.2 million", "值四億元", "US$1m and HK$10,000", "約八十萬港元"]
    assert money_features(texts).argmax(axis=1).tolist() == [0, 1, 3, 4, 3, 2]


def test_expected_calibration_error_is_zero_when_confidence_matches_accuracy() -> None:
    confidence = np.array([0.8] * 10)
    assert expected_calibration_error(confidence, np.array([1] * 8 + [0] * 2)) == pytest.approx(0.0)
    assert expected_calibration_error(confidence, np.array([1] * 2 + [0] * 8)) == pytest.approx(0.6)


@pytest.fixture(scope="module")
def tiny_classifier_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Trained on 120 corpus documents, calibrated on the shipped hand-written calibration split."""
    from tests.test_nlp import shared_encoder_dir

    from workbench.nlp.classify import C_GRID, TASKS, train_classifier
    from workbench.nlp.corpus import generate_corpus

    corpus = generate_corpus(120, seed=3)
    examples = {task: ([d.text for d in corpus], [getattr(d, task) for d in corpus]) for task in TASKS}
    target = tmp_path_factory.mktemp("nlp") / "topics"
    card = train_classifier(shared_encoder_dir(tmp_path_factory), target, examples, threads=1)
    assert card["train_documents"] == {"topic": 120, "priority": 120}
    assert card["calibration_documents"] == {"topic": 120, "priority": 120}
    for task in TASKS:
        losses = card["calibration_log_loss_by_C"][task]
        assert list(losses) == [str(c) for c in C_GRID] and losses[str(card["C"][task])] == min(losses.values())
        assert card["temperature"][task] > 0
    return target


def test_char_view_finds_goods_words_inside_unsegmented_chinese() -> None:
    from workbench.nlp.classify import char_view

    training = ["海關檢獲一批香煙", "海關檢獲一批象牙", "走私香煙案", "走私象牙案"]
    view = char_view().fit(training)
    cigarettes, ivory, query = view.transform(["香煙", "象牙", "貨車內藏有大量香煙"]).toarray()
    assert query @ cigarettes > 0 and query @ ivory == 0


def test_classifier_returns_known_labels_with_probabilities(tiny_classifier_dir: Path) -> None:
    from workbench.nlp.classify import DocumentClassifier

    classifier = DocumentClassifier(tiny_classifier_dir)
    assert classifier.chars is not None and classifier.card["topic_views"][1] == "char 1-3-gram tf-idf"
    assert classifier.classify([]) == []
    results = classifier.classify(["Officers seized 30 kg of heroin at Lo Wu.", "香港海關檢獲一批私煙。", "", "🙂???"])
    assert len(results) == 4
    assert all(r.topic in TOPICS and r.priority in PRIORITIES for r in results)
    assert all(0 < r.topic_score <= 1 and 0 < r.priority_score <= 1 for r in results)
    probs = classifier.probabilities(["Officers seized 30 kg of heroin at Lo Wu."])
    assert np.allclose(probs["calibrated"]["topic"][1].sum(axis=1), 1.0)


def _truth_labels() -> pl.DataFrame:
    """The tiny world's document labels, as the demo generator defines them (what the truth table holds)."""
    from tests.conftest import TINY_SCALE, TINY_SEED

    from workbench.demo.config import WorldConfig
    from workbench.demo.documents import document_labels_batch, generate_documents
    from workbench.demo.entities import build_population

    cfg = WorldConfig(TINY_SEED, TINY_SCALE, 100_000)
    return pl.from_arrow(pa.Table.from_batches([document_labels_batch(generate_documents(cfg, build_population(cfg)))]))


def test_topics_table_is_written_incrementally(tiny_world: Session, tiny_classifier_dir: Path) -> None:
    from workbench.nlp.classify import TOPICS_TABLE, classify_documents, processor

    job = processor(tiny_world, tiny_classifier_dir)
    assert job is not None and processor(tiny_world, tiny_classifier_dir.parent / "missing") is None
    first = job.update(tiny_world)
    assert first["processed"] == first["documents"] == first["rows"] > 0
    table = tiny_world.table(TOPICS_TABLE)
    assert table.height == first["documents"] and set(table["model_version"]) == {job.version}
    assert table["topic"].is_in(list(TOPICS)).all() and table["priority_score"].is_between(0, 1).all()
    assert job.update(tiny_world)["processed"] == 0
    texts = tiny_world.sql("SELECT text FROM documents.index ORDER BY doc_id LIMIT 3")["text"].to_list()
    direct = classify_documents(tiny_world, texts, tiny_classifier_dir)
    assert direct["topic"].to_list() == table.sort("doc_id")["topic"].head(3).to_list()


def test_evaluation_reports_macro_f1_and_calibration_on_the_world(tiny_world: Session,
                                                                   tiny_classifier_dir: Path) -> None:
    from workbench.nlp.classify import DocumentClassifier, evaluate_labels

    truth = _truth_labels()
    assert set(truth["doc_id"]) == set(tiny_world.sql("SELECT doc_id FROM documents.index")["doc_id"])
    scores = evaluate_labels(tiny_world, DocumentClassifier(tiny_classifier_dir), truth)
    assert scores["documents"]["count"] == truth.height
    for task in ("topic", "priority"):
        majority = truth[task].value_counts(sort=True)[0, "count"] / truth.height
        assert scores[task]["accuracy"] > majority, "above the majority class on unseen documents"
        assert sum(v["support"] for k, v in scores[task]["per_class"].items()
                   if k not in ("macro avg", "weighted avg")) == truth.height
    assert scores["topic"]["macro_f1"] >= TOPIC_FLOOR_WORLD
    assert scores["topic"]["ece_calibrated"] <= ECE_CEILING


def test_classifier_holds_its_floor_on_a_fresh_corpus_draw(tiny_classifier_dir: Path) -> None:
    """Quality floors on documents neither trained nor selected on (a corpus draw of another seed)."""
    from sklearn.metrics import f1_score

    from workbench.nlp.classify import DocumentClassifier
    from workbench.nlp.corpus import generate_corpus

    held = generate_corpus(80, seed=99)
    probs = DocumentClassifier(tiny_classifier_dir).probabilities([d.text for d in held])["calibrated"]
    for task in ("topic", "priority"):
        classes, matrix = probs[task]
        truth = np.array([getattr(d, task) for d in held])
        predicted = np.array(classes)[matrix.argmax(axis=1)]
        f1 = f1_score(truth, predicted, average="macro", zero_division=0)
        ece = expected_calibration_error(matrix.max(axis=1), predicted == truth)
        assert f1 >= CORPUS_FLOORS[task] and ece <= ECE_CEILING


def test_temperature_calibration_holds_on_the_handwritten_test_split(tiny_classifier_dir: Path) -> None:
    """Calibrated on the hand-written calibration split, the heads' calibration error on the test split (200
    documents nothing was fitted or chosen on, 10 bins) is below the ceiling and below the raw heads'."""
    from workbench.nlp.classify import DocumentClassifier, handwritten_examples

    test = handwritten_examples(TOPICS_TEST)
    texts = test["topic"][0]
    assert len(texts) == 200
    probs = DocumentClassifier(tiny_classifier_dir).probabilities(texts, kinds=("raw", "calibrated"))
    for task, (_, labels) in test.items():
        ece = {}
        for kind in ("raw", "calibrated"):
            classes, matrix = probs[kind][task]
            predicted = np.array(classes)[matrix.argmax(axis=1)]
            ece[kind] = expected_calibration_error(matrix.max(axis=1), predicted == np.array(labels))
        assert ece["calibrated"] <= HANDWRITTEN_ECE_CEILING and ece["calibrated"] < ece["raw"], (task, ece)


def test_analyst_labels_join_training_latest_label_wins(tmp_path: Path) -> None:
    from workbench.lake.documents import Document
    from workbench.nlp.classify import document_labels, training_examples

    wb = connect(str(tmp_path / "lake"), user="tester")
    wb.documents.add([Document("N1", "intel_note", "en", "note", "cirms", datetime(2024, 1, 1), "Ivory tusks at Lo Wu."),
                      Document("N2", "intel_note", "en", "note", "cirms", datetime(2024, 1, 1), "Frozen beef.")])
    rows = [("L1", "N1", "topic", "other", 1), ("L2", "N1", "topic", "endangered_species", 2),
            ("L3", "N2", "topic", "other", 1), ("L4", "N1", "priority", "high", 1),
            ("L5", "D0000000001", "risk", "clear", 3)]
    wb.write(pl.DataFrame([{"label_id": i, "target_kind": "declaration" if task == "risk" else "document",
                            "target_id": target, "task": task, "value": value, "note": None, "annotator": "amy",
                            "labelled_at": datetime(2024, 5, 1, hour)} for i, target, task, value, hour in rows],
                          schema_overrides={"note": pl.Utf8}), "curated.annotation_labels")
    assert sorted(document_labels(wb, "topic").iter_rows()) == [("N1", "endangered_species"), ("N2", "other")]
    texts, labels = training_examples(wb, "priority", n_documents=5)
    assert len(texts) == 6 and texts[-1] == "Ivory tusks at Lo Wu." and labels[-1] == "high"


def test_the_topics_champion_comes_from_the_registry_under_its_own_name(tiny_world: Session,
                                                                        tiny_classifier_dir: Path, tmp_path: Path) -> None:
    """``registered_classifier`` looks up the registry's ``topics`` model (not the topic labels, which share a
    name in this module), and names the command that trains one while there is none."""
    from tests.test_nlp import _linked, _with_models
    from workbench.nlp.classify import TRAIN_TOPICS, registered_classifier
    from workbench.nlp.models import TOPICS_MODEL, ModelMissing, register_trained

    wb = _with_models(tiny_world, tmp_path / "models")
    with pytest.raises(ModelMissing, match=TRAIN_TOPICS):
        registered_classifier(wb)
    version, _ = register_trained(wb, TOPICS_MODEL, _linked(tiny_classifier_dir, "tiny"))
    found = registered_classifier(wb)
    assert (version, found.version) == ("topics/1", "topics/1")
    assert (found.folder / "card.json").exists()


# -- the file contract: workbench nlp classify --input F.jsonl --output F.jsonl ------------------------------

def _registered(classifier_dir: Path):  # -> Callable[[Path], dict], a trainer for ``register_trained``
    """A "training" that links ``classifier_dir``'s heads into the version's folder, its card naming the
    encoder by absolute path (the card's relative one is relative to the folder it was trained in)."""
    import json

    def train(folder: Path) -> dict:
        for item in classifier_dir.iterdir():
            if item.name != "card.json":
                (folder / item.name).symlink_to(item)
        card = json.loads((classifier_dir / "card.json").read_text())
        card["encoder"] = str((classifier_dir / card["encoder"]).resolve())
        (folder / "card.json").write_text(json.dumps(card))
        return card
    return train


@pytest.fixture(scope="module")
def topics_models(tiny_world: Session, tiny_classifier_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An NLP models folder whose registry holds the tiny classifier as ``topics`` v1 (read only by the tests)."""
    from tests.test_nlp import _with_models
    from workbench.nlp.models import TOPICS_MODEL, register_trained

    folder = tmp_path_factory.mktemp("classify-cli") / "models"
    register_trained(_with_models(tiny_world, folder), TOPICS_MODEL, _registered(tiny_classifier_dir))
    return folder


def _classify(lake: str, *args: str, models: Path):
    from click.testing import CliRunner

    from workbench.cli.main import main

    return CliRunner().invoke(main, ["nlp", "classify", "--lake", lake, *args], env={"WORKBENCH_NLP_MODELS": str(models)})


def test_cli_classify_contract_in_english_and_chinese(tiny_world: Session, topics_models: Path,
                                                      tiny_classifier_dir: Path, tmp_path: Path) -> None:
    import json

    from workbench.nlp.classify import DocumentClassifier

    rows = [{"id": "en-1", "text": "Officers seized 30 kg of suspected heroin worth about HK$18 million at Lo Wu."},
            {"id": 2, "text": ""},
            {"id": "zh-1", "text": "香港海關在葵涌貨櫃碼頭檢獲約二百萬支懷疑私煙，估計市值約九百萬元。"}]
    source, target = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n\n", encoding="utf-8")
    result = _classify(tiny_world.settings.lake, "--input", str(source), "--output", str(target), models=topics_models)
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]
    assert [line["id"] for line in lines] == ["en-1", 2, "zh-1"], "one line per input line, in order, ids kept"
    assert all(set(line) == {"id", "topic", "topic_score", "priority", "priority_score"} for line in lines)
    assert all(line["topic"] in TOPICS and line["priority"] in PRIORITIES for line in lines)
    assert all(0 < line["topic_score"] <= 1 and 0 < line["priority_score"] <= 1 for line in lines)
    direct = DocumentClassifier(tiny_classifier_dir).classify([r["text"] for r in rows])
    assert [(line["topic"], line["priority"]) for line in lines] == [(d.topic, d.priority) for d in direct]
    empty = tmp_path / "empty.jsonl"
    empty.write_text("", encoding="utf-8")
    assert _classify(tiny_world.settings.lake, "--input", str(empty), "--output", str(target),
                     models=topics_models).exit_code == 0
    assert target.read_text(encoding="utf-8") == ""


def test_cli_classify_without_a_model_exits_naming_the_command_that_trains_one(tiny_world: Session,
                                                                              tmp_path: Path) -> None:
    source, target = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_text('{"id": 1, "text": "Ivory tusks seized at Lo Wu."}\n', encoding="utf-8")
    result = _classify(tiny_world.settings.lake, "--input", str(source), "--output", str(target),
                       models=tmp_path / "no-models")
    assert result.exit_code == 1 and "workbench nlp train --task topics" in result.output
    assert not target.exists() and not (tmp_path / "no-models" / "registry").exists(), "no training on the way"


@pytest.mark.parametrize(("content", "problem"), [
    (b'{"id": 1, "text": "ok"}\n{"id": 2, "text": "broken\n', "line 2: not valid JSON"),
    (b'{"id": 1, "text": "ok"}\n\n{"id": 3, "text": 7}\n', 'line 3: field "text" is missing or not a string'),
    (b'{"id": 1, "text": "\xe9\xa6\x99\xe7\x85\x99"}\n{"id": 2, "text": "\xff\xfe"}\n', "line 2: not UTF-8"),
])
def test_cli_classify_refuses_a_malformed_line_and_writes_nothing(tiny_world: Session, topics_models: Path,
                                                                   tmp_path: Path, content: bytes, problem: str) -> None:
    assert_refuses_malformed_input(lambda *args: _classify(tiny_world.settings.lake, *args, models=topics_models),
                                   tmp_path, content, problem)
