"""The authorisation matrix: every route of the app's URL map, for every role and signed out, with own-borough
and foreign-borough ids. Plus CSRF, rate limiting, security headers and the audit of person-level answers."""

from __future__ import annotations

import re

import pytest

from geoservice import create_app
from geoservice.privacy.audit import events, verify
from geoservice.privacy.users import ROLES, add_user
from geoservice.web.access import allow

from ..conftest import TEST_PASSWORD, sign_in

MERTON, LAMBETH = "E09000024", "E09000022"
PERSON_ID = re.compile(r"\b(?:C\d{4}|A\d{3}|P\d{3}|ME\d{5}|SR\d{5}|OS\d{5}|AS\d{5})\b")
WORLD = ("places", "people", "associations", "missing_episodes", "incidents", "survey_responses",
         "outreach_sessions", "safeguarding_referrals", "risk_assessments", "worker_allocations",
         "police_contacts", "population_baseline", "interventions")

#: What each route is meant to admit: a route added without an entry here, or declared differently, fails.
EXPECTED = {
    "auth.login": "public", "auth.reauth": set(ROLES), "auth.logout": set(ROLES),
    "home.index": set(ROLES), "home.api_layers": {"admin", "mace_analyst", "auditor"},
    "maps.index": set(ROLES), "maps.page": {"mace_analyst", "tasking_officer", "youth_worker"},
    "maps.data": {"mace_analyst", "tasking_officer", "youth_worker"},
    "api.hotspots": {"mace_analyst", "tasking_officer"}, "api.groups": {"mace_analyst"},
    "api.person": {"mace_analyst"}, "api.linkage": {"mace_analyst"}, "api.openapi": set(ROLES),
    "audit.index": {"auditor", "admin"},
    "upload.form": {"admin", "mace_analyst"}, "upload.submit": {"admin", "mace_analyst"},
    "api.linkage_page": {"mace_analyst"}, "api.export_network": {"mace_analyst"},
    "workbench.index": {"mace_analyst"}, "workbench.set_task": {"mace_analyst"}, "workbench.groups": {"mace_analyst"},
    "workbench.group": {"mace_analyst"}, "workbench.child": {"mace_analyst"},
    "workbench.child_lookup": {"mace_analyst"}, "workbench.place": {"mace_analyst"}, "workbench.pack": {"mace_analyst"},
    "workbench.export": {"mace_analyst"}, "workbench.missing": {"mace_analyst"},
    "workbench.missing_pdf": {"mace_analyst"}, "workbench.risk": {"mace_analyst"},
    "workbench.disproportionality": {"mace_analyst", "tasking_officer"},
    "tasking.index": {"tasking_officer", "mace_analyst"}, "tasking.sheet": {"tasking_officer", "mace_analyst"},
    "tasking.evaluation": {"tasking_officer", "mace_analyst"},
}
MAP_TIERS = {"mace_hotspots": {"mace_analyst"}, "csp_tasking": {"mace_analyst", "tasking_officer"},
             "youth_area": {"mace_analyst", "tasking_officer", "youth_worker"}}


@pytest.fixture
def app(load_world, settings):
    load_world(*WORLD)
    application = create_app({"GEOSERVICE_SETTINGS": settings, "TESTING": True})
    yield application
    application.extensions["geoservice_store"].engine.dispose()


def _people(store):
    people = store.read_layer("people", ["person_id", "home_borough", "subject_category"])
    children = people[people.subject_category == "child_at_risk"]
    return (children.person_id[children.home_borough == MERTON].iloc[0],
            children.person_id[children.home_borough == LAMBETH].iloc[0])


def _workbench(store):
    """A Merton child in today's network, a group with a Merton child and one without, and a place."""
    from geoservice.network.build import graph_from_evidence
    from geoservice.network.identity import identified_child_groups

    graph = graph_from_evidence(store)
    home = {n: d.get("home_borough") for n, d in graph.nodes(data=True)}
    groups, ids = identified_child_groups(store, graph)
    own = next(i.group_id for g, i in zip(groups, ids) if any(home[m] == MERTON for m in g))
    foreign = next(i.group_id for g, i in zip(groups, ids) if all(home[m] != MERTON for m in g))
    child = next(m for g in groups for m in sorted(g) if home[m] == MERTON)
    recorded = store.read_layer("interventions", ["intervention_id", "borough"]).sort_values("intervention_id")
    intervention = {MERTON: recorded.intervention_id[recorded.borough == MERTON].iloc[0],
                    LAMBETH: recorded.intervention_id[recorded.borough != MERTON].iloc[0]}  # another borough's
    return {"own_group": own, "foreign_group": foreign, "child": child, "cell": "89194adaba3ffff",
            "intervention": intervention}


