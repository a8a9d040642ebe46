"""Did an intervention work? Difference-in-differences on counts, against matched comparison cells, with placebos.

The question a partnership asks ("after the week of action in the park, did robbery there fall?") cannot be
answered by the park's own before and after: a borough-wide fall, a season or a drift in recording moves the park
too. ``intervention_effect`` compares the park with comparison cells the tool chooses, and tests the difference
against what the same calculation gives for areas where nothing was done.

Method
------
1. **Comparison cells, matched on the pre-period.** Cells within ``buffer`` rings of the treated cells are left out
   (displacement and diffusion of benefit reach there). For each treated cell, the ``matches`` nearest remaining
   cells by pre-period trend (on the square-root scale, the second half's monthly mean less the first half's,
   scaled by its spread) and, for H3 cells, by distance (``nearby_km`` counts as one spread: trends are shared by
   neighbouring places) are its comparison, with replacement (Abadie and Imbens 2006). Not by level: see
   ``_features``.
2. **The estimate** is a Poisson difference-in-differences ratio of sums: with ``A``, ``B`` the treated area's
   events before and after the start and ``C``, ``D`` the comparison's (each comparison cell weighted by how often
   it was matched), ``effect = (B / A) / (D / C) - 1``; -0.3 is a fall of 30% beyond the comparison's change. A
   common season or borough-wide trend cancels in the ratio.
3. **Placebos in space** (Abadie, Diamond and Hainmueller 2010; Conley and Taber 2011): the treated area's shape is
   moved onto every other place of the study area clear of the treated area and its buffer (labels that are not H3
   cells: random sets of as many cells), each copy with at least ``MIN_TREATED_EVENTS`` events before the start (the
   rule the real area passes) is given its own matched comparison, and its log ratio ``d_j`` and sampling variance
   ``v_j`` (negative binomial, the overdispersion estimated from the pre-period) are computed as for the real area.
   Placebo areas differ in how many events they hold, and a quiet area's ratio is noisier than a busy one's, so the
   ratios are studentised (Ferman and Pinto 2019): ``z = d / sqrt(v + tau2)`` with ``tau2`` the between-area
   variance the sampling variance does not explain (``mean(d_j^2 - v_j)``, at least 0). The two-sided ``p`` is the
   share of placebos with ``|z_j| >= |z|`` (counting the real area as one of them); the 95% interval inverts that
   test: ``d +/- q95 * sqrt(v + tau2)`` with ``q95`` the placebos' 95th percentile of ``|z_j|``.
4. **A placebo in time** checks the pre-period: with the same comparison, a false start half-way through the
   pre-period should show no effect. ``pre_trend`` reports it and ``assumptions`` warns when it is beyond ``q95``.

Assumptions (stated in every result's ``assumptions``): parallel trends (without the intervention the treated
area's counts would have moved in proportion to the comparison's), no spillover beyond the buffer (displacement
to or diffusion into comparison cells would bias the estimate), stable composition and recording (the same kinds
of events recorded the same way before and after), no other change that hit only the treated area at the start,
and exchangeable areas (the treated area is no more variable, on the log scale, than the placebo areas).

"Too little data to tell" is the verdict (with ``effect``, ``low``, ``high``, ``p`` NaN) when there are fewer than
``MIN_PRE_MONTHS`` months before the start or ``MIN_POST_MONTHS`` from it, fewer than ``MIN_TREATED_EVENTS`` events
in the treated area before the start, or fewer than ``MIN_PLACEBOS`` placebo areas (too few for a 5% test).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .. import cells as h3cells
from ..errors import GeoserviceError
from ..results import settings as result_settings

MIN_PRE_MONTHS = 6
MIN_POST_MONTHS = 1
MIN_TREATED_EVENTS = 20  # events in the treated area before the start
MIN_PLACEBOS = 39  # the fewest placebo areas with which p can fall to 0.025, well under 0.05
ALPHA = 0.05
TOO_LITTLE = "too little data to tell"

ASSUMPTIONS = (
    "Parallel trends: without the intervention, the treated area's counts would have changed in proportion to the "
    "comparison cells' (matched on their level and trend before the start). No spillover: displacement to, or "
    "diffusion of benefit into, the comparison cells would bias the estimate, so cells within {buffer} ring(s) of the "
    "treated area are left out. Stable composition: the same kinds of events recorded the same way before and after, "
    "and nothing else changed only in the treated area at the start. Exchangeable areas: the treated area is no more "
    "variable than the placebo areas the p-value and interval come from. Counts are overdispersed (negative "
    "binomial); months are assumed independent given the trends.")


class EvaluationInputError(GeoserviceError, ValueError):
    """Counts, treated cells or a start month that an evaluation cannot use as given."""


@dataclass
class InterventionEffect:
    """The effect of an intervention on counts, its interval and test, and how they were made.

    Attributes
    ----------
    effect, low, high
        The relative change in the treated area beyond the comparison's (-0.3: a 30% fall), and its 95% interval;
        NaN when there is too little data to tell.
    p
        Two-sided randomisation p-value against the placebo areas (NaN when too little data).
    verdict
        One sentence for a reader: "fell", "rose", "no clear change" or "too little data to tell", with the reason.
    method, assumptions
        The method in words, and the assumptions under which the estimate means what it says.
    start, pre_months, post_months
        The first month of the intervention, and the months before it and from it that were used.
    treated, comparison
        The treated cells, and the comparison cells with their weights (times matched / matches).
    treated_pre, treated_post, comparison_pre, comparison_post
        Events per cell per month, before and after, in the treated area and the (weighted) comparison.
    before_after
        The treated area's own change, after against before (the simple answer, which ignores every trend).
    pre_trend
        The placebo in time: the effect a false start half-way through the pre-period gives (NaN if too short).
    placebos, placebo_effects
        How many placebo areas the test used, and their relative effects.
    monthly
        Per month: the treated area's events and the comparison's, scaled to the treated area's level before the
        start (what the chart draws).
    attrs
        ``{"settings": ...}``: matches, buffer, seed, thresholds and the input digest.
    """

    effect: float
    low: float
    high: float
    p: float
    verdict: str
    method: str
    assumptions: str
    start: str
    pre_months: int
    post_months: int
    treated: list
    comparison: dict
    treated_pre: float = float("nan")
    treated_post: float = float("nan")
    comparison_pre: float = float("nan")
    comparison_post: float = float("nan")
    before_after: float = float("nan")
    pre_trend: float = float("nan")
    placebos: int = 0
    placebo_effects: np.ndarray = field(default_factory=lambda: np.zeros(0))
    monthly: pd.DataFrame = field(default_factory=pd.DataFrame)
    attrs: dict = field(default_factory=dict)

    @property
    def too_little_data(self) -> bool:
        return self.verdict.startswith(TOO_LITTLE)


METHOD = ("difference-in-differences on counts (ratio of the treated area's after/before to matched comparison "
          "cells' after/before), with studentised placebo areas in space for the p-value and interval")


# reading the input -----------------------------------------------------------------------------------------------
def _month(label, what: str) -> pd.Period:
    try:
        if isinstance(label, pd.Period):
            return label.asfreq("M")
        if isinstance(label, str):
            if not re.fullmatch(r"\d{4}-\d{2}(-\d{2}.*)?", label.strip()):
                raise ValueError(label)
            return pd.Period(label.strip()[:7], freq="M")
        return pd.Period(pd.Timestamp(label), freq="M")
    except (ValueError, TypeError):
        raise EvaluationInputError(f"{what} must be a month written YYYY-MM, got {str(label)[:40]!r}") from None


def _months(columns) -> pd.PeriodIndex:
    months = pd.PeriodIndex([_month(c, "each column of counts") for c in columns], freq="M")
    if len(months) and not (np.diff(months.asi8) == 1).all():
        raise EvaluationInputError("the columns of counts must be consecutive months, oldest first, got "
                                   f"{', '.join(str(m) for m in months[:6])}{'...' if len(months) > 6 else ''}")
    return months


def _values(counts: pd.DataFrame) -> np.ndarray:
    if not isinstance(counts, pd.DataFrame) or counts.shape[0] == 0 or counts.shape[1] == 0:
        raise EvaluationInputError("counts must be a DataFrame with one row per cell and one column per month")
    if not counts.index.is_unique:
        raise EvaluationInputError("counts has a cell more than once; sum its rows first")
    try:
        values = counts.to_numpy(dtype=float)
    except (ValueError, TypeError):
        raise EvaluationInputError("counts must hold numbers (events per cell per month)") from None
    if not np.isfinite(values).all() or (values < 0).any():
        raise EvaluationInputError("counts must be finite and not negative (events per cell per month)")
    return values


def _h3_cells(index: pd.Index) -> np.ndarray | None:
    """The index as int64 H3 cells when it is one (so areas can be moved and buffered), else None."""
    try:
        return h3cells.as_index(index).to_numpy()
    except (h3cells.CellError, TypeError, ValueError, OverflowError):
        return None


# the pieces ------------------------------------------------------------------------------------------------------
def _overdispersion(pre: np.ndarray) -> float:
    """``1 / size`` of a negative binomial, from the pre-period: each cell's mean times each month's share."""
    if pre.shape[1] < 2:
        return 0.0
    month_share = pre.sum(axis=0) / max(pre.sum(axis=0).mean(), 1e-12)
    expected = pre.mean(axis=1, keepdims=True) * month_share[None, :]
    denominator = (expected ** 2).sum()
    return float(max(0.0, (((pre - expected) ** 2 - expected).sum()) / denominator)) if denominator > 0 else 0.0


def _features(pre: np.ndarray) -> np.ndarray:
    """Each cell's pre-period trend (square-root scale: the second half's mean less the first half's), for matching.

    Not its level: the ratio estimator needs proportional trends, not equal levels, and matching a busy treated
    area on its noisy pre-period level picks comparisons that were unusually busy then, which regress to their mean
    afterwards and bias the effect upwards (Daw and Hatfield 2018; +6% on the test panels)."""
    half = pre.shape[1] // 2
    trend = np.sqrt(pre[:, half:].mean(axis=1)) - np.sqrt(pre[:, :half].mean(axis=1))
    return trend[:, None]


def _comparison_weights(areas: np.ndarray, excluded: np.ndarray, distance: np.ndarray, matches: int) -> np.ndarray:
    """Weights over cells (areas x cells): each area cell's ``matches`` nearest allowed cells, 1/matches each."""
    n_areas, size = areas.shape
    d = distance[areas]  # areas x size x cells
    d = np.where(excluded[:, None, :], np.inf, d)
    nearest = np.argpartition(d, matches - 1, axis=2)[:, :, :matches]
    weights = np.zeros((n_areas, distance.shape[0]))
    rows = np.broadcast_to(np.arange(n_areas)[:, None, None], nearest.shape)
    np.add.at(weights, (rows, nearest), 1.0 / matches)
    return weights


