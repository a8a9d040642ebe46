"""Where it is concentrated: each cell's own count against what is expected there (the place test).

Gi* asks whether a cell's *neighbours* are high given its own value: the cluster question. A panel's question is
usually "where is it concentrated?": is this place busier than it should be? ``place_test`` answers that, cell by
cell. A busy isolated place (a station, a shopping centre) is a hot place here, where Gi* may not see it.

The null: each cell's count follows a negative binomial with mean ``expected`` (by default the study area's
average, so "busier than the average cell"; or an expected surface from ``analysis/expected.py``, so "busier than
usual for here") and a dispersion estimated from the data by moments. With no overdispersion this is the exact
Poisson test; with it, the wider tails keep the test calibrated where a Poisson test would flag a third of the
cells. p-values are one-sided (more than expected) and exact for the model (no permutations, no floor), and
``q`` is Benjamini-Hochberg over the study area.

What it cannot do: a place only a little busier than expected, with few events, is beyond any test (a cell at
four times a background of mean 5 is found about four times in five). That is why products rank places by
``where_to_act`` and show significance beside the rank, never instead of it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from ..cells import like
from ..results import settings as result_settings
from .hotspots import HotspotInputError, _as_cells, _checked_values, benjamini_hochberg


def dispersion(values: np.ndarray, expected: np.ndarray) -> float:
    """The negative binomial's extra variance, ``a`` in var = mu + a mu**2, by moments (0: Poisson)."""
    denominator = float(np.sum(expected ** 2))
    if denominator <= 0:
        return 0.0
    return max(0.0, float(np.sum((values - expected) ** 2 - values)) / denominator)


def upper_tail(values: np.ndarray, expected: np.ndarray, a: float) -> np.ndarray:
    """P(X >= value) for X negative binomial with mean ``expected`` and extra variance ``a`` (Poisson when 0)."""
    values = np.asarray(values, dtype=float)
    expected = np.asarray(expected, dtype=float)
    at_least = np.ceil(values) - 1  # P(X >= v) = sf(v - 1)
    if a <= 1e-12:
        p = stats.poisson.sf(at_least, expected)
    else:
        size = 1.0 / a
        p = stats.nbinom.sf(at_least, size, size / (size + expected))
    p = np.where(values <= 0, 1.0, p)
    return np.where(expected <= 0, np.where(values > 0, 0.0, 1.0), np.clip(p, 0.0, 1.0))