def _requests(own_child, foreign_child, bench=None):
    """(endpoint, method, url, scope): scope is 'own', 'foreign' or None (nothing borough-bound)."""
    why = "why=MACE%20panel%20Nov"
    window = "from=2025-01-01&to=2026-01-01"
    out = [("auth.login", "GET", "/login", None), ("auth.reauth", "GET", "/reauth", None),
           ("auth.logout", "POST", "/logout", None), ("home.index", "GET", "/", None),
           ("home.api_layers", "GET", "/api/layers", None), ("maps.index", "GET", "/maps/", None),
           ("api.openapi", "GET", "/api/openapi.json", None), ("audit.index", "GET", "/audit/", None),
           ("upload.form", "GET", "/upload", None)]
    for borough, scope in ((MERTON, "own"), (LAMBETH, "foreign")):
        for name in MAP_TIERS:
            window_or_period = "period=2025" if name == "youth_area" else window
            out += [("maps.page", "GET", f"/maps/{name}?borough={borough}&{window_or_period}", scope),
                    ("maps.data", "GET", f"/api/maps/{name}?borough={borough}&{window_or_period}", scope)]
        out += [("api.hotspots", "GET", f"/api/hotspots?borough={borough}&{window}", scope),
                ("api.groups", "GET", f"/api/peer-groups?borough={borough}&{why}", scope),
                ("api.linkage", "GET", f"/api/linkage?borough={borough}&{window}&{why}", scope),
                ("api.linkage_page", "GET", f"/reports/linkage?borough={borough}&{window}&{why}", scope),
                ("api.export_network", "GET", f"/exports/network.graphml?borough={borough}&{why}", scope)]
    if bench:
        panel = "since=2025-12-01&to=2026-01-01"
        for borough, scope in ((MERTON, "own"), (LAMBETH, "foreign")):
            out += [("workbench.index", "GET", f"/workbench/?borough={borough}", scope),
                    ("workbench.groups", "GET", f"/workbench/groups?borough={borough}", scope),
                    ("workbench.pack", "GET", f"/workbench/packs/strategic.html?borough={borough}&{panel}", scope),
                    ("workbench.export", "GET", f"/workbench/exports/network.gexf?borough={borough}", scope),
                    ("workbench.missing", "GET", f"/workbench/missing?borough={borough}", scope),
                    ("workbench.missing_pdf", "GET", f"/workbench/missing.pdf?borough={borough}", scope),
                    ("workbench.risk", "GET", f"/workbench/risk?borough={borough}&as_of=2025-12-31", scope),
                    ("workbench.disproportionality", "GET",
                     f"/workbench/disproportionality?borough={borough}&since=2025-01-01&to=2026-01-01", scope),
                    ("tasking.index", "GET", f"/tasking/?borough={borough}&from=2025-01-01&to=2026-01-01", scope),
                    ("tasking.sheet", "GET", f"/tasking/sheet.xlsx?borough={borough}&from=2025-01-01&to=2026-01-01",
                     scope),
                    ("tasking.evaluation", "GET", f"/tasking/evaluation/{bench['intervention'][borough]}", scope)]
        out += [("workbench.group", "GET", f"/workbench/groups/{bench['own_group']}", "own"),
                ("workbench.group", "GET", f"/workbench/groups/{bench['foreign_group']}", "foreign"),
                ("workbench.child", "GET", f"/workbench/children/{bench['child']}", "own"),
                ("workbench.child", "GET", f"/workbench/children/{foreign_child}", "foreign"),
                ("workbench.child_lookup", "GET", f"/workbench/child?person_id={bench['child']}", "own"),
                ("workbench.place", "GET", f"/workbench/places/{bench['cell']}?from=2025-01-01&to=2026-01-01", None)]
    out += [("api.person", "GET", f"/api/people/{own_child}?{why}", "own"),
            ("api.person", "GET", f"/api/people/{foreign_child}?{why}", "foreign"),
            ("api.person", "GET", f"/api/people/NOBODY?{why}", "foreign")]
    return out


def _expected_status(endpoint, url, role, scope):
    """200, or 404 for what lies outside the user's boroughs or products, 403 for a role the route does not
    admit, and for signed out: 401 (API) or a redirect to sign-in (302)."""
    admitted = EXPECTED[endpoint]
    if admitted == "public":
        return 200
    if role is None:
        return 401 if url.startswith("/api/") else 302
    if role not in admitted:
        return 403
    if endpoint == "workbench.child_lookup" and role is not None:
        return 302  # on to the child's page
    if endpoint in ("maps.page", "maps.data") and role not in MAP_TIERS[url.split("/")[-1].split("?")[0]]:
        return 404  # a product the role may not open is not shown to exist
    return 404 if scope == "foreign" else 200


