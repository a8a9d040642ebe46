"""Load and check the declarative layer specs in ``layers/*.toml``.

A spec names a layer's fields (type, required, allowed values, the boundary level a code must exist at), how its
rows are located (WGS84 lat/lng, British National Grid easting/northing, or a postcode looked up in a
user-supplied table), its time fields, its identity key, its sensitivity, its retention period and how a row's
borough is decided for an uploader's borough scope. Everything downstream (reading, validation, storage tables,
the web listing) is driven by these objects, so a new layer is a new TOML file, not new code.
"""

from __future__ import annotations

import dataclasses
import difflib
import tomllib
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

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
              "geometry", "fields", "locations", "formats", "scope", "counts")
FIELD_KEYS = ("name", "type", "required", "allowed", "min", "max", "formats", "derive", "future_allowed", "area",
              "description")
DERIVE_KEYS = ("from", "prefix")
RETENTION_KEYS = ("years", "from")
FORMAT_KEYS = ("columns", "constants", "description")
CHECK_KEYS = ("rule", "field", "reference")
COUNTS_KEYS = ("by", "time_fields")
#: Columns of a layer's cell-count table (``store/tables.py``) that a ``counts.by`` field may not be called.
COUNTS_COLUMNS = ("location", "res", "cell", "time_field", "month", "n")
#: A location's keys that name input columns (of a plain CSV, or of a format's mapped columns).
LOCATION_COLUMNS = ("lat", "lng", "easting", "northing", "postcode", "claimed_borough", "claimed_borough_name")


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


LOCATION_KEYS = tuple(f.name for f in dataclasses.fields(LocationSpec))

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
class CountsSpec:
    """What the store keeps counted for a layer with locations, so products read small counts instead of rows.

    Rows are counted per stored cell of each location (every stored resolution), per calendar month of each of
    ``time_fields`` and per value of each ``by`` field (text fields products filter on, such as a crime type).
    """

    by: tuple[str, ...] = ()
    time_fields: tuple[str, ...] = ()


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
    counts: CountsSpec | None = None  # every layer with locations has them; None for the others
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


#: What a key's value must be, as said in a problem ("retention must be a table, got 6").
_KINDS: dict[str, Callable[[object], bool]] = {
    "a string": lambda v: isinstance(v, str),
    "a non-empty string": lambda v: isinstance(v, str) and v != "",
    "true or false": lambda v: isinstance(v, bool),
    "a number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "a table": lambda v: isinstance(v, dict),
    "a table of strings": lambda v: isinstance(v, dict) and all(isinstance(x, str) for x in v.values()),
    "a list": lambda v: isinstance(v, list),
    "a list of strings": lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
    "a list of values": lambda v: isinstance(v, list) and all(isinstance(x, (str, int, float)) for x in v),
}


