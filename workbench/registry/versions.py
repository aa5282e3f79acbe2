"""Model versions on MLflow, whatever the model: a run, its folder of artefacts, a version, aliases.

Risk models (``registry.store.Registry``) and the NLP models (``nlp.models``: the tagger
``ner``, the topic classifier ``topics``) are versioned the same way here. MLflow keeps
runs and versions in ``<folder>/mlflow.db`` (sqlite; mlflow 3.17 refuses a file store) and
artefacts under ``<folder>/artifacts``. Every registered version gets alias
``challenger``; the first version of a model also becomes ``champion``, later ones only
through ``promote`` (a person's decision, not the trainer's). The registry is local by
design: ``artifacts`` is a folder on this machine.

Conventions ``versions`` reads, so one listing shows every kind of model: a run may log
the params ``algorithm`` and ``selection_metric`` and the metric ``model.<selection_metric>``.
"""

from __future__ import annotations

import fcntl
import functools
import os
import shutil
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from urllib.request import url2pathname

import pandas as pd
from mlflow import MlflowClient
from mlflow.entities import Metric, Param
from mlflow.exceptions import MlflowException

import workbench
from workbench.errors import WorkbenchError
from workbench.settings import load_settings

CHAMPION, CHALLENGER = "champion", "challenger"
FINGERPRINT = "training_fingerprint"
REGISTRY_DB = "mlflow.db"


class RegistryError(WorkbenchError):
    """A registry request that cannot be met (unknown model, version or alias; remote lake)."""


def registry_folder(lake: str | None = None) -> Path:
    """``<lake root>/models/registry`` for a local lake; object-store lakes need a registry of their own."""
    root = load_settings(lake=lake).lake
    if "://" in root and not root.startswith("file://"):
        raise RegistryError(f"lake {root!r} is not on local disk; the MLflow registry needs a local folder")
    return Path(root.removeprefix("file://")) / "models" / "registry"


def code_version() -> str | None:
    """``git rev-parse HEAD`` of the workbench checkout, ``+dirty`` if it has local changes; None outside git."""
    where = Path(workbench.__file__).resolve().parent
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=where,
                               capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


