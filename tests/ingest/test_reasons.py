"""Every reason code is produced by a real malformed row, and every rejected row is kept with its reason."""

from __future__ import annotations

import json
import shutil

import pytest

from geoservice.config import PROJECT_ROOT
from geoservice.ingest.locate import PostcodeTable
from geoservice.ingest.pipeline import ingest_file
from geoservice.ingest.reasons import REASONS
from geoservice.store.db import Store

MERTON = ("51.410000", "-0.188000")  # Merton, near the borough's centroid
INCIDENT_HEADER = "crime_id,month,crime_type,latitude,longitude,easting,northing,postcode,borough_code"


def incident(crime_id="X1", month="2024-05", crime_type="Robbery", lat=MERTON[0], lng=MERTON[1], easting="",
             northing="", postcode="", borough=""):
    return ",".join([crime_id, month, crime_type, lat, lng, easting, northing, postcode, borough])


MISSING_HEADER = ("episode_id,person_id,reported_missing_at,found_at,risk_grade,missing_from_latitude,"
                  "missing_from_longitude,found_latitude,found_longitude")
OUTREACH_HEADER = "session_id,team,started_at,ended_at,young_people_reached,latitude,longitude"
EXCLUSION_HEADER = "exclusion_id,pupil_id,school_id,excluded_on,days_excluded,permanent"

EXCLUSIONS_SPEC = """
name = "school_exclusions"
title = "School exclusions"
sensitivity = "person"
key = ["exclusion_id"]
time_fields = ["excluded_on"]
retention = { years = 6, from = "excluded_on" }
scope = { people = ["pupil_id"] }

[[fields]]
name = "exclusion_id"
required = true

[[fields]]
name = "pupil_id"
required = true

[[fields]]
name = "school_id"
required = true

[[fields]]
name = "excluded_on"
type = "date"
required = true

[[fields]]
name = "days_excluded"
type = "number"
min = 0

[[fields]]
name = "permanent"
type = "boolean"
"""

PEOPLE_HEADER = "person_id,subject_category,home_borough,recorded_on"
MERTON_CODE, BROMLEY_CODE = "E09000024", "E09000006"

BOWTIE = {"type": "Polygon", "coordinates": [[[-0.2, 51.4], [-0.1, 51.5], [-0.1, 51.4], [-0.2, 51.5], [-0.2, 51.4]]]}