def _did_you_mean(word: object, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` when one of ``choices`` is close to a misspelt ``word``, else ``""``."""
    close = difflib.get_close_matches(word, [c for c in choices if c != word], n=1) if isinstance(word, str) else []
    return f" (did you mean {close[0]!r}?)" if close else ""


def _unknown_keys(table: dict, allowed: Sequence[str], where: str, problems: list[str]) -> set[str]:
    """A problem for each key of ``table`` not in ``allowed``, naming the closest allowed key or all of them.

    Returns the allowed keys suggested: one of them missing is the typo, not a second problem.
    """
    suggested = set()
    for key in sorted(set(table) - set(allowed)):
        close = difflib.get_close_matches(key, allowed, n=1)
        suggested.update(close)
        hint = f" (did you mean {close[0]!r}?)" if close else f"; allowed: {', '.join(allowed)}"
        problems.append(f"{where}: unknown key {key!r}{hint}")
    return suggested


def _get(table: dict, key: str, kind: str, where: str, problems: list[str], default: Any = None, *,
         required: bool = False, example: str = "") -> Any:
    """``table[key]`` when it is of ``kind`` (see ``_KINDS``); ``default`` when absent; None (a problem) when not.

    ``example`` shows the key written well, for a problem with its kind.
    """
    if key not in table:
        if required:
            problems.append(f"{where}: missing required key {key!r}")
        return default
    value = table[key]
    if _KINDS[kind](value):
        return value
    problems.append(f"{where}: {key} must be {kind}, got {value!r}" + (f"; e.g. {example}" if example else ""))
    return None


def _choice(table: dict, key: str, choices: Sequence[str], where: str, problems: list[str], default: Any = None, *,
            required: bool = False, note: str = "") -> Any:
    """``table[key]`` when it is one of ``choices``; ``default`` when absent; None (a problem) when not."""
    if key not in table:
        if required:
            problems.append(f"{where}: missing required key {key!r}")
        return default
    value = table[key]
    if isinstance(value, str) and value in choices:
        return value
    problems.append(f"{where}: {key} must be one of {', '.join(choices)}{note}, got {value!r}"
                    f"{_did_you_mean(value, choices)}")
    return None


def _not_fields(members: Iterable[str], what: str, names: Sequence[str], where: str, problems: list[str]) -> None:
    """A problem for each of ``members`` that is not one of the field ``names``."""
    for member in members:
        if member not in names:
            problems.append(f"{where}: {what} names {member!r}, which is not a field{_did_you_mean(member, names)}")


def _duplicates(values: Sequence[str], what: str, where: str, problems: list[str]) -> None:
    """A problem naming the ``values`` given more than once."""
    repeated = sorted({v for v in values if values.count(v) > 1})
    if repeated:
        problems.append(f"{where}: {what} must be unique, got {repeated} more than once")


def _named_table(item: object, spec: str, kind: str, index: int, keys, problems: list[str]):
    """``(name, where)`` of the ``index``-th ``[[<kind>s]]`` table of ``spec`` (name None when it has none), after
    reporting its unknown keys and a missing name; None when it is not a table at all."""
    where = f"{spec} {kind} #{index}"
    if not isinstance(item, dict):
        problems.append(f"{where}: must be a table ([[{kind}s]]), got {item!r}")
        return None
    name = _get(item, "name", "a non-empty string", where, problems)
    if name is not None:
        where = f"{spec} {kind} {name!r}"
    misspelt = _unknown_keys(item, keys, where, problems)
    if "name" not in item and "name" not in misspelt:  # a misspelt name is reported already
        problems.append(f"{where}: missing required key 'name'")
    return name, where


def _field_from_toml(item: object, spec: str, index: int, problems: list[str]) -> FieldSpec | None:
    """The ``index``-th ``[[fields]]`` table of ``spec``; None when it has no name (the problem is reported)."""
    named = _named_table(item, spec, "field", index, FIELD_KEYS, problems)
    if named is None:
        return None
    name, where = named
    ftype = _choice(item, "type", FIELD_TYPES, where, problems, "text")  # None: unknown, so skip checks on it
    area = _choice(item, "area", AREA_LEVELS, where, problems, note=" (a level of the boundaries layer)")
    if area is not None and ftype not in (None, "text"):
        problems.append(f"{where}: area needs a text field (GSS codes), not {ftype!r}")
    required = _get(item, "required", "true or false", where, problems, False)
    allowed = _get(item, "allowed", "a list of values", where, problems)
    if allowed == []:
        problems.append(f"{where}: allowed must list at least one value (leave it out to allow any)")
    minimum = _get(item, "min", "a number", where, problems)
    maximum = _get(item, "max", "a number", where, problems)
    if (minimum is not None or maximum is not None) and ftype not in (None, "integer", "number"):
        problems.append(f"{where}: min and max apply to integer and number fields, not {ftype!r}")
    if minimum is not None and maximum is not None and minimum > maximum:
        problems.append(f"{where}: min {minimum!r} is above max {maximum!r}")
    formats = _get(item, "formats", "a list of strings", where, problems, [])
    if formats and ftype not in (None, *TIME_TYPES):
        problems.append(f"{where}: formats (of dates and times) apply to date, month and datetime fields, "
                        f"not {ftype!r}")
    future_allowed = _get(item, "future_allowed", "true or false", where, problems, False)
    if future_allowed and ftype not in (None, *TIME_TYPES):
        problems.append(f"{where}: future_allowed applies to date, month and datetime fields, not {ftype!r}")
    description = _get(item, "description", "a string", where, problems, "")
    derive = _get(item, "derive", "a table", where, problems, {},
                  example='derive = { from = "code", prefix = { E09 = "borough" } }')
    derive_from = derive_prefix = None
    if derive:
        typos = _unknown_keys(derive, DERIVE_KEYS, f"{where} derive", problems)
        derive_from = _get(derive, "from", "a non-empty string", f"{where} derive", problems,
                           required="from" not in typos)
        derive_prefix = _get(derive, "prefix", "a table of strings", f"{where} derive", problems,
                             required="prefix" not in typos)
    if name is None:
        return None
    return FieldSpec(
        name=name,
        type=ftype or "text",
        required=bool(required),
        allowed=tuple(str(v) for v in allowed) if allowed is not None else None,
        minimum=minimum,
        maximum=maximum,
        formats=tuple(formats or ()),
        derive_from=derive_from,
        derive_prefix=dict(derive_prefix) if derive_prefix else None,
        future_allowed=bool(future_allowed),
        area=area,
        description=description or "",
    )


def _location_from_toml(item: object, spec: str, index: int, problems: list[str]) -> LocationSpec | None:
    """The ``index``-th ``[[locations]]`` table of ``spec``; None when it has no name (the problem is reported)."""
    named = _named_table(item, spec, "location", index, LOCATION_KEYS, problems)
    if named is None:
        return None
    name, where = named
    columns = {key: _get(item, key, "a non-empty string", where, problems) for key in LOCATION_COLUMNS}
    required = _get(item, "required", "true or false", where, problems, True)
    extent = _choice(item, "extent", EXTENTS, where, problems, "study_area")
    description = _get(item, "description", "a string", where, problems, "")
    loc = LocationSpec(name=name or "", required=required is not False, extent=extent or "study_area",
                       description=description or "", **columns)
    if bool(loc.lat) != bool(loc.lng) or bool(loc.easting) != bool(loc.northing):
        problems.append(f"{where}: lat/lng and easting/northing must be given in pairs")
    if not loc.input_columns:
        problems.append(f"{where}: give lat/lng, easting/northing or postcode columns")
    return loc if name is not None else None


def _format_from_toml(fmt_name: str, fmt: object, targets: set[str] | None, spec: str,
                      problems: list[str]) -> FormatSpec | None:
    """The ``[formats.<fmt_name>]`` table; its columns are checked against ``targets`` unless that is None."""
    where = f"{spec} format {fmt_name!r}"
    if not isinstance(fmt, dict):
        problems.append(f"{where}: must be a table ([formats.{fmt_name}]), got {fmt!r}")
        return None
    misspelt = _unknown_keys(fmt, FORMAT_KEYS, where, problems)
    columns = _get(fmt, "columns", "a table of strings", where, problems, required="columns" not in misspelt)
    constants = _get(fmt, "constants", "a table of strings", where, problems, {})
    description = _get(fmt, "description", "a string", where, problems, "")
    if targets is not None:
        for source, target in (columns or {}).items():
            if target not in targets:
                problems.append(f"{where}: maps {source!r} onto {target!r}, which is not a field or location "
                                f"column{_did_you_mean(target, targets)}")
        for target in constants or {}:
            if target not in targets:
                problems.append(f"{where}: constant {target!r} is not a field or location column"
                                f"{_did_you_mean(target, targets)}")
    if columns is None or constants is None:
        return None
    return FormatSpec(fmt_name, dict(columns), dict(constants), description or "")


def _check_from_toml(item: object, fields: dict[str, FieldSpec] | None, unsure: set[str], spec: str, index: int,
                     problems: list[str]) -> CheckSpec | None:
    """The ``index``-th entry of ``checks``; its fields are checked unless ``fields`` is None (fields unknown)."""
    where = f"{spec} check #{index}"
    if not isinstance(item, dict):
        problems.append(f"{where}: must be a table such as {{ rule = \"not_before\", field = \"found_at\", "
                        f"reference = \"reported_missing_at\" }}, got {item!r}")
        return None
    misspelt = _unknown_keys(item, CHECK_KEYS, where, problems)
    rule = _choice(item, "rule", CHECK_RULES, where, problems, required="rule" not in misspelt)
    named = {role: _get(item, role, "a non-empty string", where, problems, required=role not in misspelt)
             for role in ("field", "reference")}
    for role, name in named.items():
        if name is None or fields is None:
            continue
        if name not in fields:
            problems.append(f"{where}: {role} names {name!r}, which is not a field{_did_you_mean(name, fields)}")
        elif rule == "not_before" and name not in unsure and not fields[name].is_time:
            problems.append(f"{where}: not_before compares times, but {role} {name!r} is a {fields[name].type} field")
    if rule is None or None in named.values():
        return None
    return CheckSpec(rule, named["field"], named["reference"])


def _scope_from_toml(value: object, fields: dict[str, FieldSpec] | None, locations: tuple[LocationSpec, ...] | None,
                     unsure: set[str], where: str, problems: list[str]) -> ScopeSpec | None:
    """The layer's ``scope`` rule; without one, the first required location's borough.

    ``fields`` or ``locations`` is None when they are too broken to check the rule against (their own problems are
    reported); None is returned when the rule has a problem.
    """
    how = ('scope = { field = "<borough code field>" }, scope = { location = "<location>" }, '
           'scope = { people = ["<person id field>", ...] } or scope = "unscoped"')
    if value is None:
        if locations is None:
            return None
        required = [loc for loc in locations if loc.required]
        if not required:
            problems.append(f"{where}: its rows have no required location, so declare how a row's borough is "
                            f"decided for an uploader's borough scope: {how}")
            return None
        return ScopeSpec("location", (required[0].name,))
    if value == UNSCOPED:
        return ScopeSpec(UNSCOPED)
    if not isinstance(value, dict) or len(value) != 1 or next(iter(value)) not in SCOPE_RULES:
        hint = _did_you_mean(value, (UNSCOPED,))
        if isinstance(value, dict) and len(value) == 1:
            hint = _did_you_mean(next(iter(value)), SCOPE_RULES)
        problems.append(f"{where}: scope must be one of {how}; got {value!r}{hint}")
        return None
    rule, target = next(iter(value.items()))
    if rule == "field":
        if fields is None:
            return None
        field = fields.get(target) if isinstance(target, str) else None
        if field is None or (field.area != "borough" and target not in unsure):
            hint = _did_you_mean(target, [f.name for f in fields.values() if f.area == "borough"])
            problems.append(f"{where}: scope.field must name a field declared with area = \"borough\" (its values "
                            f"are checked as borough codes); got {target!r}{hint}")
            return None
        return ScopeSpec("field", (target,))
    if rule == "location":
        if locations is None:
            return None
        names = [loc.name for loc in locations]
        if target not in names:
            problems.append(f"{where}: scope.location must name one of the layer's locations {names}; got {target!r}"
                            f"{_did_you_mean(target, names)}")
            return None
        return ScopeSpec("location", (target,))
    if not isinstance(target, list) or not target or not all(isinstance(t, str) for t in target):
        stray = []
    elif fields is None:
        return None
    else:
        stray = [t for t in target if t not in fields]
        if not stray:
            return ScopeSpec("people", tuple(target))
    hint = _did_you_mean(stray[0], fields or ()) if stray else ""
    problems.append(f"{where}: scope.people must list the fields holding person ids (of the people layer), e.g. "
                    f"[\"person_a\", \"person_b\"]; got {target!r}{hint}")
    return None


def _counts_from_toml(value: object, fields: dict[str, FieldSpec] | None, unsure: set[str],
                      time_fields: tuple[str, ...] | None, has_locations: bool, where: str,
                      problems: list[str]) -> CountsSpec | None:
    """The layer's ``counts`` (what the store keeps counted per cell and month); by default, for a layer with
    locations, every time field and no ``by`` field. None for a layer without locations, or when it has problems
    (``fields`` or ``time_fields`` is None when they are too broken to check it against)."""
    example = 'counts = { by = ["crime_type"], time_fields = ["month"] }'
    if value is None:
        return CountsSpec((), time_fields or ()) if has_locations else None
    if not isinstance(value, dict):
        problems.append(f"{where}: counts must be a table, got {value!r}; e.g. {example}")
        return None
    if not has_locations:
        problems.append(f"{where}: counts are kept per cell of a location, and this layer has no [[locations]]")
        return None
    _unknown_keys(value, COUNTS_KEYS, f"{where} counts", problems)
    by = _get(value, "by", "a list of strings", f"{where} counts", problems, [])
    chosen = _get(value, "time_fields", "a list of strings", f"{where} counts", problems, None)
    if by is None or (chosen is None and "time_fields" in value):
        return None
    before = len(problems)
    _duplicates(by, "counts.by names", where, problems)
    for name in by:
        if name in COUNTS_COLUMNS:
            problems.append(f"{where}: counts.by cannot name {name!r}, a column of the count table itself")
        elif fields is not None and name not in fields:
            problems.append(f"{where}: counts.by names {name!r}, which is not a field{_did_you_mean(name, fields)}")
        elif fields is not None and name not in unsure and fields[name].type != "text":
            problems.append(f"{where}: counts.by groups by text fields, but {name!r} is a {fields[name].type} field")
    if chosen is not None:
        _duplicates(chosen, "counts.time_fields names", where, problems)
        for name in chosen:
            if time_fields is not None and name not in time_fields:
                problems.append(f"{where}: counts.time_fields names {name!r}, which is not one of the time_fields "
                                f"{list(time_fields)}{_did_you_mean(name, time_fields)}")
    if len(problems) > before or fields is None or time_fields is None:
        return None
    return CountsSpec(tuple(by), tuple(chosen) if chosen is not None else time_fields)


def _check_layer(path: Path, problems: list[str]) -> LayerSpec | None:
    """The spec in ``path``, or None when it has problems: each is added to ``problems``, prefixed with its place.

    Checks that a problem would make meaningless are skipped: without a list of fields, or with a field that has no
    name, nothing is checked against the field names (nor the format columns against the locations' when a location
    has no name); a field whose type or area is not valid is not checked for them where it is used.
    """
    where = path.name
    before = len(problems)
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        problems.append(f"{where}: not valid TOML ({exc})")
        return None
    except UnicodeDecodeError as exc:
        problems.append(f"{where}: not UTF-8 text ({exc})")
        return None
    misspelt = _unknown_keys(doc, LAYER_KEYS, where, problems)
    name = _get(doc, "name", "a non-empty string", where, problems, required="name" not in misspelt)
    if name is not None and name != path.stem:
        problems.append(f"{where}: name {name!r} must match the file name {path.stem!r}")
    title = _get(doc, "title", "a string", where, problems, name)
    description = _get(doc, "description", "a string", where, problems, "")
    sensitivity = _choice(doc, "sensitivity", SENSITIVITIES, where, problems, required="sensitivity" not in misspelt)

    items = _get(doc, "fields", "a list", where, problems, required="fields" not in misspelt,
                 example='one [[fields]] table per field, each with name = "..."')
    fields: list[FieldSpec] = []
    unsure: set[str] = set()  # fields whose type or area is not valid, so not checked where they are used
    for index, item in enumerate(items or (), 1):
        field = _field_from_toml(item, where, index, problems)
        if field is not None:
            fields.append(field)
            if item.get("type", "text") not in FIELD_TYPES or item.get("area") not in (None, *AREA_LEVELS):
                unsure.add(field.name)
    names = [f.name for f in fields]
    _duplicates(names, "field names", where, problems)
    by_name = {f.name: f for f in fields}
    complete = items is not None and len(fields) == len(items)  # else whether a name is a field cannot be told
    for f in fields:
        if f.derive_from and complete:
            _not_fields([f.derive_from], "derive.from", names, f"{where} field {f.name!r}", problems)

    loc_items = _get(doc, "locations", "a list", where, problems, [],
                     example='one [[locations]] table per located point, each with name = "..."')
    locations: list[LocationSpec] = []
    for index, item in enumerate(loc_items or (), 1):
        loc = _location_from_toml(item, where, index, problems)
        if loc is not None:
            locations.append(loc)
    locations_known = loc_items is not None and len(locations) == len(loc_items)  # else some cannot be named
    _duplicates([loc.name for loc in locations], "location names", where, problems)
    if complete:
        for loc in locations:
            for claim in ("claimed_borough", "claimed_borough_name"):
                if getattr(loc, claim):
                    _not_fields([getattr(loc, claim)], claim, names, f"{where} location {loc.name!r}", problems)

    groups: dict[str, tuple[str, ...] | None] = {}
    for group in ("key", "mutable", "time_fields"):
        members = _get(doc, group, "a list of strings", where, problems, [])
        groups[group] = tuple(members) if members is not None else None
        if members is not None:
            _duplicates(members, f"{group} names", where, problems)
            if complete:
                _not_fields(members, group, names, where, problems)
    for member in groups["time_fields"] or ():
        if member in by_name and member not in unsure and not by_name[member].is_time:
            problems.append(f"{where}: time field {member!r} must have a date, month or datetime type")

    retention = _get(doc, "retention", "a table", where, problems, required="retention" not in misspelt,
                     example='retention = { years = 6, from = "<time field>" }')
    years: Any = None
    retention_from: str | None = None
    if retention is not None:
        typos = _unknown_keys(retention, RETENTION_KEYS, f"{where} retention", problems)
        years = _get(retention, "years", "a number", f"{where} retention", problems, required="years" not in typos)
        if years is not None and years <= 0:
            problems.append(f"{where} retention: years must be more than 0, got {years!r}")
        retention_from = _get(retention, "from", "a non-empty string", f"{where} retention", problems)
        time_fields = groups["time_fields"]
        if retention_from is not None and time_fields is not None and retention_from not in time_fields:
            problems.append(f"{where}: retention.from must be one of the time_fields {time_fields}; got "
                            f"{retention_from!r}{_did_you_mean(retention_from, time_fields)}")

    formats_doc = _get(doc, "formats", "a table", where, problems, {},
                       example='[formats.<name>] with columns = { "Source column" = "field" }')
    targets = None
    if complete and locations_known:
        targets = set(names) | {c for loc in locations for c in loc.input_columns}
    formats = {}
    for fmt_name, fmt in (formats_doc or {}).items():
        fmt_spec = _format_from_toml(fmt_name, fmt, targets, where, problems)
        if fmt_spec is not None:
            formats[fmt_name] = fmt_spec

    checks = []
    check_items = _get(doc, "checks", "a list", where, problems, [],
                       example='checks = [ { rule = "not_before", field = "found_at", reference = "reported_at" } ]')
    for index, item in enumerate(check_items or (), 1):
        check = _check_from_toml(item, by_name if complete else None, unsure, where, index, problems)
        if check is not None:
            checks.append(check)

    geometry = doc.get("geometry")
    if geometry not in (None, "polygon"):
        problems.append(f"{where}: geometry may only be 'polygon', got {geometry!r}"
                        f"{_did_you_mean(geometry, ['polygon'])}")
    if geometry:
        for f in fields:
            if f.area:
                problems.append(f"{where}: field {f.name!r} of a polygon layer cannot declare area: areas are checked "
                                "against the boundaries this layer provides")
    scope = None
    if "scope" in doc or "scope" not in misspelt:  # a misspelt scope is reported already
        scope = _scope_from_toml(doc.get("scope"), by_name if complete else None,
                                 tuple(locations) if locations_known else None, unsure, where, problems)
    counts = None
    if "counts" in doc or "counts" not in misspelt:
        counts = _counts_from_toml(doc.get("counts"), by_name if complete else None, unsure, groups["time_fields"],
                                   bool(loc_items), where, problems)
    if len(problems) > before or scope is None:
        return None
    return LayerSpec(
        name=name,
        title=title,
        description=description,
        sensitivity=sensitivity,
        retention_years=float(years),
        retention_from=retention_from,
        key=groups["key"] or (),
        mutable=groups["mutable"] or (),
        fields=tuple(fields),
        locations=tuple(locations),
        geometry=geometry,
        time_fields=groups["time_fields"] or (),
        formats=formats,
        checks=tuple(checks),
        scope=scope,
        counts=counts,
        path=path,
    )


def _listing(headline: str, problems: list[str]) -> str:
    """``headline`` ("x.toml has") with the count of problems, then one problem a line."""
    count = f"{len(problems)} problem" + ("s" if len(problems) != 1 else "")
    return f"{headline} {count}:" + "".join(f"\n  - {p}" for p in problems)


def layer_from_toml(path: Path) -> LayerSpec:
    """Read one spec file and check it is complete and consistent; one error lists every problem found."""
    path = Path(path)
    problems: list[str] = []
    spec = _check_layer(path, problems)
    if spec is None:
        raise LayerSpecError(_listing(f"{path.name} has", problems))
    return spec


def load_layer_specs(layers_dir: Path) -> dict[str, LayerSpec]:
    """Every spec in ``layers_dir``, keyed by layer name; one error lists the problems of every file."""
    layers_dir = Path(layers_dir)
    paths = sorted(layers_dir.glob("*.toml"))
    if not paths:
        raise LayerSpecError(f"no layer specs (*.toml) found in {layers_dir}")
    problems: list[str] = []
    specs = {}
    for path in paths:
        spec = _check_layer(path, problems)
        if spec is not None:
            specs[spec.name] = spec
    failed = {path.stem for path in paths} - set(specs)
    for spec in specs.values():
        # a people layer with problems of its own has them reported already
        if spec.scope.rule == "people" and PEOPLE_LAYER not in failed:
            people = specs.get(PEOPLE_LAYER)
            if people is None or len(people.key) != 1 or people.scope.rule != "field":
                failed.add(spec.name)
                problems.append(f"{spec.name}.toml: scope.people looks people up in the {PEOPLE_LAYER!r} layer, "
                                "which must exist with a one-field key and a scope = { field = ... } rule")
    if problems:
        verb = "has" if len(failed) == 1 else "have"
        raise LayerSpecError(_listing(f"{len(failed)} of the {len(paths)} layer specs in {layers_dir} {verb}",
                                       problems))
    return specs


def get_layer(specs: dict[str, LayerSpec], name: str) -> LayerSpec:
    """The spec called ``name``, or an error that lists the layers there are."""
    try:
        return specs[name]
    except KeyError:
        raise UnknownLayerError(f"no layer called {name!r}; the layers are: {', '.join(sorted(specs))}") from None
