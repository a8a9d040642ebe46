"""Where to act: the interface the products call, what it ranks first, what it says when it cannot test, and a
forward check on the real police.uk year."""

from __future__ import annotations

import subprocess
import sys

import h3
import numpy as np
import pandas as pd
import pytest

from geoservice.analysis.evaluate import prediction_scores
from geoservice.analysis.hotspots import HotspotInputError, where_to_act
from geoservice.analysis.ranking import BY_NAME, MIN_HELD_BACK, SHARES, cells_at
from geoservice.cells import points_to_cells, to_hex

from ..conftest import POLICE_UK, needs_data

MONTHS = [str(m) for m in pd.period_range("2025-01", periods=12, freq="M")]


def noise(cells, seed: int, months: int = 12, mean: float = 0.3) -> pd.DataFrame:
    """Overdispersed background counts (each cell its own gamma-distributed rate), every cell, zeros included."""
    rng = np.random.default_rng(seed)
    rates = rng.gamma(2.0, mean / 2.0, (len(cells), 1))
    return pd.DataFrame(rng.poisson(rates, (len(cells), months)).astype(float), index=cells, columns=MONTHS[:months])


def ring(cell, k: int = 1) -> list[int]:
    return [h3.str_to_int(c) for c in h3.grid_disk(h3.int_to_str(int(cell)), k)]


# the interface ---------------------------------------------------------------------------------------------------
def test_every_cell_comes_back_in_rank_order_with_the_columns_products_show(merton_cells):
    cells = merton_cells[9]
    history = noise(cells, seed=1)
    result = where_to_act(history)
    assert result.index.dtype == np.int64 and set(result.index) == set(cells) and len(result) == len(cells)
    assert list(result["rank"]) == list(range(1, len(cells) + 1))
    assert (np.diff(result["score"].to_numpy()) <= 1e-12).all(), "best first"
    for column in ("score", "count", "recent", "last_3_months", "per_month", "low", "high", "p", "q", "hot",
                   "cluster"):
        assert column in result, column
    assert (result["count"] == history.sum(axis=1).reindex(result.index)).all()
    assert (result["recent"] == history[MONTHS[-1]].reindex(result.index)).all()
    assert ((result["low"] <= result["per_month"]) & (result["per_month"] <= result["high"])).all()
    settings = result.attrs["settings"]
    assert settings["predictor"] in BY_NAME and settings["note"] is None
    assert set(settings["backtest"]["pai"]) == set(BY_NAME) and len(settings["input_sha256"]) == 64
    assert len(settings["backtest"]["held_back_months"]) == 6 and settings["seed"] is None


def test_hex_in_hex_out_in_the_same_order(merton_cells):
    history = noise(merton_cells[9], seed=2)
    as_ints = where_to_act(history)
    as_hex = where_to_act(history.set_axis(to_hex(history.index), axis=0))
    assert as_hex.index.tolist() == to_hex(as_ints.index)
    assert np.array_equal(as_hex["score"].to_numpy(), as_ints["score"].to_numpy())


def test_the_same_history_gives_the_same_ranking(merton_cells):
    history = noise(merton_cells[10], seed=3)
    first, second = where_to_act(history), where_to_act(history)
    pd.testing.assert_frame_equal(first, second)
    assert first.attrs["settings"] == second.attrs["settings"]


def test_what_cannot_be_ranked_is_refused(merton_cells):
    history = noise(merton_cells[9], seed=4, months=2)
    with pytest.raises(HotspotInputError, match="DataFrame"):
        where_to_act(history.iloc[:, 0])
    with pytest.raises(HotspotInputError, match="not negative"):
        where_to_act(history - 1)


def test_it_imports_from_hotspots_whichever_module_comes_first():
    for first in ("geoservice.analysis.ranking", "geoservice.analysis.concentration"):
        code = f"import {first}; from geoservice.analysis.hotspots import where_to_act; print(where_to_act.__name__)"
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert done.returncode == 0 and done.stdout.strip() == "where_to_act", done.stderr


# never empty, and says why -------------------------------------------------------------------------------------
def test_one_incident_in_one_month_still_ranks_and_says_it_could_not_test(merton_cells):
    cells = merton_cells[9]
    history = pd.DataFrame(0.0, index=cells, columns=MONTHS[:1])
    history.loc[cells[7]] = 1
    result = where_to_act(history)
    assert len(result) == len(cells) and result.index[0] == cells[7] and result["count"].iloc[0] == 1
    assert "one month" in result.attrs["settings"]["note"]
    assert result.attrs["settings"]["backtest"] is None


