"""The youth map's numbers: distinct young people per area, joined up until the area is safe to show.

A hexagon with fewer than ``suppress_below`` (10) distinct young people is not greyed out: it is joined with the
other such hexagons of its parent cell (one resolution coarser), and what is still too few is joined across its
ward. Per borough, layer and calendar year:

1. a hexagon with 10 or more young people is shown by itself;
2. the other hexagons of each parent cell (those in the borough) are joined, and shown together if they have 10 or
   more;
3. the hexagons left in each ward are joined, and shown together if they have 10 or more;
4. what is left is not shown: fewer than 10 young people across the rest of a ward, or none (the two look the same,
   since telling them apart would say someone is there).

Why this is safe under differencing: every hexagon of the borough lies in exactly one shown area or in what is
left out, so no shown area contains or overlaps another, and no difference of two shown numbers is the count of a
smaller area. Counts are of distinct people over the whole area (one person found in two hexagons of an area is
one person), rounded to ``round_to``. The areas and their numbers are published together the first time a year is
shown (``Store.publish(whole=True)``) and never change afterwards, so a late record cannot move a hexagon from one
area to another between two views. Each borough is its own partition, so a view of two boroughs is exactly the
union of the two one-borough views. Years never overlap and quarters are not offered. No total is published.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import zlib
from collections import defaultdict

import numpy as np
import pandas as pd

from .. import cells as h3cells

#: Kinds of shown area, in the order they are tried.
HEXAGON, PARENT, WARD = "hexagon", "parent", "ward"


# the partition (pure: unit-tested without a store) ----------------------------------------------------------------
def ward_key(code: str) -> int:
    """The published id of a ward's area: minus its GSS number (E05000455 -> -5000455), so it never collides with a
    cell (cells are positive). Codes that are not GSS codes get a stable checksum instead."""
    if re.fullmatch(r"[EWSN]\d{8}", code):
        return -int(code[1:])
    return -(zlib.crc32(code.encode()) + 1)


def aggregate_up(people: pd.DataFrame, cells, ward_of: dict[int, int], *, suppress_below: int) -> dict[int, int]:
    """The areas to show, as ``{area key: distinct people}``, for one borough.

    ``people``: distinct (cell, person) pairs; ``cells``: the borough's hexagons (int); ``ward_of``: each hexagon's
    ward key (``ward_key``). A key is the hexagon itself, its parent cell (for the joined hexagons of a parent) or a
    ward key (for the rest of a ward); ``areas_of`` gives each key's hexagons."""
    cells = [int(c) for c in cells]
    inside = set(cells)
    who: dict[int, set] = defaultdict(set)
    for cell, person in zip(people["cell"].to_numpy().tolist(), people["person"].tolist()):
        if int(cell) in inside:
            who[int(cell)].add(person)
    shown: dict[int, int] = {}
    for cell in cells:
        if len(who[cell]) >= suppress_below:
            shown[cell] = len(who[cell])
    groups: list[dict[int, list[int]]] = [defaultdict(list), defaultdict(list)]
    rest = [c for c in cells if c not in shown]
    for cell, parent in zip(rest, _parents(rest)):
        groups[0][parent].append(cell)
    left: list[int] = []
    for parent, members in groups[0].items():
        joined = set().union(*(who[c] for c in members))
        if len(joined) >= suppress_below:
            shown[parent] = len(joined)
        else:
            left += members
    for cell in left:
        groups[1][ward_of[cell]].append(cell)
    for ward, members in groups[1].items():
        joined = set().union(*(who[c] for c in members))
        if len(joined) >= suppress_below:
            shown[ward] = len(joined)
    return shown


def areas_of(keys, cells, ward_of: dict[int, int]) -> tuple[dict[int, list[int]], list[int]]:
    """Each shown area's hexagons, from the area keys alone (so published keys give back the same areas), and the
    hexagons left out. A hexagon belongs to itself if shown, else to its parent if shown, else to its ward if
    shown."""
    keys = [int(k) for k in keys]
    out: dict[int, list[int]] = {k: [] for k in keys}
    left = []
    cells = [int(c) for c in cells]
    for cell, parent in zip(cells, _parents(cells)):
        owner = next((k for k in (cell, parent, ward_of[cell]) if k in out), None)
        if owner is None:
            left.append(cell)
        else:
            out[owner].append(cell)
    return out, left