def test_every_route_declares_the_roles_it_was_meant_to(app):
    declared = {}
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        view = app.view_functions[rule.endpoint]
        declared[rule.endpoint] = "public" if getattr(view, "public", False) else getattr(view, "allowed_roles", None)
    assert declared == {k: (v if v == "public" else frozenset(v)) for k, v in EXPECTED.items()}


def test_the_authorisation_matrix_has_no_leak(app):
    store = app.extensions["geoservice_store"]
    own_child, foreign_child = _people(store)
    requests = _requests(own_child, foreign_child, _workbench(store))
    assert {r[0] for r in requests} == set(EXPECTED) - {"upload.submit", "workbench.set_task"}, \
        "every route is walked (upload and the workbench's task: below and in test_workbench.py)"
    for role in (None, *ROLES):
        client = app.test_client()
        if role:
            add_user(store, role, TEST_PASSWORD, roles=[role], boroughs=[MERTON])
            sign_in(client, store, role)
            if role == "mace_analyst":  # the workbench asks why once per task
                token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").get_data(as_text=True))
                client.post("/workbench/task", data={"why": "authorisation matrix", "csrf_token": token.group(1)})
        for endpoint, method, url, scope in requests:
            if endpoint == "auth.logout":
                continue  # walked last: it ends the session
            response = client.open(url, method=method)
            status, body = response.status_code, response.get_data().decode("utf-8", "replace")  # a PDF too
            where = (role, url, status)
            assert status == _expected_status(endpoint, url, role, scope), where
            if status == 302:
                on_to_child = endpoint == "workbench.child_lookup" and role is not None
                assert response.headers["Location"].startswith("/workbench/children/" if on_to_child else "/login"), \
                    where
            if status == 404:
                assert own_child not in body and foreign_child not in body, where
            if role == "youth_worker" and status == 200:
                assert not PERSON_ID.findall(body), where
                for values in _person_values(body):
                    assert all(not 1 <= int(v) <= 9 for v in values), where
            for header in ("Content-Security-Policy", "X-Content-Type-Options", "Referrer-Policy"):
                assert header in response.headers, (where, header)
            assert response.headers["Cache-Control"] == "no-store"
            assert not re.search(r"https?://", response.headers["Content-Security-Policy"])
        if role:
            token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").get_data(as_text=True))
            assert client.post("/logout", data={"csrf_token": token.group(1)}).status_code == 302
            assert client.get("/").status_code == 302, "signed out again"


def _person_values(body: str) -> list[list]:
    """The values of every map layer in a youth worker's answer (page or API) but public open data's (police.uk
    street crime, published at street level by its source)."""
    import json

    found = re.search(r'<script id="map-data" type="application/json">(.*?)</script>', body, re.S)
    try:
        config = json.loads(found.group(1)) if found else json.loads(body).get("map")
    except ValueError:
        config = None
    layers = (config or {}).get("layers", [])
    return [layer["values"] for layer in layers if "values" in layer and not layer.get("public")]


def test_a_route_declaring_no_roles_is_denied_to_everyone(app):
    app.add_url_rule("/undeclared", "undeclared", lambda: "secret")
    app.add_url_rule("/declared", "declared", allow("admin")(lambda: "for admins"))
    store = app.extensions["geoservice_store"]
    client = app.test_client()
    sign_in(client, store, "admin", [MERTON])
    assert client.get("/undeclared").status_code == 403
    assert client.get("/declared").status_code == 200


def test_unsafe_requests_need_the_csrf_token_and_sign_in_is_rate_limited(app):
    store = app.extensions["geoservice_store"]
    client = app.test_client()
    sign_in(client, store, "auditor", [MERTON])
    assert client.post("/logout").status_code == 400, "no token"
    assert client.post("/logout", data={"csrf_token": "forged"}).status_code == 400
    other = app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', other.get("/login").get_data(as_text=True)).group(1)
    statuses = [other.post("/login", data={"username": "auditor", "password": "wrong password!",
                                           "csrf_token": token}).status_code for _ in range(6)]
    assert statuses == [401] * 5 + [429]


