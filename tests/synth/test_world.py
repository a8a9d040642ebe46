"""The synthetic world: reproducible, realistic in its proportions, its planted patterns recorded, and clean."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from geoservice.synth.world import LAYER_FILES, write_world
from geoservice.ingest.pipeline import ingest_file

from ..conftest import DATA_DIR, needs_data

pytestmark = needs_data("london_boroughs.geojson", "wards_merton_neighbours.geojson")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    out = tmp_path_factory.mktemp("world")
    write_world(out, seed=11, data_dir=DATA_DIR)
    tables = {name: pd.read_csv(out / f"{name}.csv", dtype=str, keep_default_na=False) for name in LAYER_FILES}
    truth = json.loads((out / "ground_truth.json").read_text())
    return out, tables, truth


def test_same_seed_same_world(world, tmp_path):
    out, _, _ = world
    write_world(tmp_path, seed=11, data_dir=DATA_DIR)
    for name in (*LAYER_FILES, "ground_truth"):
        suffix = "json" if name == "ground_truth" else "csv"
        assert (tmp_path / f"{name}.{suffix}").read_bytes() == (out / f"{name}.{suffix}").read_bytes(), name


def test_a_different_seed_gives_a_different_world(world, tmp_path):
    out, _, _ = world
    write_world(tmp_path, seed=12, data_dir=DATA_DIR)
    assert (tmp_path / "people.csv").read_bytes() != (out / "people.csv").read_bytes()


def test_population_is_realistic(world):
    _, tables, truth = world
    people = tables["people"]
    children = people[people.subject_category == "child_at_risk"]
    adults = people[people.subject_category == "adult_posing_risk"]
    assert 400 <= len(children) <= 600
    assert 30 <= len(adults) <= 60
    ages = truth["year"] - children.birth_month.str[:4].astype(int)
    assert ages.between(10, 18).all()
    assert 0.45 < (children.sex == "male").mean() < 0.7
    assert children.ethnicity.value_counts(normalize=True).max() < 0.6, "a south London mix, not one group"
    assert (children.home_borough == "E09000024").mean() > 0.4


def test_children_and_adults_are_never_mixed(world):
    _, tables, truth = world
    people = tables["people"].set_index("person_id")
    assert set(truth["children_ids"]).isdisjoint(truth["adult_ids"])
    assert (people.loc[truth["children_ids"], "subject_category"] == "child_at_risk").all()
    assert (people.loc[truth["adult_ids"], "subject_category"] == "adult_posing_risk").all()
    for group in truth["peer_groups"]:
        assert set(group["members"]) <= set(truth["children_ids"])
        assert set(group["adults"]) <= set(truth["adult_ids"])


def test_peer_groups_are_realistic_and_some_span_boroughs(world):
    _, _, truth = world
    sizes = [len(g["members"]) for g in truth["peer_groups"]]
    assert min(sizes) >= 3 and max(sizes) <= 15
    assert len(truth["cross_borough_groups"]) >= 1
    members = [m for g in truth["peer_groups"] for m in g["members"]]
    assert len(members) == len(set(members)), "each child is in at most one planted group"


def test_every_association_carries_evidence(world):
    _, tables, truth = world
    links = tables["associations"]
    for column in ("source_layer", "source_record", "evidence_date", "source_evaluation",
                   "intelligence_assessment", "expires_on", "association_type"):
        assert (links[column] != "").all(), column
    expired = links[links.association_id.isin(truth["expired_associations"])]
    assert len(expired) == len(truth["expired_associations"]) > 0
    assert (pd.to_datetime(expired.expires_on) < pd.Timestamp(f"{truth['year']}-01-01")).all()


def test_missing_episodes_match_published_rates(world):
    _, tables, truth = world
    episodes = tables["missing_episodes"]
    assert 300 <= len(episodes) <= 450
    per_child = episodes.person_id.value_counts()
    assert per_child.max() >= 5 and per_child.median() <= 3, "a few children go missing many times"
    rhi = truth["return_home_interviews"]
    assert 0.95 <= rhi["offered_within_24h"] <= 1.0  # Merton 2022-23: 98%
    assert 0.74 <= rhi["completed_within_72h_of_found"] <= 0.90  # Merton 2022-23: 82%
    kinds = truth["missing"]["found_by_kind"]
    assert kinds["local"] > kinds.get("county_line", 0) > 0


def test_county_line_is_planted(world):
    _, tables, truth = world
    line = truth["county_line"]
    assert len(line["children"]) >= 2 and len(line["episode_ids"]) >= 3
    assert line["adults"], "the line is run by an adult who poses risk"
    episodes = tables["missing_episodes"].set_index("episode_id").loc[line["episode_ids"]]
    found_lat = episodes.found_latitude.astype(float)
    assert (abs(found_lat - line["lat"]) < 0.05).all(), "found near the county-line town, far outside London"


def test_outreach_leaves_planted_gaps(world):
    _, tables, truth = world
    assert truth["outreach_gaps"]
    assert {p["place_id"] for p in truth["hot_places"]} >= set(truth["outreach_gaps"])
    assert len(tables["outreach_sessions"]) > 100


@pytest.mark.postgres  # the world loads cleanly on both databases
def test_world_ingests_without_a_rejected_row(loaded_store, settings, world):
    out, tables, _ = world
    for name in LAYER_FILES:
        report = ingest_file(loaded_store, name, out / f"{name}.csv", settings=settings)
        assert report.rejected == 0, (name, report.reasons)
        assert report.accepted == len(tables[name])


@pytest.mark.parametrize("seed", [2, 3, 4, 5])
def test_other_seeds_also_ingest_cleanly(seed, loaded_store, settings, tmp_path):
    write_world(tmp_path, seed=seed, data_dir=DATA_DIR)
    for name in LAYER_FILES:
        report = ingest_file(loaded_store, name, tmp_path / f"{name}.csv", settings=settings)
        assert report.rejected == 0, (seed, name, report.reasons)
