"""Disproportionality: who is in each cohort, against the borough's children.

For one borough and window, four cohorts of children (the MACE cohort, children missing, children arrested or
searched, children in care) are compared with the borough's under-18 population (the ``population_baseline``
layer) by ethnicity, sex and age band. For each group: the cohort's count and share, the baseline's count and share,
the **relative rate** (cohort share / baseline share) and its 95% confidence interval.

Method (``docs/panels.md``): the interval is Katz's log interval for a ratio of two independent proportions,
``exp(log RR ± 1.96 · sqrt(1/a − 1/n + 1/c − 1/m))`` for ``a`` of ``n`` in the cohort and ``c`` of ``m`` in the
baseline; the baseline's own sampling variance (``1/c − 1/m``) is included because its counts are given. Caveats:
the cohort's children are also counted in the baseline (negligible when the cohort is a small part of it); children
whose group is not recorded stay in the cohort's denominator (so a rate is conservative where recording is
incomplete: the "not recorded" row says how much); age is the age at the window's start, compared with the baseline's
children of the same ages (10-17).

Small numbers are shown as everywhere in the project (``reports.packs.shown_count``): below 10 reads "<10", the
rest are rounded to the nearest 5; a hidden cell's share and rate are not shown. So that no total or difference
reveals a hidden count, more cells are hidden (the smallest first) until the hidden cells of a table hold 10 or more
children between them, or all are hidden.

"Risks to" beside "risks from": a child recorded by the police as a suspect, or arrested, with no safeguarding
referral within ``suspect_referral_days`` of the contact is a child to protect, and is shown with the harm they face
beside what they are suspected of. Children only: adults who pose risk never appear in these lists.
"""

from __future__ import annotations

import dataclasses
import math
from datetime import date
from pathlib import Path

import pandas as pd

from ..errors import GeoserviceError
from ..reports.packs import SMALL, SUPPRESS_BELOW, shown_count

__all__ = ["COHORTS", "DIMENSIONS", "AGE_BANDS", "Z95", "DisproportionalityError", "StopSearchDemographicsMissing",
           "RelativeRate", "relative_rate", "age_band", "hidden_cells", "dimension_table", "cohorts",
           "disproportionality", "suspects_without_referral", "children_to_protect", "stop_search_under_18",
           "table_rows"]

CHILD = "child_at_risk"
#: The cohorts compared, in order, with the words their tables are titled with.
COHORTS = {"mace": "Children known to MACE", "missing": "Children missing in the period",
           "arrested_or_searched": "Children arrested or searched in the period",
           "looked_after": "Children in care (looked after) known to MACE"}
DIMENSIONS = ("ethnicity", "sex", "age")
#: Age bands (inclusive), for ages at the window's start.
AGE_BANDS = (("10-13", 10, 13), ("14-15", 14, 15), ("16-17", 16, 17))
OTHER_AGES = "other ages or not recorded"
NOT_RECORDED = "not recorded"
LABELS = {"ethnicity": {"asian": "Asian", "black": "Black", "mixed": "Mixed", "white": "White",
                        "other": "Other ethnic group"},
          "sex": {"female": "Female", "male": "Male", "other": "Other"}}
#: The two-sided 95% normal quantile.
Z95 = 1.959963984540054
SUSPECTED = ("suspect", "arrested")
SEARCHED_OR_ARRESTED = ("arrested", "searched")


class DisproportionalityError(GeoserviceError, ValueError):
    """A comparison that cannot be made as asked (a window running backwards, counts that cannot be)."""


class StopSearchDemographicsMissing(GeoserviceError, ValueError):
    """A stop-and-search file without the columns that say who was searched: no shares are given, none guessed."""


# the statistic -------------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class RelativeRate:
    """``rate`` = (a/n) / (c/m); ``low``, ``high``: its 95% Katz log interval (None when a count is 0, where the
    logarithm is undefined); ``rate`` is None when the baseline has none of the group."""

    rate: float | None
    low: float | None
    high: float | None


