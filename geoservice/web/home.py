"""The front page and the layer listing: what is loaded, how many rows, how many quarantined."""

from __future__ import annotations

from flask import Blueprint, jsonify, render_template

from .. import __version__
from ..policy import DATA_ROLES, ROLES
from .access import allow, current_user
from .store import get_store


bp = Blueprint("home", __name__, template_folder="templates")


def layer_summaries() -> list[dict]:
    store = get_store()
    counts, quarantined = store.layer_counts(), store.quarantine_counts()
    return [{"name": name, "title": spec.title, "description": spec.description, "sensitivity": spec.sensitivity,
             "rows": counts[name], "quarantined": quarantined.get(name, 0)} for name, spec in store.specs.items()]


@bp.get("/")
@allow(*ROLES)
def index():
    """The start page: the loaded layers with their row counts for those who may see them; links for all."""
    layers = layer_summaries() if current_user().can(*DATA_ROLES) else None
    return render_template("home/index.html", layers=layers, version=__version__)


@bp.get("/api/layers")
@allow(*DATA_ROLES)
def api_layers():
    """List the layers with their row counts as JSON."""
    return jsonify({"ok": True, "layers": layer_summaries()})
