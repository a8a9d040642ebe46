"""Children's peer groups found area by area (each borough, or each force), one partition per area on the engine.

Pan-London and national networks are too large to read as one, and a borough's MACE panel works on its own
children. So the children (never adults or professionals: ``children_subgraph``) are cut by an attribute of their
node, ``home_borough`` by default (a force, when the nodes carry one), and ``peer_groups``' default runs on each
area's children and the links between them, as a partition on the engine (``geoservice.engine``: in this process
or on Dask). Each partition is a plain graph of the area's children, in the order of the evidence graph, with
each link's ``weight`` only (not its evidence items), so the work sent to a worker is small and every engine runs
exactly the same input: the groups are identical whatever runs them (tested).

Links between children of different areas are left out, not lost: their number is ``cross_area_links``; a group
that spans two boroughs is found by ``child_peer_groups`` on the whole graph.
"""

from __future__ import annotations

import dataclasses

import networkx as nx

from ..engine import LocalEngine
from .build import NetworkInputError, children_subgraph
from .groups import PeerGroups, peer_groups

#: how many other seeds ``stability`` compares with, as ``peer_groups`` does by default
STABILITY_SEEDS = 4


@dataclasses.dataclass
class PeerGroupsByArea:
    """The peer groups of each area's children (areas in name order; children with no area under ``None``,
    last), which node attribute cut them, and how many links between children of different areas were left out."""

    by: str
    groups: dict
    cross_area_links: int

    def all_groups(self) -> list[set]:
        """Every area's groups in one list, area by area."""
        return [group for groups in self.groups.values() for group in groups]


def _area_graph(nodes: list, edges: list) -> nx.Graph:
    graph = nx.Graph()
    graph.add_nodes_from(nodes)
    graph.add_weighted_edges_from(edges)
    return graph


def _groups_of_area(partition, seed: int):
    """One partition (an area's children and the weighted links between them) → its peer groups as sorted lists
    and their settings: plain data, so any engine sends it back the same."""
    nodes, edges = partition
    groups = peer_groups(_area_graph(nodes, edges), seed=seed, stability_seeds=0)
    return [sorted(group, key=str) for group in groups], groups.attrs


def _stability(partition, seed: int):
    """``stability`` for one area, worked out here when first asked for (it reruns the detection)."""
    def stability():
        nodes, edges = partition
        return peer_groups(_area_graph(nodes, edges), seed=seed, stability_seeds=STABILITY_SEEDS).stability
    return stability


def child_peer_groups_by_area(graph: nx.Graph, *, by: str = "home_borough", seed: int = 0,
                              engine=None) -> PeerGroupsByArea:
    """The children's peer groups found within each area of an evidence graph (``graph_from_evidence``).

    ``by`` is the node attribute that names a child's area (``home_borough``, or a force when the nodes carry
    one); ``engine`` runs one partition per area (default: this process; ``get_engine(settings)`` for Dask).
    """
    children = children_subgraph(graph)
    if children.number_of_nodes() and not any(by in data for _, data in children.nodes(data=True)):
        raise NetworkInputError(f"no child in the graph has a {by!r} attribute; cut by an attribute the people "
                                "carry (home_borough, or a force added to each node)")
    area_of = {node: data.get(by) or None for node, data in children.nodes(data=True)}
    areas = sorted(set(area_of.values()), key=lambda area: (area is None, str(area)))
    nodes_of: dict = {area: [] for area in areas}
    for node in children.nodes:  # the evidence graph's order, so an area's input does not depend on the engine
        nodes_of[area_of[node]].append(node)
    edges_of: dict = {area: [] for area in areas}
    cross_area_links = 0
    for u, v, weight in children.edges(data="weight", default=1):
        if area_of[u] == area_of[v]:
            edges_of[area_of[u]].append((u, v, weight))
        else:
            cross_area_links += 1
    partitions = [(nodes_of[area], edges_of[area]) for area in areas]
    engine = LocalEngine() if engine is None else engine
    answers = engine.map_partitions(_groups_of_area, partitions, seed)
    groups = {}
    for area, partition, (found, attrs) in zip(areas, partitions, answers):
        result = PeerGroups(set(group) for group in found)
        result.attrs = {"settings": {**attrs["settings"], "by": by, "area": area}}
        result._stability_of = _stability(partition, seed)
        groups[area] = result
    return PeerGroupsByArea(by=by, groups=groups, cross_area_links=cross_area_links)
