"""Forward evaluation: PAI, hit rate and PEI by their definitions; a persistent cluster predicts the next period."""

from __future__ import annotations

import h3
import numpy as np
import pandas as pd
import pytest

from geoservice.analysis.evaluate import forward_evaluation, prediction_scores
from geoservice.analysis.hotspots import HotspotInputError



def test_scores_follow_their_definitions():
    cells = pd.Index([h3.str_to_int(c) for c in sorted(h3.grid_disk(h3.latlng_to_cell(51.41, -0.19, 9), 1))])
    actual = pd.Series([6, 2, 0, 0, 1, 1, 0], index=cells)  # 10 events over 7 cells
    areas = np.ones(7)
    scores = prediction_scores([cells[0], cells[2]], actual, areas)
    assert scores["hits"] == 6 and scores["hit_rate"] == pytest.approx(0.6)
    assert scores["area_share"] == pytest.approx(2 / 7)
    assert scores["pai"] == pytest.approx(0.6 / (2 / 7))
    best_pai = (8 / 10) / (2 / 7)  # the two busiest cells: 6 + 2
    assert scores["pei"] == pytest.approx(scores["pai"] / best_pai)


def test_nothing_flagged_scores_no_hits():
    cells = pd.Index([h3.str_to_int(h3.latlng_to_cell(51.41, -0.19, 9))])
    scores = prediction_scores([], pd.Series([3], index=cells))
    assert scores["cells_flagged"] == 0 and scores["hits"] == 0 and np.isnan(scores["pai"])


def test_a_persistent_cluster_is_predicted_and_noise_is_not(merton_cells):
    cells = merton_cells[9]
    rng = np.random.default_rng(5)
    months = pd.period_range("2025-01", periods=6, freq="M")
    cube = pd.DataFrame(rng.poisson(0.5, (len(cells), 6)), index=cells, columns=months)
    cluster = [h3.str_to_int(c) for c in h3.grid_disk(h3.int_to_str(int(cells[200])), 1)]
    cube.loc[cluster] += rng.poisson(5, (7, 6))
    result = forward_evaluation(cube)
    assert len(result) == 5 and list(result.scored_on) == [str(m) for m in months[1:]]
    # the cluster holds ~35 of ~235 events a month (15%); the flagged cells catch over a third of that
    assert (result.pai > 5).all() and (result.hit_rate > 0.05).all()
    assert result.pei.between(0, 1).all()
    noise = forward_evaluation(pd.DataFrame(rng.poisson(0.5, (len(cells), 4)), index=cells))
    assert (noise.cells_flagged <= 2).all()


def test_window_is_checked(merton_cells):
    with pytest.raises(HotspotInputError, match="more than window=3"):
        forward_evaluation(pd.DataFrame(0, index=merton_cells[9], columns=range(3)), window=3)
