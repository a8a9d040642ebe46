"""H3 cells: the one module that knows how cells are written.

Inside geoservice a cell is an int64 (H3 indexes keep the top bit 0), in numpy arrays and pandas indexes; the
usual hex text (``"89194ad3", ...``) appears only at the edges: pages, files, the API and what a caller passed in.
Functions here take cells written either way and say what they return; ``like`` gives results back written the
way the caller's cells were (hex in, hex out).

Pitfalls kept here so nobody meets them elsewhere: h3 takes (lat, lng) while GeoJSON and shapely take (lng, lat);
filling a polygon keeps the cells whose *centre* lies inside; H3 is not exactly hierarchical (a cell's seven
children do not tile it), so each resolution of a point is computed from the point itself.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import h3
import numpy as np
import pandas as pd

from .errors import GeoserviceError

_RES_SHIFT = np.uint64(52)
_RES_MASK = np.uint64(0xF) << _RES_SHIFT
MIN_CHUNK = 200_000


class CellError(GeoserviceError, ValueError):
    """Values that are not H3 cells, or cells that cannot be used together."""


# writing ---------------------------------------------------------------------------------------------------------
def is_hex(cells) -> bool:
    """Are these cells written as hex text (rather than integers)?"""
    if isinstance(cells, (str, bytes)):
        return True
    if isinstance(cells, (pd.Index, pd.Series, np.ndarray)):
        return cells.dtype == object or pd.api.types.is_string_dtype(cells.dtype)
    cells = list(cells)
    return bool(cells) and isinstance(cells[0], str)


def to_int(cells) -> np.ndarray:
    """Cells (hex text or integers; a list, array, Index or Series) as an int64 array."""
    if isinstance(cells, (str, int, np.integer)):
        cells = [cells]
    if is_hex(cells):
        try:
            return np.fromiter((h3.str_to_int(c) for c in cells), dtype=np.int64)
        except (ValueError, TypeError, h3.H3BaseException):
            raise CellError("cells must be H3 indexes, as hex text or 64-bit integers") from None
    array = np.asarray(cells)
    if array.size == 0:
        return np.zeros(0, dtype=np.int64)
    if array.dtype.kind == "f":
        raise CellError(_FLOATS)
    return array.astype(np.int64)


def to_hex(cells) -> list[str]:
    """Cells (hex text or integers) as hex text."""
    if isinstance(cells, (str, int, np.integer)):
        cells = [cells]
    if is_hex(cells):
        return [str(c) for c in cells]
    return [h3.int_to_str(int(c)) for c in cells]


_FLOATS = "cells arrived as floating-point numbers, which cannot hold a 64-bit H3 index exactly; read them as int64"


def hex_of(cell) -> str:
    """One cell as hex text."""
    if isinstance(cell, (float, np.floating)):
        raise CellError(_FLOATS)
    return cell if isinstance(cell, str) else h3.int_to_str(int(cell))


def hex_or_none(values) -> list[str | None]:
    """Cells as hex text, None where there is none (a row not located)."""
    return [None if v is None or (isinstance(v, float) and v != v) else hex_of(v) for v in values]


def int_of(cell) -> int:
    """One cell as an integer."""
    if isinstance(cell, (float, np.floating)):
        raise CellError(_FLOATS)
    return h3.str_to_int(cell) if isinstance(cell, str) else int(cell)


def as_index(cells, name: str = "cell") -> pd.Index:
    """An int64 index of the cells, checked: valid H3 cells, each once, one resolution."""
    index = pd.Index(to_int(cells), dtype=np.int64, name=name)
    if not index.is_unique:
        raise CellError("a cell appears more than once; sum its values first")
    sample = index[:1000].tolist()
    bad = [c for c in sample if not h3.is_valid_cell(h3.int_to_str(c))]
    if bad:
        raise CellError(f"{len(bad)} values are not valid H3 cells, e.g. {bad[0]}")
    if len({h3.get_resolution(h3.int_to_str(c)) for c in sample}) > 1:
        raise CellError("the cells mix H3 resolutions; use one resolution")
    return index


def like(index: pd.Index, original) -> pd.Index:
    """``index`` (int64 cells) written the way ``original`` was: hex text when it was hex text."""
    if is_hex(original):
        return pd.Index(to_hex(index), dtype=object, name=getattr(original, "name", None) or index.name)
    return index


# geometry --------------------------------------------------------------------------------------------------------
def resolution(cell) -> int:
    return h3.get_resolution(hex_of(cell))


def centre(cell) -> tuple[float, float]:
    """(lat, lng) of a cell's centre."""
    return h3.cell_to_latlng(hex_of(cell))


