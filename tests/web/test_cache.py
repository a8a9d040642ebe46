"""Cached products never outlive their records: a load, an erasure or an alteration makes the next request
build afresh."""

from __future__ import annotations

from datetime import date

from geoservice import create_app
from geoservice.privacy.retention import run_retention

from ..conftest import sign_in

MERTON = "E09000024"


def test_a_retention_run_invalidates_cached_maps(load_world, settings):
    store = load_world("places", "people", "associations", "missing_episodes", "incidents", "survey_responses",
                       "outreach_sessions")
    app = create_app({"GEOSERVICE_SETTINGS": settings, "TESTING": True})
    try:
        client = app.test_client()
        sign_in(client, store, "mace_analyst", [MERTON])
        url = f"/api/maps/csp_tasking?borough={MERTON}&from=2025-01-01&to=2026-01-01"
        first = client.get(url).get_json()
        assert client.get(url).get_json() == first
        cache = app.extensions["product_cache"]
        assert (cache.hits, cache.misses) == (1, 1)
        report = run_retention(store, today=date(2031, 12, 31))  # every 2025 record is past its review by then
        assert report.total > 0
        after = client.get(url).get_json()
        assert cache.misses == 2, "built afresh after the erasure"
        assert after["expected_hexes"] < first["expected_hexes"]
    finally:
        app.extensions["geoservice_store"].engine.dispose()
