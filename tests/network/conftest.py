"""The synthetic world (seed 1) written once per test session, and a way to load chosen layers of it."""

from __future__ import annotations

import json

import pytest

from geoservice.ingest.pipeline import ingest_file
from geoservice.synth.world import write_world

from ..conftest import DATA_DIR

#: The day the network tests look at the world from: after its year (2025), before most evidence expires.
AS_OF = "2026-01-01"


@pytest.fixture(scope="session")
def world_dir(tmp_path_factory):
    if not (DATA_DIR / "london_boroughs.geojson").exists():
        pytest.skip(f"shared data not found in {DATA_DIR}")
    folder = tmp_path_factory.mktemp("world")
    write_world(folder, seed=1, data_dir=DATA_DIR)
    return folder


@pytest.fixture(scope="session")
def truth(world_dir):
    return json.loads((world_dir / "ground_truth.json").read_text())


@pytest.fixture
def load_world(loaded_store, settings, world_dir):
    """``load_world(*layers)`` ingests those layers of the world into the boundary-loaded store and returns it."""

    def load(*layers):
        for name in layers:
            ingest_file(loaded_store, name, world_dir / f"{name}.csv", settings=settings)
        return loaded_store

    return load
