"""Cross-borough linkage for a MACE panel: where a borough's children are found and harmed beyond it, who links
them to other boroughs, and the signs of a county line.

One report covers a home borough and a period ``[start, end)``. It is built from the evidence dated in the period
and still in force on ``as_of`` (the day it is made: an expired link is gone from every table), and from the
missing episodes' finds and evidenced incidents dated in the period:

- ``children_elsewhere`` / ``events_elsewhere``: the borough's children found, or involved in an incident, in
  another borough or outside London; one row per child, then one per event.
- ``cross_borough_groups``: peer groups with a child of the borough that span boroughs, with the adults who pose
  risk linked to them (never as members) and the places they use.
- ``adults_elsewhere``: adults who pose risk, based in another borough, linked to the borough's children.
- ``cross_borough_links``: every evidence item between a person of the borough and a person of another.
- ``county_lines``: places far from home (outside London, or ``county_line_km`` away) where the borough's children
  were found, clustered within ``DESTINATION_RADIUS_KM``, with the indicators: repeated, several children, red
  episodes, adults who pose risk.
- ``movement_matrix`` (children's home borough × where found or involved) and ``link_matrix`` (links between the
  home boroughs of the two people): counts over the whole partnership.
- ``new_since``: everything dated on or after ``since`` (the last panel; default four weeks before ``end``).

``minimise_for`` cuts a report down for a neighbour borough: only what crosses to that borough, people as
pseudonymous ids (``pseudonyms.py``), no internal record numbers and no exact points.
"""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, timezone

import numpy as np
import pandas as pd

from ..attribution import attributions_for
from ..places import PlaceNamer, bearing_deg, compass, distance_km, named_places
from ..network.build import ADULT, CHILD, NetworkInputError, graph_from_evidence
from ..network.identity import identified_child_groups
from ..network.places import person_places
from ..network.roles import group_summaries
from ..pseudonyms import Pseudonymiser
from ..store.db import Store

OUTSIDE_LONDON = "outside London"
#: Finds within this distance of each other are one destination.
DESTINATION_RADIUS_KM = 5.0
#: MACE panels meet monthly: by default "new" means dated in the last four weeks of the period.
DEFAULT_PANEL_INTERVAL_DAYS = 28

SECTIONS = {
    "children_elsewhere": ("Children found or involved in incidents elsewhere",
                           "Children of the borough with a find or an evidenced incident in another borough or "
                           "outside London in the period. Being involved in an incident never makes a child a "
                           "suspect."),
    "events_elsewhere": ("Each find and incident elsewhere", "One row per event, with its record and distance "
                         "from the borough."),
    "cross_borough_groups": ("Peer groups spanning boroughs", "Groups of children (found on the evidenced links) "
                             "with a child of the borough and a child of another. Adults who pose risk are linked "
                             "to a group, never members of it."),
    "adults_elsewhere": ("Adults who pose risk based elsewhere", "Adults who pose risk, based in another borough, "
                         "with an evidenced link to a child of the borough."),
    "cross_borough_links": ("Cross-borough links and their evidence", "Every evidence item linking a person of "
                            "the borough with a person of another: source, record, date, 3x5x2 grading, expiry."),
    "county_lines": ("County-lines indicators", "Places far from home where the borough's children were found, "
                     "with what makes them a concern."),
    "movement_matrix": ("Where children were found or involved, by home borough", "Counts of finds and evidenced "
                        "incidents in the period: rows are children's home boroughs, columns where it happened."),
    "link_matrix": ("Links between boroughs", "Counts of links in force between people of each pair of boroughs."),
    "new_since": ("New since the last panel", "Everything in this report dated on or after the last panel."),
}


