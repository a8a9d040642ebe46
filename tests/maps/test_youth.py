"""The youth map's areas: hexagons joined up to their parent cell, then their ward, until 10 or more young people;
and the differencing check that would catch a naive publication."""

from __future__ import annotations

from datetime import date

import h3
import numpy as np
import pandas as pd

from geoservice.maps.youth import aggregate_up, areas_of, round_to_nearest, ward_key
from geoservice.privacy.differencing import Population, Published, differencing_leaks

from .test_products import MERTON, _build, _cells_of, world_store  # noqa: F401  (world_store is a fixture)

PARENT = h3.latlng_to_cell(51.41, -0.19, 7)
CHILDREN = sorted(h3.str_to_int(c) for c in h3.cell_to_children(PARENT, 8))
OTHER_PARENT = h3.latlng_to_cell(51.45, -0.10, 7)
OTHERS = sorted(h3.str_to_int(c) for c in h3.cell_to_children(OTHER_PARENT, 8))
WARD_A, WARD_B = ward_key("E05000455"), ward_key("E05000456")


def _people(counts: dict[int, list[str]]) -> pd.DataFrame:
    rows = [(cell, person) for cell, people in counts.items() for person in people]
    return pd.DataFrame(rows, columns=["cell", "person"])


def _kids(prefix: str, n: int) -> list[str]:
    return [f"{prefix}{i}" for i in range(n)]


def test_a_busy_hexagon_is_shown_alone_and_its_quiet_neighbours_are_joined_under_their_parent():
    cells = CHILDREN + OTHERS
    ward_of = {c: WARD_A for c in CHILDREN} | {c: WARD_B for c in OTHERS}
    people = _people({CHILDREN[0]: _kids("a", 12), CHILDREN[1]: _kids("b", 4), CHILDREN[2]: _kids("c", 7)})
    shown = aggregate_up(people, cells, ward_of, suppress_below=10)
    parent = h3.str_to_int(PARENT)
    assert shown == {CHILDREN[0]: 12, parent: 11}
    members, left = areas_of(shown, cells, ward_of)
    assert members[CHILDREN[0]] == [CHILDREN[0]] and sorted(members[parent]) == CHILDREN[1:]
    assert sorted(left) == OTHERS, "every hexagon is in exactly one shown area or left out"


def test_what_a_parent_cannot_reach_is_joined_across_the_ward_and_the_rest_is_left_out():
    cells = CHILDREN + OTHERS
    ward_of = {c: WARD_A for c in CHILDREN + OTHERS[:3]} | {c: WARD_B for c in OTHERS[3:]}
    people = _people({CHILDREN[1]: _kids("b", 6), OTHERS[0]: _kids("o", 5), OTHERS[5]: _kids("q", 3)})
    shown = aggregate_up(people, cells, ward_of, suppress_below=10)
    assert shown == {WARD_A: 11}, "6 + 5 across ward A; ward B's 3 are left out, exactly like none"
    members, left = areas_of(shown, cells, ward_of)
    assert sorted(members[WARD_A]) == sorted(CHILDREN + OTHERS[:3]) and sorted(left) == sorted(OTHERS[3:])


def test_people_are_counted_once_per_area_however_many_hexagons_they_were_found_in():
    cells = CHILDREN
    ward_of = {c: WARD_A for c in cells}
    same_child_everywhere = _people({c: ["one child"] for c in CHILDREN} | {CHILDREN[0]: _kids("x", 8)})
    assert aggregate_up(same_child_everywhere, cells, ward_of, suppress_below=10) == {}, "9 children, not 15"


def test_rounding_is_the_10_5_rule():
    assert round_to_nearest({1: 10, 2: 12, 3: 13, 4: 17, 5: 18, 6: 250}, 5) == {1: 10, 2: 10, 3: 15, 4: 15, 5: 20,
                                                                                 6: 250}


# the differencing check can fail ---------------------------------------------------------------------------------
YEAR = (date(2025, 1, 1), date(2026, 1, 1))
FOUND = Population.of("missing_episodes.person_id at found")


def _number(cells, value, period=YEAR, population=FOUND):
    return Published(population, *period, frozenset(cells), value, "test")


