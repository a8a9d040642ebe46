"""The front page and the layer listing: what is loaded, how many rows, how many quarantined."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, render_template

from .. import __version__
from ..places import borough_names
from ..policy import DATA_ROLES, ROLES, within
from . import params
from .access import allow, current_user
from .store import get_store


bp = Blueprint("home", __name__, template_folder="templates")


def layer_summaries() -> list[dict]:
    """Each layer with its rows in the user's boroughs. Quarantined rows have no borough to scope them by, so their
    counts are shown only to users whose boroughs cover the whole study area (None otherwise)."""
    store, user = get_store(), current_user()
    counts = store.layer_counts(boroughs=user.boroughs)
    whole = within(user.boroughs, current_app.config["GEOSERVICE_SETTINGS"].study_area)
    quarantined = store.quarantine_counts() if whole else {}
    return [{"name": name, "title": spec.title, "description": spec.description, "sensitivity": spec.sensitivity,
             "rows": counts[name], "quarantined": quarantined.get(name, 0) if whole else None}
            for name, spec in store.specs.items()]


@bp.get("/")
@allow(*ROLES)
def index():
    """The start page: the loaded layers with their row counts for those who may see them; links for all."""
    layers = layer_summaries() if current_user().can(*DATA_ROLES) else None
    return render_template("home/index.html", layers=layers, version=__version__, home=params.home_borough(),
                           borough_names=params.user_borough_names(),
                           all_boroughs=dict(sorted(borough_names(get_store()).items(), key=lambda item: item[1])))


@bp.get("/api/layers")
@allow(*DATA_ROLES)
def api_layers():
    """List the layers with their row counts as JSON."""
    return jsonify({"ok": True, "layers": layer_summaries()})