@dataclasses.dataclass
class LinkageReport:
    """``about`` (borough, period, dates, sources, notes) and ``tables`` (one frame per section in ``SECTIONS``)."""

    about: dict
    tables: dict[str, pd.DataFrame]

    def people(self) -> dict[str, set[str]]:
        """Every person id the report names, by the list it appears in (for checks and audit)."""
        t = self.tables
        found = {
            "children_elsewhere": set(t["children_elsewhere"].child),
            "adults_elsewhere": set(t["adults_elsewhere"].adult),
            "group_children": {c for cs in t["cross_borough_groups"].get("children", []) for c in cs},
            "group_adults": {a for adults in t["cross_borough_groups"].get("adults_posing_risk", []) for a in adults},
            "county_line_children": {c for cs in t["county_lines"].get("children", []) for c in cs},
            "county_line_adults": {a for adults in t["county_lines"].get("adults_posing_risk", []) for a in adults},
        }
        return found

    def everyone(self) -> set[str]:
        """Every person id the report names, in any list."""
        return set().union(*self.people().values())


def _day(value) -> date | None:
    return None if value is None else pd.Timestamp(value).date()


def _clusters(lat: np.ndarray, lng: np.ndarray, radius_km: float) -> np.ndarray:
    """Single-linkage cluster labels: points within ``radius_km`` of each other share a label."""
    labels = np.arange(len(lat))
    for i in range(len(lat)):
        near = np.flatnonzero(distance_km(lat, lng, lat[i], lng[i]) <= radius_km)
        merged = labels[near].min()
        labels[np.isin(labels, labels[near])] = merged
    return np.unique(labels, return_inverse=True)[1]


def _matrix(frame: pd.DataFrame, rows: str, columns: str, names: dict[str, str], symmetric: bool = False):
    if frame.empty:
        return pd.DataFrame()
    counts = pd.crosstab(frame[rows], frame[columns])
    if symmetric:
        labels = sorted(set(counts.index) | set(counts.columns))
        counts = counts.reindex(index=labels, columns=labels, fill_value=0)
        counts = counts + counts.T - np.diag(np.diag(counts))
    counts.index = [names.get(c, c) for c in counts.index]
    counts.columns = [names.get(c, c) for c in counts.columns]
    counts.index.name = "home borough"
    return counts


#: The layers a linkage report draws on.
LINKAGE_LAYERS = ("people", "associations", "missing_episodes", "incidents", "places", "boundaries")


