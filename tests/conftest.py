"""Shared fixtures: settings over a temporary instance, a store, loaded boundaries, the synthetic world.

Stores are SQLite by default. A test (or module) marked ``postgres`` runs on PostgreSQL with PostGIS as well,
whenever a server answers at GEOSERVICE_TEST_POSTGRES_URL (CI sets GEOSERVICE_REQUIRE_POSTGRES=1 so a missing
server fails instead of skipping): mark the tests where the database matters (SQL, transactions, PostGIS), not the
policy, page and analysis tests above the store. Each PostgreSQL test session works in a throwaway database.

Loading the boundaries and the synthetic world is done once per session per set of layers, into a SQLite
template that each test copies (``_templates``): the same rows, batches and audit log as an ingest, in a fraction
of the time.
"""

from __future__ import annotations


import dataclasses
import json
import os
import shutil
import uuid
from contextlib import contextmanager
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
def postgres_templates(tmp_path_factory):
    """Template databases on the PostgreSQL server for this session (None when no server answers): ``empty`` (PostGIS
    and the store's tables) and ``boundaries`` (the boroughs and wards loaded too). Each test's database is a copy
    (``CREATE DATABASE ... TEMPLATE``), far quicker than making tables and loading boundaries again."""
    from sqlalchemy import text
    from sqlalchemy.exc import OperationalError

    from geoservice.ingest.pipeline import ingest_file

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
    prefix = f"geoservice_test_{uuid.uuid4().hex[:10]}"
    names = {"empty": f"{prefix}_empty", "boundaries": f"{prefix}_boundaries"}
    autocommit = admin.connect().execution_options(isolation_level="AUTOCOMMIT")
    try:
        autocommit.execute(text(f'CREATE DATABASE "{names["empty"]}"'))
        settings = Settings.from_env(environ={}, database_url=_postgres_url(names["empty"]),
                                     instance_path=str(tmp_path_factory.mktemp("pg-template")),
                                     data_dir=str(DATA_DIR), layers_dir=str(PROJECT_ROOT / "layers"))
        store = Store.from_settings(settings)
        store.init()
        store.engine.dispose()
        autocommit.execute(text(f'CREATE DATABASE "{names["boundaries"]}" TEMPLATE "{names["empty"]}"'))
        store = Store.from_settings(dataclasses.replace(settings, database_url=_postgres_url(names["boundaries"])))
        for name in BOUNDARY_FILES:
            if (DATA_DIR / name).exists():
                ingest_file(store, "boundaries", DATA_DIR / name, settings=store.settings)
        store.engine.dispose()
        yield {"admin": autocommit, **names}
    finally:
        for name in names.values():
            autocommit.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        autocommit.close()
        admin.dispose()


def _postgres_url(name: str) -> str:
    return POSTGRES_URL.rsplit("/", 1)[0] + "/" + name


def pytest_generate_tests(metafunc):
    """``database_url`` (and so ``settings`` and ``store``) is SQLite, and PostgreSQL too under the ``postgres``
    mark."""
    if "database_url" in metafunc.fixturenames:
        both = metafunc.definition.get_closest_marker("postgres") is not None
        metafunc.parametrize("database_url", ["sqlite", "postgresql"] if both else ["sqlite"], indirect=True)


@pytest.fixture
def database_url(request, tmp_path):
    """A new, empty database for the test: a SQLite file, or a PostgreSQL database copied from a template (with
    the boundaries already loaded when the test asks for ``loaded_store``)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'geoservice.sqlite'}"
        return
    from sqlalchemy import text

    templates = request.getfixturevalue("postgres_templates")
    if templates is None:
        pytest.skip(f"no PostgreSQL server at {POSTGRES_URL}")
    name = f"geoservice_t_{uuid.uuid4().hex[:12]}"
    template = templates["boundaries" if "loaded_store" in request.fixturenames else "empty"]
    templates["admin"].execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    try:
        yield _postgres_url(name)
    finally:
        templates["admin"].execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def settings(database_url, tmp_path) -> Settings:
    return Settings.from_env(environ={}, database_url=database_url, instance_path=str(tmp_path / "instance"),
                             data_dir=str(DATA_DIR), layers_dir=str(PROJECT_ROOT / "layers"))


@pytest.fixture
def store(settings):
    """The store over the test's own new database."""
    store = Store.from_settings(settings)
    store.init()
    yield store
    store.engine.dispose()


@pytest.fixture
def loaded_store(store, settings, _templates):
    """A store with the London boroughs and the wards of Merton and its neighbours loaded."""

    for name in BOUNDARY_FILES:
        if not (DATA_DIR / name).exists():
            pytest.skip(f"shared data not found: {DATA_DIR / name}")
    if store.is_postgres:
        return store  # its database was copied from the template with the boundaries (``database_url``)
    return _from_template(store, settings, _templates(()))


