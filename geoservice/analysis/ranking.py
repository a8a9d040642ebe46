"""Where to act: places ranked by what best predicted the next month on the history's own held-back months.

A panel asks "where should we go next month?". Significance alone cannot answer that: a sparse layer has no
significant place, and a busy place is not always part of a cluster. ``where_to_act`` ranks every place by a
*predictor* of next month's count, and picks the predictor by a backtest on the history itself:

1. Candidates (``PREDICTORS``, simplest first), each made from the history alone: the count over all months; a
   count in which recent months weigh more (half-life three months); the last three months; the count blended
   with a Gaussian kernel surface of the counts at ~150 m or ~400 m (incidents nearby count a little); and the
   count shrunk towards its ~250 m surroundings by empirical Bayes (a place with few incidents borrows from
   around it, as far as the spread between places warrants).
2. Backtest: for each of the history's last months (up to ``FOLDS``), every candidate is built from the months
   before it and scored on it by PAI at the area shares a panel uses (0.5%, 1%, 2% and 5% of the cells). The
   best mean PAI wins, but a difference smaller than its standard error over those months is a tie, and a tie
   goes to the simplest candidate: on this little evidence a more elaborate predictor has to earn its place.
3. The winner, built from the whole history, gives the ``score``: the expected incidents at the place next month.

When the history is too short or sparse to backtest (one month, or fewer than ``MIN_HELD_BACK`` incidents in the
held-back months) it still ranks, by ``DEFAULT`` (the count, with incidents within ~150 m counting a little), and
says so in ``attrs["settings"]["note"]``. Equal scores are ordered by the incidents within ~400 m, then by cell.
Nothing is random.

Measured on the shared police.uk year (``benchmarks/forward.py``, ``docs/analysis.md``): the candidates differ
little there, and from the top past counts mostly in how ties and near-ties are broken.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import ndimage

from .. import cells as h3cells
from ..places import lnglat_to_bng
from ..results import settings as result_settings
from .concentration import dispersion, place_test, rate_interval
from .hotspots import HotspotInputError, _as_cells, _checked_values, gi_star

SHARES = (0.005, 0.01, 0.02, 0.05)
FOLDS = 6  # held-back months at most
MIN_HELD_BACK = 30  # incidents in the held-back months below which a backtest cannot tell predictors apart
HALF_LIFE = 3.0  # months, of the weighted count
RECENT = 3  # months, of the "recent" count
TIE_BREAK_M = 400.0


@dataclass(frozen=True)
class Predictor:
    """One candidate: which months count (``time``), and how nearby places count (``bandwidth_m``, ``blend``:
    the share given to the kernel surface, or ``shrink``: empirical Bayes towards it)."""

    name: str
    words: str
    time: str = "all"  # "all", "recent" or "weighted"
    bandwidth_m: float = 0.0
    blend: float = 0.0
    shrink: bool = False


PREDICTORS = (  # simplest first: a tie in the backtest goes to the earlier
    Predictor("counts", "incidents here over the whole history"),
    Predictor("weighted", f"incidents here, recent months counting more (half-life {HALF_LIFE:g} months)",
              time="weighted"),
    Predictor("recent", f"incidents here in the last {RECENT} months", time="recent"),
    Predictor("counts+150m", "incidents here, with those within ~150 m counting a little", bandwidth_m=150, blend=0.3),
    Predictor("counts+400m", "incidents here, with those within ~400 m counting a little", bandwidth_m=400, blend=0.3),
    Predictor("counts~250m", "incidents here, shrunk towards the ~250 m surroundings as far as the data warrant",
              bandwidth_m=250, shrink=True),
)
BY_NAME = {p.name: p for p in PREDICTORS}
DEFAULT = BY_NAME["counts+150m"]


# the kernel surface ----------------------------------------------------------------------------------------------
class Surface:
    """Gaussian kernel smoothing of per-cell values at the cell centres (British National Grid metres), on a grid
    of a quarter of the bandwidth (``scipy.ndimage``; the cost grows with the area, not the number of pairs).
    ``mean`` is the kernel-weighted mean over the study cells around each cell, itself included, so a cell on the
    study area's edge is not diluted by the empty world beyond it."""

    def __init__(self, cells: pd.Index):
        centres = h3cells.centres(cells)
        x, y = lnglat_to_bng(centres[:, 1], centres[:, 0])
        self.xy = np.column_stack([np.asarray(x, dtype=float), np.asarray(y, dtype=float)])
        self._grids: dict[float, tuple[np.ndarray, tuple[int, int], np.ndarray]] = {}

    def _smooth(self, values: np.ndarray, ij: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        grid = np.zeros(shape)
        np.add.at(grid, (ij[:, 0], ij[:, 1]), values)
        return ndimage.gaussian_filter(grid, sigma=4.0, mode="constant", truncate=4.0)[ij[:, 0], ij[:, 1]]

    def mean(self, values: np.ndarray, bandwidth: float) -> np.ndarray:
        """The kernel-weighted mean of ``values`` around each cell (Gaussian, standard deviation ``bandwidth``)."""
        if bandwidth not in self._grids:
            step = bandwidth / 4  # the filter's sigma is 4 grid steps
            origin = self.xy.min(axis=0) - 4 * bandwidth
            ij = np.floor((self.xy - origin) / step).astype(np.int64)
            shape = tuple(int(v) for v in ij.max(axis=0) + 17)  # the kernel's reach (4 sigma) beyond the last cell
            self._grids[bandwidth] = (ij, shape, self._smooth(np.ones(len(self.xy)), ij, shape))
        ij, shape, weight = self._grids[bandwidth]
        return self._smooth(np.asarray(values, dtype=float), ij, shape) / weight


# predictors ------------------------------------------------------------------------------------------------------
def monthly(values: np.ndarray, time: str) -> np.ndarray:
    """Each cell's incidents per month over ``values`` (cells x months, oldest first), as ``time`` weighs them."""
    months = values.shape[1]
    if time == "recent":
        return values[:, -RECENT:].mean(axis=1)
    if time == "weighted":
        weights = 0.5 ** (np.arange(months)[::-1] / HALF_LIFE)
        return values @ weights / weights.sum()
    return values.mean(axis=1)


def predict(predictor: Predictor, values: np.ndarray, surface: Surface) -> np.ndarray:
    """The predictor's expected incidents per cell next month, from ``values`` (cells x months)."""
    rate = monthly(values, predictor.time)
    if not predictor.bandwidth_m:
        return rate
    around = surface.mean(rate, predictor.bandwidth_m)
    if not predictor.shrink:
        return (1 - predictor.blend) * rate + predictor.blend * around
    # gamma-Poisson empirical Bayes on the history's total: each place's rate has a gamma prior with mean ``around``
    # per month and shape 1 / dispersion (the negative binomial's, by moments), so the posterior mean is
    # (count + shape) / (months + shape / around); a place with many incidents keeps its own rate
    months = values.shape[1]
    count = rate * months  # the months weighed as ``time`` says (with "all", the count itself)
    a = dispersion(count, around * months)
    if a <= 0:
        return around
    strength = 1.0 / a
    prior_mean = np.maximum(around, 1e-12)
    return (count + strength) / (months + strength / prior_mean)


def order(score: np.ndarray, tie_break: np.ndarray) -> np.ndarray:
    """Positions best first: by score, then by ``tie_break``, then by position (deterministic)."""
    return np.lexsort((np.arange(score.size), -tie_break, -score))


def cells_at(share: float, n: int) -> int:
    """How many of ``n`` equal cells make an area share (at least one)."""
    return max(1, int(round(share * n)))


def captured(ranked_actual: np.ndarray, shares=SHARES) -> np.ndarray:
    """Incidents in the top cells at each share, given the actual counts in ranked order."""
    running = np.cumsum(ranked_actual)
    return np.array([running[cells_at(s, ranked_actual.size) - 1] for s in shares])


# the backtest ----------------------------------------------------------------------------------------------------
def backtest(values: np.ndarray, surface: Surface, predictors=PREDICTORS, folds: int = FOLDS) -> pd.DataFrame:
    """Each predictor built from the months before each of the last ``folds`` months and scored on that month.

    Returns a table with one row per predictor (in the given order): ``pai_<share>`` (PAI at that area share,
    pooled over the held-back months: incidents caught / incidents / area share), ``pai`` (the mean over the
    shares), ``se`` (the standard error of its difference from the best predictor's ``pai``, from the months'
    paired differences) and ``held_back`` (incidents in the held-back months). ``attrs["months"]`` lists the
    held-back months (positions) that had incidents."""
    months = values.shape[1]
    n = values.shape[0]
    share_of_area = np.array([cells_at(s, n) / n for s in SHARES])
    per_month, events, used = [], [], []
    for t in range(max(1, months - folds), months):
        actual = values[:, t]
        if actual.sum() == 0:
            continue
        tie_break = surface.mean(values[:, :t].sum(axis=1), TIE_BREAK_M)
        hits = [captured(actual[order(predict(p, values[:, :t], surface), tie_break)]) for p in predictors]
        per_month.append(np.array(hits) / actual.sum() / share_of_area)  # predictors x shares
        events.append(actual.sum())
        used.append(t)
    names = [p.name for p in predictors]
    columns = [f"pai_{s:g}" for s in SHARES]
    if not used:
        table = pd.DataFrame(np.nan, index=names, columns=columns + ["pai", "se"])
        table["held_back"] = 0.0
        table.attrs["months"] = []
        return table
    pai = np.stack(per_month)  # months x predictors x shares
    weight = np.array(events) / np.sum(events)
    table = pd.DataFrame(np.tensordot(weight, pai, axes=1), index=names, columns=columns)
    table["pai"] = table[columns].mean(axis=1)
    monthly_mean = pai.mean(axis=2)  # months x predictors
    gap = monthly_mean[:, [int(np.argmax(table["pai"].to_numpy()))]] - monthly_mean
    table["se"] = gap.std(axis=0, ddof=1) / np.sqrt(len(used)) if len(used) > 1 else np.inf
    table["held_back"] = float(np.sum(events))
    table.attrs["months"] = used
    return table


def choose(table: pd.DataFrame) -> str:
    """The simplest predictor (the first in the table's order) whose backtest PAI is within one standard error of
    the best: a difference smaller than the months' own scatter is a tie, and a tie goes to the simplest."""
    best = np.nanmax(table["pai"].to_numpy())
    tied = (best - table["pai"] <= table["se"].fillna(0)) | (table["pai"] >= best)
    return str(table.index[tied.to_numpy()][0])


# the ranking -----------------------------------------------------------------------------------------------------
def where_to_act(history: pd.DataFrame, *, alpha: float = 0.05) -> pd.DataFrame:
    """Places ranked by what best predicts next month, with counts, an interval and the statistical flags.

    Parameters
    ----------
    history
        Counts indexed by cell (int64 or hex; every study cell, zeros included), one column per consecutive
        month, oldest first.
    alpha
        False discovery rate of the ``hot`` (place test) and ``cluster`` (Gi*) flags.

    Returns
    -------
    DataFrame indexed as ``history`` was, every cell, best first, with ``score`` (expected incidents next month
    by the chosen predictor), ``rank`` (1 = best), ``count`` (incidents in the history), ``recent`` (in the last
    month), ``last_3_months``, ``per_month`` (the place's own mean) and ``low``/``high`` (exact 95% Poisson
    interval of its mean per month), ``p``/``q``/``hot`` (the place test on the history's total: busier than the
    average place?) and ``cluster`` (Gi* hot at k = 1: part of a cluster?). ``attrs["settings"]`` says which
    predictor won, every candidate's backtest PAI and the input's digest; ``note`` says in plain words when the
    history was too short or sparse to backtest.
    """
    if not isinstance(history, pd.DataFrame) or history.empty or history.shape[1] < 1:
        raise HotspotInputError("history must be a DataFrame of cells (rows) x months (columns), zeros included")
    cells = _as_cells(history.index)
    values = _checked_values(history.to_numpy(dtype=float))
    months = values.shape[1]
    total = values.sum(axis=1)
    surface = Surface(cells)
    table, note = None, None
    if total.sum() == 0:
        note = "No incidents in the history: nothing to rank (every place scores 0)."
    elif months < 2:
        note = (f"Only one month of history: too short to test which predictor works here; ranked by "
                f"{DEFAULT.words}.")
    else:
        table = backtest(values, surface)
        if table["held_back"].iloc[0] < MIN_HELD_BACK:
            note = (f"Too few incidents to test which predictor works here ({table['held_back'].iloc[0]:.0f} in "
                    f"the held-back months, fewer than {MIN_HELD_BACK}); ranked by {DEFAULT.words}.")
    chosen = BY_NAME[choose(table)] if note is None else DEFAULT
    score = predict(chosen, values, surface)
    ranked = order(score, surface.mean(total, TIE_BREAK_M))
    result = _columns(pd.Series(total, index=cells), values, score, alpha).iloc[ranked]
    result.insert(1, "rank", np.arange(1, len(cells) + 1))
    result.attrs["settings"] = result_settings(
        method="where to act: the predictor that best forecast the history's held-back months",
        inputs=(cells.to_numpy(), values), predictor=chosen.name, predictor_words=chosen.words,
        predictor_settings=asdict(chosen), note=note, months=months, cells=len(cells),
        backtest=None if table is None else {
            "held_back_months": [str(history.columns[t]) for t in table.attrs["months"]],
            "held_back_incidents": float(table["held_back"].iloc[0]),
            "pai": table.drop(columns="held_back").round(4).to_dict(orient="index")},
        shares=list(SHARES), alpha=alpha)
    result.index = history.index[ranked]  # as the caller wrote the cells (hex in, hex out)
    return result


def _columns(total: pd.Series, values: np.ndarray, score: np.ndarray, alpha: float) -> pd.DataFrame:
    """The table beside the score: counts, the place's own rate and interval, the place test and Gi*."""
    months = values.shape[1]
    low, high = rate_interval(total.to_numpy())
    frame = pd.DataFrame({
        "score": score, "count": total.to_numpy(), "recent": values[:, -1],
        "last_3_months": values[:, -RECENT:].sum(axis=1), "per_month": total.to_numpy() / months,
        "low": low / months, "high": high / months}, index=total.index)
    if total.sum() > 0:
        place = place_test(total, alpha=alpha)
        frame["p"], frame["q"], frame["hot"] = place["p"].to_numpy(), place["q"].to_numpy(), place["hot"].to_numpy()
        frame["cluster"] = gi_star(total, k=1, alpha=alpha)["hot"].to_numpy()
    else:
        frame["p"], frame["q"], frame["hot"], frame["cluster"] = 1.0, 1.0, False, False
    return frame