def test_a_naive_publication_is_caught():
    parent = frozenset(CHILDREN)
    # a hexagon and the parent cell around it, both shown: 15 - 10 reveals 5 children in the other six hexagons
    assert differencing_leaks([_number([CHILDREN[0]], 10), _number(parent, 15)])
    # a ward total minus the areas shown inside it
    assert differencing_leaks([_number(CHILDREN[:3], 10), _number(CHILDREN[3:], 15), _number(parent, 30)])
    # the same area shown twice with different values (a late record between two views)
    assert differencing_leaks([_number(parent, 10), _number(parent, 15)])
    # a quarter and its year
    assert differencing_leaks([_number(parent, 10, (date(2025, 1, 1), date(2025, 4, 1))), _number(parent, 15)])
    # all young people against those who said they feel unsafe, in the same area
    unsafe = Population.of("survey_responses.response_id at location", {"feeling": "unsafe"})
    everyone = Population.of("survey_responses.response_id at location")
    assert differencing_leaks([_number(parent, 20, population=unsafe), _number(parent, 25, population=everyone)])


def test_a_partition_passes():
    parent = frozenset(CHILDREN)
    fine = [_number([CHILDREN[0]], 10), _number(parent - {CHILDREN[0]}, 15), _number(OTHERS, 10),
            _number(parent, 10, (date(2024, 1, 1), date(2025, 1, 1))),
            _number(parent, 15, population=Population.of("survey_responses.response_id at location"))]
    assert differencing_leaks(fine) == []
    assert differencing_leaks([_number(parent, 10), _number([CHILDREN[0]], 10)]) == [], "a difference of 0 is safe"


def test_naive_parent_cells_over_the_world_would_be_caught(world_store):  # noqa: F811
    """Publishing each busy hexagon and, beside it, each parent cell's whole count (the obvious way to "aggregate
    up") leaks on the synthetic world; the youth map's areas do not."""
    from geoservice.analysis.counts import study_cells

    cells = [int(c) for c in study_cells(world_store, [MERTON], 8)]
    pairs = world_store.people_by_cell("survey_responses", "location_cell_8", "response_id", time_field="answered_on",
                                       start=YEAR[0], end=YEAR[1], equals={"feeling": "unsafe"})
    pairs = pairs[pairs.cell.isin(cells)]
    naive = []
    for cell, group in pairs.groupby("cell"):
        if group.person.nunique() >= 10:
            naive.append(_number([cell], round_to_nearest({0: group.person.nunique()}, 5)[0]))
    parents = h3.cell_to_parent
    pairs["parent"] = [h3.str_to_int(parents(h3.int_to_str(int(c)), 7)) for c in pairs.cell]
    for parent, group in pairs.groupby("parent"):
        inside = [c for c in cells if h3.str_to_int(parents(h3.int_to_str(c), 7)) == parent]
        if group.person.nunique() >= 10:
            naive.append(_number(inside, round_to_nearest({0: group.person.nunique()}, 5)[0]))
    assert differencing_leaks(naive), "the naive publication reveals a small count somewhere"


def test_the_youth_map_counts_distinct_people_per_area_from_the_raw_file(world_store, world_dir):  # noqa: F811
    built = _build(world_store, "youth_area")
    config = built.config
    layer = next(layer for layer in config["layers"] if layer.get("people") and "missing" in layer["title"])
    raw = pd.read_csv(world_dir / "missing_episodes.csv", dtype=str).dropna(subset=["found_at", "found_latitude"])
    raw = raw[(raw.found_at >= "2025-01-01") & (raw.found_at < "2026-01-01")]
    raw["cell"] = [h3.latlng_to_cell(float(a), float(b), 8) for a, b in zip(raw.found_latitude, raw.found_longitude)]
    seen: set[str] = set()
    assert layer["areas"], "the default year shows areas"
    for area in layer["areas"]:
        cells = set(_cells_of(config, {"index": area["cells"]}))
        assert not cells & seen, "no hexagon in two areas"
        seen |= cells
        people = raw[raw.cell.isin(cells)].person_id.nunique()
        assert people >= 10 and area["value"] == int(np.floor(people / 5 + 0.5) * 5), (area["name"], people)
        assert area["name"] and area["covers"]
    table = next(t for t in config["tables"] if t["title"] == layer["title"])
    assert [row[2] for row in table["rows"]] == sorted((row[2] for row in table["rows"]), reverse=True)
    assert "left out" not in table["note"] or "fewer than 10" in table["note"]
