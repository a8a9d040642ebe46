"""Layer specs: all present, complete, and checked with messages that say what to fix."""

from __future__ import annotations

import pytest

from geoservice.errors import LayerSpecError, UnknownLayerError
from geoservice.layers import get_layer, layer_from_toml

EXPECTED = {"incidents", "missing_episodes", "survey_responses", "outreach_sessions", "places", "people",
            "associations", "boundaries"}


def test_every_layer_has_a_spec(specs):
    assert set(specs) == EXPECTED
    for spec in specs.values():
        assert spec.sensitivity in ("person", "aggregate", "public")
        assert spec.retention_years > 0
        assert spec.key, f"{spec.name} declares its identity"


def test_people_carry_a_closed_subject_category(specs):
    field = specs["people"].field("subject_category")
    assert field.required and set(field.allowed) == {"child_at_risk", "adult_posing_risk", "professional"}
    assert specs["people"].is_person_level


def test_associations_carry_evidence(specs):
    spec = specs["associations"]
    for name in ("source_layer", "source_record", "evidence_date", "association_type", "source_evaluation",
                 "intelligence_assessment", "expires_on"):
        assert spec.field(name).required, name
    assert {"co_offending", "missing_together", "reported_association", "sibling", "school", "online"} <= \
        set(spec.field("association_type").allowed)


def test_missing_episodes_carry_what_panels_need(specs):
    spec = specs["missing_episodes"]
    for name in ("person_id", "reported_missing_at", "found_at", "rhi_offered_at", "rhi_completed_at"):
        assert name in spec.field_names
    assert set(spec.field("risk_grade").allowed) == {"red", "amber", "green"}
    assert [loc.name for loc in spec.locations] == ["missing_from", "found"]
    assert spec.locations[1].extent == "great_britain"


def test_every_located_layer_can_use_each_way_of_locating(specs):
    for spec in specs.values():
        for loc in spec.locations:
            assert loc.lat and loc.lng and loc.easting and loc.northing and loc.postcode, (spec.name, loc.name)


BASE = 'name = "x"\nsensitivity = "person"\nretention = {years = 1}\n'


@pytest.mark.parametrize("text, message", [
    ('name = "x"\nsensitivity = "person"\nretention = {years = 1}\n[[fields]]\nname = "a"\ntype = "colour"\n',
     "type must be one of"),
    ('name = "x"\nsensitivity = "secret"\nretention = {years = 1}\n[[fields]]\nname = "a"\n',
     "sensitivity must be one of"),
    ('name = "x"\nsensitivity = "person"\nretention = {years = 1}\nkey = ["b"]\n[[fields]]\nname = "a"\n',
     "key names 'b', which is not a field"),
    ('name = "y"\nsensitivity = "person"\nretention = {years = 1}\n[[fields]]\nname = "a"\n',
     "must match the file name"),
    ('name = "x"\nsensitivity = "person"\n[[fields]]\nname = "a"\n', "missing required key 'retention'"),
    ('name = "x"\nsensitivity = "person"\nretention = {years = 1}\n[[fields]]\nname = "a"\n'
     '[[locations]]\nname = "here"\nlat = "lat"\n', "in pairs"),
    ('name = "x"\nsensitivity = "person"\nretention = {years = 1}\ntime_fields = ["a"]\n[[fields]]\n'
     'name = "a"\n', "must have a date"),
    ('name = "x\n', "not valid TOML"),
    (BASE + 'scope = "unscoped"\n[[fields]]\nname = "a"\narea = "county"\n', "area must be one of borough, ward"),
    (BASE + 'scope = "unscoped"\n[[fields]]\nname = "a"\ntype = "integer"\narea = "borough"\n', "area needs a text"),
    (BASE + 'scope = "unscoped"\n[[fields]]\nname = "a"\naera = "borough"\n',
     r"field 'a': unknown key 'aera' \(did you mean 'area'\?\)"),
    (BASE + 'scope = "unscoped"\nsensitive = true\n[[fields]]\nname = "a"\n',
     r"unknown key 'sensitive' \(did you mean 'sensitivity'\?\)"),
    (BASE + 'geometry = "polygon"\nscope = "unscoped"\n[[fields]]\nname = "a"\narea = "borough"\n',
     "polygon layer cannot declare area"),
    (BASE + '[[fields]]\nname = "a"\n', "declare how a row's borough is decided"),
    (BASE + 'scope = "everyone"\n[[fields]]\nname = "a"\n', "scope must be one of"),
    (BASE + 'scope = { town = "a" }\n[[fields]]\nname = "a"\n', "scope must be one of"),
    (BASE + 'scope = { field = "a", location = "b" }\n[[fields]]\nname = "a"\n', "scope must be one of"),
    (BASE + 'scope = { field = "a" }\n[[fields]]\nname = "a"\n', 'scope.field must name a field declared with area'),
    (BASE + 'scope = { location = "here" }\n[[fields]]\nname = "a"\n', "scope.location must name one of"),
    (BASE + 'scope = { people = "a" }\n[[fields]]\nname = "a"\n', "scope.people must list the fields"),
    (BASE + 'scope = { people = ["b"] }\n[[fields]]\nname = "a"\n', "scope.people must list the fields"),
    (BASE + 'scop = "unscoped"\n[[fields]]\nname = "a"\n', r"unknown key 'scop' \(did you mean 'scope'\?\)"),
])
def test_a_bad_spec_says_what_to_fix(tmp_path, text, message):
    path = tmp_path / "x.toml"
    path.write_text(text)
    with pytest.raises(LayerSpecError, match=message):
        layer_from_toml(path)


def test_unknown_layer_lists_the_layers(specs):
    with pytest.raises(UnknownLayerError, match="the layers are: associations, boundaries"):
        get_layer(specs, "incident")


def test_borough_fields_are_checked_against_the_boundaries(specs):
    assert {(s.name, f.name) for s in specs.values() for f in s.fields if f.area == "borough"} == {
        ("people", "home_borough"), ("incidents", "borough_code"), ("places", "borough_code")}
    assert specs["boundaries"].field("borough_code").area is None, "the boundaries are not checked against themselves"


def test_every_layer_says_how_its_rows_are_scoped(specs):
    rules = {name: (spec.scope.rule, spec.scope.names) for name, spec in specs.items()}
    assert rules == {
        "people": ("field", ("home_borough",)),
        "missing_episodes": ("location", ("missing_from",)),
        "associations": ("people", ("person_a", "person_b")),
        "boundaries": ("unscoped", ()),
        "incidents": ("location", ("location",)),
        "places": ("location", ("location",)),
        "survey_responses": ("location", ("location",)),
        "outreach_sessions": ("location", ("location",)),
    }


def test_a_people_rule_needs_the_people_layer(tmp_path):
    from geoservice.layers import load_layer_specs

    (tmp_path / "links.toml").write_text('name = "links"\nsensitivity = "person"\nretention = {years = 1}\n'
                                         'scope = { people = ["a"] }\n[[fields]]\nname = "a"\n')
    with pytest.raises(LayerSpecError, match="scope.people looks people up in the 'people' layer"):
        load_layer_specs(tmp_path)
