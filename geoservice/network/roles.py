"""What a panel asks of each peer group and each person's place in the network, children and adults kept apart.

``group_summaries``: per group, its children, the adults who pose risk linked to it (never members), the boroughs
it spans, its recent evidence, new links and new members since a date, and the places it uses (``places.places_used``).
``network_roles``: degree, betweenness (bridges between groups), eigenvector centrality and k-core, as one table
for children and a separate one for adults who pose risk. ``exposure``: how many hops each child is from peers
harmed recently, and how many such peers lie within two hops.
"""

from __future__ import annotations

import networkx as nx
import pandas as pd

from ..places import PlaceNamer
from .build import ADULT, CHILD
from .places import places_used


def group_summaries(graph: nx.Graph, groups, *, since=None, visits: pd.DataFrame | None = None,
                    namer: PlaceNamer | None = None, recent_days: int = 90, ids=None) -> pd.DataFrame:
    """One row per peer group (groups of children from ``peer_groups`` on the children subgraph).

    ``ids``: the groups' stable ids (``identity.identify``, in the same order): ``group`` is then the id, and
    ``id_note`` says whether the group is new, the same, changed, merged or split; otherwise groups are numbered.

    ``visits``: ``places.person_places`` (where members were found or involved in incidents), summarised as the
    group's top places, named by ``namer``; ``since``: evidence dated on or after it counts as new.
    """
    as_of = pd.Timestamp(graph.graph.get("as_of") or pd.Timestamp.today().date())
    since = pd.Timestamp(since) if since is not None else None
    category = nx.get_node_attributes(graph, "subject_category")
    borough = nx.get_node_attributes(graph, "home_borough")
    rows = []
    for number, members in enumerate(groups, start=1):
        identity = ids[number - 1] if ids is not None else None
        members = sorted(m for m in members if category.get(m) == CHILD)
        inside = [(a, b, d) for a, b, d in graph.subgraph(members).edges(data=True)]
        dates = [pd.Timestamp(item["evidence_date"]) for _, _, d in inside for item in d["evidence"]]
        adults = sorted({n for m in members for n in graph.neighbors(m) if category.get(n) == ADULT})
        new_links = sum(1 for _, _, d in inside for item in d["evidence"]
                        if since is not None and pd.Timestamp(item["evidence_date"]) >= since)
        # a new member: their first evidenced link inside the group is dated on or after ``since``
        joined = {}
        for a, b, d in inside:
            first = min(pd.Timestamp(item["evidence_date"]) for item in d["evidence"])
            for m in (a, b):
                joined[m] = min(joined.get(m, first), first)
        new_members = sorted(m for m, when in joined.items() if since is not None and when >= since)
        places = places_used(members, visits, namer=namer) if visits is not None else []
        boroughs = sorted({borough.get(m) for m in members if borough.get(m)})
        rows.append({
            "group": identity.group_id if identity else number,
            "id_note": f"{identity.status}: {identity.note}" if identity else "",
            "children": members, "size": len(members), "adults_posing_risk": adults,
            "boroughs": boroughs, "spans_boroughs": len(boroughs) > 1, "links": len(inside),
            "last_evidence": max(dates).date().isoformat() if dates else None,
            "recent_evidence": sum(1 for d in dates if (as_of - d).days <= recent_days),
            "new_links_since": new_links, "new_members_since": new_members, "places": places,
        })
    return pd.DataFrame(rows)


def network_roles(graph: nx.Graph, *, betweenness_sample: int | None = None, seed: int = 0) -> dict[str, pd.DataFrame]:
    """Per person: degree, betweenness, eigenvector centrality and k-core; one table per subject category."""
    simple = nx.Graph(graph.edges())
    simple.add_nodes_from(graph.nodes)
    k = betweenness_sample if betweenness_sample and betweenness_sample < simple.number_of_nodes() else None
    betweenness = nx.betweenness_centrality(simple, k=k, seed=seed)
    eigenvector = {}
    for component in nx.connected_components(simple):
        sub = simple.subgraph(component)
        if sub.number_of_nodes() > 2:
            eigenvector.update(nx.eigenvector_centrality(sub, max_iter=1000, tol=1e-8))
    core = nx.core_number(simple)
    frame = pd.DataFrame({
        "degree": dict(simple.degree()), "betweenness": betweenness,
        "eigenvector": pd.Series(eigenvector, dtype=float), "k_core": core,
        "subject_category": nx.get_node_attributes(graph, "subject_category"),
    }).fillna({"eigenvector": 0.0})
    frame = frame.sort_values(["betweenness", "degree"], ascending=False)
    return {"children": frame[frame.subject_category == CHILD].drop(columns="subject_category"),
            "adults_posing_risk": frame[frame.subject_category == ADULT].drop(columns="subject_category")}


def exposure(graph: nx.Graph, harmed, *, max_hops: int = 3) -> pd.DataFrame:
    """For each child: hops to the nearest other recently harmed child (up to ``max_hops``), and how many lie
    within two hops. ``harmed``: ids of children harmed in the window of interest (e.g. red missing episodes)."""
    harmed = set(harmed)
    category = nx.get_node_attributes(graph, "subject_category")
    rows = {}
    for child in (n for n, c in category.items() if c == CHILD):
        reach = nx.single_source_shortest_path_length(graph, child, cutoff=max_hops)
        hops = [d for n, d in reach.items() if n in harmed and n != child]
        rows[child] = {"hops_to_harmed": min(hops) if hops else None,
                       "harmed_within_2": sum(1 for d in hops if d <= 2)}
    frame = pd.DataFrame.from_dict(rows, orient="index").sort_index()
    return frame.astype({"hops_to_harmed": "Int64", "harmed_within_2": "int64"})  # hops stay whole numbers
