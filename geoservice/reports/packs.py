"""MACE meeting packs: what a panel reads, for one borough and the period since its last meeting.

Two packs, each made as one self-contained offline HTML page or an A4 PDF (``write_pack``):

- **Strategic MACE** (``strategic_pack``): aggregate only. Exactly seven themes, in the order of the partnership's
  template: children and risk of being exploited; Locations; Cross-Border Working/Intel; Borough Intel; Missing
  young people; Group and Peer Mapping; Best Practice. No person is named or numbered, and every count goes
  through the youth map's rule (from 1 to 9 not shown, the rest rounded): a pack travels further than a case file.
  A theme with nothing in the period says "No data this period" and is never dropped. Each measure is shown for
  the period and the ``previous`` periods of the same length before it, so the panel sees the trend.
- **Pre-MACE** (``pre_mace_pack``): case level, for the analyst preparing the panel. The children for discussion
  (new in the period, or escalating, with what raised them), each with their network drawn, timeline, places and
  cross-borough links; the adults who pose risk linked to them in their own section (a child and an adult are
  never listed in one table: the links between them are drawn, counted under the child, and evidenced under the
  adult, where the child is referred to by their number in this pack); the peer groups; and the actions carried
  from the last panel (owner, due date, status; overdue marked). Making one is audited (``audited_pre_mace``).

Packs are functions of the store's data: the same data, dates and seed give the same pack.
"""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, timedelta, timezone

import networkx as nx
import pandas as pd

from .. import cells as h3cells
from ..attribution import attributions_for
from ..errors import GeoserviceError
from ..network.build import ADULT, CHILD, graph_from_evidence
from ..network.ego import ego_network
from ..network.groups import child_peer_groups
from ..network.identity import identified_child_groups
from ..network.places import person_places
from ..network.roles import group_summaries
from ..network.timeline import child_timelines, flag_children
from ..places import PlaceNamer, named_places, with_borough_names
from ..store.db import Store
from . import figures

#: The themes of a Strategic MACE pack, in order (the partnership's template).
STRATEGIC_THEMES = (
    ("children_at_risk", "Children and risk of being exploited"),
    ("locations", "Locations"),
    ("cross_border", "Cross-Border Working/Intel"),
    ("borough_intel", "Borough Intel"),
    ("missing", "Missing young people"),
    ("groups", "Group and Peer Mapping"),
    ("best_practice", "Best Practice"),
)
NO_DATA = "No data this period"
#: Protective markings (UK Government Security Classifications) printed on every page.
MARKINGS = {"strategic": "OFFICIAL", "pre_mace": "OFFICIAL-SENSITIVE", "missing_panel": "OFFICIAL-SENSITIVE"}
#: Small numbers, as on the youth map: from 1 to SUPPRESS_BELOW - 1 not shown, the rest rounded to ROUND_TO.
SUPPRESS_BELOW, ROUND_TO = 10, 5
SMALL = f"<{SUPPRESS_BELOW}"
#: A Pre-MACE pack discusses at most this many children (the most pressing first); the rest are listed.
MAX_CHILDREN = 12


class PackError(GeoserviceError, ValueError):
    """A pack that cannot be made as asked (unknown borough, a period running backwards)."""


# the pack's parts ----------------------------------------------------------------------------------------------
@dataclasses.dataclass
class Table:
    caption: str
    columns: list[str]
    rows: list[list]
    #: rows to mark (e.g. overdue actions), by position
    marked: list[int] = dataclasses.field(default_factory=list)
    #: which subject category the table lists people of (``child_at_risk``, ``adult_posing_risk``, or None)
    lists: str | None = None


@dataclasses.dataclass(frozen=True)
class Link:
    """A table cell that links (to a part of the pack, ``#anchor``, or a page of the service): the HTML page makes
    it a link, a PDF prints the text."""

    text: str
    href: str

    def __str__(self) -> str:
        return self.text


@dataclasses.dataclass
class Figure:
    caption: str
    svg: str


@dataclasses.dataclass
class Section:
    key: str
    title: str
    text: list[str] = dataclasses.field(default_factory=list)
    blocks: list = dataclasses.field(default_factory=list)  # Tables and Figures, in order
    level: int = 2
    anchor: str = ""

    @property
    def empty(self) -> bool:
        return not self.blocks


@dataclasses.dataclass
class Pack:
    """``kind`` (strategic / pre_mace), ``title``, ``about`` (borough, period, made at, marking, sources) and
    ``sections`` in reading order."""

    kind: str
    title: str
    about: dict
    sections: list[Section]

    def tables(self) -> list[Table]:
        return [b for s in self.sections for b in s.blocks if isinstance(b, Table)]


# small numbers -------------------------------------------------------------------------------------------------
def shown_count(n) -> str:
    """A count as the Strategic pack shows it: 0 to 9 as "<10" (so a small count and none look alike, as on the
    youth map), the rest rounded to the nearest 5."""
    n = int(n)
    if n < SUPPRESS_BELOW:
        return SMALL
    return f"{int(ROUND_TO * round(n / ROUND_TO)):,}"


