"""Who may do what: every route declares the roles it admits, and a route that declares none is denied.

- ``allow(*roles)`` marks a view; ``allow(public=True)`` marks the sign-in pages. ``enforce`` runs before every
  request: signed out is 401 (API) or a redirect to sign-in (pages); a role the route does not admit is 403.
- ``in_scope(boroughs)`` is the object-level check: a borough, or a person of a borough, outside the user's
  boroughs is a 404, as if it did not exist.
- Sessions are kept in the store (``privacy/users.py``); the cookie holds only the session's random token, so
  signing out ends the session for every copy of the cookie.
- ``fresh(max_age)`` asks for the password again before exports and linkage.
- Every unsafe request (POST and the like) carries the session's CSRF token, in the form or the
  ``X-CSRF-Token`` header.
- Every response gets security headers. The Content-Security-Policy admits no third-party source. Inline scripts
  run only when their hash is listed, and the map pages' scripts are fixed, so their hashes are known. Every
  response is ``no-store``.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets
import time
from datetime import timezone

from flask import Flask, abort, current_app, g, redirect, request, session, url_for

from ..policy import ROLES, within
from ..privacy.users import User, session_for
from .store import get_store

FRESH_SECONDS = 300
SESSION_HOURS = 8


def allow(*roles: str, public: bool = False):
    """Declare the roles a view admits (or that it is public: sign-in only)."""
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown roles {sorted(unknown)}")

    def mark(view):
        view.allowed_roles = frozenset(roles)
        view.public = public
        return view

    return mark


def current_user() -> User | None:
    return g.get("user")


def in_scope(*boroughs: str) -> None:
    """404 unless every borough is one the signed-in user may see."""
    user = current_user()
    if user is None or not within(user.boroughs, boroughs):
        abort(404, description="not found")


def fresh(view):
    """The password was given in the last ``FRESH_SECONDS``, or ask again."""
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        confirmed = g.session.confirmed_at.replace(tzinfo=timezone.utc).timestamp() if g.get("session") else 0
        if time.time() - confirmed > FRESH_SECONDS:
            if request.path.startswith("/api/"):
                abort(401, description="confirm your password first: POST /reauth")
            return redirect(url_for("auth.reauth", next=request.full_path))
        return view(*args, **kwargs)

    return wrapper


def csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


def _script_hashes() -> list[str]:
    from ..maps.assets import building_script, leaflet_js, map_script

    return [f"'sha256-{base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()}'"
            for s in (leaflet_js(), map_script(), building_script())]


def content_security_policy(tile_url: str | None) -> str:
    images = "'self' data:"
    if tile_url:  # the configured internal tile server, and nothing else
        from urllib.parse import urlparse

        parts = urlparse(tile_url.replace("{", "").replace("}", ""))
        images += f" {parts.scheme}://{parts.netloc}"
    return (f"default-src 'none'; script-src 'self' {' '.join(_script_hashes())}; style-src 'self' 'unsafe-inline'; "
            f"img-src {images}; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


def init_app(app: Flask) -> None:
    app.config.update(SESSION_COOKIE_SECURE=True, SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Strict",
                      PERMANENT_SESSION_LIFETIME=SESSION_HOURS * 3600)
    policy = content_security_policy(app.config["GEOSERVICE_SETTINGS"].map_tile_url)

    @app.before_request
    def enforce():
        if request.endpoint is None:
            return None  # no such route: a 404 follows
        view = current_app.view_functions[request.endpoint]
        roles = getattr(view, "allowed_roles", None)
        if request.endpoint == "static":
            return None
        if roles is None:
            abort(403, description="this route declares no roles, so nobody may use it")
        token = session.get("sid")
        g.session = session_for(get_store(), token) if token else None
        g.user = g.session.user if g.session else None
        if g.user is None and token:
            session.clear()  # signed out, expired, or the user was disabled or given a new password
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            sent = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token") or ""
            if not session.get("csrf") or not hmac.compare_digest(sent.encode(), session["csrf"].encode()):
                abort(400, description="the form has expired or did not come from this site: reload and try again")
        if getattr(view, "public", False):
            return None
        if g.user is None:
            if request.path.startswith("/api/"):
                abort(401, description="sign in first")
            return redirect(url_for("auth.login", next=request.full_path))
        if not g.user.roles & roles:
            abort(403, description="your role does not allow this")
        return None

    @app.after_request
    def headers(response):
        response.headers["Content-Security-Policy"] = policy
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Cache-Control"] = "no-store"
        return response

    app.jinja_env.globals["csrf_token"] = csrf_token
    app.context_processor(lambda: {"current_user": current_user()})

