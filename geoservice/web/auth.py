"""Sign-in, sign-out and re-authentication. Failed sign-ins are limited per user name and address."""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque

from flask import Blueprint, abort, current_app, redirect, render_template, request, session, url_for

from ..privacy.users import authenticate
from .access import ROLES, allow, current_user
from .store import get_store

bp = Blueprint("auth", __name__, template_folder="templates")

MAX_FAILURES = 5
WINDOW_SECONDS = 15 * 60
_lock = threading.Lock()


def _failures() -> dict[tuple[str, str], deque]:
    """Recent failed attempts per (user name, address), kept per app (and per process)."""
    return current_app.extensions.setdefault("sign_in_failures", defaultdict(deque))


def _limited(key: tuple[str, str]) -> bool:
    now = time.monotonic()
    with _lock:
        recent = _failures()[key]
        while recent and now - recent[0] > WINDOW_SECONDS:
            recent.popleft()
        return len(recent) >= MAX_FAILURES


def _failed(key: tuple[str, str]) -> None:
    with _lock:
        _failures()[key].append(time.monotonic())


def _safe_next(target: str | None) -> str:
    # only a path on this site: never an absolute URL, never //host
    return target if target and target.startswith("/") and not target.startswith("//") else url_for("home.index")


@bp.route("/login", methods=["GET", "POST"])
@allow(public=True)
def login():
    """Sign in with a user name and password."""
    error = None
    if request.method == "POST":
        username = request.form.get("username", "").strip()
        key = (username.lower(), request.remote_addr or "")
        if _limited(key):
            abort(429, description=f"too many failed sign-ins: wait {WINDOW_SECONDS // 60} minutes")
        user = authenticate(get_store(), username, request.form.get("password", ""))
        if user is None:
            _failed(key)
            error = "That user name and password do not match an active account."
        else:
            session.clear()  # a new session id for the signed-in user
            session.permanent = True
            session.update(user=user.username, auth_at=time.time())
            return redirect(_safe_next(request.args.get("next")))
    return render_template("auth/login.html", error=error, title="Sign in"), 401 if error else 200


@bp.route("/reauth", methods=["GET", "POST"])
@allow(*ROLES)
def reauth():
    """Confirm the password before an export or a linkage report."""
    error = None
    if request.method == "POST":
        user = current_user()
        key = (user.username.lower(), request.remote_addr or "")
        if _limited(key):
            abort(429, description=f"too many failed attempts: wait {WINDOW_SECONDS // 60} minutes")
        if authenticate(get_store(), user.username, request.form.get("password", "")) is None:
            _failed(key)
            error = "That password is not right."
        else:
            session["auth_at"] = time.time()
            return redirect(_safe_next(request.args.get("next")))
    return render_template("auth/login.html", error=error, title="Confirm your password", reauth=True)


@bp.post("/logout")
@allow(*ROLES)
def logout():
    """Sign out."""
    session.clear()
    return redirect(url_for("auth.login"))
