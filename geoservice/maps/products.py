"""Build a map product from its spec: the analysis results it shows, packed small for the page.

A page carries cells as their hexagon outlines (six vertices in 1e-5 degree steps, each after the first as a
difference from the one before), once for all layers; each layer lists the cells it colours and their values, and
the browser draws them. Only cells with something to show are sent. This keeps a six-borough map a few hundred
kilobytes where folium's plain GeoJSON of the same cells is megabytes (``benchmarks/maps.py``).

What each layer kind shows (``docs/maps.md``): ``hotspots`` (Gi* bins of the concern index), ``counts`` (one
concern-index component), ``emerging`` (emerging hot-spot patterns, with each month's bins for the time control),
``hotspot_areas`` (named areas), ``group_places`` (cells peer groups use, named), ``concern``, ``outreach``
(sessions or young people reached), ``gaps`` (hot-spot areas of concern ranked by concern per outreach session),
``distinct`` (distinct people per cell, suppressed and rounded: the only person-derived kind an aggregate map may
use) and ``boundaries``.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from .. import cells as h3cells

from ..analysis.counts import MonthlyConcern, layer_counts, monthly_concern, study_cells
from ..analysis.hotspot_areas import hotspot_report
from ..places import PlaceNamer, borough_names, named_places
from ..analysis.spacetime import emerging_hotspots
from ..analysis.windows import checked_window, max_years
from ..attribution import attributions_for
from ..store.db import Store
from .specs import (AreasLayer, BoundariesLayer, ConcernLayer, CountsLayer, DistinctLayer, EmergingLayer, GapsLayer,
                    GroupPlacesLayer, HotspotsLayer, Layer, MapPeriodError, MapSpec, MapSpecError, OutreachLayer,
                    PublicCountsLayer, WhereToActLayer)

SCALE = 100_000  # coordinates travel as whole numbers of 1e-5 degrees (about 1 m)

BIN_STYLE = {"kind": "classes", "values": [-3, -2, -1, 1, 2, 3],
             "colours": ["#2166ac", "#67a9cf", "#d1e5f0", "#fddbc7", "#ef8a62", "#b2182b"],
             "labels": ["cold spot, 99%", "cold spot, 95%", "cold spot, 90%", "hot spot, 90%", "hot spot, 95%",
                        "hot spot, 99%"]}
REDS = ["#ffffb2", "#fecc5c", "#fd8d3c", "#f03b20", "#bd0026"]
#: Outreach in blues beside concern in yellow-orange-red: the pair reads apart for colour-blind readers (ColorBrewer).
BLUES = ["#eff3ff", "#bdd7e7", "#6baed6", "#3182bd", "#08519c"]
PURPLES = ["#f2f0f7", "#cbc9e2", "#9e9ac8", "#756bb1", "#54278f"]


@dataclasses.dataclass
class MapData:
    """A built map: its spec, area, period, the page's data (``config``) and how many hexes open visible."""

    spec: MapSpec
    boroughs: tuple[str, ...]
    start: date
    end: date
    config: dict
    expected_hexes: int

    def to_folium(self):
        """The same layers on a ``folium.Map`` that works offline (``to_folium.py``)."""
        from .to_folium import to_folium

        return to_folium(self)

    def _repr_html_(self) -> str:
        """Shown inline in Jupyter: the offline page itself, in a frame."""
        from html import escape

        from .render import render_map_html

        return (f'<iframe srcdoc="{escape(render_map_html(self), quote=True)}" '
                'style="width:100%;height:620px;border:0" title="map"></iframe>')


# windows ---------------------------------------------------------------------------------------------------------
def _window_fields(spec: MapSpec) -> dict[str, str]:
    """The time field of each layer whose latest record ends a map's default window."""
    for layer in spec.layers:
        if isinstance(layer, DistinctLayer):
            return {layer.layer: layer.time_field}
    return {"incidents": "month", "missing_episodes": "found_at", "survey_responses": "answered_on",
            "outreach_sessions": "started_at"}


def window_layers(spec: MapSpec, store: Store) -> set[str]:
    """The layers whose records (anywhere) set a map's window: its default end, its earliest year."""
    return (set(_window_fields(spec)) | layers_read(spec, store)) & set(store.specs)


def _latest_date(store: Store, spec: MapSpec) -> date | None:
    fields = _window_fields(spec)
    found = {name: store.latest(name, field) for name, field in fields.items() if name in store.layer_tables}
    found = {name: pd.Timestamp(f).date() for name, f in found.items() if f is not None}
    # police data are published by month: when incidents are loaded, their latest month sets the window, so a
    # child found just after the turn of the month does not move it
    return found.get("incidents") or (max(found.values()) if found else None)


