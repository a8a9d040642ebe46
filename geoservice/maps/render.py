"""One self-contained HTML page per map: Leaflet, its CSS and our drawing code inlined, the data as JSON."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import jinja2

from .assets import leaflet_css, leaflet_js, map_script
from .products import MapData

AUDIENCE_LABELS = {"mace_analyst": "MACE analysts", "tasking_officer": "community safety tasking officers",
                   "youth_worker": "youth workers"}
_TEMPLATES = jinja2.Environment(loader=jinja2.PackageLoader("geoservice.maps", "templates"), autoescape=True,
                                undefined=jinja2.StrictUndefined)


def page_data(built: MapData) -> str:
    """The map's data as JSON that is safe inside a <script> element."""
    text = json.dumps(built.config, separators=(",", ":"), ensure_ascii=False)
    return text.replace("</", "<\\/").replace("<!--", "<\\!--")


def render_map_html(built: MapData) -> str:
    return _TEMPLATES.get_template("map.html").render(
        config=built.config, data=page_data(built), leaflet_css=leaflet_css(), leaflet_js=leaflet_js(),
        map_js=map_script(), audience_label=AUDIENCE_LABELS[built.spec.audience],
        made=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))


def write_map(built: MapData, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_map_html(built), encoding="utf-8")
    return path
