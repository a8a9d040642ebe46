"""Fields declared ``area = "borough"`` must hold the code of a borough in the boundaries layer (issue 10)."""

from __future__ import annotations

from .helpers import IN_MERTON, INCIDENTS, MERTON, PEOPLE, codes, ingest_rows


def test_borough_codes_must_be_held_in_the_boundaries_layer(loaded_store, settings, write_csv):
    report, rejected = ingest_rows(loaded_store, settings, write_csv, "incidents", INCIDENTS,
                                   ["X1,2025-05,Robbery,{},{},{}".format(*IN_MERTON, MERTON),
                                    "X2,2025-05,Robbery,{},{},E9000024".format(*IN_MERTON),
                                    "X3,2025-05,Robbery,{},{},E05000458".format(*IN_MERTON)])  # a Merton ward
    assert report.accepted == 1 and report.reasons == {"unknown_area_code": 2}
    assert rejected["X2"]["message"].endswith("did you mean 'E09000024'?")
    assert rejected["X3"]["field"] == "borough_code"


def test_without_boundaries_codes_are_checked_for_their_form_and_the_report_says_so(store, settings, write_csv):
    report, rejected = ingest_rows(store, settings, write_csv, "people", PEOPLE,
                                   [f"C1,child_at_risk,{MERTON},2025-01-01", "C2,child_at_risk,Merton,2025-01-01"])
    assert report.accepted == 1 and codes(rejected["C2"]) == ["unknown_area_code"]
    assert "no borough boundaries are loaded to check it against" in rejected["C2"]["message"]
    assert "borough codes were checked for their form only" in report.summary()
