"""Batch NLP on a real Dask cluster: incremental, one commit per table, nothing lost when a worker dies."""

from __future__ import annotations

import os
import signal
import threading
import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from tests.test_nlp_search import bilingual_documents, e5_dir  # noqa: F401  (e5_dir is a fixture)
from workbench.session import Session, connect
from workbench.lake.documents import Document

torch = pytest.importorskip("torch")
torch.set_num_threads(1)


@pytest.fixture()
def notes(tmp_path: Path) -> Session:
    wb = connect(str(tmp_path / "lake"), user="tester")
    wb.documents.add([*bilingual_documents(),
                      Document(doc_id="GARBAGE", kind="intel_note", language="en", title="garbage", source="test",
                               published_at=datetime(2024, 1, 1), text="\x00\ufffd🙂🙂 ??? ＊＊")])
    return wb


def _processors(wb: Session, encoder: Path) -> list[Any]:
    from workbench.nlp.embed import ChunkIndexer
    from workbench.nlp.extract import Extractor, Mentions

    return [Mentions(Extractor.from_lake(wb, rules_only=True)), ChunkIndexer(encoder)]


def _commits(wb: Session, name: str) -> int:
    return wb.history(name).height


def _check_complete(wb: Session) -> None:
    """Every document has chunks (and a mention-run row), no key twice, offsets exact."""
    from workbench.nlp.embed import CHUNKS
    from workbench.nlp.extract import RUNS

    docs = wb.sql("SELECT doc_id, text FROM documents.index")
    chunks = wb.table(CHUNKS)
    assert set(chunks["doc_id"]) == set(docs["doc_id"])
    assert chunks.select("doc_id", "chunk_no").is_unique().all()
    texts = dict(docs.iter_rows())
    assert all(texts[d][s:e] == t for d, s, e, t in chunks.select("doc_id", "start", "end", "text").iter_rows())
    runs = wb.table(RUNS)
    assert set(runs["doc_id"]) == set(docs["doc_id"]) and runs["doc_id"].is_unique().all()


def test_process_is_incremental_and_commits_once_per_table(notes: Session, e5_dir: Path) -> None:  # noqa: F811
    from distributed import Client

    from workbench.compute import cluster
    from workbench.nlp.batch import process
    from workbench.nlp.embed import CHUNKS, embedding_version
    from workbench.nlp.extract import MENTIONS, RULES_ONLY, RUNS

    processors = _processors(notes, e5_dir)
    with cluster(2) as made, Client(made) as client:
        first = process(notes, processors, client)
        assert first["mentions"]["processed"] == first["embeddings"]["processed"] == 13
        _check_complete(notes)
        assert set(notes.table(RUNS)["model_version"]) == {RULES_ONLY}
        assert "CONTAINER" not in set(notes.table(MENTIONS)["label"])
        assert set(notes.table(CHUNKS)["model_version"]) == {embedding_version()}
        commits = {name: _commits(notes, name) for name in (MENTIONS, CHUNKS)}
        assert commits == {MENTIONS: 1, CHUNKS: 1}

        second = process(notes, processors, client)
        assert second["mentions"]["processed"] == second["embeddings"]["processed"] == 0
        assert {name: _commits(notes, name) for name in commits} == commits  # nothing to do, nothing written

        changed = replace(bilingual_documents()[0], text="Container MSKU1234565 held 40 kg of ivory.")
        notes.documents.add([changed])
        third = process(notes, processors, client)
        assert third["mentions"]["processed"] == third["embeddings"]["processed"] == 1
        assert {name: _commits(notes, name) for name in commits} == {MENTIONS: 2, CHUNKS: 2}
    _check_complete(notes)
    mentions = notes.table(MENTIONS)
    assert mentions.filter(pl.col("doc_id") == "EN0")["text"].to_list() == ["MSKU1234565"]
    assert notes.table(CHUNKS).filter(pl.col("doc_id") == "EN0")["text"].to_list() == [changed.text]


