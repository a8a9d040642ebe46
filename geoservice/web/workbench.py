"""The analyst's workbench: peer groups, a group, a child, a place, and the MACE packs, as pages.

A person-level page asks why once per task: the analyst states the task (a panel, a case) on the workbench page,
and every person-level page viewed for it is recorded in the audit log as a ``consultation`` naming (by keyed
pseudonyms) the people it showed, with that reason. Pages are scoped like everything else: a group without a child
of the user's boroughs, or a child of another borough, is a 404.

- ``/workbench/``: borough and panel-date pickers, the task, links to every view and the packs.
- ``/workbench/groups?borough=&since=``: the peer groups; ``/workbench/groups/<id>``: one group.
- ``/workbench/children/<id>?hops=``: one child; ``/workbench/places/<cell>?from=&to=``: one place.
- ``/workbench/packs/<kind>.<html|pdf>?borough=&since=&to=``: a Strategic or Pre-MACE pack (Pre-MACE needs the
  password confirmed in the last five minutes and is audited as a combination).
- ``/workbench/risk?borough=&as_of=``: risk-matrix tracking (``panels.risk``): each child's band, flags and score
  history, audited as a consultation.
- ``/workbench/missing?borough=&since=&to=&agenda=``: the weekly missing panel (``panels.missing``), audited as a
  combination; ``/workbench/missing.pdf`` (password confirmed; ``final=1`` refuses while an episode is ungraded).
- ``/workbench/disproportionality?borough=&since=&to=``: the cohorts' shares against the borough's children, and
  the children recorded as suspects with no safeguarding referral (children to protect; audited).
"""

from __future__ import annotations

from datetime import date, timedelta

from flask import Blueprint, Response, abort, current_app, redirect, render_template, request, session, url_for

from ..network.build import NetworkInputError
from ..policy import DISPROPORTIONALITY_ROLES, PERSON_ROLES, may_see_people
from ..reports import casework
from ..reports.linkage import DEFAULT_PANEL_INTERVAL_DAYS
from . import params
from .access import allow, current_user, fresh, in_scope
from .api import _audit, _graph, _key
from .cache import EVERYTHING, product_cache
from .store import get_store

bp = Blueprint("workbench", __name__, template_folder="templates")
PACK_KINDS = {"strategic": "Strategic MACE", "pre-mace": "Pre-MACE"}


def _since() -> date:
    """The last panel's date (``since``), default four weeks ago."""
    return params.day("since") or date.today() - timedelta(days=DEFAULT_PANEL_INTERVAL_DAYS)


def _task() -> str:
    """The task's reason, asked for once on the workbench page; without one, the page sends the user there."""
    why = session.get("task_why")
    if not why:
        abort(redirect(url_for("workbench.index", need_task=1, next=request.full_path)))
    return why


def _context(**values) -> dict:
    return {"borough_names": params.user_borough_names(), "task": session.get("task_why"), **values}


@bp.get("/workbench/")
@allow(*PERSON_ROLES)
def index():
    """Pickers, the task, and what the workbench offers."""
    borough = params.borough()
    today = date.today()
    return render_template("workbench/index.html", **_context(
        borough=borough, since=_since(), today=today, need_task=bool(request.args.get("need_task")),
        next=params.text("next", max_length=500) or "", pack_kinds=PACK_KINDS,
        quarter_start=date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)))


@bp.post("/workbench/task")
@allow(*PERSON_ROLES)
def set_task():
    """Say why (the panel, the case): person-level pages viewed for the task are audited with it."""
    why = (request.form.get("why") or "").strip()
    if len(why) < 5 or len(why) > 200 or params.has_control_characters(why):
        abort(400, description="say why in a few plain words (5 to 200 characters), e.g. 'Pre-MACE 5 January'")
    session["task_why"] = why
    target = request.form.get("next") or ""
    return redirect(target if target.startswith("/workbench/") and not target.startswith("//")
                    else url_for("workbench.index"))


def _not_found(exc: NetworkInputError):
    abort(404, description=str(exc))


