"""Map products on the synthetic world: offline, small, attributed; the youth map aggregate only; planted
patterns shown where they should be."""

from __future__ import annotations

import json
import re

import h3
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from geoservice import create_app
from geoservice.analysis.hotspot_areas import hotspot_report
from geoservice.cli import main
from geoservice.config import MERTON_AND_NEIGHBOURS, PROJECT_ROOT
from geoservice.maps.assets import INERT_LIBRARY_URLS, leaflet_css, leaflet_js
from geoservice.maps.products import build_map, suppress
from geoservice.maps.render import render_map_html
from geoservice.maps.specs import load_map_specs

from ..conftest import sign_in

MERTON = "E09000024"
START, END = "2025-01-01", "2026-01-01"
SPECS = load_map_specs(PROJECT_ROOT / "maps")
BUDGET_MB = {1: 1.5, 6: 5.0}
PERSON_OR_RECORD = re.compile(r"\b(?:C\d{4}|A\d{3}|P\d{3}|ME\d{5}|SR\d{5}|OS\d{5}|AS\d{5})\b")
WORLD_LAYERS = ("places", "people", "associations", "missing_episodes", "incidents", "survey_responses",
                "outreach_sessions")


@pytest.fixture
def world_store(load_world, settings):
    from geoservice.ingest.pipeline import ingest_file

    store = load_world(*WORLD_LAYERS)
    ingest_file(store, "places", settings.data_dir / "osm_pois_merton_neighbours.csv", settings=settings)
    return store


def _build(store, name, boroughs=(MERTON,)):
    window = {"period": "2025"} if SPECS[name].fixed_windows else {"start": START, "end": END}
    return build_map(store, SPECS[name], boroughs=boroughs, as_of="2026-01-01", **window)


def external_references(html: str) -> list[str]:
    """Everything in a page that could make the browser fetch from another host, or any URL we wrote.

    Leaflet's own code and CSS (inlined as the registry package ships them) hold a few URL strings that fetch
    nothing (``INERT_LIBRARY_URLS``); they are allowed exactly as often as the library holds them. The browser
    tests check at run time that no request leaves the serving host."""
    ours = html.replace(leaflet_js(), "").replace(leaflet_css(), "")
    found = re.findall(r"""(?:src|href|action|poster|data|srcset|formaction)\s*=\s*["']?\s*((?:https?:)?//[^"'\s>]+)""",
                       ours, flags=re.I)
    found += re.findall(r"""url\(\s*["']?((?:https?:)?//[^"')]+)""", ours, flags=re.I)
    found += re.findall(r"@import\s+[^;]+", ours)
    urls = re.findall(r"https?://[^\s\"'<>)\\]+", html)
    library = leaflet_js() + leaflet_css()
    allowed = {u: library.count(u) for u in INERT_LIBRARY_URLS}  # inert strings inside Leaflet, as shipped
    for url in set(urls):
        if urls.count(url) > allowed.get(url, 0):
            found.append(url)
    return found


def _data(html: str) -> dict:
    return json.loads(re.search(r'<script id="map-data" type="application/json">(.*?)</script>', html, re.S).group(1))


def _cells_of(config: dict, layer: dict) -> list[str]:
    """Decode the hexagons a layer colours back to their H3 cells (through their centres)."""
    ints, origin, scale = config["hexes"], config["origin"], config["scale"]
    cells = []
    for i in layer["index"]:
        lat, lng = origin[0] + ints[12 * i], origin[1] + ints[12 * i + 1]
        ring = [(lat, lng)]
        for j in range(2, 12, 2):
            lat, lng = lat + ints[12 * i + j], lng + ints[12 * i + j + 1]
            ring.append((lat, lng))
        centre = np.mean(ring, axis=0) / scale
        cells.append(h3.latlng_to_cell(centre[0], centre[1], config["resolution"]))
    return cells


def test_every_map_is_offline_attributed_and_within_its_size_budget(world_store):
    for name in SPECS:
        for boroughs in ((MERTON,), MERTON_AND_NEIGHBOURS):
            built = _build(world_store, name, boroughs)
            html = render_map_html(built)
            assert external_references(html) == [], (name, len(boroughs))
            assert "OpenStreetMap contributors" in html and "Crown copyright" in html and "synthetic" in html
            assert built.config["period"] in html and "Covers " in html
            size_mb = len(html.encode()) / 1e6
            assert size_mb <= BUDGET_MB[len(boroughs)], (name, len(boroughs), size_mb)
            assert built.expected_hexes > 0, name


