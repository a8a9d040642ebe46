"""Map specs are declarative and checked: the tier decides what a spec may show at all."""

from __future__ import annotations

import dataclasses

import pytest

from geoservice.config import PROJECT_ROOT
from geoservice.maps.products import BUILDERS, publication_key
from geoservice.maps.specs import (LAYER_TYPES, BoundariesLayer, CountsLayer, DistinctLayer, GapsLayer, MapSpecError,
                                   OutreachLayer, PublicCountsLayer, load_map_spec, load_map_specs)
from geoservice.policy import TIER_KINDS

YOUTH = (PROJECT_ROOT / "maps" / "youth_area.toml").read_text()


def test_the_three_products_load():
    specs = load_map_specs(PROJECT_ROOT / "maps")
    assert {"mace_hotspots", "csp_tasking", "youth_area"} <= set(specs)
    assert {s.tier for s in specs.values()} == {"analyst", "tasking", "aggregate"}
    youth = specs["youth_area"]
    assert youth.fixed_windows and youth.disclosure == {"suppress_below": 10, "round_to": 5}


def _write(tmp_path, text, name="youth_area"):
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("change, message", [
    ('kind = "boundaries"\nlevel = "ward"', None),  # a harmless edit still loads
    ('kind = "hotspots"', "kind 'hotspots' is not allowed on a 'aggregate' map"),
    ('kind = "group_places"', "kind 'group_places' is not allowed"),
])
def test_an_aggregate_map_cannot_show_detail(tmp_path, change, message):
    text = YOUTH.replace('kind = "boundaries"\nlevel = "ward"', change, 1)
    if message is None:
        assert load_map_spec(_write(tmp_path, text)).tier == "aggregate"
    else:
        with pytest.raises(MapSpecError, match=message):
            load_map_spec(_write(tmp_path, text))


@pytest.mark.parametrize("old, new, message", [
    ('calendar = "year"', "window_months = 12", "fixed calendar windows"),
    ("suppress_below = 10", "suppress_below = 5", "suppress_below = 10 or more"),
    ('audience = "youth_worker"', 'audience = "mace_analyst"', "does not match tier"),
    ("resolution = 8", "resolution = 12", "resolution must be 7-10"),
    ('title = "Boroughs"', 'title = "Boroughs"\ncolour = "red"', "unknown keys"),
])
def test_spec_mistakes_say_what_to_fix(tmp_path, old, new, message):
    assert old in YOUTH
    with pytest.raises(MapSpecError, match=message):
        load_map_spec(_write(tmp_path, YOUTH.replace(old, new, 1)))


def test_the_name_must_match_the_file(tmp_path):
    with pytest.raises(MapSpecError, match="must match the file name"):
        load_map_spec(_write(tmp_path, YOUTH, name="other"))


# typed layers, checked when the spec loads ------------------------------------------------------------------------
MACE = (PROJECT_ROOT / "maps" / "mace_hotspots.toml").read_text()


def _spec(tmp_path, tier: str, layers: str, name: str = "layered"):
    """A spec of ``tier`` with the given ``[[layers]]`` TOML (the other keys valid)."""
    audience = {"analyst": "mace_analyst", "tasking": "tasking_officer", "aggregate": "youth_worker"}[tier]
    window = ('calendar = "year"\ndisclosure = { suppress_below = 10, round_to = 5 }' if tier == "aggregate"
              else "window_months = 12")
    return _write(tmp_path, f'name = "{name}"\ntitle = "t"\naudience = "{audience}"\ntier = "{tier}"\n'
                            f"resolution = 9\n{window}\n\n{layers}", name=name)


def _problems(path) -> list[str]:
    with pytest.raises(MapSpecError) as caught:
        load_map_spec(path)
    lines = str(caught.value).splitlines()
    assert all(line.startswith(f"{path}: ") for line in lines), lines
    return [line.removeprefix(f"{path}: ") for line in lines]


