"""From the store to the counts hot-spot analyses take: study-area cells, layer counts, the concern index.

The study area is every cell whose centre lies in the chosen boroughs' polygons (from the boundaries layer),
never only the cells that happen to hold events; cells with nothing are zeros. Counts come from each layer's
stored cell columns (``<location>_cell_<res>``), so any layer, location, resolution (7-10), borough set and time
window works the same way.
"""

from __future__ import annotations

import dataclasses
import functools
import tomllib
from pathlib import Path

import pandas as pd

from ..store.db import Store
from ..store.tables import cell_column
from ..cells import polygons_to_cells
from ..errors import SetupError
from .hotspots import HotspotInputError

DEFAULT_CONCERN_INDEX = Path(__file__).with_name("concern_index.toml")


def study_cells(store: Store, boroughs, res: int) -> pd.Index:
    """Cells of the given boroughs (GSS codes) at ``res``, filled from the boundaries layer."""
    if res not in store.resolutions:
        raise HotspotInputError(f"res must be one of the stored resolutions {list(store.resolutions)}, got {res}")
    wanted = set(boroughs)
    loaded = store.boundaries(("borough",))
    if not loaded:
        raise SetupError("no borough boundaries are loaded, so there is no study area to count in; load them first: "
                         "geoservice ingest boundaries <data>/london_boroughs.geojson")
    chosen = [b for b in loaded if b["code"] in wanted]
    polygons = [b["geometry"] for b in chosen]
    found = {b["code"] for b in chosen}
    if found != wanted:
        raise HotspotInputError(f"boroughs {sorted(wanted - found)} are not in the boundaries layer")
    return polygons_to_cells(polygons, res)


def layer_counts(store: Store, layer: str, cells: pd.Index, *, res: int, location: str | None = None,
                 time_field: str | None = None, start=None, end=None, filters: dict | None = None,
                 sum_field: str | None = None, distinct_field: str | None = None) -> pd.Series:
    """Events of ``layer`` per cell of ``cells`` (zeros included) in [start, end) of ``time_field``; with
    ``sum_field``, the sum of that numeric field instead; with ``distinct_field``, the number of distinct values
    of that field (distinct people rather than events)."""
    location, time_field, filters = _checked(store, layer, location, time_field, filters, sum_field, distinct_field)
    counts = store.count_by_cell(layer, cell_column(location, res), time_field=time_field, start=start, end=end,
                                 equals=filters, sum_field=sum_field, distinct_field=distinct_field)
    return counts.reindex(cells, fill_value=0).astype("int64").rename(sum_field or distinct_field or layer)


def layer_cube(store: Store, layer: str, cells: pd.Index, *, res: int, start, end, location: str | None = None,
               time_field: str | None = None, filters: dict | None = None) -> pd.DataFrame:
    """Events of ``layer`` per cell of ``cells`` (rows, zeros included) and calendar month in [start, end) of
    ``time_field`` (columns, monthly Periods, months without data zeros), in one query (``Store.count_by_cell_month``)
    rather than one per month: the cube ``emerging_hotspots`` takes, as ``parquet_cube`` reads it from Parquet.
    A window starting or ending mid-month clips its first or last month (``month_windows``), so the columns add up
    to the window's ``layer_counts``."""
    location, time_field, filters = _checked(store, layer, location, time_field, filters)
    if time_field is None:
        raise HotspotInputError(f"layer {layer!r} has no time field to count months of")
    counts = store.count_by_cell_month(layer, cell_column(location, res), time_field=time_field, start=start,
                                       end=end, equals=filters, cells=cells)
    return _cube(counts, cells, start, end)


def _cube(counts: pd.Series, cells: pd.Index, start, end) -> pd.DataFrame:
    """Counts indexed by (cell, month's first day) as cells (rows, zeros included) x the window's months
    (``month_windows``: the one definition, columns as monthly Periods, months without data zeros)."""
    from .windows import month_windows

    months = pd.PeriodIndex([label for label, _, _ in month_windows(start, end)], freq="M")
    cube = pd.Series(counts.to_numpy(), index=pd.MultiIndex.from_arrays(
        [counts.index.get_level_values("cell"), counts.index.get_level_values("month").to_period("M")],
        names=["cell", "month"])).unstack(fill_value=0) if len(counts) else pd.DataFrame()
    return cube.reindex(index=cells, columns=months, fill_value=0).astype("int64")


def _checked(store: Store, layer: str, location, time_field, filters, *fields) -> tuple:
    """``(location, time_field, filters)`` of a count of ``layer``, defaults filled (its first location and time
    field); an error naming what the layer lacks when one of them, or of ``fields`` (not None), is not its own."""
    spec = store.specs[layer]
    if not spec.locations:
        raise HotspotInputError(f"layer {layer!r} has no locations to count")
    location = location or spec.locations[0].name
    if location not in [loc.name for loc in spec.locations]:
        raise HotspotInputError(f"layer {layer!r} has no location {location!r}; "
                                f"it has {[loc.name for loc in spec.locations]}")
    time_field = time_field or (spec.time_fields[0] if spec.time_fields else None)
    filters = dict(filters or {})
    for name in filters:
        if name not in spec.field_names:
            raise HotspotInputError(f"layer {layer!r} has no field {name!r} to filter on")
    for extra in fields:
        if extra is not None and extra not in spec.field_names:
            raise HotspotInputError(f"layer {layer!r} has no field {extra!r}")
    return location, time_field, filters


