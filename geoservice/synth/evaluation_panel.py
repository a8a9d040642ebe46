"""Synthetic panels of monthly counts with a known intervention effect, to test the evaluation against the truth.

The synthetic world's incidents are drawn before the planted patterns that depend on them (hot places, peer-group
hang-outs, co-offending evidence), so thinning them after an intervention would change other tests' truths. The
evaluation is therefore tested on panels made here, on real H3 cells (res 9, around Merton), built to be as hard as
real street crime:

- a quiet background (a lognormal level per cell) and ``hot_areas`` busy areas (a cell and its six neighbours),
  one of which is the treated area;
- trends that differ by area: a slope per res-7 parent, per res-8 parent and per cell (log scale, per year, with
  standard deviations ``trend_spread``), so neighbouring cells drift together;
- a season shared by all (a sine wave, +/- ``season``), and a borough-wide trend (``borough_trend`` per year);
- overdispersed counts: negative binomial (gamma-Poisson) with size ``size``;
- the effect: from ``start``, the treated area's expected counts are multiplied by ``1 + effect``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .. import cells as h3cells

#: A res-9 cell in Mitcham, Merton: the panel is the disk of cells around it.
CENTRE = h3cells.hex_of(h3cells.point_to_cell(51.4060, -0.1630, 9))


@dataclass
class EvaluationPanel:
    """A panel of counts (cells x months) and its truth: the treated cells, the start month and the effect."""

    counts: pd.DataFrame
    treated: list
    start: str
    effect: float
    seed: int


def evaluation_panel(seed: int, effect: float = 0.0, *, radius: int = 12, months: int = 24, pre_months: int = 12,
                     hot_areas: int = 10, size: float = 4.0, season: float = 0.2,
                     borough_trend: float = -0.1,
                     trend_spread: tuple[float, float, float] = (0.2, 0.1, 0.05)) -> EvaluationPanel:
    """A panel with ``effect`` planted (0: none) in one busy area from month ``pre_months`` on (see the module)."""
    rng = np.random.default_rng([seed, 9973])
    centre = h3cells.int_of(CENTRE)
    cells = np.array(sorted(h3cells.disk(centre, radius)), dtype=np.int64)
    where = pd.Index(cells)
    level = rng.lognormal(mean=-0.3, sigma=0.8, size=len(cells))
    inner = np.array(sorted(h3cells.disk(centre, radius - 3)), dtype=np.int64)
    areas: list[np.ndarray] = []
    middles: list[int] = []
    for middle in rng.permutation(inner).tolist():  # busy areas that neither overlap nor touch
        if len(areas) == hot_areas:
            break
        if any(h3cells.steps_between(middle, other) < 4 for other in middles):
            continue
        ring = [c for c in h3cells.disk(middle, 1) if c != middle]
        area = where.get_indexer([middle, *ring])
        level[area[0]] += rng.uniform(5, 10)
        level[area[1:]] += rng.uniform(1.5, 4, len(area) - 1)
        areas.append(area)
        middles.append(middle)
    slope = np.zeros(len(cells))
    for parent_res, spread in zip((7, 8), trend_spread[:2]):
        parents = h3cells.cells_to_parents(cells, parent_res)
        unique, inverse = np.unique(parents, return_inverse=True)
        slope += rng.normal(0, spread, len(unique))[inverse]
    slope += rng.normal(0, trend_spread[2], len(cells))
    t = np.arange(months)
    years = (t - pre_months) / 12
    season_shape = 1 + season * np.sin(2 * np.pi * (t + rng.uniform(0, 12)) / 12)
    mean = level[:, None] * np.exp((slope[:, None] + borough_trend) * years[None, :]) * season_shape[None, :]
    treated = areas[0]
    mean[treated, pre_months:] *= 1 + effect
    counts = rng.poisson(mean * rng.gamma(size, 1 / size, mean.shape))
    labels = [str(m) for m in pd.period_range("2024-01", periods=months, freq="M")]
    frame = pd.DataFrame(counts, index=pd.Index(cells, name="cell"), columns=labels)
    return EvaluationPanel(counts=frame, treated=cells[treated].tolist(), start=labels[pre_months], effect=effect,
                           seed=seed)
