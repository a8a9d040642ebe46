"""Counts from the store: study-area cells, any layer and window, and the concern index with its breakdown."""

from __future__ import annotations

import h3
import pandas as pd
import pytest

from geoservice.analysis.counts import (Component, concern_index, layer_counts, layer_cube, load_concern_index,
                                        study_cells)
from geoservice.analysis.hotspots import HotspotInputError
from geoservice.ingest.pipeline import ingest_file
from geoservice.synth.world import LAYER_FILES

from ..conftest import needs_data

MERTON = "E09000024"
pytestmark = [needs_data("london_boroughs.geojson", "wards_merton_neighbours.geojson"), pytest.mark.postgres]


@pytest.fixture
def world_store(loaded_store, settings, world_dir):
    for name in LAYER_FILES:
        ingest_file(loaded_store, name, world_dir / f"{name}.csv", settings=settings)
    return loaded_store


def _expected(frame, lat, lng, cells, res=9):
    located = [h3.str_to_int(h3.latlng_to_cell(a, b, res)) for a, b in zip(frame[lat].astype(float),
                                                                           frame[lng].astype(float))]
    return pd.Series(located, dtype="int64").value_counts().reindex(cells, fill_value=0)


def test_concern_index_components_match_the_source_files(world_store, world_dir):
    index = concern_index(world_store, res=9, boroughs=[MERTON], start="2025-01-01", end="2026-01-01")
    cells = study_cells(world_store, [MERTON], 9)
    assert list(index.index) == list(cells)
    incidents = pd.read_csv(world_dir / "incidents.csv", dtype=str, keep_default_na=False)
    survey = pd.read_csv(world_dir / "survey_responses.csv", dtype=str, keep_default_na=False)
    missing = pd.read_csv(world_dir / "missing_episodes.csv", dtype=str, keep_default_na=False)
    pd.testing.assert_series_equal(index["incidents"], _expected(incidents, "latitude", "longitude", cells),
                                   check_names=False)
    unsafe = survey[survey.feeling == "unsafe"]
    pd.testing.assert_series_equal(index["survey_unsafe"], _expected(unsafe, "latitude", "longitude", cells),
                                   check_names=False)
    found_at = pd.to_datetime(missing.found_at.replace("", None), utc=True)
    found = missing[(missing.found_latitude != "") & (found_at >= "2025-01-01") & (found_at < "2026-01-01")]
    assert len(found) < (missing.found_latitude != "").sum(), "the window matters: some are found in 2026"
    pd.testing.assert_series_equal(index["missing_found"],
                                   _expected(found, "found_latitude", "found_longitude", cells), check_names=False)
    assert (index.concern == index.incidents + 3 * index.missing_found + 2 * index.survey_unsafe).all()
    assert index.concern.sum() > 0 and index.attrs["settings"]["res"] == 9


def test_time_window_and_boroughs(world_store, world_dir):
    cells = study_cells(world_store, [MERTON, "E09000032"], 9)
    spring = layer_counts(world_store, "incidents", cells, res=9, start="2025-03-01", end="2025-06-01")
    incidents = pd.read_csv(world_dir / "incidents.csv", dtype=str, keep_default_na=False)
    in_window = incidents[incidents.month.isin(["2025-03", "2025-04", "2025-05"])]
    pd.testing.assert_series_equal(spring, _expected(in_window, "latitude", "longitude", cells), check_names=False)
    assert len(cells) > len(study_cells(world_store, [MERTON], 9))


def test_a_cube_of_months_in_one_query_equals_the_months_counted_one_by_one(world_store):
    cells = study_cells(world_store, [MERTON], 9)
    months = pd.period_range("2025-01", "2025-12", freq="M")
    for c in load_concern_index():  # a month field, a datetime field and a filter
        cube = layer_cube(world_store, c.layer, cells, res=9, location=c.location, time_field=c.time_field,
                          filters=c.filter, start="2025-01-01", end="2026-01-01")
        one_by_one = pd.concat([layer_counts(world_store, c.layer, cells, res=9, location=c.location,
                                             time_field=c.time_field, filters=c.filter, start=m.start_time,
                                             end=(m + 1).start_time).rename(m) for m in months], axis=1)
        assert list(cube.columns) == list(months) and cube.to_numpy().sum() > 0, c.name
        pd.testing.assert_frame_equal(cube, one_by_one, check_names=False)