def centres(cells) -> np.ndarray:
    """(lat, lng) rows of the cells' centres."""
    return np.array([h3.cell_to_latlng(c) for c in to_hex(cells)], dtype=float).reshape(-1, 2)


def boundary(cell) -> list[tuple[float, float]]:
    """The cell's outline as (lat, lng) vertices (six for a hexagon), not closed."""
    return list(h3.cell_to_boundary(hex_of(cell)))


def geojson_polygon(cell) -> list[list[list[float]]]:
    """The cell as GeoJSON polygon coordinates: one closed ring of [lng, lat]."""
    ring = [[lng, lat] for lat, lng in boundary(cell)]
    return [ring + [ring[0]]]


def area_km2(cells) -> np.ndarray:
    return np.array([h3.cell_area(c, unit="km^2") for c in to_hex(cells)])


def edge_length_m(res: int) -> float:
    """The average hexagon edge (and circumradius) at a resolution, in metres."""
    return h3.average_hexagon_edge_length(res, unit="m")


def disk(cell, k: int = 1) -> list[int]:
    """The cells within ``k`` steps of ``cell`` (itself included), as integers."""
    return h3.api.basic_int.grid_disk(int_of(cell), k)


def steps_between(a, b) -> int:
    """How many steps apart two cells of one resolution are (H3 grid distance)."""
    return h3.api.basic_int.grid_distance(int_of(a), int_of(b))


def disks(cells, k: int = 1) -> list[list[int]]:
    """``disk`` of each cell (integers), for many cells at once."""
    grid_disk = h3.api.basic_int.grid_disk
    return [grid_disk(c, k) for c in to_int(cells).tolist()]


def polygons_to_cells(polygons, res: int) -> pd.Index:
    """Every cell (int64, sorted) whose centre lies in any of the shapely (Multi)Polygons (WGS84, lng/lat)."""
    if not 0 <= res <= 15:
        raise CellError(f"res must be 0-15, got {res}")
    found: set[int] = set()
    for polygon in polygons:
        for part in getattr(polygon, "geoms", [polygon]):
            outer = [(y, x) for x, y in part.exterior.coords]
            holes = [[(y, x) for x, y in ring.coords] for ring in part.interiors]
            found.update(h3.str_to_int(c) for c in h3.polygon_to_cells(h3.LatLngPoly(outer, *holes), res))
    return pd.Index(sorted(found), dtype=np.int64, name="cell")


def point_to_cell(lat: float, lng: float, res: int) -> int:
    return h3.str_to_int(h3.latlng_to_cell(lat, lng, res))


# many points at once ---------------------------------------------------------------------------------------------
def _cells_at(lat: np.ndarray, lng: np.ndarray, res: int) -> np.ndarray:
    from h3ronpy.vector import coordinates_to_cells

    return np.asarray(coordinates_to_cells(lat, lng, res).to_numpy(), dtype=np.uint64)


def cells_to_parents(cells: np.ndarray, res: int) -> np.ndarray:
    """Parent cells at ``res`` of valid cells (uint64 or int64) of resolution ``res`` or finer; 0 stays 0."""
    cells = np.asarray(cells).astype(np.uint64, copy=False)
    parent = (cells & ~_RES_MASK) | (np.uint64(res) << _RES_SHIFT)
    for finer in range(res + 1, 16):
        parent |= np.uint64(7) << np.uint64((15 - finer) * 3)
    return np.where(cells == 0, np.uint64(0), parent)


