"""Risk-matrix tracking: band edges (never guessed), bands configured by an administrator only and audited, each
flag on small fixtures, band movement as shares, MASH beside the police, the planted truths of the synthetic world
found exactly, the workbench page and the command line."""

from __future__ import annotations

import re
from datetime import date

import pandas as pd
import pytest
from click.testing import CliRunner

from geoservice.cli import main
from geoservice.panels.risk import (PRELOADED_BANDS, UNBANDED, Band, RiskError, RiskPermissionError, band,
                                    band_movement, band_rises, checked_bands, configured_bands, mash_beside_police,
                                    risk_flags, risk_tracking, score_histories, set_bands)
from geoservice.privacy.audit import events, verify
from geoservice.privacy.users import add_user, get_user, set_disabled

from ..conftest import DATA_DIR, TEST_PASSWORD, sign_in

MERTON = "E09000024"
RISK_LAYERS = ("people", "safeguarding_referrals", "risk_assessments", "worker_allocations")


def _assessments(rows) -> pd.DataFrame:
    """Assessments from (person, day, score) or (person, day, score, worker, shared_on, police grade)."""
    full = []
    for i, row in enumerate(rows):
        person, day, score, *rest = row
        worker, shared, grade = (rest + ["SW1", day, "low"][len(rest):]) if len(rest) < 3 else rest
        full.append({"assessment_id": f"RA{i:03d}", "person_id": person, "assessed_on": day, "score": score,
                     "assessor": "social worker", "allocated_worker": worker, "shared_on": shared,
                     "police_exploitation_grade": grade})
    return pd.DataFrame(full)


# bands ---------------------------------------------------------------------------------------------------------
def test_band_edges_are_exact_and_a_score_outside_every_band_is_never_guessed():
    assert band(32) == "Early Help (Emerging)"
    assert band(33) == "Targeted (Moderate)"
    assert band(65) == UNBANDED == "unbanded - configure"
    assert band(9) == UNBANDED
    assert (band(10), band(64)) == ("Early Help (Emerging)", "Targeted (Moderate)")
    assert [str(b) for b in PRELOADED_BANDS] == ["10-32=Early Help (Emerging)", "33-64=Targeted (Moderate)"]
    for odd in (None, "", "x", float("nan"), 32.5, True, -1, 1000):
        assert band(odd) == UNBANDED, odd
    mine = checked_bands(["0-9=Universal", "10-40=Early Help"])
    assert band(9, mine) == "Universal" and band(40, mine) == "Early Help" and band(41, mine) == UNBANDED


def test_bands_that_overlap_or_are_malformed_are_refused_saying_what_to_fix():
    with pytest.raises(RiskError, match=r"10-32=A and 30-64=B overlap \(scores 30-32 would be in both\)"):
        checked_bands(["10-32=A", "30-64=B"])
    with pytest.raises(RiskError, match="write it as 10-32=A"):
        checked_bands([Band(32, 10, "A")])
    with pytest.raises(RiskError, match="LOW-HIGH=LABEL"):
        checked_bands(["ten to thirty"])
    with pytest.raises(RiskError, match="at least one band"):
        checked_bands([])
    with pytest.raises(RiskError, match="same label"):
        checked_bands(["1-2=A", "3-4=A"])
    assert checked_bands([(33, 64, "T"), (10, 32, "E")])[0] == Band(10, 32, "E"), "sorted lowest first"


def test_bands_configured_by_an_admin_are_used_and_audited(store):
    admin = add_user(store, "ada", TEST_PASSWORD, roles=["admin"], boroughs=[MERTON])
    assert configured_bands(store) == PRELOADED_BANDS, "none configured: the preloaded bands"
    before = len(events(store, limit=1000))
    set_bands(store, ["10-24=Early Help (Emerging)", "25-64=Targeted (Moderate)", "65-90=Intensive (High)"],
              user=admin, justification="matrix revised by the partnership, March")
    now = configured_bands(store)
    assert [str(b) for b in now] == ["10-24=Early Help (Emerging)", "25-64=Targeted (Moderate)",
                                     "65-90=Intensive (High)"]
    assert band(65, now) == "Intensive (High)" and band(24, now) == "Early Help (Emerging)"
    assert band(91, now) == UNBANDED
    logged = events(store, limit=1000)
    assert len(logged) == before + 1
    assert logged[0]["username"] == "ada" and logged[0]["operation"] == "alteration"
    assert logged[0]["justification"] == "matrix revised by the partnership, March"
    assert "risk bands" in logged[0]["objects"] and "65-90=Intensive (High)" in logged[0]["objects"]
    assert "10-32=Early Help (Emerging)" in logged[0]["objects"], "what they were before is recorded too"
    set_bands(store, None, user=admin, justification="back to the partnership's matrix")
    assert configured_bands(store) == PRELOADED_BANDS
    assert verify(store).ok


