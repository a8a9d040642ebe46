"""Getis-Ord Gi* hot spots on H3 cells, with inference that holds on sparse counts.

``gi_star`` returns, per cell, the analytic Gi* z-score (binary weights, the cell itself included: the same
number as esda's ``G_Local(..., transform="B", star=True).Zs`` and ArcGIS Pro's GiZScore) and a two-sided
conditional-permutation p-value: the cell's own value held fixed, its neighbours drawn without replacement from
the other cells' values. For whole-number counts that p-value is computed **exactly**, from the full permutation
distribution of the neighbourhood sum (a generating-function count over the distinct values; see
``_exact_p``), so it has no Monte Carlo error and no floor: with 999 random permutations the smallest
p-value is 0.001, which Benjamini-Hochberg over hundreds of cells can never pass, so a small real cluster would
go unfound. Ties count as extreme on both sides, so p-values are conservative on discrete counts, never
anti-conservative. Values that are not whole numbers (weighted combinations of layers) fall back to
``permutations`` seeded random permutations.

Caveats. Cells come from filling the study-area polygons at the cells' centres, so a cell on a borough edge
belongs to one borough only. esda's ``p_sim`` is a folded one-sided pseudo p-value that counts ties against the
cell; on sparse counts it flags most all-zero neighbourhoods (measured on Greater London's res-9 cells with pure
noise at mean 0.05 per cell: 78% of cells at p_sim < 0.05). Use it as an oracle for ``z`` only.
"""

from __future__ import annotations

import copy
import hashlib
import math
import threading
from collections import OrderedDict

import numpy as np
import pandas as pd

from ..cells import CellError, as_index, cells_to_parents, disks, like, resolution
from ..errors import GeoserviceError
from ..results import settings as result_settings

MAX_K = 3


class HotspotInputError(GeoserviceError, ValueError):
    """The counts given to a hot-spot analysis cannot be used as they are."""


