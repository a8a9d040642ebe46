"""Upload through the web: the CLI's validation and reconciliation, a size limit, a report of every rejected row."""

from __future__ import annotations

import io
import re

import pytest

from geoservice import create_app
from geoservice.privacy.audit import events

from ..conftest import sign_in

PEOPLE = (b"person_id,subject_category,home_borough,recorded_on\n"
          b"C1,child_at_risk,E09000024,2025-01-01\n"
          b"C2,wizard,E09000024,2025-01-01\n")


@pytest.fixture
def app(loaded_store, settings):
    application = create_app({"GEOSERVICE_SETTINGS": settings, "TESTING": True})
    yield application
    application.extensions["geoservice_store"].engine.dispose()


def _token(client) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get("/upload").get_data(as_text=True)).group(1)


def _post(client, token, body=PEOPLE, **form):
    data = {"layer": "people", "why": "referrals from the MASH", "csrf_token": token,
            "file": (io.BytesIO(body), "people.csv"), **form}
    return client.post("/upload", data=data, content_type="multipart/form-data")


def test_an_upload_reports_each_rejected_row_and_is_audited(app):
    store = app.extensions["geoservice_store"]
    client = app.test_client()
    sign_in(client, store, "admin")
    response = _post(client, _token(client))
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert re.search(r"<strong>2</strong>\s+rows in: <strong>1</strong>\s+accepted, <strong>1</strong>\s+"
                     r"rejected", html)
    rejected = re.findall(r'<td class="num">(\d+)</td><td>(\w+)</td>\s*<td><code>(\w+)</code>', html)
    assert rejected == [("3", "subject_category", "value_not_allowed")], rejected
    assert store.layer_counts()["people"] == 1
    again = _post(client, _token(client)).get_data(as_text=True)
    assert re.search(r"<strong>2</strong>\s+already held", again), "re-uploading adds nothing"
    collection = [e for e in events(store) if e["operation"] == "collection"]
    assert collection[-1]["username"] == "admin" and collection[-1]["justification"] == "referrals from the MASH"


def test_uploads_need_a_reason_a_token_a_role_and_a_small_file(app):
    store = app.extensions["geoservice_store"]
    client = app.test_client()
    sign_in(client, store, "mace_analyst")
    token = _token(client)
    assert _post(client, token, why="").status_code == 400, "personal data needs a reason"
    assert _post(client, "forged").status_code == 400
    app.config["MAX_CONTENT_LENGTH"] = 200
    assert _post(client, token, body=PEOPLE * 10).status_code == 413
    youth = app.test_client()
    sign_in(youth, store, "youth_worker")
    assert youth.get("/upload").status_code == 403


MERTON, BROMLEY = "E09000024", "E09000006"


def _rejected(html):
    return re.findall(r'<td class="num">(\d+)</td><td>(\w+)</td>\s*<td><code>(\w+)</code></td><td>([^<]*)</td>', html)


def test_an_analyst_stores_only_rows_of_their_boroughs(app, settings, tmp_path):
    from geoservice.ingest.pipeline import ingest_file

    store = app.extensions["geoservice_store"]
    bromley = f"B1,child_at_risk,{BROMLEY},2025-01-01"
    held = tmp_path / "held.csv"
    held.write_text(f"person_id,subject_category,home_borough,recorded_on\n{bromley}\n")
    assert ingest_file(store, "people", held, settings=settings).accepted == 1  # loaded by an administrator
    client = app.test_client()
    sign_in(client, store, "mace_analyst", boroughs=[MERTON], username="merton_analyst")
    body = (f"person_id,subject_category,home_borough,recorded_on\nM1,child_at_risk,{MERTON},2025-01-01\n"
            f"{bromley}\nX1,child_at_risk,NOT-A-GSS-CODE,2025-01-01\n").encode()
    html = _post(client, _token(client), body=body).get_data(as_text=True)
    assert re.search(r"<strong>3</strong>\s+rows in: <strong>1</strong>\s+accepted, <strong>2</strong>\s+rejected,\s+"
                     r"<strong>0</strong>\s+already held", html), html[html.find("rows in") - 200:][:600]
    rows = _rejected(html)
    assert [(row, field, code) for row, field, code, _ in rows] == [
        ("3", "home_borough", "outside_user_scope"), ("4", "home_borough", "unknown_area_code")]
    assert sorted(store.read_layer("people", ["person_id"]).person_id) == ["B1", "M1"]


