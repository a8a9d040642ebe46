"""The differencing attack on everything a youth worker can open: every year offered, every area choice (each set of
the worker's boroughs), every layer, through the map data API and the page. The published numbers are collected per
area as sets of hexagons and every difference is tried (``geoservice.privacy.differencing``): none may reveal a count
from 1 to 9. Parameters not offered (quarters, months, dates, a resolution) are refused or ignored, so they add
nothing to attack."""

from __future__ import annotations

import itertools
import json
import re
from datetime import date

import h3
import numpy as np
import pytest

from geoservice import create_app
from geoservice.privacy.differencing import Population, Published, differencing_leaks

from ..conftest import sign_in

MERTON, WANDSWORTH = "E09000024", "E09000032"
BOROUGHS = (MERTON, WANDSWORTH)


@pytest.fixture
def youth_client(world_settings):
    application = create_app({"GEOSERVICE_SETTINGS": world_settings, "TESTING": True})
    client = application.test_client()
    sign_in(client, application.extensions["geoservice_store"], "youth_worker", list(BOROUGHS))
    yield client
    application.extensions["geoservice_store"].engine.dispose()


def _cells(config: dict, indices) -> frozenset:
    hexes = np.asarray(config["hexes"]).reshape(-1, 12)
    out = set()
    for i in indices:
        ring = np.cumsum(np.vstack([hexes[i, :2] + np.asarray(config["origin"]), hexes[i, 2:].reshape(5, 2)]), axis=0)
        lat, lng = ring.mean(axis=0) / config["scale"]
        out.add(h3.str_to_int(h3.latlng_to_cell(lat, lng, config["resolution"])))
    return frozenset(out)


def _published(config: dict, view: str) -> list[Published]:
    """Every person-derived number of one view, as a published number over its hexagons."""
    year = int(config["period_value"])
    start, end = date(year, 1, 1), date(year + 1, 1, 1)
    out = []
    for layer in config["layers"]:
        if layer.get("public") or layer["type"] != "hex":
            continue  # public police.uk data: published at street level by its source already
        assert layer.get("people"), f"a hex layer that is neither people nor public: {layer['title']}"
        population = Population.of(layer["population"]["of"], layer["population"]["where"])
        shown = dict(zip(layer["index"], layer["values"]))
        for area in layer["areas"]:
            assert all(shown[i] == area["value"] for i in area["cells"]), "the map colours what the table says"
            out.append(Published(population, start, end, _cells(config, area["cells"]), area["value"],
                                 f"{view} {area['name']}"))
        assert len(layer["index"]) == sum(len(a["cells"]) for a in layer["areas"]), "nothing drawn outside an area"
    return out


def test_no_difference_of_anything_a_youth_worker_can_open_reveals_1_to_9(youth_client):
    first = youth_client.get(f"/api/maps/youth_area?borough={MERTON}").get_json()
    periods = first["map"]["periods"]
    assert periods and first["map"]["period_value"] == periods[0], "the default is the latest year offered"
    assert len(set(periods)) == len(periods) and all(re.fullmatch(r"\d{4}", p) for p in periods), \
        "whole calendar years: they never overlap"
    published, views = [], {}
    for size in (1, 2):
        for boroughs in itertools.combinations(BOROUGHS, size):
            area = "&".join(f"borough={b}" for b in boroughs)
            for period in periods:
                response = youth_client.get(f"/api/maps/youth_area?{area}&period={period}")
                assert response.status_code == 200, (area, period, response.get_json())
                numbers = _published(response.get_json()["map"], f"{'+'.join(boroughs)} {period}")
                views[boroughs, period] = {(n.population, n.cells, n.value) for n in numbers}
                published += numbers
    assert len(views) == 3 * len(periods) and len(published) >= 5, "the world's years show areas"
    assert differencing_leaks(published) == []
    for period in periods:  # two boroughs at once: exactly the union of the one-borough views
        assert views[BOROUGHS, period] == views[(MERTON,), period] | views[(WANDSWORTH,), period], period


def test_the_page_shows_no_more_than_the_api(youth_client):
    api = youth_client.get(f"/api/maps/youth_area?borough={MERTON}&period=2025").get_json()["map"]
    page = youth_client.get(f"/maps/youth_area?borough={MERTON}&period=2025").get_data(as_text=True)
    data = json.loads(re.search(r'<script id="map-data" type="application/json">(.*?)</script>', page, re.S).group(1))
    assert data == api
    shown = {a["value"] for layer in api["layers"] if layer.get("people") for a in layer["areas"]}
    table = re.findall(r'<td class="num">(\d+)</td>', page)
    assert table and {int(v) for v in table} <= shown, "the table's numbers are the areas' numbers"
    assert "total" not in page.lower(), "no total to subtract the areas from"


@pytest.mark.parametrize("asked", ["period=2025Q3", "period=2025-06", "period=25",
                                   "from=2025-01-01&to=2025-12-01", f"period={date.today().year}",
                                   "period=1899"])
def test_what_is_not_offered_is_a_clear_400(youth_client, asked):
    response = youth_client.get(f"/api/maps/youth_area?borough={MERTON}&{asked}")
    body = response.get_json()
    assert response.status_code == 400 and not body["ok"] and body["error"], (asked, body)


def test_a_resolution_is_not_a_parameter(youth_client):
    year = youth_client.get(f"/api/maps/youth_area?borough={MERTON}&period=2025").get_json()["map"]
    assert youth_client.get(f"/api/maps/youth_area?borough={MERTON}&period=2025&res=10").get_json()["map"] == year