def points_to_cells(lat, lng, resolutions=(7, 8, 9, 10), *, threads: int | None = None) -> dict[int, np.ndarray]:
    """The cell (int64) holding each point at each resolution, exactly ``h3.latlng_to_cell``, computed with h3ronpy
    (Rust, over numpy arrays) on chunks spread across threads; a row with a non-finite coordinate gets 0. Each
    distinct point is indexed once: police.uk's anonymised map points repeat (the shared year: 116,319 rows at
    7,661 points).

    ``lat``, ``lng``: degrees WGS84, same length, in h3's (lat, lng) order.
    """
    lat = np.ascontiguousarray(lat, dtype=np.float64)
    lng = np.ascontiguousarray(lng, dtype=np.float64)
    if lat.shape != lng.shape:
        raise CellError(f"lat and lng must have the same length, got {lat.shape} and {lng.shape}")
    resolutions = sorted(set(int(r) for r in resolutions))
    if not resolutions or any(not 0 <= r <= 15 for r in resolutions):
        raise CellError(f"resolutions must be 0-15, got {resolutions}")
    ok = np.isfinite(lat) & np.isfinite(lng) & (np.abs(lat) <= 90) & (np.abs(lng) <= 180)
    out = {res: np.zeros(lat.shape, dtype=np.int64) for res in resolutions}
    idx = np.flatnonzero(ok)
    if idx.size == 0:
        return out
    point_of_row, points = pd.factorize(lat[idx] + 1j * lng[idx])
    ulat, ulng = np.ascontiguousarray(points.real), np.ascontiguousarray(points.imag)
    threads = threads or os.cpu_count() or 1
    parts = np.array_split(np.arange(ulat.size), max(1, min(threads, ulat.size // MIN_CHUNK)))

    def work(part: np.ndarray) -> dict[int, np.ndarray]:
        return {res: _cells_at(ulat[part], ulng[part], res) for res in resolutions}

    if len(parts) == 1:
        results = [work(parts[0])]
    else:
        with ThreadPoolExecutor(len(parts)) as pool:
            results = list(pool.map(work, parts))
    for res in resolutions:
        cells = np.concatenate([found[res] for found in results]).astype(np.int64)
        out[res][idx] = cells[point_of_row]
    return out


def shifted_copies(area, anchors) -> list[list[int] | None]:
    """The shape of ``area`` (cells of one resolution) moved so its first cell lands on each of ``anchors``:
    one list of cells (integers, in the order of ``area``) per anchor, or None where H3's local grid cannot
    reach the anchor (across an icosahedron face or near a pentagon; never within a borough in practice)."""
    local_ij, ij_cell = h3.api.basic_int.cell_to_local_ij, h3.api.basic_int.local_ij_to_cell
    area = to_int(area).tolist()
    origin = area[0]
    i0, j0 = local_ij(origin, origin)
    offsets = [tuple(np.subtract(local_ij(origin, c), (i0, j0))) for c in area]
    copies: list[list[int] | None] = []
    for anchor in to_int(anchors).tolist():
        try:
            ia, ja = local_ij(origin, anchor)
            copies.append([ij_cell(origin, int(ia + di), int(ja + dj)) for di, dj in offsets])
        except h3.H3BaseException:
            copies.append(None)
    return copies


def cells_at_res(cells, res: int) -> list[int]:
    """Cells of any resolution as cells of ``res`` (integers): a coarser cell becomes its children, a finer one
    its parent."""
    api = h3.api.basic_int
    out: list[int] = []
    for cell in to_int(cells).tolist():
        own = api.get_resolution(cell)
        out += [api.cell_to_parent(cell, res)] if own > res else list(api.cell_to_children(cell, res))
    return list(dict.fromkeys(out))
