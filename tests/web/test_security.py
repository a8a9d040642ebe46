"""Attacks a hostile insider or a careless user would try (issue 10): copied cookies after sign-out, open
redirects, guessing passwords, formulas in exports, differencing the youth map, retention of public data."""

from __future__ import annotations

import csv
import re
import xml.etree.ElementTree as ET
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from geoservice import create_app
from geoservice.ingest.pipeline import ingest_file
from geoservice.privacy.retention import run_retention
from geoservice.privacy.users import add_user, set_disabled, set_password

from ..conftest import TEST_PASSWORD, sign_in

MERTON, LAMBETH = "E09000024", "E09000022"


@pytest.fixture
def bare_app(store, settings):
    """The service over an empty store, on each database (sessions and sign-in limits live in the database)."""
    application = create_app({"GEOSERVICE_SETTINGS": settings, "TESTING": True})
    yield application
    application.extensions["geoservice_store"].engine.dispose()


@pytest.fixture
def world_app(world_settings):
    """The service over a copy of the loaded synthetic world (SQLite)."""
    application = create_app({"GEOSERVICE_SETTINGS": world_settings, "TESTING": True})
    yield application
    application.extensions["geoservice_store"].engine.dispose()


def _token(client, path="/login") -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True)).group(1)


def _try(client, username, password, next_url=None):
    url = "/login" + (f"?next={next_url}" if next_url is not None else "")
    return client.post(url, data={"username": username, "password": password, "csrf_token": _token(client)})


# sessions ----------------------------------------------------------------------------------------------------------
@pytest.mark.postgres
def test_a_cookie_saved_before_sign_out_is_refused_after_it(bare_app):
    store = bare_app.extensions["geoservice_store"]
    client = bare_app.test_client()
    sign_in(client, store, "admin", [MERTON])
    saved = client.get_cookie("session").value
    assert client.get("/api/layers").status_code == 200
    thief = bare_app.test_client()
    thief.set_cookie("session", saved)
    assert thief.get("/api/layers").status_code == 200, "a copied cookie works while the session lasts"
    assert client.post("/logout", data={"csrf_token": _token(client, "/")}).status_code == 302
    assert client.get("/api/layers").status_code == 401
    thief.set_cookie("session", saved)
    assert thief.get("/api/layers").status_code == 401, "the copy saved before sign-out is refused after it"
    assert thief.get("/").status_code == 302


@pytest.mark.postgres
@pytest.mark.parametrize("change", ["disable", "password"])
def test_disabling_a_user_or_a_new_password_ends_every_session(bare_app, change):
    store = bare_app.extensions["geoservice_store"]
    first, second = bare_app.test_client(), bare_app.test_client()
    sign_in(first, store, "auditor", [MERTON])
    sign_in(second, store, "auditor", [MERTON])
    assert first.get("/api/layers").status_code == second.get("/api/layers").status_code == 200
    if change == "disable":
        set_disabled(store, "auditor")
    else:
        set_password(store, "auditor", "another long password")
    assert first.get("/api/layers").status_code == second.get("/api/layers").status_code == 401


# redirects -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("target", ["/%09/evil.example", "//evil.example", "https://evil.example/", "/\\evil.example",
                                    "/%0d%0aSet-Cookie:x=1", "/%0a/evil.example", "javascript:alert(1)",
                                    "/ /evil.example", "%2F%2Fevil.example", "/\u3000/evil.example"])
def test_next_is_only_ever_a_path_on_this_site(bare_app, target):
    store = bare_app.extensions["geoservice_store"]
    add_user(store, "ana", TEST_PASSWORD, roles=["mace_analyst"], boroughs=[MERTON])
    client = bare_app.test_client()
    response = _try(client, "ana", TEST_PASSWORD, target)
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location == "/", "anything but a plain path on this site goes to the start page"
    assert not urlsplit(location).netloc
    assert _try(bare_app.test_client(), "ana", TEST_PASSWORD, "/maps/?x=1").headers["Location"] == "/maps/?x=1"