def shown_share(part: int, whole: int) -> str:
    """A percentage, shown only when the whole is large enough not to disclose."""
    return f"{100 * part / whole:.0f}%" if whole >= SUPPRESS_BELOW else f"not shown ({SMALL} in all)"


# periods -------------------------------------------------------------------------------------------------------
def _day(value, what: str) -> date:
    try:
        return pd.Timestamp(value).date()
    except (ValueError, TypeError):
        raise PackError(f"{what} must be a date, YYYY-MM-DD; got {value!r}") from None


def periods(since: date, to: date, previous: int) -> list[tuple[date, date]]:
    """[since, to) and the ``previous`` periods of the same length before it, latest first. Whole calendar months
    step back by months (a quarter before a quarter), any other period by its length in days."""
    if since.day == 1 and to.day == 1:
        months = (to.year - since.year) * 12 + to.month - since.month
        back = lambda k: pd.DateOffset(months=k * months)  # noqa: E731
    else:
        back = lambda k: pd.Timedelta(days=k * (to - since).days)  # noqa: E731
    return [((pd.Timestamp(since) - back(k)).date(), (pd.Timestamp(to) - back(k)).date()) for k in range(previous + 1)]


def _period_label(start: date, end: date) -> str:
    last = end - pd.Timedelta(days=1)
    return f"{start:%d %b %Y} – {last:%d %b %Y}"


def _check(store: Store, borough: str, since, to) -> tuple[dict, date, date]:
    since, to = _day(since, "since"), _day(to, "to")
    if since >= to:
        raise PackError(f"the period must run forwards: since {since} to {to}")
    if (to - since).days > 366:
        raise PackError(f"a pack covers the time between two panels, at most a year; got {(to - since).days} days")
    names = {b["code"]: b for b in store.boundaries(("borough",))}
    if borough not in names:
        from ..config import MERTON_AND_NEIGHBOURS

        near = [f"{code} ({names[code]['name']})" for code in MERTON_AND_NEIGHBOURS if code in names][:6]
        raise PackError(f"unknown borough {borough!r}: give the GSS code of a loaded borough such as "
                        f"{', '.join(near or sorted(names)[:3]) or 'E09000024'}")
    return names, since, to


def _about(store: Store, kind: str, borough: str, names: dict, since: date, to: date, *, layers, recipient: str,
           made_by: str, as_of: date) -> dict:
    return {"kind": kind, "borough": borough, "borough_name": names[borough]["name"], "since": str(since),
            "to": str(to), "period": _period_label(since, to), "as_of": str(as_of),
            "made_at": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "made_by": made_by,
            "recipient": recipient, "marking": MARKINGS[kind],
            "attributions": attributions_for(store, set(layers) & set(store.specs))}


# strategic -----------------------------------------------------------------------------------------------------
STRATEGIC_LAYERS = ("people", "associations", "missing_episodes", "incidents", "places", "boundaries",
                    "outreach_sessions", "survey_responses", "risk_assessments")


def _trend_table(caption: str, measures: list[tuple[str, list[int]]], spans) -> Table:
    """Measures (name, one count per period, latest first) as suppressed counts, the period first."""
    columns = ["measure"] + ["this period" if k == 0 else f"{k} before" for k in range(len(spans))]
    caption += " (periods: " + "; ".join(_period_label(a, b) for a, b in spans) + ")"
    return Table(caption, columns, [[name] + [shown_count(v) for v in values] for name, values in measures])


def _children(store: Store, borough: str) -> pd.DataFrame:
    people = store.read_layer("people", ["person_id", "subject_category", "home_borough", "recorded_on"],
                              equals={"home_borough": borough})
    return people[people.subject_category == CHILD]


def _episodes(store: Store) -> pd.DataFrame:
    from ..panels.missing import typed_episodes

    return typed_episodes(store.read_layer("missing_episodes", [
        "episode_id", "person_id", "reported_missing_at", "found_at", "risk_grade", "found_borough", "notified_at",
        "rhi_offered_at", "rhi_completed_at", "pre_missing_grade", "rhi_consented", "rhi_available",
        "follow_on_intervention"]))


def _in(frame: pd.DataFrame, column: str, start: date, end: date) -> pd.DataFrame:
    when = pd.to_datetime(frame[column])
    return frame[(when >= pd.Timestamp(start)) & (when < pd.Timestamp(end))]


