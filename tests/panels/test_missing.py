"""The weekly missing panel: return home interview measures as the partnership reports them, the grading queue,
completeness, placements, the planted truths of the synthetic world, the CLI's PDF and the page in a browser."""

from __future__ import annotations

import re
import shutil

import pandas as pd
import pytest
from click.testing import CliRunner

from geoservice import create_app
from geoservice.cli import main
from geoservice.panels.missing import (MissingPanelError, borough_episodes, completeness, grading_queue,
                                       known_on, missing_panel, placed_out_of_borough, repeat_missing, rhi_kpis)
from geoservice.privacy.audit import events
from geoservice.privacy.users import add_user

from ..conftest import BROWSER_ARTIFACTS, DATA_DIR, TEST_PASSWORD, offline_page, private_world

MERTON, SUTTON = "E09000024", "E09000029"
T0 = pd.Timestamp("2025-03-01T10:00:00")


def _episode(i: int, **fields) -> dict:
    """One found episode, notified an hour after the return; everything else as given."""
    reported = T0 + pd.Timedelta(days=i % 300, minutes=i)
    found = reported + pd.Timedelta(hours=10)
    row = {"episode_id": f"E{i:04d}", "person_id": f"C{i % 200:04d}", "reported_missing_at": reported.isoformat(),
           "found_at": found.isoformat(), "notified_at": (found + pd.Timedelta(hours=1)).isoformat(),
           "rhi_offered_at": "", "rhi_completed_at": "", "risk_grade": "green", "pre_missing_grade": "green",
           "rhi_consented": "false", "rhi_available": "true", "follow_on_intervention": "", "debrief_mode": "in_person",
           "spoken_to_directly": "true"}
    row.update(fields)
    return row


def _at(row: dict, column: str, hours: float) -> str:
    return (pd.Timestamp(row[column]) + pd.Timedelta(hours=hours)).isoformat()


def partnership_fixture() -> pd.DataFrame:
    """500 notified returns: 490 offered within 24 hours of notification; 450 where the young person consented and
    was available, of whom 369 had the interview within 72 hours of the return and 10 later; 55 red or amber
    episodes followed by an intervention. As Merton reported 2022-23: 379 completed, 98%, 82%, 55."""
    rows = []
    for i in range(500):
        row = _episode(i)
        row["rhi_offered_at"] = _at(row, "notified_at", 30 if i < 10 else 5)
        if i < 450:
            row["rhi_consented"] = "true"
            if i < 369:
                row["rhi_completed_at"] = _at(row, "found_at", 48)
            elif i < 379:
                row["rhi_completed_at"] = _at(row, "found_at", 100)
        if 100 <= i < 155:
            row.update(risk_grade="amber" if i % 2 else "red", pre_missing_grade="",
                       follow_on_intervention="safety_plan")
        elif 155 <= i < 170:  # green with an intervention, and red/amber with none: not counted
            row.update(pre_missing_grade="green" if i % 2 else "red",
                       follow_on_intervention="mentoring" if i % 2 else "none")
        rows.append(row)
    return pd.DataFrame(rows)


def test_the_partnerships_measures_are_reproduced_exactly():
    kpis = rhi_kpis(partnership_fixture())
    assert kpis["completed"] == 379
    assert kpis["offered_within_24h"] == pytest.approx(0.98) and kpis["notified"] == 500
    assert kpis["conducted_within_72h"] == pytest.approx(0.82) and kpis["consented_and_available"] == 450
    assert kpis["follow_on_red_amber"] == 55
    assert len(kpis["episodes"]["completed"]) == 379 and len(kpis["episodes"]["not_offered_within_24h"]) == 10
    assert len(kpis["episodes"]["follow_on_red_amber"]) == 55


def test_a_young_person_who_did_not_consent_changes_only_the_72_hour_denominator():
    frame = partnership_fixture()
    before = rhi_kpis(frame)
    frame.loc[frame.episode_id == "E0420", "rhi_consented"] = "false"  # consented, no interview: now declined
    after = rhi_kpis(frame)
    assert after["consented_and_available"] == before["consented_and_available"] - 1
    changed = {k for k in before if k != "episodes" and before[k] != after[k]}
    assert changed == {"consented_and_available", "conducted_within_72h"}
    assert after["conducted_within_72h"] == pytest.approx(369 / 449)
    assert after["conducted_within_72h_count"] == before["conducted_within_72h_count"] == 369


