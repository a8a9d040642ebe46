"""Expected counts per cell: what "usual for here" means, so tests can ask what is unusual rather than what is busy.

Testing against one study-wide mean turns any smooth gradient (population, footfall, the town centre) into hot
and cold spots, and a steady pattern into "new" emerging hot spots. Each surface here gives, per cell, the count
expected there; ``place_test``, ``gi_star(expected=...)`` and ``emerging_hotspots(expected=...)`` then test
against it.

- ``from_past``: the same cells' own past, shrunk towards the study area's mean (a cell with a short or empty past
  borrows strength from the rest: the gamma-Poisson empirical Bayes estimate).
- ``from_exposure``: proportional to an exposure (people living or passing there, places of a kind).
- ``trend``: a smooth surface fitted to the counts themselves (a Poisson regression on the cells' coordinates), so
  a broad gradient is expected and only what stands out from it is tested.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import cells as h3cells
from ..places import lnglat_to_bng
from .hotspots import HotspotInputError


def from_past(history: pd.DataFrame) -> pd.Series:
    """Expected count per cell in one period, from a history (cells x periods, oldest first): each cell's mean,
    shrunk towards the study area's mean as much as the spread between cells warrants."""
    if not isinstance(history, pd.DataFrame) or history.shape[1] < 1 or history.empty:
        raise HotspotInputError("history must be a DataFrame of cells x at least one period of counts")
    values = history.to_numpy(dtype=float)
    periods = values.shape[1]
    totals = values.sum(axis=1)
    mean = totals.mean() / periods
    if mean <= 0:
        return pd.Series(0.0, index=history.index)
    between = max(np.var(totals / periods) - mean / periods, 1e-12)  # variance of the cells' true rates
    beta = mean / between  # prior strength, in periods
    return pd.Series((totals + mean * beta) / (periods + beta), index=history.index)


def from_exposure(exposure: pd.Series, cells: pd.Index | None = None) -> pd.Series:
    """Expected counts proportional to an exposure per cell (any scale; cells without one get none)."""
    if not isinstance(exposure, pd.Series):
        raise HotspotInputError("exposure must be a pandas Series indexed by cell")
    values = exposure.reindex(cells, fill_value=0.0) if cells is not None else exposure
    if (values < 0).any() or values.sum() <= 0:
        raise HotspotInputError("an exposure must be positive somewhere and never negative")
    return values.astype(float)


def trend(counts: pd.Series, *, degree: int = 2, iterations: int = 50) -> pd.Series:
    """A smooth expected surface fitted to ``counts``: a Poisson regression of the counts on a polynomial of the
    cells' coordinates (British National Grid, standardised) up to ``degree``, fitted by iteratively reweighted
    least squares. Broad gradients are absorbed; a hot place or a cluster, covering few cells, is not."""
    if not isinstance(counts, pd.Series) or counts.empty:
        raise HotspotInputError("counts must be a non-empty pandas Series indexed by cell")
    if not 0 <= degree <= 4:
        raise HotspotInputError(f"degree must be 0-4, got {degree}")
    y = counts.to_numpy(dtype=float)
    centres = h3cells.centres(counts.index)
    x_m, y_m = lnglat_to_bng(centres[:, 1], centres[:, 0])
    x = (np.asarray(x_m) - np.mean(x_m)) / (np.std(x_m) or 1.0)
    z = (np.asarray(y_m) - np.mean(y_m)) / (np.std(y_m) or 1.0)
    design = np.column_stack([x ** i * z ** j for i in range(degree + 1) for j in range(degree + 1 - i)])
    if y.sum() <= 0:
        return pd.Series(0.0, index=counts.index)
    beta = np.zeros(design.shape[1])
    beta[0] = np.log(y.mean())
    for _ in range(iterations):
        eta = np.clip(design @ beta, -30, 30)
        mu = np.exp(eta)
        working = eta + (y - mu) / mu
        weighted = design * mu[:, None]
        step = np.linalg.lstsq(design.T @ weighted, weighted.T @ working, rcond=None)[0]
        if np.max(np.abs(step - beta)) < 1e-8:
            beta = step
            break
        beta = step
    return pd.Series(np.exp(np.clip(design @ beta, -30, 30)), index=counts.index)
