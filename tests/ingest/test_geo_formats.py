"""Point layers load from GeoJSON and GeoPackage too, in WGS84 or British National Grid."""

from __future__ import annotations

import pytest

import json

import geopandas as gpd
import numpy as np
import shapely

from geoservice.ingest.pipeline import ingest_file

pytestmark = pytest.mark.postgres  # the database matters here: run on PostgreSQL too

PLACES = [("P1", "Wandle Meadow", "park", -0.1949, 51.4015), ("P2", "Tooting Bec", "station", -0.1597, 51.4355)]


def test_places_from_geojson_points(loaded_store, settings, tmp_path):
    features = [{"type": "Feature", "properties": {"place_id": pid, "name": name, "kind": kind, "source": "local"},
                 "geometry": {"type": "Point", "coordinates": [lng, lat]}} for pid, name, kind, lng, lat in PLACES]
    path = tmp_path / "places.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    report = ingest_file(loaded_store, "places", path, settings=settings)
    assert (report.format, report.accepted, report.rejected) == ("geojson", 2, 0)
    frame = loaded_store.read_layer("places").set_index("place_id")
    assert np.isclose(frame.loc["P1", "location_lat"], 51.4015)
    assert frame.loc["P1", "location_borough"] == "E09000024"
    assert frame.loc["P2", "location_borough"] == "E09000032"


def test_places_from_a_geopackage_in_british_national_grid(loaded_store, settings, tmp_path):
    frame = gpd.GeoDataFrame(
        {"place_id": [p[0] for p in PLACES], "name": [p[1] for p in PLACES], "kind": [p[2] for p in PLACES],
         "source": ["local", "local"]},
        geometry=[shapely.Point(p[3], p[4]) for p in PLACES], crs=4326).to_crs(27700)
    path = tmp_path / "places.gpkg"
    frame.to_file(path, engine="pyogrio")
    report = ingest_file(loaded_store, "places", path, settings=settings)
    assert (report.format, report.accepted) == ("gpkg", 2)
    stored = loaded_store.read_layer("places").set_index("place_id")
    assert np.isclose(stored.loc["P2", "location_lat"], 51.4355, atol=1e-6)
    assert np.isclose(stored.loc["P2", "location_lng"], -0.1597, atol=1e-6)


def test_a_feature_without_a_point_is_quarantined(loaded_store, settings, tmp_path):
    features = [{"type": "Feature", "properties": {"place_id": "P9", "name": "x", "kind": "park", "source": "local"},
                 "geometry": None}]
    path = tmp_path / "places.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    report = ingest_file(loaded_store, "places", path, settings=settings)
    assert report.reasons == {"location_missing": 1}
