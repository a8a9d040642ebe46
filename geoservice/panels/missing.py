"""The weekly missing panel: what it reads about the borough's children who went missing since it last met.

- **The grading queue** (``grading_queue``): every episode reported since the last panel, once, with its grade,
  who graded it and when. The agenda defaults to the red and amber episodes; while an episode is ungraded the
  agenda cannot be finalised.
- **Return home interviews** (``rhi_kpis``), measured as the partnership reports them: the number completed; the
  share offered within 24 hours of the service being notified of the return; the share conducted within 72 hours
  of the return, over the episodes where the young person consented and was available; and the number of red or
  amber episodes followed by an intervention. Each number names the episodes behind it.
- **Completeness** (``completeness``): per episode, no return home interview, a police debrief by phone only, the
  child not spoken to directly, no notification time.
- **Repeat missing** over a rolling window, **children placed out of borough** with the host authority, **where
  children were found** (cells and named places) and **county-lines indicators** (found outside London or far
  from where they went missing) with the child's National Referral Mechanism status.

``missing_panel`` puts these together as a pack (``reports.packs.Pack``), written as HTML or an A4 PDF like the MACE
packs. Functions of the data they are given: the same episodes give the same numbers.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd

from .. import cells as h3cells
from ..places import PlaceNamer, distance_km, named_places
from ..reports import figures
from ..reports.packs import (NO_DATA, Figure, Link, Pack, PackError, Section, Table, _about, _check, _day,
                             _period_label)
from ..store.db import Store

#: Where London's children are most often placed outside London: the county councils around it, by GSS code (ONS
#: Register of Geographic Codes), so a host outside the boundaries held is named (other codes are shown as they are).
COUNTIES_AROUND_LONDON = {"E10000011": "East Sussex", "E10000012": "Essex", "E10000014": "Hampshire",
                          "E10000015": "Hertfordshire", "E10000016": "Kent", "E10000030": "Surrey",
                          "E10000032": "West Sussex"}
#: The grades an agenda takes by default.
AGENDA_GRADES = ("red", "amber")
GRADES = ("red", "amber", "green")
#: The return home interview's clocks: offered within 24 h of notification, conducted within 72 h of the return.
OFFER_WITHIN = pd.Timedelta(hours=24)
CONDUCT_WITHIN = pd.Timedelta(hours=72)
#: Defaults for the rolling window of repeat missing, and for "far from home" (as the escalation rules).
REPEAT_DAYS, REPEAT_EPISODES, FAR_KM = 90, 3, 40.0
TIMES = ("reported_missing_at", "found_at", "notified_at", "rhi_offered_at", "rhi_completed_at", "graded_at")
FLAGS = ("placed_out_of_borough", "rhi_consented", "rhi_available", "spoken_to_directly")
_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f"}
NO_FOLLOW_ON = {"", "none"}


class MissingPanelError(PackError):
    """A panel that cannot be made as asked (an unknown grade, a window that is not a number of days)."""


# typing the rows ------------------------------------------------------------------------------------------------
def _flag(values: pd.Series) -> pd.Series:
    """True / False / missing from booleans, 0/1 or words ("true", "yes", ...)."""
    def one(value):
        if value is None or (not isinstance(value, str) and pd.isna(value)):
            return pd.NA
        if isinstance(value, (bool, np.bool_)):
            return bool(value)
        text = str(value).strip().lower()
        return True if text in _TRUE else False if text in _FALSE else pd.NA
    return values.map(one).astype("boolean")


def typed_episodes(episodes: pd.DataFrame) -> pd.DataFrame:
    """Episodes with times as naive UTC timestamps, flags as booleans and text blanks as "", whatever they were read
    from (the store, a CSV of the layer's fields); columns the rows lack are added empty."""
    frame = episodes.copy()
    for column in TIMES:
        values = frame[column] if column in frame else pd.Series(pd.NaT, index=frame.index)
        values = values.where(values.astype(str).str.strip() != "", None) if values.dtype == object else values
        frame[column] = pd.to_datetime(values, utc=True, errors="coerce").dt.tz_localize(None)
    for column in FLAGS:
        frame[column] = _flag(frame[column]) if column in frame else pd.Series(pd.NA, index=frame.index,
                                                                                 dtype="boolean")
    for column in ("pre_missing_grade", "risk_grade", "graded_by", "debrief_mode", "follow_on_intervention",
                   "host_borough", "care_status", "person_id", "episode_id", "push_factors", "pull_factors"):
        values = frame[column] if column in frame else pd.Series("", index=frame.index)
        frame[column] = values.fillna("").astype(str).str.strip()
    return frame


def known_on(episodes: pd.DataFrame, day) -> pd.DataFrame:
    """``episodes`` as they stood at the start of ``day`` (a panel's date): times after it are not yet known (a child
    found later is still missing, an interview completed later not yet done), and so is what follows from them (a
    grade given later, a debrief after a later return, a follow-on after a later interview). A past panel made again
    shows what that panel could have known."""
    e = typed_episodes(episodes)
    cut = pd.Timestamp(_day(day, "day"))
    later = {column: e[column] >= cut for column in TIMES}
    for column in TIMES:
        e[column] = e[column].mask(later[column])
    e.loc[later["graded_at"], ["pre_missing_grade", "graded_by"]] = ""
    e.loc[later["found_at"], ["debrief_mode"]] = ""
    e.loc[later["found_at"], "spoken_to_directly"] = pd.NA
    e.loc[later["rhi_completed_at"], "follow_on_intervention"] = ""
    return e


def grade_of(episodes: pd.DataFrame) -> pd.Series:
    """The episode's grade: the panel's pre-missing grade where it has been graded, else the grade recorded with
    the police report."""
    return episodes.pre_missing_grade.where(episodes.pre_missing_grade != "", episodes.risk_grade)


# return home interviews -----------------------------------------------------------------------------------------
def rhi_kpis(episodes: pd.DataFrame) -> dict:
    """The return home interview measures of ``episodes`` (rows with the missing-episode layer's field names), as the
    partnership reports them:

    - ``completed``: episodes with an interview completed (``rhi_completed_at`` given);
    - ``offered_within_24h``: of the episodes whose return was notified (``notified_at``; where it is not recorded,
      the return itself, ``found_at``), the share offered an interview (``rhi_offered_at``) within 24 hours of the
      notification; ``notified`` is that denominator (an episode with no notification time is also listed as a gap
      by ``completeness``);
    - ``conducted_within_72h``: of the episodes where the young person consented and was available
      (``rhi_consented`` and ``rhi_available`` both true: ``consented_and_available``), the share with the interview
      completed within 72 hours of the return (``found_at``, as the statutory guidance counts it);
    - ``follow_on_red_amber``: episodes graded red or amber (``grade_of``) with a follow-on intervention
      (``follow_on_intervention`` other than empty or "none").

    Shares are fractions from 0 to 1, or None when their denominator is 0. ``episodes`` maps each measure (and its
    complement, ``not_...``) to the episode ids behind it."""
    e = typed_episodes(episodes)
    completed = e.rhi_completed_at.notna()
    clock = e.notified_at.fillna(e.found_at)  # the 24-hour clock: notification, or the return where none is recorded
    notified = clock.notna()
    offered = (notified & e.rhi_offered_at.notna() & ((e.rhi_offered_at - clock) <= OFFER_WITHIN)).fillna(False)
    eligible = (e.rhi_consented.fillna(False) & e.rhi_available.fillna(False)).astype(bool)
    returned = e.found_at.fillna(e.notified_at)
    conducted = (eligible & completed & ((e.rhi_completed_at - returned) <= CONDUCT_WITHIN)).fillna(False)
    follow = grade_of(e).isin(AGENDA_GRADES) & ~e.follow_on_intervention.str.lower().isin(NO_FOLLOW_ON)

    def ids(mask) -> list[str]:
        return e.episode_id[np.asarray(mask, dtype=bool)].tolist()

    def share(part, whole) -> float | None:
        return float(part) / float(whole) if whole else None

    return {
        "completed": int(completed.sum()),
        "offered_within_24h": share(offered.sum(), notified.sum()), "notified": int(notified.sum()),
        "offered_within_24h_count": int(offered.sum()),
        "conducted_within_72h": share(conducted.sum(), eligible.sum()),
        "consented_and_available": int(eligible.sum()), "conducted_within_72h_count": int(conducted.sum()),
        "follow_on_red_amber": int(follow.sum()),
        "episodes": {"completed": ids(completed), "offered_within_24h": ids(offered),
                     "not_offered_within_24h": ids(notified & ~offered),
                     "conducted_within_72h": ids(conducted), "not_conducted_within_72h": ids(eligible & ~conducted),
                     "follow_on_red_amber": ids(follow)},
    }


# the grading queue ----------------------------------------------------------------------------------------------
def grading_queue(episodes: pd.DataFrame, *, agenda_grades=AGENDA_GRADES) -> dict:
    """Every episode of ``episodes`` once: ``ungraded`` (no pre-missing grade yet), ``agenda`` (graded in
    ``agenda_grades``) and ``others``, each in the order reported; ``can_finalise`` is False while any episode is
    ungraded."""
    unknown = set(agenda_grades) - set(GRADES)
    if unknown or not agenda_grades:
        raise MissingPanelError(f"the agenda takes grades from {', '.join(GRADES)}; got {', '.join(agenda_grades)}")
    e = typed_episodes(episodes).sort_values(["reported_missing_at", "episode_id"])
    ungraded = e.pre_missing_grade == ""
    on_agenda = ~ungraded & e.pre_missing_grade.isin(agenda_grades)
    return {"ungraded": e[ungraded], "agenda": e[on_agenda], "others": e[~ungraded & ~on_agenda],
            "can_finalise": not ungraded.any(), "agenda_grades": tuple(g for g in GRADES if g in agenda_grades)}


# completeness ---------------------------------------------------------------------------------------------------
def completeness(episodes: pd.DataFrame) -> pd.DataFrame:
    """One row per episode with something missing from the work after the return: ``episode_id``, ``person_id``
    and the gaps (``no_rhi``: found but no interview completed, with ``no_rhi_because`` the young person declined or
    was not available where recorded; ``phone_only``: police debrief by phone; ``not_spoken_to``: the child not
    spoken to directly; ``not_notified``: found but no notification time)."""
    e = typed_episodes(episodes)
    found = e.found_at.notna()
    gaps = pd.DataFrame({
        "no_rhi": found & e.rhi_completed_at.isna(),
        "phone_only": e.debrief_mode == "phone",
        "not_spoken_to": found & (e.spoken_to_directly.fillna(True) == False),  # noqa: E712 (a nullable boolean)
        "not_notified": found & e.notified_at.isna(),
    }, index=e.index).astype(bool)
    why = pd.Series("", index=e.index)
    why = why.mask(e.rhi_available.fillna(True) == False, "the young person was not available")  # noqa: E712
    why = why.mask(e.rhi_consented.fillna(True) == False, "the young person declined")  # noqa: E712
    out = pd.concat([e[["episode_id", "person_id", "reported_missing_at"]], gaps,
                     why.where(gaps.no_rhi, "").rename("no_rhi_because")], axis=1)
    return out[gaps.any(axis=1)].sort_values(["reported_missing_at", "episode_id"]).reset_index(drop=True)


# children -------------------------------------------------------------------------------------------------------
def repeat_missing(episodes: pd.DataFrame, to, *, days: int = REPEAT_DAYS, at_least: int = REPEAT_EPISODES
                   ) -> pd.DataFrame:
    """Children reported missing ``at_least`` times in the ``days`` before ``to``: ``person_id``, ``episodes``,
    ``first``, ``last``, most first."""
    e = typed_episodes(episodes)
    end = pd.Timestamp(_day(to, "to"))
    window = e[(e.reported_missing_at >= end - pd.Timedelta(days=days)) & (e.reported_missing_at < end)]
    per = window.groupby("person_id").reported_missing_at.agg(episodes="count", first="min", last="max")
    per = per[per.episodes >= at_least].reset_index()
    return per.sort_values(["episodes", "last"], ascending=[False, False]).reset_index(drop=True)


def placed_out_of_borough(episodes: pd.DataFrame, names: dict) -> pd.DataFrame:
    """Children whose episodes say they are placed out of borough: ``person_id``, ``host_borough`` (the code) and
    ``host`` (its name where the boundaries hold it, else the code), ``episodes``."""
    e = typed_episodes(episodes)
    placed = e[e.placed_out_of_borough.fillna(False).astype(bool)]
    if placed.empty:
        return pd.DataFrame(columns=["person_id", "host_borough", "host", "episodes"])
    latest = placed.sort_values("reported_missing_at").groupby("person_id").agg(
        host_borough=("host_borough", "last"), episodes=("episode_id", "count")).reset_index()
    latest["host"] = [names.get(code) or COUNTIES_AROUND_LONDON.get(code) or
                      ("not recorded" if not code else code if code.startswith("E09") else f"outside London ({code})")
                      for code in latest.host_borough]
    return latest[["person_id", "host_borough", "host", "episodes"]]


def county_lines_indicators(episodes: pd.DataFrame, referrals: pd.DataFrame | None, *, far_km: float = FAR_KM
                            ) -> pd.DataFrame:
    """Episodes where the child was found outside London or ``far_km`` or more from where they went missing, with
    the child's National Referral Mechanism status (the latest NRM referral's outcome, "referred, no decision yet",
    or "no NRM referral"). Needs ``found_borough`` and the found / missing-from points."""
    e = typed_episodes(episodes)
    found = e.found_at.notna()
    outside = found & (e.get("found_borough", pd.Series("", index=e.index)).fillna("") == "")
    points = e.reindex(columns=["found_lat", "found_lng", "missing_from_lat", "missing_from_lng"]).apply(
        pd.to_numeric, errors="coerce").to_numpy(float)
    away = pd.Series(distance_km(points[:, 0], points[:, 1], points[:, 2], points[:, 3]), index=e.index)  # NaN: unknown
    hit = outside | (found & (away >= far_km))
    out = e.loc[hit, ["episode_id", "person_id", "reported_missing_at"]].assign(
        outside_london=outside[hit].to_numpy(), away_km=away[hit].round(0).to_numpy())
    status = nrm_status(referrals)
    out["nrm"] = [status.get(p, "no NRM referral") for p in out.person_id]
    return out.sort_values(["reported_missing_at", "episode_id"]).reset_index(drop=True)


def nrm_status(referrals: pd.DataFrame | None) -> dict[str, str]:
    """Each referred child's NRM status: the latest NRM referral's outcome (or "referred on DAY, no decision
    yet")."""
    if referrals is None or referrals.empty:
        return {}
    nrm = referrals[referrals.kind == "nrm"].sort_values("referred_on")
    status = {}
    for r in nrm.itertuples():
        outcome = (r.outcome or "").strip() if isinstance(r.outcome, str) else ""
        day = str(r.referred_on)[:10]
        status[r.person_id] = (f"referred {day}: " + outcome.replace("_", " ") if outcome and outcome != "pending"
                               else f"referred {day}, no decision yet")
    return status


# the panel ------------------------------------------------------------------------------------------------------
PANEL_LAYERS = ("people", "missing_episodes", "safeguarding_referrals", "places", "boundaries")
EPISODE_COLUMNS = ["episode_id", "person_id", "reported_missing_at", "found_at", "notified_at", "rhi_offered_at",
                   "rhi_completed_at", "risk_grade", "pre_missing_grade", "graded_by", "graded_at", "care_status",
                   "placed_out_of_borough", "host_borough", "rhi_consented", "rhi_available", "debrief_mode",
                   "spoken_to_directly", "push_factors", "pull_factors", "follow_on_intervention", "found_borough",
                   "found_lat", "found_lng", "missing_from_lat", "missing_from_lng"]


def borough_episodes(store: Store, borough: str) -> pd.DataFrame:
    """The missing episodes of the children ``borough`` is responsible for (the people layer's home borough),
    wherever they went missing from."""
    from ..reports.packs import _children

    children = _children(store, borough).person_id.tolist()
    if not children:
        return pd.DataFrame(columns=EPISODE_COLUMNS)
    episodes = store.read_layer("missing_episodes", EPISODE_COLUMNS, among={"person_id": children})
    return typed_episodes(episodes).sort_values(["reported_missing_at", "episode_id"]).reset_index(drop=True)


def _referrals(store: Store, people) -> pd.DataFrame | None:
    if "safeguarding_referrals" not in store.specs or not len(people):
        return None
    return store.read_layer("safeguarding_referrals", ["person_id", "kind", "referred_on", "outcome"],
                            among={"person_id": sorted(set(people))})


def _when(value) -> str:
    return "" if pd.isna(value) else f"{value:%Y-%m-%d %H:%M}"


def missing_panel(store: Store, borough: str, *, since, to, agenda_grades=AGENDA_GRADES,
                  repeat_days: int = REPEAT_DAYS, repeat_episodes: int = REPEAT_EPISODES, far_km: float = FAR_KM,
                  made_by: str = "", recipient: str = "Missing children panel", child_link=None) -> Pack:
    """The weekly missing panel of ``borough`` for the episodes reported in [since, to). ``child_link``: a function
    of a child's id giving a link to their page (the service's pages), or None for plain ids (files)."""
    names, since, to = _check(store, borough, since, to)
    if not 1 <= int(repeat_days) <= 366 or not 2 <= int(repeat_episodes) <= 50:
        raise MissingPanelError("repeat missing: a window of 1 to 366 days and 2 to 50 episodes")
    if to > date.today() + timedelta(days=1):
        raise MissingPanelError(f"the panel's period ends on {to}, in the future: give the panel's date (or today) "
                                "as --to")
    all_names = {code: b["name"] for code, b in names.items()}  # as borough_names, from the boundaries read already
    episodes = known_on(borough_episodes(store, borough), to)
    latest = store.latest("missing_episodes", "reported_missing_at")
    records_end = pd.Timestamp(latest).date() if latest is not None else None
    period = episodes[(episodes.reported_missing_at >= pd.Timestamp(since))
                      & (episodes.reported_missing_at < pd.Timestamp(to))]
    year = episodes[(episodes.reported_missing_at >= pd.Timestamp(to) - pd.Timedelta(days=365))
                    & (episodes.reported_missing_at < pd.Timestamp(to))]
    queue = grading_queue(period, agenda_grades=agenda_grades)
    child = child_link or (lambda person: person)

    def episode_rows(frame: pd.DataFrame) -> list[list]:
        return [[r.episode_id, child(r.person_id), _when(r.reported_missing_at), _when(r.found_at) or "still missing",
                 r.risk_grade, r.pre_missing_grade or "ungraded",
                 f"{r.graded_by}, {_when(r.graded_at)}" if r.pre_missing_grade else "",
                 "in care" if r.care_status == "in_care" else "at home" if r.care_status == "at_home" else ""]
                for r in frame.itertuples()]

    columns = ["episode", "child", "reported missing", "found", "police risk grade", "panel grade",
               "graded by, when", "care"]
    sections = []
    agenda = Section("agenda", "Agenda: the episodes since the last panel")
    words = " and ".join(queue["agenda_grades"])
    agenda.text.append(f"{len(period)} episodes reported from {since} to {to}, each listed once: "
                       f"{len(queue['ungraded'])} ungraded, {len(queue['agenda'])} on the agenda ({words}), "
                       f"{len(queue['others'])} others.")
    stale = records_end is None or records_end < since
    if stale:
        agenda.text.append("The missing-episode records " + (f"end on {records_end}" if records_end else "are empty")
                           + ", before this period: load the latest episodes before the panel. The agenda cannot be "
                           "finalised on records that stop short of it.")
        queue["can_finalise"] = False
    if not queue["can_finalise"] and len(queue["ungraded"]):
        agenda.text.append(f"DRAFT: the agenda cannot be finalised while {len(queue['ungraded'])} episode(s) are "
                           "ungraded. Grade them (grade, who, when) before the panel.")
    if len(queue["ungraded"]):
        agenda.blocks.append(Table("Ungraded episodes: to grade before the agenda is final", columns,
                                   episode_rows(queue["ungraded"]), marked=list(range(len(queue["ungraded"]))),
                                   lists="child_at_risk"))
    if len(queue["agenda"]):
        agenda.blocks.append(Table(f"On the agenda: {words} episodes", columns, episode_rows(queue["agenda"]),
                                   lists="child_at_risk"))
    if len(queue["others"]):
        agenda.blocks.append(Table("Other episodes since the last panel (graded, not on the agenda)", columns,
                                   episode_rows(queue["others"]), lists="child_at_risk"))
    if period.empty:
        agenda.text.append(NO_DATA)
    sections.append(agenda)

    rhi, behind = _rhi_sections(period, year, since, to, child)
    sections.append(rhi)
    sections.append(_completeness_section(period, child))
    sections.append(_children_section(episodes, year, to, all_names, child, repeat_days, repeat_episodes))
    sections.append(found_section(store, borough, names, period, year))
    sections.append(_county_lines_section(store, year, child, far_km))
    if behind:  # the episodes behind each measure, last: a click away from the measure, out of the way of the rest
        sections.append(Section("behind", "Behind the numbers: the episodes of each measure",
                                text=["Each list is the episodes a measure counts (and, for a share, those not "
                                      "meeting it), in the order reported."]))
        sections += behind

    about = _about(store, "missing_panel", borough, names, since, to, layers=PANEL_LAYERS, recipient=recipient,
                   made_by=made_by, as_of=to)
    about["notes"] = [
        "Children who go missing are children at risk. This pack is for the missing children panel only.",
        f"Episodes of the children {names[borough]['name']} is responsible for, wherever they went missing from, as "
        f"known on {to}: what was recorded later (a later find, interview or grade) is not counted. "
        f"The last 12 months: {to - pd.Timedelta(days=365):%Y-%m-%d} to {to}."]
    about["children"] = sorted(set(year.person_id))
    about["can_finalise"] = queue["can_finalise"]
    about["ungraded"] = queue["ungraded"].episode_id.tolist()
    about["records_end"] = str(records_end) if records_end else None
    about["not_final"] = (
        f"the missing-episode records end on {records_end or 'no day (none loaded)'}, before this period: load the "
        "latest episodes first" if stale else
        f"{len(about['ungraded'])} episode(s) ungraded ({', '.join(about['ungraded'])}): grade them first"
        if about["ungraded"] else "")
    title = f"Missing children panel: {names[borough]['name']}, {_period_label(since, to)}"
    return Pack("missing_panel", title, about, sections)


KPI_ROWS = (("completed", "return home interviews completed", None, None),
            ("offered_within_24h", "offered within 24 hours of notification", "offered_within_24h_count", "notified"),
            ("conducted_within_72h", "conducted within 72 hours of the return, where the young person consented "
             "and was available", "conducted_within_72h_count", "consented_and_available"),
            ("follow_on_red_amber", "follow-on interventions after red or amber episodes", None, None))


def percent(part: int, whole: int) -> str:
    """A share as the panel reads it: whole percents, but never 100% while one is missed nor 0% while one is met."""
    value = 100 * part / whole
    if (round(value) == 100 and part < whole) or (round(value) == 0 and part > 0):
        return f"{value:.1f}%"
    return f"{value:.0f}%"


def _rhi_sections(period: pd.DataFrame, year: pd.DataFrame, since: date, to: date, child
                  ) -> tuple[Section, list[Section]]:
    """The measures' table, and a part per measure and column with the episodes behind it: since the last panel, a
    table of every episode counted (and, for a share, every one missed); over 12 months, the missed ones as a table
    and the met ones by id."""
    section = Section("rhi", "Return home interviews")
    spans = (("since the last panel", "period", period, rhi_kpis(period)),
             ("last 12 months", "year", year, rhi_kpis(year)))
    if year.empty:
        section.text.append(NO_DATA)
        return section, []
    section.text.append("Measured as the partnership reports them. On the page each number links to the episodes "
                        "behind it; they are listed under 'Behind the numbers' at the end.")
    rows, behind = [], []
    for key, label, count, whole in KPI_ROWS:
        row = [label]
        for caption, tag, frame, kpi in spans:
            anchor = f"behind-{key}-{tag}"
            if count is None:
                shown = f"{kpi[key]}"
            elif kpi[key] is None:
                shown = "none to measure"
            else:
                shown = f"{percent(kpi[count], kpi[whole])} ({kpi[count]} of {kpi[whole]})"
            row.append(Link(shown, "#" + anchor))
            part = Section(anchor, f"Behind '{label}', {caption}", level=3, anchor=anchor)
            met = kpi["episodes"][key]
            missed = kpi["episodes"]["not_" + key] if count is not None else []
            if tag == "period" or len(met) <= 15:
                part.blocks.append(_episode_table("Counted" if count is None else "Met", frame, met, child))
            else:
                part.text.append(f"Met ({len(met)}): " + ", ".join(met))
            if count is not None:
                part.blocks.append(_episode_table("Not met", frame, missed, child, marked=True))
            behind.append(part)
        rows.append(row)
    section.blocks.append(Table(f"Return home interviews ({_period_label(since, to)}; last 12 months to {to})",
                                ["measure", "since the last panel", "last 12 months"], rows))
    return section, behind


def _episode_table(caption: str, frame: pd.DataFrame, ids: list[str], child, *, marked: bool = False) -> Table:
    """The episodes ``ids`` of ``frame`` with their times after the return, for the lists behind the measures."""
    chosen = frame[frame.episode_id.isin(set(ids))]
    rows = [[r.episode_id, child(r.person_id), _when(r.reported_missing_at), _when(r.found_at),
             _when(r.notified_at), _when(r.rhi_offered_at), _when(r.rhi_completed_at),
             "consented" if r.rhi_consented is True else "declined" if r.rhi_consented is False else "",
             r.follow_on_intervention.replace("_", " ")] for r in chosen.itertuples()]
    return Table(f"{caption} ({len(rows)})" if rows else f"{caption}: none",
                 ["episode", "child", "reported missing", "found", "notified", "interview offered",
                  "interview completed", "consent", "follow-on"], rows,
                 marked=list(range(len(rows))) if marked else [], lists="child_at_risk")


def _completeness_section(period: pd.DataFrame, child) -> Section:
    section = Section("completeness", "Completeness of the work after each return")
    gaps = completeness(period)
    if gaps.empty:
        section.text.append("Every episode since the last panel has its interview, an in-person debrief with the "
                            "child spoken to directly, and its notification." if len(period) else NO_DATA)
        return section
    labels = {"no_rhi": "no return home interview", "phone_only": "police debrief by phone only",
              "not_spoken_to": "child not spoken to directly", "not_notified": "no notification time"}
    section.text.append(f"{len(gaps)} of {len(period)} episodes since the last panel have a gap.")
    section.blocks.append(Table("Episodes with a gap after the return",
                                ["episode", "child", "reported missing", "gaps"],
                                [[g.episode_id, child(g.person_id), _when(g.reported_missing_at),
                                  "; ".join(label + (f" ({g.no_rhi_because})" if key == "no_rhi" and g.no_rhi_because
                                                     else "") for key, label in labels.items() if getattr(g, key))]
                                 for g in gaps.itertuples()], lists="child_at_risk"))
    return section


def _children_section(episodes, year, to, names, child, repeat_days, repeat_episodes) -> Section:
    section = Section("children", "Repeat missing and children placed out of borough")
    repeats = repeat_missing(episodes, to, days=repeat_days, at_least=repeat_episodes)
    section.text.append(f"Repeat missing: children reported missing {repeat_episodes} or more times in the "
                        f"{repeat_days} days to {to}.")
    if len(repeats):
        section.blocks.append(Table(f"Missing {repeat_episodes} or more times in {repeat_days} days",
                                    ["child", "episodes", "first", "latest"],
                                    [[child(r.person_id), r.episodes, f"{r.first:%Y-%m-%d}", f"{r.last:%Y-%m-%d}"]
                                     for r in repeats.itertuples()], lists="child_at_risk"))
    else:
        section.text.append("None in the window.")
    placed = placed_out_of_borough(year, names)
    if len(placed):
        section.blocks.append(Table("Children placed out of borough (episodes in the last 12 months)",
                                    ["child", "placed in", "episodes"],
                                    [[child(r.person_id), r.host, r.episodes] for r in placed.itertuples()],
                                    lists="child_at_risk"))
    else:
        section.text.append("No child with an episode in the last 12 months is recorded as placed out of borough.")
    return section


def found_places(store: Store, episodes: pd.DataFrame, *, resolution: int = 9, recent=()) -> pd.DataFrame:
    """Where the children were found, by place: the hexagons at ``resolution`` holding a find, named by the places
    within 200 m (hexagons named alike are one place; one with no named place near is named by its ward). Columns
    ``place``, ``ward``, ``borough`` ("outside London" beyond the boundaries held), ``episodes``, ``children``,
    ``recent`` (how many of its episodes are among the ids ``recent``) and ``cells`` (with the episodes per cell, for
    the map), most episodes first."""
    e = episodes.dropna(subset=["found_lat", "found_lng"]) if "found_lat" in episodes else episodes.iloc[0:0]
    if e.empty:
        return pd.DataFrame(columns=["place", "ward", "borough", "episodes", "children", "recent", "cells"])
    e = e.assign(recent=e.episode_id.isin(set(recent)))
    e = e.assign(cell=[h3cells.point_to_cell(lat, lng, resolution) for lat, lng in zip(e.found_lat, e.found_lng)])
    cells = sorted(set(e.cell))
    namer = PlaceNamer(named_places(store))
    wards, boroughs = _areas_of(store, cells)
    label = {}
    for cell, ward, borough in zip(cells, wards, boroughs):
        near = ", ".join(namer.near([cell]))
        label[cell] = (near or (f"no named place within 200 m ({ward})" if ward else "no named place within 200 m"),
                       ward, borough)
    e = e.assign(place=e.cell.map(lambda c: label[c][0]), ward=e.cell.map(lambda c: label[c][1]),
                 borough=e.cell.map(lambda c: label[c][2]))
    per = (e.groupby(["place", "ward", "borough"])
           .agg(episodes=("episode_id", "count"), children=("person_id", "nunique"), recent=("recent", "sum"),
                cells=("cell", lambda c: dict(c.value_counts()))).reset_index())
    return per.sort_values(["episodes", "place"], ascending=[False, True]).reset_index(drop=True)


def _areas_of(store: Store, cells: list[str]) -> tuple[list[str], list[str]]:
    """The ward and borough names each cell's centre lies in ("" and "outside London" where none is held)."""
    import shapely

    centres = h3cells.centres(cells)
    points = shapely.points(centres[:, 1], centres[:, 0])
    names = {"ward": [""] * len(cells), "borough": ["outside London"] * len(cells)}
    for level in ("ward", "borough"):
        areas = store.boundaries((level,))
        if not areas:
            continue
        tree = shapely.STRtree([a["geometry"] for a in areas])
        where, which = tree.query(points, predicate="within")
        for i, j in zip(where, which):
            names[level][i] = areas[j]["name"]
    return names["ward"], names["borough"]


def found_section(store: Store, borough: str, names: dict, period: pd.DataFrame, year: pd.DataFrame) -> Section:
    """Where the borough's children were found: the places found more than once in ``year`` (marked when also in
    ``period``) and the map; the missing panel's section, carried into the Pre-MACE pack too."""
    section = Section("found", "Where children were found")
    places = found_places(store, year, recent=period.episode_id)
    if places.empty:
        section.text.append(NO_DATA)
        return section
    if set(period.episode_id) <= set(year.episode_id):  # the period within the year: its finds are counted there
        recent = set(places.place[places.recent > 0])
    else:  # a period reaching back past the year (366 days): its own places
        recent = set(found_places(store, period).place) if len(period) else set()
    section.text.append("Where the borough's children were found in the last 12 months: the named places within 200 m "
                        "of each find (hexagons about 350 m across), with their ward.")
    top = places[places.episodes >= 2].head(15)
    if len(top):
        section.blocks.append(Table("Places where children were found more than once (last 12 months)",
                                    ["place", "ward", "borough", "episodes", "children", "since the last panel"],
                                    [[p.place, p.ward, p.borough, p.episodes, p.children,
                                      "yes" if p.place in recent else ""] for p in top.itertuples()]))
    every = {}
    for cells in places.cells:
        for cell, n in cells.items():
            every[cell] = every.get(cell, 0) + n
    areas = store.boundaries(("borough",))
    outline = [b["geometry"] for b in areas if b["code"] == borough]
    colours = {cell: figures.CLASSES[3 if n >= 3 else 2 if n == 2 else 1] for cell, n in every.items()
               if _near_borough(cell, outline)}
    nearby = outline
    if colours and outline:  # the borough and its neighbours, cut to the finds and the borough (plus a margin)
        import shapely

        centres = h3cells.centres(list(colours))
        lat0, lng0, lat1, lng1 = centres[:, 0].min(), centres[:, 1].min(), centres[:, 0].max(), centres[:, 1].max()
        x0, y0, x1, y1 = outline[0].bounds
        frame = shapely.box(min(x0, lng0) - 0.005, min(y0, lat0) - 0.005, max(x1, lng1) + 0.005, max(y1, lat1) + 0.005)
        nearby = [b["geometry"].intersection(frame) for b in areas if b["geometry"].intersects(frame)]
    section.blocks.append(Figure(
        f"Where the borough's children were found (last 12 months; darker: more episodes), over "
        f"{names[borough]['name']} and its neighbours. Finds further away are in the county-lines table.",
        figures.cell_map_svg(outlines=nearby or outline, cells=colours, title="Where children were found",
                             legend=[(figures.CLASSES[1], "1 episode"), (figures.CLASSES[2], "2 episodes"),
                                     (figures.CLASSES[3], "3 or more")])))
    return section


def _near_borough(cell: str, outlines) -> bool:
    """A cell within about 3 km of the borough (so the map stays on the borough and its edges)."""
    if not outlines:
        return True
    lat, lng = h3cells.centres([cell])[0]
    from shapely.geometry import Point

    return any(geometry.distance(Point(lng, lat)) < 0.04 for geometry in outlines)


def _county_lines_section(store: Store, year: pd.DataFrame, child, far_km: float) -> Section:
    section = Section("county_lines", "County-lines indicators")
    found = county_lines_indicators(year, _referrals(store, year.person_id), far_km=far_km)
    if found.empty:
        section.text.append("No child was found outside London or far from where they went missing in the last "
                            "12 months.")
        return section
    section.text.append(f"Episodes in the last 12 months where the child was found outside London or {far_km:.0f} km "
                        "or more from where they went missing: indicators of criminal exploitation across county "
                        "lines. A child without an NRM referral is marked.")
    section.blocks.append(Table(
        "Found outside London or far from home, with the child's NRM status",
        ["episode", "child", "reported missing", "found", "NRM status"],
        [[r.episode_id, child(r.person_id), _when(r.reported_missing_at),
          ("outside London" if r.outside_london else "in London")
          + (f", {r.away_km:.0f} km away" if pd.notna(r.away_km) else ""), r.nrm] for r in found.itertuples()],
        marked=[i for i, r in enumerate(found.itertuples()) if r.nrm == "no NRM referral"], lists="child_at_risk"))
    return section


def audited_missing_panel(store: Store, borough: str, *, since, to, username: str, justification: str, key: bytes,
                          pack: Pack | None = None, **options) -> Pack:
    """``missing_panel`` with its audit: a ``combination`` of personal data naming every child in it (by keyed
    pseudonyms), with the reason. ``pack``: the same panel made already (handing it out again is audited too)."""
    from ..reports.packs import audited_pack

    return audited_pack(store, "missing panel", borough, username=username, justification=justification, key=key,
                        pack=pack, make=lambda: missing_panel(store, borough, since=since, to=to, made_by=username,
                                                              **options))