def relative_rate(count: int, total: int, baseline_count: int, baseline_total: int, *, z: float = Z95) -> RelativeRate:
    """The cohort's share of a group over the baseline's share, with Katz's log interval (baseline variance in)."""
    for name, part, whole in (("count", count, total), ("baseline_count", baseline_count, baseline_total)):
        if not 0 <= part <= whole or whole <= 0:
            raise DisproportionalityError(f"{name} must be 0 to its total (which must be positive); got {part} of "
                                          f"{whole}")
    if baseline_count == 0:
        return RelativeRate(None, None, None)
    rate = (count / total) / (baseline_count / baseline_total)
    if count == 0:
        return RelativeRate(0.0, None, None)
    se = math.sqrt(1 / count - 1 / total + 1 / baseline_count - 1 / baseline_total)
    return RelativeRate(rate, rate * math.exp(-z * se), rate * math.exp(z * se))


# cohorts -------------------------------------------------------------------------------------------------------
def age_band(birth_month, on: date) -> str:
    """The band of a child's age on ``on`` (birth taken as the 1st of the month), or OTHER_AGES."""
    try:
        year, month = (int(part) for part in str(birth_month)[:7].split("-"))
    except ValueError:
        return OTHER_AGES
    age = on.year - year - (1 if on.month < month else 0)
    return next((name for name, low, high in AGE_BANDS if low <= age <= high), OTHER_AGES)


def _window(since, to) -> tuple[date, date]:
    try:
        since, to = pd.Timestamp(since).date(), pd.Timestamp(to).date()
    except (TypeError, ValueError):
        raise DisproportionalityError(f"since and to must be dates, YYYY-MM-DD; got {since!r} and {to!r}") from None
    if since >= to:
        raise DisproportionalityError(f"the window must run forwards: since {since} to {to}")
    return since, to


def _dated(frame: pd.DataFrame, column: str, since: date, to: date) -> pd.DataFrame:
    when = pd.to_datetime(frame[column], utc=True, errors="coerce").dt.tz_localize(None)
    return frame[(when >= pd.Timestamp(since)) & (when < pd.Timestamp(to))]


def cohorts(people: pd.DataFrame, episodes: pd.DataFrame, contacts: pd.DataFrame, *, borough: str, since,
            to) -> dict[str, pd.DataFrame]:
    """Each cohort's children of ``borough`` (one row each: person_id, ethnicity, sex, age) for [since, to).

    MACE: children at risk first recorded before ``to``; missing: with an episode reported in the window; arrested
    or searched: with such a police contact recorded in the window; in care: the MACE cohort's looked-after
    children."""
    since, to = _window(since, to)
    children = people[(people.subject_category == CHILD) & (people.home_borough == borough)]
    recorded = pd.to_datetime(children.recorded_on, errors="coerce")
    mace = children[recorded < pd.Timestamp(to)]
    missing = set(_dated(episodes, "reported_missing_at", since, to).person_id)
    stopped = set(_dated(contacts[contacts.kind.isin(SEARCHED_OR_ARRESTED)], "recorded_on", since, to).person_id)
    chosen = {"mace": mace, "missing": mace[mace.person_id.isin(missing)],
              "arrested_or_searched": mace[mace.person_id.isin(stopped)],
              "looked_after": mace[mace.care_status == "looked_after"]}
    return {name: pd.DataFrame({"person_id": c.person_id.to_numpy(), "ethnicity": c.ethnicity.to_numpy(),
                                "sex": c.sex.to_numpy(),
                                "age": [age_band(b, since) for b in c.birth_month]}) for name, c in chosen.items()}


# one table -----------------------------------------------------------------------------------------------------
def hidden_cells(counts: dict[str, int]) -> set[str]:
    """Cells not shown: those below SUPPRESS_BELOW, then the smallest others until the hidden cells hold at least
    SUPPRESS_BELOW between them (or all are hidden), so that the total less the shown cells reveals no small count."""
    hidden = {k for k, n in counts.items() if n < SUPPRESS_BELOW}
    shown = sorted((n, k) for k, n in counts.items() if k not in hidden)
    while hidden and shown and sum(counts[k] for k in hidden) < SUPPRESS_BELOW:
        hidden.add(shown.pop(0)[1])
    return hidden


