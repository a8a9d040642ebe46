"""Peer groups borough by borough on the engine: identical on Dask and in this process, children only, each group
within one borough, and the links between boroughs counted rather than silently lost."""

from __future__ import annotations

import networkx as nx
import pytest

from geoservice.engine import DaskEngine, LocalEngine
from geoservice.network.build import ADULT, CHILD, NetworkInputError, graph_from_evidence
from geoservice.network.by_area import child_peer_groups_by_area
from geoservice.network.groups import peer_groups

from ..conftest import AS_OF


@pytest.fixture
def world_graph(load_world):
    return graph_from_evidence(load_world("people", "associations"), as_of=AS_OF)


def test_peer_groups_by_borough_are_identical_on_dask_and_locally(world_graph):
    local = child_peer_groups_by_area(world_graph, seed=0)
    engine = DaskEngine.connect(n_workers=1, threads_per_worker=2)
    try:
        on_dask = child_peer_groups_by_area(world_graph, seed=0, engine=engine)
    finally:
        engine.close()
    assert list(local.groups) == list(on_dask.groups) and len(local.groups) > 1
    for area in local.groups:
        assert list(local.groups[area]) == list(on_dask.groups[area]), area
        assert local.groups[area].attrs == on_dask.groups[area].attrs
    assert local.cross_area_links == on_dask.cross_area_links
    assert child_peer_groups_by_area(world_graph, seed=0, engine=LocalEngine()).groups == local.groups

    home = dict(world_graph.nodes(data="home_borough"))
    category = dict(world_graph.nodes(data="subject_category"))
    assert sum(len(g) for g in local.all_groups()) > 20
    for area, groups in local.groups.items():
        for group in groups:
            assert {category[m] for m in group} == {CHILD}, "peer groups hold children only"
            assert {home[m] or None for m in group} == {area}, "a group stays within its borough"
    children = [n for n in world_graph if category[n] == CHILD]
    crossing = sum(1 for u, v in world_graph.subgraph(children).edges() if home[u] != home[v])
    assert local.cross_area_links == crossing


def test_each_area_is_cut_by_the_attribute_asked_for_and_keeps_its_links():
    graph = nx.Graph()
    for n, force in [("c1", "Met"), ("c2", "Met"), ("c3", "Met"), ("c4", "BTP"), ("c5", "BTP"), ("c6", "BTP")]:
        graph.add_node(n, subject_category=CHILD, force=force, home_borough="E09000024")
    graph.add_node("a1", subject_category=ADULT, force="Met")
    graph.add_edges_from([("c1", "c2"), ("c2", "c3"), ("c1", "c3"), ("c4", "c5"), ("c5", "c6"), ("c4", "c6"),
                          ("c3", "c4"), ("a1", "c1"), ("a1", "c2")], weight=1)
    by_force = child_peer_groups_by_area(graph, by="force")
    assert list(by_force.groups) == ["BTP", "Met"] and by_force.cross_area_links == 1
    assert [list(g) for g in by_force.groups.values()] == [[{"c4", "c5", "c6"}], [{"c1", "c2", "c3"}]]
    assert by_force.groups["Met"].attrs["settings"]["area"] == "Met"
    assert by_force.groups["Met"].stability == 1.0
    # one borough: the same groups as peer_groups on the children alone
    by_borough = child_peer_groups_by_area(graph)
    whole = peer_groups(graph.subgraph(["c1", "c2", "c3", "c4", "c5", "c6"]), seed=0, stability_seeds=0)
    assert list(by_borough.groups["E09000024"]) == list(whole) and by_borough.cross_area_links == 0
    with pytest.raises(NetworkInputError, match="'lsoa' attribute"):
        child_peer_groups_by_area(graph, by="lsoa")