def _parents(cells: list[int]) -> list[int]:
    if not cells:
        return []
    res = h3cells.resolution(cells[0])
    return [int(p) for p in h3cells.cells_to_parents(np.array(cells, dtype=np.uint64), res - 1).astype(np.int64)]


def kind_of(key: int, res: int) -> str:
    """Whether an area key is a hexagon, a parent cell or a ward."""
    if key < 0:
        return WARD
    return HEXAGON if h3cells.resolution(key) == res else PARENT


def round_to_nearest(counts: dict[int, int], step: int) -> dict[int, int]:
    """Counts rounded to the nearest ``step`` (halves up), as the 10-5 rule rounds."""
    return {k: int(np.floor(v / step + 0.5) * step) for k, v in counts.items()}


def area_publication_key(base_key: str, borough: str) -> str:
    """The publication id of one borough's areas of a layer: the layer's own key (``publication_key``), the
    joining rule's version and the borough."""
    return hashlib.sha256(f"{base_key}|areas-v1|{borough}".encode()).hexdigest()[:32]


# what the page shows -----------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class ShownArea:
    """One area as the page shows it: its key, kind, name, what it covers in words, its hexagons and number."""

    key: int
    kind: str
    name: str
    covers: str
    cells: tuple[int, ...]
    value: int
    label_at: tuple[float, float]


def wards_of_cells(cells, wards: list[dict]) -> tuple[dict[int, int], dict[int, str]]:
    """Each hexagon's ward key (the ward holding its centre, else the nearest ward of the list), and each ward
    key's name."""
    import shapely

    names = {ward_key(w["code"]): w["name"] for w in wards}
    cells = [int(c) for c in cells]
    if not cells or not wards:
        return {c: ward_key("unknown") for c in cells}, names
    centres = h3cells.centres(cells)
    points = shapely.points(centres[:, 1], centres[:, 0])
    found: dict[int, int] = {}
    for ward in wards:
        inside = shapely.contains(ward["geometry"], points)
        for cell, hit in zip(cells, inside):
            if hit and cell not in found:
                found[cell] = ward_key(ward["code"])
    for cell, point in zip(cells, points):
        if cell not in found:
            nearest = min(wards, key=lambda w: w["geometry"].distance(point))
            found[cell] = ward_key(nearest["code"])
    return found, names


def describe(key: int, members: list[int], *, res: int, namer, ward_names: dict[int, str],
             ward_of: dict[int, int]) -> tuple[str, str]:
    """A name for an area and what it covers, in words: the named places nearest it and its wards."""
    kind = kind_of(key, res)
    if kind == WARD:
        ward = ward_names.get(key, "its ward")
        return (f"Rest of {ward}", f"the rest of {ward} ward: {_hexagons(len(members))} not in the areas above, "
                                   "joined")
    wards = sorted({ward_names.get(ward_of[c], "") for c in members} - {""})
    places = [p for p in (namer.near(members, limit=6) if namer is not None else []) if _readable(p)][:2]
    where = " and ".join(places) if places else "no named place"
    in_wards = f", in {_and(wards)} {'ward' if len(wards) == 1 else 'wards'}" if wards else ""
    if kind == HEXAGON:
        name = f"{places[0]} ({wards[0]})" if places and wards else (places[0] if places else f"Part of {wards[0]}"
                                                                      if wards else "Area")
        return name, f"one hexagon near {where}{in_wards}"
    name = f"Around {places[0]}" if places else (f"Part of {_and(wards)}" if wards else "Area")
    return name, f"{_hexagons(len(members))} around {where}{in_wards}, joined"


def _readable(name: str) -> bool:
    """A place name a reader would recognise (not an OpenStreetMap placeholder such as "(Unoccupied)")."""
    return bool(name) and not name.startswith("(") and name[:1].isupper()


