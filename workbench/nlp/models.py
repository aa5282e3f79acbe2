"""Where the NLP models live, how a process loads each one once, and how a model names its version.

One folder per model under the model cache (``ner``, ``topics``, ``e5-small``), each with
a ``card.json`` whose ``version`` is what result tables record. The cache is
``settings.nlp_models`` when set, else ``<lake root>/models/nlp`` for a local lake (so
``make up``'s models are found by every command run in the checkout) and the user's
cache folder for a lake on object storage.

``load`` is the one cached loader: a tagger, an embedder or a classifier is built once
per process, folder and options, so a Dask worker loads each model once however many
partitions it gets, and a notebook that extracts twice does not read the weights twice.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from workbench.errors import WorkbenchError

if TYPE_CHECKING:
    from workbench.session import Session

CARD_FILE = "card.json"
NER_DIR = "ner"
TOPICS_DIR = "topics"
Model = TypeVar("Model")


class ModelMissing(WorkbenchError):
    """A command needs a model nobody has trained yet; the message names the command that trains it."""


def model_cache(wb: Session) -> Path:
    """The folder that holds the NLP models of ``wb``'s lake (see the module docstring)."""
    if wb.settings.nlp_models:
        return Path(wb.settings.nlp_models).expanduser()
    if wb.lake.location.is_remote:
        return Path.home() / ".cache" / "workbench" / "models" / "nlp"
    return Path(wb.settings.lake).expanduser() / "models" / "nlp"


def card_version(folder: Path) -> str:
    """The version a model's card names (the folder's name for a model without a card)."""
    card = folder / CARD_FILE
    return json.loads(card.read_text())["version"] if card.exists() else folder.name


def load(kind: type[Model], folder: Path, *options: Any) -> Model:
    """``kind(folder, *options)``, built once per process for the same folder and options."""
    return _load(kind, folder.resolve(), options)


@lru_cache(maxsize=6)
def _load(kind: type, folder: Path, options: tuple) -> Any:
    return kind(folder, *options)


def require(folder: Path, marker: str, train_command: str, hint: str = "") -> Path:
    """``folder`` if it holds a trained model (its ``marker`` file), else ``ModelMissing`` naming the command."""
    if not (folder / marker).exists():
        raise ModelMissing(f"no trained model in {folder}: run `{train_command}` first" + (f" ({hint})" if hint else ""))
    return folder
