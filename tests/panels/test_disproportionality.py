"""Disproportionality: the relative rate and its interval, suppression that no difference undoes, the planted
over-representation found, children recorded as suspects with no referral flagged as children to protect, the
police.uk stop-and-search demographics (present or honestly absent), and no "gang" label of a person anywhere."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest

from geoservice.config import PROJECT_ROOT
from geoservice.panels import disproportionality as dp
from geoservice.reports.packs import SUPPRESS_BELOW

from ..conftest import DATA_DIR, needs_data

MERTON = "E09000024"
YEAR = ("2025-01-01", "2026-01-01")


# the statistic ---------------------------------------------------------------------------------------------------
def test_46_3_percent_against_24_percent_is_a_relative_rate_of_1_93_with_katz_interval():
    from scipy.stats.contingency import relative_risk

    made = dp.relative_rate(463, 1000, 24_000, 100_000)
    assert round(made.rate, 2) == 1.93
    # by hand: log RR ± 1.96 sqrt(1/a - 1/n + 1/c - 1/m)
    se = math.sqrt(1 / 463 - 1 / 1000 + 1 / 24_000 - 1 / 100_000)
    np.testing.assert_allclose([made.low, made.high], [1.929167 * math.exp(-1.959964 * se),
                                                       1.929167 * math.exp(1.959964 * se)], rtol=1e-6)
    oracle = relative_risk(463, 1000, 24_000, 100_000)  # SciPy's own implementation (Katz's log interval)
    np.testing.assert_allclose(made.rate, oracle.relative_risk)
    np.testing.assert_allclose([made.low, made.high], list(oracle.confidence_interval(0.95)), rtol=1e-9)
    assert (round(made.low, 2), round(made.high, 2)) == (1.80, 2.06)


def test_the_fixture_as_a_table_row_reads_46_3_against_24_0_and_1_93():
    values = pd.Series(["black"] * 463 + ["white"] * 537)
    exact = dp.dimension_table(values, {"black": 24_000, "white": 76_000}, dimension="ethnicity")
    rows, total = dp.table_rows(exact)
    black = next(r for r in rows if r[0] == "Black")
    assert black[1:] == ["465", "46.3%", "24,000", "24.0%", "1.93", "1.80 to 2.06"]
    assert total == "1,000"


def test_a_group_absent_from_the_baseline_has_no_rate_and_counts_must_be_possible():
    assert dp.relative_rate(5, 100, 0, 1000).rate is None
    assert dp.relative_rate(0, 100, 10, 1000) == dp.RelativeRate(0.0, None, None)
    with pytest.raises(dp.DisproportionalityError, match="count must be 0 to its total"):
        dp.relative_rate(11, 10, 5, 100)


# suppression ---------------------------------------------------------------------------------------------------
def _shown_numbers(row) -> list[int]:
    return [int(v.replace(",", "")) for v in row[1:2] if re.fullmatch(r"[\d,]+", v)]


@pytest.mark.parametrize("seed", range(40))
def test_no_small_count_is_shown_or_recoverable_from_the_total(seed):
    rng = np.random.default_rng(seed)
    categories = ["asian", "black", "mixed", "white", "other", "not_known"]
    counts = rng.integers(0, 40, len(categories)) * (rng.random(len(categories)) < 0.8)
    values = pd.Series(np.repeat(categories, counts))
    baseline = {c: 10_000 for c in categories[:-1]}
    exact = dp.dimension_table(values, baseline, dimension="ethnicity")
    rows, total = dp.table_rows(exact)
    by_label = {r["label"]: r["count"] for r in exact}
    hidden = [r for r in rows if r[1] in ("<10", "not shown")]
    for row in rows:
        for number in _shown_numbers(row):
            assert number >= SUPPRESS_BELOW, row
        if row in hidden:
            assert row[2] == row[5] == row[6] == "not shown", "a hidden cell's share and rate are not shown"
    for row, cell in zip(rows, exact):
        if cell["count"] < SUPPRESS_BELOW:
            assert row in hidden, (row, cell)
    # whatever the reader subtracts, the hidden cells hold 10 or more between them (or nothing at all is shown)
    hidden_sum = sum(by_label[r[0]] for r in hidden)
    everything_hidden = len(hidden) == len(rows)
    assert not hidden or hidden_sum >= SUPPRESS_BELOW or everything_hidden
    if sum(counts) < SUPPRESS_BELOW:
        assert total == "<10" and everything_hidden


def test_one_small_cell_takes_the_next_smallest_with_it():
    assert dp.hidden_cells({"a": 3, "b": 50, "c": 12, "d": 200}) == {"a", "c"}
    assert dp.hidden_cells({"a": 3, "b": 4, "c": 12, "d": 200}) == {"a", "b", "c"}
    assert dp.hidden_cells({"a": 4, "b": 6, "c": 12}) == {"a", "b"}
    assert dp.hidden_cells({"a": 40, "b": 60}) == set()


# the synthetic world -----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def world():
    missing = [n for n in ("london_boroughs.geojson", "wards_merton_neighbours.geojson") if not (DATA_DIR / n).exists()]
    if missing:
        pytest.skip(f"shared data not found: {missing}")
    from geoservice.synth.world import build_world

    return build_world(DATA_DIR, seed=11)


def test_the_planted_over_representation_is_found(world):
    t, truth = world.tables, world.truth["disproportionality"]
    result = dp.disproportionality(t["people"], t["missing_episodes"], t["police_contacts"], t["population_baseline"],
                                   borough=MERTON, since=YEAR[0], to=YEAR[1])
    table = next(x for x in result.tables if x.cohort == truth["cohort"] and x.dimension == truth["dimension"])
    planted = next(r for r in table.exact if r["category"] == truth["category"])
    expected = truth["by_borough"][MERTON]
    np.testing.assert_allclose(planted["rate"], expected["relative_rate"], atol=1e-3)
    assert planted["low"] > 1.2, "the interval excludes proportionality by a margin"
    assert planted["rate"] == max(r["rate"] for r in table.exact if r["rate"] is not None)
    shown = next(r for r in table.rows if r[0] == "Black")
    assert shown[5] == f"{planted['rate']:.2f}", "shown, not suppressed"
    assert "arrested or searched" in table.title and "by ethnicity" in table.title, "the title says what the rows are"
    mace = next(x for x in result.tables if x.cohort == "mace" and x.dimension == "ethnicity")
    mace_black = next(r for r in mace.exact if r["category"] == "black")
    assert mace_black["rate"] < planted["rate"] - 0.5, "the whole MACE cohort is not the planted one"


def test_the_world_has_care_status_for_everyone_and_a_baseline_in_tens_of_thousands(world):
    people = world.tables["people"]
    children = people[people.subject_category == "child_at_risk"]
    assert 0.15 <= (children.care_status == "looked_after").mean() <= 0.25
    assert (people.care_status[people.subject_category != "child_at_risk"] == "not_known").all()
    baseline = world.tables["population_baseline"]
    totals = baseline[baseline.dimension == "sex"].groupby("borough").children.sum()
    assert set(totals.index) == set(world.tables["people"].home_borough[children.index])
    assert (totals >= 10_000).all() and (baseline.source == "synthetic").all()


def test_the_worlds_suspects_without_referral_are_the_ones_flagged(world):
    """Computed from the final tables: holds whatever referrals the world makes (the lead checks it after merging
    the referrals step)."""
    t = world.tables
    truth = world.truth["suspects_without_referral"]
    referrals = t.get("safeguarding_referrals", pd.DataFrame(columns=["person_id", "referred_on"]))
    flagged = dp.suspects_without_referral(t["police_contacts"], referrals, since=YEAR[0], to=YEAR[1],
                                           days=truth["days"])
    assert set(flagged.person_id[flagged.status == "flagged"]) == set(truth["children"])
    assert truth["children"], "some children are planted as suspects"
    children = set(t["people"].person_id[t["people"].subject_category == "child_at_risk"])
    assert set(truth["children"]) <= children


# risks to, beside risks from ----------------------------------------------------------------------------------------
def _contacts(rows):
    return pd.DataFrame(rows, columns=["contact_id", "person_id", "kind", "recorded_on", "offence_group"])


def test_a_suspect_without_a_referral_within_the_window_is_a_child_to_protect():
    contacts = _contacts([
        ("1", "C1", "suspect", "2025-03-01", "drugs"),     # referred 19 days later: not flagged
        ("2", "C2", "arrested", "2025-03-01", "weapons"),  # referred 61 days later: flagged at 28 days
        ("3", "C3", "suspect", "2025-03-01", "robbery"),   # referred 19 days before: not flagged
        ("4", "C4", "searched", "2025-03-01", "drugs"),    # searched only: not a suspect
        ("5", "C5", "suspect", "2025-12-20", "theft"),     # 28 days not passed by the window's end: waiting
        ("6", "C2", "victim", "2025-02-10", "exploitation"),
        ("7", "C6", "suspect", "2024-12-01", "drugs"),     # before the window
    ])
    referrals = pd.DataFrame({"referral_id": ["R1", "R2", "R3"], "person_id": ["C1", "C2", "C3"],
                              "kind": ["mash", "nrm", "rescue_and_response"],
                              "referred_on": ["2025-03-20", "2025-05-01", "2025-02-10"]})
    flagged = dp.suspects_without_referral(contacts, referrals, since=YEAR[0], to=YEAR[1], days=28)
    assert dict(zip(flagged.person_id, flagged.status)) == {"C2": "flagged", "C5": "waiting"}
    wider = dp.suspects_without_referral(contacts, referrals, since=YEAR[0], to=YEAR[1], days=90)
    assert "C2" not in set(wider.person_id), "the window is a setting, not a constant"

    people = pd.DataFrame({"person_id": ["C2", "A1"], "subject_category": ["child_at_risk", "adult_posing_risk"],
                           "care_status": ["looked_after", "not_known"], "home_borough": [MERTON, MERTON]})
    episodes = pd.DataFrame({"episode_id": ["E1"], "person_id": ["C2"], "reported_missing_at": ["2025-04-01T20:00"]})
    links = pd.DataFrame({"person_a": ["C2"], "person_b": ["A1"], "expires_on": ["2027-01-01"]})
    [child] = dp.children_to_protect(flagged, people=people, contacts=contacts, episodes=episodes,
                                     associations=links, to=YEAR[1], days=28)
    assert child["person_id"] == "C2"
    assert "recorded as a victim of exploitation on 2025-02-10" in child["risks_to"]
    assert "missing 1 time in the year" in child["risks_to"]
    assert "evidenced links to 1 adult who poses risk" in child["risks_to"]
    assert "in care (looked after)" in child["risks_to"]
    assert child["risks_from"] == ["arrested (weapons) on 2025-03-01"]
    assert "A1" not in str(child), "adults who pose risk are never listed with the child"


def test_the_referral_window_is_a_documented_setting():
    from geoservice.config import Settings

    assert Settings.from_env(environ={}).suspect_referral_days == 28
    assert Settings.from_env(environ={"GEOSERVICE_SUSPECT_REFERRAL_DAYS": "42"}).suspect_referral_days == 42
    from geoservice.errors import GeoserviceError

    with pytest.raises(GeoserviceError, match="suspect_referral_days must be 1-366"):
        Settings.from_env(environ={"GEOSERVICE_SUSPECT_REFERRAL_DAYS": "0"})


# police.uk stop and search ------------------------------------------------------------------------------------------
@needs_data("police_uk_stop_search_2017_2018.csv.gz")
def test_the_shared_stop_and_search_file_says_it_carries_no_demographics():
    with pytest.raises(dp.StopSearchDemographicsMissing, match="carries no demographics.*Age range.*none are guessed"):
        dp.stop_search_under_18(DATA_DIR / "police_uk_stop_search_2017_2018.csv.gz")


def test_a_police_uk_file_with_demographics_gives_the_under_18_shares(tmp_path):
    columns = ["Type", "Date", "Part of a policing operation", "Policing operation", "Latitude", "Longitude",
               "Gender", "Age range", "Self-defined ethnicity", "Officer-defined ethnicity", "Legislation",
               "Object of search", "Outcome", "Outcome linked to object of search",
               "Removal of more than just outer clothing"]
    planned = ([("Male", "10-17", "", "Black")] * 14 + [("Female", "10-17", "", "White")] * 11
               + [("Male", "under 10", "White - English/Welsh/Scottish/Northern Irish/British", "")] * 3
               + [("Male", "10-17", "Asian/Asian British - Indian", "")] * 2
               + [("Male", "18-24", "", "Black")] * 20 + [("Female", "over 34", "", "White")] * 7)
    rows = [["Person search", "2018-01-05T10:00:00+00:00", "False", "", "51.41", "-0.19", sex, age, self_defined,
             officer, "Misuse of Drugs Act 1971 (section 23)", "Controlled drugs", "A no further action disposal",
             "", "False"] for sex, age, self_defined, officer in planned]
    path = tmp_path / "2018-01-metropolitan-stop-and-search.csv"
    pd.DataFrame(rows, columns=columns).to_csv(path, index=False)
    baseline = pd.DataFrame({"dimension": ["ethnicity"] * 5 + ["sex"] * 2,
                             "category": ["asian", "black", "mixed", "white", "other", "female", "male"],
                             "children": [150, 230, 120, 450, 50, 490, 510]})
    made = dp.stop_search_under_18(path, baseline=baseline)
    assert (made["records"], made["under_18"]) == (len(planned), 30)
    ethnicity = {r["category"]: r["count"] for r in made["tables"]["ethnicity"]["exact"]}
    assert ethnicity == {"asian": 2, "black": 14, "mixed": 0, "white": 14, "other": 0}, \
        "officer-defined first, else the self-defined group"
    black = next(r for r in made["tables"]["ethnicity"]["exact"] if r["category"] == "black")
    np.testing.assert_allclose(black["rate"], (14 / 30) / 0.23)
    sex = {r["category"]: r["count"] for r in made["tables"]["sex"]["exact"]}
    assert sex == {"female": 11, "male": 19}
    shown = made["tables"]["ethnicity"]["rows"]
    assert all(r[1] in ("<10", "not shown") for r in shown if r[0] in ("Asian", "Mixed", "Other ethnic group"))


# no "gang" label of a person --------------------------------------------------------------------------------------
LABEL = re.compile(r"gang[\s_-]*member|gang[\s_-]*nominal", re.I)


def test_no_gang_member_label_in_any_template_spec_string_or_document():
    roots = [PROJECT_ROOT / "geoservice", PROJECT_ROOT / "layers", PROJECT_ROOT / "maps", PROJECT_ROOT / "docs"]
    files = [p for root in roots for p in root.rglob("*") if p.suffix in (".py", ".html", ".toml", ".md", ".txt")]
    assert len(files) > 50
    found = [str(p) for p in files if LABEL.search(p.read_text(encoding="utf-8", errors="replace"))]
    assert not found


def test_no_gang_member_label_in_the_products(world, tmp_path):
    from geoservice.synth.world import LAYER_FILES

    t = world.tables
    result = dp.disproportionality(t["people"], t["missing_episodes"], t["police_contacts"], t["population_baseline"],
                                   borough=MERTON, since=YEAR[0], to=YEAR[1])
    flagged = dp.suspects_without_referral(t["police_contacts"], pd.DataFrame(columns=["person_id", "referred_on"]),
                                           since=YEAR[0], to=YEAR[1], days=28)
    children = dp.children_to_protect(flagged, people=t["people"], contacts=t["police_contacts"],
                                      episodes=t["missing_episodes"], associations=t["associations"], to=YEAR[1],
                                      days=28)
    text = " ".join([str(x.rows) + x.title for x in result.tables] + result.notes + [str(children)])
    text += " ".join(t[name].to_csv(index=False) for name in LAYER_FILES)
    assert children and not LABEL.search(text)


# the page and the command --------------------------------------------------------------------------------------------
@pytest.fixture
def loaded(load_world, settings):
    from ..conftest import WORLD_LAYERS

    return load_world(*WORLD_LAYERS), settings


def test_the_analysts_page_shows_the_tables_and_the_children_to_protect(loaded):
    from geoservice import create_app
    from geoservice.privacy.audit import events

    from ..conftest import sign_in

    store, settings = loaded
    app = create_app({"GEOSERVICE_SETTINGS": settings, "TESTING": True})
    try:
        client = app.test_client()
        sign_in(client, store, "mace_analyst")
        token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").get_data(as_text=True)).group(1)
        client.post("/workbench/task", data={"why": "disproportionality review", "csrf_token": token})
        url = f"/workbench/disproportionality?borough={MERTON}&since={YEAR[0]}&to={YEAR[1]}"
        page = client.get(url)
        body = page.get_data(as_text=True)
        assert page.status_code == 200, body[:500]
        assert "Children arrested or searched in the period by ethnicity, Merton" in body
        cells = [int(v.replace(",", "")) for v in re.findall(r"<td>(\d[\d,]*)</td>", body)]
        assert cells and min(cells) >= SUPPRESS_BELOW, "no count below the threshold is shown"
        listed = re.findall(r"/workbench/children/(C\d{4})", body)
        assert listed, "children recorded as suspects with no referral are listed as children to protect"
        assert "risks to the child" in body and "risks from the child" in body
        assert not re.search(r"/workbench/children/A\d{3}", body), "no adult who poses risk in the list"
        logged = events(store, operation="consultation")
        assert any(e["justification"] == "disproportionality review" for e in logged)
        for bad, message in ((f"borough={MERTON}&since=2025-01-01&to=9999-12-31", "window must have ended"),
                             (f"borough={MERTON}&since=2026-01-01&to=2025-01-01", "must run forwards"),
                             (f"borough={MERTON}&since=2025-13-01&to=2026-01-01", "not a real date")):
            response = client.get(f"/workbench/disproportionality?{bad}")
            assert response.status_code == 400 and message in response.get_data(as_text=True), bad
    finally:
        app.extensions["geoservice_store"].engine.dispose()


def test_the_tasking_officer_sees_the_tables_but_no_child(loaded):
    from geoservice import create_app

    from ..conftest import sign_in

    store, settings = loaded
    app = create_app({"GEOSERVICE_SETTINGS": settings, "TESTING": True})
    try:
        client = app.test_client()
        sign_in(client, store, "tasking_officer", boroughs=[MERTON])
        page = client.get(f"/workbench/disproportionality?borough={MERTON}&since={YEAR[0]}&to={YEAR[1]}")
        body = page.get_data(as_text=True)
        assert page.status_code == 200, body[:300]
        assert "Children known to MACE by sex, Merton" in body
        assert not re.search(r"\b(?:C\d{4}|A\d{3})\b", body), "aggregate only"
        assert re.search(r"Children: (?:&lt;10|\d[\d,]*)\.", body)
        assert client.get(f"/workbench/disproportionality?borough=E09000022&since={YEAR[0]}&to={YEAR[1]}") \
            .status_code == 404, "another borough does not exist for them"
        sign_in(client, store, "youth_worker", boroughs=[MERTON])
        assert client.get(f"/workbench/disproportionality?borough={MERTON}").status_code == 403
    finally:
        app.extensions["geoservice_store"].engine.dispose()


def test_the_command_prints_and_writes_the_suppressed_tables(loaded, tmp_path):
    from click.testing import CliRunner

    from geoservice.cli import main

    _, settings = loaded
    env = {"GEOSERVICE_DATABASE_URL": settings.database_url, "GEOSERVICE_INSTANCE_PATH": str(settings.instance_path),
           "GEOSERVICE_DATA_DIR": str(DATA_DIR)}
    args = ["disproportionality", "--borough", MERTON, "--since", YEAR[0], "--to", YEAR[1]]
    made = CliRunner().invoke(main, [*args, "--csv", str(tmp_path / "d.csv")], env=env)
    assert made.exit_code == 0, made.output
    assert "Children in care (looked after) known to MACE by age band, Merton" in made.output
    assert "Children recorded as a suspect with no safeguarding referral within 28 days:" in made.output
    table = pd.read_csv(tmp_path / "d.csv", dtype=str, keep_default_na=False)
    assert set(table.columns) >= {"table", "group", "count", "relative rate", "95% interval"}
    counts = [int(v.replace(",", "")) for v in table["count"] if re.fullmatch(r"[\d,]+", v)]
    assert counts and min(counts) >= SUPPRESS_BELOW
    assert not re.search(r"\bC\d{4}\b", (tmp_path / "d.csv").read_text()), "aggregate only"
    if (DATA_DIR / "police_uk_stop_search_2017_2018.csv.gz").exists():
        shared = CliRunner().invoke(main, [*args, "--stop-search",
                                           str(DATA_DIR / "police_uk_stop_search_2017_2018.csv.gz")], env=env)
        assert shared.exit_code == 0 and "carries no demographics" in shared.output
    wrong = CliRunner().invoke(main, ["disproportionality", "--borough", MERTON, "--since", "2026-01-01", "--to",
                                      "2025-01-01"], env=env)
    assert wrong.exit_code != 0 and "must run forwards" in wrong.output