# guessing passwords --------------------------------------------------------------------------------------------
@pytest.mark.postgres
def test_a_stranger_cannot_lock_a_user_out_of_their_own_browser(bare_app):
    store = bare_app.extensions["geoservice_store"]
    add_user(store, "ana", TEST_PASSWORD, roles=["mace_analyst"], boroughs=[MERTON])
    usual = bare_app.test_client()  # ana's own browser: she signed in with it before
    assert _try(usual, "ana", TEST_PASSWORD).status_code == 302
    usual.post("/logout", data={"csrf_token": _token(usual, "/")})
    stranger = bare_app.test_client()  # same address (a council NAT), no device cookie
    statuses = [_try(stranger, "ana", "guess number %d" % i).status_code for i in range(7)]
    assert statuses == [401] * 5 + [429] * 2, "guessing is stopped"
    assert _try(stranger, "ana", TEST_PASSWORD).status_code == 429, "even the right password, from the stranger"
    assert _try(usual, "ana", TEST_PASSWORD).status_code == 302, "ana's own browser still signs in"


@pytest.mark.postgres
def test_guesses_spread_over_many_names_are_limited_in_every_worker(bare_app, settings):
    # two apps over one store stand for two workers of the production server
    other_worker = create_app({"GEOSERVICE_SETTINGS": settings, "TESTING": True})
    try:
        clients = [bare_app.test_client(), other_worker.test_client()]
        statuses = [_try(clients[i % 2], f"user{i}", "a guessed password").status_code for i in range(32)]
        assert statuses[:30] == [401] * 30 and statuses[30:] == [429, 429]
    finally:
        other_worker.extensions["geoservice_store"].engine.dispose()


# exports -----------------------------------------------------------------------------------------------------
FORMULA = '=HYPERLINK("http://evil.example","adult")'


