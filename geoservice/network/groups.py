"""Peer groups: seeded community detection, with how stable the answer is across seeds.

``peer_groups`` works on any NetworkX graph (``weight`` honoured when present). By default it optimises
modularity at ``resolution`` (Leiden, in igraph's C core, on a graph built from arrays, not edge by edge;
NetworkX's Louvain when igraph is not installed). Modularity has a resolution limit: in a sparse network of ~500
children a single stray link between two small groups can merge them (on the synthetic world, modularity at resolution 1
recovers the planted groups with an adjusted Rand index of only 0.84).

``density`` switches to the Constant Potts Model, which judges each group by its own internal link density and so
keeps small groups apart. ``SAFEGUARDING_DENSITY`` = 0.1 follows from peer groups being 3-15 young people: a
connected group of n has (weighted) density at least 2/n, 0.13 or more for n <= 15, so it stays whole; two groups
of three joined by one stray link merge only if the density threshold is below 1/9 = 0.11. Stability is the mean
adjusted Rand index between the partition and those found with other seeds.
"""

from __future__ import annotations

import random
import threading

import networkx as nx
import numpy as np

from ..results import settings as result_settings
from .build import NetworkInputError, children_subgraph


SAFEGUARDING_DENSITY = 0.1


class PeerGroups(list):
    """A list of sets of nodes (largest first), with ``attrs["settings"]`` (method, seed, resolution, density and
    the input's digest: ``analysis/results.py``) and ``stability`` (computed on first use: it reruns the detection
    with other seeds)."""

    attrs: dict
    _stability_of = None
    _stability: float | None = None

    @property
    def stability(self) -> float | None:
        """Mean adjusted Rand index against the partitions found with other seeds (1: the same every time)."""
        if self._stability is None and self._stability_of is not None:
            self._stability = self._stability_of()
        return self._stability


def adjusted_rand_index(labels_a, labels_b) -> float:
    """Adjusted Rand index (Hubert and Arabie 1985) between two labelings of the same items."""
    a = np.unique(np.asarray(labels_a, dtype=object).astype(str), return_inverse=True)[1]
    b = np.unique(np.asarray(labels_b, dtype=object).astype(str), return_inverse=True)[1]
    if a.size != b.size:
        raise NetworkInputError("the two labelings must cover the same items")
    # the contingency table, sparse: thousands of groups on each side would make a dense one gigabytes
    cells = np.unique(a.astype(np.int64) * (b.max() + 1) + b, return_counts=True)[1].astype(float)
    pairs = lambda x: (x * (x - 1) / 2).sum()  # noqa: E731
    index = pairs(cells)
    rows = pairs(np.bincount(a).astype(float))
    cols = pairs(np.bincount(b).astype(float))
    total = a.size * (a.size - 1) / 2
    expected = rows * cols / total if total else 0.0
    best = (rows + cols) / 2
    return 1.0 if best == expected else float((index - expected) / (best - expected))


def labels_of(groups, nodes) -> list:
    """Each node's group number (or its own label when it is in no group)."""
    where = {n: i for i, group in enumerate(groups) for n in group}
    return [where.get(n, f"alone:{n}") for n in nodes]


_IGRAPH_RNG = threading.Lock()  # igraph's random generator is global: one seeded run at a time


def _leiden(graph: nx.Graph, seed: int, resolution: float, density: float | None) -> list[set]:
    """Leiden in igraph's C core, on a graph built from arrays (not edge by edge in Python)."""
    import igraph as ig

    nodes = list(graph.nodes)
    position = {n: i for i, n in enumerate(nodes)}
    edges = np.array([(position[u], position[v]) for u, v in graph.edges()], dtype=np.int64).reshape(-1, 2)
    weights = [d.get("weight", 1) for _, _, d in graph.edges(data=True)]
    g = ig.Graph(n=len(nodes), edges=edges, directed=False)
    objective, parameter = ("CPM", density) if density is not None else ("modularity", resolution)
    with _IGRAPH_RNG:
        ig.set_random_number_generator(random.Random(seed))
        try:
            membership = g.community_leiden(objective_function=objective, weights=weights, resolution=parameter,
                                            n_iterations=-1 if density is not None else 2).membership
        finally:
            ig.set_random_number_generator(random)
    groups: dict[int, set] = {}
    for node, label in zip(nodes, membership):
        groups.setdefault(label, set()).add(node)
    return list(groups.values())


def peer_groups(graph: nx.Graph, *, seed: int = 0, resolution: float = 1.0, density: float | None = None,
                stability_seeds: int = 4, backend: str | None = None) -> PeerGroups:
    """Groups of connected people (lists of node sets, largest first); isolated nodes form no group.

    Parameters
    ----------
    graph
        Any NetworkX graph; an edge's ``weight`` counts when present.
    seed
        Same seed, same groups.
    resolution
        Modularity resolution (higher: smaller groups).
    density
        Use the Constant Potts Model with this minimum internal link density instead of modularity (needs
        igraph); ``SAFEGUARDING_DENSITY`` suits peer groups of 3-15.
    stability_seeds
        How many other seeds to compare with for ``stability``.
    backend
        ``leiden`` (default when igraph is installed) or ``louvain`` (NetworkX; modularity only).
    """
    if resolution <= 0 or (density is not None and density <= 0):
        raise NetworkInputError(f"resolution and density must be positive, got {resolution} and {density}")
    if density is not None and backend == "louvain":
        raise NetworkInputError("the louvain backend optimises modularity only; use backend='leiden' for density")
    if backend is None:
        try:
            import igraph  # noqa: F401

            backend = "leiden"
        except ImportError:
            backend = "louvain"

    def detect(s: int) -> list[set]:
        if backend == "leiden":
            found = _leiden(graph, s, resolution, density)
        elif backend == "louvain":
            found = nx.community.louvain_communities(graph, weight="weight", resolution=resolution, seed=s)
        else:
            raise NetworkInputError(f"backend must be 'leiden' or 'louvain', got {backend!r}")
        return sorted((set(c) for c in found if len(c) > 1), key=lambda c: (-len(c), sorted(map(str, c))))

    groups = PeerGroups(detect(seed))
    groups.attrs = {"settings": result_settings(
        method=backend, seed=seed, resolution=resolution, density=density,
        inputs=(np.array(sorted(map(str, graph.nodes))),
                np.array(sorted("|".join(sorted(map(str, edge))) for edge in graph.edges()))))}
    if stability_seeds and graph.number_of_nodes():
        def stability() -> float:
            nodes = list(graph.nodes)
            mine = labels_of(groups, nodes)
            return float(np.mean([adjusted_rand_index(mine, labels_of(detect(seed + 1 + k), nodes))
                                  for k in range(stability_seeds)]))

        groups._stability_of = stability
    return groups


def child_peer_groups(graph: nx.Graph, *, seed: int = 0) -> PeerGroups:
    """The peer groups of the children in an evidence graph (``graph_from_evidence``): Leiden under the Constant
    Potts Model at ``SAFEGUARDING_DENSITY``, on the children and the links between them only."""
    return peer_groups(children_subgraph(graph), density=SAFEGUARDING_DENSITY, seed=seed)
