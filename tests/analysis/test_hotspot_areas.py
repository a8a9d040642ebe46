"""Hot-spot areas: contiguous hot cells merge, and each area is named by its ward and nearby named places."""

from __future__ import annotations

import h3
import pandas as pd
import pytest

from geoservice.analysis.counts import concern_index, study_cells
from geoservice.analysis.hotspot_areas import connected_areas, hotspot_areas, named_places
from geoservice.analysis.hotspots import gi_star
from geoservice.ingest.pipeline import ingest_file
from geoservice.synth.world import LAYER_FILES, build_world, write_world

from ..conftest import DATA_DIR, needs_data


def _int(cell):
    return h3.str_to_int(cell)


def test_connected_areas_join_neighbours_only():
    a = h3.latlng_to_cell(51.41, -0.19, 9)
    ring = [_int(c) for c in h3.grid_disk(a, 1)]
    far = _int(h3.latlng_to_cell(51.45, -0.10, 9))
    groups = connected_areas(pd.Index(ring + [far]))
    assert groups == [sorted(ring), [far]]


@needs_data("london_boroughs.geojson", "wards_merton_neighbours.geojson")
def test_planted_places_name_the_areas_they_lie_in(loaded_store, settings, tmp_path):
    from geoservice.config import MERTON_AND_NEIGHBOURS

    write_world(tmp_path, seed=1, data_dir=DATA_DIR)
    for name in LAYER_FILES:
        ingest_file(loaded_store, name, tmp_path / f"{name}.csv", settings=settings)
    index = concern_index(loaded_store, res=9, boroughs=MERTON_AND_NEIGHBOURS, start="2025-01-01",
                          end="2026-01-01")
    result = gi_star(index["concern"])
    areas = hotspot_areas(result, places=named_places(loaded_store),
                          wards=loaded_store.boundaries(("ward",)), breakdown=index)
    assert len(areas) >= 1 and areas.n_cells.sum() == int(result.hot.sum())
    world = build_world(DATA_DIR, seed=1)
    named = 0
    for place in world.hot_places:
        # the busiest cell itself is often not hot under the conditional null (its own value is held fixed);
        # its neighbours are. An area touching the place's 1-ring must carry the place's name.
        ring = set(h3.grid_disk(h3.latlng_to_cell(place["lat"], place["lng"], 9), 1))
        for _, area in areas.iterrows():
            if ring & set(area.cells):
                assert place["name"] in area["name"], (place["name"], area["name"])
                assert area.ward_name and area.ward_name in area["name"]
                named += 1
    assert named >= 1
    assert (areas.concern == areas.value).all(), "the breakdown adds up to the area's total"
    assert set(areas.columns) >= {"incidents", "missing_found", "survey_unsafe"}
    assert study_cells(loaded_store, MERTON_AND_NEIGHBOURS, 9).isin(
        [_int(c) for cells in areas.cells for c in cells]).sum() == areas.n_cells.sum()


def test_an_area_with_no_place_nearby_is_still_named():
    cell = h3.latlng_to_cell(51.41, -0.19, 9)
    result = pd.DataFrame({"hot": [True], "value": [5.0], "z": [4.0], "q": [0.01]}, index=[_int(cell)])
    areas = hotspot_areas(result, places=pd.DataFrame(columns=["name", "kind", "lat", "lng"]))
    assert areas.loc[0, "name"] == "hot spot 1" and areas.loc[0, "places"] == []


def test_salient_places_come_before_closer_ordinary_ones():
    cell = h3.latlng_to_cell(51.41, -0.19, 9)
    lat, lng = h3.cell_to_latlng(cell)
    places = pd.DataFrame({"name": ["Post box 12", "Kestrel Park"], "kind": ["post_box", "park"],
                           "lat": [lat, lat + 0.001], "lng": [lng, lng]})
    result = pd.DataFrame({"hot": [True], "value": [5.0], "z": [4.0], "q": [0.01]}, index=[_int(cell)])
    areas = hotspot_areas(result, places=places, places_per_area=1)
    assert areas.loc[0, "places"] == ["Kestrel Park"]


@needs_data("london_boroughs.geojson", "wards_merton_neighbours.geojson")
def test_hotspots_command(loaded_store, settings, tmp_path):
    import json

    from click.testing import CliRunner

    from geoservice.analysis.hotspot_areas import hotspot_report
    from geoservice.cli import main

    write_world(tmp_path, seed=1, data_dir=DATA_DIR)
    for name in LAYER_FILES:
        ingest_file(loaded_store, name, tmp_path / f"{name}.csv", settings=settings)
    args = ["--database", settings.database_url, "hotspots", "--borough", "E09000024", "--from", "2025-01-01",
            "--to", "2026-01-01"]
    out_csv = tmp_path / "cells.csv"
    result = CliRunner().invoke(main, [*args, "--json", "--csv", str(out_csv)])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    cells, areas = hotspot_report(loaded_store, boroughs=["E09000024"], start="2025-01-01", end="2026-01-01")
    assert [a["name"] for a in payload["areas"]] == list(areas.name)
    assert payload["settings"]["layer"] == "concern index" and payload["settings"]["method"].startswith("exact")
    for area in payload["areas"]:  # month by month, adding up to the year
        assert list(area["by_period"]) == [f"2025-{m:02d}" for m in range(1, 13)]
        assert sum(area["by_period"].values()) == pytest.approx(area["value"])
    written = pd.read_csv(out_csv)
    assert len(written) == len(cells) and {"cell", "z", "p", "q", "bin", "incidents", "concern"} <= set(written)
    text = CliRunner().invoke(main, [*args, "--layer", "incidents"])
    assert text.exit_code == 0 and "hot-spot areas" in text.output.splitlines()[-1]
    bad = CliRunner().invoke(main, [*args, "--res", "6"])
    assert bad.exit_code == 2 and "stored resolutions" in bad.output
