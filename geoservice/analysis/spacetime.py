"""Emerging hot spots: Gi* in each time bin, a Mann-Kendall trend per cell, and ArcGIS Pro's 17 patterns.

``emerging_hotspots`` takes a cube of counts (cells × time bins, zeros included), runs ``gi_star`` in every bin
(neighbourhoods computed once), tests each cell's series of Gi* z-scores for a monotonic trend with Mann-Kendall,
and classifies each cell as ArcGIS Pro's Emerging Hot Spot Analysis does. "Significant" in a bin means a Gi_Bin
other than 0: at least 90% confidence after the false discovery rate correction. With n bins, hot% is the share
of bins in which the cell is a significant hot spot. Rules, checked in this order (cold spots mirror them):

- **historical**: not hot in the final bin, hot in at least 90% of bins.
- **intensifying / diminishing**: hot in the final bin and in at least 90% of bins, with a significant
  (``trend_alpha``) increasing / decreasing Mann-Kendall trend in the z-scores.
- **persistent**: hot in at least 90% of bins, including the final one, with no significant trend.
- **new**: hot in the final bin and significant (hot or cold) in no other bin.
- **consecutive**: hot in an unbroken run of at least two final bins, significant in no bin before the run,
  hot in under 90% of bins.
- **oscillating**: hot in the final bin, hot in under 90% of bins, and a significant cold spot in some bin.
- **sporadic**: hot in the final bin, hot in under 90% of bins, on and off, never a cold spot.
- **no pattern** otherwise.

Where ArcGIS's wording leaves a case open (a cell cold earlier and then newly hot), the stricter reading is used,
as sfdep does: new and consecutive allow no significant bin of either kind before; such a cell is oscillating.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd

from ..results import settings as result_settings
from .concentration import expected_counts
from .hotspots import (HotspotInputError, KnownSums, PartitionedNeighbourhoods, _as_cells, _checked_values,
                       _gi_star_core, _gi_star_expected, default_cut)

PATTERNS = ("no pattern",) + tuple(f"{kind} {side} spot" for side in ("hot", "cold") for kind in (
    "new", "consecutive", "intensifying", "persistent", "diminishing", "sporadic", "oscillating", "historical"))


def mann_kendall(series: np.ndarray) -> pd.DataFrame:
    """Mann-Kendall trend test on each row of ``series`` (rows × time), with the tie correction of the variance
    and a continuity correction, as in Hipel and McLeod (1994) and pymannkendall's ``original_test``.

    Returns columns ``s``, ``var_s``, ``z``, ``p`` (two-sided, normal approximation) and ``tau`` (S over the number
    of pairs).
    """
    x = np.asarray(series, dtype=float)
    if x.ndim != 2 or x.shape[1] < 3:
        raise HotspotInputError("a trend needs a 2-D array with at least 3 time steps per row")
    rows, n = x.shape
    s = np.zeros(rows)
    for lag in range(1, n):  # all pairs i < j, one lag at a time: memory stays rows × n
        s += np.sign(x[:, lag:] - x[:, :-lag]).sum(axis=1)
    ordered = np.sort(x, axis=1)
    starts = np.concatenate([np.ones((rows, 1), dtype=bool), np.diff(ordered, axis=1) != 0], axis=1)
    run = np.cumsum(starts, axis=1) + (np.arange(rows) * (n + 1))[:, None]
    tie_sizes = np.bincount(run.ravel(), minlength=rows * (n + 1)).reshape(rows, n + 1)
    ties = (tie_sizes * (tie_sizes - 1) * (2 * tie_sizes + 5)).sum(axis=1)
    var_s = (n * (n - 1) * (2 * n + 5) - ties) / 18.0
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(var_s > 0, (s - np.sign(s)) / np.sqrt(var_s), 0.0)
    p = np.array([math.erfc(abs(v) / math.sqrt(2)) for v in z.tolist()])
    return pd.DataFrame({"s": s, "var_s": var_s, "z": z, "p": p, "tau": s / (n * (n - 1) / 2)})


def classify_patterns(hot: np.ndarray, cold: np.ndarray, trend_z: np.ndarray, trend_p: np.ndarray,
                      trend_alpha: float = 0.05) -> np.ndarray:
    """Pattern name per row, from significant hot and cold bins (rows × time) and the trend (see module doc)."""
    hot = np.asarray(hot, dtype=bool)
    cold = np.asarray(cold, dtype=bool)
    rows, n = hot.shape
    out = np.full(rows, "no pattern", dtype=object)
    for side, mine, other, sign in (("hot", hot, cold, 1), ("cold", cold, hot, -1)):
        share = mine.sum(axis=1) / n
        final = mine[:, -1]
        significant = mine | other
        rising = (trend_p < trend_alpha) & (np.sign(trend_z) == sign)
        falling = (trend_p < trend_alpha) & (np.sign(trend_z) == -sign)
        # length of the unbroken run of `mine` ending at the final bin
        run = np.zeros(rows, dtype=int)
        still = np.ones(rows, dtype=bool)
        for t in range(n - 1, -1, -1):
            still &= mine[:, t]
            run += still
        before_run = np.array([significant[i, : n - run[i]].any() for i in range(rows)])
        only_final = final & (significant.sum(axis=1) == 1)
        rules = [
            (~final & (share >= 0.9), "historical"),
            (final & (share >= 0.9) & rising, "intensifying"),
            (final & (share >= 0.9) & falling, "diminishing"),
            (final & (share >= 0.9), "persistent"),
            (only_final, "new"),
            (final & (run >= 2) & ~before_run & (share < 0.9), "consecutive"),
            (final & (share < 0.9) & other.any(axis=1), "oscillating"),
            (final & (share < 0.9), "sporadic"),
        ]
        undecided = out == "no pattern"
        for mask, kind in rules:
            take = undecided & mask
            out[take] = f"{kind} {side} spot"
            undecided &= ~take
    return out


@dataclasses.dataclass
class EmergingHotspots:
    """Result of ``emerging_hotspots``.

    Attributes
    ----------
    summary
        Per cell: ``pattern``, ``trend_tau``, ``trend_z``, ``trend_p``, ``hot_bins``, ``cold_bins``, ``final_bin``.
    z, bins
        Per cell and time bin: the Gi* z-score and Gi_Bin (-3..3).
    attrs
        ``attrs["settings"]``: k, significance rule, trend_alpha, bins, cells, seed and the input's digest
        (``analysis/results.py``).
    """

    summary: pd.DataFrame
    z: pd.DataFrame
    bins: pd.DataFrame
    attrs: dict


def emerging_hotspots(cube: pd.DataFrame, *, k: int = 1, trend_alpha: float = 0.05, permutations: int = 999,
                      seed: int = 0, expected: pd.Series | str | None = None, engine=None,
                      partition_res: int | None = None) -> EmergingHotspots:
    """Emerging hot-spot patterns from a cube of counts.

    Parameters
    ----------
    cube
        Rows: every H3 cell of the study area (zeros included); columns: time bins in order (weeks, months).
    k
        Gi* neighbourhood (k-ring).
    trend_alpha
        Significance level of the Mann-Kendall trend.
    permutations, seed
        Used only for values that are not whole numbers (see ``gi_star``), and for tests against ``expected``.
    expected
        What is usual per cell (``analysis/expected.py``), scaled to each bin's total: each bin's Gi* then tests
        the cells' excess over it, so a steady pattern (a gradient, a busy town centre) is not reported as new.
        ``"past"``: each cell's own level over the cube (``expected.from_past``). Default: none (each bin
        against its own mean, ArcGIS Pro's question).
    engine, partition_res
        Where each bin's neighbourhood sums are worked out and how the cells are cut (see ``gi_star``); the
        result is identical whatever they are.
    """
    if not isinstance(cube, pd.DataFrame) or cube.shape[1] < 3:
        raise HotspotInputError("cube must be a DataFrame of cells × at least 3 time bins")
    cells = _as_cells(cube.index)
    values = _checked_values(cube.to_numpy(dtype=float))
    structure = PartitionedNeighbourhoods(cells, k, engine=engine,
                                          partition_res=default_cut(cells, engine, partition_res))
    z = np.empty(values.shape)
    bins = np.empty(values.shape, dtype=int)
    base = None
    if isinstance(expected, str):
        if expected != "past":
            raise HotspotInputError(f"expected must be a Series of expected counts or 'past', got {expected!r}")
        from .expected import from_past

        base = from_past(cube).to_numpy(dtype=float)
    elif expected is not None:
        base = expected_counts(pd.Series(values.sum(axis=1), index=cube.index), expected)
    against_usual = base is not None and base.sum() > 0
    # every bin's neighbourhood sums in one pass over the partitions: on a cluster, one round of tasks, not one a bin
    every_bin = None if against_usual else structure.sums(values)
    for t in range(values.shape[1]):
        if against_usual:  # against what is usual there, scaled to the bin's total
            result = _gi_star_expected(values[:, t], base * (values[:, t].sum() / base.sum()), cells, structure, 0.05)
        else:
            result = _gi_star_core(values[:, t], cells, KnownSums(every_bin[0][:, t], every_bin[1]), permutations,
                                   seed + t, 0.05)
        z[:, t] = result["z"].to_numpy()
        bins[:, t] = result["bin"].to_numpy()
    trend = mann_kendall(z)
    patterns = classify_patterns(bins > 0, bins < 0, trend.z.to_numpy(), trend.p.to_numpy(), trend_alpha)
    summary = pd.DataFrame({
        "pattern": patterns, "trend_tau": trend.tau.to_numpy(), "trend_z": trend.z.to_numpy(),
        "trend_p": trend.p.to_numpy(), "hot_bins": (bins > 0).sum(axis=1), "cold_bins": (bins < 0).sum(axis=1),
        "final_bin": bins[:, -1],
    }, index=cells)
    whole = bool(np.all(values == np.round(values))) and base is None
    settings = result_settings(method="emerging hot spots (Gi* per bin, Mann-Kendall trend)",
                               seed=None if whole else seed, inputs=(cells.to_numpy(), values), k=k,
                               expected=None if expected is None else str(expected) if isinstance(expected, str)
                               else "the expected surface given",
                               significant="Gi_Bin != 0 (>= 90% confidence after FDR)",
                               trend="Mann-Kendall on Gi* z", trend_alpha=trend_alpha,
                               bins=list(map(str, cube.columns)), cells=len(cells))
    return EmergingHotspots(summary, pd.DataFrame(z, index=cells, columns=cube.columns),
                            pd.DataFrame(bins, index=cells, columns=cube.columns), {"settings": settings})


FREQUENCIES = {"week": "W-SUN", "month": "M"}  # weeks run Monday to Sunday


def cube_from_events(event_cells, event_times, study_cells: pd.Index, *, freq: str = "week",
                     start=None, end=None) -> pd.DataFrame:
    """Counts per study cell and time bin (``week``, Monday to Sunday, or calendar ``month``), zeros filled.

    Events outside the study cells or the [start, end) window are left out.
    """
    if freq not in FREQUENCIES:
        raise HotspotInputError(f"freq must be one of {sorted(FREQUENCIES)}, got {freq!r}")
    times = pd.to_datetime(pd.Series(event_times), utc=True).dt.tz_localize(None)
    frame = pd.DataFrame({"cell": np.asarray(event_cells, dtype=np.int64), "time": times.to_numpy()})
    start = pd.Timestamp(start) if start is not None else frame.time.min()
    end = pd.Timestamp(end) if end is not None else frame.time.max() + pd.Timedelta(seconds=1)
    frame = frame[(frame.time >= start) & (frame.time < end) & frame.cell.isin(study_cells)]
    periods = pd.period_range(start, end - pd.Timedelta(seconds=1), freq=FREQUENCIES[freq])
    frame["bin"] = frame.time.dt.to_period(FREQUENCIES[freq])
    cube = frame.groupby(["cell", "bin"]).size().unstack(fill_value=0)
    return cube.reindex(index=study_cells, columns=periods, fill_value=0).astype(np.int64)