def _baseline_of(baseline: pd.DataFrame, dimension: str) -> dict[str, int]:
    rows = baseline[baseline.dimension == dimension]
    counts = rows.groupby("category").children.sum().astype(int).to_dict()
    if dimension != "age":
        return counts
    banded: dict[str, int] = {}
    for category, n in counts.items():
        try:
            age = int(category)
        except ValueError:
            continue
        band = next((name for name, low, high in AGE_BANDS if low <= age <= high), None)
        if band:
            banded[band] = banded.get(band, 0) + n
    return banded


def dimension_table(values: pd.Series, baseline: dict[str, int], *, dimension: str) -> list[dict]:
    """Exact figures of one cohort by one dimension: a row per group (the baseline's groups in order, then groups
    not in the baseline), each with count, share, baseline count and share, relative rate and interval."""
    total = len(values)
    baseline_total = sum(baseline.values())
    if dimension == "age":
        order = [name for name, _, _ in AGE_BANDS]
    else:
        order = [c for c in LABELS.get(dimension, {}) if c in baseline] + sorted(set(baseline) - set(LABELS.get(
            dimension, {})))
    counts = values.value_counts().astype(int).to_dict()
    extra = sorted(set(counts) - set(order), key=lambda c: (c in ("not_known", ""), str(c)))
    rows = []
    for category in order + extra:
        n = counts.get(category, 0)
        b = baseline.get(category)
        comparable = b is not None and baseline_total > 0 and total > 0
        rate = relative_rate(n, total, b, baseline_total) if comparable else RelativeRate(None, None, None)
        rows.append({"category": category, "label": _label(dimension, category), "count": n,
                     "share": n / total if total else None, "baseline": b,
                     "baseline_share": b / baseline_total if comparable else None,
                     "rate": rate.rate, "low": rate.low, "high": rate.high})
    return rows


def _label(dimension: str, category: str) -> str:
    if category in ("not_known", "", None):
        return NOT_RECORDED
    return LABELS.get(dimension, {}).get(category, category)


def table_rows(rows: list[dict]) -> tuple[list[list[str]], str]:
    """The rows as shown (suppressed and rounded) and the total as shown."""
    counts = {r["category"]: r["count"] for r in rows}
    total = sum(counts.values())
    hidden = set(counts) if total < SUPPRESS_BELOW else hidden_cells(counts)
    shown = []
    for r in rows:
        secret = r["category"] in hidden
        baseline = "" if r["baseline"] is None else f"{r['baseline']:,}"
        baseline_share = "" if r["baseline_share"] is None else f"{100 * r['baseline_share']:.1f}%"
        if secret:
            count = SMALL if r["count"] < SUPPRESS_BELOW else "not shown"
            share = rate = interval = "not shown"
        else:
            count = shown_count(r["count"])
            share = f"{100 * r['share']:.1f}%"
            rate = "no baseline" if r["rate"] is None else f"{r['rate']:.2f}"
            interval = "" if r["low"] is None else f"{r['low']:.2f} to {r['high']:.2f}"
        shown.append([r["label"], count, share, baseline, baseline_share, rate, interval])
    return shown, shown_count(total)


COLUMNS = ("group", "children", "share", "borough's children", "share of borough's children", "relative rate",
           "95% interval")


@dataclasses.dataclass
class Table:
    """One cohort by one dimension, as shown: ``title`` says what the rows are; ``total`` is shown like the
    counts; ``exact`` keeps the unsuppressed figures for tests and never leaves the library's caller."""

    cohort: str
    dimension: str
    title: str
    columns: tuple
    rows: list[list[str]]
    total: str
    exact: list[dict] = dataclasses.field(repr=False)


@dataclasses.dataclass
class Result:
    """The disproportionality tables of one borough and window, with the method and the notes a reader needs."""

    borough: str
    borough_name: str
    since: date
    to: date
    tables: list[Table]
    notes: list[str]
    baseline_source: str


