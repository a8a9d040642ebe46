"""The audit view: the latest events and whether the chain is intact (auditors and admins).

A viewer sees the events of users whose boroughs all lie within the viewer's own, and the command line's and the
service's own events only when the viewer's boroughs cover the whole study area (``audit.events``). The chain's
check covers the whole log: it names entry numbers, never people."""

from __future__ import annotations

from flask import Blueprint, render_template

from ..privacy.audit import OPERATIONS, events, verify
from ..policy import AUDIT_ROLES
from . import params
from .access import allow, current_user
from .store import get_store

bp = Blueprint("audit", __name__, template_folder="templates")


@bp.get("/audit/")
@allow(*AUDIT_ROLES)
def index():
    """The latest audit events the viewer may see, filterable by operation and user, with the chain's check."""
    operation = params.choice("operation", OPERATIONS)
    viewer = current_user()
    shown = events(get_store(), operation=operation, username=params.text("user", max_length=64), limit=200,
                   visible_to=viewer.boroughs)
    return render_template("audit/index.html", events=shown, check=verify(get_store()), operations=OPERATIONS,
                           operation=operation, boroughs=viewer.boroughs)