def test_a_non_admin_cannot_set_the_bands(store):
    analyst = add_user(store, "ana", TEST_PASSWORD, roles=["mace_analyst", "auditor"], boroughs=[MERTON])
    add_user(store, "old", TEST_PASSWORD, roles=["admin"], boroughs=[MERTON])
    set_disabled(store, "old")
    before = len(events(store, limit=1000))
    for user in (analyst, get_user(store, "old"), None):
        with pytest.raises(RiskPermissionError, match="only an administrator"):
            set_bands(store, ["0-100=Everything"], user=user, justification="trying")
    assert configured_bands(store) == PRELOADED_BANDS
    assert len(events(store, limit=1000)) == before, "nothing changed, nothing recorded"


def test_the_command_line_shows_the_bands_and_lets_only_an_admin_set_them(store, settings):
    add_user(store, "ada", TEST_PASSWORD, roles=["admin"], boroughs=[MERTON])
    add_user(store, "ana", TEST_PASSWORD, roles=["mace_analyst"], boroughs=[MERTON])
    base = ["--database", settings.database_url, "--instance", str(settings.instance_path), "risk-bands"]
    runner = CliRunner()
    shown = runner.invoke(main, base)
    assert shown.exit_code == 0 and "10-32   Early Help (Emerging)  (preloaded)" in shown.output
    refused = runner.invoke(main, base + ["set", "--band", "0-50=Low", "--as", "ana", "--why", "test"])
    assert refused.exit_code == 2 and "only an administrator" in refused.output
    overlapping = runner.invoke(main, base + ["set", "--band", "0-50=Low", "--band", "40-90=High", "--as", "ada",
                                              "--why", "test"])
    assert overlapping.exit_code == 2 and "overlap" in overlapping.output
    made = runner.invoke(main, base + ["set", "--band", "0-50=Low", "--band", "51-90=High", "--as", "ada",
                                       "--why", "new matrix"])
    assert made.exit_code == 0, made.output
    assert [str(b) for b in configured_bands(store)] == ["0-50=Low", "51-90=High"]
    assert "set by ada" in runner.invoke(main, base).output
    assert events(store)[0]["justification"] == "new matrix"
    assert runner.invoke(main, base + ["reset", "--as", "nobody", "--why", "x"]).exit_code == 2
    assert runner.invoke(main, base + ["reset", "--as", "ada", "--why", "back"]).exit_code == 0
    assert configured_bands(store) == PRELOADED_BANDS


# flags ---------------------------------------------------------------------------------------------------------
def test_a_change_of_worker_without_a_re_score_is_flagged():
    assessments = _assessments([("C1", "2025-01-10", 20, "SW1", "2025-01-12", "low"),
                                ("C2", "2025-01-10", 20, "SW1", "2025-01-12", "low"),
                                ("C2", "2025-03-20", 21, "SW2", "2025-03-21", "low"),
                                ("C3", "2025-01-10", 20, "SW1", "2025-01-12", "low")])
    allocations = pd.DataFrame([
        {"allocation_id": "AL1", "person_id": "C1", "allocated_worker": "SW1", "allocated_on": "2024-12-01"},
        {"allocation_id": "AL2", "person_id": "C1", "allocated_worker": "SW2", "allocated_on": "2025-03-01"},
        {"allocation_id": "AL3", "person_id": "C2", "allocated_worker": "SW1", "allocated_on": "2024-12-01"},
        {"allocation_id": "AL4", "person_id": "C2", "allocated_worker": "SW2", "allocated_on": "2025-03-01"},
        {"allocation_id": "AL5", "person_id": "C3", "allocated_worker": "SW1", "allocated_on": "2024-12-01"},
        {"allocation_id": "AL6", "person_id": "C3", "allocated_worker": "SW2", "allocated_on": "2025-04-15"}])
    flags = risk_flags(assessments, allocations, as_of="2025-04-01").set_index("person_id")
    assert flags.worker_changed.to_dict() == {"C1": True, "C2": False, "C3": False}, \
        "C1's new worker has not scored; C2's has; C3's change comes after the day asked about"
    assert flags.loc["C1", "current_worker"] == "SW2" and flags.loc["C1", "allocated_worker"] == "SW1"
    assert "not re-scored since the allocated worker changed" in flags.loc["C1", "reasons"]
    later = risk_flags(assessments, allocations, as_of="2025-05-01").set_index("person_id")
    assert later.worker_changed.to_dict() == {"C1": True, "C2": False, "C3": True}


