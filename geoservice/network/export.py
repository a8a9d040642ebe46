"""Exports for the tools analysts already use: GraphML and GEXF (Gephi), CSV entities and links (i2 Analyst's
Notebook's tabular import).

Only pseudonymous ids leave: people are exported by ``person_id`` with their subject category and borough. Graph
formats take scalar attributes only, so each edge's evidence list travels as a JSON string (``evidence_json``);
the i2 links file has one row per evidence item, so every link is shown with its source, date and grading.
"""

from __future__ import annotations

import json
from pathlib import Path

import networkx as nx
import pandas as pd

from ..safe_text import for_xml, frame_for_spreadsheet

NODE_FIELDS = ("subject_category", "home_borough")
EDGE_FIELDS = ("weight", "first_seen", "last_seen", "expires_on")


def _flat(graph: nx.Graph) -> nx.Graph:
    """Scalar attributes only, every text XML-safe (a NUL or other control character would make the file
    unreadable)."""
    flat = nx.Graph()
    for node, data in graph.nodes(data=True):
        flat.add_node(for_xml(str(node)), **{k: for_xml(str(data[k])) for k in NODE_FIELDS if data.get(k) is not None})
    for a, b, data in graph.edges(data=True):
        attributes = {k: for_xml(v) if isinstance(v, str) else v
                      for k, v in ((k, data[k]) for k in EDGE_FIELDS if data.get(k) is not None)}
        attributes["types"] = for_xml(";".join(data.get("types", [])))
        attributes["evidence_json"] = json.dumps(data.get("evidence", []), sort_keys=True, default=str)
        flat.add_edge(for_xml(str(a)), for_xml(str(b)), **attributes)
    return flat


def to_graphml(graph: nx.Graph, path) -> Path:
    """Write GraphML (opens in Gephi, yEd, Cytoscape)."""
    nx.write_graphml(_flat(graph), path)
    return Path(path)


def to_gexf(graph: nx.Graph, path) -> Path:
    """Write GEXF (Gephi's own format)."""
    nx.write_gexf(_flat(graph), path)
    return Path(path)


def to_i2_csv(graph: nx.Graph, entities_path, links_path) -> tuple[Path, Path]:
    """Write entities (one row per person) and links (one row per evidence item) for i2's tabular import; text a
    spreadsheet would run as a formula is neutralised."""
    entities = pd.DataFrame([{"entity_id": node, "entity_type": data.get("subject_category", ""),
                              "label": node, "borough": data.get("home_borough", "")}
                             for node, data in graph.nodes(data=True)])
    links = pd.DataFrame([{"from_id": a, "to_id": b, "link_type": item.get("type", ""),
                           "date": item.get("evidence_date", ""), "grading": item.get("grading", ""),
                           "source_layer": item.get("source_layer", ""), "source_record": item.get("source_record", ""),
                           "expires_on": item.get("expires_on", ""), "evidence_id": item.get("association_id", "")}
                          for a, b, data in graph.edges(data=True) for item in data.get("evidence", [])],
                         columns=["from_id", "to_id", "link_type", "date", "grading", "source_layer", "source_record",
                                  "expires_on", "evidence_id"])
    frame_for_spreadsheet(entities).to_csv(entities_path, index=False)
    frame_for_spreadsheet(links).to_csv(links_path, index=False)
    return Path(entities_path), Path(links_path)


#: Export formats: file suffix, media type and what is written.
FORMATS = {"graphml": ("graphml", "application/graphml+xml"), "gexf": ("gexf", "application/gexf+xml"),
           "i2": ("zip", "application/zip")}


def write_export(graph: nx.Graph, fmt: str, path) -> Path:
    """Write ``graph`` as ``graphml``, ``gexf`` or ``i2`` (a zip of i2's entities and links CSVs) to ``path``."""
    import tempfile
    import zipfile

    path = Path(path)
    if fmt == "graphml":
        return to_graphml(graph, path)
    if fmt == "gexf":
        return to_gexf(graph, path)
    if fmt == "i2":
        with tempfile.TemporaryDirectory() as folder:
            entities, links = to_i2_csv(graph, Path(folder) / "entities.csv", Path(folder) / "links.csv")
            with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as bundle:
                bundle.write(entities, "entities.csv")
                bundle.write(links, "links.csv")
        return path
    raise ValueError(f"export formats: {', '.join(FORMATS)}; got {fmt!r}")
