"""Sign-in, sign-out and re-authentication, under the sign-in limits of ``privacy/users.py``.

A browser that signs in to an account gets a signed *trusted device* cookie for it; tries from a trusted browser
are limited only by that browser's own failures, so nobody else can lock its user out.
"""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit, urlunsplit

from flask import Blueprint, abort, current_app, redirect, render_template, request, session, url_for
from itsdangerous import BadSignature, URLSafeSerializer

from ..privacy.users import confirm_session, end_session, sign_in_try, start_session
from ..policy import ROLES
from .access import SESSION_HOURS, allow, current_user
from .store import get_store

bp = Blueprint("auth", __name__, template_folder="templates")

DEVICE_COOKIE = "ps_device"
DEVICE_DAYS = 180


def _devices() -> dict:
    """The accounts this browser has signed in to before: user name → device id (a signed cookie)."""
    raw = request.cookies.get(DEVICE_COOKIE)
    if not raw:
        return {}
    try:
        value = URLSafeSerializer(current_app.secret_key, salt="trusted-device").loads(raw)
    except BadSignature:
        return {}
    return value if isinstance(value, dict) else {}


def _remember_device(response, username: str) -> None:
    devices = _devices()
    devices.setdefault(username.lower(), secrets.token_hex(16))
    devices = dict(list(devices.items())[-5:])
    response.set_cookie(DEVICE_COOKIE, URLSafeSerializer(current_app.secret_key, salt="trusted-device").dumps(devices),
                        max_age=DEVICE_DAYS * 86400, secure=True, httponly=True, samesite="Strict")


def _check_password(username: str):
    """The user when the form's password is right for ``username``, else None; checked under the sign-in limits
    (429 when they refuse the try)."""
    device = _devices().get(username.lower())
    user, refusal = sign_in_try(get_store(), username, request.form.get("password", ""), request.remote_addr or "",
                                device)
    if refusal:
        abort(429, description=refusal)
    return user


def _safe_next(target: str | None) -> str:
    """Only a path on this site: never a scheme or host, never ``//host``, no control characters or spaces
    (browsers drop a tab or newline, turning ``/<tab>/evil.example`` into ``//evil.example``), no backslashes."""
    home = url_for("home.index")
    if not target or any(ch.isspace() or not ch.isprintable() or ch == "\\" for ch in target):
        return home
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/") or parts.path.startswith("//"):
        return home
    return urlunsplit(("", "", parts.path, parts.query, ""))


@bp.route("/login", methods=["GET", "POST"])
@allow(public=True)
def login():
    """Sign in with a user name and password."""
    error = None
    if request.method == "POST":
        username = request.form.get("username", "").strip()
        user = _check_password(username)
        if user is not None:
            target = _safe_next(request.args.get("next"))
            end_session(get_store(), session.get("sid"))  # a sign-in over a live session ends that one
            token = start_session(get_store(), user.username, SESSION_HOURS)
            session.clear()  # a new session for the signed-in user
            session.permanent = True
            session["sid"] = token
            response = redirect(target)
            _remember_device(response, user.username)
            return response
        error = "That user name and password do not match an active account."
    return render_template("auth/login.html", error=error, title="Sign in"), 401 if error else 200


@bp.route("/reauth", methods=["GET", "POST"])
@allow(*ROLES)
def reauth():
    """Confirm the password before an export or a linkage report."""
    error = None
    if request.method == "POST":
        if _check_password(current_user().username) is not None:
            target = _safe_next(request.args.get("next"))
            confirm_session(get_store(), session["sid"])
            return redirect(target)
        error = "That password is not right."
    return render_template("auth/login.html", error=error, title="Confirm your password", reauth=True)


@bp.post("/logout")
@allow(*ROLES)
def logout():
    """Sign out: the session ends in the store, so no copy of its cookie works any more."""
    end_session(get_store(), session.get("sid"))
    session.clear()
    return redirect(url_for("auth.login"))