@bp.get("/workbench/groups")
@allow(*PERSON_ROLES)
def groups():
    """The peer groups with a child of the borough."""
    borough, since = params.borough(), _since()
    why = _task()
    listing = product_cache().get(("workbench groups", borough, since, date.today()),
                                  lambda: casework.peer_group_list(get_store(), _graph(), borough, since=since),
                                  EVERYTHING)  # reads people, their records and the network: every batch
    _audit("consultation", [f"workbench:groups:{borough}", *_refs(listing["people"])], why)
    return render_template("workbench/groups.html", **_context(borough=borough, since=since, **listing))


@bp.get("/workbench/groups/<group_id>")
@allow(*PERSON_ROLES)
def group(group_id: str):
    """One peer group: network, evidence, places, timeline."""
    if not group_id.isalnum() or len(group_id) > 16:
        abort(400, description="a group id looks like G0006")
    since, why = _since(), _task()
    try:
        view = product_cache().get(("workbench group", group_id, current_user().boroughs, since, date.today()),
                                   lambda: casework.peer_group(get_store(), _graph(), group_id,
                                                               boroughs=current_user().boroughs, since=since),
                                                               EVERYTHING)  # the network and records: every batch
    except NetworkInputError as exc:
        _not_found(exc)
    _audit("consultation", [f"workbench:group:{group_id}", *_refs(view["people"])], why)
    return render_template("workbench/group.html", **_context(since=since, view=view))


@bp.get("/workbench/children/<person_id>")
@allow(*PERSON_ROLES)
def child(person_id: str):
    """One child: ego network, evidence, timeline, escalation, places."""
    hops = params.whole("hops", 2, (1, 2))
    why = _task()
    graph = _graph()
    if person_id not in graph:
        abort(404, description="not found")
    in_scope(graph.nodes[person_id].get("home_borough"))
    as_of = params.day("as_of") or _latest_day()
    try:
        view = product_cache().get(("workbench child", person_id, hops, as_of, date.today()),
                                   lambda: casework.child_view(get_store(), graph, person_id, hops=hops, as_of=as_of),
                                   EVERYTHING)  # reads people, their records and the network: every batch
    except NetworkInputError as exc:
        _not_found(exc)
    _audit("consultation", ["workbench:child", *_refs(view["people"])], why)
    return render_template("workbench/child.html", **_context(view=view, as_of=as_of))


def _latest_day() -> date:
    """The day escalation is judged on by default: today, or the last missing episode's day when the records
    end earlier (a demo, or a store not loaded since), so "the last 90 days" holds records."""
    import pandas as pd

    latest = get_store().latest("missing_episodes", "reported_missing_at")
    return min(date.today(), pd.Timestamp(latest).date()) if latest is not None else date.today()


@bp.get("/workbench/child")
@allow(*PERSON_ROLES)
def child_lookup():
    """The child form's answer: on to the child's page."""
    person_id = params.text("person_id", max_length=32) or ""
    if not person_id.replace("-", "").replace("_", "").isalnum():
        abort(400, description="give a person id such as C0050 (letters, digits, - and _)")
    return redirect(url_for("workbench.child", person_id=person_id))


@bp.get("/workbench/places/<cell>")
@allow(*PERSON_ROLES)
def place(cell: str):
    """One place: incidents by month and type, finds, groups."""
    start, end = params.window()
    end = end or _latest_day() + timedelta(days=1)
    start = start or date(end.year - 1, end.month, 1)  # the year before, from the start of its month
    why = _task()
    try:
        view = product_cache().get(("workbench place", cell, start, end, date.today()),
                                   lambda: casework.place_view(get_store(), _graph(), cell, start=start, end=end),
                                   EVERYTHING)  # reads people, their records and the network: every batch
    except NetworkInputError as exc:
        abort(400, description=str(exc))
    _audit("consultation", [f"workbench:place:{view['cell']}", *_refs(view["people"])], why)
    return render_template("workbench/place.html", **_context(view=view, start=start, end=end))


def _refs(people) -> list[str]:
    from ..privacy.audit import person_refs

    return person_refs(_key(), people)


