"""Which boroughs a batch can change the products of, kept in ``batches.boroughs`` so a cached product of one
borough outlives uploads for another (``web/cache.py``).

A row touches the borough its scope rule gives it (a borough field, a location's borough, or the boroughs of the
people it names), the borough each of its locations lies in, and, at each stored resolution ``r``, every borough
whose study cells at ``r`` (cells whose centre lies in the borough, ``analysis/counts.study_cells``) hold it,
kept as ``code@r``: a point just over the border still counts in the neighbour's cell, but only for products
counting at that resolution (a 1.2 km cell at 7 reaches much further over a border than a 170 m one at 9). A layer
without boroughs (boundaries) touches every borough.
"""

from __future__ import annotations

import numpy as np

from ..cells import centres
from ..layers import LayerSpec
from ..places import lnglat_to_bng
from ..store.batches import boroughs_text
from ..store.tables import cell_column

#: A cell centre this close to a borough counts as in it: h3's centre test and shapely's can differ on the line.
CENTRE_TOLERANCE_M = 50.0


def touched_boroughs(store, spec: LayerSpec, typed: dict, columns: dict, rows: np.ndarray, areas) -> str:
    """``batches.boroughs`` for the accepted ``rows`` of a batch of ``spec`` (``areas``: the ingest's AreaIndex,
    None when the layer has no locations)."""
    rule = spec.scope
    if rule.unscoped and not spec.locations:
        return boroughs_text(None)
    codes: set[str] = set()
    by_cell: set[str] = set()
    if rule.rule == "field":
        codes.update(str(v) for v in np.asarray(typed[rule.names[0]], dtype=object)[rows] if isinstance(v, str))
    elif rule.rule == "people":
        from .pipeline import _people_boroughs  # the lookup the scope check uses

        ids = np.concatenate([np.asarray(typed[name], dtype=object)[rows] for name in rule.names])
        codes.update(_people_boroughs(store, ids[[isinstance(i, str) for i in ids]]).values())
    for loc in spec.locations:
        codes.update(c for c in np.asarray(columns[f"{loc.name}_borough"], dtype=object)[rows].tolist()
                     if isinstance(c, str))
        if areas is None:
            continue
        for res in store.resolutions:
            cells = np.asarray(columns[cell_column(loc.name, res)])[rows]
            cells = np.unique(cells[cells > 0]) if cells.size else cells
            if cells.size:
                lat_lng = centres(cells)
                x, y = lnglat_to_bng(lat_lng[:, 1], lat_lng[:, 0])
                by_cell |= {f"{code}@{res}" for code in areas.codes_near(np.asarray(x), np.asarray(y), "borough",
                                                                          CENTRE_TOLERANCE_M)}
    return boroughs_text(codes | {token for token in by_cell if token.split("@")[0] not in codes})
