"""Retention: records past review vanish from every table and every product; the audit log keeps only counts."""

from __future__ import annotations

import pytest

import json
from datetime import date

from geoservice.network.build import graph_from_evidence
from geoservice.privacy.audit import events, verify
from geoservice.privacy.retention import run_retention
from geoservice.reports.linkage import SECTIONS, linkage_report
from geoservice.reports.render import report_dict

from ..conftest import AS_OF

pytestmark = pytest.mark.postgres  # the database matters here: run on PostgreSQL too


def test_records_past_review_vanish_from_every_table_and_product(load_world, truth):
    store = load_world("people", "associations", "missing_episodes", "incidents", "places")
    people = store.read_layer("people", ["person_id", "retain_until", "subject_category"])
    # review dates follow the day each person was recorded: run retention on the median one, so about half go
    today = sorted(date.fromisoformat(str(d)[:10]) for d in people.retain_until)[len(people) // 2]
    leaving = set(people.person_id[people.retain_until < today])
    assert leaving, "some people reach their review date"
    before = json.dumps(report_dict(linkage_report(store, "E09000024", start="2025-01-01", end="2026-01-01",
                                                   as_of=AS_OF), SECTIONS))
    report = run_retention(store, today=today)
    assert report.removed["people"] == len(leaving) and report.total > len(leaving)
    for name in ("people", "missing_episodes"):
        assert not set(store.read_layer(name, ["person_id"]).person_id) & leaving, name
    links = store.read_layer("associations", ["person_a", "person_b"])
    assert not (set(links.person_a) | set(links.person_b)) & leaving
    graph = graph_from_evidence(store, as_of=AS_OF)
    assert not set(graph.nodes) & leaving
    after = json.dumps(report_dict(linkage_report(store, "E09000024", start="2025-01-01", end="2026-01-01",
                                                  as_of=AS_OF), SECTIONS))
    shown_before = [p for p in leaving if f'"{p}"' in before]
    assert shown_before and not [p for p in leaving if f'"{p}"' in after]
    # the audit log says how many rows went, never who
    erasure = [e for e in events(store) if e["operation"] == "erasure"]
    assert len(erasure) == 1 and erasure[0]["seq"] == report.audit_seq
    assert not [p for p in leaving if p in erasure[0]["objects"]] and "people: " in erasure[0]["objects"]
    assert verify(store).ok
    assert run_retention(store, today=today).total == 0, "a second run finds nothing more"


def test_quarantined_rows_are_erased_after_their_layers_retention(store, settings, write_csv):
    from geoservice.ingest.pipeline import ingest_file

    path = write_csv("people.csv", ["person_id,subject_category,home_borough,recorded_on",
                                    "C1,child_at_risk,E09000024,2025-01-01",
                                    "C2,wizard,E09000024,2025-01-01"])
    result = ingest_file(store, "people", path, settings=settings)
    assert result.rejected == 1 and store.quarantine_counts()["people"] == 1
    assert run_retention(store, today=date(2030, 1, 1)).total == 0, "within six years both stay"
    report = run_retention(store, today=date(2033, 1, 1))  # the batch was loaded today; six years on
    assert report.removed == {"people": 1, "quarantine:people": 1}
    assert store.quarantine_counts().get("people", 0) == 0


def test_moving_a_review_date_is_an_audited_alteration(store, settings, write_csv):
    from geoservice.ingest.pipeline import ingest_file
    from geoservice.privacy.retention import extend_review
    from geoservice.pseudonyms import pseudonym_key

    path = write_csv("people.csv", ["person_id,subject_category,home_borough,recorded_on",
                                    "C1,child_at_risk,E09000024,2025-01-01"])
    ingest_file(store, "people", path, settings=settings, username="loader", justification="referrals 2025")
    assert extend_review(store, "people", "C1", date(2035, 1, 1), username="ana", justification="open case",
                         key=pseudonym_key(settings)) == 1
    assert str(store.read_layer("people", ["retain_until"]).retain_until[0])[:10] == "2035-01-01"
    assert run_retention(store, today=date(2032, 1, 1)).total == 0, "kept past its old review date"
    logged = events(store)
    assert [e["operation"] for e in logged] == ["alteration", "collection"]
    assert logged[0]["username"] == "ana" and "C1" not in logged[0]["objects"] and "people:PS-" in logged[0]["objects"]
    assert logged[1]["username"] == "loader" and logged[1]["justification"] == "referrals 2025"
    assert verify(store).ok
