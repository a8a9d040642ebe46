"""The tasking officer's page: where outreach is missing, the covered places apart, the actions tasked, and the
tasking sheet as CSV or Excel.

- ``/tasking/?borough=&from=&to=&weeks=&below=``: pickers (boroughs by name, the window, the coverage rule), the
  gaps ranked by need, the covered places, the actions; links to the map and the disproportionality tables.
- ``/tasking/sheet.csv`` and ``/tasking/sheet.xlsx`` with the same parameters: the tasking sheet.

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
from .cache import product_cache
from .store import get_store

bp = Blueprint("tasking", __name__, template_folder="templates")


def _window() -> tuple[date, date]:
    """The window asked for, by default the 12 months to the month after the last incident (at most this month)."""
    start, end = params.window()
    if end is None:
        latest = get_store().latest("incidents", "month")
        today = date.today()
        last = date.fromisoformat(str(latest)[:7] + "-01") if latest is not None else today
        after = date(last.year + last.month // 12, last.month % 12 + 1, 1)
        end = min(date(today.year, today.month, 1), after)
    if start is None:
        start = date(end.year - 1, end.month, 1)
    if start >= end:
        abort(400, description=f"the window must run forwards: from {start} to {end}")
    return start, end


def _sheet():
    boroughs = params.boroughs()
    start, end = _window()
    weeks = params.whole("weeks", 8, range(1, 53))
    below = params.whole("below", 4, range(1, 51))
    try:
        rule = CoverageRule(weeks=weeks, under_covered_below=below)
        return product_cache().get(("tasking sheet", boroughs, start, end, weeks, below),
                                   lambda: tasking.tasking_sheet(get_store(), boroughs=boroughs, start=start, end=end,
                                                                 rule=rule))
    except (TaskingError, WindowError) as exc:
        abort(400, description=str(exc))


@bp.get("/tasking/")
@allow(*TASKING_ROLES)
def index():
    """Where outreach is missing, the covered places, the actions, and the exports."""
    sheet = _sheet()
    return render_template("tasking/index.html", sheet=sheet, borough_names=params.user_borough_names(),
                           gap_rows=tasking.gap_rows(sheet), covered_rows=tasking.covered_rows(sheet),
                           action_rows=tasking.action_rows(sheet), gap_headings=tasking.GAP_HEADINGS,
                           covered_headings=tasking.COVERED_HEADINGS, action_headings=tasking.ACTION_HEADINGS)


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
