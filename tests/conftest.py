"""Shared fixtures: settings over a temporary instance, a store on each database, loaded boundaries.

Database fixtures are parametrised over SQLite (always) and PostgreSQL with PostGIS (whenever a server answers
at GEOSERVICE_TEST_POSTGRES_URL; CI sets GEOSERVICE_REQUIRE_POSTGRES=1 so a missing server fails instead of
skipping). Each PostgreSQL test session works in a throwaway database of its own.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pytest

from geoservice.config import PROJECT_ROOT, Settings
from geoservice.store.db import Store, make_engine
from geoservice.layers import load_layer_specs
from geoservice.synth.world import write_world

DATA_DIR = Path(os.environ.get("GEOSERVICE_DATA_DIR", PROJECT_ROOT.parent / "shared" / "data"))
POSTGRES_URL = os.environ.get("GEOSERVICE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REQUIRE_POSTGRES = os.environ.get("GEOSERVICE_REQUIRE_POSTGRES") == "1"
POLICE_UK = DATA_DIR / "police_uk_street_2017-07_2018-06.csv.gz"


def needs_data(*names):
    missing = [n for n in names if not (DATA_DIR / n).exists()]
    return pytest.mark.skipif(bool(missing), reason=f"shared data not found: {missing} in {DATA_DIR}")


@pytest.fixture(scope="session")
def specs():
    return load_layer_specs(PROJECT_ROOT / "layers")


@pytest.fixture(scope="session")
def postgres_database():
    """URL of a fresh PostGIS database for this session, or None when no server answers."""
    from sqlalchemy import text
    from sqlalchemy.exc import OperationalError

    admin = make_engine(POSTGRES_URL)
    try:
        with admin.connect() as conn:
            conn.execute(text("select 1"))
    except OperationalError as exc:
        admin.dispose()
        if REQUIRE_POSTGRES:
            pytest.fail(f"GEOSERVICE_REQUIRE_POSTGRES=1 but no PostgreSQL answers at {POSTGRES_URL}: {exc.orig}")
        yield None
        return
    name = f"geoservice_test_{uuid.uuid4().hex[:10]}"
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = POSTGRES_URL.rsplit("/", 1)[0] + "/" + name
    try:
        yield url
    finally:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'geoservice.sqlite'}"
    url = request.getfixturevalue("postgres_database")
    if url is None:
        pytest.skip(f"no PostgreSQL server at {POSTGRES_URL}")
    return url


@pytest.fixture
def settings(database_url, tmp_path) -> Settings:
    return Settings.from_env(environ={}, database_url=database_url, instance_path=str(tmp_path / "instance"),
                             data_dir=str(DATA_DIR), layers_dir=str(PROJECT_ROOT / "layers"))


@pytest.fixture
def store(settings):
    store = Store.from_settings(settings)
    store.drop_all()
    store.init()
    yield store
    store.drop_all()
    store.engine.dispose()


@pytest.fixture
def loaded_store(store, settings):
    """A store with the London boroughs and the wards of Merton and its neighbours loaded."""
    from geoservice.ingest.pipeline import ingest_file

    for name in ("london_boroughs.geojson", "wards_merton_neighbours.geojson"):
        path = DATA_DIR / name
        if not path.exists():
            pytest.skip(f"shared data not found: {path}")
        ingest_file(store, "boundaries", path, settings=settings)
    return store


@pytest.fixture
def write_csv(tmp_path):
    """Write rows (a header line and data lines) to a CSV file and return its path."""

    def write(name: str, lines: list[str], encoding: str = "utf-8") -> Path:
        path = tmp_path / name
        path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
        return path

    return write


# the synthetic world (seed 1), written once per session -------------------------------------------------------
#: The day the network and report tests look at the world from: after its year (2025), before most evidence expires.
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
        from geoservice.ingest.pipeline import ingest_file

        for name in layers:
            ingest_file(loaded_store, name, world_dir / f"{name}.csv", settings=settings, synthetic=True)
        return loaded_store

    return load


# signing in to the service ---------------------------------------------------------------------------------------
TEST_PASSWORD = "a long test password"


def sign_in(client, store, role: str = "mace_analyst", boroughs=None, username: str | None = None) -> str:
    """Make the user (one role, these boroughs; default the study area) if needed and sign the client in."""
    import re

    from geoservice.config import MERTON_AND_NEIGHBOURS
    from geoservice.privacy.users import add_user, get_user

    username = username or role
    if get_user(store, username) is None:
        add_user(store, username, TEST_PASSWORD, roles=[role], boroughs=boroughs or MERTON_AND_NEIGHBOURS)
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = client.post("/login", data={"username": username, "password": TEST_PASSWORD, "csrf_token": token})
    assert response.status_code == 302, response.get_data(as_text=True)
    return username


# one loaded world on SQLite, built once per session and copied per test ------------------------------------------
WORLD_LAYERS = ("places", "people", "associations", "missing_episodes", "incidents", "survey_responses",
                "outreach_sessions")


@pytest.fixture(scope="session")
def world_template(tmp_path_factory, world_dir):
    """A SQLite file holding the boundaries and the whole synthetic world (for tests where the database does not
    matter: they copy it instead of ingesting the world again)."""
    from geoservice.ingest.pipeline import ingest_file

    folder = tmp_path_factory.mktemp("world-template")
    settings = Settings.from_env(environ={}, database_url=f"sqlite:///{folder / 'world.sqlite'}",
                                 instance_path=str(folder / "instance"), data_dir=str(DATA_DIR),
                                 layers_dir=str(PROJECT_ROOT / "layers"))
    store = Store.from_settings(settings)
    store.init()
    for name in ("london_boroughs.geojson", "wards_merton_neighbours.geojson"):
        ingest_file(store, "boundaries", DATA_DIR / name, settings=settings)
    for name in WORLD_LAYERS:
        ingest_file(store, name, world_dir / f"{name}.csv", settings=settings, synthetic=True)
    store.checkpoint()
    store.engine.dispose()
    return folder


@pytest.fixture
def world_settings(world_template, tmp_path) -> Settings:
    """Settings over a private copy of the world template (SQLite), with its own instance folder."""
    import shutil

    shutil.copy(world_template / "world.sqlite", tmp_path / "world.sqlite")
    if (world_template / "instance").exists():  # the audit log's key and anchor travel with its database
        shutil.copytree(world_template / "instance", tmp_path / "instance", dirs_exist_ok=True)
    return Settings.from_env(environ={}, database_url=f"sqlite:///{tmp_path / 'world.sqlite'}",
                             instance_path=str(tmp_path / "instance"), data_dir=str(DATA_DIR),
                             layers_dir=str(PROJECT_ROOT / "layers"))
