"""Load and check the declarative layer specs in ``layers/*.toml``.

A spec names a layer's fields (type, required, allowed values, the boundary level a code must exist at), how its
rows are located (WGS84 lat/lng, British National Grid easting/northing, or a postcode looked up in a
user-supplied table), its time fields, its identity key, its sensitivity, its retention period and how a row's
borough is decided for an uploader's borough scope. Everything downstream (reading, validation, storage tables,
the web listing) is driven by these objects, so a new layer is a new TOML file, not new code.
"""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

from .errors import LayerSpecError, UnknownLayerError

FIELD_TYPES = ("text", "integer", "number", "boolean", "date", "month", "datetime")
TIME_TYPES = ("date", "month", "datetime")
SENSITIVITIES = ("person", "aggregate", "public")
EXTENTS = ("study_area", "great_britain")
CHECK_RULES = ("not_before",)
#: Levels of the boundaries layer a field's ``area`` may name: its values must be codes of that level there.
AREA_LEVELS = ("borough", "ward")
#: How a row's borough is decided for an uploader's scope (see ``ScopeSpec``).
SCOPE_RULES = ("field", "location", "people")
UNSCOPED = "unscoped"
#: The layer a ``people`` scope rule looks people up in.
PEOPLE_LAYER = "people"
LAYER_KEYS = ("name", "title", "description", "sensitivity", "key", "mutable", "time_fields", "retention", "checks",
              "geometry", "fields", "locations", "formats", "scope")
FIELD_KEYS = ("name", "type", "required", "allowed", "min", "max", "formats", "derive", "future_allowed", "area",
              "description")


