"""The cell counts (``store/cell_counts.py``) always equal a count of the rows: after an ingest, a re-ingest, a batch
that fails half-way, a retention run and an upgrade; and ``count_by_cell`` answers the same from them as from the
rows."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest
from sqlalchemy import select, text

from geoservice.ingest.pipeline import ingest_file
from geoservice.privacy.retention import run_retention
from geoservice.store.db import Store
from geoservice.store.tables import NO_MONTH, cell_column

pytestmark = pytest.mark.postgres  # the database matters here: run on PostgreSQL too

HEADER = "crime_id,month,crime_type,latitude,longitude"
TYPES = ("Robbery", "Drugs", "Anti-social behaviour")


def recount(store: Store, layer: str) -> pd.DataFrame:
    """The layer's cell counts worked out afresh from its rows, in pandas: what the count table must hold."""
    spec = store.specs[layer]
    counts = spec.counts
    cells = [cell_column(loc.name, res) for loc in spec.locations for res in store.resolutions]
    table = store.layer_tables[layer]
    with store.engine.connect() as conn:  # as objects: a column of cells with gaps would become float
        rows = pd.DataFrame(list(map(tuple, conn.execute(select(*[table.c[name] for name in
                                                                  (*cells, *counts.time_fields, *counts.by)])))),
                            columns=[*cells, *counts.time_fields, *counts.by], dtype=object)
    parts = []
    for loc in spec.locations:
        for res in store.resolutions:
            for time_field in counts.time_fields or ("",):
                months = (pd.to_datetime(rows[time_field]).dt.strftime("%Y-%m-01").fillna(NO_MONTH) if time_field
                          else NO_MONTH)
                part = pd.DataFrame({"location": loc.name, "res": res, "time_field": time_field, "month": months,
                                     **{name: rows[name].fillna("").astype(str) for name in counts.by},
                                     "cell": rows[cell_column(loc.name, res)]})
                parts.append(part[part.cell.notna()].astype({"cell": "int64"}))
    key = ["location", "res", "time_field", "month", *counts.by, "cell"]
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=key)
    frame = frame.astype({"res": "int64", "cell": "int64"}).groupby(key).size().rename("n").reset_index()
    return frame.astype({"n": "int64"}).sort_values(key, ignore_index=True)


def assert_counts_match_rows(store: Store, layer: str) -> pd.DataFrame:
    held = store.read_cell_counts(layer)
    pd.testing.assert_frame_equal(held, recount(store, layer), check_dtype=False)
    return held


def assert_answers_match_rows(store: Store, layer: str, cell: str, time_field: str, windows, filters=({},)):
    """``count_by_cell`` (from the counts where they can answer) equals the count from the rows (distinct row ids
    are read from the rows), and ``count_by_cell_month`` equals a month-by-month count, for each window and filter."""
    for start, end in windows:
        for equals in filters:
            options = dict(time_field=time_field, start=start, end=end, equals=equals)
            answered = store.count_by_cell(layer, cell, **options)
            from_rows = store.count_by_cell(layer, cell, distinct_field="id", **options)
            pd.testing.assert_series_equal(answered.sort_index(), from_rows.sort_index(), check_names=False)
            cube = store.count_by_cell_month(layer, cell, **options)
            if start or end:  # a window leaves out the rows with no time, as the months do
                pd.testing.assert_series_equal(cube.groupby(level="cell").sum(), from_rows.sort_index(),
                                               check_names=False)
            else:
                rows = store.read_layer(layer, [cell, time_field], equals=equals, present=[cell, time_field])
                assert cube.sum() == len(rows)
            for month in cube.index.get_level_values("month").unique()[:3]:
                one = store.count_by_cell(layer, cell, distinct_field="id", time_field=time_field, equals=equals,
                                          start=max(month, pd.Timestamp(start)) if start else month,
                                          end=min(month + pd.offsets.MonthBegin(1), pd.Timestamp(end)) if end else
                                          month + pd.offsets.MonthBegin(1))
                pd.testing.assert_series_equal(cube.xs(month, level="month").sort_index(), one.sort_index(),
                                               check_names=False)


def _incidents(path, n, start=0):
    lines = [HEADER] + [f"{'' if i % 7 == 0 else f'X{i}'},2024-0{1 + i % 6},{TYPES[i % 3]},"
                        f"{51.40 + (i % 50) * 0.0005:.6f},{-0.19 - (i % 11) * 0.001:.4f}"
                        for i in range(start, start + n)]
    path.write_text("\n".join(lines) + "\n")
    return path


WINDOWS = [(None, None), ("2024-02-01", "2024-05-01"), (None, "2024-03-01"), ("2024-03-01", None),
           ("2024-02-15", "2024-05-01")]  # the last does not start a month: read from the rows


