"""Exports round-trip: GraphML and GEXF keep every edge's evidence; i2 CSVs have a row per evidence item."""

from __future__ import annotations

import json

import networkx as nx
import pandas as pd

from geoservice.network.build import ADULT, CHILD
from geoservice.network.export import to_gexf, to_graphml, to_i2_csv


def _graph():
    graph = nx.Graph()
    graph.add_node("C0001", subject_category=CHILD, home_borough="E09000024")
    graph.add_node("C0002", subject_category=CHILD, home_borough="E09000032")
    graph.add_node("A001", subject_category=ADULT, home_borough="E09000028")
    items = [{"association_id": "AS1", "type": "school", "source_layer": "education", "source_record": "EDU-1",
              "evidence_date": "2025-02-01", "grading": "B3", "expires_on": "2026-02-01"},
             {"association_id": "AS2", "type": "online", "source_layer": "intelligence", "source_record": "INT-9",
              "evidence_date": "2025-03-01", "grading": "A2", "expires_on": "2026-09-01"}]
    graph.add_edge("C0001", "C0002", evidence=items, weight=2, types=["online", "school"], first_seen="2025-02-01",
                   last_seen="2025-03-01", expires_on="2026-09-01")
    graph.add_edge("C0002", "A001", evidence=items[:1], weight=1, types=["school"], first_seen="2025-02-01",
                   last_seen="2025-02-01", expires_on="2026-02-01")
    return graph


def test_graphml_and_gexf_round_trip(tmp_path):
    graph = _graph()
    for write, read, name in ((to_graphml, nx.read_graphml, "g.graphml"), (to_gexf, nx.read_gexf, "g.gexf")):
        back = read(write(graph, tmp_path / name))
        assert set(back.nodes) == set(graph.nodes)
        assert back.nodes["A001"]["subject_category"] == ADULT
        edge = back.edges["C0001", "C0002"]
        assert json.loads(edge["evidence_json"]) == sorted(graph.edges["C0001", "C0002"]["evidence"],
                                                           key=lambda i: i["association_id"])
        assert edge["types"] == "online;school"


def test_i2_csv_has_one_link_row_per_evidence_item(tmp_path):
    entities, links = to_i2_csv(_graph(), tmp_path / "entities.csv", tmp_path / "links.csv")
    people = pd.read_csv(entities)
    rows = pd.read_csv(links)
    assert set(people.entity_type) == {CHILD, ADULT} and len(people) == 3
    assert len(rows) == 3 and set(rows.evidence_id) == {"AS1", "AS2"}
    assert rows[["date", "grading", "source_layer", "source_record"]].notna().all().all()