def test_the_youth_map_is_aggregate_only_and_applies_the_10_5_rule(world_store):
    built = _build(world_store, "youth_area")
    html = render_map_html(built)
    config = _data(html)
    ours = html.replace(leaflet_js(), "")  # our template, data and drawing code
    assert not PERSON_OR_RECORD.findall(ours), "no person identifier or record number"
    assert {layer["type"] for layer in config["layers"]} <= {"hex", "lines"}, "no points at all"
    people = [layer for layer in config["layers"] if layer.get("people")]
    assert len(people) == 2 and all(not layer.get("public") for layer in people)
    for layer in people:
        assert all(v >= 10 and v % 5 == 0 for v in layer["values"]), "no count from 1 to 9, others rounded"
        assert all(a["value"] >= 10 and a["value"] % 5 == 0 for a in layer["areas"])
    public = [layer for layer in config["layers"] if layer.get("public")]
    assert [layer["title"] for layer in public] == ["Street crime (public police.uk data)"] and public[0]["values"]
    words = html.split("<body>")[1].split("<script")[0]  # what the page says
    assert "H3" not in words and "resolution" not in words and "ONS" not in words, "no jargon"
    assert "joined with the hexagons around it" in words and "rounded to the nearest 5" in words


def _merton_cells(store, res):
    from geoservice.analysis.counts import study_cells

    return {h3.int_to_str(int(c)) for c in study_cells(store, [MERTON], res)}


def test_suppression_rule():
    counts = pd.Series([0, 1, 9, 10, 12, 13, 17, 18, 22, 23, 250])
    assert suppress(counts, suppress_below=10, round_to=5).tolist() == [0, 0, 0, 10, 10, 15, 15, 20, 20, 25, 250]


def test_the_analyst_map_shows_gi_bins_named_areas_and_months(world_store, truth):
    built = _build(world_store, "mace_hotspots")
    config = built.config
    layers = {layer["title"]: layer for layer in config["layers"]}
    cells, areas = hotspot_report(world_store, boroughs=[MERTON], res=9, start=START, end=END)
    hot_layer = layers["Hot and cold spots (Gi*, concern index)"]
    expected = {h3.int_to_str(int(c)): int(b) for c, b in cells["bin"].items() if b != 0}
    assert dict(zip(_cells_of(config, hot_layer), hot_layer["values"])) == expected
    labels = " ".join(p[2] for p in layers["Hot-spot areas (named)"]["points"])
    planted = [p["name"] for p in truth["hot_places"] if p["borough"] == MERTON]
    assert sum(name in labels for name in planted) >= 2, (labels, planted)
    assert config["frames"]["labels"] == [f"2025-{m:02d}" for m in range(1, 13)]
    assert len(config["frames"]["values"][0]) == len(layers["Emerging hot spots (month by month)"]["index"])
    assert layers["Places peer groups use"]["points"], "peer groups' places are shown"
    assert not PERSON_OR_RECORD.findall(json.dumps(config)), "places, not people"


def test_tasking_lists_the_planted_uncovered_places_as_gaps_and_never_a_covered_one(world_store, truth):
    built = _build(world_store, "csp_tasking", MERTON_AND_NEIGHBOURS)
    tables = {t["title"].split(" (")[0].split(":")[0]: t for t in built.config["tables"]}
    gap_rows, covered_rows = tables["Where outreach is missing"]["rows"], tables["Covered"]["rows"]
    names = {p["place_id"]: p["name"] for p in truth["hot_places"]}
    planted_gaps = {names[p] for p in truth["outreach_gaps"]}
    planted_covered = {names[p["place_id"]] for p in truth["hot_places"]} - planted_gaps
    listed = lambda rows, places: {p for p in places if any(p in r[1] for r in rows)}  # noqa: E731
    assert len(listed(gap_rows, planted_gaps)) >= 2, gap_rows
    assert all(r[2] == "uncovered" and r[5] == 0 for r in gap_rows if any(p in r[1] for p in planted_gaps))
    assert not listed(gap_rows, planted_covered), "a place with weekly outreach is never a gap"
    assert listed(covered_rows, planted_covered), "the covered hot places are listed apart"
    assert all(r[5] < 4 for r in gap_rows), "every gap has fewer sessions than the rule's threshold"
    assert all(r[3] >= 4 for r in covered_rows)
    assert "under-covered: fewer than 4 sessions" in tables["Where outreach is missing"]["note"]