def _from_template(store, settings, folder: Path):
    """Put a template's database and instance files (the audit log's key and anchor) under ``store``."""

    from geoservice.privacy import audit

    store.engine.dispose()
    path = Path(settings.database_url.split("///", 1)[1])
    for suffix in ("-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    shutil.copy(folder / "world.sqlite", path)
    if (folder / "instance").exists():
        shutil.copytree(folder / "instance", settings.instance_path, dirs_exist_ok=True)
    audit._KEYS.pop(store, None)  # the store's audit key is the template's from now on
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


@contextmanager
def _made_once(tmp_path_factory, name: str):
    """A folder made once per test run, shared by the parallel workers of the run (each waits for the one making
    it): yields (folder, already made?); the folder counts as made when the block ends without an error."""
    import fcntl

    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base  # the run's own folder either way
    folder = shared / "made-once" / name
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = folder / ".made"
        if done.exists():
            yield folder, True
            return
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()
        yield folder, False
        done.touch()


@pytest.fixture(scope="session")
def world_dir(tmp_path_factory):
    if not (DATA_DIR / "london_boroughs.geojson").exists():
        pytest.skip(f"shared data not found in {DATA_DIR}")
    with _made_once(tmp_path_factory, "world") as (folder, made):
        if not made:
            write_world(folder, seed=1, data_dir=DATA_DIR)
    return folder


@pytest.fixture(scope="session")
def truth(world_dir):
    return json.loads((world_dir / "ground_truth.json").read_text())


@pytest.fixture
def load_world(loaded_store, settings, world_dir, _templates):
    """``load_world(*layers)`` ingests those layers of the world into the boundary-loaded store and returns it
    (on SQLite, by copying a template loaded the same way once per session)."""

    def load(*layers):
        from geoservice.ingest.pipeline import ingest_file

        if not loaded_store.is_postgres:
            return _from_template(loaded_store, settings, _templates(tuple(layers)))
        for name in layers:
            ingest_file(loaded_store, name, world_dir / f"{name}.csv", settings=settings, synthetic=True)
        return loaded_store

    return load


# signing in to the service ---------------------------------------------------------------------------------------
TEST_PASSWORD = "a long test password"


@pytest.fixture(autouse=True, scope="session")
def _quick_password_hashes():
    """Tests add users and sign in hundreds of times, and scrypt at its production cost takes about 0.1 s each
    time: tests hash with a cheap PBKDF2 instead (a hash names its own method, so checking is cheap too).
    ``tests/privacy/test_users.py`` checks that the service itself stores scrypt hashes."""
    import functools

    import geoservice.privacy.users as users

    original, dummy = users.generate_password_hash, users._DUMMY_HASH
    users.generate_password_hash = functools.partial(original, method="pbkdf2:sha256:1000")
    users._DUMMY_HASH = users.generate_password_hash("not a real password, never matches")
    yield
    users.generate_password_hash, users._DUMMY_HASH = original, dummy


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


@contextmanager
def signed_in_app(store, settings, role: str = "mace_analyst", boroughs=None):
    """``(app, client)``: the app over ``settings``' store, its test client signed in as ``role``; the store's
    connections closed at the end."""
    from geoservice import create_app

    app = create_app({"GEOSERVICE_SETTINGS": settings, "TESTING": True})
    try:
        client = app.test_client()
        sign_in(client, store, role, boroughs)
        yield app, client
    finally:
        app.extensions["geoservice_store"].engine.dispose()


def sign_in_page(page, base: str, username: str = "analyst") -> None:
    """Sign a browser page in at ``base`` as ``username`` (the test password)."""
    page.goto(f"{base}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", TEST_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")


# loaded stores on SQLite, built once per session and copied per test --------------------------------------------
WORLD_LAYERS = ("places", "people", "associations", "missing_episodes", "incidents", "survey_responses",
                "outreach_sessions", "mace_actions", "safeguarding_referrals", "risk_assessments", "worker_allocations",
                "police_contacts", "population_baseline", "tasking_actions", "interventions")
BOUNDARY_FILES = ("london_boroughs.geojson", "wards_merton_neighbours.geojson")


@pytest.fixture(scope="session")
def _templates(tmp_path_factory, world_dir):
    """``_templates(layers)``: a folder holding a SQLite store with the boundaries and those layers of the world
    (ingested as ``load_world`` does) and its instance folder; made once per run per tuple of layers, starting
    from a copy of the boundaries-only template."""
    from geoservice.ingest.pipeline import ingest_file

    def template(layers: tuple) -> Path:
        name = "template-" + ("-".join(layers) if layers else "boundaries")
        with _made_once(tmp_path_factory, name) as (folder, made):
            if made:
                return folder
            if layers:
                start = template(())
                shutil.copy(start / "world.sqlite", folder / "world.sqlite")
                shutil.copytree(start / "instance", folder / "instance")
            settings = Settings.from_env(environ={}, database_url=f"sqlite:///{folder / 'world.sqlite'}",
                                         instance_path=str(folder / "instance"), data_dir=str(DATA_DIR),
                                         layers_dir=str(PROJECT_ROOT / "layers"))
            store = Store.from_settings(settings)
            store.init()
            for file in (() if layers else BOUNDARY_FILES):
                ingest_file(store, "boundaries", DATA_DIR / file, settings=settings)
            for layer in layers:
                ingest_file(store, layer, world_dir / f"{layer}.csv", settings=settings, synthetic=True)
            store.checkpoint()
            store.engine.dispose()
            (folder / "instance").mkdir(exist_ok=True)
        return folder

    return template


@pytest.fixture(scope="session")
def world_template(_templates):
    """The folder of a SQLite store holding the boundaries and the whole synthetic world."""
    return _templates(WORLD_LAYERS)


@pytest.fixture
def world_settings(world_template, tmp_path) -> Settings:
    """Settings over a private copy of the whole world (SQLite), with its own instance folder."""

    shutil.copy(world_template / "world.sqlite", tmp_path / "world.sqlite")
    if (world_template / "instance").exists():  # the audit log's key and anchor travel with its database
        shutil.copytree(world_template / "instance", tmp_path / "instance", dirs_exist_ok=True)
    return Settings.from_env(environ={}, database_url=f"sqlite:///{tmp_path / 'world.sqlite'}",
                             instance_path=str(tmp_path / "instance"), data_dir=str(DATA_DIR),
                             layers_dir=str(PROJECT_ROOT / "layers"))


# a real browser -------------------------------------------------------------------------------------------------
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
REQUIRE_BROWSER = os.environ.get("GEOSERVICE_REQUIRE_BROWSER") == "1"
BROWSER_ARTIFACTS = Path(os.environ.get("GEOSERVICE_TEST_ARTIFACTS", PROJECT_ROOT / "test-artifacts"))


@pytest.fixture(scope="module")
def browser():
    """Debian's headless Chromium driven by Playwright (no browser download); skipped when absent, unless
    GEOSERVICE_REQUIRE_BROWSER=1 (CI)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    if sync_playwright is None or not Path(CHROMIUM).exists():
        message = f"no browser: playwright importable={sync_playwright is not None}, chromium at {CHROMIUM}"
        if REQUIRE_BROWSER:
            pytest.fail(f"GEOSERVICE_REQUIRE_BROWSER=1 but {message} (run scripts/browser-setup)")
        pytest.skip(message)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


def wait_for_map(page, timeout: int = 60_000) -> None:
    """Wait until a map page has drawn its map, after its building page when the map was not built yet (issue
    17). Only Playwright calls that need no eval in the page: the Content-Security-Policy forbids it, so the
    polling of ``wait_for_function`` cannot run on the building page."""
    page.wait_for_selector("#map", state="attached", timeout=timeout)
    page.wait_for_load_state("load", timeout=timeout)
    page.wait_for_function("window.placesMap && window.placesMap.ready", timeout=timeout)


@contextmanager
def offline_page(app, browser, *, username: str | None = None, task: str | None = None, downloads: bool = False,
                 timeout_ms: int = 120_000):
    """``app`` served on a free local port, and a 1366x900 page of ``browser`` whose every request beyond the local
    host is aborted and recorded; signed in as ``username`` (password ``TEST_PASSWORD``) and with the workbench task
    stated as ``task`` when given. Yields ``(base_url, page, blocked)``; the server stops afterwards."""
    import threading
    from urllib.parse import urlparse

    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    context = browser.new_context(viewport={"width": 1366, "height": 900}, accept_downloads=downloads)
    page = context.new_page()
    page.set_default_timeout(timeout_ms)
    blocked: list[str] = []

    def only_local(route):
        if urlparse(route.request.url).hostname in ("127.0.0.1", "localhost") or route.request.url.startswith("data:"):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    page.route("**/*", only_local)
    try:
        if username:
            page.goto(f"{base}/login")
            page.fill("input[name=username]", username)
            page.fill("input[name=password]", TEST_PASSWORD)
            page.click("button[type=submit]")
        if task:
            page.goto(f"{base}/workbench/")
            page.fill("input[name=why]", task)
            page.click("#task button[type=submit]")
        yield base, page, blocked
    finally:
        context.close()
        server.shutdown()


def private_world(world_template: Path, folder: Path) -> tuple[Store, Settings]:
    """A private copy of the whole synthetic world (SQLite, with its instance folder) in ``folder``: its store and
    settings, for a module's tests to share."""
    shutil.copy(world_template / "world.sqlite", folder / "world.sqlite")
    shutil.copytree(world_template / "instance", folder / "instance", dirs_exist_ok=True)
    settings = Settings.from_env(environ={}, database_url=f"sqlite:///{folder / 'world.sqlite'}",
                                 instance_path=str(folder / "instance"), data_dir=str(DATA_DIR),
                                 layers_dir=str(PROJECT_ROOT / "layers"))
    return Store.from_settings(settings), settings
