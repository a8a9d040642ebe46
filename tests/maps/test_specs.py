"""Map specs are declarative and checked: the tier decides what a spec may show at all."""

from __future__ import annotations

import pytest

from geoservice.config import PROJECT_ROOT
from geoservice.maps.specs import MapSpecError, load_map_spec, load_map_specs

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
