"""The front page lists the loaded layers with row counts; the API answers JSON in one error shape."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from geoservice import create_app
from geoservice.ingest.pipeline import ingest_file

from ..conftest import sign_in


@pytest.fixture
def client(loaded_store, settings, tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("crime_id,month,crime_type,latitude,longitude\nA,2024-05,Robbery,51.41,-0.188\n"
                    "B,2024-05,Drugs,51.42,-0.19\n")
    ingest_file(loaded_store, "incidents", path, settings=settings)
    app = create_app({"TESTING": True, "GEOSERVICE_SETTINGS": settings})
    client = app.test_client()
    sign_in(client, loaded_store, "admin")
    yield client
    app.extensions["geoservice_store"].engine.dispose()


def test_front_page_lists_layers_with_counts(client):
    response = client.get("/")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    rows = dict(re.findall(r'data-layer="(\w+)">.*?class="num rows">([\d,]+)<', html, re.S))
    assert rows["incidents"] == "2"
    assert rows["boundaries"] == "152"
    assert len(rows) == len(list((Path(__file__).parents[2] / "layers").glob("*.toml"))), "every layer listed"
    assert "OpenStreetMap" in html and "police.uk" in html, "attributions are shown"
    assert "http://" not in html and "https://" not in html, "the page works offline"


def test_api_layers(client):
    payload = client.get("/api/layers").get_json()
    counts = {layer["name"]: layer["rows"] for layer in payload["layers"]}
    assert payload["ok"] is True and counts["incidents"] == 2 and counts["people"] == 0


def test_json_errors_have_one_shape(client):
    response = client.get("/api/nothing-here")
    assert response.status_code == 404
    assert set(response.get_json()) == {"ok", "error", "errors", "status"}
    assert response.get_json()["status"] == 404


def test_error_pages_are_styled_with_a_way_back_and_library_errors_say_whose_move_it_is(client):
    page = client.get("/no-such-page")
    html = page.get_data(as_text=True)
    assert page.status_code == 404 and "<h2>Not found</h2>" in html and 'href="/"' in html and "<style>" in html
    from geoservice.errors import BatchConflictError, InputFileError, SetupError
    from geoservice.web.errors import status_of, without_paths

    assert [status_of(e("x")) for e in (SetupError, BatchConflictError, InputFileError)] == [503, 409, 422]
    assert without_paths("/srv/geoservice/tmp/abc/people.csv row 2: bad") == "people.csv row 2: bad"