def test_not_reviewed_not_shared_and_band_rose_are_each_flagged():
    assessments = _assessments([("C1", "2025-01-01", 20, "SW1", "2025-01-02", "low"),
                                ("C1", "2025-05-01", 40, "SW1", "2025-05-02", "medium"),
                                ("C2", "2025-01-30", 20, "SW1", "2025-02-02", "low"),
                                ("C3", "2025-03-01", 40, "SW1", "2025-03-02", "medium"),
                                ("C3", "2025-05-10", 38, "SW1", None, "medium")])
    flags = risk_flags(assessments, as_of="2025-05-20", review_days=90).set_index("person_id")
    assert flags.band_rose.to_dict() == {"C1": True, "C2": False, "C3": False}
    assert flags.not_reviewed.to_dict() == {"C1": False, "C2": True, "C3": False}, "C2: 110 days"
    assert flags.not_shared.to_dict() == {"C1": False, "C2": False, "C3": True}, "only the latest counts"
    assert flags.loc["C2", "days_since_review"] == 110
    assert risk_flags(assessments, as_of="2025-05-20", review_days=120).not_reviewed.sum() == 0, "configurable"
    assert flags.loc["C1", "previous_band"] == "Early Help (Emerging)" and flags.loc["C1", "band"] == \
        "Targeted (Moderate)"
    on_the_day = risk_flags(assessments, as_of="2025-05-10").set_index("person_id")
    assert on_the_day.loc["C3", "not_shared"], "a score on the day, not shared yet"
    assert list(risk_flags(assessments, as_of="2024-01-01").columns) == list(flags.reset_index().columns)
    with pytest.raises(RiskError, match="YYYY-MM-DD; got '2025-02-30'"):
        risk_flags(assessments, as_of="2025-02-30")
    with pytest.raises(RiskError, match="review_days"):
        risk_flags(assessments, as_of="2025-05-20", review_days=0)


def test_a_score_outside_every_band_is_not_a_rise():
    assessments = _assessments([("C1", "2025-01-01", 40), ("C1", "2025-02-01", 70), ("C1", "2025-03-01", 30)])
    history = score_histories(assessments)
    assert list(history.band) == ["Targeted (Moderate)", UNBANDED, "Early Help (Emerging)"]
    assert list(history.movement) == ["first", "not comparable", "not comparable"]
    assert band_rises(assessments, since="2025-01-01", to="2025-12-01").empty


def test_one_rise_one_fall_and_one_unchanged_give_a_third_each():
    assessments = _assessments([("C1", "2024-12-01", 20), ("C1", "2025-05-01", 40),  # rose
                                ("C2", "2024-12-01", 40), ("C2", "2025-05-01", 20),  # fell
                                ("C3", "2024-12-01", 20), ("C3", "2025-05-01", 25),  # stayed
                                ("C4", "2025-05-01", 50)])  # no score at the start: not compared
    for months in (3, 6):
        moved = band_movement(assessments, as_of="2025-06-01", months=months)
        assert (moved["children"], moved["fell"], moved["stayed"], moved["rose"]) == (3, 1, 1, 1)
        assert [f"{100 * moved['shares'][k]:.0f}%" for k in ("fell", "stayed", "rose")] == ["33%", "33%", "33%"]
    assert band_movement(assessments, as_of="2025-06-01", months=3)["from"] == date(2025, 3, 1)


class _Assessed:
    """Just enough of a store for the Strategic pack's band movement: these assessments, no configured bands."""

    def __init__(self, assessments):
        self.assessments = assessments

    def read_layer(self, layer, columns=None, **_):
        assert layer == "risk_assessments"
        return self.assessments

    def risk_band_rows(self):
        return []