def test_without_a_notification_time_the_return_starts_the_24_hour_clock():
    frame = partnership_fixture()
    frame.loc[frame.episode_id == "E0020", "notified_at"] = ""  # offered 5 h after notification: 6 h after the return
    frame.loc[frame.episode_id == "E0021", ["notified_at", "rhi_offered_at"]] = ["", _at(_episode(21), "found_at", 25)]
    kpis = rhi_kpis(frame)
    assert kpis["notified"] == 500 and kpis["offered_within_24h_count"] == 489
    assert "E0021" in kpis["episodes"]["not_offered_within_24h"] and "E0020" in kpis["episodes"]["offered_within_24h"]
    assert set(completeness(frame).query("not_notified").episode_id) == {"E0020", "E0021"}


def test_measures_read_the_stores_types_and_say_when_nothing_can_be_measured():
    typed = partnership_fixture().assign(rhi_consented=lambda f: f.rhi_consented == "true",
                                         rhi_available=True)  # booleans as the store gives them
    assert rhi_kpis(typed)["conducted_within_72h"] == pytest.approx(0.82)
    empty = rhi_kpis(partnership_fixture().iloc[0:0])
    assert empty["completed"] == 0 and empty["offered_within_24h"] is None and empty["conducted_within_72h"] is None


def test_one_ungraded_episode_blocks_the_agenda_and_each_episode_is_listed_once():
    frame = pd.DataFrame([_episode(1, pre_missing_grade="red"), _episode(2, pre_missing_grade="amber"),
                          _episode(3, pre_missing_grade="green"), _episode(4, pre_missing_grade="")])
    queue = grading_queue(frame)
    assert not queue["can_finalise"] and queue["ungraded"].episode_id.tolist() == ["E0004"]
    assert queue["agenda"].episode_id.tolist() == ["E0001", "E0002"]
    listed = [e for part in ("ungraded", "agenda", "others") for e in queue[part].episode_id]
    assert sorted(listed) == sorted(frame.episode_id)
    frame.loc[3, "pre_missing_grade"] = "green"
    assert grading_queue(frame)["can_finalise"]
    assert grading_queue(frame, agenda_grades=("red",))["agenda"].episode_id.tolist() == ["E0001"]
    with pytest.raises(MissingPanelError, match="red, amber, green"):
        grading_queue(frame, agenda_grades=("purple",))


def test_a_panel_counts_only_what_was_known_on_its_day():
    first = _episode(1, rhi_completed_at=_at(_episode(1), "found_at", 20), pre_missing_grade="red",
                     graded_at=_at(_episode(1), "found_at", 30), follow_on_intervention="safety_plan")
    day = pd.Timestamp(first["found_at"]).date()  # the day the child was found: at its start, still missing
    then = known_on(pd.DataFrame([first]), day + pd.Timedelta(days=3))  # found, interviewed and graded by then
    assert then.rhi_completed_at.notna().all() and (then.pre_missing_grade == "red").all()
    before = known_on(pd.DataFrame([first]), day)
    assert before.found_at.isna().all() and before.rhi_completed_at.isna().all(), "found later: still missing then"
    assert (before.pre_missing_grade == "").all() and (before.follow_on_intervention == "").all()
    assert rhi_kpis(before)["completed"] == 0 and rhi_kpis(then)["completed"] == 1


def test_a_phone_only_debrief_and_the_other_gaps_are_flagged():
    frame = pd.DataFrame([_episode(1, debrief_mode="phone", spoken_to_directly="false",
                                   rhi_completed_at=_at(_episode(1), "found_at", 20)),
                          _episode(2, rhi_completed_at=_at(_episode(2), "found_at", 20)),
                          _episode(3, notified_at="")])
    gaps = completeness(frame).set_index("episode_id")
    assert gaps.loc["E0001", "phone_only"] and gaps.loc["E0001", "not_spoken_to"] and not gaps.loc["E0001", "no_rhi"]
    assert "E0002" not in gaps.index, "nothing missing"
    assert gaps.loc["E0003", "no_rhi"] and gaps.loc["E0003", "not_notified"]
    assert gaps.loc["E0003", "no_rhi_because"] == "the young person declined", "a declined interview says so"


