"""The cross-borough linkage report against the synthetic world's ground truth, and its minimised version."""

from __future__ import annotations

import json
import re

import h3
import pandas as pd
import pytest
from click.testing import CliRunner

from geoservice.cli import main
from geoservice.network.build import NetworkInputError
from geoservice.privacy.audit import events, verify
from geoservice.pseudonyms import Pseudonymiser
from geoservice.reports.linkage import SECTIONS, linkage_report, minimise_for
from geoservice.reports.render import report_dict

from ..conftest import AS_OF

START, END = "2025-01-01", "2026-01-01"
MERTON, LAMBETH, CROYDON = "E09000024", "E09000022", "E09000008"
RAW_ID = re.compile(r"\b(?:C\d{4}|A\d{3}|P\d{3}|AS\d{5}|ME\d{5}|INT-\d+|EDU-\d+|SYN\d+)\b")


@pytest.fixture
def world_store(load_world):
    return load_world("people", "associations", "missing_episodes", "incidents", "places")


def _report(store, borough=MERTON, **options):
    return linkage_report(store, borough, start=START, end=END, as_of=options.pop("as_of", AS_OF), **options)


def _raw(world_dir):
    people = pd.read_csv(world_dir / "people.csv", dtype=str)
    links = pd.read_csv(world_dir / "associations.csv", dtype=str)
    return people.set_index("person_id"), links


def _jaccard(a, b) -> float:
    return len(set(a) & set(b)) / len(set(a) | set(b))


def test_every_cross_borough_link_in_force_appears_with_its_evidence(world_store, world_dir):
    people, links = _raw(world_dir)
    home = people.home_borough
    category = people.subject_category
    in_force = links[(links.evidence_date >= START) & (links.evidence_date < END) & (links.expires_on >= AS_OF)
                     & (links.person_a != links.person_b)]
    in_force = in_force[(category[in_force.person_a].to_numpy() != "professional")
                        & (category[in_force.person_b].to_numpy() != "professional")]
    home_a, home_b = home[in_force.person_a].to_numpy(), home[in_force.person_b].to_numpy()
    expected = set(in_force.association_id[(home_a != home_b) & ((home_a == MERTON) | (home_b == MERTON))])
    report = _report(world_store)
    table = report.tables["cross_borough_links"]
    assert expected, "the world plants cross-borough links"
    assert set(table.association_id[~table.derived]) == expected
    assert (table.other_borough != MERTON).all() and table[["source_record", "grading", "evidence_date"]].notna().all(
        axis=None)


def test_planted_cross_borough_groups_are_found_by_every_borough_they_span(world_store, truth):
    planted = [g for g in truth["peer_groups"] if g["spans_boroughs"]]
    assert planted and {g["group_id"] for g in planted} == set(truth["cross_borough_groups"])
    reports = {b: _report(world_store, b) for b in {b for g in planted for b in g["boroughs"]}}
    for group in planted:
        for borough in group["boroughs"]:
            found = reports[borough].tables["cross_borough_groups"]
            best = max(_jaccard(group["members"], members) for members in found.children)
            assert best >= 0.6, (group["group_id"], borough, best)


def test_the_county_line_appears_in_each_home_boroughs_report(world_store, truth):
    line = truth["county_line"]
    homes = {c: truth_home for c, truth_home in _homes(world_store).items() if c in line["children"]}
    for borough in set(homes.values()):
        report = _report(world_store, borough)
        destinations = report.tables["county_lines"]
        near = destinations[[h3.great_circle_distance((r.lat, r.lng), (line["lat"], line["lng"])) < 5
                             for r in destinations.itertuples()]]
        assert len(near) == 1, destinations
        row = near.iloc[0]
        mine = {c for c, b in homes.items() if b == borough}
        assert mine <= set(row.children)
        assert "found outside London" in row.indicators
        # a route repeated by the borough's own children, or by children of the other boroughs on the same line
        assert any(i.startswith("repeated") or i.startswith("also") for i in row.indicators), row.indicators
        assert row.red_episodes >= 1 and row.distance_km > 60
        if borough == MERTON:
            assert set(line["adults"]) & set(row.adults_posing_risk), "the adult behind the line is shown"
            assert set(line["adults"]) & set(report.tables["adults_elsewhere"].adult)


def _homes(store):
    people = store.read_layer("people", ["person_id", "home_borough"])
    return dict(zip(people.person_id, people.home_borough))


def test_no_child_is_listed_as_an_adult_in_any_report(world_store, truth):
    children, adults = set(truth["children_ids"]), set(truth["adult_ids"])
    for borough in {b for g in truth["peer_groups"] for b in g["boroughs"]}:
        people = _report(world_store, borough).people()
        for name in ("adults_elsewhere", "group_adults", "county_line_adults"):
            assert people[name] <= adults and not people[name] & children, (borough, name)
        for name in ("children_elsewhere", "group_children", "county_line_children"):
            assert people[name] <= children, (borough, name)


def test_an_expired_link_disappears_from_every_section(world_store, world_dir):
    _, links = _raw(world_dir)
    later = "2026-06-01"
    before = json.dumps(report_dict(_report(world_store), SECTIONS))
    after_report = _report(world_store, as_of=later)
    after = json.dumps(report_dict(after_report, SECTIONS))
    expired = links[(links.expires_on < later) & (links.expires_on >= AS_OF)]
    shown_before = [a for a in expired.association_id if f'"{a}"' in before]
    assert shown_before, "some links in the first report expire before the second"
    assert not [a for a in expired.association_id if f'"{a}"' in after]
    # an adult whose every link has expired is gone too
    first = _report(world_store).tables["cross_borough_links"]
    to_adults = first[first.other_category == "adult_posing_risk"]
    lapsed = {a for a, items in to_adults.groupby("other") if (items.expires_on < later).all()}
    assert lapsed and not lapsed & set(after_report.tables["adults_elsewhere"].adult)
    assert after_report.about["as_of"] == later


