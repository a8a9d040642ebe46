"""A built map as a ``folium.Map`` with the same layers, for analysts who extend maps in folium, and offline.

folium's own page template fetches Leaflet, jQuery and Bootstrap from CDNs. The map made here uses only Leaflet,
taken from the installed registry package (``assets.py``) and embedded as data URIs, and no tile layer unless the
service has one configured, so it draws with no internet. Hexagons are GeoJSON polygons coloured as on our own
pages, points are circle markers with their words as tooltips, and boundaries are lines; each layer is a
``FeatureGroup`` in a layer control, shown or hidden as on the page.
"""

from __future__ import annotations

import base64

import numpy as np

from .assets import leaflet_css, leaflet_js
from .products import SCALE, MapData


def _data_uri(text: str, media: str) -> str:
    return f"data:{media};base64,{base64.b64encode(text.encode('utf-8')).decode()}"


def _hexes(config: dict) -> np.ndarray:
    """Every hexagon's six corners as (lat, lng), decoded from the page's packed integers."""
    ints = np.asarray(config["hexes"], dtype=np.int64).reshape(-1, 12)
    steps = ints.reshape(-1, 6, 2)
    corners = np.cumsum(steps, axis=1) + np.asarray(config["origin"])
    return corners / SCALE


def _lines(path: list[int], origin) -> list[tuple[float, float]]:
    xy = np.cumsum(np.asarray(path, dtype=np.int64).reshape(-1, 2), axis=0) + np.asarray(origin)
    return [(float(lat), float(lng)) for lat, lng in xy / SCALE]


def colour_of(style: dict, value) -> str | None:
    """The colour a value gets on our pages (the same rules as ``static/hexmap.js``)."""
    kind = style.get("kind")
    if kind == "outline":
        return style["colour"]
    if kind in ("classes", "categories"):
        values = style["values"]
        return style["colours"][values.index(value)] if value in values else None
    if kind == "suppressed" and value < 0:
        return "#bbbbbb"
    for high, colour in zip(style.get("breaks", []), style.get("colours", [])):
        if value <= high:
            return colour
    return (style.get("colours") or [None])[-1]


def to_folium(built: MapData):
    """The map's layers on a ``folium.Map`` that works offline."""
    import folium

    config = built.config
    (south, west), (north, east) = config["bounds"]
    fmap = folium.Map(location=[(south + north) / 2, (west + east) / 2], tiles=None, zoom_start=13,
                      attribution_control=False)
    fmap.default_js = [("leaflet", _data_uri(leaflet_js(), "text/javascript"))]
    fmap.default_css = [("leaflet_css", _data_uri(leaflet_css(), "text/css"))]
    if config.get("tileUrl"):
        folium.TileLayer(config["tileUrl"], attr="configured tiles").add_to(fmap)
    corners = _hexes(config)
    for layer in config["layers"]:
        group = folium.FeatureGroup(name=layer["title"], show=bool(layer.get("visible")))
        if layer["type"] == "hex":
            features = []
            for index, value in zip(layer["index"], layer["values"]):
                colour = colour_of(layer["style"], value)
                ring = [[float(lng), float(lat)] for lat, lng in corners[index]]
                features.append({"type": "Feature", "properties": {"value": value, "colour": colour or "#999999"},
                                 "geometry": {"type": "Polygon", "coordinates": [ring + ring[:1]]}})
            if not features:  # an empty layer stays in the control, with nothing to draw
                group.add_to(fmap)
                continue
            folium.GeoJson({"type": "FeatureCollection", "features": features},
                           style_function=lambda f: {"fillColor": f["properties"]["colour"], "color": "#ffffff",
                                                     "weight": 0.5, "fillOpacity": 0.75},
                           tooltip=folium.GeoJsonTooltip(["value"], aliases=[layer["title"]])).add_to(group)
        elif layer["type"] == "points":
            for lat, lng, label, words in layer["points"]:
                folium.CircleMarker([lat, lng], radius=6, color=layer.get("colour", "#333333"), fill=True,
                                    fill_opacity=0.9, tooltip=words or label).add_to(group)
        elif layer["type"] == "lines":
            for paths, name in zip(layer["paths"], layer["names"]):
                for path in paths:
                    folium.PolyLine(_lines(path, config["origin"]), color=layer.get("colour", "#333333"),
                                    weight=layer.get("weight", 1), tooltip=name).add_to(group)
        else:
            continue
        group.add_to(fmap)
    folium.LayerControl(collapsed=False).add_to(fmap)
    fmap.fit_bounds([[south, west], [north, east]])
    return fmap
