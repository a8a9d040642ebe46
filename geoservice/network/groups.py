"""Peer groups: seeded community detection, with how stable the answer is across seeds.

``peer_groups`` works on any NetworkX graph (``weight`` honoured when present). Its default (``leiden-map``) has
to be right both for children's peer groups (3-15 young people, dense inside, a few stray links between them) and
for larger communities, and no single objective we measured is (docs/network.md has the table):

- Modularity has a resolution limit (Fortunato and Barthelemy 2007): in a sparse network a single stray link
  between two small groups merges them (ARI 0.84 on the synthetic world, 0.34 on 2,000 children in groups of 3-8,
  0.17 on 10,000), and on LFR graphs of 10,000 nodes it merges the smaller communities (ARI 0.73-0.94).
- The Constant Potts Model (Traag, Van Dooren and Nesterov 2011) at a fixed density keeps small groups apart but
  splits large sparse communities (ARI 0.37-0.75 on LFR graphs at density 0.1).
- Asymptotical Surprise (Traag, Aldecoa and Delvenne 2015) has neither problem on small groups or on LFR graphs
  of 10,000, but on LFR graphs of 1,000 at mu = 0.3 its optimum itself (not the search) breaks the communities
  into their dense cores (ARI 0.43-0.70).
- Infomap (Rosvall and Bergstrom 2008; best on LFR in Lancichinetti and Fortunato 2009) is near perfect on LFR
  graphs, but its two-level map equation merges small groups too (ARI 0.86-0.96 at 0.3 bridging ties per child)
  and it takes 8-18 s on 100,000 people; its multilevel leaf modules split groups of the synthetic world (0.92).

So the default finds two candidates with Leiden (Traag, Waltman and van Eck 2019) in igraph's C core: the Surprise
optimum, as a fixed point of CPM (start at density 0.1; rerun CPM at the resolution where the partition is a
stationary point of Surprise, from the partition found, until it settles: Surprise is convex in the internal link
weight and pairs, so its optimum is a CPM optimum), and the modularity optimum reached from it. It keeps the one
with the shorter two-level map-equation description (Infomap's objective, computed in closed form for each
candidate): Surprise wins on small groups and on larger networks, modularity on small networks of large, weakly
separated communities. The chosen candidate and both description lengths are in ``attrs["settings"]``.

``resolution`` (modularity) and ``density`` (CPM) choose a single objective instead. ``SAFEGUARDING_DENSITY`` = 0.1
follows from peer groups being 3-15 young people: a connected group of n has (weighted) density at least 2/n, 0.13
or more for n <= 15, so it stays whole; two groups of three joined by one stray link merge only if the density
threshold is below 1/9 = 0.11. Without igraph, NetworkX's Louvain (modularity) is used. Stability is the mean
adjusted Rand index between the partition and those found with other seeds.
"""

from __future__ import annotations

import itertools
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
MAP_BACKEND = "leiden-map"  # the default: the Surprise and the modularity optima, judged by the map equation


def _as_igraph(graph: nx.Graph):
    """The nodes (in order), an igraph graph built from arrays (not edge by edge in Python), its edges as an array
    of node positions and their weights. The edges come in the order of ``graph.edges()``."""
    import igraph as ig

    nodes = list(graph.nodes)
    position = {n: i for i, n in enumerate(nodes)}
    if graph.is_directed() or graph.is_multigraph():
        m = graph.number_of_edges()
        ends = np.fromiter(map(position.__getitem__, itertools.chain.from_iterable(graph.edges())), dtype=np.int64,
                           count=2 * m).reshape(-1, 2)
        weights = np.fromiter((d.get("weight", 1) for _, _, d in graph.edges(data=True)), dtype=float, count=m)
    else:  # one walk of the adjacency, as Graph.edges() does (each link once), ~5 times faster than through it
        first, second, weight, seen = [], [], [], set()
        for u, neighbours in graph.adjacency():
            i = position[u]
            seen.add(u)
            for v, data in neighbours.items():
                if v != u and v in seen:
                    continue
                first.append(i)
                second.append(position[v])
                weight.append(data.get("weight", 1))
        ends = np.column_stack([np.array(first, dtype=np.int64), np.array(second, dtype=np.int64)]).reshape(-1, 2)
        weights = np.asarray(weight, dtype=float)
    g = ig.Graph(n=len(nodes), directed=False)
    g.add_edges(ends)  # from the array in C: the constructor's edges= walks it in Python, ~4 times slower
    return nodes, g, ends, weights


