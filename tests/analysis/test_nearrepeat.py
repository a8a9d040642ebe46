"""Knox near-repeat test: exact pair counts, honest band labels, calibrated on null data, finds planted repeats."""

from __future__ import annotations

import numpy as np
import pytest

from geoservice.analysis.hotspots import HotspotInputError
from geoservice.analysis.nearrepeat import band_labels, close_pairs, knox_test


def _brute_force_table(x, y, t, d_edges, t_edges):
    table = np.zeros((len(d_edges), len(t_edges)), dtype=int)
    for a in range(len(x)):
        for b in range(a + 1, len(x)):
            d = np.hypot(x[a] - x[b], y[a] - y[b])
            g = abs(t[a] - t[b])
            table[np.searchsorted(d_edges, d, side="right") - 1, np.searchsorted(t_edges, g, side="right") - 1] += 1
    return table


def test_observed_table_equals_brute_force():
    rng = np.random.default_rng(0)
    x, y = rng.uniform(0, 1500, 300), rng.uniform(0, 1500, 300)
    t = rng.integers(0, 90, 300).astype(float)
    x[:5], y[:5] = 100.0, 100.0  # identical points
    x[5], y[5] = 200.0, 100.0  # exactly 100 m from them: the boundary belongs to the next band
    result = knox_test(x, y, t, permutations=5)
    expected = _brute_force_table(x, y, t, [0, 100, 200, 300, 400], [0, 7, 14, 21, 28])
    np.testing.assert_array_equal(result.observed.to_numpy(), expected)


def test_bands_are_labelled_in_interval_notation():
    assert band_labels([0, 100, 200], "m") == ["[0, 100) m", "[100, 200) m", "[200, ∞) m"]
    result = knox_test([0, 1, 2], [0, 0, 0], [0, 1, 2], distance_bands=(0, 100), time_bands=(0, 7), permutations=3)
    assert list(result.observed.index) == ["[0, 100) m", "[100, ∞) m"]
    assert list(result.observed.columns) == ["[0, 7) days", "[7, ∞) days"]


def test_close_pairs_are_all_found_across_grid_edges():
    rng = np.random.default_rng(1)
    x, y = rng.uniform(0, 1000, 400), rng.uniform(0, 1000, 400)
    i, j, d = close_pairs(x, y, 150)
    brute = {(a, b) for a in range(400) for b in range(a + 1, 400) if np.hypot(x[a] - x[b], y[a] - y[b]) < 150}
    assert set(zip(i.tolist(), j.tolist())) == brute


def test_null_data_has_no_near_repeat_excess():
    rng = np.random.default_rng(2)
    x, y = rng.uniform(0, 3000, 800), rng.uniform(0, 3000, 800)
    t = rng.uniform(0, 365, 800)
    result = knox_test(x, y, t, permutations=199, seed=1)
    near = result.p.iloc[:-1, :-1].to_numpy()
    assert (near < 0.01).sum() <= 1
    assert np.nanmax(np.abs(result.ratio.iloc[:-1, :-1].to_numpy() - 1)) < 0.6


def test_planted_near_repeats_are_found():
    rng = np.random.default_rng(3)
    n = 400
    x, y = rng.uniform(0, 5000, n), rng.uniform(0, 5000, n)
    t = rng.uniform(0, 365, n)
    # every fourth event is followed by a repeat within 50 m and 5 days
    seeds = np.arange(0, n, 4)
    x = np.r_[x, x[seeds] + rng.uniform(-35, 35, seeds.size)]
    y = np.r_[y, y[seeds] + rng.uniform(-35, 35, seeds.size)]
    t = np.r_[t, t[seeds] + rng.uniform(0, 5, seeds.size)]
    result = knox_test(x, y, t, permutations=299, seed=0)
    assert result.ratio.loc["[0, 100) m", "[0, 7) days"] > 5
    assert result.p.loc["[0, 100) m", "[0, 7) days"] <= 1 / 300 + 1e-12
    assert result.p.loc["[300, 400) m", "[21, 28) days"] > 0.01


def test_seeded_and_reproducible():
    rng = np.random.default_rng(4)
    x, y, t = rng.uniform(0, 1000, 100), rng.uniform(0, 1000, 100), rng.uniform(0, 60, 100)
    a = knox_test(x, y, t, permutations=50, seed=9)
    b = knox_test(x, y, t, permutations=50, seed=9)
    assert a.p.equals(b.p) and a.expected.equals(b.expected) and a.attrs["settings"]["seed"] == 9


@pytest.mark.parametrize("kwargs, message", [
    ({"distance_bands": (10, 100)}, "starting at 0"),
    ({"time_bands": (0, 7, 7)}, "increasing edges"),
    ({"permutations": 0}, "at least 1"),
])
def test_bad_settings_say_what_to_fix(kwargs, message):
    with pytest.raises(HotspotInputError, match=message):
        knox_test([0, 1, 2], [0, 1, 2], [0, 1, 2], **kwargs)
