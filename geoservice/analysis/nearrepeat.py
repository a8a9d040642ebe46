"""Near-repeat analysis: the Knox test with a seeded permutation null, bands written in interval notation.

For every pair of events, the distance between them and the time between them each fall in a band; the Knox
table counts pairs per (distance band, time band). Shuffling the events' times (seeded) gives the table expected
if when an event happens has nothing to do with where; the Knox ratio is observed / expected and the p-value is
(1 + permutations with at least as many pairs) / (1 + permutations), one-sided (near repeats are an excess).

Bands are half-open intervals and labelled so: ``[0, 100) m`` holds pairs 0 to just under 100 m apart, and a
pair exactly 100 m apart is in ``[100, 200) m``. (The widely used Near Repeat Calculator labels its bands "1 to
100", "101 to 200", which misdescribes which band holds the boundary values by one.) The last band of each kind
is open: ``[400, ∞) m``.

Efficiency: shuffling times does not change which pairs are close in space, so those pairs are found once (grid
hashing in metres) and only their time gaps are re-binned per permutation; the far row of the table follows from
the all-pairs time-gap distribution, which a shuffle of times leaves unchanged.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from .hotspots import HotspotInputError

from ..results import settings as result_settings


def band_labels(edges, unit: str) -> list[str]:
    """Interval-notation labels for the bands between ``edges`` and the open band beyond the last edge."""
    edges = [float(e) for e in edges]
    fmt = lambda v: f"{v:g}"  # noqa: E731
    return [f"[{fmt(a)}, {fmt(b)}) {unit}" for a, b in zip(edges[:-1], edges[1:])] + [f"[{fmt(edges[-1])}, ∞) {unit}"]


def _check_edges(edges, what: str) -> np.ndarray:
    edges = np.asarray(edges, dtype=float)
    if edges.ndim != 1 or edges.size < 2 or edges[0] != 0 or np.any(np.diff(edges) <= 0):
        raise HotspotInputError(f"{what} bands must be increasing edges starting at 0, e.g. (0, 100, 200), "
                                f"got {list(edges)}")
    return edges


def close_pairs(x: np.ndarray, y: np.ndarray, max_distance: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All pairs i < j less than ``max_distance`` apart (metres), with their distances."""
    frame = pd.DataFrame({"i": np.arange(x.size), "gx": np.floor(x / max_distance).astype(np.int64),
                          "gy": np.floor(y / max_distance).astype(np.int64)})
    found_i, found_j = [], []
    for dx in (-1, 0, 1):
        for dy in (-1, 0, 1):
            shifted = frame.assign(gx=frame.gx + dx, gy=frame.gy + dy)
            pairs = frame.merge(shifted, on=["gx", "gy"], suffixes=("", "_other"))
            pairs = pairs[pairs.i < pairs.i_other]
            found_i.append(pairs.i.to_numpy())
            found_j.append(pairs.i_other.to_numpy())
    i = np.concatenate(found_i)
    j = np.concatenate(found_j)
    d = np.hypot(x[i] - x[j], y[i] - y[j])
    keep = d < max_distance
    return i[keep], j[keep], d[keep]


def _time_band_totals(t: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Pairs of all events per time band (the last band open), from sorted times."""
    s = np.sort(t)
    below = [0]
    for edge in edges[1:]:  # pairs with gap < edge
        below.append(int((np.searchsorted(s, s + edge, side="left") - np.arange(1, s.size + 1)).sum()))
    total = s.size * (s.size - 1) // 2
    counts = np.diff(below).tolist() + [total - below[-1]]
    return np.array(counts, dtype=np.int64)


@dataclasses.dataclass
class KnoxResult:
    """Knox table. Each DataFrame has distance bands as rows and time bands as columns (interval labels).

    Attributes
    ----------
    observed, expected, ratio, p
        Pair counts, their mean under permuted times, observed / expected, and the one-sided p-value.
    attrs
        ``attrs["settings"]``: bands, permutations, seed, number of events and pairs, the input's digest
        (``analysis/results.py``).
    """

    observed: pd.DataFrame
    expected: pd.DataFrame
    ratio: pd.DataFrame
    p: pd.DataFrame
    attrs: dict


def knox_test(x, y, t, *, distance_bands=(0, 100, 200, 300, 400), time_bands=(0, 7, 14, 21, 28),
              permutations: int = 999, seed: int = 0) -> KnoxResult:
    """Knox near-repeat test.

    Parameters
    ----------
    x, y
        Event positions in metres (British National Grid easting and northing).
    t
        Event times in days (any origin).
    distance_bands, time_bands
        Band edges starting at 0 (metres, days); a last open band is added beyond each.
    permutations, seed
        The seeded permutation null.
    """
    x, y, t = (np.asarray(v, dtype=float) for v in (x, y, t))
    if not (x.size == y.size == t.size) or x.size < 3:
        raise HotspotInputError("x, y and t must have the same length, at least 3 events")
    if not (np.isfinite(x).all() and np.isfinite(y).all() and np.isfinite(t).all()):
        raise HotspotInputError("x, y and t must be finite")
    if permutations < 1:
        raise HotspotInputError(f"permutations must be at least 1, got {permutations}")
    d_edges = _check_edges(distance_bands, "distance")
    t_edges = _check_edges(time_bands, "time")
    n_d, n_t = d_edges.size, t_edges.size  # bands including the open last one
    i, j, d = close_pairs(x, y, d_edges[-1])
    d_band = np.searchsorted(d_edges, d, side="right") - 1
    totals = _time_band_totals(t, t_edges)

    def table(times: np.ndarray) -> np.ndarray:
        gap = np.abs(times[i] - times[j])
        t_band = np.searchsorted(t_edges, gap, side="right") - 1
        near = np.bincount(d_band * n_t + t_band, minlength=(n_d - 1) * n_t).reshape(n_d - 1, n_t)
        return np.vstack([near, totals - near.sum(axis=0)])

    observed = table(t)
    rng = np.random.default_rng(seed)
    at_least = np.zeros_like(observed)
    total = np.zeros(observed.shape, dtype=float)
    for _ in range(permutations):
        simulated = table(t[rng.permutation(t.size)])
        at_least += simulated >= observed
        total += simulated
    expected = total / permutations
    rows, cols = band_labels(d_edges, "m"), band_labels(t_edges, "days")
    frame = lambda values: pd.DataFrame(values, index=rows, columns=cols)  # noqa: E731
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(expected > 0, observed / expected, np.nan)
    settings = result_settings(method="Knox near-repeat test (permuted times)", seed=seed, inputs=(x, y, t),
                               distance_bands=list(d_edges), time_bands=list(t_edges), permutations=permutations,
                               events=int(x.size), close_pairs=int(i.size))
    return KnoxResult(frame(observed), frame(expected), frame(ratio), frame((1 + at_least) / (1 + permutations)),
                      {"settings": settings})