def _surprise_resolution(ends: np.ndarray, weights: np.ndarray, membership: np.ndarray) -> float | None:
    """The CPM resolution at which a partition is a stationary point of asymptotical Surprise (Traag, Aldecoa and
    Delvenne 2015): S = m D(q || <q>), with q the fraction of the link weight inside groups and <q> the fraction of
    the pairs of nodes inside groups; S is convex in (internal weight, internal pairs), so its maximum is the CPM
    optimum at the slope gamma = -dS/d(pairs) / dS/d(weight) there. None when no group holds more than its share."""
    n = membership.size
    m, pairs = weights.sum(), n * (n - 1) / 2
    sizes = np.bincount(membership)
    q = weights[membership[ends[:, 0]] == membership[ends[:, 1]]].sum() / m
    expected = (sizes * (sizes - 1) / 2).sum() / pairs
    if not expected < q < 1:
        return None
    return float((m / pairs) * (q - expected) / (expected * (1 - expected))
                 / np.log(q * (1 - expected) / (expected * (1 - q))))


def map_codelength(ends: np.ndarray, weights: np.ndarray, membership: np.ndarray) -> float:
    """Bits per step of a random walk described with the two-level map equation (Rosvall and Bergstrom 2008) for
    this partition of an undirected (weighted) graph: L = q log q - 2 sum q_i log q_i - sum p_a log p_a
    + sum (q_i + p_i) log(q_i + p_i), with p_a a node's share of the link weight, q_i a group's exit flow."""
    n, k = membership.size, membership.max() + 1
    total = 2 * weights.sum()
    p = (np.bincount(ends[:, 0], weights=weights, minlength=n) + np.bincount(ends[:, 1], weights=weights,
                                                                              minlength=n)) / total
    cross = membership[ends[:, 0]] != membership[ends[:, 1]]
    exits = (np.bincount(membership[ends[cross, 0]], weights=weights[cross], minlength=k)
             + np.bincount(membership[ends[cross, 1]], weights=weights[cross], minlength=k)) / total
    flows = np.bincount(membership, weights=p, minlength=k)
    plogp = lambda x: float(np.sum(x[x > 0] * np.log2(x[x > 0])))  # noqa: E731
    return plogp(np.array([exits.sum()])) - 2 * plogp(exits) - plogp(p) + plogp(exits + flows)


def _surprise_or_modularity(g, ends: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, dict]:
    """The default: two Leiden optima, and whichever describes the flow of a random walk in fewer bits.

    1. Asymptotical Surprise, found as a fixed point of the Constant Potts Model (start at density 0.1; run CPM at
       the resolution where the partition is a stationary point of Surprise; repeat from there until it settles).
       Surprise judges each group against the share of pairs it holds, whatever the size of the network, so small
       dense groups are not merged (no resolution limit), and large sparse groups are kept whole.
    2. Modularity at resolution 1, which is the better answer when communities are large and weakly separated
       (Surprise then breaks them into their densest cores).
    The two-level map equation (Infomap's objective) chooses: it rewards groups a random walk stays in, and it is
    computed in closed form for each candidate, so neither candidate needs Infomap's own (slower) search.
    """
    n = g.vcount()
    chosen = {"objective": "surprise"}
    if not weights.size:
        return np.arange(n), chosen
    w = weights.tolist()
    membership, gamma, last = None, SAFEGUARDING_DENSITY, None
    for _ in range(20):
        found = np.asarray(g.community_leiden(objective_function="CPM", weights=w, resolution=gamma, n_iterations=2,
                                              initial_membership=None if membership is None else membership.tolist()
                                              ).membership)
        settled = membership is not None and np.array_equal(found, membership)
        membership = found
        chosen["surprise_resolution"] = gamma
        following = _surprise_resolution(ends, weights, membership)
        if settled or following is None or (last is not None and abs(following - gamma) <= 1e-3 * gamma):
            break
        last, gamma = gamma, following
    modularity = np.asarray(g.community_leiden(objective_function="modularity", weights=w, resolution=1.0,
                                               n_iterations=2, initial_membership=membership.tolist()).membership)
    lengths = {"surprise": map_codelength(ends, weights, membership),
               "modularity": map_codelength(ends, weights, modularity)}
    chosen["codelength_bits"] = {k: round(v, 6) for k, v in lengths.items()}
    if lengths["modularity"] < lengths["surprise"]:
        chosen["objective"], membership = "modularity", modularity
    return membership, chosen


