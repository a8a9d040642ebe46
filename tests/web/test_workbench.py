"""The analyst's workbench: the Monday before panel walked in a real browser (outside requests blocked, screenshots
kept), and the rules behind it: a task's reason asked once and audited with every person-level page, children and
adults kept apart, scope."""

from __future__ import annotations

import re
import shutil

import pytest

from geoservice import create_app
from geoservice.network.build import graph_from_evidence
from geoservice.privacy.audit import events
from geoservice.privacy.users import add_user

from ..conftest import BROWSER_ARTIFACTS, TEST_PASSWORD, offline_page, sign_in

MERTON, LAMBETH = "E09000024", "E09000022"
WORLD = ("places", "people", "associations", "missing_episodes", "incidents", "survey_responses",
         "outreach_sessions", "mace_actions")
ARTIFACTS = BROWSER_ARTIFACTS / "workbench"


@pytest.fixture
def app(load_world, settings):
    store = load_world(*WORLD)
    add_user(store, "ana", TEST_PASSWORD, roles=["mace_analyst"],
             boroughs=["E09000008", MERTON, "E09000032"])  # Croydon first: the pickers must still open on Merton
    application = create_app({"GEOSERVICE_SETTINGS": settings, "TESTING": True})
    yield application
    application.extensions["geoservice_store"].engine.dispose()


def _token(client) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").get_data(as_text=True)).group(1)


def _analyst(app):
    """A client signed in as the analyst, with a task stated, and the id of a Merton peer group."""
    client = app.test_client()
    sign_in(client, app.extensions["geoservice_store"], username="ana")
    client.post("/workbench/task", data={"why": "Pre-MACE 5 January", "csrf_token": _token(client)})
    html = client.get(f"/workbench/groups?borough={MERTON}").get_data(as_text=True)
    return client, re.findall(r"/workbench/groups/(G\d{4})", html)[0]


def test_the_county_line_child_is_flagged_on_their_page(app, truth):
    client, _ = _analyst(app)
    child = truth["county_line"]["children"][0]
    page = client.get(f"/workbench/children/{child}?as_of=2025-12-31").get_data(as_text=True)
    flagged = page.split("<strong>Escalation</strong>")[1].split("</p>")[0]
    assert "none flagged" not in flagged and "outside London" in flagged, flagged
    timeline = page.split('id="timeline"')[1].split("</table>")[0]
    assert "<td>link</td>" in timeline and "<td>nan</td>" not in timeline, "a link has no risk grade, not 'nan'"


def test_the_task_is_asked_once_and_every_person_page_is_audited_with_it(app):
    store = app.extensions["geoservice_store"]
    client = app.test_client()
    sign_in(client, store, username="ana")
    page = client.get("/workbench/").get_data(as_text=True)
    assert re.search(r'<option value="E09000024" selected>Merton</option>', page), "opens on the home borough"
    asked = client.get(f"/workbench/groups?borough={MERTON}")
    assert asked.status_code == 302 and "need_task=1" in asked.headers["Location"]
    assert client.post("/workbench/task", data={"why": "x", "csrf_token": _token(client)}).status_code == 400
    assert client.post("/workbench/task", data={"why": "Pre-MACE 5 January", "next": "//evil.example",
                                                "csrf_token": _token(client)}).headers["Location"] == "/workbench/"
    groups = client.get(f"/workbench/groups?borough={MERTON}&since=2025-12-01")
    assert groups.status_code == 200
    html = groups.get_data(as_text=True)
    ids = re.findall(r'/workbench/groups/(G\d{4})', html)
    assert ids, "the groups are listed with their ids"
    group = client.get(f"/workbench/groups/{ids[0]}").get_data(as_text=True)
    assert "<svg" in group and 'href="#ev-' in group and 'id="ev-' in group, "every drawn link opens its evidence"
    child = re.search(r'/workbench/children/(C\d{4})', group).group(1)
    page = client.get(f"/workbench/children/{child}")
    assert page.status_code == 200 and "<strong>Escalation</strong>" in page.get_data(as_text=True)
    logged = [e for e in events(store, operation="consultation", username="ana")]
    assert len(logged) >= 3 and all(e["justification"] == "Pre-MACE 5 January" for e in logged)
    # another borough's child, and a group with none of the user's children, do not exist for her
    graph = graph_from_evidence(store)
    foreign = next(n for n, d in graph.nodes(data=True) if d.get("home_borough") == LAMBETH
                   and d["subject_category"] == "child_at_risk")
    assert client.get(f"/workbench/children/{foreign}").status_code == 404
    assert client.get("/workbench/groups/G9999").status_code == 404


def test_tables_never_list_children_and_adults_together(app):
    client, gid = _analyst(app)
    for page in (client.get(f"/workbench/groups/{gid}").get_data(as_text=True),):
        for table in re.findall(r"<table.*?</table>", page, re.S):
            if "adult who poses risk" in table.split("</thead>")[0]:
                continue  # an evidence table: children in one column, adults in their own
            rows = re.findall(r"<tr.*?</tr>", table, re.S)
            for row in rows:
                assert not (re.search(r"\bC\d{4}\b", row) and re.search(r"\bA\d{3}\b", row)), row


