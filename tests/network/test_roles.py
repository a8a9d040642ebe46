"""Group summaries, network roles and exposure keep children and adults who pose risk apart."""

from __future__ import annotations

import networkx as nx
import pandas as pd
import pytest

from geoservice.ingest.pipeline import ingest_file
from geoservice.network.build import ADULT, CHILD, children_subgraph, graph_from_evidence
from geoservice.network.groups import SAFEGUARDING_DENSITY, peer_groups
from geoservice.network.roles import exposure, group_summaries, network_roles
from geoservice.synth.world import build_world, write_world

from ..conftest import DATA_DIR, needs_data

pytestmark = needs_data("london_boroughs.geojson", "wards_merton_neighbours.geojson")


def _toy():
    graph = nx.Graph(as_of="2025-12-31")
    for n in ("c1", "c2", "c3", "c4"):
        graph.add_node(n, subject_category=CHILD, home_borough="E09000024")
    graph.add_node("a1", subject_category=ADULT, home_borough="E09000028")
    item = {"evidence_date": "2025-12-01", "type": "reported_association"}
    graph.add_edges_from([("c1", "c2"), ("c2", "c3"), ("c3", "c4"), ("a1", "c2")], evidence=[item])
    return graph


def test_exposure_counts_hops_to_harmed_peers():
    frame = exposure(_toy(), {"c4"})
    assert frame.loc["c3", "hops_to_harmed"] == 1 and frame.loc["c1", "hops_to_harmed"] == 3
    assert frame.loc["c2", "harmed_within_2"] == 1 and pd.isna(frame.loc["c4", "hops_to_harmed"])
    assert "a1" not in frame.index, "exposure is about children"


def test_roles_are_split_by_category():
    roles = network_roles(_toy())
    assert set(roles["children"].index) == {"c1", "c2", "c3", "c4"}
    assert list(roles["adults_posing_risk"].index) == ["a1"]
    assert roles["children"].index[0] == "c2", "the bridge has the highest betweenness"


@pytest.fixture
def world(loaded_store, settings, tmp_path):
    write_world(tmp_path, seed=1, data_dir=DATA_DIR)
    for name in ("people", "associations", "missing_episodes"):
        ingest_file(loaded_store, name, tmp_path / f"{name}.csv", settings=settings)
    return loaded_store, build_world(DATA_DIR, seed=1).truth


def test_group_summaries_on_the_synthetic_world(world):
    store, truth = world
    graph = graph_from_evidence(store, as_of="2026-01-01")
    groups = peer_groups(children_subgraph(graph), density=SAFEGUARDING_DENSITY)
    found = store.read_layer("missing_episodes", ["person_id", "found_lat", "found_lng"])
    summary = group_summaries(graph, groups, since="2025-10-01", found=found)
    assert len(summary) == len(groups)
    children, adults = set(truth["children_ids"]), set(truth["adult_ids"])
    for row in summary.itertuples():
        assert set(row.children) <= children and set(row.adults_posing_risk) <= adults
    line = truth["county_line"]
    mine = summary[summary.children.map(lambda c: bool(set(c) & set(line["children"])))]
    assert set(line["adults"]) & set().union(*mine.adults_posing_risk), "the county-line adult is linked"
    assert summary.spans_boroughs.any(), "planted cross-borough groups span boroughs"
    assert summary.new_links_since.sum() > 0 and summary.found_cells.map(len).sum() > 0
