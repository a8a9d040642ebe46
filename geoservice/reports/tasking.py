"""The CSP tasking sheet: where outreach is missing, the covered places apart, and the actions tasked, for one or
more boroughs and a window; exported as CSV (the actions) and as an Excel workbook (actions, gaps, covered places).

The gaps come from ``analysis.tasking`` over the "where to act" ranking (``maps.products.tasking_coverage``); the
actions from the ``tasking_actions`` layer. An action is matched to a place when the place's name (as the ranking
names it, "Wandle Meadow / Graveney") starts with the action's place. Text cells are written so a spreadsheet never
runs them as formulas (``safe_text.for_spreadsheet``).
"""

from __future__ import annotations

import dataclasses
import io
from datetime import date

import pandas as pd

from ..analysis.tasking import CoverageRule, TaskingError
from ..safe_text import for_spreadsheet
from ..store.db import Store

ACTION_COLUMNS = ["action_id", "theme", "stage", "borough", "place", "priority", "action", "outcome_measure", "owner",
                  "lead_agency", "partners", "starts_on", "ends_on", "funding", "status", "rag", "updated_on"]
#: The sheet's headings for the actions, in the order of London's Violence and Vulnerability Reduction Action Plan
#: template (theme, current or developing, action and outcome, CSP lead and lead organisation, RAG update).
ACTION_HEADINGS = ["action", "theme", "current or developing", "borough", "place", "priority", "what", "outcome",
                   "CSP lead", "lead organisation", "partners", "start", "end", "funding", "status", "RAG", "updated",
                   "outreach at the place"]


@dataclasses.dataclass
class TaskingSheet:
    """``gaps`` and ``covered`` (from ``tasking_coverage``, with ``actions``: the ids tasked at each), ``actions``
    (the layer's rows for the boroughs, running in or after the window, with the place's coverage ``status``), and
    what they were made from."""

    boroughs: tuple[str, ...]
    start: date
    end: date
    rule: CoverageRule
    gaps: pd.DataFrame
    covered: pd.DataFrame
    actions: pd.DataFrame
    #: what the sheet cannot say, in words (no incidents in the window: nothing is ranked, so no gap is found)
    note: str = ""

    @property
    def gaps_without_action(self) -> pd.DataFrame:
        return self.gaps[[not ids for ids in self.gaps.actions]]


def _matches(place: str, action_place: str) -> bool:
    return bool(action_place) and (place == action_place or place.startswith(action_place + " /"))


def tasking_sheet(store: Store, *, boroughs, start, end, rule: CoverageRule | None = None, consider: int = 20
                  ) -> TaskingSheet:
    """The tasking sheet of ``boroughs`` over [start, end)."""
    from ..maps.products import tasking_coverage

    from ..analysis.windows import checked_window, max_years

    rule = rule or CoverageRule()
    start, end = checked_window(start, end, max_window_years=max_years(store))
    if start is None or end is None:
        raise TaskingError("give the window: both its start and its end, YYYY-MM-DD")
    start, end = start.date(), end.date()
    coverage = tasking_coverage(store, boroughs=boroughs, start=start, end=end, rule=rule, consider=consider)
    actions = (store.read_layer("tasking_actions", ACTION_COLUMNS, among={"borough": list(boroughs)})
               if "tasking_actions" in store.specs else pd.DataFrame(columns=ACTION_COLUMNS))
    actions = actions[pd.to_datetime(actions.ends_on) >= pd.Timestamp(start)] if len(actions) else actions
    actions = actions.sort_values(["starts_on", "action_id"]).reset_index(drop=True)
    coverage = coverage.assign(actions=[[a.action_id for a in actions.itertuples() if _matches(p, a.place)]
                                        for p in coverage.place])
    status = {a.action_id: next((c.status for c in coverage.itertuples() if _matches(c.place, a.place)),
                                "not among the places of most need") for a in actions.itertuples()}
    actions = actions.assign(coverage=[status[i] for i in actions.action_id])
    gaps = coverage[coverage.status != "covered"].reset_index(drop=True)
    covered = coverage[coverage.status == "covered"].reset_index(drop=True)
    note = ""
    if coverage.empty:
        low, high = store.time_extent("incidents", "month")
        held = f"the incidents held run from {str(low)[:7]} to {str(high)[:7]}" if low is not None else \
            "no incidents are loaded"
        note = (f"No incident falls in this window ({start} to {end}), so no place can be ranked by need and no gap "
                f"can be found: {held}. Pick a window with records.")
    return TaskingSheet(tuple(boroughs), start, end, rule, gaps, covered, actions, note)


