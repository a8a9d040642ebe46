"""Every parameter of every route, sent malformed: always a 4xx that says what is wrong, never a 500; and windows
reaching far into the future answer at once."""

from __future__ import annotations

import io
import time

import pytest

from geoservice import create_app
from geoservice.privacy.users import add_user

from ..conftest import TEST_PASSWORD, sign_in

MERTON, LAMBETH = "E09000024", "E09000022"
WHY = "MACE panel"

#: endpoint → (method, path, the parameters a good request sends). A route missing here fails the first test.
ROUTES = {
    "auth.login": ("GET", "/login", {"next": "/"}),
    "auth.reauth": ("GET", "/reauth", {"next": "/"}),
    "auth.logout": ("POST", "/logout", {}),
    "home.index": ("GET", "/", {}),
    "home.api_layers": ("GET", "/api/layers", {}),
    "maps.index": ("GET", "/maps/", {}),
    "maps.page": ("GET", "/maps/csp_tasking", {"borough": MERTON, "from": "2025-01-01", "to": "2026-01-01"}),
    "maps.data": ("GET", "/api/maps/youth_area", {"borough": MERTON, "period": "2025"}),
    "api.hotspots": ("GET", "/api/hotspots", {"borough": MERTON, "from": "2025-01-01", "to": "2026-01-01",
                                              "layer": "incidents", "res": "9", "format": "json"}),
    "api.groups": ("GET", "/api/peer-groups", {"borough": MERTON, "why": WHY}),
    "api.person": ("GET", "/api/people/C0001", {"why": WHY}),
    "api.linkage": ("GET", "/api/linkage", {"borough": MERTON, "from": "2025-01-01", "to": "2026-01-01",
                                            "since": "2025-12-01", "why": WHY}),
    "api.linkage_page": ("GET", "/reports/linkage", {"borough": MERTON, "from": "2025-01-01", "to": "2026-01-01",
                                                     "since": "2025-12-01", "share_with": LAMBETH, "why": WHY}),
    "api.export_network": ("GET", "/exports/network.graphml", {"borough": MERTON, "why": WHY}),
    "api.openapi": ("GET", "/api/openapi.json", {}),
    "audit.index": ("GET", "/audit/", {"operation": "consultation", "user": "ana"}),
    "upload.form": ("GET", "/upload", {}),
    "upload.submit": ("POST", "/upload", {"layer": "places", "why": WHY}),
    "workbench.index": ("GET", "/workbench/", {"borough": MERTON, "since": "2025-12-01", "next": "/workbench/groups"}),
    "workbench.set_task": ("POST", "/workbench/task", {"why": WHY, "next": "/workbench/"}),
    "workbench.groups": ("GET", "/workbench/groups", {"borough": MERTON, "since": "2025-12-01"}),
    "workbench.group": ("GET", "/workbench/groups/G0001", {"since": "2025-12-01"}),
    "workbench.child": ("GET", "/workbench/children/C0050", {"hops": "2"}),
    "workbench.child_lookup": ("GET", "/workbench/child", {"person_id": "C0050"}),
    "workbench.place": ("GET", "/workbench/places/89194adaba3ffff", {"from": "2025-01-01", "to": "2026-01-01"}),
    "workbench.export": ("GET", "/workbench/exports/network.i2", {"borough": MERTON, "child": "C0050"}),
    "workbench.pack": ("GET", "/workbench/packs/strategic.html", {"borough": MERTON, "since": "2025-12-01",
                                                                  "to": "2026-01-01"}),
    "workbench.missing": ("GET", "/workbench/missing", {"borough": MERTON, "since": "2025-12-22", "to": "2025-12-29",
                                                        "agenda": "red"}),
    "workbench.missing_pdf": ("GET", "/workbench/missing.pdf", {"borough": MERTON, "since": "2025-12-22",
                                                                "to": "2025-12-29", "agenda": "red", "final": "0"}),
    "workbench.risk": ("GET", "/workbench/risk", {"borough": MERTON, "as_of": "2025-12-31"}),
    "tasking.index": ("GET", "/tasking/", {"borough": MERTON, "from": "2025-01-01", "to": "2026-01-01", "weeks": "8",
                                           "below": "4"}),
    "tasking.sheet": ("GET", "/tasking/sheet.csv", {"borough": MERTON, "from": "2025-01-01", "to": "2026-01-01",
                                                    "weeks": "8", "below": "4"}),
    "tasking.evaluation": ("GET", "/tasking/evaluation/INT001", {"months_before": "12"}),
    "workbench.disproportionality": ("GET", "/workbench/disproportionality", {"borough": MERTON, "since": "2025-01-01",
                                                                              "to": "2026-01-01"}),
}