# neighbourhoods --------------------------------------------------------------------------------------------------
def neighbourhoods(cells: pd.Index, k: int = 1, *, within: pd.Index | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The k-ring of each cell (itself included) within ``within`` (default: ``cells`` themselves), as flat positions
    in ``within`` and row offsets (CSR). The neighbours of a cell keep H3's own disk order, whatever ``within`` is,
    so sums over them are the same to the last bit on a partition as on the whole area."""
    if not 1 <= k <= MAX_K:
        raise HotspotInputError(f"k must be 1-{MAX_K}, got {k}")
    within = cells if within is None else within
    members = disks(cells, k)
    sizes = np.fromiter((len(m) for m in members), dtype=np.int64, count=len(members))
    flat = np.fromiter((c for m in members for c in m), dtype=np.int64, count=int(sizes.sum()))
    positions = within.get_indexer(flat)
    inside = positions >= 0
    row = np.repeat(np.arange(len(cells)), sizes)[inside]
    positions = positions[inside]
    offsets = np.zeros(len(cells) + 1, dtype=np.int64)
    np.add.at(offsets, row + 1, 1)
    return positions, np.cumsum(offsets)


def _csr_sums(structure: tuple[np.ndarray, np.ndarray], columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per cell, the sum of each column over its neighbourhood, and the neighbourhood's size."""
    positions, offsets = structure
    return np.add.reduceat(columns[positions], offsets[:-1], axis=0), np.diff(offsets)


class PartitionedNeighbourhoods:
    """k-ring sums over the study cells, worked out partition by partition on an engine.

    The cells are cut by their H3 parent at ``partition_res`` (coarser than the cells); each partition carries its
    own cells and a halo of the study cells around them, enough that every own cell's k-ring lies within it. The
    sums of the own cells are exactly those of the whole area, so the cut (and the engine) changes nothing.
    ``partition_res=None`` makes one partition of the whole area (today's single-process work).
    """

    def __init__(self, cells: pd.Index, k: int = 1, *, engine=None, partition_res: int | None = None):
        if not 1 <= k <= MAX_K:
            raise HotspotInputError(f"k must be 1-{MAX_K}, got {k}")
        from ..engine import LocalEngine

        self.cells, self.k = cells, k
        self.engine = LocalEngine() if engine is None else engine
        self.parts = [(own, np.concatenate([own, halo])) for own, halo in _partitions(cells, k, partition_res)]
        self._structures = None  # in this process, each partition's neighbourhoods, found once and reused

    def sums(self, columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per cell (in the order of ``cells``), each column's sum over its neighbourhood, and the sizes."""
        if self.engine.name == "local":
            if self._structures is None:
                self._structures = [_partition_neighbourhoods(self.cells.to_numpy()[members], own.size, self.k)
                                    for own, members in self.parts]
            answers = [_csr_sums(structure, columns[members])
                       for structure, (_, members) in zip(self._structures, self.parts)]
        else:
            work = [(self.cells.to_numpy()[members], own.size, columns[members]) for own, members in self.parts]
            answers = self.engine.map_partitions(_partition_neighbourhood_sums, work, self.k)
        sums = np.empty((len(self.cells),) + columns.shape[1:], dtype=columns.dtype)
        sizes = np.empty(len(self.cells), dtype=np.int64)
        for (own, _), (part_sums, part_sizes) in zip(self.parts, answers):
            sums[own], sizes[own] = part_sums, part_sizes
        return sums, sizes


def _partition_neighbourhood_sums(partition, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Neighbourhood sums of a partition's own cells (its first ``own`` rows), its halo supplying their outer
    neighbours. Pure, so any engine may run it anywhere."""
    cell_ids, own, columns = partition
    return _csr_sums(_partition_neighbourhoods(cell_ids, own, k), columns)


def _partition_neighbourhoods(cell_ids: np.ndarray, own: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The neighbourhoods (CSR) of the first ``own`` of ``cell_ids`` within all of them."""
    within = pd.Index(cell_ids)
    return neighbourhoods(within[:own], k, within=within)


def _partitions(cells: pd.Index, k: int, partition_res: int | None) -> list[tuple[np.ndarray, np.ndarray]]:
    """(own positions, halo positions) of each partition of ``cells`` by parent at ``partition_res``, in parent
    order. The halo is every study cell whose parent lies within ``r`` parent rings, ``r`` chosen so that k rings of
    cells never reach further (a parent's children can stray a little past its edge, hence the extra ring)."""
    everything = np.arange(len(cells))
    if partition_res is None:
        return [(everything, everything[:0])]
    res = resolution(cells[0])
    if not 0 <= partition_res < res:
        raise HotspotInputError(f"partition_res must be coarser than the cells' resolution {res}, got {partition_res}")
    parents = cells_to_parents(cells.to_numpy(), partition_res).astype(np.int64)
    order = np.argsort(parents, kind="stable")
    unique, starts = np.unique(parents[order], return_index=True)
    members = dict(zip(unique.tolist(), np.split(order, starts[1:])))
    if k == 0:  # a cell-by-cell test needs no halo
        return [(np.sort(members[parent]), everything[:0]) for parent in unique.tolist()]
    rings = 1 + math.ceil(k / 7 ** ((res - partition_res) / 2))
    parts = []
    for parent, around in zip(unique.tolist(), disks(unique, rings)):
        own = np.sort(members[parent])
        halo = [members[p] for p in around if p != parent and p in members]
        parts.append((own, np.sort(np.concatenate(halo)) if halo else everything[:0]))
    return parts


def default_cut(cells: pd.Index, engine, partition_res: int | None) -> int | None:
    """The parent resolution to cut by: as asked; else none (one partition) in this process, and four resolutions
    coarser than the cells on a cluster (about a thousand to two thousand study cells per partition in London: two
    coarser gave ~45 cells each, carrying halos 17 times their size, so scheduling outweighed the work)."""
    if partition_res is None and engine is not None and engine.name != "local":
        return max(0, resolution(cells[0]) - 4)
    return partition_res


class KnownSums:
    """One column's neighbourhood sums and sizes, worked out already by a pass over many columns at once (emerging
    hot spots sums every time bin in one pass over the partitions, not one pass per bin)."""

    def __init__(self, sums: np.ndarray, sizes: np.ndarray):
        self.sums, self.sizes = sums, sizes


def _neighbourhood_sums(structure, columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sums over a whole-area CSR structure (``neighbourhoods``) or a ``PartitionedNeighbourhoods``; a
    ``KnownSums`` gives the sums it holds, which must be those of ``columns`` (its single column)."""
    if isinstance(structure, KnownSums):
        if columns.shape[1] != 1 or structure.sums.shape != columns.shape[:1]:
            raise HotspotInputError("known neighbourhood sums are for one column of the same cells")
        return structure.sums[:, None], structure.sizes
    if isinstance(structure, PartitionedNeighbourhoods):
        return structure.sums(columns)
    return _csr_sums(structure, columns)


# the exact conditional null -----------------------------------------------------------------------------------
def _subset_sum_counts(values: np.ndarray, counts: np.ndarray, max_draws: int, max_sum: int) -> np.ndarray:
    """W[t, s]: how many t-element sub-multisets of the population have sum s (float64).

    Row t is zero past the largest sum of t of the values taken so far (``reach``), so each shifted add stops there
    (adding zeros changes nothing, to the bit). Taken in ascending order, as ``np.unique`` gives them, the rows stay
    short for most values: on pan-London counts the table took 13 s instead of 0.5 s when every add ran to the end."""
    table = np.zeros((max_draws + 1, max_sum + 1))
    table[0, 0] = 1.0
    reach = [0] * (max_draws + 1)  # row t is zero past column reach[t]
    for value, count in zip(values.tolist(), counts.tolist()):
        for t in range(max_draws, 0, -1):  # descending, so rows t-j still hold the previous values
            for j in range(1, min(count, t) + 1):
                shift = j * value
                if shift > max_sum:
                    break
                width = min(reach[t - j] + 1, max_sum + 1 - shift)
                ways = math.comb(count, j)
                if ways == 1:
                    table[t, shift:shift + width] += table[t - j, :width]
                else:
                    table[t, shift:shift + width] += ways * table[t - j, :width]
        reach = [min(max_sum, max(reach[t - j] + j * value for j in range(min(count, t) + 1)))
                 for t in range(max_draws + 1)]
    return table


def _exact_p(y: np.ndarray, neighbour_sum: np.ndarray, draws: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Upper and lower tail probabilities of each cell's neighbour sum under the exact conditional null: the sum
    of its ``draws`` neighbours drawn without replacement from the population with its own value u left out.

    F[t, s], the distribution of the sum of t draws from the whole population of n, is counted once. Leaving one
    u out gives G with n F[t, s] = (n - t) G[t, s] + t G[t-1, s-u] (t draws hold that element with chance t/n),
    and so the same for the tails of F and G, which are sums of those. A cell's tails at (t, s) therefore follow
    from F's tails at (t, s), (t-1, s-u), ..., (0, s-tu), in t steps over all cells at once: no cell needs a
    distribution of its own (one per distinct own value took 2 minutes on 10 M London rows at res 9). Rounding can
    leave a far tail a hair below zero: it is held at zero.
    """
    y_int = y.astype(np.int64)
    n = y.size
    s = neighbour_sum.astype(np.int64)
    t = draws.astype(np.int64)
    max_draws = int(t.max())
    values, counts = np.unique(y_int, return_counts=True)
    max_sum = int(np.sort(y_int)[::-1][:max_draws].sum())
    totals = np.array([math.comb(n, r) for r in range(max_draws + 1)], dtype=float)
    full = _subset_sum_counts(values, counts, max_draws, max_sum)
    full /= totals[:, None]  # in place, and the tails summed straight into place: at k=3 each table is ~0.4 GB
    # F's tails by column x + 1 for x = -1..max_sum+1, so sums past either end need no special case
    full_upper = np.zeros((max_draws + 1, max_sum + 3))  # P(S >= x)
    np.cumsum(full[:, ::-1], axis=1, out=full_upper[:, -2:0:-1])
    full_upper[:, 0] = full_upper[:, 1]
    full_lower = np.zeros((max_draws + 1, max_sum + 3))  # P(S <= x)
    np.cumsum(full, axis=1, out=full_lower[:, 1:-1])
    full_lower[:, -1] = full_lower[:, -2]
    at = s - t * y_int  # the sum asked of row r is s - (t - r) u
    upper = (at <= 0).astype(float)
    lower = (at >= 0).astype(float)
    for r in range(1, max_draws + 1):
        at += y_int
        step = r <= t
        column = np.clip(at[step], -1, max_sum + 1) + 1
        upper[step] = np.maximum((n * full_upper[r, column] - r * upper[step]) / (n - r), 0.0)
        lower[step] = np.maximum((n * full_lower[r, column] - r * lower[step]) / (n - r), 0.0)
    return np.minimum(upper, 1.0), np.minimum(lower, 1.0)


def _permutation_p(y: np.ndarray, neighbour_sum: np.ndarray, draws: np.ndarray, permutations: int,
                   seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Tail p-values from random conditional permutations (for values that are not whole numbers)."""
    rng = np.random.default_rng(seed)
    n = y.size
    upper = np.ones(n)
    lower = np.ones(n)
    for t in np.unique(draws).tolist():
        cells = np.flatnonzero(draws == t)
        if t == 0:
            continue
        for start in range(0, cells.size, 2000):
            block = cells[start:start + 2000]
            picks = rng.integers(0, n - 1, size=(block.size, permutations, t))
            # without replacement: redraw the (rare) draws that picked one cell twice
            while t > 1:
                ordered = np.sort(picks, axis=2)
                clash = (np.diff(ordered, axis=2) == 0).any(axis=2)
                if not clash.any():
                    break
                picks[clash] = rng.integers(0, n - 1, size=(int(clash.sum()), t))
            picks += picks >= block[:, None, None]  # skip the cell itself
            sums = y[picks].sum(axis=2)
            obs = neighbour_sum[block][:, None]
            upper[block] = ((sums >= obs).sum(axis=1) + 1) / (permutations + 1)
            lower[block] = ((sums <= obs).sum(axis=1) + 1) / (permutations + 1)
    return upper, lower


def benjamini_hochberg(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (q-values)."""
    p = np.asarray(p, dtype=float)
    n = p.size
    order = np.argsort(p)
    ranked = p[order] * n / np.arange(1, n + 1)
    q = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty(n)
    out[order] = np.minimum(q, 1.0)
    return out


# the statistic ----------------------------------------------------------------------------------------------
def _checked_values(y: np.ndarray) -> np.ndarray:
    if not np.isfinite(y).all() or (y < 0).any():
        raise HotspotInputError("counts must be finite and not negative")
    return y


def gi_star(counts: pd.Series, *, k: int = 1, permutations: int = 999, seed: int = 0,
            alpha: float = 0.05, expected: pd.Series | None = None, engine=None,
            partition_res: int | None = None) -> pd.DataFrame:
    """Getis-Ord Gi* hot and cold spots over H3 cells.

    Parameters
    ----------
    counts
        Values per H3 cell (int64 or hex index), for **every** cell of the study area, zeros included (build it
        with ``polygons_to_cells``; cells with no events must be there, or the null is wrong).
    k
        Neighbourhood: the k-ring (1-3) of each cell, within the study area, the cell itself included.
    permutations
        Random permutations used only when the values are not all whole numbers (whole-number counts get the
        exact permutation distribution).
    seed
        Seed of those permutations.
    alpha
        False discovery rate for the ``hot`` and ``cold`` flags.
    expected
        Expected counts per cell (``analysis/expected.py``): ask whether a cell's neighbours hold more than is
        usual *there*, so a broad gradient is not reported as clusters. ``z`` is then Gi* of the Pearson
        residuals, and ``p`` the exact tail of the neighbours' count against their expected total (see
        ``_gi_star_expected``); ``expected`` is added.
    engine, partition_res
        Where the neighbourhood sums are worked out (``geoservice.engine``; default: this process) and the H3
        resolution of the parents the cells are cut by (default: one partition with the local engine, two
        resolutions coarser than the cells on any other). The study-wide moments, the exact null and the false
        discovery rate are computed once over all cells, so the result is identical whatever the engine or cut.

    Returns
    -------
    DataFrame indexed by cell with ``value``; ``neighbourhood_sum`` (the cell and its neighbours);
    ``neighbours`` (how many, the cell excluded); ``z`` (analytic Gi* z-score); ``p`` (two-sided conditional
    permutation p-value); ``q`` (Benjamini-Hochberg adjusted); ``bin`` (-3..3 as ArcGIS Gi_Bin: 99/95/90%
    confidence on ``q``, signed by ``z``); ``hot`` and ``cold`` (``q <= alpha``); ``pulled_in`` (hot cells whose
    own value is no more than the study area's mean: the cluster's neighbours, not a place of its own).
    ``.attrs["settings"]`` records k, the method, permutations, seed, alpha, the number of cells and a hash of the
    input.
    """
    if not isinstance(counts, pd.Series):
        raise HotspotInputError(f"counts must be a pandas Series indexed by H3 cell, got {type(counts).__name__}")
    if counts.empty:
        raise HotspotInputError("counts is empty: give every cell of the study area, zeros included")
    if not 0 < alpha < 1:
        raise HotspotInputError(f"alpha must be between 0 and 1, got {alpha}")
    if permutations < 1:
        raise HotspotInputError(f"permutations must be at least 1, got {permutations}")
    cells = _as_cells(counts.index)
    y = _checked_values(counts.to_numpy(dtype=float))
    # remembered in this process only (an engine or a cut asked for is always run: its answer is what is tested)
    question = (_RECENT.key(cells.to_numpy(), y, k, permutations, seed, alpha)
                if expected is None and engine is None and partition_res is None else None)
    result = _RECENT.get(question)
    if result is None:
        structure = PartitionedNeighbourhoods(cells, k, engine=engine, partition_res=default_cut(cells, engine,
                                                                                               partition_res))
        if expected is None:
            result = _gi_star_core(y, cells, structure, permutations, seed, alpha)
        else:
            from .concentration import expected_counts

            result = _gi_star_expected(y, expected_counts(counts, expected), cells, structure, alpha)
        result.attrs["settings"]["k"] = k
        _RECENT.put(question, result)
    result.index = like(result.index, counts.index)  # hex in, hex out
    return result


class _RecentResults:
    """The last few Gi* results by their exact question (cells, values, k, permutations, seed, alpha): one product
    asks the same question more than once (a map's hot spots and its where-to-act clusters), and the answer does
    not depend on the engine. Copies go in and out, so no caller sees another's changes."""

    def __init__(self, size: int = 16):
        self.size, self._items, self._lock = size, OrderedDict(), threading.Lock()

    @staticmethod
    def key(cells: np.ndarray, y: np.ndarray, *settings) -> tuple:
        digest = hashlib.blake2b(np.ascontiguousarray(cells, dtype=np.int64).tobytes(), digest_size=16)
        digest.update(np.ascontiguousarray(y, dtype=float).tobytes())
        return (digest.hexdigest(), len(y), *settings)

    def get(self, key) -> pd.DataFrame | None:
        with self._lock:
            if key is None or key not in self._items:
                return None
            self._items.move_to_end(key)
            return _copied(self._items[key])

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def put(self, key, result: pd.DataFrame) -> None:
        if key is None:
            return
        with self._lock:
            self._items[key] = _copied(result)
            while len(self._items) > self.size:
                self._items.popitem(last=False)


def _copied(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy(deep=True)
    out.attrs = copy.deepcopy(frame.attrs)
    return out


_RECENT = _RecentResults()


def forget_remembered_answers() -> None:
    """Forget the Gi* answers this process remembers (benchmarks time products cold)."""
    _RECENT.clear()


def _as_cells(index: pd.Index) -> pd.Index:
    """The index as int64 H3 cells (from hex strings too), checked."""
    try:
        return as_index(index)
    except CellError as exc:
        raise HotspotInputError(f"counts must be indexed by H3 cells of one resolution, each once: {exc}") from None


def _gi_star_expected(y: np.ndarray, mu: np.ndarray, cells: pd.Index, structure, alpha: float) -> pd.DataFrame:
    """Gi* against an expected surface. The conditional question of ``_gi_star_core`` (the cell's own count held
    aside: are its neighbours high?), asked of what is expected there: the neighbours' count is compared with the
    distribution of a sum of independent negative binomials with their expected counts and the place test's
    dispersion (matched by mean and variance; exactly Poisson when there is no overdispersion). The tails are exact
    for that model, with no permutation floor, so significance can pass a false-discovery correction."""
    from .concentration import dispersion, pearson_residuals, tails

    a = dispersion(y, mu)
    residuals = pearson_residuals(y, mu)
    spread = mu * (1 + a * mu)
    sums, sizes = _neighbourhood_sums(structure, np.column_stack([y, mu, spread, residuals]))
    neighbourhood_sum = sums[:, 0]
    draws = sizes - 1
    neighbour_sum = neighbourhood_sum - y
    expected_sum = sums[:, 1] - mu
    variance = sums[:, 2] - spread
    upper, lower = tails(neighbour_sum, expected_sum, variance)
    p = np.minimum(1.0, 2 * np.minimum(upper, lower))
    p[draws == 0] = 1.0
    z = _gi_z(residuals, sums[:, 3], sizes)
    q = benjamini_hochberg(p)
    bins = _bins(q, z, neighbourhood_sum)
    hot = (q <= alpha) & (bins > 0)
    result = pd.DataFrame({
        "value": y, "neighbourhood_sum": neighbourhood_sum, "neighbours": draws, "z": z, "p": p, "q": q,
        "bin": bins, "hot": hot, "cold": (q <= alpha) & (bins < 0), "pulled_in": hot & (y <= mu), "expected": mu,
    }, index=cells)
    result.attrs["settings"] = result_settings(
        method="exact tails of the neighbours' count against their expected total (negative binomial)",
        seed=None, inputs=(cells.to_numpy(), y, mu), expected="the expected surface given", dispersion=a,
        statistic="Getis-Ord Gi* against an expected surface (binary weights, self included)", k=None,
        permutations=None, alpha=alpha, cells=y.size, res=resolution(cells[0]))
    return result


def _gi_z(values: np.ndarray, neighbourhood_sum: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """The analytic Gi* z-score (binary weights, self included; esda's Zs, ArcGIS's GiZScore), from each cell's
    neighbourhood sum and size and the study-wide moments of ``values`` (all cells, computed once)."""
    n, mean, sd = values.size, values.mean(), values.std()  # population standard deviation, as Getis-Ord
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (neighbourhood_sum - sizes * mean) / (sd * np.sqrt(sizes * (n - sizes) / (n - 1)))
    return np.where(np.isfinite(z), z, 0.0)


def _bins(q: np.ndarray, z: np.ndarray, neighbourhood_sum: np.ndarray) -> np.ndarray:
    """Gi_Bin: 3/2/1 for 99/95/90% confidence on ``q``, signed by ``z``; an all-zero neighbourhood is never hot."""
    level = np.select([q <= 0.01, q <= 0.05, q <= 0.10], [3, 2, 1], 0)
    bins = (level * np.sign(z)).astype(int)
    bins[(bins > 0) & (neighbourhood_sum == 0)] = 0
    return bins


def _gi_star_core(y: np.ndarray, cells: pd.Index, structure, permutations: int, seed: int,
                  alpha: float) -> pd.DataFrame:
    """Gi* over checked values with precomputed neighbourhoods (``neighbourhoods``, shared across time bins, or
    ``PartitionedNeighbourhoods``): the sums come per cell; the moments, the null and the FDR over all cells."""
    sums, sizes = _neighbourhood_sums(structure, y[:, None])
    neighbourhood_sum = sums[:, 0]
    n = y.size
    mean = y.mean()
    z = _gi_z(y, neighbourhood_sum, sizes)

    draws = sizes - 1
    neighbour_sum = neighbourhood_sum - y
    whole = bool(np.all(y == np.round(y)))
    if whole:
        upper, lower = _exact_p(y, neighbour_sum, draws)
        method = "exact conditional permutation distribution"
    else:
        upper, lower = _permutation_p(y, neighbour_sum, draws, permutations, seed)
        method = f"{permutations} conditional permutations"
    p = np.minimum(1.0, 2 * np.minimum(upper, lower))
    p[draws == 0] = 1.0  # an isolated cell has no neighbours to test
    q = benjamini_hochberg(p)
    bins = _bins(q, z, neighbourhood_sum)  # signed by z, as ArcGIS's Gi_Bin: a busy cell is never "cold"
    hot = (q <= alpha) & (bins > 0)
    result = pd.DataFrame({
        "value": y, "neighbourhood_sum": neighbourhood_sum, "neighbours": draws, "z": z, "p": p, "q": q,
        "bin": bins, "hot": hot, "cold": (q <= alpha) & (bins < 0),
        # at k >= 2 a cluster pulls in cells with nothing of their own: say which hot cells those are
        "pulled_in": hot & (y <= mean),
    }, index=cells)
    result.attrs["settings"] = result_settings(
        method=method, seed=None if whole else seed, inputs=(cells.to_numpy(), y),
        statistic="Getis-Ord Gi* (binary weights, self included)", k=None,
        permutations=None if whole else permutations, alpha=alpha, cells=n, res=resolution(cells[0]))
    return result


# the ranking the products use -------------------------------------------------------------------------------
def where_to_act(history: pd.DataFrame, **options) -> pd.DataFrame:
    """Places ranked by what best predicts next month (``analysis/ranking.py``, imported when first called so the
    modules it builds on can import this one)."""
    from .ranking import where_to_act as rank

    return rank(history, **options)
