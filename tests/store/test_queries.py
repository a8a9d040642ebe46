"""The store's named queries give the same answers on SQLite and PostgreSQL as a recount in pandas."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from geoservice.store.tables import cell_column

pytestmark = pytest.mark.postgres

MERTON, LAMBETH = "E09000024", "E09000022"


@pytest.fixture
def world(load_world):
    return load_world("people", "associations", "missing_episodes", "survey_responses", "outreach_sessions")


def test_counts_per_cell_equal_a_recount_of_the_rows(world):
    episodes = world.read_layer("missing_episodes", ["person_id", "found_at", cell_column("found", 9)],
                                present=[cell_column("found", 9)])
    cells = episodes[cell_column("found", 9)].astype("int64")
    assert world.count_by_cell("missing_episodes", cell_column("found", 9)).sort_index().to_dict() == \
        cells.value_counts().sort_index().to_dict()
    distinct = episodes.groupby(cells).person_id.nunique()
    got = world.count_by_cell("missing_episodes", cell_column("found", 9), distinct_field="person_id")
    assert got.sort_index().to_dict() == distinct.sort_index().to_dict()
    june = (pd.to_datetime(episodes.found_at) >= "2025-06-01") & (pd.to_datetime(episodes.found_at) < "2025-07-01")
    got = world.count_by_cell("missing_episodes", cell_column("found", 9), time_field="found_at",
                              start="2025-06-01", end="2025-07-01")
    assert got.sum() == june.sum() > 0
    sessions = world.read_layer("outreach_sessions", ["young_people_reached", cell_column("location", 9)])
    summed = pd.to_numeric(sessions.young_people_reached).fillna(0).groupby(
        sessions[cell_column("location", 9)].astype("int64")).sum()
    got = world.count_by_cell("outreach_sessions", cell_column("location", 9), sum_field="young_people_reached")
    assert np.array_equal(got.sort_index().to_numpy(), summed.sort_index().to_numpy().astype("int64"))


def test_plain_filters_read_the_rows_asked_for(world):
    people = world.read_layer("people", ["person_id", "home_borough"])
    merton = world.read_layer("people", ["person_id"], equals={"home_borough": MERTON})
    assert set(merton.person_id) == set(people.person_id[people.home_borough == MERTON])
    some = sorted(people.person_id)[:3]
    assert sorted(world.read_layer("people", ["person_id"], among={"person_id": some}).person_id) == some


def test_layer_counts_follow_each_layers_scope_rule(world):
    people = world.read_layer("people", ["person_id", "home_borough"])
    ours = set(people.person_id[people.home_borough == MERTON])
    links = world.read_layer("associations", ["person_a", "person_b"])
    counts = world.layer_counts(boroughs=[MERTON])
    assert counts["people"] == len(ours)
    assert counts["associations"] == int((links.person_a.isin(ours) | links.person_b.isin(ours)).sum())
    assert counts["boundaries"] == world.layer_counts()["boundaries"]


def test_published_numbers_stay_as_first_published(world):
    first = pd.Series([10, 0, 25], index=pd.Index([11, 12, 13], dtype="int64"))
    assert world.publish("product", "2025", first).tolist() == [10, 0, 25]
    later = pd.Series([15, 10, 25, 30], index=pd.Index([11, 12, 13, 14], dtype="int64"))
    assert world.publish("product", "2025", later).tolist() == [10, 0, 25, 30], "only the new cell is new"
    assert world.publish("product", "2026", later).tolist() == [15, 10, 25, 30], "each period apart"
