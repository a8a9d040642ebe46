"""Map products on request: the same specs and renderer as ``geoservice map``.

``/maps/`` lists the products; ``/maps/<name>?borough=E09000024`` is the page (repeat ``borough`` for several;
``from``/``to`` or ``period`` choose the window as on the command line); ``/api/maps/<name>`` is the page's data
as JSON. Who may see which product is decided with sign-in and roles (issue 6).
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, jsonify, render_template, request

from ..maps.products import build_map
from ..maps.render import render_map_html
from ..maps.specs import load_map_specs
from .store import get_store

bp = Blueprint("maps", __name__, template_folder="templates")


def _specs():
    return load_map_specs(current_app.config["GEOSERVICE_SETTINGS"].maps_dir)


def _built(name: str):
    specs = _specs()
    if name not in specs:
        abort(404, description=f"no map product {name!r}; known: {', '.join(sorted(specs))}")
    settings = current_app.config["GEOSERVICE_SETTINGS"]
    boroughs = request.args.getlist("borough") or [settings.study_area[0]]
    return build_map(get_store(), specs[name], boroughs=boroughs, start=request.args.get("from"),
                     end=request.args.get("to"), period=request.args.get("period"), tile_url=settings.map_tile_url)


@bp.get("/maps/")
def index():
    """List the map products."""
    return render_template("maps/index.html", specs=_specs().values())


@bp.get("/maps/<name>")
def page(name: str):
    """One map product as an offline HTML page."""
    return render_map_html(_built(name))


@bp.get("/api/maps/<name>")
def data(name: str):
    """One map product's data (what the page draws) as JSON."""
    built = _built(name)
    return jsonify({"ok": True, "map": built.config, "expected_hexes": built.expected_hexes})