def test_only_administrators_upload_boundaries(app):
    store = app.extensions["geoservice_store"]
    square = ('{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"code": "E01999999", '
              '"name": "Test 001A"}, "geometry": {"type": "Polygon", "coordinates": [[[-0.2, 51.4], [-0.19, 51.4], '
              '[-0.19, 51.41], [-0.2, 51.4]]]}}]}').encode()
    analyst = app.test_client()
    sign_in(analyst, store, "mace_analyst")
    data = {"layer": "boundaries", "csrf_token": _token(analyst), "file": (io.BytesIO(square), "lsoa.geojson")}
    response = analyst.post("/upload", data=data, content_type="multipart/form-data")
    assert response.status_code == 403 and "only an administrator may upload" in response.get_data(as_text=True)
    admin = app.test_client()
    sign_in(admin, store, "admin")
    data = {"layer": "boundaries", "csrf_token": _token(admin), "file": (io.BytesIO(square), "lsoa.geojson")}
    response = admin.post("/upload", data=data, content_type="multipart/form-data")
    assert response.status_code == 200 and re.search(r"<strong>1</strong>\s+accepted", response.get_data(as_text=True))


def test_a_compressed_upload_is_limited_by_its_inflated_size_and_the_folder_is_never_shown(app):
    import dataclasses
    import gzip

    store = app.extensions["geoservice_store"]
    app.config["GEOSERVICE_SETTINGS"] = dataclasses.replace(app.config["GEOSERVICE_SETTINGS"],
                                                            upload_max_inflated_mb=1)
    client = app.test_client()
    sign_in(client, store, "mace_analyst")
    rows = PEOPLE.split(b"\n", 1)[1].split(b"\n")[0] + b"\n"
    bomb = gzip.compress(PEOPLE + rows * 200_000)  # ~7 MB of rows in ~30 kB
    assert len(bomb) < 100_000
    data = {"layer": "people", "why": "referrals from the MASH", "csrf_token": _token(client),
            "file": (io.BytesIO(bomb), "people.csv.gz")}
    response = client.post("/upload", data=data, content_type="multipart/form-data")
    text = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "people.csv.gz: inflates past 1 MB; the limit is the upload_max_inflated_mb setting" in text
    assert "/tmp" not in text and "tmp" not in text.replace("people.csv.gz", "")
    assert store.layer_counts()["people"] == 0


def test_a_reason_holding_control_characters_is_refused(app):
    store = app.extensions["geoservice_store"]
    client = app.test_client()
    sign_in(client, store, "mace_analyst")
    response = _post(client, _token(client), why="referrals\x00 from the MASH")
    assert response.status_code == 400 and "control or text-direction character" in response.get_data(as_text=True)


@pytest.mark.parametrize("name, body", [("places.gpkg", b"SQLite format 3\x00" + b"\x00" * 200),
                                        ("places.geojson", b'{"type": "FeatureCollection", "features": ['),
                                        ("places.csv.gz", b"\x1f\x8b\x08\x00" + b"\x00" * 20)])
def test_an_unreadable_upload_is_named_without_the_server_folder(app, name, body):
    store = app.extensions["geoservice_store"]
    client = app.test_client()
    sign_in(client, store, "mace_analyst")
    data = {"layer": "places", "csrf_token": _token(client), "file": (io.BytesIO(body), name)}
    response = client.post("/upload", data=data, content_type="multipart/form-data")
    text = response.get_data(as_text=True)
    assert response.status_code == 422 and f'<p class="error">{name}: ' in text, text
    assert "/tmp" not in text and "tmp" not in text.replace(name, "")
