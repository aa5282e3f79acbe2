"""The notebooks in notebooks/ run top to bottom in a real kernel against a real lake."""

from __future__ import annotations

from pathlib import Path

import nbformat
import polars as pl
import pytest
from nbclient import NotebookClient

from workbench.session import Session

NOTEBOOKS = sorted((Path(__file__).parents[1] / "notebooks").glob("*.ipynb"))


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs(path: Path, tiny_world: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKBENCH_LAKE", tiny_world.settings.lake)
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    errors = [o for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    code_cells = [c for c in notebook.cells if c.cell_type == "code"]
    assert all(c.get("execution_count") for c in code_cells), "every code cell ran"
    if path.name == "01_first_steps.ipynb":  # its last cell saves the analyst's result to the work zone
        last = code_cells[-1].outputs[0]["data"]["text/plain"]
        assert "work.value_by_port" in last and "rows written" in last
    if path.name == "06_dask_on_the_lake.ipynb":  # the cluster's answer landed in work, from a pinned input
        landed = tiny_world.tables("work").filter(pl.col("name") == "work.undervalued_traders").row(0, named=True)
        assert landed["row_count"] > 0 and '"table": "curated.declarations"' in landed["inputs"]
