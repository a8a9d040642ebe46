"""Missing together, derived from the episodes themselves: overlapping in time, found in the same place."""

from __future__ import annotations

import pandas as pd

from geoservice.network.build import graph_from_evidence
from geoservice.network.derive import DERIVED_TTL_DAYS, missing_together_pairs

from ..conftest import AS_OF

# about 0.0009 degrees of latitude is 100 m
BASE = {"reported_missing_at": "2025-03-01T18:00:00", "found_at": "2025-03-02T09:00:00",
        "found_lat": 51.4100, "found_lng": -0.1900}


def _episodes(*changes):
    return pd.DataFrame([{**BASE, "episode_id": f"E{i}", "person_id": f"C{i}", **change}
                         for i, change in enumerate(changes)])


def test_found_together_while_both_missing_is_a_pair():
    pairs = missing_together_pairs(_episodes({}, {"found_lat": 51.4109, "found_at": "2025-03-02T10:30:00"}))
    assert pairs[["episode_a", "episode_b", "person_a", "person_b"]].values.tolist() == [["E0", "E1", "C0", "C1"]]
    assert 95 < pairs.distance_m[0] < 105 and pairs.gap_hours[0] == 1.5
    assert str(pairs.found_on[0]) == "2025-03-02"


def test_near_misses_are_not_pairs():
    assert missing_together_pairs(_episodes({}, {"found_lat": 51.4130})).empty, "found 333 m apart"
    assert missing_together_pairs(_episodes({}, {"found_at": "2025-03-02T12:30:00"})).empty, "found 3.5 h apart"
    # the second went missing only after the first was found: the periods do not overlap
    assert missing_together_pairs(_episodes({}, {"reported_missing_at": "2025-03-02T09:30:00",
                                                 "found_at": "2025-03-02T11:00:00"})).empty
    same_child = _episodes({}, {}).assign(person_id="C0")
    assert missing_together_pairs(same_child).empty, "one child's two episodes are not a link"
    assert missing_together_pairs(_episodes({}, {"found_at": None, "found_lat": None})).empty, "still missing"


def test_the_planted_pairs_are_derived_from_the_episodes_alone(load_world, truth):
    store = load_world("people", "missing_episodes")  # no associations layer at all
    graph = graph_from_evidence(store, as_of=AS_OF)
    planted = {tuple(sorted(t["episodes"])) for t in truth["missing_together"]}
    assert planted, "the world plants missing-together pairs"
    derived = {tuple(sorted(item["source_record"].split("|"))) for _, _, d in graph.edges(data=True)
               for item in d["evidence"]}
    assert derived == planted
    for _, _, data in graph.edges(data=True):
        assert all(item["derived"] and item["type"] == "missing_together" for item in data["evidence"])
    # a derived link expires like a recorded one
    late = pd.Timestamp(max(d["last_seen"] for _, _, d in graph.edges(data=True))) + pd.Timedelta(
        days=DERIVED_TTL_DAYS + 1)
    assert graph_from_evidence(store, as_of=late).number_of_edges() == 0
    assert graph_from_evidence(store, as_of=AS_OF, derive_missing_together=False).number_of_edges() == 0


def test_a_recorded_pair_is_not_derived_again(load_world, truth):
    store = load_world("people", "associations", "missing_episodes")
    graph = graph_from_evidence(store, as_of=AS_OF)
    for pair in truth["missing_together"]:
        record = set(pair["episodes"])
        items = [item for _, _, d in graph.edges(data=True) for item in d["evidence"]
                 if item["type"] == "missing_together" and set(item["source_record"].split("|")) == record]
        assert len(items) == 1 and not items[0]["derived"], items