def test_a_child_placed_in_sutton_shows_sutton_and_repeat_missing_counts_the_window():
    frame = pd.DataFrame([_episode(1, person_id="C0001", placed_out_of_borough="true", host_borough=SUTTON),
                          _episode(2, person_id="C0002", placed_out_of_borough="true", host_borough="E10000016"),
                          _episode(3, person_id="C0003", placed_out_of_borough="false"),
                          _episode(4, person_id="C0004", placed_out_of_borough="true", host_borough="W06000015")])
    placed = placed_out_of_borough(frame, {SUTTON: "Sutton"}).set_index("person_id")
    assert placed.loc["C0001", "host"] == "Sutton"
    assert placed.loc["C0002", "host"] == "Kent", "a county around London is named"
    assert "C0003" not in placed.index
    assert placed.loc["C0004", "host"] == "outside London (W06000015)", "any other code is shown as it is"
    repeats = pd.DataFrame([_episode(i, person_id="C0009") for i in (10, 20, 30)]
                           + [_episode(i, person_id="C0008") for i in (10, 200)])
    found = repeat_missing(repeats, "2025-04-15", days=90, at_least=3)
    assert found.person_id.tolist() == ["C0009"] and found.episodes.tolist() == [3]
    assert repeat_missing(repeats, "2025-04-15", days=10, at_least=3).empty


# on the synthetic world ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def world(world_template, tmp_path_factory):
    """A private copy of the whole synthetic world, shared by this module's tests."""
    return private_world(world_template, tmp_path_factory.mktemp("missing-panel"))


def test_the_panel_finds_what_the_world_planted(world, truth):
    store, _ = world
    episodes = borough_episodes(store, MERTON)
    planted = truth["missing_panel"]
    merton_ids = set(episodes.episode_id)
    queue = grading_queue(episodes)
    assert set(queue["ungraded"].episode_id) == set(planted["ungraded"]) & merton_ids
    assert set(completeness(episodes).query("phone_only").episode_id) == set(planted["phone_debriefs"]) & merton_ids
    placed = placed_out_of_borough(episodes, {})
    expected = {c: h for c, h in planted["placed_out_of_borough"].items() if c in set(episodes.person_id)}
    assert dict(zip(placed.person_id, placed.host_borough)) == expected and expected
    kpis = rhi_kpis(episodes)
    assert 0.95 <= kpis["offered_within_24h"] <= 1 and 0.7 <= kpis["conducted_within_72h"] <= 0.95


def test_the_panel_pack_has_every_part_and_lists_the_county_line_children(world, truth):
    store, _ = world
    pack = missing_panel(store, MERTON, since="2025-12-22", to="2025-12-29")
    keys = [s.key for s in pack.sections if s.level == 2]
    assert keys == ["agenda", "rhi", "completeness", "children", "found", "county_lines", "behind"]
    county = next(s for s in pack.sections if s.key == "county_lines")
    listed = {str(row[1]) for table in county.blocks for row in table.rows}
    assert set(truth["county_line"]["children"]) & set(borough_episodes(store, MERTON).person_id) <= listed
    assert pack.about["can_finalise"] is (not pack.about["ungraded"])
    with pytest.raises(MissingPanelError):
        missing_panel(store, MERTON, since="2025-12-22", to="2025-12-29", repeat_days=0)
    with pytest.raises(MissingPanelError, match="in the future"):
        missing_panel(store, MERTON, since="2099-01-01", to="2099-01-08")
    stale = missing_panel(store, MERTON, since="2026-02-02", to="2026-02-09")
    assert not stale.about["can_finalise"] and "records end on 2025-12" in stale.about["not_final"]


def _pdf_text(path) -> str:
    import pypdfium2 as pdfium

    return "\n".join(page.get_textpage().get_text_range() for page in pdfium.PdfDocument(str(path)))


