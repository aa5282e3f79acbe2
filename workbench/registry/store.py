"""Risk models in the registry: a training run's params, metrics, data, card and model, and loading it back.

The versioning itself (runs, versions, the champion and challenger aliases, the folder
behind an alias) is ``registry.versions.ModelStore``, which the NLP models use too; this
module adds what only a risk model has. Models are stored with joblib: load only
registries you trust.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import joblib
import pandas as pd
from mlflow.entities import Metric

from workbench.registry.cards import model_card
from workbench.registry.versions import (CHALLENGER, CHAMPION, FINGERPRINT, ModelStore, RegistryError, code_version,
                                         registry_folder)
from workbench.risk.model import RiskModel
from workbench.risk.training import TrainingRun

__all__ = ["CHALLENGER", "CHAMPION", "Registry", "RegistryError", "code_version", "registry_folder"]
MODEL_FILE = "model/model.joblib"


class Registry(ModelStore):
    """The registry of ``ModelStore`` plus risk models' registration and loading."""

    def register(self, run: TrainingRun, fingerprint: str | None = None) -> int:
        """Log a training run (params, metrics, data, code, card, model) and register it as a new version.

        ``fingerprint`` (``registry.deploy.training_fingerprint``: spec and training snapshot) is kept
        as a version tag, so ``trained_from`` finds this version instead of training again.
        """
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp)
            (out / "model").mkdir()
            joblib.dump(run.model, out / MODEL_FILE)
            (out / "model_card.md").write_text(model_card(run, code_version()), encoding="utf-8")
            (out / "data.json").write_text(json.dumps([f.__dict__ for f in run.data.files], indent=1))
            (out / "spec.json").write_text(run.spec.model_dump_json(indent=1, by_alias=True))
            run.results.to_csv(out / "results.csv", index=False)
            run.calibration.to_csv(out / "calibration.csv", index=False)
            return self.register_folder(run.spec.name, out, run_name=f"{run.spec.name}-{run.selected}",
                                        tags={"selected": run.selected}, params=self._params(run),
                                        metrics=self._metrics(run), description=run.spec.model.description,
                                        version_tags={FINGERPRINT: fingerprint} if fingerprint else None)

    @staticmethod
    def _params(run: TrainingRun) -> dict[str, object]:
        spec = run.spec
        chosen = next(c for c in spec.candidates if c.algorithm == run.model.algorithm)
        return {"algorithm": run.model.algorithm, "seed": spec.model.seed, "selection_metric": spec.selection.metric,
                "refit_on_validate": spec.data.refit_on_validate, "weighting": getattr(spec.data, "weighting", "none"),
                **{f"param.{k}": v for k, v in chosen.params.items()},
                **{f"data.{f.role}.path": f.path for f in run.data.files},
                **{f"data.{f.role}.sha256": f.sha256 for f in run.data.files},
                **{f"data.{f.role}.rows": f.rows for f in run.data.files},
                **{f"data.version.{table}": version for table, version in run.data.versions.items()}}

    @staticmethod
    def _metrics(run: TrainingRun) -> list[Metric]:
        now = int(pd.Timestamp.now().timestamp() * 1000)
        out = [Metric(f"model.{k}", v, now, 0) for k, v in run.metrics().items()]
        for row in run.results.to_dict("records"):
            out += [Metric(f"{row['kind']}.{row['name']}.{k}", float(v), now, 0)
                    for k, v in row.items() if k not in ("kind", "name")]
        return [m for m in out if m.value == m.value]  # NaN (e.g. Brier of a value rule) is not logged

    def load(self, name: str, alias: str = CHAMPION, version: int | None = None) -> RiskModel:
        """The model behind an alias (or a version number), ready to score."""
        path = self.artifacts(name, alias, version) / MODEL_FILE
        if not path.is_file():
            raise RegistryError(f"model {name!r} in {self.folder} is not a risk model (no {MODEL_FILE})")
        model = joblib.load(path)
        assert isinstance(model, RiskModel)
        return model