def _earliest_date(store: Store, spec: MapSpec) -> date | None:
    """The earliest record of the layers a fixed-window map counts (None when they hold none)."""
    found = [store.time_extent(layer.layer, layer.time_field)[0] for layer in spec.layers
             if isinstance(layer, (DistinctLayer, PublicCountsLayer)) and layer.layer in store.layer_tables]
    found = [pd.Timestamp(f).date() for f in found if f is not None]
    return min(found) if found else None


def offered_periods(store: Store, spec: MapSpec, *, today: date | None = None) -> list[str]:
    """The calendar years a fixed-window map offers, newest first: every year that has ended, from the year of the
    earliest record of its layers (none when there is no record). They never overlap, so no two can be differenced."""
    earliest = _earliest_date(store, spec)
    if not spec.fixed_windows or earliest is None:
        return []
    last_ended = pd.Period(today or date.today(), freq="Y") - 1
    first = pd.Period(earliest, freq="Y")
    return [str(last_ended - k) for k in range(max(0, (last_ended - first).n + 1))]


def map_window(store: Store, spec: MapSpec, *, start=None, end=None, period: str | None = None) -> tuple[date, date]:
    """The period a map covers: the spec's fixed calendar year (``period`` such as "2025"; only years that have
    ended; default the latest that has ended and has data), or a rolling window of ``window_months`` ending at
    ``end`` (default: the month after the latest record). A period or dates the map does not offer is a
    MapPeriodError (the request's fault)."""
    def latest() -> date:  # read only when the request leaves the window's end to the data
        return _latest_date(store, spec) or date.today()

    if spec.fixed_windows:
        if start is not None or end is not None:
            raise MapPeriodError(f"{spec.name} covers whole calendar years: give a period such as 2025, not dates")
        # by default the latest year with data that has ended: a year still running would change under the reader
        last_ended = pd.Period(date.today(), freq="Y") - 1
        text = str(period)[:20]
        if period and not re.fullmatch(r"\d{4}", str(period)):
            raise MapPeriodError(f"{text!r} is not a calendar year: give a year such as {last_ended} (the map "
                                 f"\u201c{spec.title}\u201d shows whole years; quarters and months are not offered)")
        chosen = pd.Period(str(period), freq="Y") if period else min(pd.Period(latest(), freq="Y"), last_ended)
        if chosen > last_ended:
            # a period still running changes under the reader: two views a day apart would differ by a few people
            raise MapPeriodError(f"{chosen} has not ended yet; the map \u201c{spec.title}\u201d shows whole "
                                 f"years that have ended (the latest is {last_ended})")
        earliest = _earliest_date(store, spec)
        if earliest is not None and (chosen + 1).start_time.date() <= earliest:
            raise MapPeriodError(f"there are no records before {earliest:%Y}: the map \u201c{spec.title}\u201d "
                                 f"covers {pd.Period(earliest, freq='Y')} to {last_ended}")
        return chosen.start_time.date(), (chosen + 1).start_time.date()
    if period is not None:
        raise MapPeriodError(f"{spec.name} uses a rolling window: give --from/--to, not a period")
    start, end = checked_window(start, end, max_window_years=max_years(store))
    end = end.date() if end is not None else (pd.Period(latest(), freq="M") + 1).start_time.date()
    start = start.date() if start is not None else (pd.Period(end, freq="M") - spec.window_months).start_time.date()
    checked_window(start, end, max_window_years=max_years(store))
    return start, end


# packing ---------------------------------------------------------------------------------------------------------
class CellTable:
    """Cells used by any layer, each encoded once: 12 integers per hexagon (see the module docstring)."""

    def __init__(self, origin: tuple[float, float]):
        self.origin = [round(origin[0] * SCALE), round(origin[1] * SCALE)]
        self.position: dict[int, int] = {}
        self.ints: list[int] = []

    def index(self, cell) -> int:
        """The cell's position in the table (a cell written as hex text or as an integer)."""
        cell = h3cells.int_of(cell)
        if cell not in self.position:
            ring = np.round(np.array(h3cells.boundary(cell)) * SCALE).astype(int)
            if len(ring) != 6:  # pentagons do not occur in Great Britain; refuse rather than draw them wrong
                raise MapSpecError(f"cell {cell} is not a hexagon")
            first = ring[0] - self.origin
            steps = np.diff(ring, axis=0)
            self.ints.extend(first.tolist() + steps.ravel().tolist())
            self.position[cell] = len(self.position)
        return self.position[cell]


def _paths(geometry, origin) -> list[list[int]]:
    polygons = getattr(geometry, "geoms", [geometry])
    out = []
    for polygon in polygons:
        for ring in [polygon.exterior, *polygon.interiors]:
            xy = np.round(np.asarray(ring.coords)[:, ::-1] * SCALE).astype(int)  # (lat, lng)
            xy = xy[np.r_[True, np.any(np.diff(xy, axis=0) != 0, axis=1)]]
            first = xy[0] - origin
            out.append(first.tolist() + np.diff(xy, axis=0).ravel().tolist())
    return out


