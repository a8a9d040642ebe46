"""A child's timeline for case discussion: missing episodes, incidents the evidence names, and new evidenced links
in date order, and whether things are escalating.

Escalation is flagged when, comparing the last ``window_days`` with the window before it, there are more events,
a more serious missing episode (risk grade green < amber < red), or episodes closer together. Each flag says why.
"""

from __future__ import annotations

import networkx as nx
import pandas as pd

from ..store.db import Store
from .build import NetworkInputError

RISK = {"green": 1, "amber": 2, "red": 3}


def child_timeline(store: Store, graph: nx.Graph, person: str) -> pd.DataFrame:
    """Events about ``person``: ``date``, ``kind`` (missing / link / incident), ``detail``, ``risk``, ``record``."""
    if person not in graph:
        raise NetworkInputError(f"{person!r} is not in the network")
    episodes = store.read_layer("missing_episodes", ["episode_id", "person_id", "reported_missing_at", "found_at",
                                                      "risk_grade", "found_borough"],
                                equals={"person_id": person})
    rows = [{"date": pd.Timestamp(e.reported_missing_at), "kind": "missing", "risk": e.risk_grade,
             "detail": f"missing ({e.risk_grade}); found " + (f"in {e.found_borough}" if e.found_borough
                                                                else "outside London" if pd.notna(e.found_at)
                                                                else "—"),
             "record": e.episode_id} for e in episodes.itertuples()]
    named = {}  # incidents the evidence names (co-involvement): one event per incident, dated by its evidence
    for other in graph.neighbors(person):
        for item in graph.edges[person, other]["evidence"]:
            rows.append({"date": pd.Timestamp(item["evidence_date"]), "kind": "link", "risk": None,
                         "detail": f"{item['type']} with {other} ({item['grading']}, {item['source_layer']})",
                         "record": item["association_id"]})
            if item["source_layer"] == "incidents" and item["source_record"]:
                named.setdefault(item["source_record"], (pd.Timestamp(item["evidence_date"]), set()))[1].add(other)
    if named:
        incidents = store.read_layer("incidents", ["crime_id", "crime_type", "location_borough"],
                                     among={"crime_id": sorted(named)}).drop_duplicates("crime_id")
        for incident in incidents.itertuples():
            when, others = named[incident.crime_id]
            rows.append({"date": when, "kind": "incident", "risk": None, "record": incident.crime_id,
                         "detail": f"{incident.crime_type} in {incident.location_borough or 'outside London'} "
                                   f"(with {', '.join(sorted(others))}); involvement is not guilt"})
    frame = pd.DataFrame(rows, columns=["date", "kind", "detail", "risk", "record"])
    return frame.sort_values(["date", "record"]).reset_index(drop=True)


def escalation(timeline: pd.DataFrame, *, as_of, window_days: int = 90) -> list[str]:
    """Reasons the last window looks worse than the one before (empty when it does not)."""
    as_of = pd.Timestamp(as_of)
    recent = timeline[(timeline.date > as_of - pd.Timedelta(days=window_days)) & (timeline.date <= as_of)]
    before = timeline[(timeline.date > as_of - pd.Timedelta(days=2 * window_days))
                      & (timeline.date <= as_of - pd.Timedelta(days=window_days))]
    reasons = []
    if len(recent) > len(before) and len(recent) >= 2:
        reasons.append(f"more events: {len(recent)} in the last {window_days} days against {len(before)} before")
    worst = lambda f: max((RISK.get(r, 0) for r in f.risk.dropna()), default=0)  # noqa: E731
    if worst(recent) > worst(before) and worst(recent) >= RISK["amber"]:
        grade = {v: k for k, v in RISK.items()}[worst(recent)]
        reasons.append(f"more serious: a {grade} missing episode in the last {window_days} days")
    gaps = lambda f: f[f.kind == "missing"].date.diff().dropna()  # noqa: E731
    if len(gaps(recent)) and len(gaps(before)) and gaps(recent).mean() < gaps(before).mean():
        reasons.append("more frequent: missing episodes closer together than before")
    return reasons