def test_res_10_and_a_custom_index(world_store):
    components = [Component("incidents", "incidents", weight=1), Component("sessions", "outreach_sessions")]
    index = concern_index(world_store, res=10, boroughs=[MERTON], components=components)
    assert list(index.columns) == ["incidents", "sessions", "concern"]
    assert h3.get_resolution(h3.int_to_str(int(index.index[0]))) == 10


@pytest.mark.parametrize("call, message", [
    (lambda s: study_cells(s, ["E09999999"], 9), "not in the boundaries layer"),
    (lambda s: study_cells(s, [MERTON], 6), "stored resolutions"),
    (lambda s: layer_counts(s, "people", study_cells(s, [MERTON], 9), res=9), "no locations"),
    (lambda s: layer_counts(s, "incidents", study_cells(s, [MERTON], 9), res=9, location="found"), "no location"),
    (lambda s: layer_counts(s, "incidents", study_cells(s, [MERTON], 9), res=9, filters={"colour": "x"}),
     "no field 'colour'"),
])
def test_bad_requests_say_what_to_fix(loaded_store, call, message):
    with pytest.raises(HotspotInputError, match=message):
        call(loaded_store)


def test_month_windows_cut_a_window_into_calendar_months_that_add_up_to_it():
    from geoservice.analysis.windows import month_windows

    cut = month_windows("2025-01-15", "2025-04-01")
    assert [label for label, _, _ in cut] == ["2025-01", "2025-02", "2025-03"]
    assert cut[0][1] == pd.Timestamp("2025-01-15") and cut[-1][2] == pd.Timestamp("2025-04-01")
    assert all(a[2] == b[1] for a, b in zip(cut, cut[1:])), "each month starts where the last one ended"
    assert [label for label, _, _ in month_windows("2025-01-01", "2025-01-01 12:00")] == ["2025-01"]


def test_the_concern_months_add_up_to_the_window_and_each_month_is_its_own_count(world_store):
    from geoservice.analysis.counts import monthly_concern
    from geoservice.analysis.hotspot_areas import hotspot_report

    start, end = pd.Timestamp("2025-02-10"), pd.Timestamp("2026-01-01")  # a short first month as well
    months = monthly_concern(world_store, res=9, boroughs=[MERTON], start=start, end=end)
    window = concern_index(world_store, res=9, boroughs=[MERTON], start=start, end=end)
    pd.testing.assert_frame_equal(months.window(), window, check_exact=True)
    assert window.concern.sum() > 0 and len(months.concern().columns) == 11
    june = concern_index(world_store, res=9, boroughs=[MERTON], start="2025-06-01", end="2025-07-01")
    pd.testing.assert_series_equal(months.concern()["2025-06"], june.concern, check_names=False)
    shared = hotspot_report(world_store, boroughs=[MERTON], start=start, end=end, monthly=months)
    alone = hotspot_report(world_store, boroughs=[MERTON], start=start, end=end)
    pd.testing.assert_frame_equal(shared[0], alone[0], check_exact=True)
    pd.testing.assert_frame_equal(shared[1], alone[1], check_exact=True)


def test_a_cube_of_some_cells_is_the_whole_cube_cut_to_them(world_store):
    cells = study_cells(world_store, [MERTON], 9)
    for equals, column in (({}, "location_cell_9"), ({"crime_type": "Burglary"}, "location_cell_9")):
        whole = world_store.count_by_cell_month("incidents", column, time_field="month", start="2025-01-01",
                                                end="2026-01-01", equals=equals)
        some = world_store.count_by_cell_month("incidents", column, time_field="month", start="2025-01-01",
                                               end="2026-01-01", equals=equals, cells=cells)
        expected = whole[whole.index.get_level_values("cell").isin(cells)]
        assert 0 < len(some) < len(whole)
        pd.testing.assert_series_equal(some, expected)
    mid_month = dict(time_field="month", start="2025-01-15", end="2026-01-01")  # from the rows, not the counts
    some = world_store.count_by_cell_month("incidents", "location_cell_9", cells=cells, **mid_month)
    whole = world_store.count_by_cell_month("incidents", "location_cell_9", **mid_month)
    pd.testing.assert_series_equal(some, whole[whole.index.get_level_values("cell").isin(cells)])
