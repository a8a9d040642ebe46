"""Gi* hot spots: the analytic z matches esda, p-values are calibrated on null data, planted spots are found."""

from __future__ import annotations

import itertools
import math
import warnings

import h3
import numpy as np
import pandas as pd
import pytest

from geoservice.analysis.hotspots import (HotspotInputError, _exact_p, _permutation_p,
                                          benjamini_hochberg, gi_star, neighbourhoods)
from geoservice.cells import polygons_to_cells
from geoservice.cells import points_to_cells

from ..conftest import DATA_DIR, POLICE_UK, needs_data

def test_exact_tails_equal_full_enumeration():
    rng = np.random.default_rng(1)
    y = rng.poisson(1.3, 12).astype(np.int64)
    for t in range(5):
        for s in range(int(np.sort(y)[::-1][:t].sum()) + 2):
            upper, lower = _exact_p(y, np.full(y.size, s), np.full(y.size, t))
            for i in range(y.size):
                others = np.delete(y, i)
                sums = np.array([others[list(c)].sum() for c in itertools.combinations(range(others.size), t)])
                assert upper[i] == pytest.approx((sums >= s).mean(), abs=1e-12)
                assert lower[i] == pytest.approx((sums <= s).mean(), abs=1e-12)


def _reference_exact_p(y: np.ndarray, neighbour_sum: np.ndarray, draws: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The straightforward exact tails ``_exact_p`` replaced: the whole null distribution G of each distinct own
    value u, from the full population's F by n F[t, s] = (n - t) G[t, s] + t G[t-1, s-u], summed to tails."""
    y = y.astype(np.int64)
    n, max_draws = y.size, int(draws.max())
    max_sum = int(np.sort(y)[::-1][:max_draws].sum())
    table = np.zeros((max_draws + 1, max_sum + 1))
    table[0, 0] = 1.0
    for value, count in zip(*(a.tolist() for a in np.unique(y, return_counts=True))):
        for t in range(max_draws, 0, -1):
            for j in range(1, min(count, t) + 1):
                if j * value <= max_sum:
                    table[t, j * value:] += math.comb(count, j) * table[t - j, : max_sum + 1 - j * value]
    full = table / np.array([math.comb(n, t) for t in range(max_draws + 1)], dtype=float)[:, None]
    upper, lower = np.ones(n), np.ones(n)
    s = np.minimum(neighbour_sum.astype(np.int64), max_sum)
    for u in np.unique(y).tolist():
        g = np.zeros_like(full)
        g[0, 0] = 1.0
        for t in range(1, max_draws + 1):
            shifted = np.zeros(max_sum + 1)
            shifted[u:] = g[t - 1, : max(max_sum + 1 - u, 0)]
            g[t] = np.clip((n * full[t] - t * shifted) / (n - t), 0.0, None)
        mine = y == u
        upper[mine] = np.cumsum(g[:, ::-1], axis=1)[:, ::-1][draws[mine], s[mine]]
        lower[mine] = np.cumsum(g, axis=1)[draws[mine], s[mine]]
    return np.minimum(upper, 1.0), np.minimum(lower, 1.0)


@pytest.mark.parametrize("k", [1, 2])
@pytest.mark.parametrize("spread", ["poisson", "negative binomial"])
def test_exact_tails_equal_the_whole_distributions(k, spread):
    """The tails from F's tails match the tails of each own value's whole null distribution, on counts with many
    distinct values, ties, and neighbour sums from the bulk to both extremes."""
    rng = np.random.default_rng(k)
    n = 600
    y = rng.poisson(rng.lognormal(3, 1, n)) if spread == "poisson" else rng.negative_binomial(0.8, 0.02, n)
    max_draws = 6 * k * (k + 1) // 2
    draws = rng.integers(0, max_draws + 1, n)
    draws[:3] = max_draws
    neighbour_sum = np.array([y[rng.choice(np.delete(np.arange(n), i), t, replace=False)].sum()
                              for i, t in enumerate(draws)])
    neighbour_sum[0] = 0
    neighbour_sum[1] = np.sort(np.delete(y, 1))[::-1][:max_draws].sum()  # the most the neighbours can hold
    expected = _reference_exact_p(y, neighbour_sum, draws)
    got = _exact_p(y.astype(float), neighbour_sum.astype(float), draws)
    assert np.unique(y).size > 50 and min(expected[0].min(), expected[1].min()) < 1e-8
    for tail, reference in zip(got, expected):
        np.testing.assert_allclose(tail, reference, rtol=0, atol=1e-12)
        clear_of_rounding = reference > 1e-6
        np.testing.assert_allclose(tail[clear_of_rounding], reference[clear_of_rounding], rtol=1e-9)


def test_permutations_agree_with_the_exact_distribution():
    rng = np.random.default_rng(2)
    y = rng.poisson(0.8, 400).astype(float)
    draws = rng.integers(3, 7, 400)
    neighbour_sum = rng.poisson(0.8 * draws).astype(float)
    exact_upper, exact_lower = _exact_p(y, neighbour_sum, draws)
    mc_upper, mc_lower = _permutation_p(y, neighbour_sum, draws, 20_000, seed=3)
    np.testing.assert_allclose(mc_upper, exact_upper, atol=0.015)
    np.testing.assert_allclose(mc_lower, exact_lower, atol=0.015)


@needs_data(POLICE_UK.name, "london_boroughs.geojson")
def test_z_matches_esda_on_real_police_data(merton_cells):
    import esda
    import libpysal

    cells = merton_cells[9]
    frame = pd.read_csv(POLICE_UK, usecols=["Latitude", "Longitude"])
    located = points_to_cells(frame.Latitude.to_numpy(), frame.Longitude.to_numpy(), (9,))[9]
    counts = pd.Series(located).value_counts().reindex(cells, fill_value=0)
    ours = gi_star(counts)
    positions, offsets = neighbourhoods(cells, 1)
    neighbours = {i: [int(j) for j in positions[offsets[i]:offsets[i + 1]] if j != i] for i in range(len(cells))}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        weights = libpysal.weights.W(neighbours, silence_warnings=True)
        oracle = esda.G_Local(counts.to_numpy(dtype=float), weights, transform="B", star=True, permutations=0)
    assert counts.sum() > 10_000 and len(cells) > 300
    np.testing.assert_allclose(ours.z.to_numpy(), oracle.Zs, rtol=0, atol=1e-9)


@pytest.mark.parametrize("k", [1, 2])
@pytest.mark.parametrize("res", [9, 10])
@pytest.mark.parametrize("mean", [0.05, 0.5, 5.0])
def test_null_data_makes_no_hot_spots(k, res, mean, merton_cells):
    cells = merton_cells[res]
    rng = np.random.default_rng(int(mean * 100) + res + 7 * k)
    shares, discoveries = [], []
    for _ in range(4):
        result = gi_star(pd.Series(rng.poisson(mean, len(cells)), index=cells), k=k)
        shares.append((result.p < 0.05).mean())
        discoveries.append(int((result.q <= 0.05).sum()))
    monte_carlo_error = 3 * np.sqrt(0.05 * 0.95 / (4 * len(cells)))
    assert np.mean(shares) <= 0.05 + monte_carlo_error, shares
    assert max(discoveries) <= 2, discoveries


def test_a_small_planted_cluster_passes_fdr(merton_cells):
    """The permutation floor pitfall: 7 cells among ~400 must survive Benjamini-Hochberg at default settings."""
    cells = merton_cells[9]
    rng = np.random.default_rng(7)
    y = pd.Series(rng.poisson(0.5, len(cells)), index=cells)
    centre = cells[len(cells) // 2]
    cluster = [h3.str_to_int(c) for c in h3.grid_disk(h3.int_to_str(int(centre)), 1)]
    y[cluster] += rng.poisson(3, len(cluster))
    result = gi_star(y)
    assert result.loc[centre, "hot"] and result.loc[centre, "bin"] >= 2
    assert result.loc[centre, "p"] < 1e-4 < 0.001, "below the 999-permutation floor"
    assert set(result.index[result.hot]) <= set(cluster) | {
        h3.str_to_int(c) for c in h3.grid_disk(h3.int_to_str(int(centre)), 2)}


def test_an_all_zero_neighbourhood_is_never_hot(merton_cells):
    cells = merton_cells[9]
    y = pd.Series(0, index=cells)
    y.iloc[:40] = 30  # a dense corner; most of the borough is empty
    result = gi_star(y)
    empty = result.neighbourhood_sum == 0
    assert empty.any()
    assert (result.bin[empty] <= 0).all() and not result.hot[empty].any()


@pytest.fixture(scope="module")
def planted(boroughs):
    if not (DATA_DIR / "wards_merton_neighbours.geojson").exists():
        pytest.skip("shared data not found")
    from geoservice.config import MERTON_AND_NEIGHBOURS
    from geoservice.synth.world import build_world

    world = build_world(DATA_DIR, seed=1)
    incidents = world.tables["incidents"]
    cells = polygons_to_cells([boroughs.geometry[c] for c in MERTON_AND_NEIGHBOURS], 9)
    located = points_to_cells(incidents.latitude.astype(float).to_numpy(),
                              incidents.longitude.astype(float).to_numpy(), (9,))[9]
    counts = pd.Series(located).value_counts().reindex(cells, fill_value=0)
    return world, cells, counts


def _ring(place, res=9, k=1):
    return {h3.str_to_int(c) for c in h3.grid_disk(h3.latlng_to_cell(place["lat"], place["lng"], res), k)}


def test_planted_hot_places_are_found_at_their_scale(planted):
    """Planted places spread incidents with a 90 m standard deviation; res-9 neighbours are 300 m apart, so the
    matching neighbourhood is the 2-ring (about 450 m). Every place is hot at 95% after FDR, and nothing else is."""
    world, cells, counts = planted
    result = gi_star(counts, k=2)
    for place in world.hot_places:
        assert result.reindex(list(_ring(place))).hot.any(), place["name"]
    near_planted = set().union(*(_ring(p, k=3) for p in world.hot_places))
    assert not set(result.index[result.hot]) - near_planted


def test_planted_hot_places_stand_out_at_k1(planted):
    world, cells, counts = planted
    result = gi_star(counts)
    for place in world.hot_places:
        near = result.reindex(list(_ring(place))).dropna()
        assert near.p.min() < 0.01 and near.z.max() > 5, place["name"]


@pytest.mark.xfail(strict=True, reason=(
    "Known power limit at k=1 (issue 3): the exact conditional null draws neighbours from a population holding "
    "the other planted places' large counts, so a 1-ring of ~90 incidents reaches only p ~ 1e-4..2e-3; after FDR "
    "over 2,815 cells one of six planted places (72 incidents) stays at q ~ 0.105 (a discrete FDR procedure, "
    "DBH, was measured to give only 0.083). At k=2 all six are found (test above)."))
def test_every_planted_hot_place_is_hot_at_95_percent_after_fdr_at_k1(planted):
    world, cells, counts = planted
    result = gi_star(counts)
    for place in world.hot_places:
        assert result.reindex(list(_ring(place))).hot.any(), place["name"]


def test_planted_world_has_few_false_hot_spots_at_k1(planted):
    world, cells, counts = planted
    result = gi_star(counts)
    hot_cells = set(result.index[result.hot])
    near_planted = set().union(*(_ring(p, k=3) for p in world.hot_places))
    assert hot_cells and len(hot_cells - near_planted) <= 0.01 * len(cells)


def test_result_records_settings(merton_cells):
    cells = merton_cells[9]
    result = gi_star(pd.Series(np.arange(len(cells)) % 3, index=cells), k=2)
    settings = result.attrs["settings"]
    assert settings["k"] == 2 and settings["cells"] == len(cells) and settings["res"] == 9
    assert settings["method"].startswith("exact") and len(settings["input_sha256"]) == 64
    weighted = gi_star(pd.Series((np.arange(len(cells)) % 3) * 0.5, index=cells), permutations=199, seed=4)
    assert weighted.attrs["settings"]["permutations"] == 199 and weighted.attrs["settings"]["seed"] == 4
    again = gi_star(pd.Series((np.arange(len(cells)) % 3) * 0.5, index=cells), permutations=199, seed=4)
    pd.testing.assert_frame_equal(weighted, again)


def test_hex_string_index_is_accepted(merton_cells):
    cells = merton_cells[9]
    as_int = gi_star(pd.Series(np.arange(len(cells)) % 4, index=cells))
    as_hex = gi_star(pd.Series(np.arange(len(cells)) % 4, index=[h3.int_to_str(int(c)) for c in cells]))
    np.testing.assert_allclose(as_int.z.to_numpy(), as_hex.z.to_numpy())


@pytest.mark.parametrize("counts, message", [
    ([1, 2], "must be a pandas Series"),
    (pd.Series([], dtype=float), "is empty"),
    (pd.Series([1.0], index=["not-a-cell"]), "indexed by H3 cells"),
    (pd.Series([-1.0], index=[h3.str_to_int(h3.latlng_to_cell(51.4, -0.19, 9))]), "not negative"),
])
def test_bad_input_says_what_to_fix(counts, message):
    with pytest.raises(HotspotInputError, match=message):
        gi_star(counts)


def test_k_is_checked(merton_cells):
    with pytest.raises(HotspotInputError, match="k must be 1-3, got 5"):
        gi_star(pd.Series(1, index=merton_cells[9]), k=5)


def test_benjamini_hochberg_matches_the_definition():
    p = np.array([0.01, 0.04, 0.03, 0.20, 0.5])
    # sorted 0.01, 0.03, 0.04, 0.2, 0.5 -> n*p/rank = 0.05, 0.075, 0.0667, 0.25, 0.5 -> monotone from the right
    np.testing.assert_allclose(benjamini_hochberg(p), [0.05, 0.0667, 0.0667, 0.25, 0.5], atol=1e-4)


def test_a_busy_isolated_cell_is_never_a_cold_spot(merton_cells):
    """Gi_Bin is signed by z: 200 events with six empty neighbours is z > 0, never a significant cold spot."""
    cells = merton_cells[9]
    rng = np.random.default_rng(11)
    y = pd.Series(rng.poisson(1.0, len(cells)), index=cells)
    centre = cells[len(cells) // 2]
    ring = [c for c in neighbourhood_of(centre) if c in set(cells.tolist()) and c != centre]
    y.loc[ring] = 0
    y.loc[centre] = 200
    result = gi_star(y)
    assert result.loc[centre, "z"] > 3 and result.loc[centre, "bin"] >= 0 and not result.loc[centre, "cold"]
    assert (np.sign(result.bin) * np.sign(result.z) >= 0).all(), "every bin has the sign of its z"


def test_at_k2_the_cells_a_cluster_pulls_in_are_named(merton_cells):
    cells = merton_cells[9]
    rng = np.random.default_rng(12)
    y = pd.Series(rng.poisson(0.5, len(cells)), index=cells)
    centre = cells[len(cells) // 3]
    blob = [c for c in neighbourhood_of(centre) if c in set(cells.tolist())]
    y.loc[blob] = 12  # a planted blob: the centre and its ring
    y.loc[centre] = 30
    result = gi_star(y, k=2)
    hot = result[result.hot]
    assert centre in hot.index and not hot.loc[centre, "pulled_in"]
    assert hot.pulled_in.any(), "a blob at k = 2 flags neighbours with nothing of their own"
    assert (hot[hot.pulled_in].value <= y.mean()).all()


def neighbourhood_of(cell):
    from geoservice.cells import disk

    return disk(cell, 1)


def test_the_same_question_twice_is_answered_once_and_each_answer_is_the_callers_own(merton_cells, monkeypatch):
    import geoservice.analysis.hotspots as hotspots

    cells = merton_cells[9]
    y = pd.Series(np.random.default_rng(11).poisson(1.0, len(cells)), index=cells)
    first = gi_star(y)
    runs = []
    monkeypatch.setattr(hotspots, "_gi_star_core", lambda *a: runs.append(a))
    again = gi_star(y.astype(float))  # the same values: remembered, not run
    assert runs == [] and again is not first
    pd.testing.assert_frame_equal(again, first, check_exact=True)
    assert again.attrs == first.attrs
    again.loc[:, "hot"] = True
    again.attrs["settings"]["k"] = 99
    pd.testing.assert_frame_equal(gi_star(y), first, check_exact=True)  # the caller's edits stay the caller's
    assert gi_star(y).attrs["settings"]["k"] == 1
    with pytest.raises(AttributeError):  # a different question runs (here, into the stub, which returns None)
        gi_star(y + 1).loc[:, "hot"]
    assert len(runs) == 1
