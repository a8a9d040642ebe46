"""Personal records already past their review date are not accepted (issue 10): retention would erase them."""

from __future__ import annotations

from geoservice.ingest.pipeline import ingest_file

from .helpers import EPISODES, IN_MERTON, INCIDENTS, MERTON, NOW, PEOPLE, ingest_rows


def test_expired_personal_records_are_rejected_with_their_review_date(loaded_store, settings, write_csv):
    report, rejected = ingest_rows(loaded_store, settings, write_csv, "people", PEOPLE,
                                   [f"C1,child_at_risk,{MERTON},2020-06-02", f"C2,child_at_risk,{MERTON},2020-05-31",
                                    f"C3,child_at_risk,{MERTON},2015-01-01"])
    assert report.accepted == 1 and report.reasons == {"past_retention": 2}
    assert rejected["C2"]["message"] == ("recorded_on 2020-05-31 puts the review date at 2026-05-31 (6 years on), "
                                         "which has already passed; a people record past its review date may not "
                                         "be kept")
    assert str(loaded_store.read_layer("people", ["retain_until"]).retain_until[0])[:10] == "2026-06-02"


def test_expired_episodes_and_survey_answers_are_rejected_but_public_layers_are_not(loaded_store, settings,
                                                                                     write_csv):
    report, _ = ingest_rows(loaded_store, settings, write_csv, "missing_episodes", EPISODES,
                            ["E1,M1,2019-05-01T10:00:00Z,amber,{},{}".format(*IN_MERTON)])
    assert report.reasons == {"past_retention": 1}
    old, _ = ingest_rows(loaded_store, settings, write_csv, "incidents", INCIDENTS,
                         ["X1,2010-05,Robbery,{},{},".format(*IN_MERTON)])  # seven years' retention, long past
    assert old.accepted == 1
    # survey answers are about young people too (shown only in aggregate): retention reviews them, so an answer
    # already past its three years is refused like any other personal record
    survey = write_csv("survey.csv", ["response_id,survey,answered_on,feeling,latitude,longitude",
                                      "R1,Survey 2019,2019-03-01,unsafe,{},{}".format(*IN_MERTON),
                                      "R2,Survey 2025,2025-03-01,unsafe,{},{}".format(*IN_MERTON)])
    answers = ingest_file(loaded_store, "survey_responses", survey, settings=settings, now=NOW)
    assert (answers.accepted, answers.reasons) == (1, {"past_retention": 1})
