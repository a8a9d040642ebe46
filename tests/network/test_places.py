"""The person-place view: visits from found locations and evidenced incidents, never homes; they expire."""

from __future__ import annotations

import pytest

import pandas as pd

from geoservice.analysis.hotspot_areas import PlaceNamer, named_places
from geoservice.network.build import graph_from_evidence
from geoservice.network.places import person_place_graph, person_places, place_node, places_used

from ..conftest import AS_OF

pytestmark = pytest.mark.postgres  # the database matters here: run on PostgreSQL too


def test_visits_come_from_finds_and_evidenced_incidents(load_world, truth):
    store = load_world("people", "associations", "missing_episodes", "incidents", "places")
    graph = graph_from_evidence(store, as_of=AS_OF)
    visits = person_places(store, as_of=AS_OF, graph=graph)
    assert set(visits.kind) == {"found", "incident"}
    episodes = store.read_layer("missing_episodes", ["episode_id", "found_at"])
    assert set(visits[visits.kind == "found"].record) == set(episodes.episode_id[episodes.found_at.notna()])
    incident_items = {item["source_record"] for _, _, d in graph.edges(data=True) for item in d["evidence"]
                      if item["source_layer"] == "incidents"}
    assert set(visits[visits.kind == "incident"].record) == incident_items
    line = visits[visits.record.isin(truth["county_line"]["episode_ids"])]
    assert (line.borough == "").all(), "county-line finds lie outside London"
    # home and missing-from points never become places
    homes = store.read_layer("missing_episodes", ["missing_from_lat", "missing_from_lng"])
    assert not set(zip(visits.lat.round(6), visits.lng.round(6))) & set(
        zip(homes.missing_from_lat.round(6), homes.missing_from_lng.round(6)))

    both = person_place_graph(graph, visits, namer=PlaceNamer(named_places(store)))
    places = [n for n, d in both.nodes(data=True) if d["bipartite"] == 1]
    assert set(places) == {place_node(c) for c in visits.cell}
    assert not set(places) & set(graph.nodes)
    place_edges = [(a, b) for a, b in both.edges() if a in set(places) or b in set(places)]
    assert place_edges and all({both.nodes[a]["bipartite"], both.nodes[b]["bipartite"]} == {0, 1}
                               for a, b in place_edges), "a place is only ever tied to a person"
    assert sum(len(d.get("visits", [])) for _, _, d in both.edges(data=True)) == len(visits)
    assert any(both.nodes[p]["name"] for p in places), "places are named from the places layer"

    # when the evidence has expired, its incident visits go with it
    later = "2028-06-01"
    gone = person_places(store, as_of=later, graph=graph_from_evidence(store, as_of=later))
    assert (gone.kind == "incident").sum() == 0


def test_places_used_ranks_by_visits_then_people():
    visits = pd.DataFrame({"person_id": ["a", "a", "b", "c", "c"], "record": list("12345"),
                           "cell": ["89194ad30d3ffff"] * 2 + ["89194ad30d7ffff"] * 3, "borough": "E09000024"})
    used = places_used(["a", "b", "c"], visits)
    assert [(u["cell"], u["visits"], u["people"]) for u in used] == [("89194ad30d7ffff", 3, 2),
                                                                    ("89194ad30d3ffff", 2, 1)]
    assert places_used(["z"], visits) == []
