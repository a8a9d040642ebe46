"""Which borough and ward a point lies in, and whether it lies in the study area.

Work is done in British National Grid metres (EPSG:27700) so tolerances are true distances. A point inside no
polygon of a level (the shared boundaries are generalised, so ~0.5% of real police.uk points fall just outside
their borough) is given the nearest polygon within the tolerance and marked ``nearest``; beyond it, none.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import shapely

from ..places import lnglat_to_bng

INSIDE = "inside"
NEAREST = "nearest"
CLAIMED = "claimed"


@dataclasses.dataclass
class _Level:
    codes: np.ndarray
    names: np.ndarray
    parents: np.ndarray
    polygons: np.ndarray  # in BNG, prepared
    bounds: np.ndarray  # (n, 4)
    tree: shapely.STRtree


class AreaIndex:
    """Point-in-polygon lookups against the boundaries layer.

    Parameters
    ----------
    boundaries
        Rows with ``code``, ``name``, ``level``, ``borough_code`` and a shapely ``geometry`` in WGS84.
    tolerance_m
        Distance for the nearest-polygon fallback and the study-area buffer.
    """

    def __init__(self, boundaries, tolerance_m: float = 250.0):
        self.tolerance_m = float(tolerance_m)
        self._levels: dict[str, _Level] = {}
        by_level: dict[str, list] = {}
        for row in boundaries:
            by_level.setdefault(row["level"], []).append(row)
        for level, rows in by_level.items():
            geoms = np.array([shapely.transform(r["geometry"], _to_bng_coords) for r in rows], dtype=object)
            shapely.prepare(geoms)
            self._levels[level] = _Level(
                codes=np.array([r["code"] for r in rows], dtype=object),
                names=np.array([r["name"] for r in rows], dtype=object),
                parents=np.array([r.get("borough_code") or "" for r in rows], dtype=object),
                polygons=geoms,
                bounds=shapely.bounds(geoms),
                tree=shapely.STRtree(geoms),
            )
        self._study_cache: dict[tuple, object] = {}

    @property
    def levels(self) -> tuple[str, ...]:
        return tuple(self._levels)

    def has_level(self, level: str) -> bool:
        return level in self._levels

    def codes(self, level: str) -> dict[str, str]:
        """Code → name of every polygon at ``level``."""
        lv = self._levels.get(level)
        return {} if lv is None else dict(zip(lv.codes, lv.names))

    def assign(self, x: np.ndarray, y: np.ndarray, level: str) -> tuple[np.ndarray, np.ndarray]:
        """Code of the polygon at ``level`` holding each BNG point, and how it matched (inside/nearest/"")."""
        n = len(x)
        codes = np.full(n, "", dtype=object)
        match = np.full(n, "", dtype=object)
        lv = self._levels.get(level)
        if lv is None or n == 0:
            return codes, match
        finite = np.isfinite(x) & np.isfinite(y)
        found = ~finite
        for i, geom in enumerate(lv.polygons):
            xmin, ymin, xmax, ymax = lv.bounds[i]
            cand = np.flatnonzero(~found & (x >= xmin) & (x <= xmax) & (y >= ymin) & (y <= ymax))
            if cand.size == 0:
                continue
            hit = cand[shapely.contains_xy(geom, x[cand], y[cand])]
            codes[hit] = lv.codes[i]
            match[hit] = INSIDE
            found[hit] = True
        rest = np.flatnonzero(~found)
        if rest.size and self.tolerance_m > 0:
            points = shapely.points(x[rest], y[rest])
            pairs = lv.tree.query_nearest(points, max_distance=self.tolerance_m, all_matches=False)
            codes[rest[pairs[0]]] = lv.codes[pairs[1]]
            match[rest[pairs[0]]] = NEAREST
        return codes, match

    def codes_near(self, x: np.ndarray, y: np.ndarray, level: str, distance_m: float) -> set[str]:
        """Codes of the ``level`` polygons within ``distance_m`` of any of these BNG points."""
        lv = self._levels.get(level)
        finite = np.isfinite(x) & np.isfinite(y)
        if lv is None or not finite.any():
            return set()
        points = shapely.points(x[finite], y[finite])
        _, hits = lv.tree.query(points, predicate="dwithin", distance=distance_m)
        return set(lv.codes[np.unique(hits)].tolist())

    def nearest_child(self, x: np.ndarray, y: np.ndarray, level: str, parent: str) -> tuple[np.ndarray, np.ndarray]:
        """Code of the nearest ``level`` polygon within ``parent`` (e.g. a ward of one borough) within tolerance."""
        codes = np.full(len(x), "", dtype=object)
        match = np.full(len(x), "", dtype=object)
        lv = self._levels.get(level)
        if lv is None or len(x) == 0:
            return codes, match
        mine = np.flatnonzero(lv.parents == parent)
        if mine.size == 0:
            return codes, match
        dist = np.stack([shapely.distance(lv.polygons[i], shapely.points(x, y)) for i in mine])
        best = dist.argmin(axis=0)
        ok = dist[best, np.arange(len(x))] <= self.tolerance_m
        codes[ok] = lv.codes[mine[best[ok]]]
        match[ok] = np.where(dist[best[ok], np.flatnonzero(ok)] == 0, INSIDE, NEAREST)
        return codes, match

    def distance_to(self, x: np.ndarray, y: np.ndarray, level: str, codes: np.ndarray) -> np.ndarray:
        """Metres from each point to the polygon named in ``codes`` (inf where the code is unknown)."""
        out = np.full(len(x), np.inf)
        lv = self._levels.get(level)
        if lv is None:
            return out
        position = {code: i for i, code in enumerate(lv.codes)}
        for code in set(codes) - {""}:
            if code not in position:
                continue
            rows = np.flatnonzero(codes == code)
            out[rows] = shapely.distance(lv.polygons[position[code]], shapely.points(x[rows], y[rows]))
        return out

    def study_area(self, borough_codes: tuple[str, ...]):
        """The union of the study boroughs buffered by the tolerance, prepared for fast tests."""
        key = tuple(sorted(borough_codes))
        if key not in self._study_cache:
            lv = self._levels["borough"]
            chosen = [g for g, c in zip(lv.polygons, lv.codes) if c in set(key)]
            area = shapely.buffer(shapely.union_all(chosen), self.tolerance_m)
            shapely.prepare(area)
            self._study_cache[key] = area
        return self._study_cache[key]

    def in_study_area(self, x: np.ndarray, y: np.ndarray, borough_codes: tuple[str, ...]) -> np.ndarray:
        """Whether each BNG point lies within the study boroughs plus the tolerance."""
        ok = np.isfinite(x) & np.isfinite(y)
        out = np.zeros(len(x), dtype=bool)
        if ok.any():
            out[ok] = shapely.contains_xy(self.study_area(borough_codes), x[ok], y[ok])
        return out


def _to_bng_coords(coords: np.ndarray) -> np.ndarray:
    x, y = lnglat_to_bng(coords[:, 0], coords[:, 1])
    return np.column_stack([x, y])