def test_the_real_specs_load_as_typed_layers():
    specs = load_map_specs(PROJECT_ROOT / "maps")
    youth = specs["youth_area"].layers
    assert [type(layer) for layer in youth] == [DistinctLayer, DistinctLayer, PublicCountsLayer, BoundariesLayer,
                                                BoundariesLayer]
    assert youth[1].filter == {"feeling": "unsafe"} and youth[0].filter is None
    assert (youth[2].layer, youth[2].by, youth[2].visible) == ("incidents", "crime_type", False)
    assert [layer.level for layer in youth[3:]] == ["borough", "ward"] and youth[4].labels and not youth[3].labels
    mace = specs["mace_hotspots"].layers
    assert [layer.source for layer in mace if isinstance(layer, CountsLayer)] == [
        "incidents", "missing_found", "survey_unsafe"]
    assert not mace[1].visible, "visible defaults to false"
    tasking = specs["csp_tasking"].layers
    assert [(layer.kind, layer.measure) for layer in tasking if isinstance(layer, OutreachLayer)] == [
        ("outreach", "sessions"), ("outreach", "young_people_reached")]
    assert [layer.top for layer in tasking if isinstance(layer, GapsLayer)] == [10]


def test_every_kind_the_policy_allows_has_a_type_and_a_builder():
    allowed = set().union(*TIER_KINDS.values())
    assert set(LAYER_TYPES) == allowed == set(BUILDERS)
    assert all(cls.kind == kind for kind, cls in LAYER_TYPES.items())


def test_every_layer_problem_is_reported_at_once(tmp_path):
    broken = (MACE.replace('source = "incidents"', 'source = "burglary"')
              .replace('source = "survey_unsafe"', "")
              .replace('kind = "emerging"', 'kind = "emerging"\ncolour = "red"')
              .replace('level = "ward"', 'level = "county"')
              .replace('kind = "group_places"', 'kind = "distinct"')
              .replace('(named)"\nvisible = true', '(named)"\nvisible = "yes"')
              .replace("resolution = 9", "resolution = 12"))
    problems = _problems(_write(tmp_path, broken, name="mace_hotspots"))
    assert problems == [
        "resolution must be 7-10 (the stored resolutions), got 12",
        "layer 2 (counts): source 'burglary' is not a component of the concern index; its components: "
        "['incidents', 'missing_found', 'survey_unsafe']",
        "layer 4 (counts): missing ['source']; counts layers need ['kind', 'title', 'source']",
        "layer 5 (emerging): unknown keys ['colour']; emerging layers take ['kind', 'title', 'visible', 'expected']",
        "layer 6 (hotspot_areas): visible must be true or false, got 'yes'",
        "layer 8 (distinct): kind 'distinct' is not allowed on a 'analyst' map (allowed: ['boundaries', 'concern', "
        "'counts', 'emerging', 'gaps', 'group_places', 'hotspot_areas', 'hotspots', 'outreach', 'where_to_act'])",
        "layer 8 (distinct): missing ['layer', 'location', 'person', 'time_field']; distinct layers need ['kind', "
        "'title', 'layer', 'location', 'person', 'time_field']",
        "layer 10 (boundaries): level must be one of ['borough', 'ward'], got 'county'",
    ]