@bp.get("/workbench/exports/network.<fmt>")
@allow(*PERSON_ROLES)
@fresh
def export(fmt: str):
    """A group, a child's network or the borough's as GraphML, GEXF or i2: asks for the password again, and is
    recorded as a disclosure to a file with the task's reason."""
    import tempfile
    from pathlib import Path

    from ..network.export import FORMATS, write_export

    if fmt not in FORMATS:
        abort(404, description=f"export formats: {', '.join(FORMATS)}")
    borough, why = params.borough(), _task()
    group_id, child_id = params.text("group", max_length=16), params.text("child", max_length=32)
    try:
        graph, name = casework.network_to_export(get_store(), _graph(), borough=borough, group=group_id,
                                                 child=child_id)
    except NetworkInputError as exc:
        _not_found(exc)
    _audit("disclosure", [f"network export:{name}:{fmt}", *_refs(sorted(graph))], why,
           recipient=f"file export ({fmt}) by {current_user().username}")
    suffix, mimetype = FORMATS[fmt]
    with tempfile.TemporaryDirectory() as folder:
        data = write_export(graph, fmt, Path(folder) / f"network.{suffix}").read_bytes()
    return Response(data, mimetype=mimetype,
                    headers={"Content-Disposition": f'attachment; filename="{name}.{suffix}"'})


@bp.get("/workbench/packs/<kind>.<fmt>")
@allow(*PERSON_ROLES)
def pack(kind: str, fmt: str):
    """A Strategic or Pre-MACE pack as an HTML page or a PDF download."""
    if kind not in PACK_KINDS or fmt not in ("html", "pdf"):
        abort(404, description="packs: strategic or pre-mace, as .html or .pdf")
    if kind == "pre-mace":
        return _pre_mace(fmt)
    return _made(kind, fmt, _strategic)


@fresh
def _pre_mace(fmt: str):
    return _made("pre-mace", fmt, _pre_mace_pack)


def _strategic(borough, since, end):
    from ..reports.packs import strategic_pack

    return product_cache().get(("strategic pack", borough, since, end, current_user().username), lambda: strategic_pack(
        get_store(), borough, since=since, to=end, made_by=current_user().username, recipient="Strategic MACE panel"),
        EVERYTHING)  # reads people, their records and the network: every batch


def _pre_mace_pack(borough, since, end):
    from ..reports.packs import audited_pre_mace, pre_mace_pack

    why = _task()
    made = product_cache().get(("pre-mace pack", borough, since, end, current_user().username), lambda: pre_mace_pack(
        get_store(), borough, since=since, to=end, made_by=current_user().username, recipient="Pre-MACE panel"),
        EVERYTHING)  # reads people, their records and the network: every batch
    return audited_pre_mace(get_store(), borough, since=since, to=end, username=current_user().username,
                            justification=why, key=_key(), pack=made)


