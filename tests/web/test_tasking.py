"""The tasking officer's page: the planted gaps listed as uncovered, covered places apart, the sheet exported as CSV
and as a real .xlsx (opened with openpyxl), and the page and the map walked in a real browser."""

from __future__ import annotations

import io
import re

import pandas as pd
import pytest

from geoservice import create_app
from geoservice.config import MERTON_AND_NEIGHBOURS
from geoservice.reports.tasking import ACTION_HEADINGS, tasking_sheet

from ..conftest import BROWSER_ARTIFACTS, offline_page, private_world, sign_in, wait_for_map

MERTON = "E09000024"
WINDOW = {"from": "2025-01-01", "to": "2026-01-01"}


@pytest.fixture(scope="module")
def world(world_template, tmp_path_factory):
    return private_world(world_template, tmp_path_factory.mktemp("tasking"))


@pytest.fixture(scope="module")
def sheet(world):
    return tasking_sheet(world[0], boroughs=MERTON_AND_NEIGHBOURS, start=WINDOW["from"], end=WINDOW["to"])


def test_the_planted_gaps_are_uncovered_and_the_covered_places_are_never_gaps(sheet, truth):
    names = {p["place_id"]: p["name"] for p in truth["hot_places"]}
    planted_gaps = {names[p] for p in truth["outreach_gaps"]}
    covered = {names[p["place_id"]] for p in truth["hot_places"]} - planted_gaps
    gap_places = " | ".join(sheet.gaps.place)
    assert sum(name in gap_places for name in planted_gaps) >= 2, gap_places
    assert not any(name in gap_places for name in covered), "weekly outreach: never a gap"
    assert (sheet.gaps.sessions < sheet.rule.under_covered_below).all()
    assert (sheet.covered.sessions >= sheet.rule.under_covered_below).all()
    for row in sheet.gaps.itertuples():
        if any(name in row.place for name in planted_gaps):
            assert row.status == "uncovered" and row.sessions == 0


def test_every_action_has_an_owner_and_dates_and_is_matched_to_its_place(sheet, truth):
    actions = sheet.actions
    assert len(actions) == len(truth["hot_places"])
    assert actions.owner.str.len().gt(0).all() and actions.lead_agency.str.len().gt(0).all()
    assert pd.to_datetime(actions.starts_on).notna().all() and pd.to_datetime(actions.ends_on).notna().all()
    planned = actions[actions.place.isin(truth["tasking_actions"]["planned_at_gaps"])]
    assert set(planned.coverage) <= {"uncovered", "under-covered", "not among the places of most need"}
    ongoing = actions[actions.place.isin(truth["tasking_actions"]["covered_places"])]
    assert set(ongoing.coverage) == {"covered"}


def _client(world, role="tasking_officer"):
    store, settings = world
    app = create_app({"GEOSERVICE_SETTINGS": settings, "TESTING": True})
    client = app.test_client()
    if role:
        sign_in(client, store, role, MERTON_AND_NEIGHBOURS)  # adds the user the first time
    return app, client