def strategic_pack(store: Store, borough: str, *, since, to, previous: int = 3, as_of=None, seed: int = 0,
                   made_by: str = "", recipient: str = "Strategic MACE panel") -> Pack:
    """The Strategic MACE pack of ``borough`` for [since, to): seven themes, aggregate only."""
    names, since, to = _check(store, borough, since, to)
    as_of = _day(as_of, "as_of") if as_of is not None else to
    spans = periods(since, to, previous)
    children = _children(store, borough)
    cohort = set(children.person_id)
    episodes = _episodes(store)
    episodes = episodes[episodes.person_id.isin(cohort)]
    sections = [Section(key, title) for key, title in STRATEGIC_THEMES]
    by_key = {s.key: s for s in sections}

    # 1. children and risk of being exploited
    graphs = [graph_from_evidence(store, as_of=end) for _, end in spans]
    linked, recorded, discussed = [], [], []
    for (start, end), graph in zip(spans, graphs):
        category = nx.get_node_attributes(graph, "subject_category")
        ours = [c for c in cohort if c in graph]
        linked.append(sum(1 for c in ours if any(category.get(n) == ADULT for n in graph.neighbors(c))))
        recorded.append(len(_in(children, "recorded_on", start, end)))
        discussed.append(len(flag_children(store, graph, as_of=end, people=ours)))
    measures = [("children at risk newly recorded", recorded),
                ("children with an evidenced link to an adult who poses risk", linked),
                ("children flagged for the panel by the escalation rules (docs/network.md)", discussed)]
    if any(sum(v) for _, v in measures):
        by_key["children_at_risk"].text.append(
            f"{names[borough]['name']}'s children at risk, counted, never named. Being linked to an adult who poses "
            "risk is a sign of risk to the child, not of anything the child has done.")
        by_key["children_at_risk"].blocks.append(_trend_table("Children at risk", measures, spans))
    _risk_movement(store, cohort, to, by_key["children_at_risk"])

    # 2. locations
    _locations(store, borough, names, since, to, spans, by_key["locations"])

    # 3. cross-border working
    from .linkage import linkage_report

    reports = [linkage_report(store, borough, start=a, end=b, as_of=as_of if k == 0 else b, seed=seed)
               for k, (a, b) in enumerate(spans)]
    measures = [
        ("children found or involved in incidents in another borough or outside London",
         [len(r.tables["children_elsewhere"]) for r in reports]),
        ("finds and incidents elsewhere", [len(r.tables["events_elsewhere"]) for r in reports]),
        ("peer groups spanning boroughs", [len(r.tables["cross_borough_groups"]) for r in reports]),
        ("adults who pose risk based elsewhere, linked to the borough's children",
         [len(r.tables["adults_elsewhere"]) for r in reports]),
        ("evidenced links with people of other boroughs", [len(r.tables["cross_borough_links"]) for r in reports]),
        ("county-lines destinations (finds far from home)", [len(r.tables["county_lines"]) for r in reports]),
    ]
    section = by_key["cross_border"]
    if any(sum(v) for _, v in measures):
        section.text.append("Movement and links across borough boundaries, counted (the linkage report has the "
                            "detail for those entitled to it).")
        section.blocks.append(_trend_table("Cross-border measures", measures, spans))
        movement = reports[0].tables["movement_matrix"]
        if len(movement):
            rows = [[str(i)] + [shown_count(v) for v in row] for i, row in zip(movement.index, movement.to_numpy())]
            section.blocks.append(Table("Finds and evidenced incidents this period: children's home borough (rows) "
                                        "by where it happened (columns)", ["home borough", *map(str, movement.columns)],
                                        rows))

    # 4. borough intel: police.uk street crime by type
    incidents = store.read_layer("incidents", ["crime_id", "month", "crime_type"],
                                 equals={"location_borough": borough})
    incidents["month"] = pd.to_datetime(incidents["month"])
    per_period = [_in(incidents, "month", a, b).crime_type.value_counts() for a, b in spans]
    types = sorted(set().union(*[set(p.index) for p in per_period]), key=lambda t: -per_period[0].get(t, 0))
    if len(types) and sum(int(p.sum()) for p in per_period):
        section = by_key["borough_intel"]
        section.text.append("Recorded street-level crime in the borough by type (police.uk; months are the "
                            "publication's own, so a period counts the months that start in it).")
        section.blocks.append(_trend_table("Street-level crime by type",
                                           [("all crime", [int(p.sum()) for p in per_period])] +
                                           [(t, [int(p.get(t, 0)) for p in per_period]) for t in types], spans))

    # 5. missing young people
    _missing(episodes, borough, spans, by_key["missing"])
    _found_often(store, borough, to, by_key["missing"])

    # 6. groups
    measures = {"peer groups with a child of the borough": [], "peer groups spanning boroughs": [],
                "peer groups linked to an adult who poses risk": [], "peer groups of 8 or more children": [],
                "children in peer groups": []}
    for graph in graphs:
        home = nx.get_node_attributes(graph, "home_borough")
        groups = [g for g in child_peer_groups(graph, seed=seed) if any(home.get(m) == borough for m in g)]
        summary = group_summaries(graph, groups) if groups else pd.DataFrame(
            columns=["spans_boroughs", "adults_posing_risk", "size"])
        measures["peer groups with a child of the borough"].append(len(summary))
        measures["peer groups spanning boroughs"].append(int(summary.spans_boroughs.sum()) if len(summary) else 0)
        measures["peer groups linked to an adult who poses risk"].append(
            int(summary.adults_posing_risk.map(bool).sum()) if len(summary) else 0)
        measures["peer groups of 8 or more children"].append(int((summary["size"] >= 8).sum()) if len(summary) else 0)
        measures["children in peer groups"].append(int(summary["size"].sum()) if len(summary) else 0)
    if any(sum(v) for v in measures.values()):
        by_key["groups"].text.append("Peer groups found on the evidenced links in force at the end of each period "
                                     "(children only; adults who pose risk are linked to a group, never members).")
        by_key["groups"].blocks.append(_trend_table("Peer groups", list(measures.items()), spans))

    # 7. best practice: outreach delivered
    _outreach(store, borough, spans, by_key["best_practice"])

    for section in sections:
        if section.empty:
            section.text = [NO_DATA]
    about = _about(store, "strategic", borough, names, since, to, layers=STRATEGIC_LAYERS, recipient=recipient,
                   made_by=made_by, as_of=as_of)
    about["notes"] = [f"Aggregate only: no person is named; counts below {SUPPRESS_BELOW} (none included) are shown "
                      f"as '{SMALL}' and the rest rounded to the nearest {ROUND_TO}, as on the youth map.",
                      f"Trends: this period and the {previous} periods of the same length before it."]
    return Pack("strategic", f"Strategic MACE: {names[borough]['name']}, {about['period']}", about, sections)