def _leiden(graph: nx.Graph, seed: int, resolution: float | None, density: float | None,
            objective: str = "leiden") -> tuple[list[set], dict]:
    """Leiden in igraph's C core: CPM at ``density``, modularity at ``resolution``, or (``MAP_BACKEND``) the
    Surprise and modularity optima judged by the map equation."""
    import igraph as ig

    nodes, g, ends, weights = _as_igraph(graph)
    chosen: dict = {}
    with _IGRAPH_RNG:
        ig.set_random_number_generator(random.Random(seed))
        try:
            if objective == MAP_BACKEND:
                membership, chosen = _surprise_or_modularity(g, ends, weights)
            else:
                cpm = density is not None
                membership = g.community_leiden(objective_function="CPM" if cpm else "modularity",
                                                weights=weights.tolist(), resolution=density if cpm else resolution,
                                                n_iterations=-1 if cpm else 2).membership
        finally:
            ig.set_random_number_generator(random)
    groups: dict[int, set] = {}
    for node, label in zip(nodes, np.asarray(membership).tolist()):
        groups.setdefault(label, set()).add(node)
    return list(groups.values()), chosen


def peer_groups(graph: nx.Graph, *, seed: int = 0, resolution: float | None = None, density: float | None = None,
                stability_seeds: int = 4, backend: str | None = None) -> PeerGroups:
    """Groups of connected people (lists of node sets, largest first); isolated nodes form no group.

    Parameters
    ----------
    graph
        Any NetworkX graph; an edge's ``weight`` counts when present.
    seed
        Same seed, same groups.
    resolution
        Optimise modularity at this resolution (higher: smaller groups) instead of the default.
    density
        Use the Constant Potts Model with this minimum internal link density instead (needs igraph);
        ``SAFEGUARDING_DENSITY`` suits peer groups of 3-15.
    stability_seeds
        How many other seeds to compare with for ``stability``.
    backend
        ``leiden-map`` (the default when igraph is installed and neither ``resolution`` nor ``density`` is given:
        the module docstring), ``leiden`` (modularity, or CPM with ``density``; the default when either is given)
        or ``louvain`` (NetworkX; modularity only, and the default without igraph).
    """
    if (resolution is not None and resolution <= 0) or (density is not None and density <= 0):
        raise NetworkInputError(f"resolution and density must be positive, got {resolution} and {density}")
    if density is not None and backend == "louvain":
        raise NetworkInputError("the louvain backend optimises modularity only; use backend='leiden' for density")
    if backend == MAP_BACKEND and (resolution is not None or density is not None):
        raise NetworkInputError(f"the {MAP_BACKEND} backend sets its own resolution; pass backend='leiden' "
                                "with resolution or density")
    if backend is None:
        try:
            import igraph  # noqa: F401

            backend = "leiden" if resolution is not None or density is not None else MAP_BACKEND
        except ImportError:
            backend = "louvain"
    if backend not in ("leiden", "louvain", MAP_BACKEND):
        raise NetworkInputError(f"backend must be {MAP_BACKEND!r}, 'leiden' or 'louvain', got {backend!r}")
    if backend != MAP_BACKEND and density is None and resolution is None:
        resolution = 1.0

    def detect(s: int) -> tuple[list[set], dict]:
        if backend == "louvain":
            found, chosen = nx.community.louvain_communities(graph, weight="weight", resolution=resolution,
                                                             seed=s), {}
        else:
            found, chosen = _leiden(graph, s, resolution, density, backend)
        return sorted((set(c) for c in found if len(c) > 1), key=lambda c: (-len(c), sorted(map(str, c)))), chosen

    found, chosen = detect(seed)
    groups = PeerGroups(found)
    groups.attrs = {"settings": result_settings(
        method=backend, seed=seed, resolution=resolution, density=density, **chosen,
        inputs=(np.array(sorted(map(str, graph.nodes))),
                np.array(sorted(a + "|" + b if a <= b else b + "|" + a
                                for a, b in ((str(u), str(v)) for u, v in graph.edges())))))}
    if stability_seeds and graph.number_of_nodes():
        def stability() -> float:
            nodes = list(graph.nodes)
            mine = labels_of(groups, nodes)
            return float(np.mean([adjusted_rand_index(mine, labels_of(detect(seed + 1 + k)[0], nodes))
                                  for k in range(stability_seeds)]))

        groups._stability_of = stability
    return groups


def child_peer_groups(graph: nx.Graph, *, seed: int = 0) -> PeerGroups:
    """The peer groups of the children in an evidence graph (``graph_from_evidence``): the default of
    ``peer_groups`` (``MAP_BACKEND``), on the children and the links between them only. On the synthetic world it
    recovers the planted groups at least as well as CPM at ``SAFEGUARDING_DENSITY`` (tested)."""
    return peer_groups(children_subgraph(graph), seed=seed)