def _hostile_links(store, settings, tmp_path):
    """Cross-borough associations whose text fields carry a formula and XML-breaking characters."""
    people = store.read_layer("people", ["person_id", "home_borough", "subject_category"])
    children = people[people.subject_category == "child_at_risk"]
    ours = children.person_id[children.home_borough == MERTON].iloc[0]
    theirs = children.person_id[children.home_borough == LAMBETH].iloc[0]
    path = tmp_path / "hostile.csv"
    rows = [["association_id", "person_a", "person_b", "association_type", "source_layer", "source_record",
             "evidence_date", "source_evaluation", "intelligence_assessment", "expires_on"],
            ["X-1", ours, theirs, "reported_association", "intelligence", FORMULA, "2025-06-01", "B", "2",
             "2027-06-01"],
            ["X-2", ours, theirs, "reported_association", "+cmd|' /C calc'!A0", "@SUM(1+1)", "2025-06-02", "B",
             "2", "2027-06-01"]]
    with open(path, "w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    report = ingest_file(store, "associations", path, settings=settings, username="loader", justification="tests")
    assert report.accepted == 2
    return ours


def _cells(folder):
    for path in sorted(folder.glob("*.csv")):
        with open(path, newline="") as handle:
            for row in csv.reader(handle):
                yield path.name, row


NUMBER = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$")


def test_exports_hold_no_formula_and_parse_as_xml(world_settings, tmp_path):
    from geoservice.network.build import graph_from_evidence
    from geoservice.network.export import to_gexf, to_graphml, to_i2_csv
    from geoservice.reports.linkage import linkage_report, write_linkage
    from geoservice.store.db import Store

    store = Store.from_settings(world_settings)
    try:
        _hostile_links(store, world_settings, tmp_path)
        report = linkage_report(store, MERTON, start="2025-01-01", end="2026-01-01", as_of="2026-01-01")
        write_linkage(report, tmp_path / "linkage", "csv")
        graph = graph_from_evidence(store, as_of="2026-01-01")
        graph.add_node("C\x00\u202e9999", subject_category="child_at_risk", home_borough=MERTON)
        (tmp_path / "i2").mkdir()
        to_i2_csv(graph, tmp_path / "i2" / "entities.csv", tmp_path / "i2" / "links.csv")
        seen = []
        for folder in (tmp_path / "linkage", tmp_path / "i2"):
            for name, row in _cells(folder):
                for cell in row:
                    if cell.startswith(("=", "+", "-", "@")):
                        assert NUMBER.match(cell), (name, cell)  # a negative number is not a formula
                    seen.append(cell)
        assert "'" + FORMULA in seen and "'@SUM(1+1)" in seen, "the hostile text is there, as text"
        for writer, suffix in ((to_graphml, "graphml"), (to_gexf, "gexf")):
            path = writer(graph, tmp_path / f"network.{suffix}")
            ET.parse(path)  # raises on a NUL or other character XML cannot hold
    finally:
        store.engine.dispose()


# the youth map -----------------------------------------------------------------------------------------------
def test_the_youth_view_refuses_the_current_year_and_an_upload_changes_no_published_number(world_app, world_settings,
                                                                                          tmp_path):
    import h3

    store = world_app.extensions["geoservice_store"]
    client = world_app.test_client()
    sign_in(client, store, "youth_worker", [MERTON])
    this_year = date.today().year
    refused = client.get(f"/api/maps/youth_area?borough={MERTON}&period={this_year}")
    assert refused.status_code == 400 and "has not ended" in refused.get_json()["error"]
    before = client.get(f"/api/maps/youth_area?borough={MERTON}&period=2025").get_json()["map"]
    # a late upload: enough children found in 2025 in one Merton cell to lift it past the threshold
    cell = h3.latlng_to_cell(51.4100, -0.1880, 8)
    lat, lng = h3.cell_to_latlng(cell)
    lines = ["episode_id,person_id,reported_missing_at,found_at,risk_grade,missing_from_latitude,"
             "missing_from_longitude,found_latitude,found_longitude"]
    lines += [f"LATE{i},LATECHILD{i},2025-06-0{1 + i % 9}T10:00:00,2025-06-0{1 + i % 9}T20:00:00,amber,{lat},{lng},"
              f"{lat},{lng}" for i in range(25)]
    path = tmp_path / "late.csv"
    path.write_text("\n".join(lines) + "\n")
    assert ingest_file(store, "missing_episodes", path, settings=world_settings, username="loader",
                       justification="late returns").accepted == 25
    after = client.get(f"/api/maps/youth_area?borough={MERTON}&period=2025").get_json()["map"]
    assert [layer.get("values") for layer in after["layers"]] == [layer.get("values") for layer in before["layers"]]
    assert [layer.get("index") for layer in after["layers"]] == [layer.get("index") for layer in before["layers"]]
    # counted afresh, that cell would now show 25 or more: only the freeze keeps the published map unchanged
    from geoservice.analysis.counts import layer_counts, study_cells

    cells = study_cells(store, [MERTON], 8)
    fresh = layer_counts(store, "missing_episodes", cells, res=8, location="found", time_field="found_at",
                         start="2025-01-01", end="2026-01-01", distinct_field="person_id")
    assert fresh[h3.str_to_int(cell)] >= 25
    found_layer = after["layers"][0]
    alone = {h3.str_to_int(c) for c, v in zip(_shown_cells(after, found_layer), found_layer["values"]) if v >= 25}
    assert h3.str_to_int(cell) not in alone, "the late children do not show: the published areas stand"


def _shown_cells(config, layer):
    """The H3 cells a map layer colours, decoded from the page's packed hexagons."""
    import h3
    import numpy as np

    hexes = np.asarray(config["hexes"]).reshape(-1, 12)
    out = []
    for i in layer["index"]:
        lat, lng = (np.cumsum(np.vstack([hexes[i, :2] + np.asarray(config["origin"]), hexes[i, 2:].reshape(5, 2)]),
                              axis=0).mean(axis=0) / config["scale"])
        out.append(h3.latlng_to_cell(lat, lng, config["resolution"]))
    return out


# retention ---------------------------------------------------------------------------------------------------
def test_retention_erases_personal_data_only_and_leaves_nothing_in_the_files(world_settings):
    from geoservice.store.db import Store

    store = Store.from_settings(world_settings)
    try:
        before = store.layer_counts()
        people = store.read_layer("people", ["person_id"]).person_id.tolist()
        report = run_retention(store, today=date(2040, 1, 1))  # everything personal of 2025 is past review
        after = store.layer_counts()
        assert after["incidents"] == before["incidents"] and after["places"] == before["places"]
        assert after["boundaries"] == before["boundaries"], "public open data is not erased"
        assert after["people"] == after["missing_episodes"] == after["associations"] == 0
        assert "incidents" not in report.removed and report.removed["people"] == before["people"]
        path = world_settings.database_url.split("///", 1)[1]
        files = b"".join(Path(p).read_bytes() for p in (path, path + "-wal") if Path(p).exists())
        left = [p for p in people[:200] if len(p) >= 5 and p.encode() in files]
        assert not left, f"erased ids still readable in the database files: {left[:5]}"
    finally:
        store.engine.dispose()


def test_the_layer_counts_follow_the_users_boroughs(world_app):
    store = world_app.extensions["geoservice_store"]
    merton_only, everywhere = world_app.test_client(), world_app.test_client()
    sign_in(merton_only, store, "auditor", [MERTON], username="merton_auditor")
    sign_in(everywhere, store, "auditor", username="study_area_auditor")
    ours = {layer["name"]: layer for layer in merton_only.get("/api/layers").get_json()["layers"]}
    all_ = {layer["name"]: layer for layer in everywhere.get("/api/layers").get_json()["layers"]}
    people = store.read_layer("people", ["home_borough"])
    assert ours["people"]["rows"] == int((people.home_borough == MERTON).sum()) < all_["people"]["rows"]
    episodes = store.read_layer("missing_episodes", ["missing_from_borough"])
    assert ours["missing_episodes"]["rows"] == int((episodes.missing_from_borough == MERTON).sum())
    assert 0 < ours["associations"]["rows"] < all_["associations"]["rows"]
    assert ours["boundaries"]["rows"] == all_["boundaries"]["rows"], "reference geography is not scoped"
    assert all(layer["quarantined"] is None for layer in ours.values()), "quarantine has no borough to scope by"
    assert all(layer["quarantined"] is not None for layer in all_.values())


def test_a_youth_map_year_before_the_records_is_refused_and_withdrawal_is_audited(world_app, world_settings):
    from click.testing import CliRunner

    from geoservice.cli import main
    from geoservice.privacy.audit import events

    store = world_app.extensions["geoservice_store"]
    client = world_app.test_client()
    sign_in(client, store, "youth_worker", [MERTON])
    refused = client.get(f"/api/maps/youth_area?borough={MERTON}&period=1899")
    assert refused.status_code == 400 and "no records before" in refused.get_json()["error"]
    assert client.get(f"/api/maps/youth_area?borough={MERTON}&period=2025").status_code == 200
    published = store.publications()
    assert published and {row["period"] for row in published} == {"2025-01-01..2026-01-01"}
    base = ["--database", world_settings.database_url, "--instance", str(world_settings.instance_path),
            "publications"]
    assert "2025-01-01..2026-01-01" in CliRunner().invoke(main, base + ["list"]).output
    result = CliRunner().invoke(main, base + ["withdraw", "2025-01-01..2026-01-01", "--why", "loaded late"])
    assert result.exit_code == 0 and not store.publications()
    assert events(store, operation="alteration")[0]["objects"] == '["publications:2025-01-01..2026-01-01"]'


@pytest.mark.postgres
def test_odd_bytes_in_forms_and_parameters_are_refused_not_crashes(bare_app):
    store = bare_app.extensions["geoservice_store"]
    client = bare_app.test_client()
    token = _token(client)
    assert client.post("/login", data={"username": "ana\x00", "password": "x", "csrf_token": token}).status_code == 401
    assert client.post("/login", data={"username": "a" * 5000, "password": "x", "csrf_token": token}).status_code == 401
    assert client.post("/login", data={"username": "ana", "password": "x", "csrf_token": "é"}).status_code == 400
    assert client.post("/login", data={"username": "ana", "password": "x"},
                       headers={"X-CSRF-Token": "é"}).status_code == 400
    sign_in(client, store, "auditor", [MERTON])
    assert client.get("/audit/?user=%00").status_code == 400
    assert client.get("/audit/?operation=bogus").status_code == 400


@pytest.mark.postgres
def test_guesses_at_the_same_moment_count_each_other(bare_app):
    from concurrent.futures import ThreadPoolExecutor

    store = bare_app.extensions["geoservice_store"]
    add_user(store, "ana", TEST_PASSWORD, roles=["auditor"], boroughs=[MERTON])

    def guess(i):
        client = bare_app.test_client()
        return _try(client, "ana", f"guess {i}").status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(guess, range(16)))
    assert statuses.count(401) <= 5 and statuses.count(429) >= 11, statuses