def _risk_movement(store: Store, cohort, to: date, section: Section) -> None:
    """The share of the cohort whose risk-matrix band fell, stayed or rose over the 3 and 6 months to the period's
    last day (``panels/risk.py``), among the children with a banded score on both days; shares only of 10 or more."""
    from ..panels.risk import band_movement, configured_bands, read_assessments

    assessments = read_assessments(store, cohort)
    if assessments.empty:
        return
    bands, last = configured_bands(store), to - pd.Timedelta(days=1)
    moves = [band_movement(assessments, as_of=last, months=months, bands=bands) for months in (3, 6)]
    if not any(m["children"] for m in moves):
        return
    section.text.append("Risk-matrix bands (docs/panels.md): of the children scored at both ends of each span, the "
                        "share whose band fell, stayed the same or rose (each child's latest score on each day).")
    section.blocks.append(Table("Risk-matrix band movement",
                                ["over", "children compared", "fell", "stayed", "rose"],
                                [[f"{m['months']} months ({m['from']:%d %b %Y} – {m['to']:%d %b %Y})",
                                  shown_count(m["children"])]
                                 + [shown_share(m[k], m["children"]) for k in ("fell", "stayed", "rose")]
                                 for m in moves]))


def _locations(store, borough, names, since, to, spans, section: Section) -> None:
    from ..maps.products import place_ranking

    ranked = place_ranking(store, boroughs=[borough], start=since, end=to)
    table = ranked["table"]
    if not table["rows"]:
        return
    section.text.append(f"The places to act on next in {names[borough]['name']}, ranked by what best forecast the "
                        "held-back months of incidents, missing-episode finds and survey concern together. "
                        + table["note"])
    columns = table["columns"]
    keep = [i for i, c in enumerate(columns) if not c.startswith("usual per month")]
    rows = []
    for row in table["rows"]:
        out = []
        for i in keep:
            value, column = row[i], columns[i]
            if column == "rank":
                value = f"#{value}"  # a position, not a count
            elif column.startswith("concern in the ") or column == "concern, last 3 months":
                value = shown_count(value)
            elif column == "expected next month":
                value = "10 or more" if float(value) >= SUPPRESS_BELOW else SMALL
            out.append(value)
        rows.append(out)
    section.blocks.append(Table("Where to act next (top places)", [columns[i] for i in keep], rows))
    bins = ranked["bins"]
    hot = {h3cells.point_to_cell(lat, lng, 9): figures.CLASSES[1] for lat, lng, _, _ in ranked["points"]}
    hot |= {cell: figures.CLASSES[min(int(b), 3)] for cell, b in bins[bins > 0].items()}
    outline = [b["geometry"] for b in store.boundaries(("borough",)) if b["code"] == borough]
    points = [(lat, lng, "#" + label.split(".", 1)[0]) for lat, lng, label, _ in ranked["points"]]
    section.blocks.append(Figure(
        "The top places, numbered as in the table (light orange: the place's hexagon), and the hot-spot cells of "
        "the concern index (Gi*; darker: more confident), within the borough's boundary.",
        figures.cell_map_svg(outlines=outline, cells=hot, points=points, title="Where to act",
                             legend=[(figures.CLASSES[1], "place to act on"),
                                     (figures.CLASSES[2], "hot spot (Gi*)")])))