def test_default_processors_need_the_tagger_and_add_topics_once_trained(notes: Session, e5_dir: Path,  # noqa: F811
                                                                        tmp_path: Path) -> None:
    from workbench.nlp.batch import default_processors
    from workbench.nlp.models import ModelMissing

    with pytest.raises(ModelMissing, match="workbench nlp train --task ner"):
        default_processors(notes, tagger_dir=tmp_path / "untrained", encoder=e5_dir)
    names = [p.name for p in default_processors(notes, encoder=e5_dir, rules_only=True)]
    assert names == ["mentions", "embeddings"], "no classifier trained yet: no topics processor"


@pytest.mark.slow
def test_killing_a_worker_mid_run_then_rerunning_completes_without_duplicates(notes: Session,
                                                                             e5_dir: Path) -> None:  # noqa: F811
    from distributed import Client

    from workbench.compute import cluster
    from workbench.nlp.batch import process
    from workbench.nlp.embed import CHUNKS
    from workbench.nlp.extract import MENTIONS

    processors = _processors(notes, e5_dir)
    outcome: dict[str, Any] = {}
    with cluster(2, processes=True) as made, Client(made) as client:
        pids = client.run(os.getpid)

        def run() -> None:
            try:
                outcome["counts"] = process(notes, processors, client)
            except Exception as exc:  # a run that fails must leave the tables whole; the re-run finishes
                outcome["error"] = exc

        worker = threading.Thread(target=run)
        worker.start()
        deadline, killed = time.monotonic() + 300, None
        while killed is None and worker.is_alive() and time.monotonic() < deadline:
            if MENTIONS in notes.lake.catalog.names():  # the embeddings stage has started
                busy = [addr for addr, keys in client.processing().items() if keys and addr in pids]
                if busy:
                    killed = pids[busy[0]]
                    os.kill(killed, signal.SIGKILL)
            time.sleep(0.05)
        worker.join(timeout=600)
        assert killed is not None, "a worker was killed while it embedded"
        assert not worker.is_alive()
        if "error" in outcome:
            assert CHUNKS not in notes.lake.catalog.names(), "a failed run wrote nothing"
        rerun = process(notes, processors, client)
    _check_complete(notes)
    assert rerun["mentions"]["processed"] == 0
    assert rerun["embeddings"]["processed"] == (13 if "error" in outcome else 0)
    assert notes.table(CHUNKS).height >= 13


# -- long documents: the tagger's windows and the extractor at window boundaries ------------------------

