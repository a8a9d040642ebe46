"""One child's network for case discussion: who is within k hops, and every link with its evidence and date."""

from __future__ import annotations

import dataclasses

import networkx as nx
import pandas as pd

from .build import ADULT, CHILD, NetworkInputError


@dataclasses.dataclass
class EgoNetwork:
    """People within ``hops`` of ``person``, kept apart by category, and the evidenced links among them.

    ``links`` has one row per evidence item: the two people, their distance in hops from the person, the type,
    source layer and record, date, 3x5x2 grading and expiry.
    """

    person: str
    hops: int
    children: list[str]
    adults_posing_risk: list[str]
    links: pd.DataFrame
    graph: nx.Graph


def ego_network(graph: nx.Graph, person: str, *, hops: int = 2) -> EgoNetwork:
    """The ego network of ``person`` (a node of ``graph_from_evidence``) out to ``hops`` links."""
    if person not in graph:
        raise NetworkInputError(f"{person!r} is not in the network (no evidenced links in force, or unknown)")
    if not 1 <= hops <= 4:
        raise NetworkInputError(f"hops must be 1-4, got {hops}")
    distance = nx.single_source_shortest_path_length(graph, person, cutoff=hops)
    sub = graph.subgraph(distance)
    rows = []
    for a, b, data in sub.edges(data=True):
        for item in data.get("evidence", []):
            rows.append({"person_a": a, "person_b": b, "hops": max(distance[a], distance[b]), **item})
    columns = ["person_a", "person_b", "hops", "type", "source_layer", "source_record", "evidence_date", "grading",
               "expires_on", "association_id"]
    links = pd.DataFrame(rows, columns=columns).sort_values(["hops", "evidence_date"]).reset_index(drop=True)
    category = nx.get_node_attributes(sub, "subject_category")
    return EgoNetwork(person, hops, sorted(n for n in sub if category.get(n) == CHILD and n != person),
                      sorted(n for n in sub if category.get(n) == ADULT), links, sub)