def disproportionality(people: pd.DataFrame, episodes: pd.DataFrame, contacts: pd.DataFrame,
                       baseline: pd.DataFrame, *, borough: str, since, to, borough_name: str | None = None) -> Result:
    """Every cohort by every dimension for [since, to), against ``borough``'s rows of the baseline."""
    since, to = _window(since, to)
    name = borough_name or borough
    ours = baseline[baseline.borough == borough] if len(baseline) else baseline
    groups = cohorts(people, episodes, contacts, borough=borough, since=since, to=to)
    tables = []
    for cohort, frame in groups.items():
        for dimension in DIMENSIONS:
            exact = dimension_table(frame[dimension], _baseline_of(ours, dimension) if len(ours) else {},
                                    dimension=dimension)
            rows, total = table_rows(exact)
            against = "ages 10-17" if dimension == "age" else "all under-18s"
            title = (f"{COHORTS[cohort]} by {'age band' if dimension == 'age' else dimension}, {name}, "
                     f"{since:%d %b %Y} to {to - pd.Timedelta(days=1):%d %b %Y}, against {name}'s children "
                     f"({against})")
            tables.append(Table(cohort, dimension, title, COLUMNS, rows, total, exact))
    sources = sorted(set(ours.source)) if len(ours) else []
    notes = [f"Counts below {SUPPRESS_BELOW} read '{SMALL}' and the rest are rounded to the nearest 5; so that no "
             "total or difference reveals a small count, further cells are hidden ('not shown') until the hidden "
             f"cells of a table hold {SUPPRESS_BELOW} or more children. Shares, relative rates and intervals are "
             "worked from the exact counts (a rate of rounded counts would be wrong), so a share can differ a little "
             "from the shown count over the shown total.",
             "Relative rate: the cohort's share of a group over the group's share of the borough's children; 1 is "
             "proportionate. 95% interval: Katz's log interval for a ratio of two proportions, with the baseline's "
             "own sampling variance. Children whose group is not recorded stay in the cohort's denominator.",
             "Age is the age at the window's start, compared with the borough's children aged 10-17."]
    if not sources:
        notes.append(f"No under-18 baseline is loaded for {name}: load the population_baseline layer (for example "
                     "ONS Census 2021 tables for the borough) to see relative rates.")
    return Result(borough, name, since, to, tables, notes, ", ".join(sources) or "none loaded")


def _layer(store, layer: str, columns: list[str]) -> pd.DataFrame:
    """A layer's columns, or an empty frame with them when the layer is not declared."""
    if layer not in store.specs:
        return pd.DataFrame(columns=columns)
    return store.read_layer(layer, columns)


def from_store(store, borough: str, *, since, to, days: int | None = None, today: date | None = None) -> dict:
    """The disproportionality tables and the children to protect for ``borough`` and [since, to), from a store.

    The window must have ended (``to`` no later than ``today``), so that the numbers shown do not change under the
    reader as records arrive. Returns ``result`` (aggregate tables), ``children`` (children to protect: person
    level), ``waiting`` (how many children's referral windows are still open) and ``days``."""
    from ..config import default
    from ..places import borough_names

    since, to = _window(since, to)
    today = today or date.today()
    if to > today:
        raise DisproportionalityError(f"the window must have ended: to is {to}, after today ({today}); aggregate "
                                      "figures are made for ended periods only, so they do not change under the reader")
    names = borough_names(store)
    if borough not in names:
        raise DisproportionalityError(f"unknown borough {borough!r}: give the GSS code of a loaded borough such as "
                                      f"{', '.join(sorted(names)[:3]) or 'E09000024'}")
    days = default("suspect_referral_days") if days is None else days
    people = _layer(store, "people", ["person_id", "subject_category", "birth_month", "sex", "ethnicity",
                                      "care_status", "home_borough", "recorded_on"])
    episodes = _layer(store, "missing_episodes", ["episode_id", "person_id", "reported_missing_at"])
    contacts = _layer(store, "police_contacts", ["contact_id", "person_id", "kind", "recorded_on", "offence_group"])
    baseline = _layer(store, "population_baseline", ["borough", "dimension", "category", "children", "source"])
    referrals = _layer(store, "safeguarding_referrals", ["referral_id", "person_id", "kind", "referred_on"])
    associations = _layer(store, "associations", ["person_a", "person_b", "expires_on"])
    associations = associations[pd.to_datetime(associations.expires_on, errors="coerce") >= pd.Timestamp(to)] \
        if len(associations) else associations
    result = disproportionality(people, episodes, contacts, baseline, borough=borough, since=since, to=to,
                                borough_name=names[borough])
    ours = set(people.person_id[(people.subject_category == CHILD) & (people.home_borough == borough)])
    flagged = suspects_without_referral(contacts[contacts.person_id.isin(ours)], referrals, since=since, to=to,
                                        days=days)
    children = children_to_protect(flagged, people=people, contacts=contacts, episodes=episodes,
                                   associations=associations, to=to, days=days)
    return {"result": result, "children": children, "waiting": int((flagged.status == "waiting").sum()),
            "days": days}