def test_the_strategic_pack_shows_band_movement_with_its_small_number_rules():
    from geoservice.reports.packs import Section, _risk_movement

    def section_for(copies: int) -> Section:
        rows = []
        for k in range(copies):
            rows += [(f"R{k}", "2025-01-05", 20), (f"R{k}", "2025-12-01", 40), (f"F{k}", "2025-01-05", 40),
                     (f"F{k}", "2025-12-01", 20), (f"S{k}", "2025-01-05", 20), (f"S{k}", "2025-12-01", 21)]
        section = Section("children_at_risk", "Children and risk of being exploited")
        _risk_movement(_Assessed(_assessments(rows)), None, date(2026, 1, 1), section)
        return section

    table = section_for(10).blocks[0]
    assert table.columns == ["over", "children compared", "fell", "stayed", "rose"]
    assert [row[1:] for row in table.rows] == [["30", "33%", "33%", "33%"]] * 2
    assert table.rows[0][0].startswith("3 months") and table.rows[1][0].startswith("6 months")
    small = section_for(1).blocks[0]
    assert [row[1:] for row in small.rows] == [["<10"] + ["not shown (<10 in all)"] * 3] * 2, \
        "three children: no share is shown"
    empty = Section("children_at_risk", "x")
    _risk_movement(_Assessed(_assessments([])), None, date(2026, 1, 1), empty)
    assert not empty.blocks


def test_mash_screening_beside_the_police_grade():
    assessments = _assessments([("C1", "2025-02-01", 20, "SW1", "2025-02-01", "high"),
                                ("C2", "2025-02-01", 20, "SW1", "2025-02-01", "medium"),
                                ("C3", "2025-02-01", 20, "SW1", "2025-02-01", "low"),
                                ("C4", "2025-02-01", 20, "SW1", "2025-02-01", "none")])
    referrals = pd.DataFrame([
        {"referral_id": "R1", "person_id": "C1", "kind": "mash", "referred_on": "2025-01-01", "outcome":
         "child_protection", "decided_on": "2025-01-02"},
        {"referral_id": "R2", "person_id": "C1", "kind": "mash", "referred_on": "2025-03-01", "outcome":
         "information_and_advice", "decided_on": "2025-03-01"},  # the latest decided: low against high
        {"referral_id": "R3", "person_id": "C2", "kind": "mash", "referred_on": "2025-01-01", "outcome":
         "child_in_need", "decided_on": "2025-01-02"},
        {"referral_id": "R4", "person_id": "C2", "kind": "mash", "referred_on": "2025-03-01", "outcome": "pending",
         "decided_on": None},  # not decided: the one before stands
        {"referral_id": "R5", "person_id": "C3", "kind": "mash", "referred_on": "2025-01-01", "outcome": "early_help",
         "decided_on": "2025-01-02"},
        {"referral_id": "R6", "person_id": "C4", "kind": "nrm", "referred_on": "2025-01-01", "outcome":
         "reasonable_grounds", "decided_on": "2025-01-20"}])
    side = mash_beside_police(assessments, referrals, as_of="2025-06-01").set_index("person_id")
    assert side.mash_outcome.to_dict() == {"C1": "information_and_advice", "C2": "child_in_need", "C3": "early_help",
                                           "C4": ""}
    assert side.mismatch.to_dict() == {"C1": True, "C2": False, "C3": False, "C4": False}
    assert side.loc["C1", "gap"] == 2, "police two levels above the MASH"
    before = mash_beside_police(assessments, referrals, as_of="2025-02-15").set_index("person_id")
    assert before.loc["C1", "mash_outcome"] == "child_protection" and not before.loc["C1", "mismatch"]


# the synthetic world -------------------------------------------------------------------------------------------
FLAG_COLUMNS = {"band_rises": "band_rose", "not_reviewed": "not_reviewed",
                "worker_changed_not_rescored": "worker_changed", "not_shared": "not_shared",
                "mash_police_mismatch": "mismatch"}


def _world_tables(world_dir) -> dict[str, pd.DataFrame]:
    read = {name: pd.read_csv(world_dir / f"{name}.csv", dtype=str, keep_default_na=False)
            for name in ("risk_assessments", "worker_allocations", "safeguarding_referrals", "people")}
    read["risk_assessments"]["score"] = read["risk_assessments"].score.astype(int)
    return read


