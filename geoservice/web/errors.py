"""One handler turns exceptions into responses; every JSON error has one shape (pinned by a test)."""

from __future__ import annotations

from flask import Flask, jsonify, request
from markupsafe import escape
from werkzeug.exceptions import HTTPException

from ..errors import GeoserviceError


def error_response(status: int, message: str, errors: list | None = None):
    if request.path.startswith("/api/"):
        response = jsonify({"ok": False, "error": message, "errors": errors or [], "status": status})
        response.status_code = status
        return response
    return f"<!doctype html><title>{status}</title><h1>{status}</h1><p>{escape(message)}</p>", status


def init_app(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        return error_response(exc.code or 500, exc.description or exc.name)

    @app.errorhandler(GeoserviceError)
    def _geoservice(exc: GeoserviceError):
        return error_response(422, str(exc))
