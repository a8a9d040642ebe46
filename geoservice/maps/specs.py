"""Map products as declarative specs: ``maps/<name>.toml`` (see ``docs/maps.md``).

A spec names its audience and disclosure tier, the H3 resolution, the time window and its layers. The tier
decides which layer kinds a spec may use at all, so a spec cannot put person-level detail on a youth worker's
map: ``aggregate`` allows only suppressed counts of distinct people, counts of public open data and boundaries, at
the spec's fixed resolution and over whole calendar years.

Each layer kind is a frozen dataclass (``CountsLayer``, ``DistinctLayer``, ...) holding its common keys (``kind``,
``title``, ``visible``) and its own. Everything a spec says is checked when it loads: unknown or missing keys,
wrong types, values outside their allowed set, and names that must exist (a concern-index component, a layer, its
location and fields). Every problem of a spec is reported at once, one line each, naming the file and the layer.
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import ClassVar, TypeGuard

from ..analysis.counts import load_concern_index
from .. import config
from ..errors import GeoserviceError, RequestError
from ..layers import LayerSpec, load_layer_specs
from ..policy import AUDIENCE_TIERS as AUDIENCES
from ..policy import TIER_KINDS as TIERS

#: Fixed calendar periods an aggregate map may cover. Years only: a quarter and its year (or a quarter and the other
#: three) could be differenced to reveal a few people, so quarters are not offered at all.
CALENDARS = ("year",)
DISCLOSURE_KEYS = ("suppress_below", "round_to")


class MapSpecError(GeoserviceError, ValueError):
    """A map spec that cannot be rendered as written."""


class MapPeriodError(MapSpecError, RequestError):
    """A period or dates a map does not offer (a year not ended, a quarter, dates on a fixed-period map): a 400."""


# checks of one value: None when fine, else what is wrong (after the key's name) ----------------------------------
def _text(*allowed: str):
    def check(value):
        if not isinstance(value, str) or not value.strip():
            return f"must be a non-empty string, got {value!r}"
        if allowed and value not in allowed:
            return f"must be one of {list(allowed)}, got {value!r}"
        return None

    return check


def _flag(value):
    return None if isinstance(value, bool) else f"must be true or false, got {value!r}"


def _positive_int(value):
    return None if type(value) is int and value >= 1 else f"must be a whole number of 1 or more, got {value!r}"


def _equals(value):
    if (isinstance(value, Mapping) and all(isinstance(k, str) for k in value)
            and all(isinstance(v, (str, int, float, bool)) for v in value.values())):
        return None
    return f'must be a table of field = value, e.g. {{ feeling = "unsafe" }}, got {value!r}'


def _among(value, options) -> TypeGuard[str]:
    """Is ``value`` a string among ``options`` (safe for any TOML value, lists and tables included)?"""
    return isinstance(value, str) and value in options


def _key(check, default=dataclasses.MISSING):
    """A layer key: its value is checked by ``check`` whenever a layer is made."""
    return dataclasses.field(default=default, metadata={"check": check})


def _value_problems(cls, values: Mapping) -> list[str]:
    """What is wrong with the values of ``cls``'s keys in ``values`` (an optional key left at None is fine)."""
    problems = []
    for field in dataclasses.fields(cls):
        if field.name in values and not (values[field.name] is None and field.default is None):
            problem = field.metadata["check"](values[field.name])
            if problem:
                problems.append(f"{field.name} {problem}")
    return problems


# layer kinds -----------------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True, kw_only=True)
class Layer:
    """A map layer: its ``kind``, its ``title`` in the layer control, whether it opens ``visible``, and the keys of
    its kind (each subclass). Making one with a wrong type or a value outside its allowed set is a MapSpecError."""

    kind: ClassVar[str]
    title: str = _key(_text())
    visible: bool = _key(_flag, False)

    def __post_init__(self):
        problems = _value_problems(type(self), {f.name: getattr(self, f.name) for f in dataclasses.fields(self)})
        if problems:
            raise MapSpecError(f"{self.kind} layer {self.title!r}: " + "; ".join(problems))

    def unresolved(self, refs: References) -> list[str]:
        """What the layer names that does not exist among ``refs`` (nothing, for most kinds)."""
        return []


@dataclasses.dataclass(frozen=True, kw_only=True)
class HotspotsLayer(Layer):
    """Gi* bins (-3..3) of the concern index, only significant cells."""

    kind: ClassVar[str] = "hotspots"