@pytest.mark.parametrize("tier, layer, message", [
    ("analyst", 'kind = "counts"', "missing ['source']"),
    ("analyst", 'kind = "counts"\nsource = "concern"', "source 'concern' is not a component of the concern index"),
    ("analyst", 'kind = "counts"\nsource = 3', "source must be a non-empty string, got 3"),
    ("analyst", 'kind = "outreach"', "missing ['measure']"),
    ("analyst", 'kind = "outreach"\nmeasure = "visits"',
     "measure must be one of ['sessions', 'young_people_reached'], got 'visits'"),
    ("analyst", 'kind = "boundaries"', "missing ['level']"),
    ("analyst", 'kind = "boundaries"\nlevel = "county"', "level must be one of ['borough', 'ward'], got 'county'"),
    ("analyst", 'kind = "gaps"\ntop = 0', "top must be a whole number of 1 or more, got 0"),
    ("analyst", 'kind = "gaps"\ntop = "5"', "top must be a whole number of 1 or more, got '5'"),
    ("analyst", 'kind = "gaps"\ntop = 2.5', "top must be a whole number of 1 or more, got 2.5"),
    ("analyst", 'kind = "gaps"\ntop = true', "top must be a whole number of 1 or more, got True"),
    ("analyst", 'kind = "hotspots"\nvisible = 1', "visible must be true or false, got 1"),
    ("analyst", 'kind = "hotspots"\nsource = "incidents"', "unknown keys ['source']; hotspots layers take"),
    ("analyst", 'kind = "heatmap"', "kind 'heatmap' is not a layer kind; kinds: ['boundaries', 'concern'"),
    ("analyst", 'level = "ward"', "layer 1: needs a kind; kinds: ['boundaries'"),
    ("aggregate", 'kind = "distinct"\nlayer = "missing_episodes"\nlocation = "found"',
     "missing ['person', 'time_field']"),
    ("aggregate", 'kind = "distinct"\nlayer = "missing"\nlocation = "found"\nperson = "person_id"\n'
                  'time_field = "found_at"', "layer 'missing' is not a layer; the layers: ['associations'"),
    ("aggregate", 'kind = "distinct"\nlayer = "missing_episodes"\nlocation = "home"\nperson = "person_id"\n'
                  'time_field = "found_at"', "location 'home' is not a location of missing_episodes; its "
                                             "locations: ['missing_from', 'found']"),
    ("aggregate", 'kind = "distinct"\nlayer = "missing_episodes"\nlocation = "found"\nperson = "child"\n'
                  'time_field = "found_at"', "person 'child' is not a field of missing_episodes"),
    ("aggregate", 'kind = "distinct"\nlayer = "missing_episodes"\nlocation = "found"\nperson = "person_id"\n'
                  'time_field = "risk_grade"', "time_field 'risk_grade' is not a time field of missing_episodes"),
    ("aggregate", 'kind = "distinct"\nlayer = "survey_responses"\nlocation = "location"\nperson = "response_id"\n'
                  'time_field = "answered_on"\nfilter = { mood = "unsafe" }',
     "filter field 'mood' is not a field of survey_responses"),
    ("aggregate", 'kind = "distinct"\nlayer = "survey_responses"\nlocation = "location"\nperson = "response_id"\n'
                  'time_field = "answered_on"\nfilter = { feeling = "scared" }',
     "filter feeling = 'scared' can never match; survey_responses.feeling is one of ['unsafe', 'safe']"),
    ("aggregate", 'kind = "distinct"\nlayer = "survey_responses"\nlocation = "location"\nperson = "response_id"\n'
                  'time_field = "answered_on"\nfilter = "unsafe"', "filter must be a table of field = value"),
])
def test_each_kind_checks_its_keys_and_values(tmp_path, tier, layer, message):
    problems = _problems(_spec(tmp_path, tier, f'[[layers]]\n{layer}\ntitle = "A layer"\n'))
    assert len(problems) == 1 and problems[0].startswith("layer 1") and message in problems[0], problems


@pytest.mark.parametrize("title, message", [(None, "missing ['title']"),
                                            ('""', "title must be a non-empty string")])
def test_a_layer_needs_a_title(tmp_path, title, message):
    text = '[[layers]]\nkind = "hotspots"\n' + (f"title = {title}\n" if title else "")
    assert message in _problems(_spec(tmp_path, "analyst", text))[0]


