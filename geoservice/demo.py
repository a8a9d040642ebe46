"""Build the demo database: the real public data in ``data_dir`` plus a seeded synthetic world.

Real: London boroughs, the wards of Merton and its neighbours, OpenStreetMap points of interest and a year of
police.uk street crime. Synthetic (``geoservice.synth``): people, associations, missing episodes, survey
answers, outreach sessions, fictional named places and incidents for the world's year.
"""

from __future__ import annotations

from pathlib import Path

from .config import Settings
from .errors import SetupError
from .ingest.pipeline import ingest_file
from .store.db import Store
from .synth.world import LAYER_FILES, write_world

REAL_FILES = (
    ("boundaries", "london_boroughs.geojson", None),
    ("boundaries", "wards_merton_neighbours.geojson", None),
    ("boundaries", "msoa_merton_neighbours.geojson", None),
    ("boundaries", "lsoa_merton_neighbours.geojson", None),
    ("places", "osm_pois_merton_neighbours.csv", "osm-pois"),
    ("incidents", "police_uk_street_2017-07_2018-06.csv.gz", "police-uk"),
)


def build_demo(settings: Settings, *, seed: int = 1, echo=print) -> Store:
    """Rebuild the store from scratch with the real and synthetic data; return it."""
    data_dir = Path(settings.data_dir)
    if not (data_dir / "london_boroughs.geojson").exists():
        raise SetupError(f"the demo needs the shared public data, not found in {data_dir}; set GEOSERVICE_DATA_DIR "
                         "to the folder holding london_boroughs.geojson and the other files")
    store = Store.from_settings(settings)
    store.drop_all()
    store.init()
    echo(f"building the demo store at {store.engine.url.render_as_string()}")
    for layer, name, fmt in REAL_FILES:
        path = data_dir / name
        if not path.exists():
            echo(f"skipped {name}: not in {data_dir}")
            continue
        echo(ingest_file(store, layer, path, settings=settings, fmt=fmt).summary())
    synth_dir = Path(settings.instance_path) / f"synthetic-world-{seed}"
    echo(write_world(synth_dir, seed=seed, data_dir=data_dir))
    for layer in LAYER_FILES:
        echo(ingest_file(store, layer, synth_dir / f"{layer}.csv", settings=settings).summary())
    counts = store.layer_counts()
    echo("demo store ready: " + ", ".join(f"{name} {n:,}" for name, n in counts.items()))
    return store