def test_counts_equal_the_rows_after_ingest_reingest_and_a_batch_that_fails(loaded_store, settings, tmp_path,
                                                                             monkeypatch):
    store = loaded_store
    first = _incidents(tmp_path / "a.csv", 150)
    assert ingest_file(store, "incidents", first, settings=settings).accepted == 150
    held = assert_counts_match_rows(store, "incidents")
    assert held.n.sum() == 150 * 4, "each row once per stored resolution"
    assert_answers_match_rows(store, "incidents", "location_cell_9", "month", WINDOWS,
                              ({}, {"crime_type": "Robbery"}, {"crime_id": "X1"}))

    assert ingest_file(store, "incidents", first, settings=settings).duplicate == 150
    pd.testing.assert_frame_equal(assert_counts_match_rows(store, "incidents"), held)

    second = _incidents(tmp_path / "b.csv", 120, start=150)
    monkeypatch.setattr(store, "BULK_CHUNK", 25)

    def failing_progress(stage, done, total):
        if stage == "write" and done >= 50:  # rows are in the table, inside the transaction
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        ingest_file(store, "incidents", second, settings=settings, progress=failing_progress)
    pd.testing.assert_frame_equal(assert_counts_match_rows(store, "incidents"), held)

    counted = store.add_column_counts

    def crash_after_counting(conn, layer, data):
        counted(conn, layer, data)
        raise KeyboardInterrupt  # Ctrl-C once the counts too are written

    monkeypatch.setattr(store, "add_column_counts", crash_after_counting)
    with pytest.raises(KeyboardInterrupt):
        ingest_file(store, "incidents", second, settings=settings)
    pd.testing.assert_frame_equal(assert_counts_match_rows(store, "incidents"), held)

    monkeypatch.undo()
    assert ingest_file(store, "incidents", second, settings=settings).accepted == 120
    assert assert_counts_match_rows(store, "incidents").n.sum() == 270 * 4
    assert_answers_match_rows(store, "incidents", "location_cell_10", "month", WINDOWS[:2],
                              ({}, {"crime_type": "Drugs"}))


def test_retention_takes_out_of_the_counts_exactly_what_it_erases(load_world):
    store = load_world("people", "associations", "missing_episodes", "incidents", "places")
    before = {name: assert_counts_match_rows(store, name) for name in ("missing_episodes", "incidents", "places")}
    people = store.read_layer("people", ["retain_until"])
    today = sorted(date.fromisoformat(str(d)[:10]) for d in people.retain_until)[len(people) // 2]
    report = run_retention(store, today=today)
    assert report.removed.get("missing_episodes", 0) > 0
    after = assert_counts_match_rows(store, "missing_episodes")
    assert after.n.sum() < before["missing_episodes"].n.sum() and (after.n > 0).all(), "no empty counts kept"
    assert (before["places"].month == NO_MONTH).all() and len(before["places"]), "places have no time: no month"
    for name in ("incidents", "places"):  # public data: retention leaves it alone
        pd.testing.assert_frame_equal(assert_counts_match_rows(store, name), before[name])
    assert_answers_match_rows(store, "missing_episodes", "found_cell_9", "found_at",
                              [(None, None), ("2025-03-01", "2025-09-01"), ("2025-03-01 06:00", "2025-09-01")])


def test_an_existing_store_gets_its_counts_from_its_rows(loaded_store, settings, tmp_path):
    ingest_file(loaded_store, "incidents", _incidents(tmp_path / "a.csv", 80), settings=settings)
    held = assert_counts_match_rows(loaded_store, "incidents")
    with loaded_store.engine.begin() as conn:  # as a store made before there were counts
        conn.execute(text("DROP TABLE cell_counts_incidents"))
        conn.execute(text("DELETE FROM cell_counts_built WHERE layer = 'incidents'"))
    loaded_store.engine.dispose()
    upgraded = Store.from_settings(settings)
    assert upgraded.upgrade() == []
    pd.testing.assert_frame_equal(assert_counts_match_rows(upgraded, "incidents"), held)
    with upgraded.engine.begin() as conn:  # counts built for other resolutions, say, are counted again
        conn.execute(text("UPDATE cell_counts_built SET definition = '{}' WHERE layer = 'incidents'"))
        conn.execute(text("DELETE FROM cell_counts_incidents WHERE res = 9"))
    assert upgraded.build_counts() == ["cell_counts_incidents"]
    assert upgraded.build_counts() == [], "once is enough"
    pd.testing.assert_frame_equal(assert_counts_match_rows(upgraded, "incidents"), held)
    upgraded.engine.dispose()


def test_plain_counts_over_whole_months_of_counted_fields_are_read_from_the_counts(store):
    def from_counts(cell="location_cell_9", time_field="month", start="2024-01-01", end="2024-07-01", **equals):
        return store._counts_plan("incidents", cell, time_field, start, end, equals) is not None

    assert from_counts() and from_counts(start=None, end=None) and from_counts(time_field=None, start="2024-01-15")
    assert from_counts(cell="location_cell_7", crime_type="Drugs")
    assert not from_counts(start="2024-01-15"), "a window that does not start a month"
    assert from_counts(end=pd.Timestamp("2024-07-01 12:00")), "a month column compares dates: the rows see 2024-07-01"
    assert not from_counts(crime_id="X1"), "a field not counted"
    assert not from_counts(crime_type=""), "an empty value: the rows hold NULL"
    assert not from_counts(cell="location_lat")
    assert store._counts_plan("outreach_sessions", "location_cell_9", "started_at", "2024-01-01 06:00", None,
                              {}) is None, "a datetime bound within a day"
    assert store._counts_plan("outreach_sessions", "location_cell_9", "started_at", "2024-01-01", "2024-02-01",
                              {}) is not None
    assert store._counts_plan("people", "x", None, None, None, {}) is None, "no locations, no counts"
