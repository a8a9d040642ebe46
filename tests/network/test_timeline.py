"""A child's timeline lists missing episodes and links in order; escalation says why."""

from __future__ import annotations

import pandas as pd
import pytest

from geoservice.network.build import NetworkInputError, graph_from_evidence
from geoservice.network.timeline import child_timeline, escalation

from ..conftest import AS_OF


def _timeline(dates_and_risks):
    return pd.DataFrame([{"date": pd.Timestamp(d), "kind": "missing", "detail": "", "risk": r, "record": str(i)}
                         for i, (d, r) in enumerate(dates_and_risks)])


def test_escalation_reasons():
    calm = _timeline([("2025-01-05", "green"), ("2025-02-20", "green"), ("2025-05-01", "green")])
    assert escalation(calm, as_of="2025-06-30") == []
    worse = _timeline([("2025-01-05", "green"), ("2025-03-01", "green"), ("2025-05-01", "amber"),
                       ("2025-05-20", "red"), ("2025-06-10", "red")])
    reasons = escalation(worse, as_of="2025-06-30")
    assert any(r.startswith("more events") for r in reasons)
    assert any("red missing episode" in r for r in reasons)
    assert any(r.startswith("more frequent") for r in reasons)


def test_timeline_of_a_county_line_child(load_world, truth):
    loaded_store = load_world("people", "associations", "missing_episodes", "incidents")
    graph = graph_from_evidence(loaded_store, as_of=AS_OF)
    child = next(c for c in truth["county_line"]["children"] if c in graph)
    timeline = child_timeline(loaded_store, graph, child)
    assert timeline.date.is_monotonic_increasing
    missing = timeline[timeline.kind == "missing"]
    assert set(truth["county_line"]["episode_ids"]) & set(missing.record)
    assert missing.detail.str.contains("outside London").any()
    assert (timeline.kind == "link").any()
    # every incident a child's evidence names is on their timeline once, with its crime type
    def incidents_named(person):
        return {item["source_record"] for other in graph.neighbors(person)
                for item in graph.edges[person, other]["evidence"] if item["source_layer"] == "incidents"}

    involved = next(c for c in truth["children_ids"] if c in graph and len(incidents_named(c)) >= 2)
    incidents = child_timeline(loaded_store, graph, involved).query("kind == 'incident'")
    named = incidents_named(involved)
    assert named and set(incidents.record) == named and incidents.record.is_unique
    assert incidents.detail.str.contains("involvement is not guilt").all()
    with pytest.raises(NetworkInputError, match="not in the network"):
        child_timeline(loaded_store, graph, "NOBODY")
