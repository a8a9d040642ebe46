"""Emerging hot spots: Mann-Kendall against a reference, the 17 patterns on hand-built series, planted trends."""

from __future__ import annotations

import h3
import numpy as np
import pandas as pd
import pytest

from geoservice.analysis.hotspots import HotspotInputError
from geoservice.analysis.spacetime import (PATTERNS, classify_patterns, cube_from_events, emerging_hotspots,
                                           mann_kendall)



def test_mann_kendall_matches_pymannkendall():
    import pymannkendall

    rng = np.random.default_rng(0)
    series = np.vstack([rng.integers(0, 4, (40, 14)).astype(float), rng.normal(size=(40, 14)).cumsum(axis=1),
                        np.tile(np.arange(14.0), (2, 1)), np.zeros((1, 14))])
    ours = mann_kendall(series)
    for row, (_, got) in zip(series, ours.iterrows()):
        ref = pymannkendall.original_test(row)
        np.testing.assert_allclose([got.s, got.var_s, got.z, got.p, got.tau],
                                   [ref.s, ref.var_s, ref.z, ref.p, ref.Tau], rtol=1e-12, atol=1e-12)


N = 10
UP, DOWN, FLAT = (3.0, 0.001), (-3.0, 0.001), (0.2, 0.8)


def _series(*ones):
    out = np.zeros(N, dtype=bool)
    out[list(ones)] = True
    return out


ALL = list(range(N))
CASES = {
    "new hot spot": (_series(9), _series(), FLAT),
    "consecutive hot spot": (_series(7, 8, 9), _series(), FLAT),
    "intensifying hot spot": (_series(*ALL), _series(), UP),
    "persistent hot spot": (_series(*ALL), _series(), FLAT),
    "diminishing hot spot": (_series(*ALL), _series(), DOWN),
    "sporadic hot spot": (_series(0, 2, 5, 9), _series(), FLAT),
    "oscillating hot spot": (_series(0, 9), _series(3), FLAT),
    "historical hot spot": (_series(*range(9)), _series(), FLAT),
    "new cold spot": (_series(), _series(9), FLAT),
    "consecutive cold spot": (_series(), _series(8, 9), FLAT),
    "intensifying cold spot": (_series(), _series(*ALL), DOWN),
    "persistent cold spot": (_series(), _series(*ALL), FLAT),
    "diminishing cold spot": (_series(), _series(*ALL), UP),
    "sporadic cold spot": (_series(), _series(1, 4, 9), FLAT),
    "oscillating cold spot": (_series(2), _series(5, 9), FLAT),
    "historical cold spot": (_series(), _series(*range(9)), FLAT),
    "no pattern": (_series(3), _series(), FLAT),
}


def test_every_pattern_has_a_case():
    assert set(CASES) == set(PATTERNS) and len(PATTERNS) == 17


@pytest.mark.parametrize("pattern", sorted(CASES))
def test_pattern_rules(pattern):
    hot, cold, (z, p) = CASES[pattern]
    got = classify_patterns(hot[None, :], cold[None, :], np.array([z]), np.array([p]))
    assert got[0] == pattern


@pytest.mark.parametrize("hot, cold, expected", [
    (_series(*range(1, N)), _series(), "persistent hot spot"),  # exactly 90%, final included
    (_series(6, 7, 8, 9), _series(2), "oscillating hot spot"),  # a run after a cold spot is not consecutive
    (_series(3, 8, 9), _series(), "sporadic hot spot"),  # a run after an earlier hot spot is not consecutive
    (_series(9), _series(0), "oscillating hot spot"),  # newly hot after being cold is not new
])
def test_boundaries_between_patterns(hot, cold, expected):
    assert classify_patterns(hot[None, :], cold[None, :], np.array([0.0]), np.array([1.0]))[0] == expected


def _disk(cell, k=1):
    return [h3.str_to_int(c) for c in h3.grid_disk(h3.int_to_str(int(cell)), k)]


def test_planted_persistent_and_emerging_clusters(merton_cells):
    cells = merton_cells[9]
    rng = np.random.default_rng(11)
    weeks = pd.period_range("2025-01-06", periods=20, freq="W-SUN")
    cube = pd.DataFrame(rng.poisson(0.4, (len(cells), len(weeks))), index=cells, columns=weeks)
    persistent, emerging = cells[60], cells[300]
    cube.loc[_disk(persistent)] += rng.poisson(4, (7, len(weeks)))
    cube.loc[_disk(emerging), weeks[-4:]] += rng.poisson(6, (7, 4))
    result = emerging_hotspots(cube)
    assert result.summary.loc[persistent, "pattern"] in ("persistent hot spot", "intensifying hot spot",
                                                         "diminishing hot spot")
    assert result.summary.loc[emerging, "pattern"] in ("consecutive hot spot", "new hot spot")
    assert result.summary.loc[emerging, "trend_z"] > 0
    far = [c for c in cells if c not in set(_disk(persistent, 3)) | set(_disk(emerging, 3))]
    assert (result.summary.loc[far, "pattern"] == "no pattern").mean() > 0.98
    assert result.z.shape == (len(cells), 20) and result.attrs["settings"]["trend_alpha"] == 0.05


def test_cube_from_events_fills_zeros_and_bins_by_week(merton_cells):
    cells = merton_cells[9]
    events = [cells[0], cells[0], cells[5], 123]  # the last is not a study cell
    times = ["2025-01-06T10:00:00Z", "2025-01-14T10:00:00Z", "2025-01-07T23:00:00Z", "2025-01-07T10:00:00Z"]
    cube = cube_from_events(events, times, cells, freq="week", start="2025-01-06", end="2025-01-20")
    assert cube.shape == (len(cells), 2)
    assert cube.loc[cells[0]].tolist() == [1, 1] and cube.loc[cells[5]].tolist() == [1, 0]
    assert cube.to_numpy().sum() == 3


def test_a_trend_needs_three_bins():
    with pytest.raises(HotspotInputError, match="at least 3"):
        mann_kendall(np.zeros((2, 2)))


def test_unknown_frequency_is_refused(merton_cells):
    with pytest.raises(HotspotInputError, match="freq must be one of"):
        cube_from_events([merton_cells[9][0]], ["2025-01-06"], merton_cells[9], freq="fortnight")


def test_every_bin_is_summed_in_one_round_of_partition_tasks(merton_cells):
    """On a cluster, emerging hot spots send the partitions out once for all bins (each task finds its cells'
    neighbourhoods once), not once per bin; the answer is the one of the local engine to the last bit."""
    from geoservice.engine import LocalEngine

    class CountingEngine(LocalEngine):
        name = "counting"  # not "local": the partitions go through map_partitions, as on Dask

        def __init__(self):
            self.rounds = 0

        def map_partitions(self, function, partitions, shared=None):
            self.rounds += 1
            return super().map_partitions(function, partitions, shared)

    rng = np.random.default_rng(8)
    cells = merton_cells[9]
    cube = pd.DataFrame(rng.poisson(2.0, (len(cells), 10)), index=cells,
                        columns=pd.period_range("2024-01", periods=10, freq="M"))
    engine = CountingEngine()
    spread = emerging_hotspots(cube, engine=engine, partition_res=7)
    assert engine.rounds == 1
    here = emerging_hotspots(cube)
    pd.testing.assert_frame_equal(spread.summary, here.summary, check_exact=True)
    pd.testing.assert_frame_equal(spread.z, here.z, check_exact=True)
