"""Map products as folium maps (for analysts who extend them) and inline in Jupyter, both working offline."""

from __future__ import annotations

import re

import numpy as np

from geoservice import cells as h3cells
from geoservice.maps.to_folium import _hexes, colour_of

from .test_products import _build, world_store  # noqa: F401  (the fixture)


def test_a_product_becomes_a_folium_map_with_the_same_layers_and_no_cdn(world_store):  # noqa: F811
    import folium

    built = _build(world_store, "csp_tasking")
    fmap = built.to_folium()
    assert isinstance(fmap, folium.Map)
    groups = [c for c in fmap._children.values() if isinstance(c, folium.FeatureGroup)]
    drawn = [layer for layer in built.config["layers"] if layer["type"] in ("hex", "points", "lines")]
    assert [g.layer_name for g in groups] == [layer["title"] for layer in drawn]
    assert [g.show for g in groups] == [bool(layer["visible"]) for layer in drawn]
    html = fmap.get_root().render()
    assert not re.findall(r"https?://", html), "nothing fetched: Leaflet comes from the installed package"
    assert "jquery" not in html.lower() and "bootstrap" not in html.lower()
    # hexagons are where the cells are
    hexes = _hexes(built.config)
    first = next(layer for layer in drawn if layer["type"] == "hex")
    corners = hexes[first["index"][0]]
    assert corners.shape == (6, 2)
    cell = h3cells.point_to_cell(*corners.mean(axis=0), built.config["resolution"])
    assert np.allclose(sorted(map(tuple, np.round(corners, 5))),
                       sorted(map(tuple, np.round(np.array(h3cells.boundary(cell)), 5))), atol=2e-5)


def test_colours_follow_the_page_rules():
    assert colour_of({"kind": "breaks", "breaks": [1, 5], "colours": ["#a", "#b"]}, 3) == "#b"
    assert colour_of({"kind": "classes", "values": [-1, 1], "colours": ["#c", "#h"]}, 1) == "#h"
    assert colour_of({"kind": "suppressed", "breaks": [10], "colours": ["#p"]}, -1) == "#bbbbbb"


def test_a_product_shows_inline_in_jupyter(world_store):  # noqa: F811
    built = _build(world_store, "youth_area")
    shown = built._repr_html_()
    assert shown.startswith("<iframe srcdoc=") and "&lt;script" in shown
