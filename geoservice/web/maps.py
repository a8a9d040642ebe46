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

from datetime import date

from flask import Blueprint, abort, current_app, jsonify, render_template, request, url_for
from markupsafe import Markup

from ..maps.assets import building_script
from ..maps.products import build_map, layers_read, reads_network, window_layers
from ..maps.render import render_map_html
from ..maps.specs import load_map_specs
from ..policy import MAP_ROLES, ROLES, may_open_map
from . import params
from .access import allow, current_user
from .cache import NETWORK_LAYERS, Depends, product_cache, time_extents
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


def _spec(name: str):
    specs = _specs()
    if name not in specs:
        abort(404, description=f"no map product {name!r} for you; yours: {', '.join(sorted(specs)) or 'none'}")
    return specs[name]


def _request(name: str) -> tuple:
    """The map asked for: its spec, boroughs and window, its cache key and what it depends on."""
    spec = _spec(name)
    boroughs = params.boroughs()
    start, end = params.window()
    period = params.text("period", max_length=20)
    store = get_store()
    # the months a map shows follow the data held anywhere (its default window ends at the latest record): a key part
    key = ("map", name, boroughs, start, end, period, date.today(), time_extents(window_layers(spec, store)))
    return spec, boroughs, start, end, period, key, map_depends(spec, store, boroughs)


def map_depends(spec, store, boroughs) -> tuple[Depends, ...]:
    """What a map's cached copy depends on: the layers it counts, in its boroughs at its resolution; the places and
    boundaries that name its areas, anywhere; and, when it draws peer groups, the network, anywhere."""
    read = layers_read(spec, store)
    network = NETWORK_LAYERS if reads_network(spec) else frozenset()
    naming = {"places", "boundaries"} & read
    depends = [Depends.on(read - naming - network, boroughs, spec.resolution), Depends.on(naming)]
    return tuple(depends + ([Depends.on(network)] if network else []))


def _built(name: str):
    spec, boroughs, start, end, period, key, depends = _request(name)
    settings = current_app.config["GEOSERVICE_SETTINGS"]

    def build():
        built = build_map(get_store(), spec, boroughs=boroughs, start=start, end=end, period=period,
                          tile_url=settings.map_tile_url)
        return built, render_map_html(built)

    return product_cache().get(key, build, depends)


def _ready(name: str) -> bool:
    """Whether the map is built already (else a browser is shown its progress while it builds)."""
    _, _, _, _, _, key, depends = _request(name)
    return product_cache().has(key, depends)


@bp.get("/maps/")
@allow(*ROLES)
def index():
    """List the map products the user may open."""
    return render_template("maps/index.html", specs=_specs().values(), home=params.home_borough(),
                           borough_names=params.user_borough_names())


@bp.get("/maps/<name>")
@allow(*MAP_ROLES)
def page(name: str):
    """One map product as an offline HTML page (a browser opening a map not yet built sees it building first)."""
    if _shows_progress(name):
        return _building_page(name)
    return _built(name)[1]


def _shows_progress(name: str) -> bool:
    """A browser opening a page (not a script, nor the building page's own request, ``wait``) whose map is not
    built yet gets the building page first: it shows progress, fetches the map (``wait=1``) and shows it in place."""
    navigating = request.headers.get("Sec-Fetch-Dest") == "document"
    return navigating and "wait" not in request.args and not _ready(name)


def _building_page(name: str):
    spec = _spec(name)
    names = params.user_borough_names()
    area = ", ".join(names.get(b, b) for b in params.boroughs())
    map_url = url_for("maps.page", name=name, **request.args.to_dict(flat=False), wait=1)
    return render_template("maps/building.html", spec=spec, area=area, map_url=map_url,
                           script=Markup(building_script()))


@bp.get("/api/maps/<name>")
@allow(*MAP_ROLES)
def data(name: str):
    """One map product's data (what the page draws) as JSON."""
    built, _ = _built(name)
    return jsonify({"ok": True, "map": built.config, "expected_hexes": built.expected_hexes})
