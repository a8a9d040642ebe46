"""Map products on request: the same specs and renderer as ``geoservice map``.

``/maps/`` lists the products the user may open. ``/maps/<name>?borough=E09000024`` is the page. Repeat
``borough`` for several; ``from``/``to`` or ``period`` choose the window, as on the command line.
``/api/maps/<name>`` is the page's data as JSON.

A product's tier decides who may open it:
- an analyst map: MACE analysts;
- a tasking map: tasking officers and analysts;
- an aggregate map: youth workers as well.

Boroughs outside the user's own are a 404, as is a product the user may not open.
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, jsonify, render_template

from ..maps.products import build_map
from ..maps.render import render_map_html
from ..maps.specs import load_map_specs
from ..policy import MAP_ROLES, ROLES, may_open_map
from . import params
from .access import allow, current_user
from .cache import product_cache
from .store import get_store

bp = Blueprint("maps", __name__, template_folder="templates")



def _specs():
    """The map products the signed-in user may open (the specs are read once per app, not per request)."""
    if "map_specs" not in current_app.extensions:
        current_app.extensions["map_specs"] = load_map_specs(current_app.config["GEOSERVICE_SETTINGS"].maps_dir,
                                                             layer_specs=get_store().specs)
    user = current_user()
    return {name: spec for name, spec in current_app.extensions["map_specs"].items()
            if may_open_map(user.roles, spec.tier)}


def _built(name: str):
    specs = _specs()
    if name not in specs:
        abort(404, description=f"no map product {name!r} for you; yours: {', '.join(sorted(specs)) or 'none'}")
    settings = current_app.config["GEOSERVICE_SETTINGS"]
    boroughs = params.boroughs()
    start, end = params.window()
    period = params.text("period", max_length=20)

    def build():
        built = build_map(get_store(), specs[name], boroughs=boroughs, start=start, end=end, period=period,
                          tile_url=settings.map_tile_url)
        return built, render_map_html(built)

    return product_cache().get(("map", name, boroughs, start, end, period), build)


@bp.get("/maps/")
@allow(*ROLES)
def index():
    """List the map products the user may open."""
    return render_template("maps/index.html", specs=_specs().values(), home=params.home_borough(),
                           borough_names=params.user_borough_names())


@bp.get("/maps/<name>")
@allow(*MAP_ROLES)
def page(name: str):
    """One map product as an offline HTML page."""
    return _built(name)[1]


@bp.get("/api/maps/<name>")
@allow(*MAP_ROLES)
def data(name: str):
    """One map product's data (what the page draws) as JSON."""
    built, _ = _built(name)
    return jsonify({"ok": True, "map": built.config, "expected_hexes": built.expected_hexes})