@dataclasses.dataclass(frozen=True, kw_only=True)
class CountsLayer(Layer):
    """One concern-index component per cell."""

    kind: ClassVar[str] = "counts"
    source: str = _key(_text())

    def unresolved(self, refs: References) -> list[str]:
        if self.source in refs.components:
            return []
        return [f"source {self.source!r} is not a component of the concern index; its components: "
                f"{list(refs.components)}"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class ConcernLayer(Layer):
    """The concern index per cell."""

    kind: ClassVar[str] = "concern"


@dataclasses.dataclass(frozen=True, kw_only=True)
class EmergingLayer(Layer):
    """Emerging hot-spot patterns, with each month's bins for the time control (a window of 3 months or more).
    ``expected``: each month tested against each place's own usual level (``past``, the default: a steady busy
    place is not "new") or against the month's mean over the area (``mean``, ArcGIS Pro's question)."""

    kind: ClassVar[str] = "emerging"
    expected: str = _key(_text("past", "mean"), "past")


@dataclasses.dataclass(frozen=True, kw_only=True)
class WhereToActLayer(Layer):
    """The ``top`` places to act on next month, ranked by what best predicted the past months (``where_to_act``),
    named, with counts, an interval and the statistical flags beside them, on the map and in a table."""

    kind: ClassVar[str] = "where_to_act"
    top: int = _key(_positive_int, 10)


@dataclasses.dataclass(frozen=True, kw_only=True)
class AreasLayer(Layer):
    """The named hot-spot areas."""

    kind: ClassVar[str] = "hotspot_areas"


@dataclasses.dataclass(frozen=True, kw_only=True)
class GroupPlacesLayer(Layer):
    """The cells peer groups use, named (groups are numbered; no person is named)."""

    kind: ClassVar[str] = "group_places"


@dataclasses.dataclass(frozen=True, kw_only=True)
class OutreachLayer(Layer):
    """Outreach per cell: sessions held, or young people reached."""

    kind: ClassVar[str] = "outreach"
    measure: str = _key(_text("sessions", "young_people_reached"))


@dataclasses.dataclass(frozen=True, kw_only=True)
class GapsLayer(Layer):
    """Where outreach is missing: of the ``consider`` places of most need, up to ``top`` uncovered or under-covered
    ones (no session, or fewer than ``under_covered_below``, at the place or within ``ring`` hexagons of it in the last
    ``weeks`` weeks), ranked by need, with a table; the covered ones listed apart."""

    kind: ClassVar[str] = "gaps"
    top: int = _key(_positive_int, 10)
    consider: int = _key(_positive_int, 20)
    weeks: int = _key(_positive_int, 8)
    under_covered_below: int = _key(_positive_int, 4)
    ring: int = _key(lambda value: None if type(value) is int and 0 <= value <= 3
                     else f"must be a whole number from 0 to 3, got {value!r}", 1)


def _layer_of(refs, name: str):
    """The layer spec a map layer names, and the problem if there is none (no specs to check against: no problem)."""
    if refs.layers is None:
        return None, []
    spec = refs.layers.get(name)
    if spec is None:
        return None, [f"layer {name!r} is not a layer; the layers: {sorted(refs.layers)}"]
    return spec, []


@dataclasses.dataclass(frozen=True, kw_only=True)
class DistinctLayer(Layer):
    """Distinct people (values of ``person``) per cell of ``layer`` at ``location``, in the window of
    ``time_field``, among the rows whose fields equal ``filter``; suppressed and rounded by the spec's rule."""

    kind: ClassVar[str] = "distinct"
    layer: str = _key(_text())
    location: str = _key(_text())
    person: str = _key(_text())
    time_field: str = _key(_text())
    filter: Mapping[str, object] | None = _key(_equals, None)

    def __post_init__(self):
        super().__post_init__()
        if self.filter is not None:  # read-only, so the layer stays as loaded
            object.__setattr__(self, "filter", MappingProxyType(dict(self.filter)))

    def unresolved(self, refs: References) -> list[str]:
        spec, problems = _layer_of(refs, self.layer)
        if spec is None:
            return problems
        locations = [loc.name for loc in spec.locations]
        if self.location not in locations:
            problems.append(f"location {self.location!r} is not a location of {self.layer}; its locations: "
                            f"{locations}")
        if self.person not in spec.field_names:
            problems.append(f"person {self.person!r} is not a field of {self.layer}")
        if self.time_field not in spec.time_fields:
            problems.append(f"time_field {self.time_field!r} is not a time field of {self.layer}; its time fields: "
                            f"{list(spec.time_fields)}")
        allowed = {f.name: f.allowed for f in spec.fields}
        for name, value in (self.filter or {}).items():
            values = allowed.get(name, ())
            if name not in allowed:
                problems.append(f"filter field {name!r} is not a field of {self.layer}")
            elif values and value not in values:
                problems.append(f"filter {name} = {value!r} can never match; {self.layer}.{name} is one of "
                                f"{list(values)}")
        return problems


@dataclasses.dataclass(frozen=True, kw_only=True)
class PublicCountsLayer(Layer):
    """Rows of a public open-data ``layer`` (its sensitivity ``public``, e.g. police.uk street crime) per cell, in
    the window of ``time_field``, with the count of each value of ``by`` in the tooltip. Not suppressed: the
    numbers are already published at street level by their source."""

    kind: ClassVar[str] = "public_counts"
    layer: str = _key(_text())
    time_field: str = _key(_text())
    by: str | None = _key(_text(), None)

    def unresolved(self, refs: References) -> list[str]:
        spec, problems = _layer_of(refs, self.layer)
        if spec is None:
            return problems
        if spec.sensitivity != "public":
            problems.append(f"layer {self.layer!r} is {spec.sensitivity!r} data; public_counts shows only public open "
                            "data (sensitivity = \"public\")")
        if not spec.locations:
            problems.append(f"layer {self.layer!r} has no location to count")
        if self.time_field not in spec.time_fields:
            problems.append(f"time_field {self.time_field!r} is not a time field of {self.layer}; its time fields: "
                            f"{list(spec.time_fields)}")
        if self.by is not None and self.by not in spec.field_names:
            problems.append(f"by {self.by!r} is not a field of {self.layer}")
        return problems


@dataclasses.dataclass(frozen=True, kw_only=True)
class BoundariesLayer(Layer):
    """Borough or ward outlines; with ``labels``, each named on the map."""

    kind: ClassVar[str] = "boundaries"
    level: str = _key(_text("borough", "ward"))
    labels: bool = _key(_flag, False)


#: Each layer kind's type.
LAYER_TYPES: dict[str, type[Layer]] = {cls.kind: cls for cls in (
    HotspotsLayer, CountsLayer, ConcernLayer, EmergingLayer, AreasLayer, GroupPlacesLayer, OutreachLayer, GapsLayer,
    DistinctLayer, PublicCountsLayer, BoundariesLayer, WhereToActLayer)}


@dataclasses.dataclass(frozen=True)
class References:
    """What layers may name: the concern index's components, and the layer specs (None: not checked)."""

    components: tuple[str, ...]
    layers: Mapping[str, LayerSpec] | None = None

    @classmethod
    def load(cls, layer_specs: Mapping[str, LayerSpec] | None = None) -> References:
        """The default concern index, and ``layer_specs`` or else those in the default layers folder (if any)."""
        if layer_specs is None:
            folder = Path(config.default("layers_dir"))
            layer_specs = load_layer_specs(folder) if any(folder.glob("*.toml")) else None
        return cls(tuple(c.name for c in load_concern_index()), layer_specs)


def _layer(number: int, table, allowed_kinds, tier, refs: References) -> tuple[Layer | None, list[str]]:
    """The typed layer of one ``[[layers]]`` table, or None and every problem of it."""
    if not isinstance(table, dict):
        return None, [f"layer {number} must be a table ([[layers]]), got {table!r}"]
    kind = table.get("kind")
    cls = LAYER_TYPES[kind] if _among(kind, LAYER_TYPES) else None
    if cls is None:
        what = "needs a kind" if kind is None else f"kind {kind!r} is not a layer kind"
        return None, [f"layer {number}: {what}; kinds: {sorted(LAYER_TYPES)}"]
    where = f"layer {number} ({kind})"
    values = {key: value for key, value in table.items() if key != "kind"}
    fields = [f.name for f in dataclasses.fields(cls)]
    required = [f.name for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING]
    problems = []
    if allowed_kinds is not None and kind not in allowed_kinds:
        problems.append(f"kind {kind!r} is not allowed on a {tier!r} map (allowed: {sorted(allowed_kinds)})")
    unknown = sorted(set(values) - set(fields))
    if unknown:
        problems.append(f"unknown keys {unknown}; {kind} layers take {['kind', *fields]}")
    missing = [key for key in required if key not in values]
    if missing:
        problems.append(f"missing {missing}; {kind} layers need {['kind', *required]}")
    problems += _value_problems(cls, values)
    layer = None
    if not problems:
        layer = cls(**values)
        problems = layer.unresolved(refs)
    return layer, [f"{where}: {problem}" for problem in problems]


@dataclasses.dataclass(frozen=True)
class MapSpec:
    name: str
    title: str
    audience: str
    tier: str
    resolution: int
    layers: tuple[Layer, ...]
    description: str = ""
    window_months: int | None = None
    calendar: str | None = None
    time_control: str | None = None
    disclosure: dict = dataclasses.field(default_factory=dict)
    path: Path | None = None

    @property
    def fixed_windows(self) -> bool:
        """Aggregate maps cover whole calendar periods only (no free dates to difference)."""
        return self.calendar is not None


REQUIRED_KEYS = ("name", "title", "audience", "tier", "resolution", "layers")


def _spec_problems(doc: dict, stem: str) -> list[str]:
    """Every problem of a spec's own keys (its layers are checked apart)."""
    known = {f.name for f in dataclasses.fields(MapSpec)} - {"path"}
    problems = []
    unknown = set(doc) - known
    if unknown:
        problems.append(f"unknown keys {sorted(unknown)}; known: {sorted(known)}")
    missing = [key for key in REQUIRED_KEYS if key not in doc]
    if missing:
        problems.append(f"missing {missing}")
    if "name" in doc and doc["name"] != stem:
        problems.append(f"name {doc['name']!r} must match the file name {stem!r}")
    for key in ("title", "description"):
        if key in doc and not isinstance(doc[key], str):
            problems.append(f"{key} must be a string, got {doc[key]!r}")
    tier, audience = doc.get("tier"), doc.get("audience")
    if "tier" in doc and not _among(tier, TIERS):
        problems.append(f"tier must be one of {sorted(TIERS)}, got {tier!r}")
    elif "tier" in doc and "audience" in doc and (not _among(audience, AUDIENCES) or AUDIENCES[audience] != tier):
        problems.append(f"audience {audience!r} does not match tier {tier!r} (audiences: {AUDIENCES})")
    resolution = doc.get("resolution")
    if "resolution" in doc and (type(resolution) is not int or not 7 <= resolution <= 10):
        problems.append(f"resolution must be 7-10 (the stored resolutions), got {resolution!r}")
    window, calendar = doc.get("window_months"), doc.get("calendar")
    if (window is None) == (calendar is None):
        problems.append("give exactly one of window_months (a rolling window) or calendar (year)")
    if window is not None and _positive_int(window):
        problems.append(f"window_months {_positive_int(window)}")
    if calendar is not None and not _among(calendar, CALENDARS):
        problems.append(f"calendar must be one of {list(CALENDARS)}, got {calendar!r} (quarters are not offered: a "
                        "quarter and its year could be differenced)")
    disclosure = doc.get("disclosure", {})
    if not isinstance(disclosure, dict) or set(disclosure) - set(DISCLOSURE_KEYS) or any(
            type(value) is not int for value in disclosure.values()):
        problems.append(f"disclosure must be {{ suppress_below = N, round_to = N }} (whole numbers), got "
                        f"{disclosure!r}")
    elif tier == "aggregate":
        if calendar is None:
            problems.append("an aggregate map covers fixed calendar windows: set calendar, not window_months")
        if disclosure.get("suppress_below", 0) < 10 or disclosure.get("round_to", 0) < 1:
            problems.append("an aggregate map needs disclosure = { suppress_below = 10 or more, round_to = 1 or "
                            "more }")
    if doc.get("time_control") is not None and not _among(doc["time_control"], ("month",)):
        problems.append(f"time_control may only be 'month', got {doc['time_control']!r}")
    if "layers" in doc and (not isinstance(doc["layers"], list) or not doc["layers"]):
        problems.append("a map needs at least one [[layers]] entry")
    return problems


def _load(path: Path, refs: References) -> MapSpec:
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise MapSpecError(f"{path}: cannot read the map spec ({exc})") from None
    problems = _spec_problems(doc, path.stem)
    tables = doc["layers"] if isinstance(doc.get("layers"), list) else []
    allowed_kinds = TIERS[doc["tier"]] if _among(doc.get("tier"), TIERS) else None
    layers = []
    for number, table in enumerate(tables, start=1):
        layer, found = _layer(number, table, allowed_kinds, doc.get("tier"), refs)
        layers.append(layer)
        problems += found
    if problems:
        raise MapSpecError("\n".join(f"{path}: {problem}" for problem in problems))
    return MapSpec(**{**doc, "layers": tuple(layers)}, path=path)


def load_map_spec(path, layer_specs: Mapping[str, LayerSpec] | None = None) -> MapSpec:
    """The spec in ``path``, its layers typed. Layers are checked against ``layer_specs`` (default: those in the
    default layers folder). A MapSpecError lists every problem, one line each."""
    return _load(Path(path), References.load(layer_specs))


def load_map_specs(folder, layer_specs: Mapping[str, LayerSpec] | None = None) -> dict[str, MapSpec]:
    """Every ``*.toml`` map spec in ``folder``, by name; a MapSpecError lists every problem of every spec."""
    refs = References.load(layer_specs)
    specs, problems = {}, []
    for path in sorted(Path(folder).glob("*.toml")):
        try:
            specs[path.stem] = _load(path, refs)
        except MapSpecError as exc:
            problems.append(str(exc))
    if problems:
        raise MapSpecError("\n".join(problems))
    if not specs:
        raise MapSpecError(f"no map specs (*.toml) in {folder}")
    return specs
