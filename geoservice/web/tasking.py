"""The tasking officer's page: where outreach is missing, the covered places apart, the actions tasked, and the
tasking sheet as CSV or Excel.

- ``/tasking/?borough=&from=&to=&weeks=&below=``: pickers (boroughs by name, the window, the coverage rule), the
  gaps ranked by need, the covered places, the actions; links to the map and the disproportionality tables.
- ``/tasking/sheet.csv`` and ``/tasking/sheet.xlsx`` with the same parameters: the tasking sheet.
- ``/tasking/evaluation/<id>``: did a recorded intervention work? Its incidents before and after against comparison
  areas the tool chose (``analysis.interventions``), as a report page with charts.

The work is ``reports.tasking``; the page only reads the request and shows the answer.
"""

from __future__ import annotations

from datetime import date

from flask import Blueprint, Response, abort, render_template

from ..analysis.tasking import CoverageRule, TaskingError
from ..analysis.windows import WindowError
from ..policy import TASKING_ROLES
from ..reports import tasking
from . import params
from .access import allow
from .cache import EVERYTHING, Depends, product_cache, time_extents
from .store import get_store

bp = Blueprint("tasking", __name__, template_folder="templates")


def _window() -> tuple[date, date]:
    """The window asked for, by default the 12 months to the month after the last incident (at most this month)."""
    start, end = params.window()
    if end is None:
        latest = get_store().latest("incidents", "month")
        end = params.year_to_records(date.fromisoformat(str(latest)[:7] + "-01") if latest is not None else None)[1]
    if start is None:
        start = date(end.year - 1, end.month, 1)
    if start >= end:
        abort(400, description=f"the window must run forwards: from {start} to {end}")
    return start, end


#: The layers with a borough of their own a tasking sheet counts (its places of need, outreach, actions).
AREA_LAYERS = frozenset({"incidents", "missing_episodes", "survey_responses", "outreach_sessions", "tasking_actions",
                         "interventions"})


def tasking_depends(boroughs) -> tuple[Depends, ...]:
    """What a tasking sheet depends on: its area layers in its boroughs; every other layer (places and boundaries
    name its places), anywhere."""
    return Depends.on(AREA_LAYERS, boroughs), Depends.on(set(get_store().specs) - AREA_LAYERS)


def _sheet():
    boroughs = params.boroughs()
    start, end = _window()
    weeks = params.whole("weeks", 8, range(1, 53))
    below = params.whole("below", 4, range(1, 51))
    try:
        rule = CoverageRule(weeks=weeks, under_covered_below=below)
        return product_cache().get(("tasking sheet", boroughs, start, end, weeks, below, time_extents(AREA_LAYERS)),
                                   lambda: tasking.tasking_sheet(get_store(), boroughs=boroughs, start=start, end=end,
                                                                 rule=rule), tasking_depends(boroughs))
    except (TaskingError, WindowError) as exc:
        abort(400, description=str(exc))


@bp.get("/tasking/")
@allow(*TASKING_ROLES)
def index():
    """Where outreach is missing, the covered places, the actions, and the exports."""
    sheet = _sheet()
    interventions = tasking.interventions_for(get_store(), sheet.boroughs)
    return render_template("tasking/index.html", sheet=sheet, borough_names=params.user_borough_names(),
                           interventions=interventions.to_dict("records"),
                           gap_rows=tasking.gap_rows(sheet), covered_rows=tasking.covered_rows(sheet),
                           action_rows=[[row[tasking.ACTION_HEADINGS.index(c)] for c in tasking.PAGE_ACTION_COLUMNS]
                                        for row in tasking.action_rows(sheet)],
                           gap_headings=tasking.GAP_HEADINGS, covered_headings=tasking.COVERED_HEADINGS,
                           action_headings=tasking.PAGE_ACTION_COLUMNS)


@bp.get("/tasking/sheet.<fmt>")
@allow(*TASKING_ROLES)
def sheet(fmt: str):
    """The tasking sheet: the actions as CSV, or the whole sheet as an Excel workbook."""
    if fmt not in ("csv", "xlsx"):
        abort(404, description="the tasking sheet comes as sheet.csv or sheet.xlsx")
    made = _sheet()
    name = f"tasking-{'-'.join(made.boroughs)}-{made.start}-{made.end}"
    if fmt == "csv":
        return Response(tasking.sheet_csv(made), mimetype="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})
    return Response(tasking.sheet_xlsx(made),
                    mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'})


@bp.get("/tasking/evaluation/<intervention_id>")
@allow(*TASKING_ROLES)
def evaluation(intervention_id: str):
    """Did it work? One recorded intervention's effect on incidents by type, with charts and the method's
    assumptions; "too little data to tell" where that is the truth. Another borough's intervention is a 404."""
    from ..analysis.interventions import InterventionError, evaluate_intervention, intervention_record
    from ..attribution import attributions_for
    from ..places import borough_names
    from ..reports.evaluation import render_evaluation_html
    from .access import in_scope

    if not intervention_id.replace("-", "").replace("_", "").isalnum() or len(intervention_id) > 40:
        abort(400, description="an intervention id is letters, digits, - and _ (e.g. INT001)")
    months_before = params.whole("months_before", 12, range(6, 61))
    store = get_store()
    try:
        record = intervention_record(store, intervention_id)
    except InterventionError:
        abort(404, description="no such intervention")
    in_scope(record.get("borough"))

    def build():
        made = evaluate_intervention(store, intervention_id, months_before=months_before)
        return render_evaluation_html(made, borough_names=borough_names(store),
                                      attributions=attributions_for(store, ["incidents", "places", "boundaries"]))

    try:
        page = product_cache().get(("evaluation", intervention_id, months_before), build, EVERYTHING)
    except InterventionError as exc:
        abort(400, description=str(exc))
    return Response(page, mimetype="text/html")
