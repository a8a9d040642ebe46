"""Layer specs: all present, complete, and checked with messages that say what to fix."""

from __future__ import annotations

import tomllib

import pytest

from geoservice.errors import LayerSpecError, UnknownLayerError
from geoservice.layers import (CheckSpec, CountsSpec, FieldSpec, FormatSpec, LocationSpec, get_layer,
                               layer_from_toml)

EXPECTED = {"incidents", "missing_episodes", "survey_responses", "outreach_sessions", "places", "people",
            "associations", "boundaries", "mace_actions", "risk_assessments", "safeguarding_referrals",
            "police_contacts", "population_baseline", "tasking_actions", "worker_allocations",
            "interventions"}


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
    for name in ("person_id", "reported_missing_at", "found_at", "rhi_offered_at", "rhi_completed_at", "notified_at",
                 "care_status", "placed_out_of_borough", "host_borough", "pre_missing_grade", "graded_by",
                 "graded_at", "rhi_consented", "rhi_available", "debrief_mode", "spoken_to_directly", "push_factors",
                 "pull_factors", "follow_on_intervention"):
        assert name in spec.field_names
    assert "phone" in spec.field("debrief_mode").allowed
    for name in ("placed_out_of_borough", "rhi_consented", "rhi_available", "spoken_to_directly"):
        assert spec.field(name).type == "boolean", name
    assert set(spec.field("risk_grade").allowed) == {"red", "amber", "green"}
    assert [loc.name for loc in spec.locations] == ["missing_from", "found"]
    assert spec.locations[1].extent == "great_britain"


def test_interventions_hold_an_area_dates_and_a_kind_but_no_person(specs):
    spec = specs["interventions"]
    assert spec.sensitivity == "aggregate" and not spec.is_person_level
    for name in ("intervention_id", "title", "kind", "started_on", "borough"):
        assert spec.field(name).required, name
    assert {"places", "cells", "ended_on", "funder", "lead_agency"} <= set(spec.field_names)
    assert {"week_of_collaborative_action", "detached_youth_work", "housing_association_patrol", "cctv_lighting",
            "guardianship", "other"} == set(spec.field("kind").allowed)


def test_every_located_layer_can_use_each_way_of_locating(specs):
    for spec in specs.values():
        for loc in spec.locations:
            assert loc.lat and loc.lng and loc.easting and loc.northing and loc.postcode, (spec.name, loc.name)


