"""Rows for the scope, area-code and retention tests, and one way to ingest them and read back what was rejected."""

from __future__ import annotations

from datetime import datetime, timezone

from geoservice.ingest.pipeline import ingest_file

MERTON, BROMLEY, LAMBETH = "E09000024", "E09000006", "E09000022"
NOW = datetime(2026, 6, 1, tzinfo=timezone.utc)
PEOPLE = "person_id,subject_category,home_borough,recorded_on"
LINKS = ("association_id,person_a,person_b,association_type,source_layer,source_record,evidence_date,"
         "source_evaluation,intelligence_assessment,expires_on")
EPISODES = "episode_id,person_id,reported_missing_at,risk_grade,missing_from_latitude,missing_from_longitude"
INCIDENTS = "crime_id,month,crime_type,latitude,longitude,borough_code"
IN_MERTON, IN_LAMBETH = ("51.410000", "-0.188000"), ("51.460000", "-0.115000")
KEYS = {"people": "person_id", "associations": "association_id", "missing_episodes": "episode_id",
        "incidents": "crime_id"}


def ingest_rows(store, settings, write_csv, layer, header, rows, **kwargs):
    """Ingest ``rows`` as ``layer`` at ``NOW``; the report and the rejected rows by their identity."""
    path = write_csv(f"{layer}.csv", [header, *rows])
    report = ingest_file(store, layer, path, settings=settings, now=NOW, **kwargs)
    assert report.rows_in == len(rows) == report.accepted + report.rejected + report.duplicate
    return report, {r["raw"][KEYS[layer]]: r for r in store.rejected_rows(report.batch_id)}


def codes(row) -> list[str]:
    return [issue["code"] for issue in row["issues"]]
