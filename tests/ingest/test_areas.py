"""Boroughs and wards by point-in-polygon, with the nearest-within-tolerance fallback reported."""

from __future__ import annotations

import numpy as np
import pytest

from geoservice.ingest.pipeline import ingest_file

pytestmark = pytest.mark.postgres  # the database matters here: run on PostgreSQL too

HEADER = "crime_id,month,crime_type,latitude,longitude"


def test_points_get_borough_and_ward(loaded_store, settings, tmp_path):
    path = tmp_path / "a.csv"
    # Morden (Merton), Tooting (Wandsworth), Brixton (Lambeth)
    path.write_text(HEADER + "\nA,2024-05,Robbery,51.4015,-0.1949\nB,2024-05,Robbery,51.4275,-0.1680\n"
                    "C,2024-05,Robbery,51.4613,-0.1156\n")
    ingest_file(loaded_store, "incidents", path, settings=settings)
    frame = loaded_store.read_layer("incidents").set_index("crime_id")
    assert frame.loc["A", "location_borough"] == "E09000024"
    assert frame.loc["B", "location_borough"] == "E09000032"
    assert frame.loc["C", "location_borough"] == "E09000022"
    assert (frame.location_borough_match == "inside").all()
    assert frame.location_ward.str.startswith("E05").all()


def test_point_just_outside_every_polygon_gets_the_nearest_and_says_so(loaded_store, settings, tmp_path):
    import shapely

    boroughs = {b["code"]: b["geometry"] for b in loaded_store.boundaries(("borough",))}
    london = shapely.union_all(list(boroughs.values()))
    # 100 m due south of London's southernmost vertex (in Croydon): outside every borough, within 250 m
    vertices = shapely.get_coordinates(london)
    lng, lat = vertices[vertices[:, 1].argmin()]
    lat -= 0.0009
    assert not london.contains(shapely.Point(lng, lat))
    path = tmp_path / "edge.csv"
    path.write_text(HEADER + f"\nE,2024-05,Robbery,{lat:.6f},{lng:.6f}\n")
    report = ingest_file(loaded_store, "incidents", path, settings=settings)
    assert report.accepted == 1 and report.nearest_boundary == 1
    row = loaded_store.read_layer("incidents").iloc[0]
    assert row.location_borough_match == "nearest" and row.location_borough == "E09000008"
    assert "nearest borough" in report.summary()


def test_found_locations_may_lie_anywhere_in_great_britain(loaded_store, settings, tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("episode_id,person_id,reported_missing_at,found_at,risk_grade,missing_from_latitude,"
                    "missing_from_longitude,found_latitude,found_longitude\n"
                    "E1,C1,2024-05-01T10:00:00Z,2024-05-03T10:00:00Z,red,51.41,-0.188,50.8553,0.5729\n"
                    "E2,C1,2024-05-05T10:00:00Z,2024-05-06T10:00:00Z,red,51.41,-0.188,48.8566,2.3522\n")
    report = ingest_file(loaded_store, "missing_episodes", path, settings=settings)
    assert (report.accepted, report.rejected) == (1, 1)
    assert report.reasons == {"outside_study_area": 1}
    row = loaded_store.read_layer("missing_episodes").iloc[0]
    assert row.found_borough == "" or row.found_borough is None
    assert np.isclose(row.found_lat, 50.8553) and row.found_cell_9 is not None
    assert row.missing_from_borough == "E09000024"


def test_postgis_geometry_matches_the_point(loaded_store, settings, tmp_path):
    if not loaded_store.is_postgres:
        pytest.skip("PostGIS geometry columns exist on PostgreSQL only")
    from sqlalchemy import text

    path = tmp_path / "a.csv"
    path.write_text(HEADER + "\nA,2024-05,Robbery,51.4015,-0.1949\nB,2024-05,Robbery,51.4275,-0.1680\n")
    ingest_file(loaded_store, "incidents", path, settings=settings)
    with loaded_store.engine.connect() as conn:
        rows = conn.execute(text("SELECT ST_X(location_geom), ST_Y(location_geom), ST_SRID(location_geom), "
                                 "location_lng, location_lat FROM layer_incidents ORDER BY crime_id")).all()
        boroughs = conn.execute(text("SELECT count(*) FROM layer_boundaries WHERE ST_IsValid(geom) "
                                     "AND GeometryType(geom) = 'MULTIPOLYGON'")).scalar_one()
    assert [(x, y, srid) for x, y, srid, _, _ in rows] == [(lng, lat, 4326) for *_, lng, lat in rows]
    assert boroughs == 152
