"""From hot cells to hot-spot areas a panel can name: "Kestrel Park and Harrow Lane Estate (Figge's Marsh)".

Contiguous significant hot cells (sharing an edge) merge into one area. Each area gets the ward holding most of
its cell centres and the named places nearest to it (within ``max_place_distance_m`` of its cells), the
kinds people refer to first (parks, stations, schools, estates, youth and sports venues, shopping centres) before
others, then by distance. Places come from the places layer (OpenStreetMap points and local or synthetic places).
"""

from __future__ import annotations

import pandas as pd
import shapely

from .. import cells as h3cells
from ..places import PlaceNamer, named_places
from ..store.db import Store
from .hotspots import HotspotInputError

def connected_areas(cells: pd.Index) -> list[list[int]]:
    """Groups of cells joined by shared edges, largest first."""
    members = set(int(c) for c in cells)
    parent = {c: c for c in members}

    def find(c):
        while parent[c] != c:
            parent[c] = parent[parent[c]]
            c = parent[c]
        return c

    ordered = list(members)
    for c, ring in zip(ordered, h3cells.disks(ordered, 1)):
        for other in ring:
            if other in members:
                a, b = find(c), find(other)
                if a != b:
                    parent[a] = b
    groups: dict[int, list[int]] = {}
    for c in members:
        groups.setdefault(find(c), []).append(c)
    return sorted((sorted(g) for g in groups.values()), key=lambda g: (-len(g), g[0]))


def hotspot_areas(result: pd.DataFrame, *, places: pd.DataFrame, wards: list[dict] | None = None,
                  breakdown: pd.DataFrame | None = None, periods: pd.DataFrame | None = None,
                  max_place_distance_m: float = 200, places_per_area: int = 2) -> pd.DataFrame:
    """One row per hot-spot area of a ``gi_star`` result (cells with ``hot``).

    Returns ``name``, ``places`` (the places named), ``ward``/``ward_name``, ``cells``, ``n_cells``, ``lat``,
    ``lng`` (mean of the cell centres), ``value`` (sum), ``max_z``, ``min_q``; with ``breakdown`` (a
    concern-index frame) one summed column per component; with ``periods`` (cells × time bins) ``by_period``,
    the area's total in each bin.
    """
    hot = result.index[result["hot"].to_numpy()]
    groups = connected_areas(hot)
    ward_polygons = [(w["code"], w["name"], w["geometry"]) for w in (wards or [])]
    namer = PlaceNamer(places)
    rows = []
    for number, group in enumerate(groups, start=1):
        centres = h3cells.centres(group)
        lat, lng = centres[:, 0].mean(), centres[:, 1].mean()
        chosen = namer.near(group, max_distance_m=max_place_distance_m, limit=places_per_area)
        ward_code, ward_name = "", ""
        if ward_polygons:
            votes: dict[tuple, int] = {}
            for la, ln in centres:
                point = shapely.Point(ln, la)
                for code, name, polygon in ward_polygons:
                    if polygon.contains(point):
                        votes[(code, name)] = votes.get((code, name), 0) + 1
                        break
            if votes:
                ward_code, ward_name = max(votes, key=votes.get)
        label = " and ".join(chosen) if chosen else f"hot spot {number}"
        name = f"{label} ({ward_name})" if ward_name else label
        sub = result.loc[group]
        row = {"area": number, "name": name, "places": chosen, "ward": ward_code, "ward_name": ward_name,
               "cells": h3cells.to_hex(group), "n_cells": len(group), "lat": lat, "lng": lng,
               "value": float(sub["value"].sum()), "max_z": float(sub["z"].max()), "min_q": float(sub["q"].min())}
        if breakdown is not None:
            for column in breakdown.columns:
                row[column] = float(breakdown.loc[group, column].sum())
        if periods is not None:
            row["by_period"] = {str(p): float(v) for p, v in periods.loc[group].sum().items()}
        rows.append(row)
    return pd.DataFrame(rows)


def hotspot_report(store: Store, *, boroughs, res: int = 9, k: int = 1, start=None, end=None,
                   layer: str | None = None, alpha: float = 0.05, places: pd.DataFrame | None = None,
                   wards: list[dict] | None = None, engine=None, parquet=None, monthly=None):
    """Hot spots of one layer (or, with ``layer=None``, the concern index) over some boroughs and a window.

    Returns ``(cells, areas)``: the ``gi_star`` result joined to the counts (and the concern breakdown), and the
    named hot-spot areas. ``places`` (``named_places``) and ``wards`` (ward boundaries) name the areas; they are
    read from the store when not given. ``engine`` (``geoservice.engine``) is where Gi*'s neighbourhoods are
    worked out; the result does not depend on it. ``parquet``, a bulk-ingest GeoParquet folder, is where the
    incidents are counted instead of the store (at pan-London and national scale); the boroughs, places and wards
    still come from the store, and the result is the one the store gives for the same rows. ``monthly``
    (``monthly_concern`` over the same boroughs, resolution and window) is the concern index's months when the
    caller has them already, so they are counted once for the whole product.
    """
    from .counts import (concern_index, layer_counts, layer_cube, monthly_concern, parquet_cube,
                         parquet_layer_counts, study_cells)
    from .hotspots import gi_star
    from .windows import checked_window, max_years

    asked = (start, end)
    start, end = checked_window(start, end, max_window_years=max_years(store))
    if monthly is not None:
        cells = monthly.counts[monthly.components[0].name].index
    else:
        cells = study_cells(store, boroughs, res)  # once, for the window and every month in it
    if parquet is not None:
        if layer not in (None, "incidents"):
            raise HotspotInputError(f"a GeoParquet folder holds incidents only; got layer {layer!r}")
        layer = "incidents"
    periods = None
    if start is None or end is None:  # an open window has no months: the totals alone
        if layer is None:
            breakdown = concern_index(store, res=res, boroughs=boroughs, start=start, end=end, cells=cells)
            values = breakdown["concern"]
        else:
            values = (parquet_layer_counts(parquet, cells, res=res, start=start, end=end) if parquet is not None
                      else layer_counts(store, layer, cells, res=res, start=start, end=end))
            breakdown = values.to_frame(layer)
    elif layer is None:  # the months once; the window's totals are their sums (month_windows cuts the window)
        monthly = monthly if monthly is not None else monthly_concern(store, res=res, boroughs=boroughs,
                                                                      start=start, end=end, cells=cells)
        breakdown, periods = monthly.window(), monthly.concern()
        values = breakdown["concern"]
    else:
        cube = (parquet_cube(parquet, cells, res=res, start=start, end=end) if parquet is not None
                else layer_cube(store, layer, cells, res=res, start=start, end=end))
        cube.columns = cube.columns.astype(str)
        values = cube.sum(axis=1).astype("int64").rename(layer)
        breakdown, periods = values.to_frame(layer), cube.astype(float)
    result = gi_star(values, k=k, alpha=alpha, engine=engine)
    result.attrs["settings"].update({"layer": layer or "concern index", "boroughs": list(boroughs),
                                     "start": str(asked[0]), "end": str(asked[1])})
    areas = hotspot_areas(result, places=named_places(store, boroughs) if places is None else places,
                          wards=store.boundaries(("ward",)) if wards is None else wards,
                          breakdown=breakdown, periods=periods)
    joined = result.join(breakdown.drop(columns=[c for c in breakdown.columns if c in result.columns]))
    joined.attrs = result.attrs
    return joined, areas
