"""Every notebook in notebooks/ runs top to bottom (its own assertions included) on the shared data."""

from __future__ import annotations

import os

import pytest

from geoservice.config import PROJECT_ROOT

from .conftest import DATA_DIR, POLICE_UK, needs_data

pytestmark = pytest.mark.slow

NOTEBOOKS = sorted((PROJECT_ROOT / "notebooks").glob("*.ipynb"))


@needs_data(POLICE_UK.name, "london_boroughs.geojson", "osm_pois_merton_neighbours.csv")
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("GEOSERVICE_DATA_DIR", str(DATA_DIR))
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    errors = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors
    assert os.environ.get("GEOSERVICE_DATA_DIR") == str(DATA_DIR)


def test_there_are_notebooks():
    assert NOTEBOOKS, "notebooks/ holds the analyst notebooks"