# risks to, beside risks from ------------------------------------------------------------------------------------
def suspects_without_referral(contacts: pd.DataFrame, referrals: pd.DataFrame, *, since, to, days: int,
                              as_of=None) -> pd.DataFrame:
    """Children recorded as a suspect or arrested in [since, to) with no safeguarding referral (any kind) within
    ``days`` either side of the contact, judged on ``as_of`` (default ``to``): a contact whose ``days`` after it
    have not all passed by then is 'waiting' rather than flagged. One row per child: person_id, status
    ('flagged' or 'waiting'), first (the earliest contact without a referral) and contacts (how many)."""
    since, to = _window(since, to)
    as_of = pd.Timestamp(as_of if as_of is not None else to)
    if days < 1:
        raise DisproportionalityError(f"days must be 1 or more, got {days}")
    suspected = _dated(contacts[contacts.kind.isin(SUSPECTED)], "recorded_on", since, to)
    referred = pd.to_datetime(referrals.referred_on, errors="coerce") if len(referrals) else pd.Series(dtype=object)
    by_child = {p: referred[g.index] for p, g in referrals.groupby("person_id")} if len(referrals) else {}
    window = pd.Timedelta(days=days)
    out: dict[str, dict] = {}
    for row in suspected.itertuples():
        when = pd.Timestamp(row.recorded_on)
        dates = by_child.get(row.person_id)
        if dates is not None and ((dates - when).abs() <= window).any():
            continue
        status = "flagged" if when + window < as_of else "waiting"
        entry = out.setdefault(row.person_id, {"person_id": row.person_id, "status": status, "first": when,
                                               "contacts": 0})
        entry["contacts"] += 1
        entry["first"] = min(entry["first"], when)
        if status == "flagged":
            entry["status"] = "flagged"
    return pd.DataFrame(list(out.values()), columns=["person_id", "status", "first", "contacts"])


def children_to_protect(flagged: pd.DataFrame, *, people: pd.DataFrame, contacts: pd.DataFrame,
                        episodes: pd.DataFrame, associations: pd.DataFrame, to, days: int) -> list[dict]:
    """Each flagged child as a child to protect: the harm they face (recorded as a victim, missing episodes in the
    year before ``to``, links to adults who pose risk, in care) beside what they are suspected of."""
    to = pd.Timestamp(to)
    year_before = (to - pd.DateOffset(years=1)).date()
    adults = set(people.person_id[people.subject_category == "adult_posing_risk"])
    info = people.set_index("person_id")
    out = []
    for row in flagged[flagged.status == "flagged"].sort_values("first").itertuples():
        child = row.person_id
        theirs = contacts[contacts.person_id == child]
        suspected = _dated(theirs[theirs.kind.isin(SUSPECTED)], "recorded_on", year_before, to.date())
        harmed = _dated(theirs[theirs.kind == "victim"], "recorded_on", year_before, to.date())
        missing = _dated(episodes[episodes.person_id == child], "reported_missing_at", year_before, to.date())
        links = associations[((associations.person_a == child) & associations.person_b.isin(adults))
                             | ((associations.person_b == child) & associations.person_a.isin(adults))]
        risks_to = [f"recorded as a victim of {r.offence_group or 'an offence'} on "
                    f"{pd.Timestamp(r.recorded_on):%Y-%m-%d}" for r in harmed.sort_values("recorded_on").itertuples()]
        if len(missing):
            risks_to.append(f"missing {len(missing)} time{'s' if len(missing) != 1 else ''} in the year")
        if len(links):
            others = len((set(links.person_a) | set(links.person_b)) - {child})
            risks_to.append(f"evidenced links to {others} adult{'s' if others != 1 else ''} who "
                            f"pose{'' if others != 1 else 's'} risk")
        if child in info.index and info.loc[child, "care_status"] == "looked_after":
            risks_to.append("in care (looked after)")
        risks_from = [f"{r.kind.replace('suspect', 'recorded as a suspect')} ({r.offence_group or 'not given'}) on "
                      f"{pd.Timestamp(r.recorded_on):%Y-%m-%d}"
                      for r in suspected.sort_values("recorded_on").itertuples()]
        home = info.loc[child, "home_borough"] if child in info.index else ""
        out.append({"person_id": child, "home_borough": home,
                    "risks_to": risks_to or ["no harm recorded yet: find out what this child is exposed to"],
                    "risks_from": risks_from,
                    "why_flagged": f"no safeguarding referral within {days} days of {row.first:%Y-%m-%d}"})
    return out