BASE = 'name = "x"\nsensitivity = "person"\nretention = {years = 1}\n'
#: Fields a (text) and t (a date) and a located point: what a layer's counts may name.
LOCATED = ('[[fields]]\nname = "a"\n[[fields]]\nname = "t"\ntype = "date"\n'
           '[[locations]]\nname = "here"\nlat = "lat"\nlng = "lng"\n')


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
    (BASE + 'scope = "unscoped"\nzzz = 1\n[[fields]]\nname = "a"\n', "unknown key 'zzz'; allowed: name, title, "),
    (BASE + 'scope = "unscope"\n[[fields]]\nname = "a"\n', r"got 'unscope' \(did you mean 'unscoped'\?\)"),
    (BASE + 'scope = { feild = "a" }\n[[fields]]\nname = "a"\n', r"scope must be one of .* \(did you mean 'field'\?\)"),
    (BASE + 'scope = "unscoped"\n[[fields]]\nname = "a"\ntype = "datetme"\n',
     r"field 'a': type must be one of .*, got 'datetme' \(did you mean 'datetime'\?\)"),
    (BASE + 'scope = "unscoped"\nkey = ["ide"]\n[[fields]]\nname = "id"\n',
     r"key names 'ide', which is not a field \(did you mean 'id'\?\)"),
    (BASE + 'scope = "unscoped"\ngeometry = "polgon"\n[[fields]]\nname = "a"\n', r"\(did you mean 'polygon'\?\)"),
    (BASE + 'scope = "unscoped"\n[[fields]]\nname = "a"\nrequired = "yes"\n',
     "field 'a': required must be true or false, got 'yes'"),
    (BASE + 'scope = "unscoped"\nkey = "a"\n[[fields]]\nname = "a"\n', "key must be a list of strings, got 'a'"),
    ('name = "x"\nsensitivity = "person"\nretention = 5\nscope = "unscoped"\n[[fields]]\nname = "a"\n',
     r"retention must be a table, got 5; e.g. retention = \{ years = 6"),
    ('name = "x"\nsensitivity = "person"\nretention = { years = 0 }\nscope = "unscoped"\n[[fields]]\nname = "a"\n',
     "x.toml retention: years must be more than 0, got 0"),
    (BASE + 'scope = "unscoped"\n[[fields]]\nname = "a"\n[[fields]]\nname = "a"\n',
     r"field names must be unique, got \['a'\] more than once"),
    (BASE + 'scope = "unscoped"\n[[fields]]\ntype = "date"\n', "x.toml field #1: missing required key 'name'"),
    (BASE + 'scope = "unscoped"\nfields = ["a"]\n', r"x.toml field #1: must be a table \(\[\[fields\]\]\), got 'a'"),
    (BASE + 'scope = "unscoped"\n[[fields]]\nname = "a"\nallowed = []\n', "allowed must list at least one value"),
    (BASE + 'time_fields = ["t"]\ncounts = { by = ["b"] }\n' + LOCATED, r"counts.by names 'b', which is not a field"),
    (BASE + 'time_fields = ["t"]\ncounts = { by = ["t"] }\n' + LOCATED, "counts.by groups by text fields, but 't'"),
    (BASE + 'time_fields = ["t"]\ncounts = { by = ["a", "a"] }\n' + LOCATED, "counts.by names must be unique"),
    (BASE + 'time_fields = ["t"]\ncounts = { time_fields = ["a"] }\n' + LOCATED,
     r"counts.time_fields names 'a', which is not one of the time_fields \['t'\]"),
    (BASE + 'time_fields = ["t"]\ncounts = { bye = ["a"] }\n' + LOCATED,
     r"x.toml counts: unknown key 'bye' \(did you mean 'by'\?\)"),
    (BASE + 'time_fields = ["t"]\ncounts = ["a"]\n' + LOCATED, "counts must be a table"),
    (BASE + 'scope = "unscoped"\ncounts = { by = ["a"] }\n[[fields]]\nname = "a"\n',
     "counts are kept per cell of a location, and this layer has no"),
    (BASE + 'scope = "unscoped"\n[[fields]]\nname = "a"\nmin = 1\n', "min and max apply to integer and number"),
    (BASE + 'scope = "unscoped"\n[[fields]]\nname = "a"\ntype = "number"\nmin = 2\nmax = 1\n',
     "field 'a': min 2 is above max 1"),
    (BASE + 'scope = "unscoped"\n[[fields]]\nname = "a"\nformats = ["%d/%m/%Y"]\n',
     "formats .* apply to date, month and datetime fields, not 'text'"),
    (BASE + 'scope = "unscoped"\n[[fields]]\nname = "a"\nderive = { from = "b", prefix = { E09 = "borough" } }\n',
     "x.toml field 'a': derive.from names 'b', which is not a field"),
    (BASE + 'scope = "unscoped"\n[[fields]]\nname = "a"\n[[fields]]\nname = "b"\nderive = { from = "a" }\n',
     "x.toml field 'b' derive: missing required key 'prefix'"),
    (BASE + '[[fields]]\nname = "a"\n[[locations]]\nname = "here"\npostcode = "pc"\nclaimed_borough = "borough"\n',
     "x.toml location 'here': claimed_borough names 'borough', which is not a field"),
    (BASE + '[[fields]]\nname = "a"\n[[locations]]\nname = "here"\npostcode = "pc"\n[[locations]]\nname = "here"\n'
     'postcode = "pc2"\n', r"location names must be unique, got \['here'\]"),
    (BASE + 'scope = "unscoped"\n[[fields]]\nname = "a"\n[formats.csv]\ncolumns = { "A" = "b" }\n',
     "x.toml format 'csv': maps 'A' onto 'b', which is not a field or location column"),
    (BASE + 'scope = "unscoped"\n[[fields]]\nname = "a"\n[formats.csv]\ncolumns = { "A" = "a" }\n'
     'constants = { b = "1" }\n', "x.toml format 'csv': constant 'b' is not a field or location column"),
    (BASE + 'scope = "unscoped"\n[[fields]]\nname = "a"\n[formats.csv]\ndescription = "no columns"\n',
     "x.toml format 'csv': missing required key 'columns'"),
    (BASE + 'scope = "unscoped"\nchecks = [{ rule = "not_before", field = "a", reference = "b" }]\n[[fields]]\n'
     'name = "a"\ntype = "date"\n', "x.toml check #1: reference names 'b', which is not a field"),
    (BASE + 'scope = "unscoped"\nchecks = [{ rule = "not_before", field = "a", reference = "b" }]\n[[fields]]\n'
     'name = "a"\ntype = "date"\n[[fields]]\nname = "b"\n',
     "x.toml check #1: not_before compares times, but reference 'b' is a text field"),
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
        ("people", "home_borough"), ("incidents", "borough_code"), ("places", "borough_code"),
        ("mace_actions", "borough"), ("population_baseline", "borough"), ("tasking_actions", "borough"),
        ("interventions", "borough")}
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
        "mace_actions": ("field", ("borough",)),
        "risk_assessments": ("people", ("person_id",)),
        "safeguarding_referrals": ("people", ("person_id",)),
        "police_contacts": ("people", ("person_id",)),
        "population_baseline": ("field", ("borough",)),
        "tasking_actions": ("field", ("borough",)),
        "worker_allocations": ("people", ("person_id",)),
        "interventions": ("field", ("borough",)),
    }