def test_behind_a_trusted_proxy_each_client_is_limited_by_its_own_address(store, settings):
    import dataclasses

    app = create_app({"GEOSERVICE_SETTINGS": dataclasses.replace(settings, proxy_hops=1), "TESTING": True})
    try:
        add_user(store, "ana", TEST_PASSWORD, roles=["auditor"], boroughs=[MERTON])
        stranger, ana = app.test_client(), app.test_client()
        for client, address in ((stranger, "203.0.113.9"), (ana, "198.51.100.7")):
            client.environ_base["HTTP_X_FORWARDED_FOR"] = address
        statuses = [_try(stranger, "ana", f"guess {i}").status_code for i in range(6)]
        assert statuses == [401] * 5 + [429]
        assert _try(ana, "ana", TEST_PASSWORD).status_code == 302, "another address behind the same proxy"
    finally:
        app.extensions["geoservice_store"].engine.dispose()


def test_a_server_without_boundaries_says_it_is_not_ready(bare_app):
    client = bare_app.test_client()
    sign_in(client, bare_app.extensions["geoservice_store"], "mace_analyst", [MERTON])
    answer = client.get(f"/api/hotspots?borough={MERTON}")
    assert answer.status_code == 503 and "no borough boundaries are loaded" in answer.get_json()["error"]