def linkage_report(store: Store, borough: str, *, start, end, as_of=None, since=None,
                   county_line_km: float = 40.0, seed: int = 0) -> LinkageReport:
    """The cross-borough linkage report of ``borough`` (GSS code) for evidence and events dated in [start, end)."""
    start, end = _day(start), _day(end)
    if start is None or end is None or start >= end:
        raise NetworkInputError(f"the period must run forwards: from {start} to {end}")
    as_of = _day(as_of) or date.today()
    since = _day(since) or end - pd.Timedelta(days=DEFAULT_PANEL_INTERVAL_DAYS)
    boroughs = {b["code"]: b for b in store.boundaries(("borough",))}
    if borough not in boroughs:
        raise NetworkInputError(f"unknown borough {borough!r}: load the borough boundaries and give a GSS code such "
                                f"as {', '.join(sorted(boroughs)[:3]) or 'E09000024'}")
    names = {code: b["name"] for code, b in boroughs.items()} | {"": OUTSIDE_LONDON}
    centre = boroughs[borough]["geometry"].centroid
    lat0, lng0 = centre.y, centre.x

    graph = graph_from_evidence(store, as_of=as_of, start=start, end=end)
    category = {n: d["subject_category"] for n, d in graph.nodes(data=True)}
    home = {n: d.get("home_borough") or "" for n, d in graph.nodes(data=True)}
    ours = {n for n in graph if home[n] == borough}
    our_children = {n for n in ours if category[n] == CHILD}
    namer = PlaceNamer(named_places(store))
    visits = person_places(store, as_of=as_of, start=start, end=end, graph=graph)
    visits["home_borough"] = visits.person_id.map(home).fillna("")
    tables: dict[str, pd.DataFrame] = {}

    # finds and incidents of the borough's children elsewhere
    events = visits[visits.person_id.isin(our_children) & (visits.borough != borough)].copy()
    events["distance_km"] = distance_km(events.lat, events.lng, lat0, lng0).round(1)
    events["borough_name"] = events.borough.map(names).fillna(events.borough)
    events["new"] = pd.to_datetime(events.date) >= pd.Timestamp(since)
    events = events.rename(columns={"person_id": "child"})
    tables["children_elsewhere"] = (
        events.groupby("child").agg(events=("record", "size"), finds=("kind", lambda k: int((k == "found").sum())),
                                    incidents=("kind", lambda k: int((k == "incident").sum())),
                                    where=("borough_name", lambda b: sorted(set(b))),
                                    first=("date", "min"), last=("date", "max"), new=("new", "any"))
        .reset_index().sort_values(["events", "child"], ascending=[False, True]).reset_index(drop=True)
        if len(events) else pd.DataFrame(columns=["child", "events", "finds", "incidents", "where", "first", "last",
                                                  "new"]))
    tables["events_elsewhere"] = events[["child", "kind", "record", "date", "borough", "borough_name", "cell", "lat",
                                         "lng", "distance_km", "new"]].reset_index(drop=True)

    # peer groups that span boroughs
    found, ids = identified_child_groups(store, graph, seed=seed)
    group_method = {k: found.attrs["settings"].get(k) for k in ("method", "objective", "seed")}
    chosen = [(g, i) for g, i in zip(found, ids) if g & our_children and len({home[m] for m in g}) > 1]
    summary = group_summaries(graph, [g for g, _ in chosen], since=since, visits=visits, namer=namer,
                              ids=[i for _, i in chosen])
    if len(summary):
        summary["members_by_borough"] = summary.children.map(
            lambda members: {b: sorted(m for m in members if home[m] == b) for b in sorted({home[m] for m in members})})
        summary["adults_by_borough"] = summary.adults_posing_risk.map(
            lambda adults: {b: sorted(a for a in adults if home[a] == b) for b in sorted({home[a] for a in adults})})
    tables["cross_borough_groups"] = summary

    # adults who pose risk based elsewhere, and every cross-borough evidence item
    link_rows = []
    for a, b, data in graph.edges(data=True):
        for person, other in ((a, b), (b, a)):
            if person in ours and other not in ours:
                for item in data["evidence"]:
                    link_rows.append({
                        "person": person, "person_category": category[person], "other": other,
                        "other_category": category[other], "other_borough": home[other],
                        "other_borough_name": names.get(home[other], home[other]), "type": item["type"],
                        "source_layer": item["source_layer"], "source_record": item["source_record"],
                        "evidence_date": item["evidence_date"], "grading": item["grading"],
                        "expires_on": item["expires_on"], "derived": item["derived"],
                        "association_id": item["association_id"],
                        "new": pd.Timestamp(item["evidence_date"]) >= pd.Timestamp(since)})
    links = pd.DataFrame(link_rows, columns=["person", "person_category", "other", "other_category", "other_borough",
                                             "other_borough_name", "type", "source_layer", "source_record",
                                             "evidence_date", "grading", "expires_on", "derived", "association_id",
                                             "new"])
    tables["cross_borough_links"] = links.sort_values(["evidence_date", "person", "other"]).reset_index(drop=True)
    to_adults = links[(links.person_category == CHILD) & (links.other_category == ADULT)]
    tables["adults_elsewhere"] = (
        to_adults.groupby("other").agg(home_borough=("other_borough", "first"),
                                       borough_name=("other_borough_name", "first"),
                                       children=("person", lambda p: sorted(set(p))),
                                       evidence_items=("association_id", "size"),
                                       types=("type", lambda t: sorted(set(t))),
                                       best_grading=("grading", "min"), first=("evidence_date", "min"),
                                       last=("evidence_date", "max"))
        .reset_index().rename(columns={"other": "adult"}))
    adults = tables["adults_elsewhere"]
    adults["new"] = pd.to_datetime(adults["first"]) >= pd.Timestamp(since)

    tables["county_lines"] = _county_lines(store, graph, events, visits, home, borough, names, lat0, lng0, since,
                                           county_line_km)

    # partnership-wide counts
    everyone = visits[visits.home_borough != ""]
    tables["movement_matrix"] = _matrix(everyone.assign(where=everyone.borough.map(names).fillna(everyone.borough)),
                                        "home_borough", "where", names)
    pairs = pd.DataFrame([(home[a], home[b]) if home[a] <= home[b] else (home[b], home[a])
                          for a, b in graph.edges() if home[a] and home[b]], columns=["a", "b"])
    tables["link_matrix"] = _matrix(pairs, "a", "b", names, symmetric=True)
    tables["new_since"] = new_since(tables)

    sources = [{"layer": b["layer"], "source": b["source_name"], "sha256": b["source_sha256"][:16],
                "finished_at": str(b["finished_at"])[:19], "accepted": b["accepted"]}
               for b in store.list_batches() if b["layer"] in {"people", "associations", "missing_episodes",
                                                                "incidents", "places", "boundaries"}]
    about = {"borough": borough, "borough_name": names[borough], "from": str(start), "to": str(end),
             "as_of": str(as_of), "since": str(since),
             "generated_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
             "shared_with": None, "sources": sources, "borough_names": names,
             "attributions": attributions_for(store, LINKAGE_LAYERS),
             "peer_groups": group_method,
             "notes": [f"Evidence dated {start} to {end} (exclusive) and still in force on {as_of}; an expired "
                       "link appears nowhere in this report.",
                       "Children at risk and adults who pose risk are listed apart; an association alone never "
                       "makes a child a suspect.",
                       f"Far-away finds: outside London or {county_line_km:g} km or more from the borough's centre; "
                       f"finds within {DESTINATION_RADIUS_KM:g} km of each other are one destination."]}
    return LinkageReport(about, tables)