@dataclasses.dataclass(frozen=True)
class MonthlyConcern:
    """The concern index's components counted per cell and month of one window, once, for every product that
    needs the window's totals or its months (hot-spot areas, emerging hot spots, where to act, tables)."""

    components: tuple
    counts: dict  # component name -> cells x months (int64)
    settings: dict

    def concern(self) -> pd.DataFrame:
        """The weighted concern index per cell (rows) and month (columns)."""
        first = self.counts[self.components[0].name]
        total = pd.DataFrame(0.0, index=first.index, columns=first.columns)
        for c in self.components:
            total += c.weight * self.counts[c.name]
        return total

    def window(self) -> pd.DataFrame:
        """What ``concern_index`` gives for the whole window: each component's count and ``concern``."""
        first = self.counts[self.components[0].name]
        return _concern_frame(self.components, first.index, lambda c: self.counts[c.name].sum(axis=1).astype("int64"),
                              self.settings)


def monthly_concern(store: Store, *, res: int, boroughs, start, end, cells: pd.Index | None = None,
                    components: list[Component] | None = None) -> MonthlyConcern:
    """The concern index's components per cell of the boroughs and calendar month of ``[start, end)``."""
    components = tuple(components if components is not None else load_concern_index())
    if not components:
        raise HotspotInputError("the concern index has no components")
    cells = study_cells(store, boroughs, res) if cells is None else cells
    counts = {c.name: layer_cube(store, c.layer, cells, res=res, start=start, end=end, location=c.location,
                                 time_field=c.time_field, filters=c.filter).rename(columns=str) for c in components}
    return MonthlyConcern(components, counts, _concern_settings(res, boroughs, start, end, components))


def _concern_settings(res: int, boroughs, start, end, components) -> dict:
    return {"res": res, "boroughs": list(boroughs), "start": str(start), "end": str(end),
            "components": [dataclasses.asdict(c) for c in components]}


def _concern_frame(components, cells: pd.Index, count, settings: dict) -> pd.DataFrame:
    """Per cell: each component's ``count(component)`` and the weighted ``concern`` total; ``attrs["settings"]``."""
    frame = pd.DataFrame(index=cells)
    total = pd.Series(0.0, index=cells)
    for c in components:
        counts = count(c)
        frame[c.name] = counts
        total += c.weight * counts
    frame["concern"] = total
    frame.attrs["settings"] = dict(settings)
    return frame


def parquet_layer_counts(path, cells: pd.Index, *, res: int, start=None, end=None,
                         location: str = "location") -> pd.Series:
    """Incidents per cell of ``cells`` (zeros included) in [start, end), read from a bulk-ingest GeoParquet folder
    (``geoservice bulk-ingest``) rather than the store: the Series ``layer_counts`` gives for ``incidents``."""
    from ..ingest.bulk import parquet_counts

    counts = parquet_counts(path, res, _timestamp(start), _timestamp(end), location=location)
    return counts.reindex(cells, fill_value=0).astype("int64").rename("incidents")


def parquet_cube(path, cells: pd.Index, *, res: int, start, end, location: str = "location") -> pd.DataFrame:
    """Incidents per cell of ``cells`` (rows, zeros included) and calendar month in [start, end) (columns, months
    without data zeros), read from a bulk-ingest GeoParquet folder: the cube ``emerging_hotspots`` takes."""
    from ..ingest.bulk import parquet_counts

    start, end = _timestamp(start), _timestamp(end)
    return _cube(parquet_counts(path, res, start, end, location=location, by_month=True), cells, start, end)


def _timestamp(value):
    return None if value is None else pd.Timestamp(value)


@dataclasses.dataclass(frozen=True)
class Component:
    name: str
    layer: str
    location: str | None = None
    time_field: str | None = None
    weight: float = 1.0
    filter: dict = dataclasses.field(default_factory=dict)


def load_concern_index(path=DEFAULT_CONCERN_INDEX) -> list[Component]:
    """The components of a concern index config (TOML, ``[[components]]``); read again only when the file changes
    (every cached map's key names the index's layers, so a request would otherwise parse it a dozen times)."""
    path = Path(path)
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        stamp = None  # reading it says what is wrong
    return [dataclasses.replace(c, filter=dict(c.filter)) for c in _read_concern_index(path, stamp)]


@functools.lru_cache(maxsize=16)
def _read_concern_index(path: Path, stamp) -> tuple[Component, ...]:
    doc = tomllib.loads(path.read_text(encoding="utf-8"))
    try:
        return tuple(Component(**item) for item in doc["components"])
    except (KeyError, TypeError) as exc:
        raise HotspotInputError(f"{path}: each [[components]] needs name, layer and optionally location, "
                                f"time_field, weight, filter ({exc})") from None


def concern_index(store: Store, *, res: int = 9, boroughs, start=None, end=None,
                  components: list[Component] | None = None, cells: pd.Index | None = None) -> pd.DataFrame:
    """Per cell of the boroughs: each component's count and the weighted ``concern`` total.

    ``cells``: the boroughs' study cells at ``res`` when already known (saves filling the polygons again).
    """
    components = components if components is not None else load_concern_index()
    cells = study_cells(store, boroughs, res) if cells is None else cells
    return _concern_frame(components, cells, lambda c: layer_counts(
        store, c.layer, cells, res=res, location=c.location, time_field=c.time_field, start=start, end=end,
        filters=c.filter), _concern_settings(res, boroughs, start, end, components))
