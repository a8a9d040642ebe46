"""Vectorised H3 indexing agrees with h3-py exactly."""

from __future__ import annotations

import h3
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from geoservice.cells import cells_to_parents, points_to_cells


def test_cells_match_h3_py_at_every_resolution():
    rng = np.random.default_rng(7)
    lat = rng.uniform(51.28, 51.69, 5000)
    lng = rng.uniform(-0.51, 0.33, 5000)
    cells = points_to_cells(lat, lng, (7, 8, 9, 10))
    for res, values in cells.items():
        expected = [h3.str_to_int(h3.latlng_to_cell(a, b, res)) for a, b in zip(lat, lng)]
        np.testing.assert_array_equal(values, np.array(expected, dtype=np.int64))


def test_threaded_path_matches_single_thread():
    rng = np.random.default_rng(3)
    lat, lng = rng.uniform(-80, 80, 450_000), rng.uniform(-180, 180, 450_000)
    one = points_to_cells(lat, lng, (9,), threads=1)[9]
    two = points_to_cells(lat, lng, (9,), threads=2)[9]
    np.testing.assert_array_equal(one, two)


@settings(max_examples=200, deadline=None)
@given(lat=st.floats(-89.9, 89.9), lng=st.floats(-179.9, 179.9), res=st.integers(0, 15), parent=st.integers(0, 15))
def test_any_point_and_parent(lat, lng, res, parent):
    cell = points_to_cells([lat], [lng], (res,))[res][0]
    assert h3.int_to_str(int(cell)) == h3.latlng_to_cell(lat, lng, res)
    if parent <= res:
        got = cells_to_parents(np.array([cell]), parent)[0]
        assert h3.int_to_str(int(got)) == h3.cell_to_parent(h3.latlng_to_cell(lat, lng, res), parent)


def test_bad_points_get_no_cell():
    cells = points_to_cells([np.nan, 51.4, 95.0], [0.1, np.inf, 0.1], (9,))[9]
    assert list(cells) == [0, 0, 0]


def test_resolution_is_checked():
    with pytest.raises(ValueError, match="resolutions must be 0-15"):
        points_to_cells([51.4], [-0.2], (16,))