def _missing(episodes: pd.DataFrame, borough: str, spans, section: Section) -> None:
    from ..panels.missing import rhi_kpis

    measures = {k: [] for k in ("missing episodes", "children who went missing", "children missing 3 or more times",
                                "red-graded episodes", "amber-graded episodes", "found in another borough",
                                "found outside London")}
    rhi = []
    for start, end in spans:
        part = _in(episodes, "reported_missing_at", start, end)
        per_child = part.person_id.value_counts()
        found = part.dropna(subset=["found_at"])
        measures["missing episodes"].append(len(part))
        measures["children who went missing"].append(int(part.person_id.nunique()))
        measures["children missing 3 or more times"].append(int((per_child >= 3).sum()))
        measures["red-graded episodes"].append(int((part.risk_grade == "red").sum()))
        measures["amber-graded episodes"].append(int((part.risk_grade == "amber").sum()))
        measures["found in another borough"].append(int(((found.found_borough.fillna("") != borough)
                                                         & (found.found_borough.fillna("") != "")).sum()))
        measures["found outside London"].append(int((found.found_borough.fillna("") == "").sum()))
        rhi.append(rhi_kpis(part))
    if not any(sum(v) for v in measures.values()):
        return
    section.text.append("Missing episodes of the borough's children reported in each period.")
    section.blocks.append(_trend_table("Missing episodes", list(measures.items()), spans))
    section.blocks.append(Table("Return home interviews (measured as the missing panel measures them)",
                                ["measure"] + ["this period" if k == 0 else f"{k} before" for k in range(len(spans))],
                                [["interviews completed"] + [shown_count(k["completed"]) for k in rhi],
                                 ["offered within 24 hours of notification"]
                                 + [shown_share(k["offered_within_24h_count"], k["notified"]) for k in rhi],
                                 ["conducted within 72 hours of the return (consented and available)"]
                                 + [shown_share(k["conducted_within_72h_count"], k["consented_and_available"])
                                    for k in rhi],
                                 ["follow-on interventions after red or amber episodes"]
                                 + [shown_count(k["follow_on_red_amber"]) for k in rhi]]))


def _found_often(store: Store, borough: str, to: date, section: Section) -> None:
    """The places where the borough's children were found 10 or more times in the 12 months to ``to`` (the missing
    panel's places; fewer finds are not shown in an aggregate pack)."""
    from ..panels.missing import borough_episodes, found_places

    episodes = borough_episodes(store, borough)
    places = found_places(store, _in(episodes, "reported_missing_at", to - timedelta(days=365), to))
    if places.empty:
        return
    often = places[places.episodes >= SUPPRESS_BELOW]
    if often.empty:
        section.text.append(f"No place was where the borough's children were found {SUPPRESS_BELOW} or more times "
                            f"in the 12 months to {to} (the missing panel lists the places found more than once).")
        return
    section.blocks.append(Table(f"Places where the borough's children were found {SUPPRESS_BELOW} or more times "
                                f"(12 months to {to})", ["place", "ward", "borough", "finds"],
                                [[p.place, p.ward, p.borough, shown_count(p.episodes)] for p in often.itertuples()]))


def _outreach(store: Store, borough: str, spans, section: Section) -> None:
    sessions = store.read_layer("outreach_sessions", ["session_id", "started_at", "young_people_reached",
                                                       "concerns_raised"], equals={"location_borough": borough})
    sessions["started_at"] = pd.to_datetime(sessions["started_at"], utc=True).dt.tz_localize(None)
    parts = [_in(sessions, "started_at", a, b) for a, b in spans]
    measures = [("outreach sessions held", [len(p) for p in parts]),
                ("young people reached", [int(pd.to_numeric(p.young_people_reached).sum()) for p in parts]),
                ("concerns raised by outreach", [int(pd.to_numeric(p.concerns_raised).fillna(0).sum())
                                                 for p in parts])]
    if not any(sum(v) for _, v in measures):
        return
    section.text.append("Detached and outreach youth work delivered in the borough: what was done, for the panel "
                        "to set beside where the need is (Locations). Practice examples are added by the panel.")
    section.blocks.append(_trend_table("Outreach delivered", measures, spans))


# pre-MACE ------------------------------------------------------------------------------------------------------
PRE_MACE_LAYERS = ("people", "associations", "missing_episodes", "incidents", "places", "boundaries", "mace_actions",
                   "risk_assessments")