def test_a_people_rule_needs_the_people_layer(tmp_path):
    from geoservice.layers import load_layer_specs

    (tmp_path / "links.toml").write_text('name = "links"\nsensitivity = "person"\nretention = {years = 1}\n'
                                         'scope = { people = ["a"] }\n[[fields]]\nname = "a"\n')
    with pytest.raises(LayerSpecError, match="scope.people looks people up in the 'people' layer"):
        load_layer_specs(tmp_path)


TYPOS = '''name = "x"
sensitivty = "person"
key = ["ide"]
time_fields = ["seen"]
retention = { years = 1, form = "seen" }
scope = "unscoped"
checks = [ { rule = "not_before", field = "seen", refrence = "id" } ]

[[fields]]
name = "id"
requried = true
tpye = "integer"

[[fields]]
name = "seen"
type = "datetme"

[[fields]]
name = "level"
derive = { form = "id", prefix = { E09 = "borough" } }

[[locations]]
name = "here"
lat = "lat"
extnt = "great_britain"

[formats.csv]
colums = { "ID" = "id" }
'''


def test_every_problem_in_a_spec_is_reported_at_once(tmp_path):
    path = tmp_path / "x.toml"
    path.write_text(TYPOS)
    with pytest.raises(LayerSpecError) as caught:
        layer_from_toml(path)
    headline, *problems = str(caught.value).splitlines()
    assert headline == "x.toml has 11 problems:"
    # a misspelt key is one problem: the key it stands for is not reported missing as well, and a field whose type is
    # not valid is not checked again where it is used (time_fields, checks)
    assert problems == [
        "  - x.toml: unknown key 'sensitivty' (did you mean 'sensitivity'?)",
        "  - x.toml field 'id': unknown key 'requried' (did you mean 'required'?)",
        "  - x.toml field 'id': unknown key 'tpye' (did you mean 'type'?)",
        "  - x.toml field 'seen': type must be one of text, integer, number, boolean, date, month, datetime, "
        "got 'datetme' (did you mean 'datetime'?)",
        "  - x.toml field 'level' derive: unknown key 'form' (did you mean 'from'?)",
        "  - x.toml location 'here': unknown key 'extnt' (did you mean 'extent'?)",
        "  - x.toml location 'here': lat/lng and easting/northing must be given in pairs",
        "  - x.toml: key names 'ide', which is not a field (did you mean 'id'?)",
        "  - x.toml retention: unknown key 'form' (did you mean 'from'?)",
        "  - x.toml format 'csv': unknown key 'colums' (did you mean 'columns'?)",
        "  - x.toml check #1: unknown key 'refrence' (did you mean 'reference'?)",
    ]


