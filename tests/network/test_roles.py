"""Group summaries, network roles and exposure keep children and adults who pose risk apart."""

from __future__ import annotations

import h3
import networkx as nx
import pandas as pd

from geoservice.analysis.hotspot_areas import PlaceNamer, named_places
from geoservice.network.build import ADULT, CHILD, children_subgraph, graph_from_evidence
from geoservice.network.groups import SAFEGUARDING_DENSITY, peer_groups
from geoservice.network.places import person_places
from geoservice.network.roles import exposure, group_summaries, network_roles

from ..conftest import AS_OF


def _toy():
    graph = nx.Graph(as_of="2025-12-31")
    for n in ("c1", "c2", "c3", "c4"):
        graph.add_node(n, subject_category=CHILD, home_borough="E09000024")
    graph.add_node("a1", subject_category=ADULT, home_borough="E09000028")
    item = {"evidence_date": "2025-12-01", "type": "reported_association"}
    graph.add_edges_from([("c1", "c2"), ("c2", "c3"), ("c3", "c4"), ("a1", "c2")], evidence=[item])
    return graph


def test_exposure_counts_hops_to_harmed_peers():
    frame = exposure(_toy(), {"c4"})
    assert frame.loc["c3", "hops_to_harmed"] == 1 and frame.loc["c1", "hops_to_harmed"] == 3
    assert frame.loc["c2", "harmed_within_2"] == 1 and pd.isna(frame.loc["c4", "hops_to_harmed"])
    assert "a1" not in frame.index, "exposure is about children"


def test_roles_are_split_by_category():
    roles = network_roles(_toy())
    assert set(roles["children"].index) == {"c1", "c2", "c3", "c4"}
    assert list(roles["adults_posing_risk"].index) == ["a1"]
    assert roles["children"].index[0] == "c2", "the bridge has the highest betweenness"


def test_group_summaries_on_the_synthetic_world(load_world, truth):
    store = load_world("people", "associations", "missing_episodes", "places")
    graph = graph_from_evidence(store, as_of=AS_OF)
    groups = peer_groups(children_subgraph(graph), density=SAFEGUARDING_DENSITY)
    visits = person_places(store, as_of=AS_OF, graph=graph)
    summary = group_summaries(graph, groups, since="2025-10-01", visits=visits, namer=PlaceNamer(named_places(store)))
    assert len(summary) == len(groups)
    children, adults = set(truth["children_ids"]), set(truth["adult_ids"])
    for row in summary.itertuples():
        assert set(row.children) <= children and set(row.adults_posing_risk) <= adults
    line = truth["county_line"]
    mine = summary[summary.children.map(lambda c: bool(set(c) & set(line["children"])))]
    assert set(line["adults"]) & set().union(*mine.adults_posing_risk), "the county-line adult is linked"
    assert summary.spans_boroughs.any(), "planted cross-borough groups span boroughs"
    assert summary.new_links_since.sum() > 0
    # members who joined since: their first link inside the group is recent
    assert summary.new_members_since.map(len).sum() > 0
    for row in summary.itertuples():
        first_inside = {m: min(item["evidence_date"] for other in graph.neighbors(m) if other in row.children
                               for item in graph.edges[m, other]["evidence"]) for m in row.children}
        assert row.new_members_since == sorted(m for m, first in first_inside.items() if first >= "2025-10-01")
    # the county line's group uses its destination most; planted hang-outs are named among groups' places
    top = mine.places.map(lambda places: places[0]).tolist()
    assert any(h3.great_circle_distance(h3.cell_to_latlng(p["cell"]), (line["lat"], line["lng"])) < 3 for p in top)
    hangout_ids = {g["hangout_place"] for g in truth["peer_groups"]}
    hangouts = {p["name"] for p in truth["hot_places"] if p["place_id"] in hangout_ids}
    named = {p["name"] for places in summary.places for p in places}
    assert len(hangouts & named) >= 3, (hangouts, named)
