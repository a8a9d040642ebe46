"""The youth page as a youth worker opens it, in a real browser at 1366x768 with every outside request blocked:
the year picker, the areas table beside the map, labels on the map, the legend clear of the layer control, and an
empty year that says so. Screenshots go to BROWSER_ARTIFACTS / "youth"."""

from __future__ import annotations

import pytest

from geoservice import create_app
from geoservice.privacy.users import add_user

from ..conftest import BROWSER_ARTIFACTS, TEST_PASSWORD, offline_page, private_world, wait_for_map

ARTIFACTS = BROWSER_ARTIFACTS / "youth"
MERTON = "E09000024"


@pytest.fixture(scope="module")
def app(world_template, tmp_path_factory):
    store, settings = private_world(world_template, tmp_path_factory.mktemp("youth"))
    add_user(store, "youthworker", TEST_PASSWORD, roles=["youth_worker"], boroughs=[MERTON])
    store.engine.dispose()
    application = create_app({"GEOSERVICE_SETTINGS": settings, "TESTING": True})
    yield application
    application.extensions["geoservice_store"].engine.dispose()


def _overlap(a: dict, b: dict) -> bool:
    return not (a["x"] + a["width"] <= b["x"] or b["x"] + b["width"] <= a["x"] or
                a["y"] + a["height"] <= b["y"] or b["y"] + b["height"] <= a["y"])


def test_the_youth_page_informs_without_disclosing(app, browser):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    errors = []
    with offline_page(app, browser, username="youthworker") as (base, page, blocked):
        page.set_viewport_size({"width": 1366, "height": 768})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{base}/maps/youth_area?borough={MERTON}")
        wait_for_map(page)
        page.screenshot(path=str(ARTIFACTS / "default.png"))
        assert blocked == [] and errors == [], (blocked, errors)
        # the default view: a layer that shows something, its areas named with counts beside the map
        assert page.evaluate("window.placesMap.hexesOnMap()") > 0
        rows = page.locator("table.areas").first.locator("tbody tr")
        assert rows.count() >= 1
        counts = [int(v) for v in page.locator("table.areas").first.locator("td.num").all_inner_texts()]
        assert counts == sorted(counts, reverse=True) and all(c >= 10 and c % 5 == 0 for c in counts)
        assert page.locator(".area-label").count() >= 1 and page.locator(".boundary-label").count() >= 10
        assert "joined with the hexagons around it" in page.locator("aside").inner_text()
        assert "H3" not in page.locator("header").inner_text()
        # the legend sits beside the map, clear of the layer control, and all of the control is on screen
        legend = page.locator("#legend-panel").bounding_box()
        control = page.locator(".leaflet-control-layers").bounding_box()
        map_box = page.locator("#map").bounding_box()
        assert legend and control and map_box and not _overlap(legend, control)
        assert control["y"] + control["height"] <= map_box["y"] + map_box["height"]
        assert control["x"] + control["width"] <= map_box["x"] + map_box["width"]
        # the public street crime layer switches on beside the people layer
        toggles = page.locator(".leaflet-control-layers-overlays label")
        crime = toggles.filter(has_text="Street crime").locator("input")
        before = page.evaluate("window.placesMap.hexesOnMap()")
        crime.check()
        assert page.evaluate("window.placesMap.hexesOnMap()") > before
        page.screenshot(path=str(ARTIFACTS / "with_street_crime.png"))
        # the year picker lists whole years only, and changing it opens that year
        options = page.locator("#period option").all_inner_texts()
        assert options and all(o.isdigit() and len(o) == 4 for o in options)
        assert not page.locator("text=Q3").count()
        if len(options) > 1:
            page.select_option("#period", options[-1])
            page.click(".pickers button")
            wait_for_map(page)
            assert f"period={options[-1]}" in page.url
            page.screenshot(path=str(ARTIFACTS / "other_year.png"))
        assert errors == [], errors