def _made(kind: str, fmt: str, make):
    from ..reports import pack_render
    from ..reports.packs import PackError

    borough = params.borough()
    since, end = params.day("since", required=True), params.day("to", required=True)
    try:
        made = make(borough, since, end)
    except PackError as exc:
        abort(400, description=str(exc))
    name = f"{kind}-{borough}-{since}-{end}"
    if fmt == "html":
        return Response(pack_render.html(made), mimetype="text/html")
    return Response(pack_render.pdf(made), mimetype="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="{name}.pdf"'})




# the weekly missing panel ------------------------------------------------------------------------------------------
def _missing_request():
    """The panel the request asks for: borough, since, to (default: the week to the last episode's day) and the
    agenda's grades; a period running backwards is a 400."""
    from ..panels.missing import AGENDA_GRADES, GRADES

    borough = params.borough()
    to = params.day("to") or _latest_day() + timedelta(days=1)
    since = params.day("since") or to - timedelta(days=7)
    grades = tuple(request.args.getlist("agenda")) or AGENDA_GRADES
    if len(grades) > len(GRADES) or any(g not in GRADES for g in grades):
        abort(400, description=f"agenda takes grades from {', '.join(GRADES)}")
    return borough, since, to, grades


def _missing_panel(borough, since, to, grades):
    from ..panels.missing import MissingPanelError, audited_missing_panel, missing_panel

    why = _task()
    settings = current_app.config["GEOSERVICE_SETTINGS"]
    options = {"agenda_grades": grades, "repeat_days": settings.repeat_missing_days,
               "repeat_episodes": settings.repeat_missing_episodes}
    try:
        made = product_cache().get(("missing panel", borough, since, to, grades, date.today()), lambda: missing_panel(
            get_store(), borough, since=since, to=to, made_by=current_user().username,
            child_link=lambda c: casework_link(c), **options), EVERYTHING)
        return audited_missing_panel(get_store(), borough, since=since, to=to, username=current_user().username,
                                     justification=why, key=_key(), pack=made)
    except MissingPanelError as exc:
        abort(400, description=str(exc))


def casework_link(person_id: str):
    """A child's id as a link to their workbench page."""
    from ..reports.packs import Link

    return Link(person_id, url_for("workbench.child", person_id=person_id))


@bp.get("/workbench/missing")
@allow(*PERSON_ROLES)
def missing():
    """The weekly missing panel: pickers, then the agenda, interview measures, completeness and children."""
    from ..panels.missing import GRADES
    from ..reports import pack_render

    borough, since, to, grades = _missing_request()
    made = _missing_panel(borough, since, to, grades)
    return render_template("workbench/missing.html", **_context(
        borough=borough, since=since, to=to, grades=grades, all_grades=GRADES, panel=made,
        body=pack_render.body_html(made)))


@bp.get("/workbench/missing.pdf")
@allow(*PERSON_ROLES)
@fresh
def missing_pdf():
    """The missing panel as an A4 PDF; ``final=1``: only once every episode is graded (else 409, naming them)."""
    from ..reports import pack_render

    borough, since, to, grades = _missing_request()
    final = params.choice("final", ("0", "1"), "0") == "1"
    made = _missing_panel(borough, since, to, grades)
    if final and not made.about["can_finalise"]:
        abort(409, description=f"the agenda cannot be finalised: {made.about['not_final']}")
    name = f"missing-panel-{borough}-{since}-{to}{'-final' if final else '-draft'}"
    return Response(pack_render.pdf(made), mimetype="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="{name}.pdf"'})


# risk-matrix tracking ---------------------------------------------------------------------------------------------
@bp.get("/workbench/risk")
@allow(*PERSON_ROLES)
def risk():
    """Risk-matrix tracking for the borough's children: bands, flags and each child's score history."""
    from ..panels.risk import RiskError, default_day, risk_tracking

    borough = params.borough()
    as_of = params.day("as_of") or default_day(get_store())
    why = _task()
    try:
        view = risk_tracking(get_store(), borough, as_of=as_of,
                             review_days=current_app.config["GEOSERVICE_SETTINGS"].risk_review_days)
    except RiskError as exc:
        abort(400, description=str(exc))
    _audit("consultation", [f"workbench:risk:{borough}", *_refs(view["people"])], why)
    return render_template("workbench/risk.html", **_context(borough=borough, as_of=as_of, view=view))


@bp.get("/workbench/disproportionality")
@allow(*DISPROPORTIONALITY_ROLES)
def disproportionality():
    """Disproportionality tables for a borough and an ended window; for analysts, the children to protect too."""
    from ..panels.disproportionality import DisproportionalityError, from_store
    from ..reports.packs import shown_count

    borough = params.borough()
    today = date.today()
    end = params.day("to") or params.year_to_records(_latest_day())[1]
    since = params.day("since") or date(end.year - 1, end.month, 1)
    people = may_see_people(current_user().roles)
    why = _task() if people else None
    days = current_app.config["GEOSERVICE_SETTINGS"].suspect_referral_days
    try:
        made = product_cache().get(("disproportionality", borough, since, end, days, today),
                                   lambda: from_store(get_store(), borough, since=since, to=end, days=days), EVERYTHING)
    except DisproportionalityError as exc:
        abort(400, description=str(exc))
    children = made["children"]
    if people:
        _audit("consultation", [f"workbench:disproportionality:{borough}",
                                *_refs([c["person_id"] for c in children])], why)
    return render_template("workbench/disproportionality.html", **_context(
        borough=borough, since=since, to=end, result=made["result"], days=made["days"], waiting=made["waiting"],
        people=people, children=children if people else [], children_count=shown_count(len(children))))
