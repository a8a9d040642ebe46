"""Peer networks built only from evidence, child first.

Nodes are people with their closed ``subject_category`` (a child at risk is never relabelled or merged with an
adult who poses risk; professionals are left out unless asked for). Edges come only from evidence items — the
associations layer (reported associations, co-offending, missing together, siblings, school, online) and the
missing-together items derived from overlapping episodes found together (``derive.py``) — grouped by pair: each
edge keeps every item (source layer and record, date, type, 3x5x2 grading, expiry, whether derived). An edge exists
on a date only while at least one of its items is unexpired then, so an expired association disappears from the
graph and from everything built on it. Edges can be filtered by date window, type and reliability.
"""

from __future__ import annotations

from datetime import date

import networkx as nx
import pandas as pd

from ..errors import GeoserviceError
from ..store.db import Store
from .derive import missing_together_evidence

CHILD = "child_at_risk"
ADULT = "adult_posing_risk"
PROFESSIONAL = "professional"
SOURCE_ORDER = {"A": 1, "B": 2, "C": 3}


class NetworkInputError(GeoserviceError, ValueError):
    """A network request that cannot be answered as asked."""


def _as_date(value) -> date | None:
    return None if value is None else pd.Timestamp(value).date()


def graph_from_evidence(store: Store, *, as_of=None, start=None, end=None, types=None,
                        worst_source: str = "C", worst_assessment: int = 5,
                        include_professionals: bool = False, derive_missing_together: bool = True) -> nx.Graph:
    """The evidenced network of people on ``as_of`` (default today).

    Parameters
    ----------
    as_of
        Evidence dated after this day is not yet known, and items expired before it are gone.
    start, end
        Only evidence dated in [start, end).
    types
        Only these association types (default all).
    worst_source, worst_assessment
        Reliability floor on the 3x5x2 grading: source evaluation at least as good as ``worst_source`` (A best)
        and intelligence assessment at most ``worst_assessment`` (1 best).
    derive_missing_together
        Add the missing-together evidence the missing-episodes layer holds (see ``derive.py``).
    """
    as_of = _as_date(as_of) or date.today()
    if worst_source not in SOURCE_ORDER or not 1 <= int(worst_assessment) <= 5:
        raise NetworkInputError("worst_source must be A, B or C and worst_assessment 1-5")
    people = store.read_layer("people", ["person_id", "subject_category", "home_borough", "sex", "birth_month",
                                         "school_id"])
    if not include_professionals:
        people = people[people.subject_category != PROFESSIONAL]
    graph = nx.Graph(as_of=str(as_of))
    for row in people.itertuples(index=False):
        graph.add_node(row.person_id, subject_category=row.subject_category, home_borough=row.home_borough,
                       sex=row.sex, birth_month=None if pd.isna(row.birth_month) else str(row.birth_month)[:7])
    links = store.read_layer("associations").assign(derived=False)
    if derive_missing_together:
        episodes = store.read_layer("missing_episodes", ["episode_id", "person_id", "reported_missing_at",
                                                          "found_at", "found_lat", "found_lng"])
        derived = missing_together_evidence(episodes, links)
        if len(derived):
            links = pd.concat([links, derived], ignore_index=True) if len(links) else derived
    if links.empty:
        return graph
    for column in ("evidence_date", "expires_on"):
        links[column] = pd.to_datetime(links[column]).dt.date
    keep = (links.evidence_date <= as_of) & (links.expires_on >= as_of)
    if start is not None:
        keep &= links.evidence_date >= _as_date(start)
    if end is not None:
        keep &= links.evidence_date < _as_date(end)
    if types is not None:
        keep &= links.association_type.isin(list(types))
    keep &= links.source_evaluation.map(SOURCE_ORDER) <= SOURCE_ORDER[worst_source]
    keep &= links.intelligence_assessment.astype(int) <= int(worst_assessment)
    keep &= links.person_a.isin(graph.nodes) & links.person_b.isin(graph.nodes) & (links.person_a != links.person_b)
    for row in links[keep].sort_values(["evidence_date", "association_id"]).itertuples(index=False):
        item = {"association_id": row.association_id, "type": row.association_type,
                "source_layer": row.source_layer, "source_record": row.source_record,
                "evidence_date": str(row.evidence_date),
                "grading": f"{row.source_evaluation}{row.intelligence_assessment}",
                "expires_on": str(row.expires_on), "derived": bool(row.derived)}
        a, b = row.person_a, row.person_b
        if graph.has_edge(a, b):
            edge = graph.edges[a, b]
            edge["evidence"].append(item)
            edge["weight"] += 1
            edge["types"] = sorted(set(edge["types"]) | {item["type"]})
            edge["last_seen"] = max(edge["last_seen"], item["evidence_date"])
            edge["expires_on"] = max(edge["expires_on"], item["expires_on"])
        else:
            graph.add_edge(a, b, evidence=[item], weight=1, types=[item["type"]], first_seen=item["evidence_date"],
                           last_seen=item["evidence_date"], expires_on=item["expires_on"])
    return graph


def children_subgraph(graph: nx.Graph) -> nx.Graph:
    """Only the children and the links between them (a view)."""
    return graph.subgraph([n for n, d in graph.nodes(data=True) if d.get("subject_category") == CHILD])


def people_of(graph: nx.Graph, category: str) -> list[str]:
    """The people of one subject category, sorted: lists never mix categories."""
    return sorted(n for n, d in graph.nodes(data=True) if d.get("subject_category") == category)
