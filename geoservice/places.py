"""Places and distances: British National Grid metres, great-circle distances and bearings, and naming cells by
the places near them. One home for these, used by ingest, analysis, the network and the reports alike.

Distances between points use BNG metres (EPSG:27700) where they must be true to a few metres (tolerances,
"found together within 250 m"), and the haversine formula for the kilometres of county lines across Britain.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from pyproj import Transformer

from . import cells as h3cells

if TYPE_CHECKING:
    from .store.db import Store

_TO_BNG = Transformer.from_crs(4326, 27700, always_xy=True)
_FROM_BNG = Transformer.from_crs(27700, 4326, always_xy=True)


def lnglat_to_bng(lng, lat) -> tuple[np.ndarray, np.ndarray]:
    """Easting and northing (metres) of WGS84 points (note the order: longitude first)."""
    return _TO_BNG.transform(np.asarray(lng, dtype=float), np.asarray(lat, dtype=float))


def bng_to_lnglat(easting, northing) -> tuple[np.ndarray, np.ndarray]:
    """Longitude and latitude (WGS84 degrees) of British National Grid points."""
    return _FROM_BNG.transform(np.asarray(easting, dtype=float), np.asarray(northing, dtype=float))


def compass(bearing: float) -> str:
    """The 16-point compass direction of a bearing in degrees (N, NNE, ...)."""
    points = ["N", "NNE", "NE", "ENE", "E", "ESE", "SE", "SSE", "S", "SSW", "SW", "WSW", "W", "WNW", "NW", "NNW"]
    return points[int((bearing % 360) / 22.5 + 0.5) % 16]


def distance_km(lat, lng, lat0, lng0) -> np.ndarray:
    """Great-circle (haversine) distances in km from (lat0, lng0) to each point."""
    lat, lng = np.radians(np.asarray(lat, float)), np.radians(np.asarray(lng, float))
    lat0, lng0 = np.radians(lat0), np.radians(lng0)
    a = np.sin((lat - lat0) / 2) ** 2 + np.cos(lat) * np.cos(lat0) * np.sin((lng - lng0) / 2) ** 2
    return 2 * 6371.0088 * np.arcsin(np.sqrt(a))


def bearing_deg(lat, lng, lat0, lng0) -> float:
    """The initial bearing in degrees from (lat0, lng0) to (lat, lng), clockwise from north."""
    lat, lng, lat0, lng0 = map(np.radians, (lat, lng, lat0, lng0))
    x = np.sin(lng - lng0) * np.cos(lat)
    y = np.cos(lat0) * np.sin(lat) - np.sin(lat0) * np.cos(lat) * np.cos(lng - lng0)
    return float(np.degrees(np.arctan2(x, y)))


#: Kinds of place panels name hot spots by, most telling first (OpenStreetMap fclass names and our own kinds).
SALIENT_KINDS = ("park", "estate", "station", "railway_station", "school", "college", "youth_club",
                 "community_centre", "sports_centre", "playground", "shopping_centre", "mall", "shopping_parade",
                 "fast_food", "supermarket", "pub")


def borough_names(store: Store) -> dict[str, str]:
    """Each loaded borough's name by its GSS code."""
    return {b["code"]: b["name"] for b in store.boundaries(("borough",))}


def with_borough_names(text: str, names: dict[str, str]) -> str:
    """``text`` with GSS borough codes written as the boroughs' names (``names``: ``borough_names``)."""
    return re.sub(r"\bE0\d{7}\b", lambda m: names.get(m.group(0), m.group(0)), text)


def named_places(store: Store, boroughs=None) -> pd.DataFrame:
    """Places with a name: ``name``, ``kind``, ``lat``, ``lng``."""
    frame = store.read_layer("places", ["name", "kind", "location_lat", "location_lng"], present=["name"],
                             among=None if boroughs is None else {"location_borough": list(boroughs)})
    frame = frame[frame["name"] != ""]
    return frame.rename(columns={"location_lat": "lat", "location_lng": "lng"})[["name", "kind", "lat", "lng"]] \
        .drop_duplicates("name").reset_index(drop=True)


class PlaceNamer:
    """Names for a set of H3 cells: the named places within a distance of them, salient kinds first, then nearest.

    ``places``: a frame with ``name``, ``kind``, ``lat``, ``lng`` (``named_places``).
    """

    def __init__(self, places: pd.DataFrame):
        self.names = places.name.to_numpy() if len(places) else np.zeros(0, dtype=object)
        self.x, self.y = lnglat_to_bng(places.lng.to_numpy(float), places.lat.to_numpy(float)) if len(places) \
            else (np.zeros(0), np.zeros(0))
        self.priority = places.kind.map({k: i for i, k in enumerate(SALIENT_KINDS)}).fillna(
            len(SALIENT_KINDS)).to_numpy() if len(places) else np.zeros(0)

    def near(self, cells, *, max_distance_m: float = 200, limit: int = 2) -> list[str]:
        """Up to ``limit`` place names within ``max_distance_m`` of the cells (ids as int or str)."""
        if not len(self.names) or not len(cells):
            return []
        centres = h3cells.centres(cells)
        cx, cy = lnglat_to_bng(centres[:, 1], centres[:, 0])
        # distance to the nearest cell, roughly: to its centre less one edge length (its circumradius)
        edge = h3cells.edge_length_m(h3cells.resolution(cells[0]))
        gap = np.min(np.hypot(self.x[:, None] - cx[None, :], self.y[:, None] - cy[None, :]), axis=1) - edge
        near = np.flatnonzero(gap <= max_distance_m)
        order = near[np.lexsort((gap[near], self.priority[near]))]
        return list(dict.fromkeys(self.names[order].tolist()))[:limit]
