"""The audit view: the latest events and whether the chain is intact (auditors and admins)."""

from __future__ import annotations

from flask import Blueprint, render_template, request

from ..privacy.audit import OPERATIONS, events, verify
from .access import allow
from .store import get_store

bp = Blueprint("audit", __name__, template_folder="templates")


@bp.get("/audit/")
@allow("auditor", "admin")
def index():
    """The latest audit events, filterable by operation and user, with the chain's check."""
    operation = request.args.get("operation") if request.args.get("operation") in OPERATIONS else None
    return render_template("audit/index.html", events=events(get_store(), operation=operation,
                                                             username=request.args.get("user") or None, limit=200),
                           check=verify(get_store()), operations=OPERATIONS, operation=operation)