# code -> (layer, header, rows[, ingest_file keywords]); the LAST row of each case is the malformed one
CASES = {
    "required_missing": ("incidents", INCIDENT_HEADER, [incident(month="")]),
    "location_missing": ("incidents", INCIDENT_HEADER, [incident(lat="", lng="")]),
    "coord_not_numeric": ("incidents", INCIDENT_HEADER, [incident(lat="51.41a")]),
    "coord_not_finite": ("incidents", INCIDENT_HEADER, [incident(lat="nan")]),
    "coord_out_of_range": ("incidents", INCIDENT_HEADER, [incident(lat="151.41")]),
    "coord_null_island": ("incidents", INCIDENT_HEADER, [incident(lat="0", lng="0")]),
    "coord_swapped": ("incidents", INCIDENT_HEADER, [incident(lat=MERTON[1], lng=MERTON[0])]),
    "coord_sign_flipped": ("incidents", INCIDENT_HEADER, [incident(lng="0.188000")]),
    "outside_study_area": ("incidents", INCIDENT_HEADER, [incident(lat="53.4808", lng="-2.2426")]),
    "borough_mismatch": ("incidents", INCIDENT_HEADER, [incident(borough="E09000022")]),
    "bng_not_numeric": ("incidents", INCIDENT_HEADER, [incident(lat="", lng="", easting="52x", northing="169000")]),
    "bng_out_of_range": ("incidents", INCIDENT_HEADER, [incident(lat="", lng="", easting="800000",
                                                                 northing="169000")]),
    "postcode_malformed": ("incidents", INCIDENT_HEADER, [incident(lat="", lng="", postcode="NOT A CODE")]),
    "postcode_unknown": ("incidents", INCIDENT_HEADER, [incident(lat="", lng="", postcode="SW19 9ZZ")]),
    "date_unparseable": ("incidents", INCIDENT_HEADER, [incident(month="last tuesday")]),
    "date_in_future": ("incidents", INCIDENT_HEADER, [incident(month="2099-01")]),
    "date_implausible": ("incidents", INCIDENT_HEADER, [incident(month="1850-01")]),
    "value_not_allowed": ("incidents", INCIDENT_HEADER, [incident(crime_type="Burgalry")]),
    "conflicting_record": ("incidents", INCIDENT_HEADER, [incident(crime_id="SAME", month="2024-01"),
                                                          incident(crime_id="SAME", month="2024-02")]),
    "time_order": ("missing_episodes", MISSING_HEADER,
                   ["E1,C1,2024-05-02T10:00:00Z,2024-05-01T10:00:00Z,amber,51.41,-0.188,51.41,-0.19"]),
    "value_not_integer": ("outreach_sessions", OUTREACH_HEADER,
                          ["S1,Team,2024-05-01T18:00:00Z,2024-05-01T20:00:00Z,3.5,51.41,-0.188"]),
    "value_out_of_range": ("outreach_sessions", OUTREACH_HEADER,
                           ["S1,Team,2024-05-01T18:00:00Z,2024-05-01T20:00:00Z,900,51.41,-0.188"]),
    "value_not_numeric": ("school_exclusions", EXCLUSION_HEADER, ["X1,C1,SCH1,2024-05-01,three,no"]),
    "value_not_boolean": ("school_exclusions", EXCLUSION_HEADER, ["X1,C1,SCH1,2024-05-01,3,perhaps"]),
    "geometry_missing": ("boundaries", None, [None]),
    "geometry_not_polygon": ("boundaries", None, [{"type": "Point", "coordinates": [-0.19, 51.41]}]),
    "geometry_invalid": ("boundaries", None, [BOWTIE]),
    "text_control_character": ("incidents", INCIDENT_HEADER, [incident(crime_id="X1\u202egpj.exe")]),
    "unknown_area_code": ("incidents", INCIDENT_HEADER, [incident(borough="NOT-A-GSS-CODE")]),
    "past_retention": ("people", PEOPLE_HEADER, [f"C1,child_at_risk,{MERTON_CODE},2015-01-01"]),
    "outside_user_scope": ("people", PEOPLE_HEADER, [f"C1,child_at_risk,{BROMLEY_CODE},2025-01-01"],
                           {"scope": [MERTON_CODE]}),
}


def test_every_reason_code_has_a_malformed_row():
    assert set(CASES) == set(REASONS)


@pytest.fixture
def reason_store(settings, tmp_path):
    """A store with the project's layers plus a school_exclusions layer declared only as a spec."""
    layers = tmp_path / "layers"
    shutil.copytree(PROJECT_ROOT / "layers", layers)
    (layers / "school_exclusions.toml").write_text(EXCLUSIONS_SPEC)
    from dataclasses import replace

    local = replace(settings, layers_dir=layers)
    store = Store.from_settings(local)
    store.drop_all()
    store.init()
    for name in ("london_boroughs.geojson", "wards_merton_neighbours.geojson"):
        ingest_file(store, "boundaries", local.data_dir / name, settings=local)
    yield store, local
    store.drop_all()
    store.engine.dispose()


def _write_case(tmp_path, layer, header, rows):
    if header is None:
        features = [{"type": "Feature", "properties": {"code": f"E05999{i:03d}", "name": f"Test {i}"},
                     "geometry": geometry} for i, geometry in enumerate(rows)]
        path = tmp_path / f"{layer}.geojson"
        path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
        return path
    path = tmp_path / f"{layer}.csv"
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


