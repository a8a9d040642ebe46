"""Peer networks from evidence: planted groups recovered, expiry honoured, children never listed as adults."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from geoservice.network.build import (ADULT, CHILD, NetworkInputError, children_subgraph, graph_from_evidence,
                                      people_of)
from geoservice.network.groups import (MAP_BACKEND, SAFEGUARDING_DENSITY, adjusted_rand_index, child_peer_groups,
                                       labels_of, peer_groups)

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
    ids = truth["children_ids"]
    planted = [set(g["members"]) for g in truth["peer_groups"]]
    cpm = peer_groups(children, seed=0, density=SAFEGUARDING_DENSITY)
    cpm_ari = adjusted_rand_index(labels_of(planted, ids), labels_of(cpm, ids))
    assert cpm_ari >= 0.9, cpm_ari
    assert cpm.attrs["settings"]["method"] == "leiden" and cpm.attrs["settings"]["density"] == SAFEGUARDING_DENSITY
    # the default, which the maps, the API and the linkage report use: at least as good as CPM on the world
    groups = child_peer_groups(graph, seed=0)
    ari = adjusted_rand_index(labels_of(planted, ids), labels_of(groups, ids))
    assert ari >= 0.9 and ari >= cpm_ari, (ari, cpm_ari)
    assert groups.attrs["settings"]["method"] == MAP_BACKEND
    # the resolution limit, measured: modularity at resolution 1 merges small groups joined by stray links
    modularity = peer_groups(children, seed=0, resolution=1.0, stability_seeds=0)
    assert adjusted_rand_index(labels_of(planted, ids), labels_of(modularity, ids)) < ari
    assert groups.stability is not None and groups.stability >= 0.9
    assert all(set(g) <= set(ids) for g in groups), "peer groups hold children only"


def planted_small_groups(children: int, ties_per_child: float, seed: int) -> tuple[nx.Graph, list[int]]:
    """Groups of 3-8 children, each within-group pair linked with a probability drawn from 0.5-0.8 (each group
    connected), plus random links between groups: ``ties_per_child`` of them per child on average."""
    rng = np.random.default_rng(seed)
    graph, label, start = nx.Graph(), [], 0
    graph.add_nodes_from(range(children))
    while start < children:
        size = min(int(rng.integers(3, 9)), children - start)
        members = list(range(start, start + size))
        p = rng.uniform(0.5, 0.8)
        inside = nx.Graph([(a, b) for i, a in enumerate(members) for b in members[i + 1:] if rng.random() < p])
        inside.add_nodes_from(members)
        parts = [sorted(c) for c in nx.connected_components(inside)]
        inside.add_edges_from((int(rng.choice(a)), int(rng.choice(b))) for a, b in zip(parts, parts[1:]))
        graph.add_edges_from(inside.edges)
        label += [len(set(label))] * size
        start += size
    bridges = 0
    while bridges < round(ties_per_child * children / 2):
        a, b = (int(x) for x in rng.integers(0, children, 2))
        if label[a] != label[b] and not graph.has_edge(a, b):
            graph.add_edge(a, b)
            bridges += 1
    return graph, label


def test_small_peer_groups_survive_bridging_ties():
    """Groups of 3-8 with 0.3 bridging ties per child: the default keeps them apart (modularity merges them)."""
    graph, label = planted_small_groups(1500, 0.3, seed=1)
    groups = peer_groups(graph, seed=0, stability_seeds=0)
    assert groups.attrs["settings"]["method"] == MAP_BACKEND
    assert groups.attrs["settings"]["objective"] == "surprise"
    assert adjusted_rand_index(label, labels_of(groups, graph.nodes)) >= 0.95
    modularity = peer_groups(graph, seed=0, resolution=1.0, stability_seeds=0)
    assert adjusted_rand_index(label, labels_of(modularity, graph.nodes)) < 0.8


@pytest.mark.parametrize("mu, floor", [(0.1, 0.9), (0.2, 0.9), (0.3, 0.85)])
def test_lfr_communities_are_recovered(mu, floor):
    """LFR benchmark graphs (Lancichinetti, Fortunato and Radicchi 2008): 1,000 nodes, degrees 8-50 (exponent 2,
    mean ~20), communities of 10-200 (exponent 1.1). CPM at density 0.1 splits the larger, sparser communities."""
    graph = nx.generators.community.LFR_benchmark_graph(1000, 2.0, 1.1, mu, min_degree=8, max_degree=50,
                                                         min_community=10, max_community=200, seed=0)
    graph.remove_edges_from(nx.selfloop_edges(graph))
    truth = {frozenset(graph.nodes[v]["community"]) for v in graph}
    graph = nx.Graph(graph.edges)
    groups = peer_groups(graph, seed=0, stability_seeds=0)
    ari = adjusted_rand_index(labels_of(truth, graph.nodes), labels_of(groups, graph.nodes))
    assert ari >= floor, ari
    cpm = peer_groups(graph, seed=0, density=SAFEGUARDING_DENSITY, stability_seeds=0)
    assert adjusted_rand_index(labels_of(truth, graph.nodes), labels_of(cpm, graph.nodes)) < floor


def test_explicit_resolution_density_and_backend_keep_their_meaning():
    graph, _ = planted_small_groups(300, 0.3, seed=2)
    settings = lambda **kw: peer_groups(graph, stability_seeds=0, **kw).attrs["settings"]  # noqa: E731
    assert settings()["method"] == MAP_BACKEND and settings()["objective"] in ("surprise", "modularity")
    assert settings(resolution=2.0)["method"] == "leiden" and settings(resolution=2.0)["resolution"] == 2.0
    assert settings(density=0.2)["method"] == "leiden" and settings(density=0.2)["density"] == 0.2
    assert settings(backend="leiden")["resolution"] == 1.0 and "objective" not in settings(backend="leiden")
    assert settings(backend="louvain")["method"] == "louvain"
    direct = peer_groups(graph, seed=4, resolution=2.0, stability_seeds=0)
    named = peer_groups(graph, seed=4, resolution=2.0, backend="leiden", stability_seeds=0)
    assert [sorted(g) for g in direct] == [sorted(g) for g in named]
    for seed in (0, 7):
        first, again = (peer_groups(graph, seed=seed, stability_seeds=0) for _ in range(2))
        assert [sorted(g) for g in first] == [sorted(g) for g in again]
    with pytest.raises(NetworkInputError, match="sets its own resolution"):
        peer_groups(graph, density=0.1, backend=MAP_BACKEND)
    with pytest.raises(NetworkInputError, match="backend must be"):
        peer_groups(graph, backend="infomap")


def test_default_on_graphs_without_links():
    assert list(peer_groups(nx.empty_graph(5))) == []
    assert list(peer_groups(nx.Graph())) == []
    assert [sorted(g) for g in peer_groups(nx.complete_graph(4))] == [[0, 1, 2, 3]]


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
    assert len(first) == 12 and first.attrs["settings"]["method"] in (MAP_BACKEND, "louvain")
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