def test_the_planted_truths_are_found_exactly(world_dir, truth):
    planted = truth["risk_matrix"]
    tables = _world_tables(world_dir)
    flags = risk_flags(tables["risk_assessments"], tables["worker_allocations"], tables["safeguarding_referrals"],
                       as_of=planted["as_of"], review_days=planted["review_days"])
    for key, column in FLAG_COLUMNS.items():
        assert planted[key], f"the world plants {key}"
        assert sorted(flags.person_id[flags[column]]) == planted[key], key
    assert sorted(flags.person_id[flags.band == UNBANDED]) == sorted(flags.person_id[flags.unbanded]) == \
        planted["unbanded"]
    assert len(flags) == planted["children_assessed"]
    for months in (3, 6):
        moved = band_movement(tables["risk_assessments"], as_of=planted["as_of"], months=months)
        assert (moved["rose"], moved["fell"]) == (len(planted["band_rises"]), len(planted["band_falls"]))
        assert moved["stayed"] == planted["children_assessed"] - moved["rose"] - moved["fell"] - \
            len(planted["unbanded"])
    rises = band_rises(tables["risk_assessments"], since=f"{truth['year']}-12-01", to=f"{truth['year'] + 1}-01-01")
    assert sorted(rises.person_id) == planted["band_rises"], "every planted rise is in the December period"
    people = tables["people"].set_index("person_id")
    assert (people.loc[flags.person_id, "subject_category"] == "child_at_risk").all(), "children only"
    referrals = tables["safeguarding_referrals"]
    nrm = set(referrals.person_id[referrals.kind == "nrm"])
    rescue = set(referrals.person_id[referrals.kind == "rescue_and_response"])
    assert set(truth["county_line"]["children"]) <= nrm & rescue, "every county-line child is referred"
    assert referrals.person_id[referrals.kind == "mash"].nunique() > 0.4 * truth["counts"]["children"]


def test_the_risk_tables_leave_the_rest_of_the_world_unchanged(monkeypatch):
    from geoservice.synth.world import WorldBuilder, build_world

    full = build_world(DATA_DIR, seed=3)
    monkeypatch.setattr(WorldBuilder, "make_referrals", lambda self: None)
    monkeypatch.setattr(WorldBuilder, "make_risk_assessments", lambda self: None)
    bare = build_world(DATA_DIR, seed=3)
    assert set(full.tables) - set(bare.tables) == {"safeguarding_referrals", "risk_assessments", "worker_allocations"}
    for name, table in bare.tables.items():
        pd.testing.assert_frame_equal(table, full.tables[name], obj=name)
    # who is a suspect without a referral depends on the referrals, by design (worked out from the final tables)
    depends = ("counts", "suspects_without_referral")
    assert {k: v for k, v in full.truth.items() if k not in ("referrals", "risk_matrix", *depends)} == \
        {k: v for k, v in bare.truth.items() if k not in depends}
    fewer = full.truth["suspects_without_referral"]["children"]
    assert set(fewer) < set(bare.truth["suspects_without_referral"]["children"]), "referrals protect some suspects"


@pytest.fixture
def risk_store(load_world):
    return load_world(*RISK_LAYERS)


def test_the_borough_view_from_the_store_finds_its_planted_children(risk_store, truth):
    planted = truth["risk_matrix"]
    view = risk_tracking(risk_store, MERTON, as_of=planted["as_of"])
    assert view["review_days"] == 90 and view["bands"] == PRELOADED_BANDS
    people = risk_store.read_layer("people", ["person_id", "home_borough", "subject_category"])
    merton = set(people.person_id[(people.home_borough == MERTON) & (people.subject_category == "child_at_risk")])
    rows = {r["person_id"]: r for r in view["children"]}
    assert set(rows) <= merton and view["people"] == sorted(rows)
    for key, column in FLAG_COLUMNS.items():
        expected = sorted(set(planted[key]) & merton)
        assert expected, f"some of {key} are Merton's"
        assert sorted(c for c, r in rows.items() if r[column]) == expected, key
    flagged = [r["person_id"] for r in view["children"] if r["reasons"]]
    assert [r["person_id"] for r in view["children"]][:len(flagged)] == flagged, "flagged first"
    assert all(view["histories"][c][-1]["score"] == rows[c]["score"] for c in rows)
    with pytest.raises(RiskError, match="unknown borough 'E09999999'"):
        risk_tracking(risk_store, "E09999999", as_of=planted["as_of"])