@pytest.mark.parametrize("code", sorted(CASES))
def test_reason_code(code, reason_store, tmp_path):
    store, settings = reason_store
    layer, header, rows, *keywords = CASES[code]
    path = _write_case(tmp_path, layer, header, rows)
    postcodes = PostcodeTable({"SW194DS": (51.41, -0.188)}, "test table")
    report = ingest_file(store, layer, path, settings=settings, postcodes=postcodes,
                         **(keywords[0] if keywords else {}))
    assert report.rows_in == len(rows) == report.accepted + report.rejected + report.duplicate
    assert report.rejected == 1
    quarantined = store.rejected_rows(report.batch_id)
    assert len(quarantined) == 1
    row = quarantined[0]
    expected_row = len(rows) + 1 if header is not None else len(rows)
    assert row["row_number"] == expected_row
    assert code in [issue["code"] for issue in row["issues"]]
    issue = next(i for i in row["issues"] if i["code"] == code)
    assert issue["field"] and issue["message"], "every issue names its field and says what is wrong"
    assert row["raw"], "the rejected row's values are kept"


def test_a_good_row_beside_the_bad_ones_is_accepted(reason_store, tmp_path):
    store, settings = reason_store
    path = _write_case(tmp_path, "incidents", INCIDENT_HEADER,
                       [incident(crime_id="OK1"), incident(crime_id="BAD1", lat="x"),
                        incident(crime_id="OK2", lat="", lng="", easting="525000", northing="169500")])
    report = ingest_file(store, "incidents", path, settings=settings)
    assert (report.accepted, report.rejected, report.duplicate) == (2, 1, 0)
    frame = store.read_layer("incidents")
    assert sorted(frame.crime_id) == ["OK1", "OK2"]
    assert frame.lsoa_name.isna().all(), "an empty text field is NULL in the store, never the text 'NaN'"
    assert set(frame.location_borough) == {"E09000024"}
    assert set(frame.location_located_by) == {"latlng", "bng"}


def test_messages_say_what_arrived_and_what_is_allowed(reason_store, tmp_path):
    store, settings = reason_store
    path = _write_case(tmp_path, "incidents", INCIDENT_HEADER, [incident(crime_type="Burgalry"),
                                                                incident(crime_id="X2", lat=MERTON[1], lng=MERTON[0])])
    report = ingest_file(store, "incidents", path, settings=settings)
    rows = {r["reason_code"]: r for r in store.rejected_rows(report.batch_id)}
    assert "did you mean 'Burglary'" in rows["value_not_allowed"]["message"]
    assert "look swapped" in rows["coord_swapped"]["message"]
    assert rows["value_not_allowed"]["raw"]["crime_type"] == "Burgalry"


def test_a_row_with_several_problems_keeps_them_all(reason_store, tmp_path):
    store, settings = reason_store
    path = _write_case(tmp_path, "incidents", INCIDENT_HEADER, [incident(month="2099-01", crime_type="Nope",
                                                                         lat="abc")])
    report = ingest_file(store, "incidents", path, settings=settings)
    (row,) = store.rejected_rows(report.batch_id)
    assert {"date_in_future", "value_not_allowed", "coord_not_numeric"} <= {i["code"] for i in row["issues"]}


def test_quarantined_rows_are_not_quarantined_twice_on_reingest(reason_store, tmp_path):
    store, settings = reason_store
    path = _write_case(tmp_path, "incidents", INCIDENT_HEADER, [incident(crime_id="A"), incident(crime_id="B",
                                                                                                 lat="x")])
    first = ingest_file(store, "incidents", path, settings=settings)
    second = ingest_file(store, "incidents", path, settings=settings)
    assert (first.accepted, first.rejected) == (1, 1)
    assert (second.accepted, second.rejected, second.duplicate) == (0, 0, 2)
    assert store.quarantine_counts() == {"incidents": 1}


def test_a_corrected_row_is_accepted_after_its_rejection(reason_store, tmp_path):
    store, settings = reason_store
    bad = _write_case(tmp_path, "incidents", INCIDENT_HEADER, [incident(crime_id="A", lat="x")])
    assert ingest_file(store, "incidents", bad, settings=settings).rejected == 1
    good = _write_case(tmp_path, "incidents", INCIDENT_HEADER, [incident(crime_id="A")])
    assert ingest_file(store, "incidents", good, settings=settings).accepted == 1
