"""One handler turns exceptions into responses: JSON in one shape for the API (pinned by a test), a styled page
with a way back for everything else.

Library errors get the status that says whose move it is: a bad request or file is a 422 (or 400), a server
that is not ready yet (no boundaries loaded, no PostGIS) a 503, a batch that collided with another a 409.
Messages never show the server's own file paths.
"""

from __future__ import annotations

import re

from flask import Flask, jsonify, render_template, request, url_for
from werkzeug.exceptions import HTTPException

from ..errors import BatchConflictError, GeoserviceError, RequestError, SetupError, UnknownLayerError

HEADINGS = {400: "That request needs fixing", 401: "Please sign in", 403: "Not for your role",
            404: "Not found", 405: "Not allowed", 409: "Someone else changed this first", 413: "File too large",
            422: "That cannot be done as asked", 429: "Too many tries", 503: "The service is not ready"}
_SERVER_PATH = re.compile(r"(?<![\w.:/])(?:/[\w.@+-]+)+/([\w.@+-]+)")


def status_of(exc: GeoserviceError) -> int:
    if isinstance(exc, SetupError):
        return 503
    if isinstance(exc, BatchConflictError):
        return 409
    if isinstance(exc, (UnknownLayerError, RequestError)):
        return 400
    return 422


def without_paths(message: str) -> str:
    """``/srv/geoservice/instance/x/file.csv`` becomes ``file.csv``: the user needs the file, not the server's
    folders."""
    return _SERVER_PATH.sub(r"\1", message)


def _back() -> str:
    referrer = request.referrer or ""
    return referrer if referrer.startswith(request.host_url) else url_for("home.index")


def error_response(status: int, message: str, errors: list | None = None):
    if request.path.startswith("/api/"):
        response = jsonify({"ok": False, "error": message, "errors": errors or [], "status": status})
        response.status_code = status
        return response
    return render_template("errors/error.html", status=status, message=message, back=_back(),
                           heading=HEADINGS.get(status, "Something went wrong")), status


def init_app(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        return error_response(exc.code or 500, exc.description or exc.name)

    @app.errorhandler(GeoserviceError)
    def _geoservice(exc: GeoserviceError):
        return error_response(status_of(exc), without_paths(str(exc)))
