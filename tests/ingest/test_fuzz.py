"""Hypothesis-generated coordinates, dates and text: no exception escapes validation, every row is accounted for."""

from __future__ import annotations

import math
from datetime import datetime, timezone

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from geoservice.ingest.areas import AreaIndex
from geoservice.ingest.locate import LocateContext, locate
from geoservice.ingest.reasons import REASONS, IssueLog
from geoservice.ingest.validate import parse_times, validate_fields
from geoservice.config import MERTON_AND_NEIGHBOURS

from ..conftest import DATA_DIR, needs_data

NOW = datetime(2026, 6, 1, tzinfo=timezone.utc)

coordinate_text = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.floats(min_value=-200, max_value=200).map(lambda v: f"{v:.6f}"),
    st.floats(min_value=51.2, max_value=51.6).map(lambda v: f"{v:.6f}"),
    st.floats(min_value=-0.5, max_value=0.3).map(lambda v: f"{v:.6f}"),
    st.sampled_from(["", " ", "0", "-0", "1e308", "-1e400", "51,41", "NaN", "inf", "０.５", "51.41.2", "--1"]),
    st.text(max_size=12),
)
time_text = st.one_of(
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)).map(lambda d: d.isoformat()),
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)).map(lambda d: d.strftime("%Y-%m")),
    st.sampled_from(["", "2024-13", "2024-02-30", "2024-05-01T25:00", "0000-01", "2024-05-01T10:00:00+14:00",
                     "2024-03-31T01:30:00", "2024-10-27T01:30:00", "20240501", "1/5/2024", "Z", "-2024-05"]),
    st.text(max_size=25),
)


@pytest.fixture(scope="module")
def areas():
    if not (DATA_DIR / "london_boroughs.geojson").exists():
        pytest.skip("shared data not found")
    import geopandas as gpd

    rows = []
    for name, level in (("london_boroughs.geojson", "borough"), ("wards_merton_neighbours.geojson", "ward")):
        frame = gpd.read_file(DATA_DIR / name, engine="pyogrio")
        rows += [{"code": r.code, "name": r["name"], "level": level, "borough_code": r.get("borough_code", ""),
                  "geometry": r.geometry} for _, r in frame.iterrows()]
    return AreaIndex(rows, 250)


@needs_data("london_boroughs.geojson")
@hsettings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.tuples(coordinate_text, coordinate_text), min_size=1, max_size=20))
def test_locate_never_raises_and_accounts_for_every_row(rows, specs, areas):
    spec = specs["incidents"]
    loc = spec.locations[0]
    values = pd.DataFrame({c: [""] * len(rows) for c in spec.input_columns})
    values[loc.lat] = [a.strip() for a, _ in rows]
    values[loc.lng] = [b.strip() for _, b in rows]
    log = IssueLog(len(rows))
    out = locate(loc, values, LocateContext(areas, MERTON_AND_NEIGHBOURS), log, np.arange(2, len(rows) + 2))
    rejected = log.rejected_mask()
    assert log.codes() <= set(REASONS)
    # every row is either rejected or holds a finite point within the study area plus its tolerance,
    # placed in a borough (a neighbour's, if it lies just over the edge)
    from geoservice.places import lnglat_to_bng

    for i in range(len(rows)):
        if not rejected[i]:
            assert math.isfinite(out["lat"][i]) and math.isfinite(out["lng"][i])
            x, y = lnglat_to_bng([out["lng"][i]], [out["lat"][i]])
            assert areas.in_study_area(np.asarray(x), np.asarray(y), MERTON_AND_NEIGHBOURS)[0]
            assert out["borough"][i].startswith("E09")
        else:
            assert out["located_by"][i] == ""


@hsettings(max_examples=300, deadline=None)
@given(texts=st.lists(time_text, min_size=1, max_size=20), kind=st.sampled_from(["date", "month", "datetime"]))
def test_time_parsing_never_raises(texts, kind):
    parsed = parse_times(pd.Series([t.strip() for t in texts], dtype=object), kind)
    assert len(parsed) == len(texts)
    assert str(parsed.dt.tz) == "UTC"


@hsettings(max_examples=200, deadline=None)
@given(texts=st.lists(time_text, min_size=1, max_size=8), picks=st.lists(st.integers(0, 7), min_size=2, max_size=30),
       kind=st.sampled_from(["date", "month", "datetime"]))
def test_repeated_times_parse_as_each_text_alone(texts, picks, kind):
    """parse_times parses each distinct text once: the answer is what parsing every text on its own gives."""
    column = pd.Series([texts[i % len(texts)].strip() for i in picks], dtype=object)
    parsed = parse_times(column, kind)
    alone = [parse_times(pd.Series([text], dtype=object), kind).iloc[0] for text in column]
    assert str(parsed.dt.tz) == "UTC" and list(parsed.index) == list(column.index)
    assert [None if pd.isna(t) else t for t in parsed] == [None if pd.isna(t) else t for t in alone]


@hsettings(max_examples=200, deadline=None)
@given(rows=st.lists(st.tuples(time_text, st.text(max_size=20), st.text(max_size=8)), min_size=1, max_size=15))
def test_field_validation_never_raises(rows, specs):
    spec = specs["outreach_sessions"]
    values = pd.DataFrame({c: [""] * len(rows) for c in spec.input_columns})
    values["started_at"] = [a.strip() for a, _, _ in rows]
    values["ended_at"] = [a.strip() for a, _, _ in rows]
    values["team"] = [b.strip() for _, b, _ in rows]
    values["young_people_reached"] = [c.strip() for _, _, c in rows]
    values["session_id"] = [f"S{i}" for i in range(len(rows))]
    log = IssueLog(len(rows))
    typed = validate_fields(spec, values, log, NOW)
    rejected = log.rejected_mask()
    for i in range(len(rows)):
        if not rejected[i]:
            assert typed["started_at"].iloc[i] <= pd.Timestamp(NOW) + pd.Timedelta(minutes=5)
            assert typed["young_people_reached"][i] is not None


def test_naive_times_are_uk_local_time():
    parsed = parse_times(pd.Series(["2024-07-01T12:00:00", "2024-01-15T12:00:00", "2024-07-01T12:00:00Z"]),
                         "datetime")
    assert [t.hour for t in parsed] == [11, 12, 12]  # BST is UTC+1 in July
