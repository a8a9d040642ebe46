"""An uploader's borough scope (issue 10): rows outside it are rejected row by row and never compared with what
is held, so a scoped upload learns nothing about records of other boroughs beyond the bare fact an id is held."""

from __future__ import annotations

import pytest

from geoservice.ingest.pipeline import ingest_file

from .helpers import (BROMLEY, EPISODES, IN_LAMBETH, IN_MERTON, INCIDENTS, LAMBETH, LINKS, MERTON, PEOPLE, codes,
                      ingest_rows)

pytestmark = pytest.mark.postgres  # the database matters here: run on PostgreSQL too


def test_people_outside_the_scope_and_unknown_codes_are_rejected(loaded_store, settings, write_csv):
    report, rejected = ingest_rows(loaded_store, settings, write_csv, "people", PEOPLE,
                                   [f"C1,child_at_risk,{MERTON},2025-01-01", f"C2,child_at_risk,{BROMLEY},2025-01-01",
                                    "C3,child_at_risk,NOT-A-GSS-CODE,2025-01-01"], scope=[MERTON])
    assert (report.accepted, report.rejected, report.duplicate) == (1, 2, 0)
    assert codes(rejected["C2"]) == ["outside_user_scope"]
    assert rejected["C2"]["message"] == (f"home_borough is in {BROMLEY}, not one of your boroughs ({MERTON}); an "
                                         "administrator can load it")
    assert codes(rejected["C3"]) == ["unknown_area_code", "outside_user_scope"]
    assert rejected["C3"]["message"].startswith("home_borough 'NOT-A-GSS-CODE' is not the GSS code of a borough in "
                                                "the boundaries layer (33 boroughs, E09000001, E09000002, E09000003")
    assert list(loaded_store.read_layer("people", ["person_id"]).person_id) == ["C1"]


def test_rows_outside_the_scope_are_never_compared_with_what_is_held(loaded_store, settings, write_csv):
    bromley = f"C9,child_at_risk,{BROMLEY},2025-01-01"
    held, _ = ingest_rows(loaded_store, settings, write_csv, "people", PEOPLE,
                          [bromley, f"C1,child_at_risk,{MERTON},2025-01-01"])  # an administrator, unscoped
    assert held.accepted == 2
    report, rejected = ingest_rows(loaded_store, settings, write_csv, "people", PEOPLE,
                                   [bromley, f"C1,child_at_risk,{MERTON},2025-01-01"], scope=[MERTON])
    # the row identical to a held Bromley record is rejected, not "duplicate"; the held Merton one is a duplicate
    assert (report.accepted, report.rejected, report.duplicate) == (0, 1, 1)
    assert codes(rejected["C9"]) == ["outside_user_scope"]
    # a row sharing the held record's identity is rejected as outside the scope, not as a conflict: neither
    # outcome says whether C9 is held
    report, rejected = ingest_rows(loaded_store, settings, write_csv, "people", PEOPLE,
                                   [f"C9,adult_posing_risk,{BROMLEY},2025-01-01"], scope=[MERTON])
    assert codes(rejected["C9"]) == ["outside_user_scope"]
    # unscoped, the same rows are what they are: one duplicate, one conflict
    again, rejected = ingest_rows(loaded_store, settings, write_csv, "people", PEOPLE,
                                  [bromley, f"C9,adult_posing_risk,{BROMLEY},2025-01-01"])
    assert (again.duplicate, again.reasons) == (1, {"conflicting_record": 1})


def test_a_row_outside_one_uploader_s_scope_is_accepted_from_an_uploader_whose_scope_holds_it(
        loaded_store, settings, write_csv):
    row = f"C5,child_at_risk,{BROMLEY},2025-01-01"
    first, _ = ingest_rows(loaded_store, settings, write_csv, "people", PEOPLE, [row], scope=[MERTON])
    again, _ = ingest_rows(loaded_store, settings, write_csv, "people", PEOPLE, [row], scope=[MERTON])
    assert first.rejected == again.rejected == 1, "never compared, even with its own quarantined copy"
    bromley, _ = ingest_rows(loaded_store, settings, write_csv, "people", PEOPLE, [row], scope=[BROMLEY])
    assert bromley.accepted == 1, "its quarantined copies do not make it a duplicate"
    assert loaded_store.quarantine_counts() == {"people": 2}