def pre_mace_pack(store: Store, borough: str, *, since, to, as_of=None, seed: int = 0, made_by: str = "",
                  recipient: str = "Pre-MACE panel", max_children: int = MAX_CHILDREN) -> Pack:
    """The Pre-MACE pack of ``borough`` for [since, to): the children for discussion (the most pressing first:
    ``URGENCY``) and what is known of each."""
    names, since, to = _check(store, borough, since, to)
    as_of = _day(as_of, "as_of") if as_of is not None else to
    graph = graph_from_evidence(store, as_of=as_of)
    category = nx.get_node_attributes(graph, "subject_category")
    home = nx.get_node_attributes(graph, "home_borough")
    borough_names = {code: b["name"] for code, b in names.items()}
    children = _children(store, borough)
    episodes = _episodes(store)
    in_period = _in(episodes, "reported_missing_at", since, to)

    # who is raised, and by what
    raised: dict[str, list[str]] = {}
    for child, reasons in flag_children(store, graph, as_of=as_of, people=list(children.person_id)).items():
        raised.setdefault(child, []).extend(f"escalating: {r}" for r in reasons)
    for row in _in(children, "recorded_on", since, to).itertuples():
        raised.setdefault(row.person_id, []).append(f"new: first recorded {row.recorded_on}")
    for child in sorted(c for c in children.person_id if c in graph):
        items = [(item["evidence_date"], item["source_layer"], item["source_record"],
                  graph.nodes[o]["subject_category"])
                 for o in graph.neighbors(child) for item in graph.edges[child, o]["evidence"]]
        new_adult = [i for i in items if i[3] == ADULT and since <= pd.Timestamp(i[0]).date() < to]
        if new_adult:
            first = min(new_adult)
            raised.setdefault(child, []).append(f"new link to an adult who poses risk: {first[1]} record {first[2]}, "
                                                f"{first[0]}")
    for child, part in in_period[in_period.person_id.isin(set(children.person_id))].groupby("person_id"):
        if (part.risk_grade == "red").any():
            first = part[part.risk_grade == "red"].iloc[0]
            raised.setdefault(child, []).append(f"red-graded missing episode {first.episode_id}, "
                                                f"{first.reported_missing_at:%Y-%m-%d}")
    from ..panels.risk import band_rises, configured_bands, read_assessments

    rises = band_rises(read_assessments(store, children.person_id), since=since, to=to, bands=configured_bands(store))
    for rise in rises.itertuples():
        raised.setdefault(rise.person_id, []).append(f"risk band rose: {rise.previous_band} to {rise.band}, "
                                                     f"assessment {rise.assessment_id}, {rise.assessed_on:%Y-%m-%d}")
    # the reasons name the records; the people they name are written as what they are (the tables name them)
    raised = {c: [_without_people(r, graph, borough_names) for r in reasons] for c, reasons in raised.items()}
    pressing = sorted(raised, key=lambda c: (-_urgency(raised[c]), -len(raised[c]), c))
    discussed = pressing[:max_children]
    number = {child: i for i, child in enumerate(discussed, start=1)}

    sections = []
    overview = Section("children", "Children for discussion")
    if discussed:
        overview.text.append("Children at risk raised for this panel: new in the period, escalating, newly linked to "
                             "an adult who poses risk, with a red-graded missing episode, or whose risk band rose. "
                             "Each is a child at risk; an association never makes a child a suspect.")
        overview.blocks.append(Table(
            "Children for discussion (numbered as in this pack)", ["no.", "child", "home borough", "raised by"],
            [[number[c], c, borough_names.get(home.get(c, borough), borough), "; ".join(raised[c])]
             for c in discussed], lists=CHILD))
        if len(pressing) > len(discussed):
            overview.blocks.append(Table(f"Also raised, not discussed in full (beyond the first {max_children})",
                                         ["child", "raised by"], [[c, "; ".join(raised[c])]
                                                                  for c in pressing[max_children:]], lists=CHILD))
    else:
        overview.text.append(NO_DATA)
    sections.append(overview)

    visits = person_places(store, as_of=as_of, start=since - pd.Timedelta(days=365), end=to, graph=graph)
    namer = PlaceNamer(named_places(store))
    adults_seen: dict[str, list[tuple[str, dict]]] = {}
    timelines = child_timelines(store, graph, discussed)
    for child in discussed:
        section = Section(f"child-{number[child]}", f"Child {number[child]}: {child}", level=3,
                          anchor=f"child-{number[child]}")
        section.text.append("Raised by: " + "; ".join(raised[child]) + ".")
        if child in graph:
            ego = ego_network(graph, child, hops=2)
            adults = [n for n in graph.neighbors(child) if category.get(n) == ADULT]
            section.text.append(f"Network within two links: {len(ego.children)} other children, "
                                f"{len(ego.adults_posing_risk)} adults who pose risk ({len(adults)} linked directly; "
                                "their evidence is under Adults who pose risk).")
            section.blocks.append(Figure(f"Child {number[child]}'s network within two links (children: circles; "
                                         "adults who pose risk: squares)",
                                         figures.network_svg(ego.graph, focus=child, seed=seed,
                                                             title=f"network of child {number[child]}")))
            for adult in adults:
                adults_seen.setdefault(adult, []).extend(
                    (child, item) for item in graph.edges[child, adult]["evidence"])
            link_rows = [[o, item["type"], item["source_layer"], item["source_record"], item["evidence_date"],
                          item["grading"], item["expires_on"],
                          borough_names.get(home.get(o, ""), "outside London") if home.get(o) != home.get(child)
                          else ""]
                         for o in sorted(graph.neighbors(child)) if category.get(o) == CHILD
                         for item in graph.edges[child, o]["evidence"]]
            if link_rows:
                section.blocks.append(Table("Links with other children, with their evidence",
                                            ["child", "type", "source", "record", "date", "grade (3x5x2)", "expires",
                                             "other borough"], link_rows, lists=CHILD))
            timeline = timelines[child]
            timeline = timeline[(timeline.date >= pd.Timestamp(since) - pd.Timedelta(days=180))
                                & (timeline.date < pd.Timestamp(to))]
            rows = [[f"{r.date:%Y-%m-%d}", r.kind, _without_people(r.detail, graph, borough_names), r.risk or "",
                     r.record]
                    for r in timeline.itertuples()]
            if rows:
                section.blocks.append(Table("Timeline (the period and the six months before)",
                                            ["date", "kind", "what", "risk grade", "record"], rows))
        mine = visits[visits.person_id == child]
        if len(mine):
            named = mine.assign(place=[(namer.near([c], limit=1) or [c])[0] for c in mine.cell],
                                where=mine.borough.map(lambda b: borough_names.get(b, "outside London")))
            places = (named.groupby(["place", "where"]).agg(visits=("record", "size"), last=("date", "max"),
                                                           kinds=("kind", lambda k: ", ".join(sorted(set(k)))))
                      .reset_index().sort_values(["visits", "last"], ascending=False).head(8))
            section.blocks.append(Table("Places (where found or involved in incidents, the last year; named by the "
                                        "nearest named place)", ["place", "borough", "visits", "last", "what"],
                                        [[r.place, r.where, r.visits, str(r.last), r.kinds]
                                         for r in places.itertuples()]))
        sections.append(section)

    # adults who pose risk, on their own
    adults_section = Section("adults", "Adults who pose risk")
    if adults_seen:
        adults_section.text.append("Adults who pose risk with an evidenced link to a child discussed above. Children "
                                   "are referred to by their number in this pack.")
        adults_section.blocks.append(Table(
            "Adults who pose risk linked to the children for discussion",
            ["adult", "home borough", "children linked (pack numbers)", "evidence items", "best grade", "latest"],
            [[a, borough_names.get(home.get(a, ""), "outside London"),
              ", ".join(str(number[c]) for c in sorted({c for c, _ in items}, key=number.get)), len(items),
              min(i["grading"] for _, i in items), max(i["evidence_date"] for _, i in items)]
             for a, items in sorted(adults_seen.items())], lists=ADULT))
        adults_section.blocks.append(Table(
            "Evidence of each link between an adult who poses risk and a child discussed",
            ["adult", "with child no.", "type", "source", "record", "date", "grade (3x5x2)", "expires"],
            [[a, number[c], i["type"], i["source_layer"], i["source_record"], i["evidence_date"], i["grading"],
              i["expires_on"]] for a, items in sorted(adults_seen.items())
             for c, i in sorted(items, key=lambda ci: (number[ci[0]], ci[1]["evidence_date"]))], lists=ADULT))
    else:
        adults_section.text.append("No adult who poses risk is linked to the children for discussion.")
    sections.append(adults_section)

    # peer groups of the children discussed
    groups_section = Section("groups", "Peer groups")
    found, ids = identified_child_groups(store, graph, seed=seed)
    chosen = [(g, i) for g, i in zip(found, ids) if set(g) & set(discussed)]
    if chosen:
        summary = group_summaries(graph, [g for g, _ in chosen], since=since, visits=visits, namer=namer,
                                  ids=[i for _, i in chosen])
        groups_section.text.append("Peer groups (found on the evidenced links) holding a child for discussion. "
                                   "Adults who pose risk linked to a group are counted here and listed above.")
        groups_section.blocks.append(Table(
            "Peer groups of the children for discussion",
            ["group", "since last seen", "children", "size", "boroughs", "adults who pose risk linked", "links",
             "last evidence", "new links since the last panel", "places"],
            [[g.group, g.id_note, ", ".join(g.children), g.size, ", ".join(borough_names.get(b, b) for b in g.boroughs),
              len(g.adults_posing_risk), g.links, g.last_evidence or "", g.new_links_since,
              "; ".join(p.get("name") or p["cell"] for p in g.places)] for g in summary.itertuples()], lists=CHILD))
    else:
        groups_section.text.append(NO_DATA)
    sections.append(groups_section)

    from ..panels.missing import borough_episodes, found_section  # the missing panel's own section

    mine = borough_episodes(store, borough)
    sections.append(found_section(store, borough, names, _in(mine, "reported_missing_at", since, to),
                                  _in(mine, "reported_missing_at", to - timedelta(days=365), to)))
    sections.append(_actions(store, borough, to))
    about = _about(store, "pre_mace", borough, names, since, to, layers=PRE_MACE_LAYERS, recipient=recipient,
                   made_by=made_by, as_of=as_of)
    about["notes"] = ["Children at risk and adults who pose risk are listed apart; an association alone never makes "
                      "a child a suspect.",
                      f"Evidence in force on {as_of}; an expired link appears nowhere in this pack."]
    about["children"] = discussed
    about["adults"] = sorted(adults_seen)
    return Pack("pre_mace", f"Pre-MACE: {names[borough]['name']}, {about['period']}", about, sections)


