"""Where the NLP models live, how a process loads each one once, and how a model names its version.

The models trained here, the tagger (``ner``) and the topic classifier (``topics``), are
versions in the model registry (``workbench.registry.versions``), as risk models are:
training registers its folder as a new version (the first becomes champion, later ones
challengers that a person promotes with ``workbench models promote``), and the loaders
read the champion's folder (``champion``). Result tables record ``<name>/<version>``
(``ner/3``), the registry's name for that version, in ``model_version``; ``risk_scores``
records the same pair as its ``model`` and ``version`` columns. A folder passed in by hand
(tests, benchmarks) is no registry version: it is recorded by its card's ``version``.

The registry is the lake's (``<lake root>/models/registry``, beside the risk models, so
``workbench models list`` shows both) unless ``settings.nlp_models`` names a folder of
NLP models, whose ``registry`` sub-folder then holds them. The model cache keeps what is
not trained here (the converted encoder ``e5-small``): ``settings.nlp_models`` when set,
else ``<lake root>/models/nlp`` for a local lake and the user's cache folder for a lake on
object storage.

``load`` is the one cached loader: a tagger, an embedder or a classifier is built once
per process, folder and options, so a Dask worker loads each model once however many
partitions it gets, and a notebook that extracts twice does not read the weights twice.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from workbench.errors import WorkbenchError
from workbench.registry.versions import CHAMPION, REGISTRY_DB, ModelStore, RegistryError, registry_folder

if TYPE_CHECKING:
    from workbench.session import Session

CARD_FILE = "card.json"
NER_MODEL = "ner"
TOPICS_MODEL = "topics"
"""The registry names of the tagger and the topic classifier."""
MAKE_UP_HINT = "`make up` runs it in the background: see `workbench jobs`"
"""Said beside a missing model's training command: the stack's background jobs train both models."""
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


def registry_location(wb: Session) -> Path:
    """The folder of ``wb``'s NLP model registry (see the module docstring)."""
    if wb.settings.nlp_models or wb.lake.location.is_remote:
        return model_cache(wb) / "registry"
    return registry_folder(wb.settings.lake)


def model_registry(wb: Session) -> ModelStore:
    """The registry of ``wb``'s NLP models, made on first use."""
    return ModelStore(registry_location(wb))


@dataclass(frozen=True)
class Champion:
    """A registered model's champion: its artefact folder and the version result tables record."""

    folder: Path
    version: str


def champion(wb: Session, name: str, train_command: str, hint: str = "") -> Champion:
    """The champion of NLP model ``name``, else ``ModelMissing`` naming the command that trains one."""
    folder = registry_location(wb)
    try:
        if not (folder / REGISTRY_DB).is_file():  # looking must not make a registry (the stack reads its presence)
            raise RegistryError(f"no registry in {folder}")
        store = ModelStore(folder)
        number = store.version_of(name, CHAMPION)
    except RegistryError:
        raise ModelMissing(f"no trained {name} model in {folder}: run `{train_command}` first"
                           + (f" ({hint})" if hint else "")) from None
    return Champion(store.artifacts(name, version=number), f"{name}/{number}")


def register_trained(wb: Session, name: str, train: Callable[[Path], dict], description: str = ""
                     ) -> tuple[str, dict]:
    """Train into a new registry version of ``name`` (``train(folder)`` writes the model there and returns its
    card, whose scalar entries become the run's params); the version's name (``ner/3``) and the card.

    Trained straight into the run's folder: the tagger's checkpoint is ~470 MB, not worth a copy.
    A training that fails leaves no version and no partial folder.
    """
    store = model_registry(wb)
    run_id = store.start_run(name)
    try:
        card = train(store.run_folder(run_id))
    except BaseException:
        store.abandon_run(run_id)
        raise
    params = {k: v for k, v in card.items() if isinstance(v, (str, int, float, bool))}
    return f"{name}/{store.register_run(name, run_id, params=params, description=description)}", card


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
