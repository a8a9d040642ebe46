"""Text values holding NUL, other control characters or text-direction overrides are rejected (issue 10), wherever
they sit in the file, and kept in quarantine exactly as they arrived (escaped, so PostgreSQL can hold them)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from geoservice.ingest.pipeline import ingest_file
from geoservice.ingest.reasons import IssueLog
from geoservice.ingest.validate import check_characters

pytestmark = pytest.mark.postgres  # the database matters here: run on PostgreSQL too

HEADER = "crime_id,month,crime_type,latitude,longitude,context"
GOOD = "G{i},2024-05,Robbery,51.41,-0.188,a plain context for row {i}"

BAD = {  # crime id -> (context as written in the CSV, the character the message must name)
    "NUL": ("before\x00after", "U+0000 NULL"),
    "RLO": ("invoice\u202egpj.exe", "U+202E RIGHT-TO-LEFT OVERRIDE"),
    "ISO": ("\u2066isolated\u2069", "U+2066 LEFT-TO-RIGHT ISOLATE"),
    "ESC": ("colour \x1b[31m red", "U+001B ESCAPE"),
    "DEL": ("rub\x7fout", "U+007F DELETE"),
    "NEL": ("next\x85line", "U+0085 C1 CONTROL"),
    "FFFF": ("not a character \uffff", "U+FFFF NON-CHARACTER"),
}
ALLOWED = '"tab\there, a line\nbreak and a\r\nWindows one"'


def _file(tmp_path) -> tuple:
    lines = [HEADER] + [GOOD.format(i=i) for i in range(2000)]  # ~100 KB: past the 64 KiB binary sniff
    lines += [f"{crime_id},2024-05,Robbery,51.41,-0.188,{text}" for crime_id, (text, _) in BAD.items()]
    lines.append(f"OK,2024-05,Robbery,51.41,-0.188,{ALLOWED}")
    path = tmp_path / "incidents.csv"
    path.write_bytes(("\n".join(lines) + "\n").encode("utf-8"))
    assert b"\x00" not in path.read_bytes()[:64 * 1024] and b"\x00" in path.read_bytes()
    return path


def test_control_characters_reject_their_row_and_are_kept_escaped(loaded_store, settings, tmp_path):
    report = ingest_file(loaded_store, "incidents", _file(tmp_path), settings=settings)
    assert (report.rows_in, report.accepted, report.rejected, report.duplicate) == (2008, 2001, 7, 0)
    assert report.reasons == {"text_control_character": 7}
    rows = {r["raw"]["crime_id"]: r for r in loaded_store.rejected_rows(report.batch_id)}
    assert set(rows) == set(BAD)
    for crime_id, (text, named) in BAD.items():
        row = rows[crime_id]
        assert row["field"] == "context" and row["reason_code"] == "text_control_character"
        assert row["message"].startswith(f"context holds {named} at character "), row["message"]
        assert row["raw"]["context"] == text, "the quarantined row is exactly what arrived"
        for character in "\x00\x1b\x7f\x85\u202e\u2066\uffff":
            assert character not in row["message"], "messages name the character, never carry it"
    stored = loaded_store.read_layer("incidents", ["crime_id", "context"]).set_index("crime_id")
    assert stored.loc["OK", "context"] == "tab\there, a line\nbreak and a\r\nWindows one"
    assert not set(BAD) & set(stored.index)


def test_the_quarantine_holds_nul_only_as_a_json_escape(loaded_store, settings, tmp_path):
    from sqlalchemy import select

    report = ingest_file(loaded_store, "incidents", _file(tmp_path), settings=settings)
    q = loaded_store.quarantine
    with loaded_store.engine.connect() as conn:
        stored = conn.execute(select(q.c.raw, q.c.message, q.c.issues).where(q.c.batch_id == report.batch_id)).all()
    for raw, message, issues in stored:
        assert "\x00" not in raw + message + issues
    assert any('"before\\u0000after"' in raw for raw, _, _ in stored)


def test_every_format_is_checked(loaded_store, settings, tmp_path):
    feature = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [-0.188, 51.41]},
               "properties": {"place_id": "P1", "name": "Wandle \u202eParK", "kind": "park", "source": "local"}}
    path = tmp_path / "places.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}))
    report = ingest_file(loaded_store, "places", path, settings=settings)
    assert report.reasons == {"text_control_character": 1}


def test_the_check_names_the_first_bad_character_of_each_value():
    values = pd.DataFrame({"a": ["clean", "x\x01y\x02", "", "tab\tok"], "b": ["\u202d", "ok", "ok", "\x0b"]},
                          dtype=object)
    log = IssueLog(4)
    check_characters(values, log)
    issues = log.by_row()
    assert sorted(issues) == [0, 1, 3]
    assert [i["message"].split(" at ")[0] for i in issues[1]] == ["a holds U+0001 START OF HEADING"]
    assert issues[0][0]["message"].startswith("b holds U+202D LEFT-TO-RIGHT OVERRIDE at character 1")
    assert issues[3][0]["message"].startswith("b holds U+000B LINE TABULATION")


@pytest.mark.parametrize("rows", [0, 1, 50_000])
def test_clean_columns_pass_untouched(rows):
    values = pd.DataFrame({"a": np.array([f"value {i}\twith tab" for i in range(rows)], dtype=object)})
    log = IssueLog(rows)
    check_characters(values, log)
    assert not log.rejected_mask().any()