INTERVENTION_COLUMNS = ["intervention_id", "title", "kind", "places", "started_on", "ended_on", "funder",
                        "lead_agency", "borough"]


def interventions_for(store: Store, boroughs) -> pd.DataFrame:
    """The interventions recorded for ``boroughs`` (the ``interventions`` layer), latest first: what can be asked
    "did it work?" of (``analysis.interventions.evaluate_intervention``)."""
    if "interventions" not in store.specs:
        return pd.DataFrame(columns=INTERVENTION_COLUMNS)
    found = store.read_layer("interventions", INTERVENTION_COLUMNS + ["cells"], among={"borough": list(boroughs)})
    found = found.sort_values(["started_on", "intervention_id"], ascending=[False, True]).reset_index(drop=True)
    where = found.places.fillna("").astype(str).str.replace(";", ", ")
    drawn = found.cells.fillna("").astype(str).str.count(";") + (found.cells.fillna("").astype(str) != "")
    found["places"] = [w or f"{n} drawn cell(s)" for w, n in zip(where, drawn)]
    for column in ("started_on", "ended_on"):
        found[column] = [str(v)[:10] if v is not None and not pd.isna(v) else "" for v in found[column]]
    return found.drop(columns="cells").fillna("")


def _text(value) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    return str(value.date() if isinstance(value, pd.Timestamp) else value)


#: The columns of the actions the tasking page shows (the sheet carries them all).
PAGE_ACTION_COLUMNS = ("action", "theme", "place", "what", "CSP lead", "lead organisation", "start", "end", "status",
                       "RAG", "outreach at the place")


def action_rows(sheet: TaskingSheet) -> list[list[str]]:
    def cell(action, column: str) -> str:
        text = _text(getattr(action, column))
        return for_spreadsheet(text.replace("_", " ") if column in ("theme", "status") else text)

    return [[cell(a, c) for c in ACTION_COLUMNS] + [a.coverage] for a in sheet.actions.itertuples()]


def gap_rows(sheet: TaskingSheet) -> list[list]:
    return [[g.rank, for_spreadsheet(g.place), g.status, round(g.need, 1), g.sessions, g.reached,
             "; ".join(g.actions) or "none: task one"] for g in sheet.gaps.itertuples()]


def covered_rows(sheet: TaskingSheet) -> list[list]:
    return [[c.rank, for_spreadsheet(c.place), round(c.need, 1), c.sessions, c.reached, "; ".join(c.actions)]
            for c in sheet.covered.itertuples()]


GAP_HEADINGS = ["need rank", "place (ward)", "status", "need (expected next month)", "sessions", "young people reached",
                "actions tasked"]
COVERED_HEADINGS = ["need rank", "place (ward)", "need (expected next month)", "sessions", "young people reached",
                    "actions tasked"]


def sheet_csv(sheet: TaskingSheet) -> str:
    """The actions as CSV (one row per action: owner and dates on every row, as the layer requires them)."""
    frame = pd.DataFrame(action_rows(sheet), columns=ACTION_HEADINGS)
    return frame.to_csv(index=False)


def sheet_xlsx(sheet: TaskingSheet) -> bytes:
    """The sheet as an Excel workbook: "Actions", "Where outreach is missing" and "Covered places", each with its
    headings frozen and a note of the rule and window on an "About" sheet."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    about = book.active
    about.title = "About"
    for line in (["CSP tasking sheet"], ["boroughs", ", ".join(sheet.boroughs)],
                 ["window", f"{sheet.start} to {sheet.end} (end not included)"], ["rule", sheet.rule.words()],
                 ["made", f"{date.today()}"]):
        about.append(line)
    about["A1"].font = Font(bold=True, size=13)
    for title, headings, rows in (("Actions", ACTION_HEADINGS, action_rows(sheet)),
                                  ("Where outreach is missing", GAP_HEADINGS, gap_rows(sheet)),
                                  ("Covered places", COVERED_HEADINGS, covered_rows(sheet))):
        page = book.create_sheet(title[:31])
        page.append(headings)
        for cell in page[1]:
            cell.font = Font(bold=True)
        for row in rows:
            page.append(row)
        page.freeze_panes = "A2"
        for column, heading in zip(page.columns, headings):
            width = max([len(str(heading))] + [len(str(c.value or "")) for c in column][:200])
            page.column_dimensions[column[0].column_letter].width = min(max(10, width + 2), 60)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