# real stop-and-search files -------------------------------------------------------------------------------------
STOP_SEARCH_COLUMNS = ("Age range", "Gender")
STOP_SEARCH_ETHNICITY = ("Officer-defined ethnicity", "Self-defined ethnicity")
UNDER_18 = ("under 10", "10-17")
POLICE_ETHNICITY = {"white": "white", "black": "black", "asian": "asian", "mixed": "mixed", "other": "other"}


def _police_ethnicity(officer: str, self_defined: str) -> str:
    """police.uk ethnicity to the people layer's groups: officer-defined ('Black'), else the self-defined group's
    first word ('Black/African/Caribbean/Black British - ...', 'Other ethnic group - Not stated')."""
    for value in (officer, self_defined):
        value = (value or "").strip().lower()
        if not value or "not stated" in value:
            continue
        key = value.split("/")[0].split(" ")[0]
        if key in POLICE_ETHNICITY:
            return POLICE_ETHNICITY[key]
    return "not_known"


def stop_search_under_18(source, *, borough: str | None = None, baseline: pd.DataFrame | None = None) -> dict:
    """Under-18 stop-and-search records of a police.uk file (path or DataFrame in the police.uk layout) by
    ethnicity and sex, against ``baseline`` rows of the borough when given.

    Records, not children: one child searched twice counts twice. Raises StopSearchDemographicsMissing, naming the
    columns, when the file has no ``Age range``/``Gender`` or neither ethnicity column: nothing is guessed."""
    name = Path(source).name if not isinstance(source, pd.DataFrame) else "the stop-and-search table"
    frame = source if isinstance(source, pd.DataFrame) else pd.read_csv(source, dtype=str, keep_default_na=False)
    missing = [c for c in STOP_SEARCH_COLUMNS if c not in frame.columns]
    if not any(c in frame.columns for c in STOP_SEARCH_ETHNICITY):
        missing.append(" or ".join(STOP_SEARCH_ETHNICITY))
    if missing:
        raise StopSearchDemographicsMissing(
            f"{name} carries no demographics: it has no {', '.join(missing)} column, so no under-18 shares can be "
            "given and none are guessed. Download police.uk stop-and-search files with their demographic columns "
            "(data.police.uk 'Stop and search' CSVs) to compare them.")
    if borough is not None:
        if "borough_code" not in frame.columns:
            raise DisproportionalityError(f"{name} has no borough_code column to choose {borough} by: give the "
                                          "borough's own rows, or no borough")
        frame = frame[frame.borough_code == borough]
    young = frame[frame["Age range"].str.strip().str.lower().isin(UNDER_18)]
    officer = young.get("Officer-defined ethnicity", pd.Series("", index=young.index))
    self_defined = young.get("Self-defined ethnicity", pd.Series("", index=young.index))
    values = {"ethnicity": pd.Series([_police_ethnicity(o, s) for o, s in zip(officer, self_defined)], dtype=object),
              "sex": young["Gender"].str.strip().str.lower().replace({"": "not_known"}).reset_index(drop=True)}
    ours = baseline if baseline is not None else pd.DataFrame(columns=["dimension", "category", "children"])
    tables = {}
    for dimension, series in values.items():
        exact = dimension_table(series, _baseline_of(ours, dimension), dimension=dimension)
        rows, total = table_rows(exact)
        tables[dimension] = {"title": f"Under-18 stop and search records by {dimension} ({name})",
                             "rows": rows, "total": total, "exact": exact}
    return {"records": len(frame), "under_18": len(young), "tables": tables,
            "note": "Records, not children: a child searched twice counts twice."}
