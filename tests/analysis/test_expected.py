"""Against an expected surface, a broad gradient is not a cluster and a steady pattern is not new."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from geoservice.analysis.concentration import place_test
from geoservice.analysis.expected import from_exposure, from_past, trend
from geoservice.analysis.hotspots import gi_star
from geoservice.analysis.spacetime import emerging_hotspots
from geoservice.cells import centres, disk

NEW = {"new hot spot", "consecutive hot spot", "intensifying hot spot", "sporadic hot spot", "oscillating hot spot",
       "new cold spot", "consecutive cold spot", "intensifying cold spot", "sporadic cold spot",
       "oscillating cold spot"}


def _gradient(cells, base: float) -> np.ndarray:
    """A 7x east-west gradient in the mean (as population or footfall give), with no cluster at all."""
    lng = centres(cells)[:, 1]
    return base * 7 ** ((lng - lng.min()) / (lng.max() - lng.min()))


@pytest.mark.parametrize("res", [9, 10])
@pytest.mark.parametrize("k", [1, 2])
def test_a_gradient_is_not_a_cluster_given_the_expected_surface(all_merton_cells, res, k):
    cells = all_merton_cells[res]
    rng = np.random.default_rng(res * 10 + k)
    for base in (0.3, 2.0):
        means = _gradient(cells, base)
        plain, fitted, true = [], [], []
        for _ in range(6):
            y = pd.Series(rng.poisson(means), index=cells)
            plain.append((gi_star(y, k=k).p < 0.05).mean())
            fitted.append((gi_star(y, k=k, expected=trend(y)).p < 0.05).mean())
            true.append((gi_star(y, k=k, expected=pd.Series(means, index=cells)).p < 0.05).mean())
        assert np.mean(fitted) <= 0.055 and np.mean(true) <= 0.055, (base, np.mean(fitted), np.mean(true))
        if base == 2.0:
            assert np.mean(plain) > 0.2, "against the mean alone, the gradient reads as hot and cold spots"


def test_the_place_test_against_a_fitted_trend_is_calibrated_on_a_gradient(all_merton_cells):
    cells = all_merton_cells[10]
    rng = np.random.default_rng(5)
    means = _gradient(cells, 2.0)
    shares = [(place_test(y, expected=trend(y)).p < 0.05).mean()
              for y in (pd.Series(rng.poisson(means), index=cells) for _ in range(10))]
    assert np.mean(shares) <= 0.055


def test_a_steady_cube_has_nothing_new_and_a_planted_rise_is_found(all_merton_cells):
    cells = all_merton_cells[9]
    means = _gradient(cells, 2.0)
    rng = np.random.default_rng(8)
    steady = pd.DataFrame(rng.poisson(means[:, None], (len(cells), 12)), index=cells)
    against_mean = emerging_hotspots(steady).summary.pattern
    assert against_mean.isin(NEW).mean() > 0.05, "against each month's mean, chance and the gradient look new"
    assert not emerging_hotspots(steady, expected="past").summary.pattern.isin(NEW).any()
    assert not emerging_hotspots(steady, expected=pd.Series(means, index=cells)).summary.pattern.isin(NEW).any()
    rising = np.repeat(means[:, None], 12, axis=1)
    blob = cells.get_indexer([c for c in disk(cells[150], 1) if c in set(cells.tolist())])
    rising[blob, 8:] *= 5  # the last four months, five times as much, at one place
    found = emerging_hotspots(pd.DataFrame(rng.poisson(rising), index=cells), expected="past").summary.pattern
    assert found.iloc[blob].isin(NEW).sum() >= 3, "the rise is found"
    assert found.drop(found.index[blob]).isin(NEW).mean() < 0.01, "and little else"


def test_surfaces_from_the_past_and_an_exposure(all_merton_cells):
    cells = all_merton_cells[9]
    rng = np.random.default_rng(9)
    rates = rng.gamma(2.0, 1.0, len(cells))
    history = pd.DataFrame(rng.poisson(rates[:, None], (len(cells), 24)), index=cells)
    past = from_past(history)
    assert past.index.equals(cells) and (past > 0).all()
    assert np.corrcoef(past, rates)[0, 1] > 0.9 and abs(past.mean() - history.to_numpy().mean()) < 0.05
    assert from_exposure(pd.Series(rates, index=cells)).equals(pd.Series(rates, index=cells))
