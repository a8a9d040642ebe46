"""Upload a file through the web: the same pipeline as ``geoservice ingest``, with size limits and a report of
every rejected row (its row number, field, reason code and message).

The upload is bounded twice: its own size (``upload_max_mb``, a 413) and its size once decompressed
(``upload_max_inflated_mb``), checked while it is read, so a small compressed "bomb" is refused before it grows.
Rows are checked against the uploader's boroughs (the ingest's ``scope``): rows of other boroughs are rejected
and reported, never stored. Layers whose rows belong to no borough (boundaries) are uploaded by administrators
only. The file sits in a temporary folder while it is read; no message names that folder.
"""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path

from flask import Blueprint, abort, current_app, render_template, request
from werkzeug.utils import secure_filename

from ..errors import GeoserviceError
from ..ingest.pipeline import ingest_file
from ..ingest.readers import SizeLimit
from ..ingest.validate import CONTROL_RE
from ..policy import BOUNDARY_UPLOAD_ROLES, UPLOAD_ROLES
from .access import allow, current_user
from .store import get_store

bp = Blueprint("upload", __name__, template_folder="templates")
#: Checking a file takes many times its size in memory: each worker process checks one upload at a time.
_ONE_AT_A_TIME = threading.BoundedSemaphore(1)
WAIT_SECONDS = 120
SUFFIXES = (".csv", ".csv.gz", ".geojson", ".gpkg")


def _limits() -> dict:
    settings = current_app.config["GEOSERVICE_SETTINGS"]
    return {"limit_mb": current_app.config["MAX_CONTENT_LENGTH"] // 1_000_000,
            "inflated_mb": f"{settings.upload_max_inflated_mb:g}"}


@bp.get("/upload")
@allow(*UPLOAD_ROLES)
def form():
    """The upload form: a layer, a file and the reason for collecting it."""
    store = get_store()
    return render_template("upload/form.html", layers=store.specs.values(), report=None, rejected=[], **_limits())


@bp.post("/upload")
@allow(*UPLOAD_ROLES)
def submit():
    """Validate and store the uploaded file as one batch; show what was accepted and why rows were rejected."""
    store = get_store()
    settings = current_app.config["GEOSERVICE_SETTINGS"]
    user = current_user()
    layer = request.form.get("layer", "")
    if layer not in store.specs:
        abort(400, description=f"choose a layer: {', '.join(store.specs)}")
    spec = store.specs[layer]
    if spec.scope.unscoped and not user.can(*BOUNDARY_UPLOAD_ROLES):
        abort(403, description=f"only an administrator may upload {spec.title.lower()}: its rows belong to no "
                               "borough, so they cannot be checked against your boroughs")
    upload = request.files.get("file")
    name = secure_filename(upload.filename or "") if upload else ""
    if not name or not name.lower().endswith(SUFFIXES):
        abort(400, description=f"choose a file ending {', '.join(SUFFIXES)}")
    why = (request.form.get("why") or "").strip()
    if spec.sensitivity == "person" and len(why) < 5:
        abort(400, description="say why this personal data is collected")
    if CONTROL_RE.search(why):
        abort(400, description="the reason holds a control or text-direction character; type it again as plain text")
    if not _ONE_AT_A_TIME.acquire(timeout=WAIT_SECONDS):
        abort(503, description="another upload is being checked; try again in a few minutes")
    try:
        report = _ingest(store, layer, upload, name, why, user, settings)
    finally:
        _ONE_AT_A_TIME.release()
    return render_template("upload/form.html", layers=store.specs.values(), report=report,
                           rejected=store.rejected_rows(report.batch_id), **_limits())


def _ingest(store, layer: str, upload, name: str, why: str, user, settings):
    """The upload through the ingest pipeline, from a temporary folder no message names."""
    with tempfile.TemporaryDirectory() as folder:  # the upload is kept only while it is read
        path = Path(folder) / name
        upload.save(path)
        try:
            report = ingest_file(store, layer, path, settings=settings, username=user.username,
                                 justification=why or None, scope=user.boroughs,
                                 limit=SizeLimit.megabytes(settings.upload_max_inflated_mb, "upload_max_inflated_mb"))
        except GeoserviceError as exc:  # the ingest names files by name only; make sure of it here too
            abort(422, description=str(exc).replace(str(path), name).replace(folder, ""))
    return report