def test_the_cli_writes_the_pdf_audits_it_and_refuses_a_final_agenda_while_ungraded(world, tmp_path):
    store, settings = world
    env = {"GEOSERVICE_DATABASE_URL": settings.database_url, "GEOSERVICE_INSTANCE_PATH": str(settings.instance_path),
           "GEOSERVICE_DATA_DIR": str(DATA_DIR)}
    args = ["missing-panel", "--borough", MERTON, "--since", "2025-12-22", "--to", "2025-12-29", "--why",
            "missing panel 29 December"]
    made = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "panel.pdf")], env=env)
    assert made.exit_code == 0, made.output
    text = _pdf_text(tmp_path / "panel.pdf")
    for words in ("OFFICIAL-SENSITIVE", "Agenda: the episodes since the last panel", "Return home interviews",
                  "County-lines indicators", "page 1 of"):
        assert words in text, words
    from ..reports.test_packs import _coloured_pixels

    drawn = sum(_coloured_pixels(tmp_path / "panel.pdf", (0xE6, 0x55, 0x0D), tolerance=40)
                + _coloured_pixels(tmp_path / "panel.pdf", (0xFD, 0x8D, 0x3C), tolerance=40))
    assert drawn > 100, "the pages render, with the hexagons where children were found drawn"
    pack_ungraded = missing_panel(store, MERTON, since="2025-12-22", to="2025-12-29").about["ungraded"]
    assert ("DRAFT" in made.output) == bool(pack_ungraded) == ("DRAFT" in text)
    assert any(e["justification"] == "missing panel 29 December" and "missing panel:" in str(e["objects"])
               for e in events(store, operation="combination"))
    final = CliRunner().invoke(main, [*args, "--final", "--out", str(tmp_path / "final.pdf")], env=env)
    if pack_ungraded:
        assert final.exit_code != 0 and pack_ungraded[0] in final.output and not (tmp_path / "final.pdf").exists()
    wrong = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "panel.docx")], env=env)
    assert wrong.exit_code != 0 and ".pdf" in wrong.output


# the page, in a real browser -----------------------------------------------------------------------------------
@pytest.fixture
def app(world):
    store, settings = world
    add_user(store, "mia", TEST_PASSWORD, roles=["mace_analyst"], boroughs=[MERTON, SUTTON])
    application = create_app({"GEOSERVICE_SETTINGS": settings, "TESTING": True})
    yield application
    application.extensions["geoservice_store"].engine.dispose()


def test_the_missing_panel_in_a_real_browser(app, browser, tmp_path, truth):
    """Sign in, state the task, open the week's panel, see the draft state, follow a measure to its episodes and a
    child to their page, and download the PDF; nothing fetched from outside."""
    folder = BROWSER_ARTIFACTS / "missing-panel"
    folder.mkdir(parents=True, exist_ok=True)
    with offline_page(app, browser, username="mia", task="Missing panel 29 December", downloads=True) as (
            base, page, blocked):
        page.click("text=Open the weekly panel")
        page.fill("#missing-form input[name=since]", "2025-12-22")
        page.fill("#missing-form input[name=to]", "2025-12-29")
        page.click("text=Show the panel")
        assert page.locator("h2:text('Agenda: the episodes since the last panel')").count() == 1
        state = page.locator("#agenda-state").inner_text()
        ungraded = set(truth["missing_panel"]["ungraded"])
        shown = set(re.findall(r"ME\d{5}", page.locator("section#agenda").inner_text()))
        assert ("cannot be finalised" in state) == bool(ungraded & shown), state
        page.screenshot(path=str(folder / "1-panel.png"), full_page=True)
        page.locator("#rhi table a").first.click()  # a measure: the episodes behind it
        assert "#behind-" in page.url
        page.locator("section#agenda a[href^='/workbench/children/']").first.click()
        assert "Escalation" in page.content()
        page.go_back()
        with page.expect_download() as download:
            page.click("text=Download the panel pack (PDF)")
            if page.locator("input[name=password]").count():
                page.fill("input[name=password]", TEST_PASSWORD)
                page.click("button[type=submit]")
        path = tmp_path / "panel.pdf"
        download.value.save_as(path)
        assert "Return home interviews" in _pdf_text(path)
        shutil.copy(path, folder / "missing-panel.pdf")
    assert not blocked, blocked


def test_an_output_that_cannot_be_written_is_a_clear_error(world, tmp_path):
    _, settings = world
    env = {"GEOSERVICE_DATABASE_URL": settings.database_url, "GEOSERVICE_INSTANCE_PATH": str(settings.instance_path),
           "GEOSERVICE_DATA_DIR": str(DATA_DIR)}
    out = tmp_path / "no-such-folder" / "panel.pdf"
    result = CliRunner().invoke(main, ["missing-panel", "--borough", MERTON, "--since", "2025-12-22", "--to",
                                       "2025-12-29", "--out", str(out)], env=env)
    assert result.exit_code == 2 and "cannot use" in result.output and "no-such-folder" in result.output