@pytest.fixture(scope="module")
def untuned_tagger_dir(e5_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:  # noqa: F811
    """The converted encoder with a seeded, untrained tagging head: a real model whose tags are
    arbitrary but deterministic, which is all that checking how windows are stitched needs."""
    import shutil

    from transformers import BertForTokenClassification

    from workbench.nlp.tagger import TAGS

    torch.manual_seed(0)
    model = BertForTokenClassification.from_pretrained(
        e5_dir, local_files_only=True, num_labels=len(TAGS), id2label=dict(enumerate(TAGS)),
        label2id={tag: i for i, tag in enumerate(TAGS)})
    target = tmp_path_factory.mktemp("untuned-tagger")
    model.save_pretrained(target)
    for name in ("tokenizer.json", "tokenizer_config.json", "normalisation.json"):
        shutil.copy(e5_dir / name, target / name)
    return target


def _word_labels(spans: list[Any], words: list[tuple[int, int]], offset: int = 0) -> dict[int, str]:
    """Word index -> label of the span covering it; ``offset``: where the tagged text starts in ``words``' text."""
    starts = {start: i for i, (start, _) in enumerate(words)}
    labels = {}
    for s in spans:
        first = starts[s.start + offset]
        for i in range(first, len(words)):
            if words[i][1] > s.end + offset:
                break
            labels[i] = s.label
    return labels


def test_tagger_takes_each_word_from_its_most_central_window(untuned_tagger_dir: Path) -> None:
    """A long text gets the same tags as its first and last windows run alone, up to the middle of the overlaps."""
    from workbench.nlp.tagger import Tagger, split_words, windows

    tagger = Tagger(untuned_tagger_dir, threads=1)
    candidates = "the cargo was found in a container at the port and the driver of the lorry was arrested".split()
    vocabulary = [w for w in candidates if len(tagger.encoder.pieces(w, after_space=True)) == 1]
    assert len(vocabulary) >= 8
    text = " ".join(vocabulary * 60)
    words = split_words(text)
    assert len(tagger.encoder.encode(text, words).ids) == len(words), "one token per word"
    cover = windows(len(words))
    assert len(cover) >= 3
    whole = _word_labels(tagger.predict([text], batch_tokens=1)[0], words)
    assert whole, "the untrained head tags something"
    (_, first_end), (second_start, _) = cover[0], cover[1]
    (_, before_end), (last_start, _) = cover[-2], cover[-1]
    head_text, tail_from = text[: words[first_end - 1][1]], words[last_start][0]
    head = _word_labels(tagger.predict([head_text], batch_tokens=1)[0], words)
    tail = _word_labels(tagger.predict([text[tail_from:]], batch_tokens=1)[0], words, offset=tail_from)
    head_zone = range(0, (first_end - 1 + second_start) // 2 + 1)
    tail_zone = range((before_end - 1 + last_start) // 2 + 1, len(words))
    assert {i: whole.get(i) for i in head_zone} == {i: head.get(i) for i in head_zone}
    assert {i: whole.get(i) for i in tail_zone} == {i: tail.get(i) for i in tail_zone}


def test_no_entity_is_lost_where_the_tagger_windows_meet(untuned_tagger_dir: Path) -> None:
    """Containers, phones and sums placed across every window edge of a long document are all extracted."""
    from workbench.demo.identifiers import container_check_digit
    from workbench.nlp.chunks import chunk_text
    from workbench.nlp.extract import Extractor
    from workbench.nlp.gazetteer import Gazetteer
    from workbench.nlp.tagger import Tagger, split_words, windows

    tagger = Tagger(untuned_tagger_dir, threads=1)
    extractor = Extractor(Gazetteer([("Wing Fat Trading", "ORG", "T1")]), tagger)
    filler = "貨物在過境前被截查，約"  # the qualifier 約 before the sum stays outside its span
    pieces, expected = [], []
    for i in range(60):
        prefix = f"MSKU{i:06d}"
        for value, label in ((prefix + str(container_check_digit(prefix)), "CONTAINER"), ("Wing Fat Trading", "ORG"),
                             (f"+852 9{i:03d}{i:04d}", "PHONE"), ("三百萬港元", "MONEY")):
            start = sum(map(len, pieces)) + len(filler)
            pieces += [filler, value]
            expected.append((start, start + len(value), label))
    text = "".join(pieces) + "🙂"
    encoded = tagger.encoder.encode(text, split_words(text))
    edges = {edge for window in windows(len(encoded.ids)) for edge in window}
    assert len(edges) > 4, "the document spans several tagger windows"
    words = split_words(text)
    cut = {words[encoded.word_of_token[t]][0] for t in edges if 0 < t < len(encoded.ids)}
    assert any(a < c < b for a, b, _ in expected for c in cut), "some window edge falls inside an entity"
    found = {(s.start, s.end, s.label) for s in extractor.extract(text)}
    assert set(expected) <= found
    assert all(text[s.start:s.end] == s.text for s in extractor.extract(text))
    chunks = chunk_text(text, tagger.encoder, size=64, overlap=16)
    assert all(any(c.start <= a and b <= c.end for c in chunks) for a, b, _ in expected), "each entity whole in a chunk"


@pytest.mark.slow
def test_cli_process_runs_on_worker_processes_and_then_has_nothing_to_do(notes: Session,
                                                                         e5_dir: Path) -> None:  # noqa: F811
    from click.testing import CliRunner

    from workbench.cli.main import main
    from workbench.nlp.models import model_cache

    model_cache(notes).mkdir(parents=True)
    (model_cache(notes) / "e5-small").symlink_to(e5_dir)
    args = ["nlp", "process", "--workers", "1", "--rules-only", "--lake", notes.settings.lake]
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    assert "mentions: 13 of 13" in first.stdout and "embeddings: 13 of 13" in first.stdout
    again = CliRunner().invoke(main, args)
    assert "mentions: 0 of 13" in again.stdout and "embeddings: 0 of 13" in again.stdout
    _check_complete(notes)