def test_map_command_and_service_render_the_same_specs(world_store, settings, tmp_path):
    out = tmp_path / "youth.html"
    result = CliRunner().invoke(main, ["--database", settings.database_url, "map", "youth_area", "--borough", MERTON,
                                       "--period", "2025", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "youth_area for Merton" in result.output and external_references(out.read_text()) == []
    result = CliRunner().invoke(main, ["--database", settings.database_url, "map", "youth_area", "--borough", MERTON,
                                       "--from", START, "--out", str(out)])
    assert result.exit_code == 2 and "whole calendar years" in result.output
    app = create_app({"GEOSERVICE_SETTINGS": settings, "TESTING": True})
    client = app.test_client()
    sign_in(client, world_store, "mace_analyst")
    try:
        page = client.get(f"/maps/csp_tasking?borough={MERTON}&from={START}&to={END}")
        assert page.status_code == 200 and external_references(page.get_data(as_text=True)) == []
        data = client.get(f"/api/maps/mace_hotspots?borough={MERTON}&from={START}&to={END}").get_json()
        assert data["ok"] and data["expected_hexes"] == _build(world_store, "mace_hotspots").expected_hexes
        assert client.get("/maps/nope").status_code == 404
        listing = client.get("/maps/").get_data(as_text=True)
        assert all(spec.title in listing for spec in SPECS.values())
    finally:
        app.extensions["geoservice_store"].engine.dispose()


def test_pages_escape_what_they_show(world_store):
    built = _build(world_store, "mace_hotspots")
    built.config["area"] = "</script><script>alert(1)</script>"
    html = render_map_html(built)
    assert "</script><script>alert(1)" not in html, "nothing breaks out: escaped in the header and the data block"
    assert _data(html)["area"] == "</script><script>alert(1)</script>", "the data still says what it said"


def test_a_tile_server_is_used_only_when_configured(world_store):
    assert _build(world_store, "youth_area").config["tileUrl"] is None, "no basemap by default"
    internal = "https://tiles.council.internal/{z}/{x}/{y}.png"
    built = build_map(world_store, SPECS["youth_area"], boroughs=[MERTON], period="2025", tile_url=internal)
    assert built.config["tileUrl"] == internal
    assert external_references(render_map_html(built)) == [internal], "the one configured host, and nothing else"


def test_the_analyst_and_tasking_maps_list_where_to_act_and_say_when_too_little_to_test(world_store, truth):
    planted = {p["name"] for p in truth["hot_places"]}
    for name in ("mace_hotspots", "csp_tasking"):
        built = _build(world_store, name, MERTON_AND_NEIGHBOURS)
        table = next(t for t in built.config["tables"] if t["title"].startswith("Where to act"))
        assert 1 <= len(table["rows"]) <= 10 and [r[0] for r in table["rows"]] == sorted(r[0] for r in table["rows"])
        top = " ".join(r[1] for r in table["rows"][:5])
        assert sum(p in top for p in planted) >= 2, (name, table["rows"][:5])
        assert table["note"].startswith("Ranked by"), table["note"]
    one_month = build_map(world_store, SPECS["csp_tasking"], boroughs=[MERTON], start="2025-06-01",
                          end="2025-07-01")
    table = next(t for t in one_month.config["tables"] if t["title"].startswith("Where to act"))
    assert "Only one month" in table["note"] and table["rows"], "still ranked, and says why it cannot test"


def test_the_map_command_says_how_far_a_slow_map_has_got(world_store, settings, tmp_path, monkeypatch):
    """Issue 17: on a terminal, ``geoservice map`` writes a progress line per layer to stderr (stdout keeps the one
    summary line)."""
    import geoservice.cli as cli

    monkeypatch.setattr(cli._Progress, "__init__", lambda self, enabled: (setattr(self, "enabled", enabled),
                                                                          setattr(self, "_bar", None))[0])
    out = tmp_path / "tasking.html"
    result = CliRunner().invoke(main, ["--database", settings.database_url, "map", "csp_tasking", "--borough", MERTON,
                                       "--from", START, "--to", END, "--out", str(out)])
    assert result.exit_code == 0, result.output
    layers = len(SPECS["csp_tasking"].layers)
    lines = [line for line in result.stderr.splitlines() if line.startswith("layer ")]
    assert len(lines) == layers and lines[0].startswith(f"layer 1 of {layers}: ")
    assert "layer " not in result.stdout and "wrote" in result.stdout