#: How pressing each kind of reason is, for the order children are discussed in (the most serious first).
URGENCY = (("red-graded", 4), ("found outside London", 4), ("new link to an adult who poses risk", 3),
           ("risk band rose", 3),
           ("repeat missing", 2), ("new link to a child already flagged", 2), ("more serious", 2),
           ("found in another borough", 1), ("more frequent", 1), ("more events", 1), ("new: first recorded", 0.5))


def _urgency(reasons: list[str]) -> float:
    return sum(next((weight for words, weight in URGENCY if words in reason), 0.5) for reason in reasons)


def _without_people(detail: str, graph: nx.Graph, borough_names: dict) -> str:
    """A timeline line with other people's ids replaced by what they are (the links tables name them), and
    borough codes by names."""
    words = []
    for word in detail.split(" "):
        core = word.strip(",;:()")
        if core in graph:
            kind = "an adult who poses risk" if graph.nodes[core]["subject_category"] == ADULT else "another child"
            word = word.replace(core, kind)
        words.append(word)
    return with_borough_names(" ".join(words), borough_names)


ACTION_KINDS = {"child": ("Actions about children", CHILD), "adult": ("Actions about adults who pose risk", ADULT),
                "other": ("Actions about groups, places and the partnership", None)}


def _actions(store: Store, borough: str, to: date) -> Section:
    """The actions agreed at earlier panels (``mace_actions``), open ones and those closed since; children's and
    adults' apart, overdue marked."""
    section = Section("actions", "Actions carried from the last panel")
    actions = store.read_layer("mace_actions", ["action_id", "about_kind", "about_ref", "action", "owner", "agency",
                                                "raised_on", "due_on", "status"], equals={"borough": borough})
    actions = actions[pd.to_datetime(actions.raised_on) < pd.Timestamp(to)]
    if actions.empty:
        section.text.append(NO_DATA)
        return section
    actions = actions.assign(overdue=actions.status.isin(["open", "in_progress"])
                             & (pd.to_datetime(actions.due_on) < pd.Timestamp(to)))
    actions = actions.sort_values(["overdue", "due_on", "action_id"], ascending=[False, True, True])
    section.text.append(f"{len(actions)} actions agreed for {borough}; {int(actions.overdue.sum())} overdue (marked).")
    kind = actions.about_kind.where(actions.about_kind.isin(["child", "adult"]), "other")
    for name, (caption, lists) in ACTION_KINDS.items():
        part = actions[kind == name]
        if part.empty:
            continue
        rows = [[r.action_id, r.about_ref or r.about_kind, r.action, r.owner, r.agency, r.raised_on, r.due_on,
                 r.status.replace("_", " ") + (" (overdue)" if r.overdue else "")] for r in part.itertuples()]
        section.blocks.append(Table(caption, ["action", "about", "what", "owner", "agency", "raised", "due", "status"],
                                    rows, marked=[i for i, r in enumerate(part.itertuples()) if r.overdue],
                                    lists=lists))
    return section


