"""A child's timeline for case discussion: missing episodes, incidents the evidence names, and new evidenced links
in date order, and whether things are escalating.

Escalation looks at the last ``window_days`` (90 by default) up to the panel's day, ``as_of``, and at the window
before it. Each rule that fires gives one reason in plain words, starting with its name, with the records behind
it (episode ids and dates, evidence ids, gradings). The rules, as a MACE panel would put them:

- **repeat missing**: the child went missing 3 or more times in the window (the London repeat-missing threshold);
- **red-graded**: a missing episode in the window was graded red (high risk);
- **found outside London**: found outside London, or 40 km or more from where they went missing, in the window:
  a county lines indicator, a sign the child may be exploited away from home;
- **found in another borough**: found in a London borough other than their home borough, in the window;
- **new link to an adult who poses risk**: the first evidence linking the child to an adult who poses risk is
  dated in the window;
- **new link to a child already flagged**: the first evidence linking the child to a child the panel already
  has concerns about (``flagged``) is dated in the window, other than being at the same school or siblings: both
  may be at risk together;
- **more events**: more missing episodes and incidents in the window than in the window before, and at least 3;
- **more serious**: a missing episode in the window graded worse (green < amber < red) than any earlier one, and
  at least amber;
- **more frequent**: 3 or more missing episodes in the window, at most half as far apart on average as they were
  in the window before.

A find counts only once the child was found by ``as_of``; evidence dated after ``as_of`` is not yet known. The
reasons describe risk to the child. An association alone never makes a child a suspect: nothing here says what a
child did, and being named in an incident is not guilt.
"""

from __future__ import annotations

import networkx as nx
import pandas as pd

from ..places import borough_names, distance_km
from ..store.db import Store
from .build import ADULT, CHILD, NetworkInputError

RISK = {"green": 1, "amber": 2, "red": 3}
REPEAT_MISSING = 3  # episodes in the window
FAR_KM = 40.0  # found this far from where they went missing counts as far from home (as the linkage report)
PLAIN_TYPE = {"reported_association": "reported association", "co_offending": "named together in an incident",
              "co_victim": "harmed together", "missing_together": "missing together", "sibling": "siblings",
              "school": "same school", "online": "online contact"}
QUIET_TYPES = ("school", "sibling")  # links that say nothing about shared risk (new-link-to-a-flagged-child rule)
COLUMNS = ["date", "kind", "detail", "risk", "record", "other", "other_category", "link_type", "grading", "found_at",
           "found_borough", "found_borough_name", "found_outside_london", "away_km", "home_borough",
           "home_borough_name"]
_EPISODE_COLUMNS = ["episode_id", "person_id", "reported_missing_at", "found_at", "risk_grade", "found_borough",
                    "found_lat", "found_lng", "missing_from_lat", "missing_from_lng"]