#: What careless users and attackers send.
BAD = ["", " ", "x", "-1", "0", "1.5", "99999999999999999999", "nan", "inf", "2025-13-45", "2025-02-30",
       "0000-00-00", "9999-12-31", "10000-01-01", "25-01-01", "2025-1-1", "2025Q9", "E99999999", "e09000024",
       "E09000024\n", "\x00", "a\x00b", "\u202eevil", "\x1b[31mred", "'; DROP TABLE users;--", "<script>x</script>",
       "../../etc/passwd", "%00", "[]", "{}", "A" * 5000, "🙂"]


@pytest.fixture(scope="module")
def walker(world_template, tmp_path_factory):
    import shutil

    from geoservice.config import PROJECT_ROOT, Settings

    from ..conftest import DATA_DIR

    folder = tmp_path_factory.mktemp("walker")
    shutil.copy(world_template / "world.sqlite", folder / "world.sqlite")
    if (world_template / "instance").exists():
        shutil.copytree(world_template / "instance", folder / "instance", dirs_exist_ok=True)
    settings = Settings.from_env(environ={}, database_url=f"sqlite:///{folder / 'world.sqlite'}",
                                 instance_path=str(folder / "instance"), data_dir=str(DATA_DIR),
                                 layers_dir=str(PROJECT_ROOT / "layers"))
    app = create_app({"GEOSERVICE_SETTINGS": settings, "TESTING": True})
    store = app.extensions["geoservice_store"]
    add_user(store, "walker", TEST_PASSWORD, roles=["mace_analyst", "admin"],
             boroughs=[MERTON, LAMBETH, "E09000032", "E09000008", "E09000029", "E09000021"])
    yield app
    store.engine.dispose()


def _client(app):
    import geoservice.web.access as access

    client = app.test_client()
    sign_in(client, app.extensions["geoservice_store"], username="walker")
    access.FRESH_SECONDS = 3600  # the walk takes longer than five minutes of a fresh password
    return client


def _send(client, method, path, args, token):
    if method == "GET":
        return client.get(path, query_string=args)
    data = {**args, "csrf_token": token}
    if path == "/upload":
        data["file"] = (io.BytesIO(b"place_id,name,kind,latitude,longitude\nP1,Park,park,51.41,-0.19\n"), "p.csv")
        return client.post(path, data=data, content_type="multipart/form-data")
    return client.post(path, data=data)


def test_every_route_is_walked(walker):
    endpoints = {rule.endpoint for rule in walker.url_map.iter_rules() if rule.endpoint != "static"}
    assert endpoints == set(ROUTES)


@pytest.mark.slow
def test_malformed_values_in_every_parameter_are_a_4xx_with_a_message(walker):
    import re

    import geoservice.web.access as access

    fresh = access.FRESH_SECONDS
    client = _client(walker)
    try:
        token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/upload").get_data(as_text=True)).group(1)
        failures, sent = [], 0
        for endpoint, (method, path, good) in ROUTES.items():
            if endpoint == "auth.logout":
                continue  # it would end the walk's session; it takes no parameters
            for name in [*good, "unexpected"]:
                # a parameter the route does not read cannot break it: a few values show it is ignored
                for value in (BAD if name in good else BAD[-3:]):
                    args = {**good, name: value}
                    response = _send(client, method, path, args, token)
                    sent += 1
                    if response.status_code >= 500:
                        failures.append((endpoint, name, value[:20], response.status_code))
                    elif response.status_code >= 400:
                        body = response.get_data(as_text=True)
                        if path.startswith("/api/"):
                            assert response.get_json()["error"], (endpoint, name, value)
                        else:
                            assert len(body) > 40, (endpoint, name, value)
        assert not failures, f"{len(failures)} of {sent} requests failed with a 5xx: {failures[:20]}"
        assert sent > 700
    finally:
        access.FRESH_SECONDS = fresh


@pytest.mark.parametrize("url", [
    f"/api/hotspots?borough={MERTON}&from=2017-07-01&to=9999-12-31",
    f"/api/hotspots?borough={MERTON}&from=9999-01-01&to=9999-12-31",
    f"/api/hotspots?borough={MERTON}&from=2016-01-01&to=2025-12-31&res=10",
    f"/maps/mace_hotspots?borough={MERTON}&from=2017-07-01&to=9999-12-31",
    f"/maps/mace_hotspots?borough={MERTON}&from=9990-01-01&to=9999-12-31",
    f"/api/linkage?borough={MERTON}&from=0001-01-01&to=9999-12-31&why=panel%20prep",
])
def test_a_window_far_into_the_future_answers_in_bounded_time(walker, url):
    import geoservice.web.access as access

    fresh = access.FRESH_SECONDS
    client = _client(walker)
    try:
        started = time.perf_counter()
        response = client.get(url)
        seconds = time.perf_counter() - started
        assert response.status_code < 500 and seconds < 30, (response.status_code, seconds)
    finally:
        access.FRESH_SECONDS = fresh