def test_the_page_and_its_exports(world):
    from openpyxl import load_workbook

    _, client = _client(world)
    query = "&".join(f"borough={b}" for b in MERTON_AND_NEIGHBOURS) + "&from=2025-01-01&to=2026-01-01"
    page = client.get(f"/tasking/?{query}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Where outreach is missing" in html and "Listed apart: these are not gaps." in html
    csv = client.get(f"/tasking/sheet.csv?{query}")
    assert csv.status_code == 200 and csv.headers["Content-Disposition"].endswith('.csv"')
    frame = pd.read_csv(io.StringIO(csv.get_data(as_text=True)), dtype=str)
    assert list(frame.columns) == ACTION_HEADINGS and frame["CSP lead"].notna().all() and frame.start.notna().all()
    assert set(frame.theme) <= {"positive diversion from violence", "working with communities and neighbourhoods"}
    xlsx = client.get(f"/tasking/sheet.xlsx?{query}")
    assert xlsx.status_code == 200 and xlsx.data[:2] == b"PK"
    book = load_workbook(io.BytesIO(xlsx.data), read_only=True)
    assert book.sheetnames == ["About", "Actions", "Where outreach is missing", "Covered places"]
    actions = list(book["Actions"].values)
    assert list(actions[0]) == ACTION_HEADINGS and len(actions) - 1 == len(frame)
    gaps = list(book["Where outreach is missing"].values)
    assert len(gaps) > 1 and all(row[2] in ("uncovered", "under-covered") for row in gaps[1:])
    assert client.get(f"/tasking/sheet.pdf?{query}").status_code == 404
    assert client.get("/tasking/?weeks=0").status_code == 400
    assert client.get("/tasking/?from=2026-01-01&to=2025-01-01").status_code == 400


def test_only_tasking_officers_and_analysts_see_it(world):
    _, youth = _client(world, "youth_worker")
    assert youth.get("/tasking/").status_code == 403
    _, nobody = _client(world, None)
    assert nobody.get("/tasking/").status_code == 302


#: In the page: are the legend and the layer control apart (no overlap of their boxes)?
APART = """() => {
  const a = document.querySelector('.leaflet-control-layers').getBoundingClientRect();
  const b = document.querySelector('.legend').getBoundingClientRect();
  return b.top >= a.bottom || a.top >= b.bottom || b.left >= a.right || a.left >= b.right;
}"""


def test_tasking_in_a_real_browser(world, browser, tmp_path):
    """Sign in as the tasking officer, pick the boroughs and the window, read the gaps, download the Excel sheet,
    and open the map: its legend does not cover the layer control at 1366x768."""
    from openpyxl import load_workbook

    app, _ = _client(world)
    folder = BROWSER_ARTIFACTS / "tasking"
    folder.mkdir(parents=True, exist_ok=True)
    with offline_page(app, browser, username="tasking_officer", downloads=True) as (base, page, blocked):
        page.set_viewport_size({"width": 1366, "height": 768})
        page.click("text=Tasking")
        page.select_option("#tasking-form select[name=borough]", list(MERTON_AND_NEIGHBOURS))
        page.fill("#tasking-form input[name=from]", "2025-01-01")
        page.fill("#tasking-form input[name=to]", "2026-01-01")
        with page.expect_navigation():
            page.click("#tasking-form button[type=submit]")
        page.locator("#gaps tbody tr").first.wait_for()
        assert page.locator("#gaps tbody tr").count() >= 2
        assert re.search(r"uncovered", page.locator("#gaps").inner_text())
        page.screenshot(path=str(folder / "1-tasking.png"), full_page=True)
        with page.expect_download() as download:
            page.click("text=Tasking sheet (Excel)")
        path = tmp_path / "sheet.xlsx"
        download.value.save_as(path)
        assert "Actions" in load_workbook(path, read_only=True).sheetnames
        page.click("text=The map")
        wait_for_map(page, timeout=60_000)
        for toggles in ((), ("Outreach sessions", "Young people reached by outreach")):
            for name in toggles:  # more layers on: a longer legend must still keep clear of the control
                page.locator(".leaflet-control-layers label", has_text=name).locator("input").check()
            try:  # the legend settles after the layers are drawn: give it a moment on a busy machine
                page.wait_for_function(APART, timeout=10_000)
            except Exception:
                boxes = [page.locator(s).bounding_box() for s in (".leaflet-control-layers", ".legend")]
                raise AssertionError(f"the legend covers the layer control with {toggles or 'the default'} on: "
                                     f"{boxes}") from None
        page.screenshot(path=str(folder / "2-map.png"))
    assert not blocked, blocked


def test_did_it_work_is_one_click_from_the_tasking_page_and_scoped(world, truth):
    store, _ = world
    _, client = _client(world)
    html = client.get("/tasking/?borough=E09000024&from=2025-01-01&to=2026-01-01").get_data(as_text=True)
    links = re.findall(r'href="(/tasking/evaluation/[^"]+)"', html)
    recorded = store.read_layer("interventions", ["intervention_id", "borough"])
    assert sorted(link.rsplit("/", 1)[1] for link in links) == sorted(
        recorded.intervention_id[recorded.borough == MERTON])
    report = client.get(links[0])
    assert report.status_code == 200
    text = report.get_data(as_text=True)
    assert "Parallel trends" in text and ("too little data to tell" in text or "95% interval" in text)
    assert client.get("/tasking/evaluation/NOPE").status_code == 404
    assert client.get("/tasking/evaluation/a%3Cb").status_code == 400
    merton_only = create_app({"GEOSERVICE_SETTINGS": world[1], "TESTING": True}).test_client()
    sign_in(merton_only, store, "tasking_officer", [MERTON], username="merton_tasking")
    foreign = recorded.intervention_id[recorded.borough != MERTON]
    assert len(foreign) and merton_only.get(f"/tasking/evaluation/{foreign.iloc[0]}").status_code == 404


def test_a_window_without_records_says_so_instead_of_all_clear(world):
    sheet = tasking_sheet(world[0], boroughs=[MERTON], start="2030-01-01", end="2031-01-01")
    assert sheet.gaps.empty and "No incident falls in this window" in sheet.note and "2025-12" in sheet.note
    _, client = _client(world)
    html = client.get("/tasking/?borough=E09000024&from=2030-01-01&to=2031-01-01").get_data(as_text=True)
    assert "No incident falls in this window" in html and "Every place of high need had outreach" not in html
