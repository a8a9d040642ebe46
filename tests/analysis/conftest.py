"""Fixtures shared by the analysis tests: the real borough polygons and Merton's study cells."""

from __future__ import annotations

import pytest

from geoservice.cells import polygons_to_cells

from ..conftest import DATA_DIR

MERTON = "E09000024"


@pytest.fixture(scope="session")
def boroughs():
    if not (DATA_DIR / "london_boroughs.geojson").exists():
        pytest.skip("shared data not found")
    import geopandas as gpd

    return gpd.read_file(DATA_DIR / "london_boroughs.geojson", engine="pyogrio").set_index("code")


@pytest.fixture(scope="session")
def merton_cells(boroughs):
    """Merton's study cells at res 9 and res 10 (polygon fill at cell centres)."""
    return {res: polygons_to_cells([boroughs.geometry[MERTON]], res) for res in (9, 10)}


@pytest.fixture(scope="session")
def all_merton_cells(boroughs):
    """Merton's study cells at res 8, 9 and 10."""
    return {res: polygons_to_cells([boroughs.geometry[MERTON]], res) for res in (8, 9, 10)}