def test_the_spec_and_its_layers_are_reported_together(tmp_path):
    text = (YOUTH.replace('audience = "youth_worker"', 'audience = "mace_analyst"')
            .replace('level = "borough"', 'level = "county"'))
    problems = _problems(_write(tmp_path, text))
    assert len(problems) == 2 and "does not match tier" in problems[0] and problems[1].startswith("layer 4 ")


def test_layers_are_checked_against_the_layer_specs_given(tmp_path):
    from geoservice.layers import load_layer_specs

    specs = load_layer_specs(PROJECT_ROOT / "layers")
    path = _write(tmp_path, YOUTH)
    assert load_map_spec(path, layer_specs=specs).layers[0].layer == "missing_episodes"
    without = {name: spec for name, spec in specs.items() if name != "survey_responses"}
    with pytest.raises(MapSpecError, match="layer 2 \\(distinct\\): layer 'survey_responses' is not a layer"):
        load_map_spec(path, layer_specs=without)


def test_a_folder_of_specs_reports_every_broken_spec(tmp_path):
    _write(tmp_path, YOUTH.replace('level = "ward"', 'level = "county"'))
    _write(tmp_path, MACE.replace('measure', 'x').replace('source = "incidents"', 'source = "burglary"'),
           name="mace_hotspots")
    with pytest.raises(MapSpecError) as caught:
        load_map_specs(tmp_path)
    assert [line.split(": ")[:2] for line in str(caught.value).splitlines()] == [
        [str(tmp_path / "mace_hotspots.toml"), "layer 2 (counts)"],
        [str(tmp_path / "youth_area.toml"), "layer 5 (boundaries)"]]


def test_a_typed_layer_checks_what_it_is_made_with():
    with pytest.raises(TypeError, match="colour"):
        CountsLayer(title="Incidents", source="incidents", colour="red")  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="source"):
        CountsLayer(title="Incidents")  # type: ignore[call-arg]
    with pytest.raises(MapSpecError, match="measure must be one of"):
        OutreachLayer(title="Outreach", measure="visits")
    with pytest.raises(MapSpecError, match="top must be a whole number"):
        GapsLayer(title="Gaps", top=-1)
    layer = DistinctLayer(title="Found", layer="missing_episodes", location="found", person="person_id",
                          time_field="found_at", filter={"risk_grade": "red"})
    with pytest.raises(dataclasses.FrozenInstanceError):
        layer.layer = "people"  # type: ignore[misc]
    with pytest.raises(TypeError):
        layer.filter["risk_grade"] = "green"  # type: ignore[index]


def test_the_youth_maps_publication_keys_do_not_change():
    """The digests freeze the youth numbers already published: the typed layers give the same as the plain ones."""
    spec = load_map_specs(PROJECT_ROOT / "maps")["youth_area"]
    keys = [publication_key(spec, layer, spec.resolution) for layer in spec.layers if isinstance(layer, DistinctLayer)]
    assert keys == ["0253cbf0d42e431edb324c62a13ee8b0", "518ac28f04406c5ab4ee259482f03025"]


def test_quarters_are_not_offered_since_a_quarter_and_its_year_could_be_differenced(tmp_path):
    problems = _problems(_write(tmp_path, YOUTH.replace('calendar = "year"', 'calendar = "quarter"')))
    assert len(problems) == 1 and "quarters are not offered" in problems[0], problems


def test_public_counts_show_only_public_open_data(tmp_path):
    text = YOUTH.replace('layer = "incidents"', 'layer = "missing_episodes"').replace(
        'time_field = "month"\nby = "crime_type"', 'time_field = "found_at"')
    problems = _problems(_write(tmp_path, text))
    assert problems == ["layer 3 (public_counts): layer 'missing_episodes' is 'person' data; public_counts shows only "
                        'public open data (sensitivity = "public")'], problems
    problems = _problems(_write(tmp_path, YOUTH.replace('by = "crime_type"', 'by = "colour"')))
    assert problems == ["layer 3 (public_counts): by 'colour' is not a field of incidents"], problems