def _county_lines(store, graph, events, visits, home, borough, names, lat0, lng0, since,
                  county_line_km) -> pd.DataFrame:
    columns = ["destination", "lat", "lng", "distance_km", "direction", "where", "episodes", "children",
               "repeat_children", "red_episodes", "adults_posing_risk", "other_boroughs_finds",
               "other_boroughs_children", "first", "last", "indicators", "new"]
    others = visits[(visits.kind == "found") & (visits.home_borough != borough)]
    far = events[(events.kind == "found") & ((events.borough == "") | (events.distance_km >= county_line_km))]
    if far.empty:
        return pd.DataFrame(columns=columns)
    risk = store.read_layer("missing_episodes", ["episode_id", "risk_grade"],
                            among={"episode_id": far.record.tolist()})
    far = far.assign(red=far.record.map(dict(zip(risk.episode_id, risk.risk_grade))).eq("red"),
                     destination=_clusters(far.lat.to_numpy(float), far.lng.to_numpy(float), DESTINATION_RADIUS_KM))
    rows = []
    for number, (_, spot) in enumerate(far.groupby("destination"), start=1):
        lat, lng = float(spot.lat.mean()), float(spot.lng.mean())
        children = sorted(set(spot.child))
        per_child = spot.child.value_counts()
        adults = sorted({n for c in children for n in graph.neighbors(c)
                         if graph.nodes[n]["subject_category"] == ADULT})
        elsewhere = [a for a in adults if home[a] != borough]
        indicators = []
        if (spot.borough == "").all():
            indicators.append("found outside London")
        if len(spot) > 1:
            indicators.append(f"repeated: {len(spot)} finds")
        if len(children) > 1:
            indicators.append(f"{len(children)} children found there")
        # the same route from other boroughs: counted, not named (they are other boroughs' children)
        theirs = others[distance_km(others.lat, others.lng, lat, lng) <= DESTINATION_RADIUS_KM]
        if len(theirs):
            indicators.append(f"also {len(theirs)} finds of {theirs.person_id.nunique()} children of other boroughs")
        if spot.red.any():
            indicators.append(f"{int(spot.red.sum())} red-graded episodes")
        if elsewhere:
            indicators.append(f"linked to {len(elsewhere)} adult(s) who pose risk based outside the borough")
        distance = float(distance_km(lat, lng, lat0, lng0))
        direction = compass(bearing_deg(lat, lng, lat0, lng0))
        rows.append({"destination": f"D{number}: about {distance:.0f} km {direction} of {names[borough]}",
                     "lat": round(lat, 3), "lng": round(lng, 3), "distance_km": round(distance, 1),
                     "direction": direction, "where": sorted(set(spot.borough_name)), "episodes": len(spot),
                     "children": children, "repeat_children": sorted(per_child.index[per_child > 1]),
                     "red_episodes": int(spot.red.sum()), "adults_posing_risk": adults,
                     "other_boroughs_finds": len(theirs), "other_boroughs_children": int(theirs.person_id.nunique()),
                     "first": min(spot.date), "last": max(spot.date), "indicators": indicators,
                     "new": bool((pd.to_datetime(spot.date) >= pd.Timestamp(since)).any())})
    frame = pd.DataFrame(rows, columns=columns)
    return frame.sort_values(["episodes", "distance_km"], ascending=[False, False]).reset_index(drop=True)