def test_a_conflict_in_scope_does_not_show_the_held_record(loaded_store, settings, write_csv):
    ingest_rows(loaded_store, settings, write_csv, "people", PEOPLE, [f"C7,child_at_risk,{BROMLEY},2024-02-03"])
    report, rejected = ingest_rows(loaded_store, settings, write_csv, "people", PEOPLE,
                                   [f"C7,child_at_risk,{MERTON},2025-01-01"], scope=[MERTON])
    assert report.reasons == {"conflicting_record": 1}
    message = rejected["C7"]["message"]
    assert message == ("person_id='C7': an earlier record holds this identity with different content; an "
                       "administrator can resolve it")
    assert BROMLEY not in message and "2024" not in message and "home_borough" not in message


def test_associations_are_in_scope_through_a_held_person_of_the_scope(loaded_store, settings, write_csv):
    ingest_rows(loaded_store, settings, write_csv, "people", PEOPLE,
                [f"M1,child_at_risk,{MERTON},2025-01-01", f"B1,child_at_risk,{BROMLEY},2025-01-01",
                 f"B2,adult_posing_risk,{BROMLEY},2025-01-01"])
    link = "{id},{a},{b},co_offending,incidents,X1,2025-03-01,B,2,2026-03-01"
    report, rejected = ingest_rows(loaded_store, settings, write_csv, "associations", LINKS,
                                   [link.format(id="L1", a="B1", b="M1"), link.format(id="L2", a="B1", b="B2"),
                                    link.format(id="L3", a="NOBODY", b="B2"), link.format(id="L4", a="M9", b="NOBODY")],
                                   scope=[MERTON])
    assert (report.accepted, report.rejected) == (1, 3)
    assert set(rejected) == {"L2", "L3", "L4"}
    messages = {r["message"] for r in rejected.values()}
    assert len(messages) == 1, "held in another borough or not held at all: the same words"
    assert messages.pop().startswith(f"none of person_a, person_b is a person held in the people layer for your "
                                     f"boroughs ({MERTON})")


def test_missing_episodes_are_in_the_borough_they_were_missing_from(loaded_store, settings, write_csv):
    report, rejected = ingest_rows(loaded_store, settings, write_csv, "missing_episodes", EPISODES,
                                   ["E1,M1,2025-05-01T10:00:00Z,amber,{},{}".format(*IN_MERTON),
                                    "E2,M1,2025-05-02T10:00:00Z,amber,{},{}".format(*IN_LAMBETH),
                                    "E3,M1,2025-05-03T10:00:00Z,amber,,"], scope=[MERTON])
    assert report.accepted == 1
    assert rejected["E2"]["message"] == (f"the missing_from location is in {LAMBETH}, not one of your boroughs "
                                         f"({MERTON}); an administrator can load it")
    assert codes(rejected["E3"]) == ["location_missing", "outside_user_scope"]
    assert "gives no borough" in rejected["E3"]["issues"][1]["message"]


def test_located_layers_are_scoped_by_their_first_location(loaded_store, settings, write_csv):
    report, rejected = ingest_rows(loaded_store, settings, write_csv, "incidents", INCIDENTS,
                                   ["X1,2025-05,Robbery,{},{},".format(*IN_MERTON),
                                    "X2,2025-05,Robbery,{},{},".format(*IN_LAMBETH)], scope=[MERTON, BROMLEY])
    assert report.accepted == 1 and codes(rejected["X2"]) == ["outside_user_scope"]


def test_boundaries_belong_to_no_borough(loaded_store, settings, tmp_path):
    import json

    square = {"type": "Polygon", "coordinates": [[[-0.2, 51.4], [-0.19, 51.4], [-0.19, 51.41], [-0.2, 51.4]]]}
    path = tmp_path / "lsoa.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": "E01999999", "name": "Test 001A", "borough_code": "E09000024"},
         "geometry": square}]}))
    report = ingest_file(loaded_store, "boundaries", path, settings=settings, scope=[MERTON])
    assert report.accepted == 1


@pytest.mark.parametrize("scope", [[], ["E09000033"]])
def test_a_scope_without_the_row_s_borough_accepts_nothing(scope, loaded_store, settings, write_csv):
    report, _ = ingest_rows(loaded_store, settings, write_csv, "people", PEOPLE,
                            [f"C1,child_at_risk,{MERTON},2025-01-01"], scope=scope)
    assert report.accepted == 0 and report.reasons == {"outside_user_scope": 1}
