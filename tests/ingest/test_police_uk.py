"""The real police.uk bulk file loads as-is, the counts add up, and a second ingest adds nothing."""

from __future__ import annotations

import gzip

import pandas as pd
import pytest

from geoservice.ingest.pipeline import ingest_file

from ..conftest import POLICE_UK, needs_data
from ..store.test_cell_counts import assert_answers_match_rows, assert_counts_match_rows

pytestmark = [needs_data(POLICE_UK.name), pytest.mark.slow]  # the whole file takes seconds


def test_police_uk_file_loads_and_reloads(loaded_store, settings):
    first = ingest_file(loaded_store, "incidents", POLICE_UK, settings=settings)
    assert first.format == "police-uk"
    assert first.rows_in == 116_319
    assert first.rows_in == first.accepted + first.rejected + first.duplicate
    # Identity is (Crime ID, crime type): rows repeating both are duplicates (an outcome may differ); rows with
    # no Crime ID are all kept. Nothing in this file is malformed, so rejections are only real conflicts.
    assert first.accepted > 112_000
    assert set(first.reasons) <= {"conflicting_record"}
    assert loaded_store.layer_counts()["incidents"] == first.accepted

    frame = loaded_store.read_layer("incidents", ["crime_type", "crime_id", "location_borough",
                                                   "location_borough_match", "location_cell_9", "location_ward"])
    source = pd.read_csv(POLICE_UK, dtype=str, keep_default_na=False)
    without_id = ((source["Crime ID"] == "") & (source["Crime type"] == "Anti-social behaviour")).sum()
    asb = frame[frame.crime_type == "Anti-social behaviour"]
    assert without_id > 20_000
    assert asb.crime_id.isna().sum() == without_id, "every anti-social behaviour row without an ID is kept"
    assert set(frame.location_borough) <= {"E09000024", "E09000032", "E09000022", "E09000021", "E09000029"}
    assert (frame.location_borough == "E09000024").sum() > 15_000
    assert frame.location_cell_9.notna().all() and frame.location_ward.ne("").mean() > 0.99
    assert set(frame.location_borough_match) == {"inside", "nearest", "claimed"}
    # the cell counts maps read equal the rows, and so do the answers read from them
    counts = assert_counts_match_rows(loaded_store, "incidents")
    assert_answers_match_rows(loaded_store, "incidents", "location_cell_9", "month",
                              [(None, None), ("2017-07-01", "2018-07-01"), ("2017-10-01", "2018-01-01")],
                              ({}, {"crime_type": "Anti-social behaviour"}))
    assert_answers_match_rows(loaded_store, "incidents", "location_cell_10", "month", [("2018-01-01", "2018-04-01")],
                              ({"crime_type": "Violence and sexual offences"},))

    second = ingest_file(loaded_store, "incidents", POLICE_UK, settings=settings)
    assert (second.rows_in, second.accepted, second.rejected, second.duplicate) == (116_319, 0, 0, 116_319)
    assert loaded_store.layer_counts()["incidents"] == first.accepted
    pd.testing.assert_frame_equal(loaded_store.read_cell_counts("incidents"), counts)


@pytest.mark.postgres
def test_a_police_uk_month_loads_and_reloads_on_each_database(loaded_store, settings, tmp_path):
    """The same file layout through each database's bulk path (COPY on PostgreSQL): a month of the real file."""
    with gzip.open(POLICE_UK, "rt", encoding="utf-8") as source:
        lines = [line for number, line in enumerate(source) if number == 0 or ",2018-06," in line]
    month = tmp_path / "2018-06-street.csv"
    month.write_text("".join(lines), encoding="utf-8")
    first = ingest_file(loaded_store, "incidents", month, settings=settings)
    assert first.format == "police-uk" and first.rows_in == len(lines) - 1 > 8_000
    assert first.rows_in == first.accepted + first.rejected + first.duplicate and first.accepted > 0.95 * first.rows_in
    assert loaded_store.layer_counts()["incidents"] == first.accepted
    frame = loaded_store.read_layer("incidents", ["month", "location_cell_9", "location_borough"])
    assert frame.location_cell_9.notna().all() and (frame.location_borough == "E09000024").sum() > 1_000
    assert {str(m)[:7] for m in frame.month} == {"2018-06"}
    counts = assert_counts_match_rows(loaded_store, "incidents")
    assert_answers_match_rows(loaded_store, "incidents", "location_cell_9", "month", [("2018-06-01", "2018-07-01")],
                              ({}, {"crime_type": "Anti-social behaviour"}))
    second = ingest_file(loaded_store, "incidents", month, settings=settings)
    assert (second.accepted, second.rejected, second.duplicate) == (0, 0, first.rows_in)
    pd.testing.assert_frame_equal(loaded_store.read_cell_counts("incidents"), counts)