def test_each_worker_checks_one_upload_at_a_time(bare_app, monkeypatch):
    import io

    from geoservice.web import upload

    store = bare_app.extensions["geoservice_store"]
    client = bare_app.test_client()
    sign_in(client, store, "admin", [MERTON])
    monkeypatch.setattr(upload, "WAIT_SECONDS", 0.05)
    data = {"layer": "people", "why": "referrals from the MASH", "csrf_token": _token(client, "/upload"),
            "file": (io.BytesIO(b"person_id,subject_category,home_borough,recorded_on\n"), "people.csv")}
    assert upload._ONE_AT_A_TIME.acquire(timeout=1)  # another upload is being checked
    try:
        busy = client.post("/upload", data=data, content_type="multipart/form-data")
    finally:
        upload._ONE_AT_A_TIME.release()
    assert busy.status_code == 503 and "another upload" in busy.get_data(as_text=True)


def test_signing_in_again_ends_the_session_before(bare_app):
    store = bare_app.extensions["geoservice_store"]
    client = bare_app.test_client()
    sign_in(client, store, "auditor", [MERTON])
    first = client.get_cookie("session").value
    sign_in(client, store, "auditor", [MERTON])
    old = bare_app.test_client()
    old.set_cookie("session", first)
    assert old.get("/api/layers").status_code == 401 and client.get("/api/layers").status_code == 200


@pytest.mark.postgres
def test_a_nul_in_any_parameter_of_any_route_is_a_4xx_on_each_database(bare_app):
    """NUL cannot be stored or compared in PostgreSQL text: every route must refuse it before it reaches a query."""
    from .test_malformed import ROUTES

    import geoservice.web.access as access

    store = bare_app.extensions["geoservice_store"]
    client = bare_app.test_client()
    add_user(store, "walker", TEST_PASSWORD, roles=["mace_analyst", "admin", "auditor"], boroughs=[MERTON])
    sign_in(client, store, username="walker")
    fresh, access.FRESH_SECONDS = access.FRESH_SECONDS, 3600
    try:
        token = _token(client, "/upload")
        for endpoint, (method, path, good) in ROUTES.items():
            if endpoint == "auth.logout":
                continue
            for name in good:
                args = {**good, name: "a\x00b"}
                response = client.get(path, query_string=args) if method == "GET" else \
                    client.post(path, data={**args, "csrf_token": token})
                assert response.status_code < 500, (endpoint, name, response.status_code)
        assert client.get("/api/people/C%00001?why=a%20panel").status_code == 404
    finally:
        access.FRESH_SECONDS = fresh