def _breaks(values: pd.Series, classes: int = 5) -> list[float]:
    """Upper bounds of up to ``classes`` classes of the positive values (quantiles, whole numbers when counts)."""
    positive = values[values > 0]
    if positive.empty:
        return []
    qs = np.quantile(positive.to_numpy(float), np.linspace(0, 1, classes + 1)[1:])
    if np.allclose(positive, np.round(positive)):
        qs = np.ceil(qs)
    return sorted(set(float(q) for q in qs))


def _sequential(values: pd.Series, colours: list[str], unit: str) -> dict:
    breaks = _breaks(values)
    whole = bool(np.allclose(values, np.round(values)))
    labels = []
    for k, high in enumerate(breaks):
        low = breaks[k - 1] + (1 if whole else 0) if k else (1 if whole else 0)
        labels.append(_num(high) if whole and low >= high else f"{'' if whole else 'over '}{_num(low)}–{_num(high)}")
    return {"kind": "breaks", "breaks": breaks, "colours": colours[-len(breaks):] if breaks else [], "labels": labels,
            "unit": unit}


def _num(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def _shown(kind: str, layer: Layer) -> dict:
    """The start of a page layer: how it is drawn, its title in the layer control, and whether it opens visible."""
    return {"type": kind, "title": layer.title, "visible": layer.visible}


def _hex_layer(table: CellTable, spec_layer: Layer, series: pd.Series, style: dict, tooltip: str,
               *, keep=lambda s: s > 0) -> dict:
    """A layer colouring the cells of ``series`` (indexed by integer H3 cells) that ``keep`` selects."""
    shown = series[keep(series)]
    return {**_shown("hex", spec_layer), "index": [table.index(c) for c in shown.index],
            "values": [_plain_number(v) for v in shown.to_numpy()],
            "style": style, "tooltip": tooltip, "legend": True}


def _plain_number(value):
    value = float(value)
    return int(value) if value.is_integer() else round(value, 3)


# the map ---------------------------------------------------------------------------------------------------------
@dataclasses.dataclass
class MapContext:
    """One map being built: what every layer is computed over, and the results its layers share, each computed
    once per map (the named places and wards, the hot spots, and outreach once per measure)."""

    store: Store
    spec: MapSpec
    boroughs: tuple[str, ...]
    start: date
    end: date
    res: int
    cells: pd.Index
    table: CellTable
    as_of: date
    cache: dict = dataclasses.field(default_factory=dict, repr=False)

    def _once(self, key: str, compute):
        if key not in self.cache:
            self.cache[key] = compute()
        return self.cache[key]

    def names(self) -> tuple[pd.DataFrame, list[dict]]:
        """The boroughs' named places and the ward boundaries (hot spots and gaps both name areas)."""
        return self._once("names", lambda: (named_places(self.store, self.boroughs), self.wards()))

    def wards(self) -> list[dict]:
        """The ward boundaries (they name areas and are drawn), read once a map."""
        return self._once("wards", lambda: self.store.boundaries(("ward",)))

    def borough_cells(self, borough: str) -> pd.Index:
        """The study cells of one of the map's boroughs (each cell lies in one borough: its centre's)."""
        return self._once(f"cells:{borough}", lambda: study_cells(self.store, [borough], self.res))

    def hotspots(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """``hotspot_report`` over the map: per cell the concern index, its components and Gi* bins; and the areas."""
        def compute():
            places, wards = self.names()
            return hotspot_report(self.store, boroughs=self.boroughs, res=self.res, start=self.start, end=self.end,
                                  places=places, wards=wards, monthly=self.concern_months())

        return self._once("hotspots", compute)

    def concern_months(self) -> MonthlyConcern:
        """The concern index's components per cell and calendar month of the window, counted once for the map."""
        return self._once("concern months", lambda: monthly_concern(
            self.store, res=self.res, boroughs=self.boroughs, start=pd.Timestamp(self.start),
            end=pd.Timestamp(self.end), cells=self.cells))

    def monthly(self) -> pd.DataFrame:
        """The concern index per cell and calendar month of the window (cells x months, oldest first), shared by
        the hot-spot areas, emerging hot spots and where to act."""
        return self._once("monthly", lambda: self.concern_months().concern())

    def recent_outreach(self, weeks: int) -> tuple[pd.Series, pd.Series]:
        """Outreach per cell in the last ``weeks`` weeks of the window: sessions held, young people reached."""
        def compute():
            since = pd.Timestamp(self.end) - pd.Timedelta(weeks=weeks)
            return tuple(layer_counts(self.store, "outreach_sessions", self.cells, res=self.res, start=since,
                                      end=self.end, sum_field=field) for field in (None, "young_people_reached"))

        return self._once(f"recent outreach:{weeks}", compute)

    def outreach(self, measure: str) -> pd.Series:
        """Outreach per cell: sessions held, or the sum of ``measure`` (young people reached)."""
        return self._once(f"outreach:{measure}", lambda: layer_counts(
            self.store, "outreach_sessions", self.cells, res=self.res, start=self.start, end=self.end,
            sum_field=None if measure == "sessions" else measure))


def _context(store: Store, spec: MapSpec | None, boroughs: tuple, start: date, end: date, res: int, as_of):
    """A map's context over the boroughs' study cells, and the cells' centres (lat, lng)."""
    cells = study_cells(store, boroughs, res)
    centres = h3cells.centres(cells)
    table = CellTable((float(centres[:, 0].mean()), float(centres[:, 1].mean())))
    return MapContext(store, spec, boroughs, start, end, res, cells, table, pd.Timestamp(as_of).date()), centres


def build_map(store: Store, spec: MapSpec, *, boroughs, start=None, end=None, period: str | None = None,
              as_of=None, tile_url: str | None = None, progress=None) -> MapData:
    """Compute every layer of ``spec`` over ``boroughs`` (GSS codes) and pack the page's data. ``progress``:
    called as ``progress(done, total, what)`` before each layer and once at the end (a slow map says how far it is)."""
    step = progress or (lambda done, total, what: None)
    boroughs = tuple(boroughs)
    if not boroughs:
        raise MapSpecError("give at least one borough (GSS code)")
    start, end = map_window(store, spec, start=start, end=end, period=period)
    res = spec.resolution
    context, centres = _context(store, spec, boroughs, start, end, res, as_of or date.today())
    table = context.table
    layers: list[dict] = []
    frames, tables = None, []
    for number, spec_layer in enumerate(spec.layers):
        step(number, len(spec.layers), spec_layer.title)
        built = BUILDERS[spec_layer.kind](context, spec_layer)
        for layer in built.get("layers", []):
            layer["id"] = f"layer{len(layers)}"
            layers.append(layer)
        if built.get("frames"):
            frames = {**built["frames"], "layer": built["layers"][0]["id"]}
        if built.get("table"):
            tables.append(built["table"])
        tables.extend(built.get("tables", []))
    names = borough_names(store)
    area = ", ".join(names.get(b, b) for b in boroughs)
    period_label = f"{start:%d %b %Y} to {pd.Timestamp(end) - pd.Timedelta(days=1):%d %b %Y}"
    config = {
        "name": spec.name, "title": spec.title, "audience": spec.audience, "tier": spec.tier,
        "area": area, "period": period_label, "resolution": res, "description": " ".join(spec.description.split()),
        "attributions": attributions_for(store, layers_read(spec, store)), "origin": table.origin, "scale": SCALE,
        "bounds": [[float(centres[:, 0].min()), float(centres[:, 1].min())],
                   [float(centres[:, 0].max()), float(centres[:, 1].max())]],
        "hexes": table.ints, "layers": layers, "frames": frames, "tables": tables, "tileUrl": tile_url or None,
        "disclosure": dict(spec.disclosure),
    }
    if spec.tier == "aggregate":
        from .youth import finish

        finish(config, store=store, spec=spec, boroughs=boroughs, year=f"{start:%Y}")
    expected = sum(len(layer["index"]) for layer in layers if layer["type"] == "hex" and layer["visible"])
    step(len(spec.layers), len(spec.layers), "done")
    return MapData(spec, boroughs, start, end, config, expected)


def place_ranking(store: Store, *, boroughs, start, end, res: int = 9, top: int = 10, as_of=None) -> dict:
    """The "where to act" places of the concern index over [start, end), as the maps show them, for products that
    are not maps (the packs): ``table`` (title, note, columns, rows), ``points`` ([lat, lng, label, words]) and
    ``bins`` (Gi* bin per cell, int64-indexed)."""
    context, _ = _context(store, None, tuple(boroughs), pd.Timestamp(start).date(), pd.Timestamp(end).date(), res,
                          as_of or end)
    built = _build_where_to_act(context, WhereToActLayer(title="Where to act next", top=top))
    result, _ = context.hotspots()
    return {"table": built["table"], "points": built["layers"][0]["points"], "bins": result["bin"]}


def layers_read(spec: MapSpec, store: Store) -> set[str]:
    """The layers a map draws on: the concern index's (hot spots, counts, areas, gaps, emerging hot spots and where
    to act), outreach, the network's for peer-group places, a distinct-people layer's own, and always boundaries and
    places (which name areas). Its attributions, and what its cached copy depends on (``web/maps.py``)."""
    from ..analysis.counts import load_concern_index

    layers = {"boundaries", "places"}
    for layer in spec.layers:
        if isinstance(layer, (HotspotsLayer, CountsLayer, ConcernLayer, EmergingLayer, AreasLayer, GapsLayer,
                              WhereToActLayer)):
            layers |= {c.layer for c in load_concern_index()}
        if isinstance(layer, (OutreachLayer, GapsLayer)):
            layers.add("outreach_sessions")
        if isinstance(layer, GroupPlacesLayer):
            layers |= {"people", "associations", "missing_episodes", "incidents"}
        if isinstance(layer, (DistinctLayer, PublicCountsLayer)):
            layers.add(layer.layer)
    return layers & set(store.specs)


def reads_network(spec: MapSpec) -> bool:
    """Whether the map draws peer groups, whose members come from every borough (not only the map's)."""
    return any(isinstance(layer, GroupPlacesLayer) for layer in spec.layers)


def _build_hotspots(ctx: MapContext, layer: HotspotsLayer) -> dict:
    result, _ = ctx.hotspots()
    return {"layers": [_hex_layer(ctx.table, layer, result["bin"], BIN_STYLE, "Gi* {label}", keep=lambda s: s != 0)]}


def _build_counts(ctx: MapContext, layer: CountsLayer) -> dict:
    # the source is a component of the concern index (checked when the spec loaded), so a column of the report
    values = ctx.hotspots()[0][layer.source]
    return {"layers": [_hex_layer(ctx.table, layer, values, _sequential(values, REDS, "events"), "{value} events")]}


def _build_concern(ctx: MapContext, layer: ConcernLayer) -> dict:
    result, _ = ctx.hotspots()
    return {"layers": [_hex_layer(ctx.table, layer, result["concern"], _sequential(result["concern"], REDS, ""),
                                  "concern index {value}")]}


def _build_emerging(ctx: MapContext, layer: EmergingLayer) -> dict:
    cube = ctx.monthly()
    if cube.shape[1] < 3:  # the window is chosen at request time, so this is checked here, not when the spec loads
        raise MapSpecError("emerging hot spots need a window of at least three months")
    # against each place's own usual level by default: a steady busy place is not "new" (docs/analysis.md)
    emerging = emerging_hotspots(cube, expected=None if layer.expected == "mean" else "past")
    shown = emerging.summary.index[(emerging.summary.pattern != "no pattern").to_numpy()
                                   | (emerging.bins != 0).any(axis=1).to_numpy()]
    patterns = sorted(set(emerging.summary.loc[shown, "pattern"]) - {"no pattern"})
    colours = {p: ("#b2182b" if "hot" in p else "#2166ac") for p in patterns}
    style = {"kind": "categories", "values": patterns + ["no pattern"],
             "colours": [colours[p] for p in patterns] + ["#dddddd"],
             "labels": patterns + ["significant in some month"]}
    series = emerging.summary.loc[shown, "pattern"]
    hexes = {**_shown("hex", layer), "index": [ctx.table.index(c) for c in shown], "values": series.tolist(),
             "style": style, "tooltip": "{value}", "legend": True}
    frames = {"labels": list(cube.columns), "style": BIN_STYLE,
              "values": [emerging.bins.loc[shown, c].astype(int).tolist() for c in cube.columns]}
    return {"layers": [hexes], "frames": frames}


#: How many of the highest-ranked cells are gathered into named places (the "where to act" lists take their first
#: places from these, however long the list).
PLACE_CELLS = 150


def _places_to_act(ctx: MapContext, top: int) -> tuple[list[tuple[str, dict]], dict]:
    """``where_to_act`` on the months of the window, its cells gathered into the named places they are nearest (a
    panel acts on a park, not on a hexagon): up to ``top`` places in need order, each with its ``cells`` (ids),
    ``points`` (centres), ``score`` (expected next month), counts and flags; and the ranking's settings. Ranked
    and gathered once per map, however many layers (where to act, the gaps) ask."""
    ordered, settings = ctx._once("places to act", lambda: _gather_places(ctx))
    return ordered[:top], settings


def _gather_places(ctx: MapContext) -> tuple[list[tuple[str, dict]], dict]:
    from ..analysis.hotspots import where_to_act

    ranked = where_to_act(ctx.monthly())
    places, wards = ctx.names()
    namer = PlaceNamer(places)
    gathered: dict[str, dict] = {}
    # the same cells are gathered whatever ``top`` is, so a longer list (tasking's) agrees with a shorter one's places
    top = ranked[ranked["count"] > 0].head(PLACE_CELLS)
    centres = h3cells.centres(top.index) if len(top) else np.zeros((0, 2))
    ward_names = _wards_of(centres, wards)
    columns = [top[c].to_numpy() for c in ("score", "count", "last_3_months", "hot", "cluster")]
    for i, (cell, score, count, last_3, hot, cluster) in enumerate(zip(top.index, *columns)):
        lat, lng = float(centres[i, 0]), float(centres[i, 1])
        named = namer.near([cell], limit=1)
        place = " / ".join(p for p in (named[0] if named else "", ward_names[i]) if p) \
            or f"unnamed place {len(gathered) + 1}"
        if place not in gathered:
            gathered[place] = {"rank": len(gathered) + 1, "cells": [], "points": [], "score": 0.0, "count": 0,
                               "last_3": 0, "hot": False, "cluster": False}
        group = gathered[place]
        group["cells"].append(cell)
        group["points"].append((lat, lng))
        group["score"] += score
        group["count"] += int(count)
        group["last_3"] += int(last_3)
        group["hot"] |= bool(hot)
        group["cluster"] |= bool(cluster)
    ordered = sorted(gathered.items(), key=lambda item: (-item[1]["score"], item[1]["rank"]))
    for rank, (_, group) in enumerate(ordered, start=1):  # a place of several cells may outrank its first
        group["rank"] = rank
    return ordered, ranked.attrs["settings"]


def _build_where_to_act(ctx: MapContext, layer: WhereToActLayer) -> dict:
    """The places to act on next month (``_places_to_act``) as labelled points and a table; when the months are too
    few or too sparse to test, the table says so and still ranks."""
    from ..analysis.concentration import rate_interval

    ordered, settings = _places_to_act(ctx, layer.top)
    months = settings["months"]
    points, rows = [], []
    for place, group in ordered:
        lat, lng = np.mean(group["points"], axis=0)
        low, high = rate_interval(np.array([group["count"]]))
        flags = ", ".join(f for f, on in (("concentrated here", group["hot"]), ("part of a cluster", group["cluster"]))
                          if on) or "neither (too few to test, or not unusual)"
        cells = f"{len(group['cells'])} cells" if len(group["cells"]) > 1 else "1 cell"
        points.append([round(lat, 5), round(lng, 5), f"{group['rank']}. {place}",
                       f"{group['rank']}. {place} ({cells}): about {group['score']:.1f} next month; concern "
                       f"{group['count']} in the last {months} months, {group['last_3']} in the last 3; {flags}"])
        rows.append([group["rank"], place, f"{group['score']:.1f}", f"{low[0] / months:.1f}–{high[0] / months:.1f}",
                     group["count"], group["last_3"], flags])
    note = (settings["note"] or (f"Ranked by {settings['predictor_words']} (what best forecast the held-back "
                                 "months), each place's hexagons together.")) + (
        " Concern is the concern index: incidents weighted by type, with children found after going missing and "
        "young people's survey concern; it is not a count of incidents.")
    if not rows:
        note = "No incidents in this window, so there is nothing to rank."
    return {"layers": [{**_shown("points", layer), "points": points, "colour": "#b35806", "labels": True}],
            "table": {"title": layer.title, "note": note,
                      "columns": ["rank", "place (ward)", "expected next month", "usual per month (95%)",
                                  f"concern in the {months} months", "concern, last 3 months", "flags"],
                      "rows": rows}}


def _wards_of(points: np.ndarray, wards: list[dict]) -> list[str]:
    """The name of the ward holding each (lat, lng) point (empty when none does); the first ward listed wins."""
    import shapely

    names = [""] * len(points)
    if not len(points):
        return names
    lat, lng = points[:, 0], points[:, 1]
    for ward in reversed(wards):  # later wards first, so the first ward holding a point names it
        for i in np.flatnonzero(shapely.contains_xy(ward["geometry"], lng, lat)):
            names[i] = ward["name"]
    return names


def _build_areas(ctx: MapContext, layer: AreasLayer) -> dict:
    _, areas = ctx.hotspots()
    points = [[round(a.lat, 5), round(a.lng, 5), f"{a.area}. {a.name}",
               f"{a.name}: {a.n_cells} cells, concern {a.value:,.0f}, max z {a.max_z:.1f}"] for a in areas.itertuples()]
    return {"layers": [{**_shown("points", layer), "points": points, "colour": "#5b2a86", "labels": True}]}


def _build_group_places(ctx: MapContext, layer: GroupPlacesLayer) -> dict:
    from ..network.build import graph_from_evidence
    from ..network.identity import identified_child_groups
    from ..network.places import person_places
    from ..network.roles import group_summaries

    graph = graph_from_evidence(ctx.store, as_of=ctx.as_of, start=ctx.start, end=ctx.end)
    groups, ids = identified_child_groups(ctx.store, graph)
    visits = person_places(ctx.store, res=ctx.res, as_of=ctx.as_of, start=ctx.start, end=ctx.end, graph=graph)
    summary = group_summaries(graph, groups, visits=visits, namer=PlaceNamer(named_places(ctx.store)), ids=ids)
    inside = set(ctx.cells.tolist())
    points = []
    for row in summary.itertuples():
        for place in row.places:
            if h3cells.int_of(place["cell"]) in inside:
                lat, lng = h3cells.centre(place["cell"])
                name = place["name"] or "unnamed place"
                points.append([round(lat, 5), round(lng, 5), f"group {row.group}",
                               f"Peer group {row.group} ({row.size} children): {name}, {place['visits']} visits by "
                               f"{place['people']}"])
    return {"layers": [{**_shown("points", layer), "points": points, "colour": "#1b7837", "labels": False}]}


def _build_outreach(ctx: MapContext, layer: OutreachLayer) -> dict:
    values = ctx.outreach(layer.measure)
    unit = "sessions" if layer.measure == "sessions" else "young people reached"
    return {"layers": [_hex_layer(ctx.table, layer, values, _sequential(values, BLUES, unit), "{value} " + unit)]}


def _coverage(ctx: MapContext, rule, consider: int) -> pd.DataFrame:
    """The ``consider`` places of most need (``_places_to_act``) with the outreach around them in the rule's last
    weeks and their status (``analysis.tasking``), with each place's centre (``lat``, ``lng``)."""
    from ..analysis.tasking import outreach_coverage

    ordered, _ = _places_to_act(ctx, consider)
    need = pd.DataFrame([{"place": place, "cells": group["cells"], "need": group["score"]} for place, group in ordered],
                        columns=["place", "cells", "need"])
    sessions, reached = ctx.recent_outreach(rule.weeks)
    coverage = outreach_coverage(need, sessions, reached, rule)
    centres = [np.mean(group["points"], axis=0) for _, group in ordered]
    return coverage.assign(lat=[round(float(c[0]), 5) for c in centres], lng=[round(float(c[1]), 5) for c in centres])


def _build_gaps(ctx: MapContext, layer: GapsLayer) -> dict:
    """Where outreach is missing: of the places of most need, those uncovered or under-covered by the explicit rule
    (``analysis.tasking.CoverageRule``), ranked by need, outlined and labelled; the covered places apart, marked and
    in their own table, so a place that already gets outreach is never listed as a gap."""
    from ..analysis.tasking import CoverageRule, gaps_and_covered

    rule = CoverageRule(weeks=layer.weeks, under_covered_below=layer.under_covered_below, ring=layer.ring)
    gaps, covered = gaps_and_covered(_coverage(ctx, rule, layer.consider), top=layer.top)
    index, values, points, gap_rows = [], [], [], []
    for rank, row in enumerate(gaps.itertuples(), start=1):
        for c in row.cells:
            index.append(ctx.table.index(c))
            values.append(rank)
        points.append([row.lat, row.lng, f"gap {rank}",
                       f"Gap {rank}: {row.place}: {row.status}; need {row.need:.1f} next month (rank {row.rank}); "
                       f"{row.sessions} sessions reaching {row.reached} young people in {rule.weeks} weeks"])
        gap_rows.append([rank, row.place, row.status, f"{row.need:.1f}", row.rank, row.sessions, row.reached])
    covered_points = [[row.lat, row.lng, "covered",
                       f"Covered: {row.place}: {row.sessions} sessions reaching {row.reached} young people in "
                       f"{rule.weeks} weeks; need {row.need:.1f} next month (rank {row.rank})"]
                      for row in covered.itertuples()]
    covered_rows = [[row.rank, row.place, f"{row.need:.1f}", row.sessions, row.reached] for row in covered.itertuples()]
    note = (f"Of the {layer.consider} places of most need (the 'where to act' ranking), {rule.words()}. "
            + ("" if gap_rows else "None of them is uncovered or under-covered."))
    # outlined in near-black: it reads over the concern index's reds and the outreach blues alike
    style = {"kind": "outline", "colour": "#1a1a1a", "labels": ["gap (ranked on the list)"]}
    return {"layers": [{**_shown("hex", layer), "index": index, "values": values, "style": style,
                        "tooltip": "gap {value}", "legend": True},
                       {**_shown("points", layer), "title": layer.title + ": labels", "points": points,
                        "colour": "#1a1a1a", "labels": True},
                       {**_shown("points", layer), "title": "Covered places of high need", "points": covered_points,
                        "colour": "#2166ac", "labels": False, "legend": True}],
            "tables": [{"title": layer.title, "note": note,
                        "columns": ["gap", "place (ward)", "status", "need (expected next month)", "need rank",
                                    f"sessions in {rule.weeks} weeks", "young people reached"],
                        "rows": gap_rows},
                       {"title": f"Covered: places of high need with outreach ({rule.under_covered_below} or more "
                                 f"sessions in {rule.weeks} weeks)", "note": "Listed apart: these are not gaps.",
                        "columns": ["need rank", "place (ward)", "need (expected next month)",
                                    f"sessions in {rule.weeks} weeks", "young people reached"],
                        "rows": covered_rows}]}


def tasking_coverage(store: Store, *, boroughs, start, end, rule=None, consider: int = 20, res: int = 9,
                     as_of=None) -> pd.DataFrame:
    """The places of most need in ``boroughs`` over [start, end) with their outreach in the rule's last weeks and
    status (uncovered / under-covered / covered), in need order: for the tasking page and sheet."""
    from ..analysis.tasking import CoverageRule

    context, _ = _context(store, None, tuple(boroughs), pd.Timestamp(start).date(), pd.Timestamp(end).date(), res,
                          as_of or end)
    return _coverage(context, rule or CoverageRule(), consider)


def suppress(counts: pd.Series, *, suppress_below: int, round_to: int) -> pd.Series:
    """The 10-5 rule: counts from 1 to ``suppress_below - 1`` become 0, the others are rounded to the nearest
    ``round_to`` (halves up). A hidden small count and a true zero look the same, since telling them apart would
    say that someone is there."""
    counts = counts.astype("int64")
    rounded = (np.floor(counts / round_to + 0.5) * round_to).astype("int64")
    return rounded.where(counts >= suppress_below, 0).astype("int64")


def publication_key(spec: MapSpec, layer: DistinctLayer, res: int) -> str:
    """What a published aggregate counted and how it was protected, as a short digest: two products counting the
    same thing the same way share their published numbers."""
    import hashlib
    import json

    # the same values, under the same names, as when layers were plain dicts (filter None when the spec has none):
    # a different digest would unfreeze the numbers already published
    what: dict[str, object] = {
        "layer": layer.layer, "location": layer.location, "person": layer.person, "time_field": layer.time_field,
        "filter": None if layer.filter is None else dict(layer.filter)}
    what.update(res=res, disclosure=dict(spec.disclosure))
    return hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()[:32]


def _build_distinct(ctx: MapContext, layer: DistinctLayer) -> dict:
    """Distinct young people per area: hexagons joined up to their parent cell, then their ward, until 10 or more,
    published once and frozen (``youth.py`` says why this is safe under differencing)."""
    from .youth import build_distinct

    return build_distinct(ctx, layer)


def _build_public_counts(ctx: MapContext, layer: PublicCountsLayer) -> dict:
    from .youth import build_public_counts

    return build_public_counts(ctx, layer)


def _suppressed_labels(below: int, step: int) -> list[str]:
    """Legend labels for counts of at least ``below`` rounded to ``step``: e.g. 10, 15-20, 25-50, 55 or more."""
    labels, low = [str(below)], below + step
    for high in (2 * below, 5 * below):
        labels.append(f"{low}-{high}" if low < high else str(high))
        low = high + step
    labels.append(f"{low} or more")
    return labels


def _build_boundaries(ctx: MapContext, layer: BoundariesLayer) -> dict:
    rows = ctx.wards() if layer.level == "ward" else ctx.store.boundaries((layer.level,))
    key = "code" if layer.level == "borough" else "borough_code"
    chosen = [b for b in rows if b[key] in ctx.boroughs]
    origin = np.array(ctx.table.origin)
    shown = {**_shown("lines", layer), "paths": [_paths(b["geometry"], origin) for b in chosen],
             "names": [b["name"] for b in chosen], "colour": "#333333" if layer.level == "borough" else "#888888",
             "weight": 2.5 if layer.level == "borough" else 1}
    if layer.labels:  # each name at a point inside its polygon
        points = [b["geometry"].representative_point() for b in chosen]
        shown["labels"] = [[round(p.y, 5), round(p.x, 5), b["name"]] for p, b in zip(points, chosen)]
    return {"layers": [shown]}


#: One builder per layer kind: from the map's context and a typed layer to the page's layers (and frames, a table).
BUILDERS: dict[str, Callable[[MapContext, Any], dict]] = {
    "hotspots": _build_hotspots, "counts": _build_counts, "concern": _build_concern, "emerging": _build_emerging,
    "hotspot_areas": _build_areas, "group_places": _build_group_places, "outreach": _build_outreach,
    "gaps": _build_gaps, "distinct": _build_distinct, "public_counts": _build_public_counts,
    "boundaries": _build_boundaries,
    "where_to_act": _build_where_to_act}