class ModelStore:
    """One registry folder; cheap to create, the database is made on first use."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)

    @functools.cached_property
    def client(self) -> MlflowClient:
        """The MLflow client, its database made (or migrated) by one process at a time.

        MLflow creates and migrates its tables at a store's first use; two processes doing it
        at once on a new registry collide ("table ... already exists", seen when ``make up``'s
        NER job and the live scorer first opened a new lake's registry together), so that first
        use happens under an exclusive ``flock`` beside the database. A user who may not write
        the folder cannot create the database anyway and opens it without the lock.
        """
        uri = f"sqlite:///{self.folder.resolve() / REGISTRY_DB}"
        try:
            fd = os.open(self.folder / f"{REGISTRY_DB}.lock", os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o660)
        except PermissionError:
            return MlflowClient(tracking_uri=uri, registry_uri=uri)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            client = MlflowClient(tracking_uri=uri, registry_uri=uri)  # which may already open the store
            client.search_experiments(max_results=1)
            client.search_registered_models(max_results=1)
        finally:
            os.close(fd)
        return client

    def _experiment(self, name: str) -> str:
        found = self.client.get_experiment_by_name(name)
        if found is not None:
            return str(found.experiment_id)
        return str(self.client.create_experiment(name, artifact_location=(self.folder / "artifacts" / name).as_uri()))

    def start_run(self, name: str, run_name: str | None = None, tags: Mapping[str, str] | None = None) -> str:
        """A new run of model ``name`` (tagged with the code version); its id. Fill ``run_folder(id)``, then
        ``register_run``."""
        tags = {"code_version": code_version() or "unknown", **(tags or {})}
        return str(self.client.create_run(self._experiment(name), run_name=run_name or name, tags=tags).info.run_id)

    def run_folder(self, run_id: str) -> Path:
        """The local folder of a run's artefacts (made if absent): a trainer may write its model straight here."""
        folder = Path(url2pathname(urlparse(self.client.get_run(run_id).info.artifact_uri).path))
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def register_run(self, name: str, run_id: str, params: Mapping[str, Any] | None = None,
                     metrics: Iterable[Metric] = (), description: str = "", version_tags: Mapping[str, str] | None = None
                     ) -> int:
        """Log ``params`` and ``metrics``, end the run and register it as a new version of ``name``: alias
        ``challenger``, and ``champion`` too when the model has none."""
        self.client.log_batch(run_id, params=[Param(k, str(v)) for k, v in (params or {}).items()],
                              metrics=list(metrics))
        self.client.set_terminated(run_id)
        try:
            self.client.get_registered_model(name)
        except MlflowException:
            self.client.create_registered_model(name, description=description)
        version = int(self.client.create_model_version(name, source=f"runs:/{run_id}", run_id=run_id,
                                                       tags=dict(version_tags) if version_tags else None).version)
        self.client.set_registered_model_alias(name, CHALLENGER, str(version))
        if not self.has_alias(name, CHAMPION):
            self.client.set_registered_model_alias(name, CHAMPION, str(version))
        return version

    def abandon_run(self, run_id: str) -> None:
        """End a run whose training failed, without a version, and drop its partial artefacts."""
        shutil.rmtree(self.run_folder(run_id), ignore_errors=True)
        self.client.set_terminated(run_id, status="FAILED")

    def register_folder(self, name: str, folder: Path, run_name: str | None = None,
                        tags: Mapping[str, str] | None = None, **registration: Any) -> int:
        """``start_run``, ``folder``'s content logged as the run's artefacts, ``register_run``; the version."""
        run_id = self.start_run(name, run_name, tags)
        self.client.log_artifacts(run_id, str(folder))
        return self.register_run(name, run_id, **registration)

    def _version(self, name: str, version: int | None = None, alias: str | None = None):  # noqa: ANN202
        try:
            if alias is not None:
                return self.client.get_model_version_by_alias(name, alias)
            return self.client.get_model_version(name, str(version))
        except MlflowException:
            what = f"alias {alias!r}" if alias is not None else f"version {version}"
            raise RegistryError(f"model {name!r} has no {what} in {self.folder}") from None

    def artifacts(self, name: str, alias: str = CHAMPION, version: int | None = None) -> Path:
        """The local folder of the artefacts behind an alias (or a version number)."""
        found = self._version(name, version=version) if version is not None else self._version(name, alias=alias)
        return Path(url2pathname(urlparse(self.client.get_run(found.run_id).info.artifact_uri).path))

    def trained_from(self, name: str, fingerprint: str) -> int | None:
        """The latest version registered with ``fingerprint`` (same spec, same data), or None."""
        try:
            found = self.client.search_model_versions(f"name = '{name}'")
        except MlflowException:
            return None
        matching = [int(v.version) for v in found if v.tags.get(FINGERPRINT) == fingerprint]
        return max(matching, default=None)

    def has_alias(self, name: str, alias: str) -> bool:
        try:
            return alias in self.client.get_registered_model(name).aliases
        except MlflowException:
            return False

    def promote(self, name: str, version: int) -> None:
        """Make ``version`` the champion that scoring and the NLP loaders use."""
        self._version(name, version=version)
        self.client.set_registered_model_alias(name, CHAMPION, str(version))

    def version_of(self, name: str, alias: str = CHAMPION) -> int:
        """The version number an alias points at now (result tables record it, so a result can be traced)."""
        return int(self._version(name, alias=alias).version)

    def versions(self, name: str | None = None) -> pd.DataFrame:
        """One row per registered version: aliases, algorithm, selection metric, when and from which code."""
        rows = []
        query = f"name = '{name}'" if name else ""
        for found in self.client.search_model_versions(query):
            v = self.client.get_model_version(found.name, found.version)  # search leaves aliases empty
            run = self.client.get_run(v.run_id)
            metric = run.data.params.get("selection_metric", "")
            rows.append({"name": v.name, "version": int(v.version), "aliases": ",".join(sorted(v.aliases)),
                         "algorithm": run.data.params.get("algorithm"), "metric": metric,
                         "value": run.data.metrics.get(f"model.{metric}"),
                         "created": pd.Timestamp(v.creation_timestamp, unit="ms").isoformat(timespec="seconds"),
                         "code_version": run.data.tags.get("code_version")})
        if name and not rows:
            raise RegistryError(f"no registered model {name!r} in {self.folder}")
        return pd.DataFrame(rows, columns=["name", "version", "aliases", "algorithm", "metric", "value", "created",
                                           "code_version"]).sort_values(["name", "version"], ignore_index=True)

    def compare(self, name: str) -> pd.DataFrame:
        """Metrics of every version of ``name`` side by side (one column per version)."""
        columns = {}
        for row in self.versions(name).itertuples():
            metrics = self.client.get_run(self._version(name, version=row.version).run_id).data.metrics
            label = f"v{row.version}" + (f" ({row.aliases})" if row.aliases else "")
            columns[label] = pd.Series(metrics)
        table = pd.DataFrame(columns).sort_index()
        return table.rename_axis("metric").reset_index()
