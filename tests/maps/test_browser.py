"""Each map product in a real browser (Debian's headless Chromium, driven by Playwright), served by the app, with
every request to anything but the serving host blocked: the page loads with no failed request and no console
error, draws the expected hexes, the legend and the layer toggles. Screenshots go to test-artifacts/maps/."""

from __future__ import annotations

import threading
from urllib.parse import urlparse

import pytest

from geoservice import create_app
from geoservice.privacy.users import add_user

from ..conftest import BROWSER_ARTIFACTS, TEST_PASSWORD, sign_in_page, wait_for_map
from .test_products import END, MERTON, SPECS, START, WORLD_LAYERS, _build

ARTIFACTS = BROWSER_ARTIFACTS / "maps"


@pytest.fixture
def served(load_world, settings):
    """The app over a store holding the synthetic world, served on a free loopback port."""
    from werkzeug.serving import make_server

    from geoservice.ingest.pipeline import ingest_file

    store = load_world(*WORLD_LAYERS)
    ingest_file(store, "places", settings.data_dir / "osm_pois_merton_neighbours.csv", settings=settings)
    add_user(store, "analyst", TEST_PASSWORD, roles=["mace_analyst"], boroughs=[MERTON])
    app = create_app({"GEOSERVICE_SETTINGS": settings, "TESTING": True})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", store
    finally:
        server.shutdown()
        app.extensions["geoservice_store"].engine.dispose()


@pytest.mark.parametrize("name", sorted(SPECS))
def test_map_in_a_real_browser(name, browser, served, request):
    base, store = served
    built = _build(store, name)
    window = "period=2025" if SPECS[name].fixed_windows else f"from={START}&to={END}"
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    blocked, failed, errors, seen = [], [], [], []

    def only_local(route):
        host = urlparse(route.request.url).hostname
        if route.request.url.startswith(base) or host in ("127.0.0.1", "localhost") or \
                route.request.url.startswith("data:"):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    page.route("**/*", only_local)
    page.on("request", lambda r: seen.append(r.url))
    page.on("requestfailed", lambda r: failed.append(r.url))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        sign_in_page(page, base)
        response = page.goto(f"{base}/maps/{name}?borough={MERTON}&{window}")
        assert response is not None and response.status == 200
        wait_for_map(page, timeout=30_000)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{request.node.callspec.id}.png"))

        assert blocked == [] and failed == [] and errors == [], (blocked, failed, errors)
        assert [u for u in seen if not u.startswith(base)] == [], "nothing but the serving host was asked"
        assert page.evaluate("window.placesMap.hexesOnMap()") == built.expected_hexes > 0
        legend = page.locator(".legend")
        assert legend.is_visible() and legend.locator("i").count() >= 1
        toggles = page.locator(".leaflet-control-layers-overlays input[type=checkbox]")
        assert toggles.count() == len(built.config["layers"])
        # a toggle really turns a layer on: the first hex layer not shown at load adds its hexes
        hidden = [k for k, layer in enumerate(built.config["layers"])
                  if layer["type"] == "hex" and not layer["visible"] and layer["index"]]
        if hidden:
            layer = built.config["layers"][hidden[0]]
            toggles.nth(hidden[0]).check()
            drawn = page.evaluate("window.placesMap.drawn")[layer["id"]]
            assert page.evaluate("window.placesMap.hexesOnMap()") == built.expected_hexes + drawn
        if built.config["frames"]:  # the time control steps through the months
            page.evaluate("""() => { const s = document.getElementById('month'); s.value = '0';
                                     s.dispatchEvent(new Event('input')); }""")
            assert page.locator("#month-label").inner_text() == built.config["frames"]["labels"][0]
            assert errors == []
        assert built.config["period"] in page.locator("header").inner_text()
        assert "OpenStreetMap contributors" in page.locator("footer").inner_text()
    finally:
        page.close()


def test_a_cold_map_shows_its_progress_then_the_map(browser, served, monkeypatch):
    """Issue 17: a map not built yet opens on a page that says it is building and counts the seconds, with no
    third-party request, and the map replaces it by itself once built; a second reader gets the map at once."""
    import time

    from geoservice.web import maps as web_maps

    base, _ = served
    slow = web_maps.build_map

    def slow_build(*args, **kwargs):
        time.sleep(4)  # a cold map of a busy store takes a while: long enough to see the progress
        return slow(*args, **kwargs)
    monkeypatch.setattr(web_maps, "build_map", slow_build)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    blocked, errors = [], []
    page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(base) or
               route.request.url.startswith("data:") else (blocked.append(route.request.url), route.abort()))
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        sign_in_page(page, base)
        url = f"{base}/maps/csp_tasking?borough={MERTON}&from={START}&to={END}"
        response = page.goto(url)  # the building page, which then fetches the map
        assert response is not None and 'id="building"' in response.text()
        status = page.locator("#building")
        assert "Building the map" in status.inner_text(timeout=5_000)
        assert page.locator("progress").count() == 1
        for _ in range(60):  # the seconds count up (polled from here: the page's CSP forbids Playwright's eval)
            if int(page.locator("#building-seconds").inner_text()) >= 1:
                break
            time.sleep(0.05)
        assert int(page.locator("#building-seconds").inner_text()) >= 1
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "building.png"))
        wait_for_map(page, timeout=60_000)
        assert page.evaluate("window.placesMap.hexesOnMap()") > 0
        assert page.locator("#building").count() == 0 and page.url == url, "the map, at the address asked for"
        page.screenshot(path=str(ARTIFACTS / "built.png"))
        page.goto(url)  # built now: straight to the map
        assert page.locator("#building").count() == 0
        wait_for_map(page, timeout=10_000)
        assert blocked == [] and errors == [], (blocked, errors)
    finally:
        page.close()
