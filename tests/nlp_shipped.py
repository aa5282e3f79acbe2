"""pytest plugin: the tagger ``make up`` ships, trained in the background while the tests before it run.

Why: ``tests/test_nlp_handwritten.py`` holds the floor on the model ``make up`` ships, so where
the checkout has none (CI, a fresh clone) the run trains one with ``make up``'s own job
command (``workbench nlp train --task ner --if-missing``, default recipe, one thread):
~135 CPU-seconds (184 before the 10-layer recipe). Trained inside the fixture, that time adds to the run's wall time;
started as soon as collection has selected a test that needs it, it runs in a child
process at lower priority (``nice 10``) on the core the (single-process) test run leaves
free, and the fixture only waits for what is left of it. What is trained and asserted is
unchanged.

The child trains into a models folder of its own against an empty lake: the job reads the
lake only for analysts' span annotations, and the generated world has none, so it trains
on exactly what it would train on in the tiny world. The folder is removed, and a child
still running is stopped, when the run ends.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

SHIPPED_FIXTURE = "shipped_models"
CHILD_NICENESS = 10
_KEY = pytest.StashKey["ShippedTraining | None"]()


@dataclass
class ShippedTraining:
    """``make up``'s tagger training job, running in a child process into ``folder/models``."""

    process: subprocess.Popen
    folder: Path

    @property
    def env(self) -> dict[str, str]:
        """The environment under which ``workbench nlp`` finds the trained tagger."""
        return {"WORKBENCH_NLP_MODELS": str(self.folder / "models")}

    @property
    def log(self) -> Path:
        return self.folder / "train.log"

    def wait(self, timeout: float) -> tuple[int, str]:
        """The job's exit code and output, once it has finished."""
        code = self.process.wait(timeout=timeout)
        return code, self.log.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


def start_training() -> ShippedTraining:
    """Start ``workbench nlp train --task ner --if-missing`` (``make up``'s job) at niceness 10 in a temp folder."""
    folder = Path(tempfile.mkdtemp(prefix="wbt-shipped-ner-"))
    env = {**os.environ, "WORKBENCH_CONFIG": "", "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1",
           "WORKBENCH_NLP_MODELS": str(folder / "models")}
    lower = max(0, CHILD_NICENESS - os.nice(0))  # a run already niced (as on a shared machine) is not starved further
    command = ["nice", "-n", str(lower), str(Path(sys.executable).parent / "workbench"),
               "nlp", "train", "--task", "ner", "--if-missing", "--format", "json", "--lake", str(folder / "lake")]
    with (folder / "train.log").open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    return ShippedTraining(process, folder)


def checkout_has_tagger() -> bool:
    """Whether the checkout's default lake holds a tagger champion (``make up`` has run here)."""
    from workbench.nlp.extract import TRAIN_NER
    from workbench.nlp.models import NER_MODEL, ModelMissing, champion
    from workbench.session import connect

    try:
        champion(connect(), NER_MODEL, TRAIN_NER)
    except ModelMissing:
        return False
    return True


@pytest.hookimpl(trylast=True)  # after -k / -m have deselected what they deselect
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    needed = any(SHIPPED_FIXTURE in getattr(item, "fixturenames", ()) for item in items)
    config.stash[_KEY] = start_training() if needed and not checkout_has_tagger() else None


def pytest_unconfigure(config: pytest.Config) -> None:
    training = config.stash.get(_KEY, None)
    if training is not None:
        training.stop()


def shipped_training(config: pytest.Config) -> ShippedTraining | None:
    """The background training this run started, None where the checkout has a tagger of its own."""
    return config.stash.get(_KEY, None)