def test_a_sparse_layer_is_ranked_by_its_counts_and_says_so(merton_cells):
    cells = merton_cells[9]
    history = pd.DataFrame(0.0, index=cells, columns=MONTHS)
    history.loc[cells[30], MONTHS[2:4]] = 1  # the most, but not lately
    history.loc[cells[200], MONTHS[10]] = 1
    history.loc[cells[300], MONTHS[11]] = 1
    result = where_to_act(history)
    note = result.attrs["settings"]["note"]
    assert note.startswith("Too few incidents") and f"fewer than {MIN_HELD_BACK}" in note
    assert result.index[0] == cells[30] and set(result.index[1:3]) == {cells[200], cells[300]}
    assert (result["score"].iloc[3:] < result["score"].iloc[2]).all()


def test_no_incidents_gives_every_place_a_zero_and_a_note(merton_cells):
    history = pd.DataFrame(0.0, index=merton_cells[9], columns=MONTHS[:3])
    result = where_to_act(history)
    assert len(result) == len(history) and (result["score"] == 0).all() and not result["hot"].any()
    assert result.attrs["settings"]["note"].startswith("No incidents")


# what it ranks first -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("res", [9, 10])
def test_a_persistent_hot_place_ranks_first_over_noise(merton_cells, res):
    cells = merton_cells[res]
    for seed in range(5):
        history = noise(cells, seed=seed)
        place = cells[len(cells) // 3]
        history.loc[place] = np.random.default_rng(seed + 100).poisson(3.0, 12)
        result = where_to_act(history)
        assert result.index[0] == place, (seed, result.attrs["settings"]["predictor"])
        assert result["p"].iloc[0] == result["p"].min()


@pytest.mark.parametrize("res", [9, 10])
def test_a_busy_isolated_place_is_not_pulled_below_a_cluster(merton_cells, res):
    """Smoothing must not demote a place that is busy on its own (a station, a shopping centre)."""
    cells = merton_cells[res]
    for seed in range(5):
        rng = np.random.default_rng(seed)
        history = noise(cells, seed=seed)
        alone, cluster = cells[50], ring(cells[len(cells) // 2])
        history.loc[alone] = rng.poisson(4.0, 12)
        history.loc[cluster] = rng.poisson(2.0, (len(cluster), 12))
        assert where_to_act(history).index[0] == alone, seed


@pytest.mark.parametrize("res", [9, 10])
def test_the_backtest_follows_places_that_moved(merton_cells, res):
    """Ten places busy for four months then quiet, ten others less busy but for the last eight: the history's
    counts point to the first ten; the held-back months show that recent months predict, and the ranking says so."""
    cells = merton_cells[res]
    step = len(cells) // 10
    old, new = cells[10::step][:10], cells[20::step][:10]
    for seed in range(3):
        rng = np.random.default_rng(seed)
        history = noise(cells, seed=seed)
        history.loc[old] = np.c_[rng.poisson(12.0, (10, 4)), np.zeros((10, 8))]
        history.loc[new] = np.c_[np.zeros((10, 4)), rng.poisson(5.0, (10, 8))]
        assert history.loc[old].to_numpy().sum() > history.loc[new].to_numpy().sum()
        result = where_to_act(history)
        assert result.attrs["settings"]["predictor"] in ("weighted", "recent"), seed
        assert result.index[:10].isin(new).sum() >= 9, seed


# the real year ---------------------------------------------------------------------------------------------------
@needs_data(POLICE_UK.name, "london_boroughs.geojson")
def test_on_the_real_year_it_predicts_the_held_back_months_at_least_as_well_as_top_counts(merton_cells):
    """Merton, res 9, all crime: trained on July-December 2017, scored on January-June 2018 at 1% of the area."""
    cells = merton_cells[9]
    frame = pd.read_csv(POLICE_UK, usecols=["Month", "Latitude", "Longitude"])
    position = cells.get_indexer(points_to_cells(frame["Latitude"], frame["Longitude"], (9,))[9])
    months = sorted(frame["Month"].unique())
    counts = np.zeros((len(cells), len(months)))
    inside = position >= 0
    np.add.at(counts, (position[inside], frame["Month"].map(months.index).to_numpy()[inside]), 1)
    history = pd.DataFrame(counts[:, :6], index=cells, columns=months[:6])
    actual = pd.Series(counts[:, 6:].sum(axis=1), index=cells)
    top = cells_at(0.01, len(cells))
    ranked = where_to_act(history).index[:top]
    busiest = cells[np.argsort(-history.sum(axis=1).to_numpy(), kind="stable")[:top]]
    ours, theirs = prediction_scores(ranked, actual), prediction_scores(busiest, actual)
    assert ours["pai"] >= theirs["pai"] > 5, (ours, theirs)
    assert 0.01 in SHARES
