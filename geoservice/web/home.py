"""The front page and the layer listing: what is loaded, how many rows, how many quarantined."""

from __future__ import annotations

from flask import Blueprint, jsonify, render_template

from .. import __version__
from .store import get_store

bp = Blueprint("home", __name__, template_folder="templates")


def layer_summaries() -> list[dict]:
    store = get_store()
    counts, quarantined = store.layer_counts(), store.quarantine_counts()
    return [{"name": name, "title": spec.title, "description": spec.description, "sensitivity": spec.sensitivity,
             "rows": counts[name], "quarantined": quarantined.get(name, 0)} for name, spec in store.specs.items()]


@bp.get("/")
def index():
    """Show the loaded layers with their row counts."""
    return render_template("home/index.html", layers=layer_summaries(), version=__version__)


@bp.get("/api/layers")
def api_layers():
    """List the layers with their row counts as JSON."""
    return jsonify({"ok": True, "layers": layer_summaries()})
