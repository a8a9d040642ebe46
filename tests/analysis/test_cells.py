"""The cells module: one representation inside (int64), either way at the edges, results indexed as given."""

from __future__ import annotations

import h3
import numpy as np
import pandas as pd
import pytest
import shapely

from geoservice import cells
from geoservice.analysis.hotspots import gi_star


def test_cells_convert_both_ways_and_refuse_floats():
    hexes = [h3.latlng_to_cell(51.41 + i / 500, -0.19, 9) for i in range(5)]
    ints = cells.to_int(hexes)
    assert ints.dtype == np.int64 and cells.to_hex(ints) == hexes and cells.to_hex(hexes) == hexes
    assert cells.to_int(ints).tolist() == ints.tolist() and cells.to_int([]).dtype == np.int64
    assert cells.int_of(hexes[0]) == ints[0] and cells.hex_of(int(ints[0])) == hexes[0]
    assert cells.hex_or_none([int(ints[0]), None, float("nan")]) == [hexes[0], None, None]
    with pytest.raises(cells.CellError, match="floating-point"):
        cells.to_int(ints.astype(float))  # a float cannot hold a 64-bit index: refused, never silently rounded
    with pytest.raises(cells.CellError):
        cells.to_int(["not a cell"])
    with pytest.raises(cells.CellError, match="more than once"):
        cells.as_index([hexes[0], hexes[0]])
    with pytest.raises(cells.CellError, match="resolutions"):
        cells.as_index([hexes[0], h3.latlng_to_cell(51.41, -0.19, 8)])


def test_geometry_follows_h3_and_geojson_axis_orders():
    cell = h3.latlng_to_cell(51.41, -0.19, 9)
    lat, lng = cells.centre(cell)
    assert abs(lat - 51.41) < 0.01 and abs(lng + 0.19) < 0.01, "(lat, lng) as h3"
    ring = cells.geojson_polygon(cell)[0]
    assert ring[0] == ring[-1] and len(ring) == 7 and all(-1 < x < 0 and 51 < y < 52 for x, y in ring), "[lng, lat]"
    square = shapely.box(-0.20, 51.40, -0.18, 51.42)  # shapely: (lng, lat)
    filled = cells.polygons_to_cells([square], 9)
    assert filled.dtype == np.int64 and h3.str_to_int(cell) in filled
    assert all(square.contains(shapely.Point(b, a)) for a, b in cells.centres(filled)), "cells by their centres"
    assert set(cells.disk(cell, 1)) == {h3.str_to_int(c) for c in h3.grid_disk(cell, 1)}


def test_points_to_cells_equals_h3_at_every_resolution():
    rng = np.random.default_rng(1)
    lat, lng = 51.35 + rng.random(500) * 0.15, -0.3 + rng.random(500) * 0.2
    found = cells.points_to_cells(lat, lng, (7, 10))
    for res in (7, 10):
        assert found[res].tolist() == [h3.str_to_int(h3.latlng_to_cell(a, b, res)) for a, b in zip(lat, lng)]


def test_points_to_cells_indexes_repeated_points_once_and_in_every_row(monkeypatch):
    """police.uk's map points repeat: each distinct point is indexed once, and every row still gets its own cell,
    on the threaded path too; rows with no usable point get 0."""
    rng = np.random.default_rng(2)
    distinct_lat, distinct_lng = 51.35 + rng.random(300) * 0.15, -0.3 + rng.random(300) * 0.2
    pick = rng.integers(0, 300, 2000)
    lat, lng = distinct_lat[pick], distinct_lng[pick]
    lat[::97] = np.nan
    lng[5::89] = 200.0
    indexed = []
    real = cells._cells_at
    monkeypatch.setattr(cells, "_cells_at", lambda a, b, res: indexed.append(a.size) or real(a, b, res))
    monkeypatch.setattr(cells, "MIN_CHUNK", 50)
    found = cells.points_to_cells(lat, lng, (8, 10), threads=3)
    assert sum(indexed) == 2 * len(set(zip(lat[np.isfinite(lat) & (lng < 180)], lng[np.isfinite(lat) & (lng < 180)])))
    for res in (8, 10):
        expected = [h3.str_to_int(h3.latlng_to_cell(a, b, res)) if np.isfinite(a) and b < 180 else 0
                    for a, b in zip(lat, lng)]
        assert found[res].tolist() == expected


def test_analysis_results_come_back_indexed_as_their_input(merton_cells):
    ints = merton_cells[9]
    counts = pd.Series(np.random.default_rng(2).poisson(2, len(ints)), index=ints)
    by_int = gi_star(counts)
    by_hex = gi_star(pd.Series(counts.to_numpy(), index=pd.Index(cells.to_hex(ints))))
    assert by_int.index.dtype == np.int64 and by_hex.index.tolist() == cells.to_hex(ints), "hex in, hex out"
    assert np.allclose(by_int.z.to_numpy(), by_hex.z.to_numpy())
