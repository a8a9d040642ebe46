"""Map products as declarative specs: ``maps/<name>.toml`` (see ``docs/maps.md``).

A spec names its audience and disclosure tier, the H3 resolution, the time window and its layers. The tier
decides which layer kinds a spec may use at all, so a spec cannot put person-level detail on a youth worker's
map: ``aggregate`` allows only suppressed counts of distinct people and boundaries, at the spec's fixed
resolution and over whole calendar periods.
"""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

from ..errors import GeoserviceError
from ..policy import AUDIENCE_TIERS as AUDIENCES
from ..policy import TIER_KINDS as TIERS

CALENDARS = ("year", "quarter")
LAYER_KEYS = {"kind", "title", "visible", "source", "level", "measure", "top", "layer", "location", "person",
              "time_field", "filter"}


class MapSpecError(GeoserviceError, ValueError):
    """A map spec that cannot be rendered as written."""


@dataclasses.dataclass(frozen=True)
class MapSpec:
    name: str
    title: str
    audience: str
    tier: str
    resolution: int
    layers: tuple[dict, ...]
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


def _check(spec: MapSpec) -> MapSpec:
    where = spec.path or spec.name

    def fail(message):
        raise MapSpecError(f"{where}: {message}")

    if spec.tier not in TIERS:
        fail(f"tier must be one of {sorted(TIERS)}, got {spec.tier!r}")
    if AUDIENCES.get(spec.audience) != spec.tier:
        fail(f"audience {spec.audience!r} does not match tier {spec.tier!r} (audiences: {AUDIENCES})")
    if not 7 <= spec.resolution <= 10:
        fail(f"resolution must be 7-10 (the stored resolutions), got {spec.resolution}")
    if (spec.window_months is None) == (spec.calendar is None):
        fail("give exactly one of window_months (a rolling window) or calendar (year or quarter)")
    if spec.calendar is not None and spec.calendar not in CALENDARS:
        fail(f"calendar must be one of {CALENDARS}, got {spec.calendar!r}")
    if spec.tier == "aggregate":
        if spec.calendar is None:
            fail("an aggregate map covers fixed calendar windows: set calendar, not window_months")
        if int(spec.disclosure.get("suppress_below", 0)) < 10 or int(spec.disclosure.get("round_to", 0)) < 1:
            fail("an aggregate map needs disclosure = { suppress_below = 10 or more, round_to = 1 or more }")
    if spec.time_control not in (None, "month"):
        fail(f"time_control may only be 'month', got {spec.time_control!r}")
    if not spec.layers:
        fail("a map needs at least one [[layers]] entry")
    for number, layer in enumerate(spec.layers, start=1):
        unknown = set(layer) - LAYER_KEYS
        if unknown:
            fail(f"layer {number} has unknown keys {sorted(unknown)}; known: {sorted(LAYER_KEYS)}")
        kind = layer.get("kind")
        if kind not in TIERS[spec.tier]:
            fail(f"layer {number}: kind {kind!r} is not allowed on a {spec.tier!r} map "
                 f"(allowed: {sorted(TIERS[spec.tier])})")
        if not layer.get("title"):
            fail(f"layer {number} ({kind}) needs a title")
        required = {"counts": ["source"], "boundaries": ["level"], "outreach": ["measure"],
                    "distinct": ["layer", "location", "person", "time_field"]}.get(kind, [])
        missing = [key for key in required if not layer.get(key)]
        if missing:
            fail(f"layer {number} ({kind}) needs {missing}")
    return spec


def load_map_spec(path) -> MapSpec:
    path = Path(path)
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise MapSpecError(f"{path}: cannot read the map spec ({exc})") from None
    known = {f.name for f in dataclasses.fields(MapSpec)} - {"path"}
    unknown = set(doc) - known
    if unknown:
        raise MapSpecError(f"{path}: unknown keys {sorted(unknown)}; known: {sorted(known)}")
    missing = [key for key in ("name", "title", "audience", "tier", "resolution", "layers") if key not in doc]
    if missing:
        raise MapSpecError(f"{path}: missing {missing}")
    if doc["name"] != path.stem:
        raise MapSpecError(f"{path}: name {doc['name']!r} must match the file name {path.stem!r}")
    doc["layers"] = tuple(dict(layer) for layer in doc["layers"])
    return _check(MapSpec(**doc, path=path))


def load_map_specs(folder) -> dict[str, MapSpec]:
    """Every ``*.toml`` map spec in ``folder``, by name."""
    specs = {path.stem: load_map_spec(path) for path in sorted(Path(folder).glob("*.toml"))}
    if not specs:
        raise MapSpecError(f"no map specs (*.toml) in {folder}")
    return specs
