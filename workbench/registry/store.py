"""The model registry over MLflow: versions, aliases, metrics, provenance and model cards.

MLflow keeps runs and versions in ``<folder>/mlflow.db`` (sqlite; mlflow 3.17 refuses a
file store) and artifacts under ``<folder>/artifacts``. Every training run becomes a
model version with alias ``challenger``; the first version of a model also becomes
``champion``, later ones only through ``promote`` (a person's decision, not the
trainer's). Models are stored with joblib: load only registries you trust.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

import joblib
import pandas as pd
from mlflow import MlflowClient
from mlflow.entities import Metric, Param
from mlflow.exceptions import MlflowException

import workbench
from workbench.errors import WorkbenchError
from workbench.registry.cards import model_card
from workbench.risk.model import RiskModel
from workbench.risk.training import TrainingRun
from workbench.settings import load_settings

CHAMPION, CHALLENGER = "champion", "challenger"
FINGERPRINT = "training_fingerprint"
MODEL_FILE = "model/model.joblib"


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


class Registry:
    """One registry folder; cheap to create, the database is made on first use."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        uri = f"sqlite:///{self.folder.resolve() / 'mlflow.db'}"
        self.client = MlflowClient(tracking_uri=uri, registry_uri=uri)

    def _experiment(self, name: str) -> str:
        found = self.client.get_experiment_by_name(name)
        if found is not None:
            return str(found.experiment_id)
        return str(self.client.create_experiment(name, artifact_location=(self.folder / "artifacts" / name).as_uri()))

    def register(self, run: TrainingRun, fingerprint: str | None = None) -> int:
        """Log a training run (params, metrics, data, code, card, model) and register it as a new version.

        ``fingerprint`` (``registry.deploy.training_fingerprint``: spec and training snapshot) is kept
        as a version tag, so ``trained_from`` finds this version instead of training again.
        """
        name = run.spec.name
        version_of_code = code_version()
        mlrun = self.client.create_run(self._experiment(name), run_name=f"{name}-{run.selected}",
                                       tags={"code_version": version_of_code or "unknown", "selected": run.selected})
        run_id = mlrun.info.run_id
        self.client.log_batch(run_id, params=self._params(run), metrics=self._metrics(run))
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp)
            (out / "model").mkdir()
            joblib.dump(run.model, out / MODEL_FILE)
            (out / "model_card.md").write_text(model_card(run, version_of_code), encoding="utf-8")
            (out / "data.json").write_text(json.dumps([f.__dict__ for f in run.data.files], indent=1))
            (out / "spec.json").write_text(run.spec.model_dump_json(indent=1, by_alias=True))
            run.results.to_csv(out / "results.csv", index=False)
            run.calibration.to_csv(out / "calibration.csv", index=False)
            for item in out.iterdir():
                if item.is_dir():
                    self.client.log_artifacts(run_id, str(item), item.name)
                else:
                    self.client.log_artifact(run_id, str(item))
        self.client.set_terminated(run_id)
        try:
            self.client.get_registered_model(name)
        except MlflowException:
            self.client.create_registered_model(name, description=run.spec.model.description)
        tags = {FINGERPRINT: fingerprint} if fingerprint else None
        version = int(self.client.create_model_version(name, source=f"runs:/{run_id}/model", run_id=run_id,
                                                       tags=tags).version)
        self.client.set_registered_model_alias(name, CHALLENGER, str(version))
        if CHAMPION not in self.client.get_registered_model(name).aliases:
            self.client.set_registered_model_alias(name, CHAMPION, str(version))
        return version

    @staticmethod
    def _params(run: TrainingRun) -> list[Param]:
        spec = run.spec
        chosen = next(c for c in spec.candidates if c.algorithm == run.model.algorithm)
        params = {"algorithm": run.model.algorithm, "seed": spec.model.seed, "selection_metric": spec.selection.metric,
                  "refit_on_validate": spec.data.refit_on_validate, "weighting": getattr(spec.data, "weighting", "none"),
                  **{f"param.{k}": v for k, v in chosen.params.items()},
                  **{f"data.{f.role}.path": f.path for f in run.data.files},
                  **{f"data.{f.role}.sha256": f.sha256 for f in run.data.files},
                  **{f"data.{f.role}.rows": f.rows for f in run.data.files},
                  **{f"data.version.{table}": version for table, version in run.data.versions.items()}}
        return [Param(k, str(v)) for k, v in params.items()]

    @staticmethod
    def _metrics(run: TrainingRun) -> list[Metric]:
        now = int(pd.Timestamp.now().timestamp() * 1000)
        out = [Metric(f"model.{k}", v, now, 0) for k, v in run.metrics().items()]
        for row in run.results.to_dict("records"):
            out += [Metric(f"{row['kind']}.{row['name']}.{k}", float(v), now, 0)
                    for k, v in row.items() if k not in ("kind", "name")]
        return [m for m in out if m.value == m.value]  # NaN (e.g. Brier of a value rule) is not logged

    def _version(self, name: str, version: int | None = None, alias: str | None = None):  # noqa: ANN202
        try:
            if alias is not None:
                return self.client.get_model_version_by_alias(name, alias)
            return self.client.get_model_version(name, str(version))
        except MlflowException:
            what = f"alias {alias!r}" if alias is not None else f"version {version}"
            raise RegistryError(f"model {name!r} has no {what} in {self.folder}") from None

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
        """Make ``version`` the champion that ``score`` uses."""
        self._version(name, version=version)
        self.client.set_registered_model_alias(name, CHAMPION, str(version))

    def version_of(self, name: str, alias: str = CHAMPION) -> int:
        """The version number an alias points at now (scores record it, so a score can be traced)."""
        return int(self._version(name, alias=alias).version)

    def load(self, name: str, alias: str = CHAMPION, version: int | None = None) -> RiskModel:
        """The model behind an alias (or a version number), ready to score."""
        found = self._version(name, version=version) if version is not None else self._version(name, alias=alias)
        artifacts = urlparse(self.client.get_run(found.run_id).info.artifact_uri)
        model = joblib.load(Path(url2pathname(artifacts.path)) / MODEL_FILE)  # the registry is local by design
        assert isinstance(model, RiskModel)
        return model

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
        """Validation metrics of every version of ``name`` side by side (one column per version)."""
        columns = {}
        for row in self.versions(name).itertuples():
            metrics = self.client.get_run(self._version(name, version=row.version).run_id).data.metrics
            label = f"v{row.version}" + (f" ({row.aliases})" if row.aliases else "")
            columns[label] = pd.Series(metrics)
        table = pd.DataFrame(columns).sort_index()
        return table.rename_axis("metric").reset_index()