def _log_ratio(a, b, c, d, var_a, var_b, var_c, var_d):
    """The DiD log ratio log((b/a)/(d/c)) and its delta-method variance (a half added to each sum)."""
    a, b, c, d = (np.asarray(x, dtype=float) + 0.5 for x in (a, b, c, d))
    ratio = np.log(b) - np.log(a) - np.log(d) + np.log(c)
    return ratio, var_a / a ** 2 + var_b / b ** 2 + var_c / c ** 2 + var_d / d ** 2


class _Sums:
    """Per-cell sums and negative-binomial variances of a span of months."""

    def __init__(self, values: np.ndarray, inv_size: float):
        months = max(values.shape[1], 1)
        self.sum = values.sum(axis=1)
        self.var = self.sum + months * (self.sum / months) ** 2 * inv_size

    def of(self, weights: np.ndarray):
        """Weighted sums and their variances (weights: areas x cells)."""
        return weights @ self.sum, (weights ** 2) @ self.var


def _empty(verdict: str, start: str, pre_months: int, post_months: int, treated: list, buffer: int,
           settings: dict) -> InterventionEffect:
    nan = float("nan")
    return InterventionEffect(effect=nan, low=nan, high=nan, p=nan, verdict=verdict, method=METHOD,
                              assumptions=ASSUMPTIONS.format(buffer=buffer), start=start, pre_months=pre_months,
                              post_months=post_months, treated=treated, comparison={}, attrs={"settings": settings})