def test_the_workbench_page_shows_the_flags_and_is_audited(risk_store, settings, truth):
    from geoservice import create_app

    app = create_app({"GEOSERVICE_SETTINGS": settings, "TESTING": True})
    client = app.test_client()
    sign_in(client, risk_store, "mace_analyst", [MERTON])
    url = f"/workbench/risk?borough={MERTON}&as_of={truth['risk_matrix']['as_of']}"
    assert client.get(url).status_code == 302, "the task is asked for first"
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").get_data(as_text=True)).group(1)
    client.post("/workbench/task", data={"why": "Pre-MACE 5 January", "csrf_token": token})
    page = client.get(url)
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    people = risk_store.read_layer("people", ["person_id", "home_borough"])
    merton = set(people.person_id[people.home_borough == MERTON])
    for child in set(truth["risk_matrix"]["band_rises"]) & merton:
        assert re.search(rf'<tr class="flagged">\s*<td><a href="/workbench/children/{child}">', body), child
    assert "risk band rose" in body and "unbanded - configure" in body
    assert not re.search(r"\bA\d{3}\b", body), "no adult on the page"
    logged = events(risk_store, username="mace_analyst")[0]
    assert logged["operation"] == "consultation" and logged["justification"] == "Pre-MACE 5 January"
    assert f"workbench:risk:{MERTON}" in logged["objects"] and "person:PS-" in logged["objects"]
    assert client.get(f"/workbench/risk?borough={MERTON}&as_of=2025-02-30").status_code == 400
    assert client.get("/workbench/risk?borough=E09000022").status_code == 404, "another borough's"
    app.extensions["geoservice_store"].engine.dispose()


def test_the_command_line_lists_a_borough_and_audits_it(risk_store, settings, truth):
    env = {"GEOSERVICE_DATABASE_URL": settings.database_url, "GEOSERVICE_INSTANCE_PATH": str(settings.instance_path),
           "GEOSERVICE_DATA_DIR": str(DATA_DIR)}
    runner = CliRunner()
    args = ["risk", "--borough", MERTON, "--as-of", truth["risk_matrix"]["as_of"]]
    assert runner.invoke(main, args, env=env).exit_code != 0, "--why is required"
    made = runner.invoke(main, [*args, "--why", "Pre-MACE 5 January"], env=env)
    assert made.exit_code == 0, made.output
    assert "risk band rose" in made.output and "flagged; bands: 10-32=Early Help (Emerging)" in made.output
    assert events(risk_store)[0]["justification"] == "Pre-MACE 5 January"
    bad = runner.invoke(main, ["risk", "--borough", MERTON, "--as-of", "2025-13-01", "--why", "x y z"], env=env)
    assert bad.exit_code == 2 and "YYYY-MM-DD" in bad.output


def test_risk_tracking_in_a_real_browser(world_settings, browser, truth):
    """Sign in, state the task, open risk tracking from the workbench, pick the day, read the flags and a child's
    history, and follow the child to their page; nothing fetched from outside."""


    from geoservice import create_app

    from ..conftest import BROWSER_ARTIFACTS, offline_page

    app = create_app({"GEOSERVICE_SETTINGS": world_settings, "TESTING": True})
    store = app.extensions["geoservice_store"]
    add_user(store, "mia", TEST_PASSWORD, roles=["mace_analyst"], boroughs=[MERTON])
    people = store.read_layer("people", ["person_id", "home_borough"])
    merton = set(people.person_id[people.home_borough == MERTON])
    rise = sorted(set(truth["risk_matrix"]["band_rises"]) & merton)[0]
    folder = BROWSER_ARTIFACTS / "risk-tracking"
    folder.mkdir(parents=True, exist_ok=True)
    with offline_page(app, browser, username="mia", task="Pre-MACE 5 January") as (_, page, blocked):
        page.click("text=Open risk tracking")
        page.fill("#risk-form input[name=as_of]", truth["risk_matrix"]["as_of"])
        page.click("#risk-form button[type=submit]")
        summary = page.locator("#risk-summary").inner_text()
        assert re.search(r"\d+ children with a risk matrix; \d+ flagged", summary), summary
        row = page.locator(f"#risk-children tr:has(a:text('{rise}'))")
        assert "risk band rose" in row.inner_text()
        history = page.locator(f"#history-{rise}").inner_text()
        assert "rose" in history and "Targeted (Moderate)" in history
        page.screenshot(path=str(folder / "1-risk.png"), full_page=False)
        row.locator("a").first.click()
        assert f"/workbench/children/{rise}" in page.url and page.locator("h2").count()
    store.engine.dispose()
    assert not blocked, blocked