def tails(values: np.ndarray, mean: np.ndarray, variance: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """P(X >= value) and P(X <= value) for X negative binomial with this mean and variance (Poisson where the
    variance is no more than the mean): the distribution of a sum of counts matched by its first two moments."""
    values, mean = np.asarray(values, dtype=float), np.asarray(mean, dtype=float)
    excess = np.maximum(np.asarray(variance, dtype=float) - mean, 0.0)
    a = np.where(mean > 0, excess / np.maximum(mean, 1e-300) ** 2, 0.0)
    poisson = a <= 1e-12
    upper, lower = np.ones(values.size), np.ones(values.size)
    if poisson.any():
        m, v = mean[poisson], values[poisson]
        upper[poisson] = np.where(v <= 0, 1.0, stats.poisson.sf(v - 1, m))
        lower[poisson] = stats.poisson.cdf(v, m)
    if (~poisson).any():
        size = 1.0 / a[~poisson]
        prob = size / (size + mean[~poisson])
        v = values[~poisson]
        upper[~poisson] = np.where(v <= 0, 1.0, stats.nbinom.sf(v - 1, size, prob))
        lower[~poisson] = stats.nbinom.cdf(v, size, prob)
    empty = mean <= 0
    upper[empty] = np.where(values[empty] > 0, 0.0, 1.0)
    lower[empty] = 1.0
    return np.clip(upper, 0.0, 1.0), np.clip(lower, 0.0, 1.0)


def rate_interval(values: np.ndarray, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Exact (Garwood) interval of each cell's underlying mean count, from its observed count."""
    values = np.asarray(values, dtype=float)
    tail = (1 - level) / 2
    low = np.where(values > 0, stats.chi2.ppf(tail, 2 * values) / 2, 0.0)
    high = stats.chi2.ppf(1 - tail, 2 * (values + 1)) / 2
    return low, high


def place_test(counts: pd.Series, expected: pd.Series | None = None, *, alpha: float = 0.05, engine=None,
               partition_res: int | None = None) -> pd.DataFrame:
    """Is each cell busier than expected there?

    Parameters
    ----------
    counts
        Whole-number counts per H3 cell (int64 or hex index), every cell of the study area, zeros included.
    expected
        Expected counts per cell, on any scale (rescaled to the same total as ``counts``): the same cells' own
        past, an exposure layer, a fitted trend (``analysis/expected.py``). Default: the same everywhere.
    alpha
        False discovery rate for ``hot``.
    engine, partition_res
        Where each cell's test is worked out and how the cells are cut (see ``gi_star``). The background fit and
        the false discovery rate are study-wide, computed once over all cells, so the result is identical whatever
        they are.

    Returns
    -------
    DataFrame indexed as ``counts`` was, with ``value``, ``expected``, ``ratio`` (value / expected), ``excess``
    (value - expected), ``low`` and ``high`` (95% interval of the cell's underlying mean count), ``p`` (one-sided:
    at least this many), ``q`` (Benjamini-Hochberg) and ``hot`` (``q <= alpha`` and more than expected).
    ``attrs["settings"]`` holds the question it answers, the null, the dispersion and the input's digest.
    """
    if not isinstance(counts, pd.Series) or counts.empty:
        raise HotspotInputError("counts must be a non-empty pandas Series indexed by H3 cell, zeros included")
    if not 0 < alpha < 1:
        raise HotspotInputError(f"alpha must be between 0 and 1, got {alpha}")
    cells = _as_cells(counts.index)
    y = _checked_values(counts.to_numpy(dtype=float))
    if not np.all(y == np.round(y)):
        raise HotspotInputError("the place test needs whole-number counts (test one layer, not a weighted index)")
    shape = expected_counts(counts, expected)
    mu, a, fitted = _background_fit(y, shape, alpha)
    p, low, high = _per_partition(cells, (y, mu), _cell_tests, a, engine, partition_res)
    q = benjamini_hochberg(p)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(mu > 0, y / mu, np.where(y > 0, np.inf, 1.0))
    result = pd.DataFrame({"value": y, "expected": mu, "ratio": ratio, "excess": y - mu, "low": low, "high": high,
                           "p": p, "q": q, "hot": (q <= alpha) & (y > mu)}, index=cells)
    result.attrs["settings"] = result_settings(
        method="place test: exact upper tail of a negative binomial (Poisson when not overdispersed)",
        question="is this place busier than expected here?", inputs=(cells.to_numpy(), y, mu),
        expected="the study area's average" if expected is None else "the expected surface given",
        dispersion=a, background_fit=fitted, alpha=alpha, cells=len(cells))
    result.index = like(result.index, counts.index)
    return result


def _cell_tests(partition: tuple[np.ndarray, np.ndarray], a: float) -> tuple[np.ndarray, ...]:
    """Each cell's own test against the background (``p``) and the interval of its mean count (``low``,
    ``high``): cell by cell, so any engine may run it on any partition."""
    y, mu = partition
    return (upper_tail(y, mu, a), *rate_interval(y))


def _per_partition(cells: pd.Index, columns: tuple[np.ndarray, ...], function, shared, engine,
                   partition_res: int | None) -> tuple[np.ndarray, ...]:
    """``function((column[own] for column in columns), shared)`` on each partition of the cells (by H3 parent, no
    halo: a cell-by-cell test), put back together in the order of ``cells``."""
    from ..engine import LocalEngine
    from .hotspots import _partitions, default_cut

    parts = [own for own, _ in _partitions(cells, 0, default_cut(cells, engine, partition_res))]
    engine = LocalEngine() if engine is None else engine
    answers = engine.map_partitions(function, [tuple(column[own] for column in columns) for own in parts], shared)
    outputs = tuple(np.empty(len(cells)) for _ in answers[0])
    for own, answer in zip(parts, answers):
        for output, part in zip(outputs, answer):
            output[own] = part
    return outputs


def _background_fit(y: np.ndarray, shape: np.ndarray, alpha: float):
    """The expected counts and dispersion of the *background*, and how they were fitted (study-wide, once).

    The places being looked for would inflate a fit to every cell: a few cells of 200 among cells of 2 make a
    moment estimate of the dispersion so large that no cell is significant. So the background is first fitted by
    maximum likelihood to the cells at or below Tukey's far-out fence (the upper quartile plus three interquartile
    ranges, at least 3), the likelihood truncated there
    (consistent under a negative-binomial null, unmoved by the few cells above). Unless one of the cells above
    stands out from that fit beyond doubt, they belong to the background after all, and every cell is fitted
    (so a small study area's largest cell does not narrow the null). Counts too sparse to fit use moments, and the
    dispersion is never below the moment estimate (maximum likelihood underestimates it from few cells)."""
    q1, q3 = np.quantile(y, [0.25, 0.75])
    ceiling = max(float(q3 + 3 * (q3 - q1)), 3.0)  # Tukey's "far out" fence: above it, candidates to leave out
    above = y > ceiling
    how = "moments (too few distinct counts to fit)"
    if y.sum() > 0 and (~above).sum() >= 20 and len(np.unique(y[~above])) >= 3:
        mu, a = _nb_fit(y, shape, np.where(above, np.nan, ceiling))
        # the cells above count as places apart only when one is beyond doubt: Bonferroni over all cells, against
        # twice the fitted dispersion (a fit narrowed by leaving out a background cell would otherwise find that
        # very cell, most of all in a small study area)
        if not above.any() or (upper_tail(y[above], mu[above], 2 * a + 0.05) * y.size <= alpha).any():
            return mu, a, f"maximum likelihood, truncated at {ceiling:g} (far-out fence)"
        mu, a = _nb_fit(y, shape, np.full(y.size, np.inf))
        how = "maximum likelihood over every cell (none stood out from the background)"
    else:
        mu = shape * (y.sum() / max(shape.sum(), 1e-12))
        a = dispersion(y, mu)
    return mu, a, how


def _nb_fit(y: np.ndarray, shape: np.ndarray, ceilings: np.ndarray) -> tuple[np.ndarray, float]:
    """Maximum-likelihood scale and dispersion of a negative binomial with means ``scale * shape``, over the cells
    whose ``ceilings`` are not NaN, each truncated at its ceiling (an infinite ceiling: not truncated)."""
    from scipy import optimize, special

    use = ~np.isnan(ceilings)
    yf, sf, cf = y[use], shape[use], ceilings[use]
    scale0 = yf.sum() / max(sf.sum(), 1e-12)
    a0 = max(dispersion(yf, sf * scale0), 1e-3)
    levels, where = np.unique(sf, return_inverse=True)  # the truncation term once per distinct expected count
    constant = special.gammaln(yf + 1)

    def negative_log_likelihood(params):
        r = np.exp(-params[1])
        prob = r / (r + levels * np.exp(params[0]))
        loglik = special.gammaln(yf + r) - special.gammaln(r) - constant + r * np.log(prob[where]) \
            + yf * np.log1p(-prob[where])
        inside = np.where(np.isinf(cf), 1.0, special.betainc(r, np.where(np.isinf(cf), 1.0, cf) + 1, prob[where]))
        return -np.sum(loglik - np.log(np.maximum(inside, 1e-300)))

    best = optimize.minimize(negative_log_likelihood, np.array([np.log(scale0), np.log(a0)]), method="L-BFGS-B",
                             bounds=[(np.log(scale0) - 3, np.log(scale0) + 3), (np.log(1e-6), np.log(50.0))])
    mu = shape * np.exp(best.x[0])
    # maximum likelihood underestimates a dispersion from few cells (a small study area): never go below the
    # moment estimate over the same cells
    a = max(float(np.exp(best.x[1])), dispersion(yf, mu[use]))
    return mu, (a if a > 1e-5 else 0.0)


def pearson_residuals(values: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """(value - expected) / its standard deviation under the fitted negative binomial: comparable across cells
    whatever their expected count."""
    a = dispersion(values, expected)
    sd = np.sqrt(np.maximum(expected * (1 + a * expected), 1e-12))
    return (values - expected) / sd


def expected_counts(counts: pd.Series, expected: pd.Series | None) -> np.ndarray:
    """Expected counts aligned with ``counts`` and scaled to its total (the average everywhere when None)."""
    y = counts.to_numpy(dtype=float)
    if expected is None:
        return np.full(y.size, y.mean())
    if not isinstance(expected, pd.Series):
        raise HotspotInputError("expected must be a pandas Series indexed by the same cells as counts")
    aligned = expected.reindex(counts.index)
    if aligned.isna().any():
        raise HotspotInputError(f"expected has no value for {int(aligned.isna().sum())} of the cells counted")
    mu = aligned.to_numpy(dtype=float)
    if not np.isfinite(mu).all() or (mu < 0).any() or mu.sum() <= 0:
        raise HotspotInputError("expected counts must be finite, not negative, and not all zero")
    return mu * (y.sum() / mu.sum()) if y.sum() > 0 else mu