def _percent(value: float) -> str:
    return f"{value * 100:+.0f}%"


# the estimate ----------------------------------------------------------------------------------------------------
def intervention_effect(counts: pd.DataFrame, treated, start, *, matches: int = 5, buffer: int = 1,
                        placebos: int = 999, seed: int = 0,
                        nearby_km: float = 1.0) -> InterventionEffect:
    """The effect of an intervention in the ``treated`` cells from month ``start`` on the counts per cell per month.

    Parameters
    ----------
    counts
        Events, indexed by cell (H3 cells as integers or hex text, or any labels), one column per consecutive month,
        oldest first (labels "2025-01", Periods or Timestamps).
    treated
        The intervention's cells (labels of ``counts.index``).
    start
        The first month of the intervention, "YYYY-MM".
    matches
        Comparison cells matched to each treated cell.
    nearby_km
        How far (km) weighs as much as one spread of the pre-period trend when matching (H3 cells; 0: ignore).
    buffer
        Rings of cells around the treated area (H3 cells only) left out of comparisons and placebos: spillover.
    placebos
        At most this many placebo areas (a random choice among those possible, by ``seed``).
    """
    values = _values(counts)
    months = _months(counts.columns)
    start_month = _month(start, "start")
    treated = list(dict.fromkeys(treated if not isinstance(treated, (str, int, np.integer)) else [treated]))
    if not treated:
        raise EvaluationInputError("treated must name at least one cell of counts")
    positions = counts.index.get_indexer(pd.Index(treated, dtype=counts.index.dtype if
                                                  counts.index.dtype != object else object))
    if (positions < 0).any():
        missing = [t for t, p in zip(treated, positions) if p < 0]
        raise EvaluationInputError(f"{len(missing)} treated cells are not rows of counts, e.g. {missing[0]!r}; "
                                   "counts must cover the treated area and the cells around it")
    if matches < 1 or buffer < 0 or placebos < 1:
        raise EvaluationInputError(f"matches and placebos must be at least 1 and buffer at least 0, got matches="
                                   f"{matches}, buffer={buffer}, placebos={placebos}")
    pre_mask = months < start_month
    post_mask = ~pre_mask
    n_pre, n_post = int(pre_mask.sum()), int(post_mask.sum())
    settings = result_settings(method="did_placebo", seed=seed, inputs=(values,), matches=matches, buffer=buffer,
                               placebos=placebos, start=str(start_month), min_pre_months=MIN_PRE_MONTHS,
                               min_post_months=MIN_POST_MONTHS, min_treated_events=MIN_TREATED_EVENTS,
                               min_placebos=MIN_PLACEBOS)
    empty = dict(start=str(start_month), pre_months=n_pre, post_months=n_post, treated=treated, buffer=buffer,
                 settings=settings)
    if n_pre < MIN_PRE_MONTHS or n_post < MIN_POST_MONTHS:
        return _empty(f"{TOO_LITTLE}: {n_pre} months before the start and {n_post} from it; the evaluation needs at "
                      f"least {MIN_PRE_MONTHS} before and {MIN_POST_MONTHS} from the start", **empty)
    pre, post = values[:, pre_mask], values[:, post_mask]
    treated_events = pre[positions].sum()
    if treated_events < MIN_TREATED_EVENTS:
        return _empty(f"{TOO_LITTLE}: {treated_events:g} event{'' if treated_events == 1 else 's'} in the treated "
                      f"area in the {n_pre} months before the "
                      f"start; the evaluation needs at least {MIN_TREATED_EVENTS}", **empty)

    n_cells = len(values)
    cells = _h3_cells(counts.index)
    size = len(positions)
    excluded = np.zeros(n_cells, dtype=bool)
    excluded[positions] = True
    near = None
    if cells is not None and buffer > 0:
        where = pd.Index(cells)
        near = np.zeros((n_cells, n_cells), dtype=bool)  # near[i, j]: j within ``buffer`` rings of i
        for i, ring in enumerate(h3cells.disks(cells, buffer)):
            found = where.get_indexer(ring)
            near[i, found[found >= 0]] = True
        excluded |= near[positions].any(axis=0)
    rng = np.random.default_rng(seed)
    pool = np.flatnonzero(~excluded)
    if cells is not None:
        copies = h3cells.shifted_copies(cells[positions], cells[pool])
        where = pd.Index(cells)
        areas = []
        for copy in copies:
            if copy is None:
                continue
            found = where.get_indexer(copy)
            if (found >= 0).all() and not excluded[found].any():
                areas.append(found)
        areas = np.array(areas, dtype=np.int64).reshape(-1, size)
    else:
        areas = np.array([rng.choice(pool, size, replace=False) for _ in range(placebos)]
                         if len(pool) >= size else [], dtype=np.int64).reshape(-1, size)
    areas = areas[pre[areas].sum(axis=(1, 2)) >= MIN_TREATED_EVENTS] if len(areas) else areas
    if len(areas) > placebos:
        areas = areas[np.sort(rng.choice(len(areas), placebos, replace=False))]
    if len(areas) < MIN_PLACEBOS:
        return _empty(f"{TOO_LITTLE}: only {len(areas)} placebo areas elsewhere hold {MIN_TREATED_EVENTS} or more "
                      f"events before the start; the test needs at least {MIN_PLACEBOS}", **empty)
    if len(pool) < 3 * matches * size:
        return _empty(f"{TOO_LITTLE}: {len(pool)} cells are left to compare with; the evaluation needs at least "
                      f"{3 * matches * size}", **empty)

    features = _features(pre)
    spread = features[pool].std(axis=0)
    features = features / np.where(spread > 0, spread, 1.0)
    distance = ((features[:, None, :] - features[None, :, :]) ** 2).sum(axis=2)
    if cells is not None and nearby_km:  # trends are shared by neighbouring places: prefer comparisons near by
        from ..places import lnglat_to_bng

        centres = h3cells.centres(cells)
        x, y = lnglat_to_bng(centres[:, 1], centres[:, 0])
        xy = np.column_stack([np.asarray(x, float), np.asarray(y, float)]) / 1000.0
        distance = distance + ((xy[:, None, :] - xy[None, :, :]) ** 2).sum(axis=2) / nearby_km ** 2
    distance = np.sqrt(distance)
    inv_size = _overdispersion(pre[pool])
    before, after = _Sums(pre, inv_size), _Sums(post, inv_size)

    everything = np.vstack([positions[None, :], areas])  # the real area first, then the placebos
    indicator = np.zeros((len(everything), n_cells))
    np.put_along_axis(indicator, everything, 1.0, axis=1)
    excluded_each = np.repeat(excluded[None, :], len(everything), axis=0)
    excluded_each[np.arange(len(everything))[:, None], everything] = True
    if near is not None:
        excluded_each[1:] |= near[areas].any(axis=1)
    weights = _comparison_weights(everything, excluded_each, distance, matches)
    (a_all, va), (b_all, vb) = before.of(indicator), after.of(indicator)
    (c_all, vc), (d_all, vd) = before.of(weights), after.of(weights)
    ratio, variance = _log_ratio(a_all, b_all, c_all, d_all, va, vb, vc, vd)
    if c_all[0] < MIN_TREATED_EVENTS:
        return _empty(f"{TOO_LITTLE}: the comparison cells hold {c_all[0]:g} events before the start; the evaluation "
                      f"needs at least {MIN_TREATED_EVENTS}", **empty)
    observed, v_observed = ratio[0], variance[0]
    placebo_ratio, placebo_var = ratio[1:], variance[1:]
    tau2 = max(0.0, float(np.mean(placebo_ratio ** 2 - placebo_var)))
    z_placebo = np.abs(placebo_ratio) / np.sqrt(placebo_var + tau2)
    scale = float(np.sqrt(v_observed + tau2))
    z_observed = abs(observed) / scale
    n = len(areas)
    p = float((1 + np.sum(z_placebo >= z_observed - 1e-12)) / (n + 1))
    rank = int(np.ceil((1 - ALPHA) * (n + 1))) - 1  # the placebo |z| that a 5% test compares with
    q95 = float(np.sort(z_placebo)[min(rank, n - 1)])
    effect, low, high = (float(np.expm1(x)) for x in (observed, observed - q95 * scale, observed + q95 * scale))

    # the placebo in time: a false start half-way through the pre-period, with the same comparison
    half = n_pre // 2
    early, late = _Sums(pre[:, :half], inv_size), _Sums(pre[:, half:], inv_size)
    w, t = weights[:1], indicator[:1]
    (ea, eva), (la, lva) = early.of(t), late.of(t)
    (ec, evc), (lc, lvc) = early.of(w), late.of(w)
    trend_ratio, trend_var = _log_ratio(ea, la, ec, lc, eva, lva, evc, lvc)
    pre_trend = float(np.expm1(trend_ratio[0])) if half >= 3 else float("nan")
    assumptions = ASSUMPTIONS.format(buffer=buffer)
    if half >= 3 and abs(trend_ratio[0]) / np.sqrt(trend_var[0] + tau2) > q95:
        assumptions += (f" Warning: before the start the treated area already moved apart from the comparison "
                        f"({_percent(pre_trend)} in the pre-period's second half against its first), so parallel "
                        "trends are in doubt.")

    a, b, c, d = a_all[0], b_all[0], c_all[0], d_all[0]
    share = w[0].sum()
    if p <= ALPHA:
        verdict = (f"{'fell' if effect < 0 else 'rose'}: {_percent(effect)} against the comparison areas (95% "
                   f"interval {_percent(low)} to {_percent(high)}, p = {p:.3f})")
    else:
        verdict = (f"no clear change: {_percent(effect)} against the comparison areas, but the 95% interval "
                   f"({_percent(low)} to {_percent(high)}) includes no change (p = {p:.2f})")
    comparison_cells = np.flatnonzero(w[0])
    comparison = {counts.index[i]: float(w[0, i]) for i in comparison_cells}
    treated_monthly = values[positions].sum(axis=0)
    comparison_monthly = w[0] @ values
    scale_to_treated = a / c if c > 0 else np.nan
    monthly = pd.DataFrame({"month": [str(m) for m in months], "treated": treated_monthly,
                            "comparison": comparison_monthly * scale_to_treated, "after_start": post_mask})
    return InterventionEffect(
        effect=effect, low=low, high=high, p=p, verdict=verdict, method=METHOD, assumptions=assumptions,
        start=str(start_month), pre_months=n_pre, post_months=n_post, treated=treated, comparison=comparison,
        treated_pre=a / (size * n_pre), treated_post=b / (size * n_post), comparison_pre=c / (share * n_pre),
        comparison_post=d / (share * n_post), before_after=float((b / n_post) / (a / n_pre) - 1),
        pre_trend=pre_trend, placebos=n, placebo_effects=np.expm1(placebo_ratio), monthly=monthly,
        attrs={"settings": {**settings, "overdispersion": inv_size, "tau2": tau2, "q95": q95}})