def _naive(value) -> pd.Timestamp:
    """A timestamp without a time zone (UTC), so store values and panel days compare."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return pd.NaT
    stamp = pd.Timestamp(value)
    return stamp.tz_convert("UTC").tz_localize(None) if stamp.tzinfo is not None else stamp


def child_timeline(store: Store, graph: nx.Graph, person: str) -> pd.DataFrame:
    """Events about ``person``: ``date``, ``kind`` (missing / link / incident), ``detail``, ``risk``, ``record``.

    The rules of ``escalation`` also use: ``other`` and ``other_category`` (the person a link is with, and whether
    a child or an adult who poses risk), ``link_type`` and ``grading`` (3x5x2), ``found_at``, ``found_borough``,
    ``found_outside_london`` and ``away_km`` (how far from where they went missing), and ``home_borough`` (the
    child's, from the graph), with the boroughs' names in ``found_borough_name`` and ``home_borough_name``."""
    if person not in graph:
        raise NetworkInputError(f"{person!r} is not in the network")
    episodes = store.read_layer("missing_episodes", _EPISODE_COLUMNS, equals={"person_id": person})
    return _timeline(graph, person, episodes, _incidents_named(store, graph, [person]), borough_names(store))


def child_timelines(store: Store, graph: nx.Graph, people, *, episodes: pd.DataFrame | None = None
                    ) -> dict[str, pd.DataFrame]:
    """``child_timeline`` for each of ``people``, reading the store once for all of them (``episodes``: their
    missing episodes read already)."""
    people = [p for p in people if p in graph]
    if episodes is None:
        episodes = store.read_layer("missing_episodes", _EPISODE_COLUMNS, among={"person_id": people})
    incidents = _incidents_named(store, graph, people)
    by_person = dict(tuple(episodes.groupby("person_id"))) if len(episodes) else {}
    empty = episodes.iloc[0:0]
    names = borough_names(store)
    return {p: _timeline(graph, p, by_person.get(p, empty), incidents, names) for p in people}


def _incidents_named(store: Store, graph: nx.Graph, people) -> dict:
    records = sorted({item["source_record"] for person in people for other in graph.neighbors(person)
                      for item in graph.edges[person, other]["evidence"]
                      if item["source_layer"] == "incidents" and item["source_record"]})
    if not records:
        return {}
    incidents = store.read_layer("incidents", ["crime_id", "crime_type", "location_borough"],
                                 among={"crime_id": records}).drop_duplicates("crime_id")
    return {i.crime_id: i for i in incidents.itertuples()}


def _timeline(graph: nx.Graph, person: str, episodes: pd.DataFrame, incidents: dict, names: dict) -> pd.DataFrame:
    home = graph.nodes[person].get("home_borough") or None
    home_name = names.get(home, home)
    rows = []
    for e in episodes.itertuples():
        found = _naive(e.found_at)
        outside = bool(pd.notna(found) and not e.found_borough)
        away = (float(distance_km(e.found_lat, e.found_lng, e.missing_from_lat, e.missing_from_lng))
                if pd.notna(found) and pd.notna(e.found_lat) and pd.notna(e.missing_from_lat) else None)
        rows.append({"date": _naive(e.reported_missing_at), "kind": "missing", "risk": e.risk_grade,
                     "detail": f"missing ({e.risk_grade}); found " + (f"in {e.found_borough}" if e.found_borough
                                                                        else "outside London" if pd.notna(found)
                                                                        else "—"),
                     "record": e.episode_id, "found_at": found, "found_borough": e.found_borough or None,
                     "found_borough_name": names.get(e.found_borough, e.found_borough) or None,
                     "found_outside_london": outside, "away_km": away, "home_borough": home,
                     "home_borough_name": home_name})
    named = {}  # incidents the evidence names (co-involvement): one event per incident, dated by its evidence
    for other in graph.neighbors(person):
        category = graph.nodes[other].get("subject_category")
        for item in graph.edges[person, other]["evidence"]:
            rows.append({"date": pd.Timestamp(item["evidence_date"]), "kind": "link", "risk": None,
                         "detail": f"{item['type']} with {other} ({item['grading']}, {item['source_layer']})",
                         "record": item["association_id"], "other": other, "other_category": category,
                         "link_type": item["type"], "grading": item["grading"], "home_borough": home})
            if item["source_layer"] == "incidents" and item["source_record"]:
                named.setdefault(item["source_record"], (pd.Timestamp(item["evidence_date"]), set()))[1].add(other)
    for crime_id, (when, others) in named.items():
        incident = incidents.get(crime_id)
        if incident is None:
            continue
        rows.append({"date": when, "kind": "incident", "risk": None, "record": crime_id, "home_borough": home,
                     "detail": f"{incident.crime_type} in {incident.location_borough or 'outside London'} "
                               f"(with {', '.join(sorted(others))}); involvement is not guilt"})
    frame = pd.DataFrame(rows, columns=COLUMNS)
    return frame.sort_values(["date", "record"]).reset_index(drop=True)


def _known(value) -> bool:
    return value is not None and not (not isinstance(value, str) and pd.isna(value))


def _episodes(rows) -> str:
    return ", ".join(f"{r['record']} on {r['date']:%Y-%m-%d}" for r in rows)


def _link(row) -> str:
    kind = str(row.get("link_type") or "link")
    return (f"{row['other']} ({PLAIN_TYPE.get(kind, kind.replace('_', ' '))}, graded {row.get('grading')}, "
            f"{row['record']} on {row['date']:%Y-%m-%d})")


def _mean_gap_days(rows) -> float | None:
    days = [r["date"] for r in rows if r["kind"] == "missing"]
    return None if len(days) < 2 else (days[-1] - days[0]).total_seconds() / 86400 / (len(days) - 1)


def escalation(timeline: pd.DataFrame, *, as_of, window_days: int = 90, flagged=()) -> list[str]:
    """Reasons for a panel to look at this child now (empty when there are none), by the rules of the module
    docstring. ``flagged``: children the panel already has concerns about, for the new-link rule."""
    as_of = pd.Timestamp(as_of)
    start, earlier = as_of - pd.Timedelta(days=window_days), as_of - pd.Timedelta(days=2 * window_days)
    known = sorted((r for r in timeline.to_dict("records") if r["date"] <= as_of),
                   key=lambda r: (r["date"], str(r["record"])))
    recent = [r for r in known if r["date"] > start]
    if not recent:
        return []
    before = [r for r in known if earlier < r["date"] <= start]
    missing = [r for r in recent if r["kind"] == "missing"]
    window = f"the last {window_days} days"
    reasons = []
    if len(missing) >= REPEAT_MISSING:
        reasons.append(f"repeat missing: went missing {len(missing)} times in {window} ({_episodes(missing)})")
    red = [r for r in missing if r.get("risk") == "red"]
    if red:
        reasons.append(f"red-graded: {len(red)} missing episode{'s' if len(red) > 1 else ''} graded red (high risk) "
                       f"in {window} ({_episodes(red)})")
    found = [r for r in missing if _known(r.get("found_at")) and r["found_at"] <= as_of]
    far = [r for r in found if r.get("found_outside_london") is True
           or (_known(r.get("away_km")) and r["away_km"] >= FAR_KM)]
    if far:
        where = ", ".join(f"{r['record']} on {r['date']:%Y-%m-%d}, "
                          + ("outside London" if r.get("found_outside_london") is True
                             else f"in {r.get('found_borough_name') or r['found_borough']}")
                          + (f", {r['away_km']:.0f} km from where they went missing" if _known(r.get("away_km"))
                             else "") for r in far)
        reasons.append(f"found outside London: found far from home ({where}): a county lines indicator, the child "
                       "may be being exploited away from home")
    elsewhere = [r for r in found if _known(r.get("found_borough")) and _known(r.get("home_borough"))
                 and r["found_borough"] != r["home_borough"]]
    if elsewhere:
        name = lambda r, key: r.get(f"{key}_name") if _known(r.get(f"{key}_name")) else r[key]  # noqa: E731
        where = ", ".join(f"{r['record']} on {r['date']:%Y-%m-%d} in {name(r, 'found_borough')}" for r in elsewhere)
        reasons.append(f"found in another borough: found away from their home borough, "
                       f"{name(elsewhere[0], 'home_borough')} ({where})")
    first_links = {}
    for r in known:
        if r["kind"] == "link":
            first_links.setdefault(r.get("other"), r)
    new = [r for r in first_links.values() if r["date"] > start]
    adults = [r for r in new if r.get("other_category") == ADULT]
    if adults:
        reasons.append(f"new link to an adult who poses risk: first evidence in {window} linking the child to "
                       f"{'; '.join(_link(r) for r in adults)}: a risk to the child")
    peers = [r for r in new if r.get("other_category") != ADULT and r.get("other") in set(flagged)
             and r.get("link_type") not in QUIET_TYPES]
    if peers:
        reasons.append(f"new link to a child already flagged: first evidence in {window} linking the child to "
                       f"{'; '.join(_link(r) for r in peers)}, a child the panel already has concerns about: both "
                       "may be at risk together")
    events = [r for r in recent if r["kind"] in ("missing", "incident")]
    events_before = [r for r in before if r["kind"] in ("missing", "incident")]
    if len(events) > len(events_before) and len(events) >= REPEAT_MISSING:
        reasons.append(f"more events: {len(events)} missing episodes and incidents in {window} against "
                       f"{len(events_before)} in the {window_days} days before")
    grade_of = {v: k for k, v in RISK.items()}
    worst = max((RISK.get(r.get("risk"), 0) for r in missing), default=0)
    was = max((RISK.get(r.get("risk"), 0) for r in known if r["kind"] == "missing" and r["date"] <= start),
              default=0)
    if was and worst > was and worst >= RISK["amber"]:
        worst_rows = [r for r in missing if r.get("risk") == grade_of[worst]]
        article = "an" if worst == RISK["amber"] else "a"
        reasons.append(f"more serious: {article} {grade_of[worst]} missing episode in {window} "
                       f"({_episodes(worst_rows)}); {grade_of[was]} at worst before")
    gap, gap_before = _mean_gap_days(recent), _mean_gap_days(before)
    if len(missing) >= REPEAT_MISSING and gap_before is not None and gap <= gap_before / 2:
        reasons.append(f"more frequent: missing episodes closer together than before (every {gap:.0f} days on "
                       f"average in {window}, every {gap_before:.0f} days in the {window_days} days before)")
    return reasons


def _active(graph: nx.Graph, episodes: pd.DataFrame, people, *, as_of, window_days: int) -> list:
    """Those of ``people`` with a missing episode reported, or evidence dated, in the window ending on ``as_of``:
    ``escalation`` gives no reason for a child with nothing in it."""
    as_of = pd.Timestamp(as_of)
    start = as_of - pd.Timedelta(days=window_days)
    reported = episodes.reported_missing_at.map(_naive)
    active = set(episodes.person_id[(reported > start) & (reported <= as_of)])
    for person in people:
        if person not in active and any(start < pd.Timestamp(item["evidence_date"]) <= as_of
                                        for other in graph.neighbors(person)
                                        for item in graph.edges[person, other]["evidence"]):
            active.add(person)
    return [p for p in people if p in active]


def flag_children(store: Store, graph: nx.Graph, *, as_of, window_days: int = 90, people=None,
                  timelines: dict | None = None) -> dict[str, list[str]]:
    """The children (of ``people``, default every child in ``graph``) with reasons for a panel to look at them on
    ``as_of``, and their reasons. Two passes: children flagged on their own records first, then the new-link rule
    against them."""
    people = [p for p in (people if people is not None else graph.nodes)
              if p in graph and graph.nodes[p].get("subject_category") == CHILD]
    if timelines is None:  # only children with a record in the window can be flagged: only theirs are built
        episodes = store.read_layer("missing_episodes", _EPISODE_COLUMNS, among={"person_id": people})
        people = _active(graph, episodes, people, as_of=as_of, window_days=window_days)
        timelines = child_timelines(store, graph, people, episodes=episodes[episodes.person_id.isin(people)])
    first = {p: escalation(timelines[p], as_of=as_of, window_days=window_days) for p in people}
    flagged = {p for p, reasons in first.items() if reasons}
    second = {p: escalation(timelines[p], as_of=as_of, window_days=window_days, flagged=flagged - {p})
              for p in people}
    return {p: reasons for p, reasons in second.items() if reasons}