@pytest.mark.parametrize("fields, problem", [
    ("", "x.toml: missing required key 'fields'"),
    ('fields = "id"\n', "x.toml: fields must be a list, got 'id'; e.g. one [[fields]] table per field, each with "
                        'name = "..."'),
])
def test_without_fields_nothing_is_checked_against_them(tmp_path, fields, problem):
    path = tmp_path / "x.toml"
    path.write_text('name = "x"\nsensitivity = "person"\nretention = { years = 1, from = "seen" }\nkey = ["id"]\n'
                    'time_fields = ["seen"]\nscope = { field = "borough" }\n' + fields +
                    'checks = [ { rule = "not_before", field = "seen", reference = "id" } ]\n'
                    '[formats.csv]\ncolumns = { "ID" = "id" }\n')
    with pytest.raises(LayerSpecError) as caught:
        layer_from_toml(path)
    assert str(caught.value).splitlines() == ["x.toml has 1 problem:", f"  - {problem}"]


def test_every_spec_file_is_checked_at_once(tmp_path):
    from geoservice.layers import load_layer_specs

    spec = ('name = "{}"\nsensitivity = "person"\nretention = {{years = 1}}\nkey = ["a"]\nscope = {}\n'
            '[[fields]]\nname = "a"\n')
    (tmp_path / "links.toml").write_text(spec.format("links", '{ people = ["a"] }'))
    (tmp_path / "places.toml").write_text(spec.format("places", '"unscoped"').replace('name = "a"', 'nmae = "a"'))
    (tmp_path / "people.toml").write_text(spec.format("people", '"unscoped"').replace("person", "persn"))
    with pytest.raises(LayerSpecError) as caught:
        load_layer_specs(tmp_path)
    # the people rule of links.toml is not checked against a people layer with problems of its own, nor the key of
    # places.toml against fields of which one has no name
    assert str(caught.value).splitlines() == [
        f"2 of the 3 layer specs in {tmp_path} have 2 problems:",
        "  - people.toml: sensitivity must be one of person, aggregate, public, got 'persn' (did you mean 'person'?)",
        "  - places.toml field #1: unknown key 'nmae' (did you mean 'name'?)",
    ]

    (tmp_path / "people.toml").write_text(spec.format("people", '"unscoped"'))
    with pytest.raises(LayerSpecError) as caught:
        load_layer_specs(tmp_path)
    assert str(caught.value).splitlines() == [
        f"2 of the 3 layer specs in {tmp_path} have 2 problems:",
        "  - places.toml field #1: unknown key 'nmae' (did you mean 'name'?)",
        "  - links.toml: scope.people looks people up in the 'people' layer, which must exist with a one-field key and "
        "a scope = { field = ... } rule",
    ]


def test_the_real_specs_load_as_written(specs):
    """Checking for problems changes nothing in a valid spec: every value is the file's own, or the default."""
    for spec in specs.values():
        doc = tomllib.loads(spec.path.read_text(encoding="utf-8"))
        assert layer_from_toml(spec.path) == spec
        assert (spec.title, spec.description, spec.sensitivity, spec.geometry) == (
            doc.get("title", spec.name), doc.get("description", ""), doc["sensitivity"], doc.get("geometry"))
        assert (spec.key, spec.mutable, spec.time_fields) == tuple(
            tuple(doc.get(group, ())) for group in ("key", "mutable", "time_fields"))
        assert (spec.retention_years, spec.retention_from) == (doc["retention"]["years"], doc["retention"].get("from"))
        assert spec.fields == tuple(FieldSpec(
            name=f["name"], type=f.get("type", "text"), required=f.get("required", False),
            allowed=tuple(f["allowed"]) if "allowed" in f else None, minimum=f.get("min"), maximum=f.get("max"),
            formats=tuple(f.get("formats", ())), derive_from=f.get("derive", {}).get("from"),
            derive_prefix=f.get("derive", {}).get("prefix"), future_allowed=f.get("future_allowed", False),
            area=f.get("area"), description=f.get("description", "")) for f in doc["fields"])
        assert spec.locations == tuple(LocationSpec(**loc) for loc in doc.get("locations", ()))
        assert spec.formats == {name: FormatSpec(name, f["columns"], f.get("constants", {}), f.get("description", ""))
                                for name, f in doc.get("formats", {}).items()}
        assert spec.checks == tuple(CheckSpec(**check) for check in doc.get("checks", ()))
        counts = doc.get("counts", {})
        assert spec.counts == (CountsSpec(tuple(counts.get("by", ())), tuple(counts.get("time_fields",
                                                                                      spec.time_fields)))
                               if spec.locations else None)
