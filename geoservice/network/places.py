"""Where people were, from evidence: the person-place view of the network.

A person is tied to a place (an H3 cell) by a record that puts them there: a missing episode's found location, or
an incident an evidenced association names (``source_layer = incidents``). Home addresses and the places children
went missing from are never used. Each visit keeps its record and date, and a visit through an association expires
with it. ``person_place_graph`` adds the cells to a people graph as a second kind of node (a bipartite view), and
``places_used`` names the cells a set of people use most, from the places layer.
"""

from __future__ import annotations

from datetime import date

import networkx as nx
import pandas as pd

from ..places import PlaceNamer
from ..cells import hex_or_none
from ..store.db import Store
from ..store.tables import cell_column
from .build import graph_from_evidence

VISIT_COLUMNS = ["person_id", "kind", "record", "date", "cell", "lat", "lng", "borough"]


def person_places(store: Store, *, res: int = 9, as_of=None, start=None, end=None,
                  graph: nx.Graph | None = None) -> pd.DataFrame:
    """One row per visit: ``person_id``, ``kind`` (found / incident), ``record``, ``date``, ``cell`` (H3 at
    ``res``), ``lat``, ``lng``, ``borough`` (GSS code; empty outside London).

    Visits are dated in [start, end) and known by ``as_of``. Incident visits come from the evidence in ``graph``
    (default: ``graph_from_evidence(store, as_of=...)``), so an expired association takes its visits with it.
    """
    if res not in store.resolutions:
        raise ValueError(f"resolution {res} is not indexed; the store has {list(store.resolutions)}")
    as_of = pd.Timestamp(as_of or date.today()).date()
    episodes = store.read_layer("missing_episodes", ["episode_id", "person_id", "found_at", "found_lat", "found_lng",
                                                      "found_borough", cell_column("found", res)],
                                present=[cell_column("found", res)])  # no empty cells, so int64 kept whole
    episodes = episodes.dropna(subset=["found_at"])
    found = pd.DataFrame({
        "person_id": episodes.person_id, "kind": "found", "record": episodes.episode_id,
        "date": pd.to_datetime(episodes.found_at, utc=True).dt.date,
        "cell": hex_or_none(episodes[cell_column("found", res)].astype(object)),
        "lat": episodes.found_lat.astype(float), "lng": episodes.found_lng.astype(float),
        "borough": episodes.found_borough.fillna(""),
    }, columns=VISIT_COLUMNS)
    graph = graph if graph is not None else graph_from_evidence(store, as_of=as_of)
    named = {}
    for a, b, data in graph.edges(data=True):
        for item in data["evidence"]:
            if item["source_layer"] == "incidents" and item["source_record"]:
                for person in (a, b):
                    named[(person, item["source_record"])] = pd.Timestamp(item["evidence_date"]).date()
    incidents = pd.DataFrame(columns=VISIT_COLUMNS)
    if named:
        wanted = sorted({record for _, record in named})
        rows = store.read_layer("incidents", ["crime_id", "location_lat", "location_lng", "location_borough",
                                              cell_column("location", res)],
                                among={"crime_id": wanted}).drop_duplicates("crime_id")
        rows = rows.set_index("crime_id")
        keys = [(p, r) for p, r in named if r in rows.index]
        at = rows.loc[[r for _, r in keys]]
        incidents = pd.DataFrame({
            "person_id": [p for p, _ in keys], "kind": "incident", "record": [r for _, r in keys],
            "date": [named[k] for k in keys], "cell": hex_or_none(at[cell_column("location", res)].astype(object)),
            "lat": at.location_lat.astype(float).to_numpy(), "lng": at.location_lng.astype(float).to_numpy(),
            "borough": at.location_borough.fillna("").to_numpy(),
        }, columns=VISIT_COLUMNS)
    visits = pd.concat([f for f in (found, incidents) if len(f)], ignore_index=True) if len(found) or len(incidents) \
        else pd.DataFrame(columns=VISIT_COLUMNS)
    keep = pd.Series(True, index=visits.index)
    dates = pd.to_datetime(visits.date)
    keep &= dates <= pd.Timestamp(as_of)
    if start is not None:
        keep &= dates >= pd.Timestamp(start)
    if end is not None:
        keep &= dates < pd.Timestamp(end)
    return visits[keep].sort_values(["date", "person_id", "record"]).reset_index(drop=True)


def place_node(cell: str) -> str:
    """The node id of a place in the person-place graph (never equal to a person id)."""
    return f"h3:{cell}"


def person_place_graph(graph: nx.Graph, visits: pd.DataFrame, *, namer: PlaceNamer | None = None) -> nx.Graph:
    """People (``bipartite=0``, attributes kept) and the cells they were placed in (``bipartite=1``, with
    ``cell`` and ``name``), joined by edges that list each visit's kind, record and date."""
    both = nx.Graph(**graph.graph)
    both.add_nodes_from((n, {**d, "bipartite": 0}) for n, d in graph.nodes(data=True))
    both.add_edges_from(graph.edges(data=True))
    for visit in visits[visits.person_id.isin(list(graph.nodes)) & visits.cell.notna()].itertuples(index=False):
        node = place_node(visit.cell)
        if node not in both:
            names = namer.near([visit.cell], limit=1) if namer else []
            both.add_node(node, bipartite=1, kind="place", cell=visit.cell, name=names[0] if names else "",
                          borough=visit.borough)
        item = {"kind": visit.kind, "record": visit.record, "date": str(visit.date)}
        if both.has_edge(visit.person_id, node):
            both.edges[visit.person_id, node]["visits"].append(item)
            both.edges[visit.person_id, node]["weight"] += 1
        else:
            both.add_edge(visit.person_id, node, visits=[item], weight=1)
    return both


def places_used(members, visits: pd.DataFrame, *, namer: PlaceNamer | None = None, top: int = 3) -> list[dict]:
    """The cells ``members`` were placed in most (by visits, then people), each with its name when a named place
    lies within 200 m: ``cell``, ``name``, ``visits``, ``people``, ``borough``."""
    mine = visits[visits.person_id.isin(list(members)) & visits.cell.notna()]
    if mine.empty:
        return []
    table = mine.groupby("cell").agg(visits=("record", "size"), people=("person_id", "nunique"),
                                     borough=("borough", "first"))
    table = table.sort_values(["visits", "people"], ascending=False).head(top)
    return [{"cell": cell, "name": (namer.near([cell], limit=1) or [""])[0] if namer else "",
             "visits": int(row.visits), "people": int(row.people), "borough": row.borough}
            for cell, row in table.iterrows()]