def test_cookies_are_secure_and_person_answers_are_audited(app):
    store = app.extensions["geoservice_store"]
    own_child, _ = _people(store)
    client = app.test_client()
    add_user(store, "ana", TEST_PASSWORD, roles=["mace_analyst"], boroughs=[MERTON])
    page = client.get("/login")
    cookie = page.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    sign_in(client, store, username="ana")
    assert client.get(f"/api/people/{own_child}").status_code == 400, "a reason is required"
    answer = client.get(f"/api/people/{own_child}?why=Pre-MACE%20case%20discussion").get_json()
    assert answer["person"]["person_id"] == own_child and all(link["source_layer"] for link in answer["links"])
    latest = events(store, username="ana")[0]
    assert latest["operation"] == "consultation" and latest["justification"] == "Pre-MACE case discussion"
    assert own_child not in latest["objects"] and "person:PS-" in latest["objects"]
    client.get(f"/api/linkage?borough={MERTON}&from=2025-01-01&to=2026-01-01&why=Strategic%20MACE")
    assert events(store, username="ana")[0]["operation"] == "combination"
    assert {e["operation"] for e in events(store)} >= {"collection", "consultation", "combination"}
    assert verify(store).ok


def test_youth_views_cannot_be_differenced_across_resolutions_or_windows(app):
    store = app.extensions["geoservice_store"]
    client = app.test_client()
    sign_in(client, store, "youth_worker", [MERTON])
    base = f"/api/maps/youth_area?borough={MERTON}"
    year = client.get(f"{base}&period=2025").get_json()
    assert year["ok"] and year["map"]["resolution"] == 8 and year["map"]["period"] == "01 Jan 2025 to 31 Dec 2025"
    # no other resolution, no free dates, no part of a year: a second view that differs from the first by a
    # small group of children cannot be asked for
    assert client.get(f"{base}&period=2025&res=10").get_json()["map"] == year["map"], "res is not a parameter"
    for other in ("&from=2025-01-01&to=2025-12-01", "&period=2025Q1", "&period=2025-06"):
        response = client.get(base + other)
        assert response.status_code == 400, (other, response.status_code)
    assert client.get(f"/api/maps/youth_area?borough={MERTON}&borough={LAMBETH}&period=2025").status_code == 404


def test_the_openapi_document_describes_every_api_route_and_hot_spots_come_as_geojson(app):
    store = app.extensions["geoservice_store"]
    client = app.test_client()
    sign_in(client, store, "tasking_officer", [MERTON])
    document = client.get("/api/openapi.json").get_json()
    routes = {re.sub(r"<(\w+)>", r"{\1}", rule.rule) for rule in app.url_map.iter_rules()
              if rule.rule.startswith("/api/") and rule.rule != "/api/openapi.json"}
    assert routes == set(document["paths"]), "every API route is described, and nothing else"
    for path, operations in document["paths"].items():
        endpoint = app.url_map.bind("localhost").match(re.sub(r"{\w+}", "x", path))[0]
        assert set(operations["get"]["x-roles"]) == set(EXPECTED[endpoint]), path
    geojson = client.get(f"/api/hotspots?borough={MERTON}&from=2025-01-01&to=2026-01-01&format=geojson")
    assert geojson.mimetype == "application/geo+json"
    features = geojson.get_json()["features"]
    assert features and all(f["geometry"]["type"] == "MultiPolygon" for f in features)
    lng, lat = features[0]["geometry"]["coordinates"][0][0][0]
    assert -0.4 < lng < 0.1 and 51.2 < lat < 51.6, "GeoJSON order: longitude first"


def test_the_linkage_page_asks_for_the_password_again_and_audits_a_shared_version(app, monkeypatch):
    import geoservice.web.access as access

    store = app.extensions["geoservice_store"]
    client = app.test_client()
    sign_in(client, store, "mace_analyst", [MERTON])
    url = f"/reports/linkage?borough={MERTON}&from=2025-01-01&to=2026-01-01&share_with={LAMBETH}&why=MACE%20panel"
    monkeypatch.setattr(access, "FRESH_SECONDS", -1)  # the sign-in is now too old for a disclosure
    asked = client.get(url)
    assert asked.status_code == 302 and asked.headers["Location"].startswith("/reauth")
    assert client.get("/api/linkage?borough=E09000024&from=2025-01-01&to=2026-01-01&why=x1234").status_code == 401
    monkeypatch.setattr(access, "FRESH_SECONDS", 300)
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/reauth").get_data(as_text=True)).group(1)
    assert client.post("/reauth", data={"password": TEST_PASSWORD, "csrf_token": token}).status_code == 302
    page = client.get(url).get_data(as_text=True)
    assert "minimised for Lambeth" in page and not PERSON_ID.findall(page)
    disclosure, combination = events(store, username="mace_analyst")[:2]
    assert disclosure["operation"] == "disclosure" and disclosure["recipient"] == LAMBETH
    assert combination["operation"] == "combination" and verify(store).ok
    graphml = client.get(f"/exports/network.graphml?borough={MERTON}&why=Gephi%20mapping%20for%20panel")
    assert graphml.status_code == 200 and b"evidence_json" in graphml.data
    export = events(store, username="mace_analyst")[0]
    assert export["operation"] == "disclosure" and export["recipient"].startswith("file export (graphml)")
