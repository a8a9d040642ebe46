"""Peer networks from evidence: planted groups recovered, expiry honoured, children never listed as adults."""

from __future__ import annotations

import networkx as nx
import pytest

from geoservice.network.build import (ADULT, CHILD, NetworkInputError, children_subgraph, graph_from_evidence,
                                      people_of)
from geoservice.network.groups import SAFEGUARDING_DENSITY, adjusted_rand_index, labels_of, peer_groups

from ..conftest import AS_OF


@pytest.fixture
def world_store(load_world):
    return load_world("people", "associations")


def test_adjusted_rand_index_known_values():
    assert adjusted_rand_index([0, 0, 1, 1], [5, 5, 7, 7]) == 1.0
    assert adjusted_rand_index([0, 0, 0, 1, 1, 1], [0, 0, 1, 1, 2, 2]) == pytest.approx(0.2424, abs=1e-4)
    assert adjusted_rand_index([0, 1, 2, 3], [0, 0, 0, 0]) == pytest.approx(0.0)


def test_planted_peer_groups_are_recovered(world_store, truth):
    graph = graph_from_evidence(world_store, as_of=AS_OF)
    children = children_subgraph(graph)
    groups = peer_groups(children, seed=0, density=SAFEGUARDING_DENSITY)
    ids = truth["children_ids"]
    planted = [set(g["members"]) for g in truth["peer_groups"]]
    ari = adjusted_rand_index(labels_of(planted, ids), labels_of(groups, ids))
    assert ari >= 0.9, ari
    assert groups.attrs["settings"]["method"] == "leiden"
    # the resolution limit, measured: modularity at resolution 1 merges small groups joined by stray links
    modularity = peer_groups(children, seed=0, stability_seeds=0)
    assert adjusted_rand_index(labels_of(planted, ids), labels_of(modularity, ids)) < ari
    assert groups.stability is not None and groups.stability >= 0.9
    assert all(set(g) <= set(ids) for g in groups), "peer groups hold children only"


def test_every_edge_carries_its_evidence(world_store):
    graph = graph_from_evidence(world_store, as_of=AS_OF)
    assert graph.number_of_edges() > 300
    for _, _, data in graph.edges(data=True):
        assert data["evidence"] and data["weight"] == len(data["evidence"])
        for item in data["evidence"]:
            assert item["source_layer"] and item["source_record"] and item["evidence_date"] and item["grading"]
            assert item["expires_on"] >= AS_OF


def test_expired_evidence_disappears(world_store, truth):
    expired = set(truth["expired_associations"])
    graph = graph_from_evidence(world_store, as_of=AS_OF)
    shown = {item["association_id"] for _, _, d in graph.edges(data=True) for item in d["evidence"]}
    assert not shown & expired
    earlier = graph_from_evidence(world_store, as_of="2024-06-01")  # when they were still in force
    shown_then = {item["association_id"] for _, _, d in earlier.edges(data=True) for item in d["evidence"]}
    assert expired & shown_then


def test_no_child_is_ever_listed_as_an_adult(world_store, truth):
    graph = graph_from_evidence(world_store, as_of=AS_OF)
    adults, children = people_of(graph, ADULT), people_of(graph, CHILD)
    assert set(adults).isdisjoint(children)
    assert set(adults) <= set(truth["adult_ids"]) and set(children) <= set(truth["children_ids"])
    assert not any(d["subject_category"] == "professional" for _, d in graph.nodes(data=True))


def test_filters_by_type_reliability_and_window(world_store):
    everything = graph_from_evidence(world_store, as_of=AS_OF)
    school = graph_from_evidence(world_store, as_of=AS_OF, types=["school"])
    assert 0 < school.number_of_edges() < everything.number_of_edges()
    assert all(d["types"] == ["school"] for _, _, d in school.edges(data=True))
    reliable = graph_from_evidence(world_store, as_of=AS_OF, worst_source="A", worst_assessment=2)
    assert all(item["grading"][0] == "A" and int(item["grading"][1]) <= 2
               for _, _, d in reliable.edges(data=True) for item in d["evidence"])
    spring = graph_from_evidence(world_store, as_of=AS_OF, start="2025-03-01", end="2025-06-01")
    assert all("2025-03-01" <= item["evidence_date"] < "2025-06-01"
               for _, _, d in spring.edges(data=True) for item in d["evidence"])
    with pytest.raises(NetworkInputError, match="worst_source"):
        graph_from_evidence(world_store, worst_source="D")


def test_peer_groups_on_any_networkx_graph_are_seeded():
    graph = nx.connected_caveman_graph(12, 6)
    first, again = peer_groups(graph, seed=3), peer_groups(graph, seed=3)
    assert [sorted(g) for g in first] == [sorted(g) for g in again]
    assert len(first) == 12 and first.attrs["settings"]["method"] in ("leiden", "louvain")
    louvain = peer_groups(graph, seed=3, backend="louvain")
    assert adjusted_rand_index(labels_of(first, graph.nodes), labels_of(louvain, graph.nodes)) > 0.9


def test_density_needs_leiden():
    with pytest.raises(NetworkInputError, match="modularity only"):
        peer_groups(nx.path_graph(4), density=0.1, backend="louvain")


def test_ego_network_lists_every_link_with_its_evidence(world_store, truth):
    from geoservice.network.ego import ego_network

    graph = graph_from_evidence(world_store, as_of=AS_OF)
    group = next(g for g in truth["peer_groups"] if g["adults"] and len(g["members"]) >= 5)
    child = next(m for m in group["members"] if graph.degree(m) > 0)
    ego = ego_network(graph, child, hops=2)
    assert set(ego.children).isdisjoint(ego.adults_posing_risk) and child not in ego.children
    assert set(ego.children) <= set(truth["children_ids"]) and set(ego.adults_posing_risk) <= set(truth["adult_ids"])
    assert len(ego.links) == sum(len(d["evidence"]) for _, _, d in ego.graph.edges(data=True)) > 0
    assert ego.links.hops.between(1, 2).all()
    assert ego.links[["source_layer", "source_record", "evidence_date", "grading"]].notna().all().all()
    with pytest.raises(NetworkInputError, match="not in the network"):
        ego_network(graph, "NOBODY")