@pytest.mark.slow
def test_the_analysts_monday_in_a_real_browser(app, browser, tmp_path):
    """Sign in, pick Merton, open the groups, a group, a child, a place, make both packs and download the PDF."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    errors = []
    with offline_page(app, browser, downloads=True, timeout_ms=180_000) as (base, page, blocked):
        # a pack is made on request: seconds, more on a busy machine
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        shot = lambda name: page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)  # noqa: E731
        page.goto(f"{base}/login")
        page.fill("input[name=username]", "ana")
        page.fill("input[name=password]", TEST_PASSWORD)
        page.click("button[type=submit]")
        page.click("text=Workbench")
        assert page.locator("#task select, select[name=borough]").first.input_value() == MERTON
        page.fill("input[name=why]", "Pre-MACE 5 January")
        page.click("#task button[type=submit]")
        shot("1-workbench")
        page.select_option("section:has(h3:text('Peer groups')) select[name=borough]", MERTON)  # pick Merton
        page.fill("section:has(h3:text('Peer groups')) input[name=since]", "2025-12-01")
        page.click("text=Show the groups")
        assert page.locator("h2:text('Peer groups with a child of Merton')").count() == 1
        assert page.locator("#groups tbody tr").count() > 3
        shot("2-groups")
        page.locator("#groups tbody tr td a").first.click()
        assert page.locator("figure.network svg circle").count() > 2
        page.locator("figure.network svg a").first.click()  # a link of the drawing: its evidence
        assert "#ev-" in page.url
        shot("3-group")
        group_url = page.url.split("#")[0]
        assert page.locator("#places a").count(), "the group's places are listed"
        page.locator("#places a").first.click()
        assert page.locator("h3:text('Incidents by month and type')").count() == 1
        assert page.locator("#groups a").count() >= 1, "the group whose place it is uses it"
        shot("5-place")
        page.goto(group_url)
        page.locator("p a[href^='/workbench/children/']").first.click()
        assert "Escalation" in page.content()
        shot("4-child")
        page.click("text=Workbench")
        page.fill("section:has(h3:text('MACE packs')) input[name=since]", "2025-12-01")
        page.fill("section:has(h3:text('MACE packs')) input[name=to]", "2026-01-01")
        page.click("text=Strategic (page)")
        for title in ("Children and risk of being exploited", "Locations", "Best Practice"):
            assert page.locator(f"h2:text('{title}')").count() == 1
        shot("6-strategic")
        page.goto(f"{base}/workbench/")
        page.fill("section:has(h3:text('MACE packs')) input[name=since]", "2025-12-01")
        page.fill("section:has(h3:text('MACE packs')) input[name=to]", "2026-01-01")
        page.click("text=Pre-MACE (page)")
        if page.locator("input[name=password]").count():  # asked for the password again
            page.fill("input[name=password]", TEST_PASSWORD)
            page.click("button[type=submit]")
        assert page.locator("h2:text('Children for discussion')").count() == 1
        shot("7-pre-mace")
        page.goto(f"{base}/workbench/")
        page.fill("section:has(h3:text('MACE packs')) input[name=since]", "2025-12-01")
        page.fill("section:has(h3:text('MACE packs')) input[name=to]", "2026-01-01")
        with page.expect_download() as download:
            page.click("text=Pre-MACE (PDF)")
        path = tmp_path / "pre-mace.pdf"
        download.value.save_as(path)
        assert path.read_bytes().startswith(b"%PDF")
        shutil.copy(path, ARTIFACTS / "pre-mace.pdf")
    assert not blocked, blocked
    assert not errors, errors


def test_exports_from_the_page_and_the_cli_are_disclosures(app, world_settings, tmp_path):
    import zipfile
    from xml.etree import ElementTree

    from click.testing import CliRunner

    from geoservice.cli import main

    store = app.extensions["geoservice_store"]
    client, gid = _analyst(app)
    link = re.search(r'href="(/workbench/exports/network\.gexf\?[^"]+)"',
                     client.get(f"/workbench/groups/{gid}").get_data(as_text=True)).group(1).replace("&amp;", "&")
    answer = client.get(link)
    assert answer.status_code == 200 and answer.mimetype == "application/gexf+xml"
    ElementTree.fromstring(answer.data)  # a real GEXF file
    logged = events(store, operation="disclosure", username="ana")
    assert logged and logged[0]["justification"] == "Pre-MACE 5 January" and gid in str(logged[0]["objects"])

    runner = CliRunner()
    base = ["--database", world_settings.database_url, "--instance", str(world_settings.instance_path)]
    listed = runner.invoke(main, [*base, "groups", "--borough", MERTON, "--why", "panel preparation"])
    assert listed.exit_code == 0 and re.search(r"^G\d{4} ", listed.output, re.M), listed.output
    child = re.search(r"children: (C\d{4})", listed.output).group(1)
    shown = runner.invoke(main, [*base, "child", child, "--why", "panel preparation"])
    assert shown.exit_code == 0 and "escalation:" in shown.output, shown.output
    lines = runner.invoke(main, [*base, "timeline", child, "--why", "panel preparation"])
    assert lines.exit_code == 0 and re.search(r"^\d{4}-\d{2}-\d{2} ", lines.output, re.M), lines.output
    out = tmp_path / "child.zip"
    made = runner.invoke(main, [*base, "export", "--borough", MERTON, "--child", child, "--format", "i2", "--out",
                                str(out), "--recipient", "Merton MACE analyst", "--why", "panel preparation"])
    assert made.exit_code == 0, made.output
    with zipfile.ZipFile(out) as bundle:
        assert sorted(bundle.namelist()) == ["entities.csv", "links.csv"]
        assert child in bundle.read("entities.csv").decode()
    refused = runner.invoke(main, [*base, "export", "--borough", LAMBETH, "--child", child, "--format", "gexf",
                                   "--out", str(tmp_path / "x.gexf"), "--recipient", "x", "--why", "panel preparation"])
    assert refused.exit_code != 0 and "not a child of" in refused.output