def _and(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _hexagons(n: int) -> str:
    return "one hexagon" if n == 1 else f"{n} neighbouring hexagons"


def label_point(members: list[int]) -> tuple[float, float]:
    """Where an area's label goes: the centre of its hexagon nearest the middle of them all (always inside it)."""
    centres = h3cells.centres(members)
    middle = centres.mean(axis=0)
    best = centres[np.argmin(((centres - middle) ** 2).sum(axis=1))]
    return round(float(best[0]), 5), round(float(best[1]), 5)


def explanation(rule: dict, *, year: str) -> str:
    """How the numbers were made safe, in plain words for a youth worker."""
    below, step = rule["suppress_below"], rule["round_to"]
    return (f"Each number is how many different young people, in {year}. To keep every young person from being "
            f"identified, a hexagon with fewer than {below} young people is joined with the hexagons around it, and "
            f"then with the rest of its ward, until together they have {below} or more. Numbers are rounded to the "
            f"nearest {step}. Where even the rest of a ward has fewer than {below} (or none), nothing is shown. "
            "Numbers for a year never change once shown.")


# builders (called from products.BUILDERS) --------------------------------------------------------------------------
def build_distinct(ctx, layer) -> dict:
    """A ``distinct`` layer: the shown areas, per borough, coloured by their rounded number, outlined, labelled
    and listed in a table (largest first), with how many areas were left out and why."""
    from .products import PURPLES, _paths, _suppressed_labels, publication_key

    rule = {k: int(v) for k, v in ctx.spec.disclosure.items()}
    below, step = rule["suppress_below"], rule["round_to"]
    places, wards = ctx.names()
    from ..places import PlaceNamer

    namer = PlaceNamer(places) if len(places) else None
    base = publication_key(ctx.spec, layer, ctx.res)
    period = f"{ctx.start}..{ctx.end}"
    shown: list[ShownArea] = []
    left_out = 0
    for borough in ctx.boroughs:
        cells = ctx.borough_cells(borough)
        ward_of, ward_names = wards_of_cells(cells, [w for w in wards if w["borough_code"] == borough])
        people = ctx.store.people_by_cell(layer.layer, f"{layer.location}_cell_{ctx.res}", layer.person,
                                          time_field=layer.time_field, start=ctx.start, end=ctx.end,
                                          equals=None if layer.filter is None else dict(layer.filter))
        people = people[people["cell"].isin(set(int(c) for c in cells))]
        values: dict[int, int] = {}
        if len(people):  # a year with no record at all is not published (nothing to protect yet, nor frozen at 0)
            counted = round_to_nearest(aggregate_up(people, cells, ward_of, suppress_below=below), step)
            published = ctx.store.publish(area_publication_key(base, borough), period,
                                          pd.Series(counted, dtype="int64"), whole=True)
            values = {int(k): int(v) for k, v in published.items() if v > 0}
        members, left = areas_of(values, cells, ward_of)
        left_out += len({ward_of[c] for c in left})
        for key, value in values.items():
            if not members[key]:
                continue
            name, covers = describe(key, members[key], res=ctx.res, namer=namer, ward_names=ward_names,
                                    ward_of=ward_of)
            shown.append(ShownArea(key, kind_of(key, ctx.res), name, covers, tuple(members[key]), value,
                                   label_point(members[key])))
    shown.sort(key=lambda a: (-a.value, a.name))
    index, values, tips, outlines, labels = [], [], [], [], []
    origin = np.array(ctx.table.origin)
    for area in shown:
        for cell in area.cells:
            index.append(ctx.table.index(cell))
            values.append(area.value)
            tips.append(f"{area.name}: {area.value} young people ({area.covers})")
        outlines += _paths(_outline(area.cells), origin)
        labels.append([*area.label_at, str(area.value)])
    classes = {"kind": "suppressed", "breaks": [below, 2 * below, 5 * below, 1e9], "colours": PURPLES[1:],
               "labels": _suppressed_labels(below, step),
               "suppressed": f"not coloured: fewer than {below} young people even across the rest of the ward, or "
                             "none", "unit": "young people"}
    hexes = {"type": "hex", "title": layer.title, "visible": layer.visible, "index": index, "values": values,
             "style": classes, "tooltip": "{value} young people", "legend": True, "tips": tips, "borderless": True,
             "outlines": outlines, "labels": labels, "people": True,
             "population": {"of": f"{layer.layer}.{layer.person} at {layer.location} by {layer.time_field}",
                            "where": dict(layer.filter or {})},
             "areas": [{"key": a.key, "kind": a.kind, "name": a.name, "covers": a.covers, "value": a.value,
                        "cells": [ctx.table.index(c) for c in a.cells]} for a in shown]}
    wards_word = "ward" if left_out == 1 else "wards"
    note = (f"{len(shown)} areas shown, largest first. In {left_out} {wards_word} some hexagons are not coloured: "
            f"even joined across the rest of the ward they had fewer than {below} young people, or none."
            if shown else f"Nothing to show for this year: no area had {below} or more young people, even joined "
                          "across a whole ward (there may be none).")
    table = {"title": layer.title, "note": note, "columns": ["area", "what it covers", "young people"],
             "rows": [[a.name, a.covers, a.value] for a in shown], "layer": layer.title}
    return {"layers": [hexes], "table": table}


def _outline(cells):
    """The outline of a group of hexagons (a shapely geometry)."""
    import shapely

    return shapely.union_all([shapely.Polygon([(lng, lat) for lat, lng in h3cells.boundary(c)]) for c in cells]
                             ).buffer(0)


BLUES = ["#eff3ff", "#bdd7e7", "#6baed6", "#3182bd", "#08519c"]


def build_public_counts(ctx, layer) -> dict:
    """A ``public_counts`` layer: rows of a public open-data layer per hexagon in the year, not suppressed (its
    source publishes them at street level), with the count of each value of ``by`` in the tooltip."""
    from ..analysis.counts import layer_counts
    from .products import _sequential

    spec = ctx.store.specs[layer.layer]
    location = spec.locations[0].name
    total = layer_counts(ctx.store, layer.layer, ctx.cells, res=ctx.res, location=location,
                         time_field=layer.time_field, start=ctx.start, end=ctx.end)
    shown = total[total > 0]
    parts: dict[int, list[tuple[int, str]]] = defaultdict(list)
    if layer.by is not None:
        for value in spec.field(layer.by).allowed or ():
            counts = layer_counts(ctx.store, layer.layer, shown.index, res=ctx.res, location=location,
                                  time_field=layer.time_field, start=ctx.start, end=ctx.end,
                                  filters={layer.by: value})
            for cell, n in counts[counts > 0].items():
                parts[int(cell)].append((int(n), value))
    tips = []
    for cell, n in shown.items():
        top = sorted(parts[int(cell)], key=lambda p: (-p[0], p[1]))
        detail = ", ".join(f"{k} {v.lower()}" for k, v in top[:4]) + (", ..." if len(top) > 4 else "")
        tips.append(f"{layer.title}: {int(n)} in the year" + (f" ({detail})" if detail else ""))
    style = _sequential(shown, BLUES, "incidents")
    return {"layers": [{"type": "hex", "title": layer.title, "visible": layer.visible,
                        "index": [ctx.table.index(c) for c in shown.index],
                        "values": [int(v) for v in shown.to_numpy()], "style": style, "tooltip": "{value} incidents",
                        "legend": True, "tips": tips, "public": True}]}


def finish(config: dict, *, store, spec, boroughs, year: str) -> None:
    """What the youth page adds to a built map: one people layer open at first (the first that shows something),
    the years on offer, a plain-words explanation and a notice when the year has nothing to show."""
    from .products import offered_periods

    people = [layer for layer in config["layers"] if layer.get("people")]
    with_areas = [layer for layer in people if layer["areas"]]
    default = (with_areas or people or [None])[0]
    for layer in people:
        layer["visible"] = layer is default
    config["boroughs"] = list(boroughs)
    config["periods"] = offered_periods(store, spec)
    config["period_value"] = year
    config["explain"] = explanation(dict(spec.disclosure), year=year)
    config["notice"] = None if with_areas or not people else (
        f"Nothing to show for {year}: no area had {spec.disclosure['suppress_below']} or more young people on any "
        "layer, even joined across a whole ward (there may be none). Try another year.")
