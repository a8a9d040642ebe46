"""Forward evaluation: did a hot-spot map built on one period predict where events fell in the next?

Scores, for the cells a map flags:

- **hit rate**: the share of next-period events that fell in the flagged cells;
- **area share**: the flagged cells' share of the study area (true H3 cell areas, which vary a little);
- **PAI**, Predictive Accuracy Index (Chainey, Tompson and Uhlig 2008): hit rate / area share. 1 is what
  flagging cells at random would do; higher is better;
- **PEI**, Predictive Efficiency Index (Hunt 2016): PAI over the best PAI any map of the same number of cells
  could have had on the next period (its busiest cells), from 0 to 1.

``forward_evaluation`` rolls this over a cube of counts: the map built from the ``window`` bins before bin t
(summed) is scored on bin t, for every t, so a panel can see whether last month's map predicted this month.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..cells import area_km2
from .hotspots import HotspotInputError, _as_cells, _checked_values, _gi_star_core, neighbourhoods


def prediction_scores(flagged, actual: pd.Series, areas: np.ndarray | None = None) -> dict:
    """Hit rate, area share, PAI and PEI of the ``flagged`` cells against ``actual`` counts (every study cell)."""
    cells = _as_cells(actual.index)
    counts = _checked_values(actual.to_numpy(dtype=float))
    areas = area_km2(cells) if areas is None else np.asarray(areas, dtype=float)
    chosen = cells.isin(pd.Index(np.asarray(list(flagged), dtype=np.int64)))
    total, total_area = counts.sum(), areas.sum()
    hits = counts[chosen].sum()
    hit_rate = hits / total if total else np.nan
    area_share = areas[chosen].sum() / total_area
    pai = hit_rate / area_share if area_share > 0 else np.nan
    k = int(chosen.sum())
    best = np.argsort(-counts, kind="stable")[:k]
    best_pai = (counts[best].sum() / total) / (areas[best].sum() / total_area) if k and total else np.nan
    return {"cells_flagged": k, "events": float(total), "hits": float(hits), "hit_rate": hit_rate,
            "area_share": area_share, "pai": pai, "pei": pai / best_pai if best_pai else np.nan}


def forward_evaluation(cube: pd.DataFrame, *, k: int = 1, window: int = 1, alpha: float = 0.05,
                       permutations: int = 999, seed: int = 0) -> pd.DataFrame:
    """Score, for each bin t >= window, the Gi* hot cells (``q <= alpha``) of bins [t - window, t) on bin t."""
    if not isinstance(cube, pd.DataFrame) or cube.shape[1] <= window:
        raise HotspotInputError(f"cube must be a DataFrame with more than window={window} time bins")
    if window < 1:
        raise HotspotInputError(f"window must be at least 1, got {window}")
    cells = _as_cells(cube.index)
    values = _checked_values(cube.to_numpy(dtype=float))
    structure = neighbourhoods(cells, k)
    areas = area_km2(cells)
    rows = []
    for t in range(window, values.shape[1]):
        built_on = values[:, t - window:t].sum(axis=1)
        hot = _gi_star_core(built_on, cells, structure, permutations, seed, alpha)["hot"].to_numpy()
        scores = prediction_scores(cells[hot], pd.Series(values[:, t], index=cells), areas)
        rows.append({"built_on": f"{cube.columns[t - window]}..{cube.columns[t - 1]}",
                     "scored_on": str(cube.columns[t]), **scores})
    return pd.DataFrame(rows)