def test_minimised_report_holds_only_what_crosses_to_the_neighbour(world_store):
    full = _report(world_store)
    pseudonymise = Pseudonymiser(b"test key", f"{MERTON}>{LAMBETH}")
    shared = minimise_for(full, LAMBETH, pseudonymise)
    text = json.dumps(report_dict(shared, SECTIONS))
    assert not RAW_ID.findall(text), "no person id, record number or source reference leaves"
    assert '"lat"' not in text and '"lng"' not in text and '"source_record"' not in text
    links = shared.tables["cross_borough_links"]
    full_links = full.tables["cross_borough_links"]
    assert len(links) == (full_links.other_borough == LAMBETH).sum() > 0
    assert (links.other_borough == LAMBETH).all()
    assert (shared.tables["events_elsewhere"].borough == LAMBETH).all()
    assert len(shared.tables["events_elsewhere"]) == (full.tables["events_elsewhere"].borough == LAMBETH).sum()
    assert (shared.tables["adults_elsewhere"].home_borough == LAMBETH).all()
    assert shared.tables["county_lines"].empty
    assert set(shared.tables["link_matrix"].index) <= {"Merton", "Lambeth"}
    # the same person keeps one pseudonym per recipient, and gets another for another recipient
    child = full_links[full_links.other_borough == LAMBETH].person.iloc[0]
    assert pseudonymise(child) in set(links.person)
    again = minimise_for(_report(world_store), LAMBETH, Pseudonymiser(b"test key", f"{MERTON}>{LAMBETH}"))
    assert set(again.tables["cross_borough_links"].person) == set(links.person)
    assert Pseudonymiser(b"test key", f"{MERTON}>{CROYDON}")(child) != pseudonymise(child)
    assert Pseudonymiser(b"other key", f"{MERTON}>{LAMBETH}")(child) != pseudonymise(child)
    with pytest.raises(NetworkInputError, match="another London borough"):
        minimise_for(full, MERTON, pseudonymise)


def test_bad_requests_say_what_to_fix(world_store):
    with pytest.raises(NetworkInputError, match="unknown borough 'E0900002X'"):
        linkage_report(world_store, "E0900002X", start=START, end=END)
    with pytest.raises(NetworkInputError, match="must run forwards"):
        linkage_report(world_store, MERTON, start=END, end=START)


def test_linkage_command_writes_html_csv_and_json(world_store, settings, tmp_path):
    base = ["--database", settings.database_url, "--instance", str(tmp_path / "instance"), "linkage",
            "--borough", MERTON, "--from", START, "--to", END, "--as-of", AS_OF, "--why", "MACE panel 2026-01"]
    runner = CliRunner()
    page = tmp_path / "linkage.html"
    result = runner.invoke(main, base + ["--out", str(page)])
    assert result.exit_code == 0, result.output
    assert "cross borough links" in result.output and "county lines" in result.output
    html = page.read_text()
    assert "County-lines indicators" in html and "Crown copyright" in html and "are synthetic" in html
    assert "OpenStreetMap" not in html, "no credit for data the report did not use (the world's places are fictional)"
    assert not re.findall(r"(?:src|href)\s*=\s*[\"']?(?:https?:)?//", html), "the page loads nothing from anywhere"
    result = runner.invoke(main, base + ["--format", "json", "--out", str(tmp_path / "linkage.json")])
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "linkage.json").read_text())
    assert set(data["sections"]) == set(SECTIONS) and data["about"]["borough_name"] == "Merton"
    result = runner.invoke(main, base + ["--format", "csv", "--share-with", LAMBETH, "--out", str(tmp_path / "csv")])
    assert result.exit_code == 0, result.output
    assert {p.name for p in (tmp_path / "csv").iterdir()} == {f"{name}.csv" for name in SECTIONS} | {"about.json"}
    shared = "".join(p.read_text() for p in (tmp_path / "csv").iterdir())
    assert "minimised for Lambeth" in result.output and not RAW_ID.findall(shared)
    assert (tmp_path / "instance" / "pseudonym.key").stat().st_mode & 0o077 == 0, "the key is its owner's alone"
    result = runner.invoke(main, base + ["--share-with", LAMBETH, "--out", str(tmp_path / "shared.html")])
    assert result.exit_code == 0, result.output
    shared_page = (tmp_path / "shared.html").read_text()
    assert "Minimised for Lambeth" in shared_page and not RAW_ID.findall(shared_page)
    # making the report is a combination, sharing it a disclosure to the neighbour: both audited, people only
    # as keyed pseudonyms
    logged = events(world_store)
    assert [e["operation"] for e in logged[:2]] == ["disclosure", "combination"]
    assert logged[0]["recipient"] == LAMBETH and logged[0]["justification"] == "MACE panel 2026-01"
    assert "person:PS-" in logged[1]["objects"] and not RAW_ID.findall(logged[1]["objects"])
    assert verify(world_store).ok
    result = runner.invoke(main, base + ["--share-with", "nowhere", "--out", str(page)])
    assert result.exit_code == 2 and "another London borough" in result.output
