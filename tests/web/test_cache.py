"""Cached products never outlive their records: a load, an erasure or an alteration makes the next request
build afresh."""

from __future__ import annotations

from datetime import date

from geoservice import create_app
from geoservice.privacy.retention import run_retention

from ..conftest import signed_in_app

MERTON = "E09000024"


def test_a_retention_run_invalidates_cached_maps(load_world, settings):
    store = load_world("places", "people", "associations", "missing_episodes", "incidents", "survey_responses",
                       "outreach_sessions")
    with signed_in_app(store, settings, boroughs=[MERTON]) as (app, client):
        url = f"/api/maps/csp_tasking?borough={MERTON}&from=2025-01-01&to=2026-01-01"
        first = client.get(url).get_json()
        assert client.get(url).get_json() == first
        cache = app.extensions["product_cache"]
        assert cache.misses_by["map"] == 1, "built once, then served from the cache"
        report = run_retention(store, today=date(2031, 12, 31))  # every 2025 record is past its review by then
        assert report.total > 0
        after = client.get(url).get_json()
        assert cache.misses_by["map"] == 2, "built afresh after the erasure"
        assert after["expected_hexes"] < first["expected_hexes"]


def _upload_incidents(store, settings, tmp_path, name, lat_lng):
    from geoservice.ingest.pipeline import ingest_file

    path = tmp_path / f"{name}.csv"
    path.write_text("crime_id,month,crime_type,latitude,longitude\n" + "".join(
        f"{name}{i},2025-06,Robbery,{lat_lng[0]},{lat_lng[1]}\n" for i in range(3)))
    return ingest_file(store, "incidents", path, settings=settings)


def test_an_upload_for_another_borough_leaves_the_map_standing(load_world, settings, tmp_path):
    """Issue 17: a Merton map depends on Merton's rows only: an upload for Lambeth does not rebuild it, one for
    Merton does."""
    store = load_world("places", "people", "associations", "missing_episodes", "incidents", "survey_responses",
                       "outreach_sessions")
    with signed_in_app(store, settings, boroughs=[MERTON]) as (app, client):
        url = f"/api/maps/csp_tasking?borough={MERTON}&from=2025-01-01&to=2026-01-01"
        first = client.get(url).get_json()
        cache = app.extensions["product_cache"]
        _upload_incidents(store, settings, tmp_path, "LAM", ("51.460000", "-0.115000"))
        assert client.get(url).get_json() == first
        assert cache.misses_by["map"] == 1, "a Lambeth upload leaves Merton's map standing"
        assert MERTON not in cache.rebuilds
        _upload_incidents(store, settings, tmp_path, "MER", ("51.410000", "-0.188000"))
        client.get(url)
        assert cache.misses_by["map"] == 2, "a Merton upload rebuilds it"
        assert cache.rebuilds[MERTON] == 1


def test_identical_requests_meanwhile_share_one_build(settings):
    """Fifty requests for a product being built wait for that build instead of each building it."""
    import threading
    import time

    from geoservice.web.cache import Depends, ProductCache

    app = create_app({"GEOSERVICE_SETTINGS": settings, "TESTING": True})
    cache, builds, answers = ProductCache(), [], []

    def build():
        builds.append(1)
        time.sleep(0.3)
        return "the map"

    def ask():
        with app.app_context():
            answers.append(cache.get(("map", "x"), build, Depends.on({"incidents"}, [MERTON])))

    try:
        threads = [threading.Thread(target=ask) for _ in range(50)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert answers == ["the map"] * 50 and len(builds) == 1
        assert cache.misses == 1, "the others waited for the one build"
    finally:
        app.extensions["geoservice_store"].engine.dispose()


def test_each_map_depends_on_every_layer_it_reads(load_world, settings, monkeypatch):
    """What a map's cached copy declares (``map_depends``) covers every layer its build reads from the store."""
    from geoservice.maps.products import build_map
    from geoservice.maps.specs import load_map_specs
    from geoservice.maps.products import window_layers
    from geoservice.web.maps import map_depends

    store = load_world("places", "people", "associations", "missing_episodes", "incidents", "survey_responses",
                       "outreach_sessions")
    read: set[str] = set()
    for method in ("read_layer", "count_by_cell", "count_by_cell_month", "latest", "time_extent", "people_by_cell",
                   "values_by_key", "read_cell_counts"):
        original = getattr(store, method)

        def spy(layer, *args, _original=original, **kwargs):
            read.add(layer)
            return _original(layer, *args, **kwargs)
        monkeypatch.setattr(store, method, spy)
    boundaries = store.boundaries
    monkeypatch.setattr(store, "boundaries", lambda *a, **k: read.add("boundaries") or boundaries(*a, **k))
    for spec in load_map_specs(settings.maps_dir, layer_specs=store.specs).values():
        read.clear()
        window = {"period": "2025"} if spec.fixed_windows else {"start": "2025-01-01", "end": "2026-01-01"}
        build_map(store, spec, boroughs=[MERTON], **window)
        declared = set().union(*(d.layers for d in map_depends(spec, store, [MERTON])), window_layers(spec, store))
        assert read <= declared, f"{spec.name} reads {sorted(read - declared)} without depending on them"
