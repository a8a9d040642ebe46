"""Build the demo database: the real public data in ``data_dir`` plus a seeded synthetic world.

Real: London boroughs, the wards of Merton and its neighbours, OpenStreetMap points of interest and a year of
police.uk street crime. Synthetic (``geoservice.synth``): people, associations, missing episodes, survey
answers, outreach sessions, fictional named places and incidents for the world's year.
"""

from __future__ import annotations

import os
from pathlib import Path

from .config import MERTON_AND_NEIGHBOURS, Settings
from .errors import SetupError
from .ingest.pipeline import ingest_file
from .privacy.users import add_user
from .store.db import Store
from .synth.world import LAYER_FILES, write_world

#: Sign-ins for the demo, one per role, over the synthetic world only. Real deployments add their own users with
#: ``geoservice user add`` and never use these.
DEMO_PASSWORD = "places-and-spaces-demo"
DEMO_USERS = (("analyst", "mace_analyst", MERTON_AND_NEIGHBOURS), ("tasking", "tasking_officer", ("E09000024",)),
              ("youth", "youth_worker", ("E09000024",)), ("auditor", "auditor", MERTON_AND_NEIGHBOURS),
              ("admin", "admin", MERTON_AND_NEIGHBOURS))

REAL_FILES = (
    ("boundaries", "london_boroughs.geojson", None),
    ("boundaries", "wards_merton_neighbours.geojson", None),
    ("boundaries", "msoa_merton_neighbours.geojson", None),
    ("boundaries", "lsoa_merton_neighbours.geojson", None),
    ("places", "osm_pois_merton_neighbours.csv", "osm-pois"),
    ("incidents", "police_uk_street_2017-07_2018-06.csv.gz", "police-uk"),
)


def demo_sources() -> set[str]:
    """The file names the demo loads."""
    return {name for _, name, _ in REAL_FILES} | {f"{layer}.csv" for layer in LAYER_FILES}


def build_demo(settings: Settings, *, seed: int = 1, echo=print) -> Store:
    """Rebuild the store from scratch with the real and synthetic data; return it. A store holding any batch the
    demo did not load is refused, untouched (``SetupError``)."""
    data_dir = Path(settings.data_dir)
    if not (data_dir / "london_boroughs.geojson").exists():
        raise SetupError(f"the demo needs the shared public data, not found in {data_dir}; set GEOSERVICE_DATA_DIR "
                         "to the folder holding london_boroughs.geojson and the other files")
    store = Store.from_settings(settings)
    foreign = store.foreign_batches(demo_sources())
    strangers = sorted(set(store.user_scopes()) - {u for u, _, _ in DEMO_USERS}) if store.has_table("users") else []
    if strangers:
        store.engine.dispose()
        raise SetupError(
            f"the store at {store.engine.url.render_as_string()} has users the demo did not add "
            f"({', '.join(strangers[:3])}{', ...' if len(strangers) > 3 else ''}). `geoservice demo` rebuilds its "
            "store from scratch and would erase them and the audit log, so it did nothing. Point it at another "
            "store (--instance or GEOSERVICE_DATABASE_URL), or remove this one yourself if it really is disposable.")
    if foreign:
        store.engine.dispose()
        raise SetupError(
            f"the store at {store.engine.url.render_as_string()} holds {len(foreign)} batches the demo did not load "
            f"(for example {', '.join(sorted(set(foreign))[:3])}). `geoservice demo` rebuilds its store from "
            "scratch and would erase them and their audit log, so it did nothing. Point it at another store "
            "(--instance or GEOSERVICE_DATABASE_URL), or remove this one yourself if it really is disposable.")
    store.drop_all()
    store.init()
    echo(f"building the demo store at {store.engine.url.render_as_string()}")
    for layer, name, fmt in REAL_FILES:
        path = data_dir / name
        if not path.exists():
            echo(f"skipped {name}: not in {data_dir}")
            continue
        echo(ingest_file(store, layer, path, settings=settings, fmt=fmt, demo=True).summary())
    synth_dir = Path(settings.instance_path) / f"synthetic-world-{seed}"
    echo(write_world(synth_dir, seed=seed, data_dir=data_dir))
    for layer in LAYER_FILES:
        echo(ingest_file(store, layer, synth_dir / f"{layer}.csv", settings=settings, synthetic=True,
                         demo=True).summary())
    counts = store.layer_counts()
    echo("demo store ready: " + ", ".join(f"{name} {n:,}" for name, n in counts.items()))
    password = os.environ.get("GEOSERVICE_DEMO_PASSWORD") or DEMO_PASSWORD
    for username, role, boroughs in DEMO_USERS:
        add_user(store, username, password, roles=[role], boroughs=boroughs)
    told = repr(DEMO_PASSWORD) if password == DEMO_PASSWORD else "from GEOSERVICE_DEMO_PASSWORD"
    echo(f"demo users for the synthetic world (password {told}): "
         + ", ".join(f"{u} ({r})" for u, r, _ in DEMO_USERS))
    return store
