"""The place test: a cell's own excess over what is expected there, calibrated on nulls and finding what is planted."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from geoservice.analysis.concentration import place_test
from geoservice.analysis.hotspots import gi_star


def _null(rng, kind: str, mean: float, n: int) -> np.ndarray:
    if kind == "poisson":
        return rng.poisson(mean, n)
    return rng.poisson(rng.gamma(2.0, mean / 2.0, n))  # overdispersed: variance mean + mean**2 / 2


@pytest.mark.parametrize("kind", ["poisson", "overdispersed"])
@pytest.mark.parametrize("res", [8, 9, 10])
def test_the_place_test_is_calibrated_on_exchangeable_nulls(all_merton_cells, kind, res):
    rng = np.random.default_rng(res)
    cells = all_merton_cells[res]
    for mean in (0.02, 0.2, 2, 20):
        shares, runs_with_a_discovery = [], 0
        for _ in range(20):
            result = place_test(pd.Series(_null(rng, kind, mean, len(cells)), index=cells))
            shares.append((result.p < 0.05).mean())
            runs_with_a_discovery += bool(result.hot.any())
        assert np.mean(shares) <= 0.055, (kind, res, mean, np.mean(shares))
        # under a global null, Benjamini-Hochberg finds anything in at most alpha (5%) of runs: 1 in 20, expected
        assert runs_with_a_discovery <= 3, (kind, res, mean, runs_with_a_discovery)


@pytest.mark.parametrize(("res", "background", "times", "wanted"), [(9, 5, 4, 0.75), (10, 2, 8, 0.85)])
def test_a_single_planted_cell_is_found_with_false_discoveries_controlled(all_merton_cells, res, background, times,
                                                                         wanted):
    rng = np.random.default_rng(7)
    cells = all_merton_cells[res]
    found = false = 0
    runs = 200
    for _ in range(runs):
        y = rng.poisson(background, len(cells))
        planted = rng.integers(len(cells))
        y[planted] = rng.poisson(background * times)
        result = place_test(pd.Series(y, index=cells))
        found += bool(result.hot.iloc[planted])
        false += int(result.hot.sum()) - bool(result.hot.iloc[planted])
    assert found / runs >= wanted, found / runs
    assert false / max(1, found + false) <= 0.05 + 0.02, "the false discovery proportion stays near its rate"


def test_a_busy_isolated_place_is_a_hot_place_where_gi_star_sees_no_cluster(all_merton_cells):
    cells = all_merton_cells[9]
    rng = np.random.default_rng(3)
    y = pd.Series(rng.poisson(2, len(cells)), index=cells)
    station = cells[100]
    y.loc[station] = 60
    assert place_test(y).loc[station, "hot"]
    assert not gi_star(y).loc[station, "hot"], "Gi* holds the cell's own value: its neighbours are ordinary"
    result = place_test(y)
    assert result.loc[station, "low"] < 60 < result.loc[station, "high"] and result.loc[station, "ratio"] > 20
    assert "busier than expected" in result.attrs["settings"]["question"]


def test_hex_in_hex_out_and_bad_input_is_refused(all_merton_cells):
    from geoservice.analysis.hotspots import HotspotInputError
    from geoservice.cells import to_hex

    cells = all_merton_cells[9]
    y = pd.Series(np.arange(len(cells)) % 4, index=pd.Index(to_hex(cells)))
    assert place_test(y).index.tolist() == y.index.tolist()
    with pytest.raises(HotspotInputError, match="whole-number"):
        place_test(y / 2)
    with pytest.raises(HotspotInputError, match="no value"):
        place_test(y, expected=y.iloc[:10])


def test_many_busy_places_do_not_hide_each_other(all_merton_cells):
    """The places looked for would inflate a dispersion estimated from every cell until none was significant:
    the background is fitted without the places found."""
    cells = all_merton_cells[9]
    rng = np.random.default_rng(21)
    y = pd.Series(rng.poisson(0.5, len(cells)), index=cells)
    planted = cells[rng.choice(len(cells), 8, replace=False)]
    y.loc[planted] = rng.integers(60, 200, 8)
    result = place_test(y)
    assert result.loc[planted, "hot"].all() and result.hot.sum() <= 10
    assert "truncated" in result.attrs["settings"]["background_fit"]