@dataclasses.dataclass(frozen=True)
class FieldSpec:
    """One column of a layer."""

    name: str
    type: str = "text"
    required: bool = False
    allowed: tuple[str, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    formats: tuple[str, ...] = ()
    derive_from: str | None = None
    derive_prefix: dict | None = None
    future_allowed: bool = False
    area: str | None = None  # a level of the boundaries layer: values must be codes of that level held there
    description: str = ""

    @property
    def is_time(self) -> bool:
        return self.type in TIME_TYPES


@dataclasses.dataclass(frozen=True)
class LocationSpec:
    """One located point of a row (a missing episode has two: where from, where found).

    The input columns that may locate it are tried in order per row: lat/lng, then easting/northing, then
    postcode. Stored columns are prefixed with ``name`` (``found_lat``, ``found_borough``, ``found_cell_9``).
    """

    name: str
    required: bool = True
    extent: str = "study_area"
    lat: str | None = None
    lng: str | None = None
    easting: str | None = None
    northing: str | None = None
    postcode: str | None = None
    claimed_borough: str | None = None
    claimed_borough_name: str | None = None
    description: str = ""

    @property
    def input_columns(self) -> tuple[str, ...]:
        return tuple(c for c in (self.lat, self.lng, self.easting, self.northing, self.postcode) if c)


@dataclasses.dataclass(frozen=True)
class FormatSpec:
    """A named source layout: how its columns map onto the layer's fields."""

    name: str
    columns: dict[str, str]
    constants: dict[str, str] = dataclasses.field(default_factory=dict)
    description: str = ""


@dataclasses.dataclass(frozen=True)
class CheckSpec:
    """A rule across two fields of one row, e.g. found time not before reported-missing time."""

    rule: str
    field: str
    reference: str


@dataclasses.dataclass(frozen=True)
class ScopeSpec:
    """How a row's borough is decided when the uploader may see only some boroughs.

    - ``field``: the borough GSS code in one field (``names[0]``), e.g. a person's ``home_borough``;
    - ``location``: the borough a location of the row (``names[0]``) is placed in;
    - ``people``: the row names people (``names``, fields holding ``person_id`` values); it is in scope when at
      least one of them is a person held in the people layer whose own borough is in scope;
    - ``unscoped``: rows belong to no borough (boundaries); only administrators load such layers from the web.
    """

    rule: str
    names: tuple[str, ...] = ()

    @property
    def unscoped(self) -> bool:
        return self.rule == UNSCOPED


@dataclasses.dataclass(frozen=True)
class LayerSpec:
    """A whole layer, as declared in ``layers/<name>.toml``."""

    name: str
    title: str
    description: str
    sensitivity: str
    retention_years: float
    retention_from: str | None
    key: tuple[str, ...]
    mutable: tuple[str, ...]
    fields: tuple[FieldSpec, ...]
    locations: tuple[LocationSpec, ...] = ()
    geometry: str | None = None
    time_fields: tuple[str, ...] = ()
    formats: dict[str, FormatSpec] = dataclasses.field(default_factory=dict)
    checks: tuple[CheckSpec, ...] = ()
    scope: ScopeSpec = ScopeSpec(UNSCOPED)
    path: Path | None = None

    @property
    def table_name(self) -> str:
        return f"layer_{self.name}"

    @property
    def is_person_level(self) -> bool:
        return self.sensitivity == "person"

    def field(self, name: str) -> FieldSpec:
        for spec in self.fields:
            if spec.name == name:
                return spec
        raise KeyError(name)

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    @property
    def input_columns(self) -> tuple[str, ...]:
        """Every column a plain CSV of this layer may carry: its fields and its location inputs."""
        return self.field_names + tuple(c for loc in self.locations for c in loc.input_columns)


def _require(table: dict, key: str, where: str):
    if key not in table:
        raise LayerSpecError(f"{where}: missing required key {key!r}")
    return table[key]


def _field_from_toml(item: dict, where: str) -> FieldSpec:
    name = _require(item, "name", where)
    where = f"{where} field {name!r}"
    unknown = set(item) - set(FIELD_KEYS)
    if unknown:
        raise LayerSpecError(f"{where}: unknown keys {sorted(unknown)}; allowed: {', '.join(FIELD_KEYS)}")
    ftype = item.get("type", "text")
    if ftype not in FIELD_TYPES:
        raise LayerSpecError(f"{where}: type must be one of {', '.join(FIELD_TYPES)}, got {ftype!r}")
    area = item.get("area")
    if area is not None and area not in AREA_LEVELS:
        raise LayerSpecError(f"{where}: area must be one of {', '.join(AREA_LEVELS)} (a level of the boundaries "
                             f"layer), got {area!r}")
    if area is not None and ftype != "text":
        raise LayerSpecError(f"{where}: area needs a text field (GSS codes), not {ftype!r}")
    allowed = item.get("allowed")
    derive = item.get("derive") or {}
    if derive and set(derive) - {"from", "prefix"}:
        raise LayerSpecError(f"{where}: derive takes 'from' and 'prefix', got {sorted(derive)}")
    return FieldSpec(
        name=name,
        type=ftype,
        required=bool(item.get("required", False)),
        allowed=tuple(str(v) for v in allowed) if allowed is not None else None,
        minimum=item.get("min"),
        maximum=item.get("max"),
        formats=tuple(item.get("formats", ())),
        derive_from=derive.get("from"),
        derive_prefix=dict(derive.get("prefix", {})) or None,
        future_allowed=bool(item.get("future_allowed", False)),
        area=area,
        description=item.get("description", ""),
    )


def _location_from_toml(item: dict, where: str) -> LocationSpec:
    name = _require(item, "name", where)
    where = f"{where} location {name!r}"
    known = {f.name for f in dataclasses.fields(LocationSpec)}
    unknown = set(item) - known
    if unknown:
        raise LayerSpecError(f"{where}: unknown keys {sorted(unknown)}; allowed: {sorted(known)}")
    loc = LocationSpec(**item)
    if loc.extent not in EXTENTS:
        raise LayerSpecError(f"{where}: extent must be one of {EXTENTS}, got {loc.extent!r}")
    if bool(loc.lat) != bool(loc.lng) or bool(loc.easting) != bool(loc.northing):
        raise LayerSpecError(f"{where}: lat/lng and easting/northing must be given in pairs")
    if not loc.input_columns:
        raise LayerSpecError(f"{where}: give lat/lng, easting/northing or postcode columns")
    return loc


def _scope_from_toml(value, fields: tuple[FieldSpec, ...], locations: tuple[LocationSpec, ...],
                     where: str) -> ScopeSpec:
    """The layer's ``scope`` rule; without one, the first required location's borough."""
    names = {f.name: f for f in fields}
    how = ('scope = { field = "<borough code field>" }, scope = { location = "<location>" }, '
           'scope = { people = ["<person id field>", ...] } or scope = "unscoped"')
    if value is None:
        required = [loc for loc in locations if loc.required]
        if not required:
            raise LayerSpecError(f"{where}: its rows have no required location, so declare how a row's borough is "
                                 f"decided for an uploader's borough scope: {how}")
        return ScopeSpec("location", (required[0].name,))
    if value == UNSCOPED:
        return ScopeSpec(UNSCOPED)
    if not isinstance(value, dict) or len(value) != 1 or next(iter(value)) not in SCOPE_RULES:
        raise LayerSpecError(f"{where}: scope must be one of {how}; got {value!r}")
    rule, target = next(iter(value.items()))
    if rule == "field":
        field = names.get(target) if isinstance(target, str) else None
        if field is None or field.area != "borough":
            raise LayerSpecError(f"{where}: scope.field must name a field declared with area = \"borough\" (its "
                                 f"values are checked as borough codes); got {target!r}")
        return ScopeSpec("field", (target,))
    if rule == "location":
        if target not in [loc.name for loc in locations]:
            raise LayerSpecError(f"{where}: scope.location must name one of the layer's locations "
                                 f"{[loc.name for loc in locations]}; got {target!r}")
        return ScopeSpec("location", (target,))
    if (not isinstance(target, list) or not target or not all(isinstance(t, str) for t in target)
            or set(target) - set(names)):
        raise LayerSpecError(f"{where}: scope.people must list the fields holding person ids (of the people "
                             f"layer), e.g. [\"person_a\", \"person_b\"]; got {target!r}")
    return ScopeSpec("people", tuple(target))


def layer_from_toml(path: Path) -> LayerSpec:
    """Read one spec file and check it is complete and consistent."""
    path = Path(path)
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise LayerSpecError(f"{path.name}: not valid TOML ({exc})") from None
    where = path.name
    unknown = set(doc) - set(LAYER_KEYS)
    if unknown:
        raise LayerSpecError(f"{where}: unknown keys {sorted(unknown)}; allowed: {', '.join(LAYER_KEYS)}")
    name = _require(doc, "name", where)
    if name != path.stem:
        raise LayerSpecError(f"{where}: name {name!r} must match the file name {path.stem!r}")
    fields = tuple(_field_from_toml(item, where) for item in _require(doc, "fields", where))
    names = [f.name for f in fields]
    if len(set(names)) != len(names):
        raise LayerSpecError(f"{where}: field names must be unique, got {names}")
    locations = tuple(_location_from_toml(item, where) for item in doc.get("locations", ()))
    sensitivity = _require(doc, "sensitivity", where)
    if sensitivity not in SENSITIVITIES:
        raise LayerSpecError(f"{where}: sensitivity must be one of {SENSITIVITIES}, got {sensitivity!r}")
    retention = _require(doc, "retention", where)
    key = tuple(doc.get("key", ()))
    mutable = tuple(doc.get("mutable", ()))
    time_fields = tuple(doc.get("time_fields", ()))
    for group, members in (("key", key), ("mutable", mutable), ("time_fields", time_fields)):
        for member in members:
            if member not in names:
                raise LayerSpecError(f"{where}: {group} names {member!r}, which is not a field")
    for member in time_fields:
        if fields[names.index(member)].type not in TIME_TYPES:
            raise LayerSpecError(f"{where}: time field {member!r} must have a date, month or datetime type")
    retention_from = retention.get("from")
    if retention_from is not None and retention_from not in time_fields:
        raise LayerSpecError(f"{where}: retention.from must be one of the time_fields {time_fields}")
    for f in fields:
        if f.derive_from and f.derive_from not in names:
            raise LayerSpecError(f"{where}: field {f.name!r} derives from {f.derive_from!r}, not a field")
    formats = {}
    for fmt_name, fmt in doc.get("formats", {}).items():
        columns = dict(_require(fmt, "columns", f"{where} format {fmt_name!r}"))
        targets = set(columns.values()) | set(fmt.get("constants", {}))
        allowed_targets = set(names) | {c for loc in locations for c in loc.input_columns}
        stray = targets - allowed_targets
        if stray:
            raise LayerSpecError(f"{where}: format {fmt_name!r} maps onto unknown columns {sorted(stray)}")
        formats[fmt_name] = FormatSpec(fmt_name, columns, dict(fmt.get("constants", {})),
                                       fmt.get("description", ""))
    checks = []
    for item in doc.get("checks", ()):
        check = CheckSpec(item.get("rule"), item.get("field"), item.get("reference"))
        if check.rule not in CHECK_RULES:
            raise LayerSpecError(f"{where}: check rule must be one of {CHECK_RULES}, got {check.rule!r}")
        if check.field not in names or check.reference not in names:
            raise LayerSpecError(f"{where}: check {check.rule} names fields that do not exist")
        checks.append(check)
    geometry = doc.get("geometry")
    if geometry not in (None, "polygon"):
        raise LayerSpecError(f"{where}: geometry may only be 'polygon', got {geometry!r}")
    if geometry:
        for f in fields:
            if f.area:
                raise LayerSpecError(f"{where}: field {f.name!r} of a polygon layer cannot declare area: areas are "
                                     "checked against the boundaries this layer provides")
    scope = _scope_from_toml(doc.get("scope"), fields, locations, where)
    return LayerSpec(
        name=name,
        title=doc.get("title", name),
        description=doc.get("description", ""),
        sensitivity=sensitivity,
        retention_years=float(_require(retention, "years", f"{where} retention")),
        retention_from=retention_from,
        key=key,
        mutable=mutable,
        fields=fields,
        locations=locations,
        geometry=geometry,
        time_fields=time_fields,
        formats=formats,
        checks=tuple(checks),
        scope=scope,
        path=path,
    )


def load_layer_specs(layers_dir: Path) -> dict[str, LayerSpec]:
    """Every spec in ``layers_dir``, keyed by layer name."""
    layers_dir = Path(layers_dir)
    paths = sorted(layers_dir.glob("*.toml"))
    if not paths:
        raise LayerSpecError(f"no layer specs (*.toml) found in {layers_dir}")
    specs = {spec.name: spec for spec in map(layer_from_toml, paths)}
    for spec in specs.values():
        if spec.scope.rule == "people":
            people = specs.get(PEOPLE_LAYER)
            if people is None or len(people.key) != 1 or people.scope.rule != "field":
                raise LayerSpecError(f"{spec.name}.toml: scope.people looks people up in the {PEOPLE_LAYER!r} layer, "
                                     "which must exist with a one-field key and a scope = { field = ... } rule")
    return specs


def get_layer(specs: dict[str, LayerSpec], name: str) -> LayerSpec:
    """The spec called ``name``, or an error that lists the layers there are."""
    try:
        return specs[name]
    except KeyError:
        raise UnknownLayerError(f"no layer called {name!r}; the layers are: {', '.join(sorted(specs))}") from None