def new_since(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per new item: ``what``, ``who``, ``detail``, ``date``."""
    rows = []
    for r in tables["cross_borough_links"].itertuples():
        if r.new:
            rows.append({"what": "new link", "who": f"{r.person} – {r.other}",
                         "detail": f"{r.type} with {r.other_category.replace('_', ' ')} in {r.other_borough_name} "
                                   f"({r.grading}, {r.source_layer})", "date": str(r.evidence_date)})
    for r in tables["events_elsewhere"].itertuples():
        if r.new:
            rows.append({"what": "found elsewhere" if r.kind == "found" else "incident elsewhere", "who": r.child,
                         "detail": f"in {r.borough_name}", "date": str(r.date)})
    for r in tables["adults_elsewhere"].itertuples():
        if r.new:
            rows.append({"what": "adult newly linked", "who": r.adult,
                         "detail": f"based in {r.borough_name}; linked to {len(r.children)} child(ren)",
                         "date": str(r.first)})
    for r in tables["county_lines"].itertuples():
        if r.new:
            rows.append({"what": "county-lines destination", "who": ", ".join(r.children), "detail": r.destination,
                         "date": str(r.last)})
    frame = pd.DataFrame(rows, columns=["what", "who", "detail", "date"])
    return frame.sort_values(["date", "what"], ascending=[False, True]).reset_index(drop=True)


def minimise_for(report: LinkageReport, recipient: str, pseudonymise: Pseudonymiser) -> LinkageReport:
    """The report cut down for the borough ``recipient``: only what crosses to it, people pseudonymous, no record
    numbers, no exact points, no far-away destinations (they are not the recipient's)."""
    home = report.about["borough"]
    names = report.about["borough_names"]
    if recipient == home or recipient not in names or not recipient:
        raise NetworkInputError(f"cannot minimise for {recipient!r}: give the GSS code of another London borough")
    t = report.tables
    ids = lambda values: sorted(pseudonymise(v) for v in values)  # noqa: E731
    events = t["events_elsewhere"][t["events_elsewhere"].borough == recipient]
    events = pd.DataFrame({"child": events.child.map(pseudonymise), "kind": events.kind, "date": events.date,
                           "borough": events.borough, "borough_name": events.borough_name, "cell": events.cell,
                           "new": events.new}).reset_index(drop=True)
    children = (events.groupby("child").agg(events=("kind", "size"), first=("date", "min"), last=("date", "max"),
                                            new=("new", "any")).reset_index()
                if len(events) else pd.DataFrame(columns=["child", "events", "first", "last", "new"]))
    groups = t["cross_borough_groups"]
    group_rows = []
    for g in groups.itertuples() if len(groups) else []:
        members = g.members_by_borough
        if recipient not in members:
            continue
        group_rows.append({
            "group": g.group, f"children_{home}": ids(members.get(home, [])),
            f"children_{recipient}": ids(members[recipient]),
            "children_other_boroughs": sum(len(v) for b, v in members.items() if b not in (home, recipient)),
            f"adults_{recipient}": ids(g.adults_by_borough.get(recipient, [])),
            "links": g.links, "last_evidence": g.last_evidence, "new_links_since": g.new_links_since,
            "places": [{"cell": p["cell"], "name": p["name"]} for p in g.places if p["borough"] == recipient],
        })
    links = t["cross_borough_links"][t["cross_borough_links"].other_borough == recipient]
    links = pd.DataFrame({
        "link_ref": links.association_id.map(pseudonymise), "person": links.person.map(pseudonymise),
        "person_category": links.person_category, "other": links.other.map(pseudonymise),
        "other_category": links.other_category, "other_borough": links.other_borough,
        "other_borough_name": links.other_borough_name, "type": links.type, "source_layer": links.source_layer,
        "evidence_date": links.evidence_date, "grading": links.grading, "expires_on": links.expires_on,
        "new": links.new}).reset_index(drop=True)
    adults = t["adults_elsewhere"][t["adults_elsewhere"].home_borough == recipient]
    adults = pd.DataFrame({"adult": adults.adult.map(pseudonymise), "home_borough": adults.home_borough,
                           "borough_name": adults.borough_name, "children": adults.children.map(ids),
                           "evidence_items": adults.evidence_items, "types": adults.types,
                           "best_grading": adults.best_grading, "first": adults["first"], "last": adults["last"],
                           "new": adults.new}).reset_index(drop=True)
    home_name, recipient_name = report.about["borough_name"], names[recipient]
    pair = [home_name, recipient_name]
    matrices = {name: t[name].loc[[n for n in pair if n in t[name].index], [n for n in pair if n in t[name].columns]]
                if len(t[name]) else t[name] for name in ("movement_matrix", "link_matrix")}
    tables = {"children_elsewhere": children, "events_elsewhere": events,
              "cross_borough_groups": pd.DataFrame(group_rows), "adults_elsewhere": adults,
              "cross_borough_links": links, "county_lines": pd.DataFrame(columns=t["county_lines"].columns),
              **matrices}
    tables["new_since"] = new_since(tables)
    about = {k: v for k, v in report.about.items() if k not in ("sources", "borough_names")}
    about.update({"shared_with": recipient, "shared_with_name": recipient_name,
                  "pseudonyms": f"keyed per recipient ({pseudonymise.context}); the key stays with {home_name}",
                  "notes": report.about["notes"][:2] + [
                      f"Minimised for {recipient_name}: only links, finds and incidents that cross to "
                      f"{recipient_name}; pseudonymous ids only (ask {home_name} quoting the id or link_ref); no "
                      "record numbers and no exact points (places are H3 cells)."]})
    return LinkageReport(about, tables)



def audited_linkage(store: Store, borough: str, *, start, end, username: str, justification: str, key: bytes,
                    as_of=None, since=None, share_with: str | None = None,
                    report: LinkageReport | None = None) -> LinkageReport:
    """``linkage_report`` with its audit: making it is a ``combination`` of personal data (people named by their
    keyed pseudonyms, ``key``); with ``share_with``, the report is minimised for that borough and the sharing is a
    ``disclosure`` to it. The CLI and the service both make reports this way. ``report``: the same report made
    already (the service keeps made reports while the data is unchanged); making it again is audited all the
    same."""
    from ..privacy.audit import person_refs, record

    if report is None:
        report = linkage_report(store, borough, start=start, end=end, as_of=as_of, since=since)
    what = f"linkage:{borough}:{report.about['from']}..{report.about['to']}"
    record(store, username=username, operation="combination", justification=justification,
           objects=[what, *person_refs(key, sorted(report.everyone()))])
    if share_with:
        report = minimise_for(report, share_with, Pseudonymiser(key, f"{borough}>{share_with}"))
        record(store, username=username, operation="disclosure", justification=justification,
               recipient=share_with, objects=[f"{what}:minimised", f"pseudonymous people: {len(report.everyone())}"])
    return report


FORMATS = ("html", "csv", "json")


def write_linkage(report: LinkageReport, out, fmt: str = "html"):
    """Write the report as ``html`` (one self-contained page), ``json`` (one file) or ``csv`` (a folder)."""
    from . import render

    title = f"Cross-borough linkage: {report.about['borough_name']}"
    if report.about.get("shared_with"):
        title += f", minimised for {report.about['shared_with_name']}"
    if fmt == "html":
        return render.write_html(report, SECTIONS, out, title=title)
    if fmt == "json":
        return render.write_json(report, SECTIONS, out)
    if fmt == "csv":
        return render.write_csv(report, SECTIONS, out)
    raise NetworkInputError(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")