def audited_pre_mace(store: Store, borough: str, *, since, to, username: str, justification: str, key: bytes,
                     pack: Pack | None = None, **options) -> Pack:
    """``pre_mace_pack`` with its audit: a ``combination`` of personal data naming every person in it (by keyed
    pseudonyms). ``pack``: the same pack made already (the service keeps made packs while the data is unchanged);
    handing it out again is audited all the same."""
    return audited_pack(store, "pre-mace pack", borough, username=username, justification=justification, key=key,
                        pack=pack, make=lambda: pre_mace_pack(store, borough, since=since, to=to, made_by=username,
                                                              **options))


def audited_pack(store: Store, label: str, borough: str, *, username: str, justification: str, key: bytes,
                 pack: Pack | None, make) -> Pack:
    """``pack`` (or ``make()`` when None) recorded in the audit log as a ``combination`` of personal data naming
    every person in it (``about["children"]`` and ``about["adults"]``, by keyed pseudonyms), with the reason."""
    from ..privacy.audit import person_refs, record

    if not (justification or "").strip():
        raise PackError(f"say why this {label} is made (the reason is kept in the audit log)")
    pack = make() if pack is None else pack
    people = sorted(set(pack.about.get("children", [])) | set(pack.about.get("adults", [])))
    record(store, username=username, operation="combination", justification=justification,
           objects=[f"{label}:{borough}:{pack.about['since']}..{pack.about['to']}", *person_refs(key, people)])
    return pack


def pack_format(out) -> str:
    """``html`` or ``pdf``, from the file name's extension (checked before a pack is made)."""
    from pathlib import Path

    suffix = Path(out).suffix.lower()
    if suffix in (".html", ".htm"):
        return "html"
    if suffix == ".pdf":
        return "pdf"
    raise PackError(f"cannot tell the format from {Path(out).name!r}: end the file name in .html or .pdf")


def write_pack(pack: Pack, out):
    """Write ``pack`` to ``out``: ``.html`` (one offline page) or ``.pdf`` (A4), by the file's extension."""
    from pathlib import Path

    from . import pack_render

    out = Path(out)
    if pack_format(out) == "html":
        out.write_text(pack_render.html(pack), encoding="utf-8")
    else:
        out.write_bytes(pack_render.pdf(pack))
    return out
