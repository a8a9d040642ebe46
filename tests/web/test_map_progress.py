"""A browser opening a map that is not built yet is shown it building, then the map (issue 17); scripts and a
page already built get the map at once."""

from __future__ import annotations

from ..conftest import signed_in_app

MERTON = "E09000024"
URL = f"/maps/csp_tasking?borough={MERTON}&from=2025-01-01&to=2026-01-01"


def test_a_browser_sees_a_cold_map_building_and_then_the_map(load_world, settings):
    store = load_world("places", "incidents", "outreach_sessions")
    with signed_in_app(store, settings, boroughs=[MERTON]) as (app, client):
        browser = {"Sec-Fetch-Dest": "document"}
        building = client.get(URL, headers=browser).get_data(as_text=True)
        assert 'id="building"' in building and "Building the map for Merton" in building
        assert "wait=1" in building and "<noscript>" in building
        assert app.extensions["product_cache"].misses_by["map"] == 0, "the building page builds nothing itself"
        built = client.get(URL + "&wait=1", headers=browser).get_data(as_text=True)
        assert "placesMap" in built and 'id="building"' not in built
        again = client.get(URL, headers=browser).get_data(as_text=True)
        assert again == built, "built once: the next reader gets the map at once"
        assert app.extensions["product_cache"].misses_by["map"] == 1


def test_a_script_gets_the_map_without_the_building_page(load_world, settings):
    store = load_world("places", "incidents", "outreach_sessions")
    with signed_in_app(store, settings, boroughs=[MERTON]) as (_, client):
        page = client.get(URL).get_data(as_text=True)
        assert "placesMap" in page and 'id="building"' not in page
