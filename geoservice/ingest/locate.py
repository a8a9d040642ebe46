"""Turn a row's location columns into a checked WGS84 point, its borough and ward.

Per row the first usable input wins: latitude/longitude, then easting/northing (EPSG:27700), then a postcode
looked up in the user's postcode table. Suspicious points are rejected with a reason, never "fixed": a point
outside the study area whose swapped or sign-flipped twin lies inside is reported as ``coord_swapped`` or
``coord_sign_flipped`` so the user can correct the source.
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import shapely

from ..layers import LocationSpec
from ..places import bng_to_lnglat, lnglat_to_bng
from .areas import CLAIMED, AreaIndex
from .reasons import IssueLog

GREAT_BRITAIN = (49.8, 60.95, -8.75, 1.85)  # lat min, lat max, lng min, lng max (mainland, islands, Shetland)
BNG_MAX = (700_000.0, 1_300_000.0)
POSTCODE_RE = re.compile(r"^[A-Z]{1,2}[0-9][A-Z0-9]?[0-9][A-Z]{2}$")
NAN_LITERALS = {"nan", "-nan", "+nan"}


@dataclasses.dataclass
class LocateContext:
    """What locating needs from outside the row: boundaries, study area, postcodes."""

    areas: AreaIndex | None
    study_area: tuple[str, ...]
    postcodes: "PostcodeTable | None" = None


class PostcodeTable:
    """Postcode → (lat, lng), from a CSV such as an ONS Postcode Directory extract."""

    POSTCODE_COLUMNS = ("postcode", "pcds", "pcd", "pcd7", "pcd8")
    LAT_COLUMNS = ("latitude", "lat")
    LNG_COLUMNS = ("longitude", "long", "lng", "lon")

    def __init__(self, mapping: dict[str, tuple[float, float]], source: str = ""):
        self.mapping = mapping
        self.source = source

    @classmethod
    def from_csv(cls, path) -> "PostcodeTable":
        """Read the table; errors and messages name it by its file name only, never its path on the server."""
        from pathlib import Path

        from ..errors import InputFileError

        name = Path(path).name
        try:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            raise InputFileError(f"postcode table {name}: cannot be read ({type(exc).__name__}); check the "
                                 "postcode_table setting or the --postcodes file") from None
        lower = {c.lower().strip(): c for c in frame.columns}

        def pick(options, what):
            for option in options:
                if option in lower:
                    return lower[option]
            raise InputFileError(f"postcode table {name}: no {what} column (looked for {', '.join(options)})")

        pc = frame[pick(cls.POSTCODE_COLUMNS, "postcode")].map(normalise_postcode)
        lat = pd.to_numeric(frame[pick(cls.LAT_COLUMNS, "latitude")], errors="coerce")
        lng = pd.to_numeric(frame[pick(cls.LNG_COLUMNS, "longitude")], errors="coerce")
        # ONSPD marks postcodes with no grid reference by latitude 99.999999
        usable = lat.between(-90, 90) & lng.between(-180, 180)
        return cls(dict(zip(pc[usable], zip(lat[usable], lng[usable]))), name)

    def lookup(self, postcodes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        found = np.array([p in self.mapping for p in postcodes], dtype=bool)
        lat = np.array([self.mapping[p][0] if ok else np.nan for p, ok in zip(postcodes, found)], dtype=float)
        lng = np.array([self.mapping[p][1] if ok else np.nan for p, ok in zip(postcodes, found)], dtype=float)
        return lat, lng, found


def normalise_postcode(text: str) -> str:
    return re.sub(r"\s+", "", str(text)).upper()


def _column(values: pd.DataFrame, name: str | None) -> np.ndarray:
    if not name:
        return np.full(len(values), "", dtype=object)
    return values[name].to_numpy(dtype=object)


def _parse_numbers(texts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Numbers, and masks of values that are not numbers and of NaN/inf literals."""
    try:  # Arrow parses a clean column ~15x faster than pandas, but refuses the whole column on one bad value
        parsed = pc.cast(pa.array(texts, type=pa.string()), pa.float64()).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        parsed = pd.to_numeric(pd.Series(texts, dtype=object), errors="coerce").to_numpy(dtype=float)
    nan = np.isnan(parsed)
    nan_literal = np.zeros(len(texts), dtype=bool)
    if nan.any():
        rows = np.flatnonzero(nan)
        nan_literal[rows] = [str(t).lower() in NAN_LITERALS for t in texts[rows]]
    not_numeric = nan & ~nan_literal
    not_finite = nan_literal | np.isinf(parsed)
    return parsed, not_numeric, not_finite


def locate(loc: LocationSpec, values: pd.DataFrame, ctx: LocateContext, log: IssueLog,
           row_numbers: np.ndarray) -> dict[str, np.ndarray]:
    """Locate every row for location ``loc``; issues go to ``log``. Returns the stored columns of ``loc``."""
    n = len(values)
    lat_s, lng_s = _column(values, loc.lat), _column(values, loc.lng)
    east_s, north_s = _column(values, loc.easting), _column(values, loc.northing)
    post_s = _column(values, loc.postcode)
    has_ll = (lat_s != "") | (lng_s != "")
    has_bng = ~has_ll & ((east_s != "") | (north_s != ""))
    has_pc = ~has_ll & ~has_bng & (post_s != "")
    unlocated = ~(has_ll | has_bng | has_pc)
    if loc.required:
        log.add(unlocated, loc.name, "location_missing",
                f"{loc.name}: no coordinates or postcode; give {' / '.join(loc.input_columns)}")

    lat = np.full(n, np.nan)
    lng = np.full(n, np.nan)
    method = np.full(n, "", dtype=object)
    bad = np.zeros(n, dtype=bool)

    # WGS84 latitude/longitude
    rows = np.flatnonzero(has_ll)
    if rows.size:
        la, la_nn, la_nf = _parse_numbers(lat_s[rows])
        ln, ln_nn, ln_nf = _parse_numbers(lng_s[rows])
        nn = la_nn | ln_nn
        log.add(rows[nn], loc.lat, "coord_not_numeric",
                [f"latitude {a!r} / longitude {b!r} is not a pair of numbers"
                 for a, b in zip(lat_s[rows[nn]], lng_s[rows[nn]])])
        nf = ~nn & (la_nf | ln_nf)
        log.add(rows[nf], loc.lat, "coord_not_finite",
                [f"latitude {a!r} / longitude {b!r} is not a finite number"
                 for a, b in zip(lat_s[rows[nf]], lng_s[rows[nf]])])
        with np.errstate(invalid="ignore"):
            oor = ~nn & ~nf & ((np.abs(la) > 90) | (np.abs(ln) > 180))
        log.add(rows[oor], loc.lat, "coord_out_of_range",
                [f"latitude {a} must be -90..90 and longitude {b} -180..180" for a, b in zip(la[oor], ln[oor])])
        null = ~nn & ~nf & ~oor & (la == 0) & (ln == 0)
        log.add(rows[null], loc.lat, "coord_null_island",
                "latitude 0, longitude 0 is a placeholder, not a place; supply the real location")
        good = ~(nn | nf | oor | null)
        lat[rows[good]], lng[rows[good]] = la[good], ln[good]
        method[rows[good]] = "latlng"
        bad[rows[~good]] = True

    # British National Grid easting/northing
    rows = np.flatnonzero(has_bng)
    if rows.size:
        e, e_nn, e_nf = _parse_numbers(east_s[rows])
        nth, n_nn, n_nf = _parse_numbers(north_s[rows])
        nn = e_nn | n_nn | e_nf | n_nf
        log.add(rows[nn], loc.easting, "bng_not_numeric",
                [f"easting {a!r} / northing {b!r} is not a pair of numbers"
                 for a, b in zip(east_s[rows[nn]], north_s[rows[nn]])])
        with np.errstate(invalid="ignore"):
            oor = ~nn & ((e < 0) | (e > BNG_MAX[0]) | (nth < 0) | (nth > BNG_MAX[1]))
        log.add(rows[oor], loc.easting, "bng_out_of_range",
                [f"easting {a:g} must be 0..700000 and northing {b:g} 0..1300000"
                 for a, b in zip(e[oor], nth[oor])])
        good = ~(nn | oor)
        gx, gy = bng_to_lnglat(e[good], nth[good])
        lat[rows[good]], lng[rows[good]] = gy, gx
        method[rows[good]] = "bng"
        bad[rows[~good]] = True

    # Postcode, looked up in the user's table
    rows = np.flatnonzero(has_pc)
    if rows.size:
        from ..errors import SetupError

        codes = np.array([normalise_postcode(p) for p in post_s[rows]], dtype=object)
        malformed = np.array([not POSTCODE_RE.match(p) for p in codes], dtype=bool)
        log.add(rows[malformed], loc.postcode, "postcode_malformed",
                [f"postcode {p!r} is not a UK postcode (like SW19 1AA)" for p in post_s[rows[malformed]]])
        if ctx.postcodes is None:
            first = int(row_numbers[rows[0]])
            raise SetupError(f"rows from row {first} are located by postcode but no postcode table is configured; "
                             "set GEOSERVICE_POSTCODE_TABLE or pass --postcodes FILE (postcode,latitude,longitude)")
        pla, plng, found = ctx.postcodes.lookup(codes)
        unknown = ~malformed & ~found
        log.add(rows[unknown], loc.postcode, "postcode_unknown",
                [f"postcode {p!r} is not in the postcode table ({ctx.postcodes.source or 'configured'})"
                 for p in post_s[rows[unknown]]])
        good = ~malformed & found
        lat[rows[good]], lng[rows[good]] = pla[good], plng[good]
        method[rows[good]] = "postcode"
        bad[rows[~good]] = True

    located = method != ""
    # Geometry is worked out once per distinct point: police.uk "snap points" repeat many times over.
    points = _DistinctPoints(lat, lng, np.flatnonzero(located & ~bad))
    ux, uy = lnglat_to_bng(points.lng, points.lat)
    x, y = points.expand(ux, uy)
    if loc.extent == "study_area":
        inside = points.expand(ctx.areas.in_study_area(ux, uy, ctx.study_area) if ctx.areas is not None
                               else np.ones(points.lat.size, dtype=bool), fill=True)
        _check_study_area(loc, ctx, log, lat_s, lng_s, lat, lng, x, y, method, located, bad, inside)
    else:
        _check_great_britain(loc, log, lat, lng, method, located, bad)

    borough = np.full(n, "", dtype=object)
    borough_match = np.full(n, "", dtype=object)
    ward = np.full(n, "", dtype=object)
    ward_match = np.full(n, "", dtype=object)
    ok = np.flatnonzero(located & ~bad)
    if ok.size and ctx.areas is not None:
        for level, codes, match in (("borough", borough, borough_match), ("ward", ward, ward_match)):
            unique_codes, unique_match = ctx.areas.assign(ux, uy, level)
            codes[ok] = points.expand(unique_codes, fill="")[ok]
            match[ok] = points.expand(unique_match, fill="")[ok]
        _check_claimed_borough(loc, values, ctx, log, ok, x, y, lat, lng, borough, borough_match, ward, ward_match)
    return {
        "lat": np.where(located & ~bad, lat, np.nan),
        "lng": np.where(located & ~bad, lng, np.nan),
        "located_by": np.where(located & ~bad, method, ""),
        "borough": borough,
        "borough_match": borough_match,
        "ward": ward,
        "ward_match": ward_match,
    }


class _DistinctPoints:
    """The distinct points among some rows, and a way back from per-point results to per-row ones."""

    def __init__(self, lat: np.ndarray, lng: np.ndarray, rows: np.ndarray):
        self.n = lat.size
        self.rows = rows
        codes, uniques = pd.factorize(lat[rows] + 1j * lng[rows])
        self.inverse = codes
        self.lat = np.asarray(uniques.real, dtype=float) if len(uniques) else np.zeros(0)
        self.lng = np.asarray(uniques.imag, dtype=float) if len(uniques) else np.zeros(0)

    def expand(self, *per_point, fill=np.nan):
        """Per-row arrays (``fill`` where a row has no point) from per-point arrays."""
        out = []
        for values in per_point:
            values = np.asarray(values)
            dtype = object if values.dtype == object or isinstance(fill, str) else values.dtype
            full = np.full(self.n, fill, dtype=dtype)
            full[self.rows] = values[self.inverse]
            out.append(full)
        return out[0] if len(out) == 1 else tuple(out)


def _check_study_area(loc, ctx, log, lat_s, lng_s, lat, lng, x, y, method, located, bad, inside):
    if ctx.areas is None:
        return
    rows = np.flatnonzero(located & ~bad)
    out = rows[~inside[rows]]
    if out.size == 0:
        return
    sx, sy = lnglat_to_bng(lat[out], lng[out])  # swapped: latitude read as longitude
    swapped = ctx.areas.in_study_area(sx, sy, ctx.study_area) & (method[out] == "latlng")
    fx, fy = lnglat_to_bng(-lng[out], lat[out])
    flipped = ~swapped & ctx.areas.in_study_area(fx, fy, ctx.study_area) & (method[out] == "latlng")
    log.add(out[swapped], loc.lat, "coord_swapped",
            [f"latitude {a} / longitude {b} lie outside the study area, but swapped they lie inside: "
             "the columns look swapped; correct the source" for a, b in zip(lat_s[out[swapped]], lng_s[out[swapped]])])
    log.add(out[flipped], loc.lng, "coord_sign_flipped",
            [f"longitude {b} lies outside the study area, but {-lng[i]:g} lies inside: "
             "the minus sign looks lost or added; correct the source"
             for i, b in zip(out[flipped], lng_s[out[flipped]])])
    rest = out[~swapped & ~flipped]
    if rest.size:
        area = ctx.areas.study_area(ctx.study_area)
        dist = np.full(rest.size, np.inf)
        finite = np.isfinite(x[rest]) & np.isfinite(y[rest])  # far abroad, the national grid has no coordinates
        dist[finite] = shapely.distance(area, shapely.points(x[rest][finite], y[rest][finite])) + \
            ctx.areas.tolerance_m
        log.add(rest, loc.lat, "outside_study_area",
                [f"point ({lat[i]:.6f}, {lng[i]:.6f}) lies "
                 + (f"{d / 1000:.1f} km" if np.isfinite(d) else "far")
                 + f" outside the study area ({', '.join(ctx.study_area)}); beyond the "
                 f"{ctx.areas.tolerance_m:g} m tolerance" for i, d in zip(rest, dist)])
    bad[out] = True


def _check_great_britain(loc, log, lat, lng, method, located, bad):
    la0, la1, ln0, ln1 = GREAT_BRITAIN
    rows = np.flatnonzero(located & ~bad)
    la, ln = lat[rows], lng[rows]
    inside = (la >= la0) & (la <= la1) & (ln >= ln0) & (ln <= ln1)
    swapped_in = (ln >= la0) & (ln <= la1) & (la >= ln0) & (la <= ln1) & (method[rows] == "latlng")
    sw = rows[~inside & swapped_in]
    log.add(sw, loc.lat, "coord_swapped",
            [f"latitude {lat[i]:g} / longitude {lng[i]:g} lie outside Great Britain, but swapped they lie inside: "
             "the columns look swapped" for i in sw])
    out = rows[~inside & ~swapped_in]
    log.add(out, loc.lat, "outside_study_area",
            [f"point ({lat[i]:.6f}, {lng[i]:.6f}) lies outside Great Britain, the extent allowed for {loc.name}"
             for i in out])
    bad[rows[~inside]] = True


def _check_claimed_borough(loc, values, ctx, log, ok, x, y, lat, lng, borough, borough_match, ward, ward_match):
    """Cross-check the point against the borough the row itself claims (a code, or an LSOA-style name).

    Within the tolerance the claim wins (marked ``claimed``): the source placed the point with full-resolution
    boundaries, ours are generalised. Beyond it the row is rejected (``borough_mismatch``), or reported as
    ``coord_sign_flipped`` when negating the longitude would put it in the claimed borough.
    """
    claimed = np.full(len(values), "", dtype=object)
    if loc.claimed_borough_name and loc.claimed_borough_name in values.columns:
        by_name = {name.lower(): code for code, name in ctx.areas.codes("borough").items()}
        names = values[loc.claimed_borough_name].to_numpy(dtype=object)
        # LSOA and MSOA names are "<borough name> 014A": drop the last word
        name_of_row, distinct = pd.factorize(names)  # a few hundred LSOA names among many rows
        claimed = np.array([by_name.get(t.rsplit(" ", 1)[0].lower(), "") if t else "" for t in distinct],
                           dtype=object)[name_of_row] if len(names) else np.zeros(0, dtype=object)
    if loc.claimed_borough and loc.claimed_borough in values.columns:
        codes = values[loc.claimed_borough].to_numpy(dtype=object)
        claimed = np.where(codes != "", codes, claimed)
    known = set(ctx.areas.codes("borough"))
    rows = ok[(claimed[ok] != "") & (claimed[ok] != borough[ok]) & np.isin(claimed[ok], list(known))]
    if rows.size == 0:
        return
    dist = ctx.areas.distance_to(x[rows], y[rows], "borough", claimed[rows])
    near = rows[dist <= ctx.areas.tolerance_m]
    for code in set(claimed[near]):
        these = near[claimed[near] == code]
        borough[these] = code
        borough_match[these] = CLAIMED
        ward[these], ward_match[these] = ctx.areas.nearest_child(x[these], y[these], "ward", code)
    far = rows[dist > ctx.areas.tolerance_m]
    if far.size == 0:
        return
    fx, fy = lnglat_to_bng(-lng[far], lat[far])
    flipped_dist = ctx.areas.distance_to(fx, fy, "borough", claimed[far])
    flipped = flipped_dist <= ctx.areas.tolerance_m
    names = ctx.areas.codes("borough")
    field = loc.claimed_borough or loc.claimed_borough_name
    log.add(far[flipped], loc.lng, "coord_sign_flipped",
            [f"the row says {names[claimed[i]]} but longitude {lng[i]:g} puts it in "
             f"{names.get(borough[i], 'no borough')}; {-lng[i]:g} would put it in {names[claimed[i]]}: the minus "
             "sign looks lost or added"
             for i in far[flipped]])
    log.add(far[~flipped], field, "borough_mismatch",
            [f"the row says {names[claimed[i]]} ({claimed[i]}) but the point lies in "
             f"{names.get(borough[i], 'no borough')}, {d / 1000:.1f} km from {names[claimed[i]]}"
             for i, d in zip(far[~flipped], dist[dist > ctx.areas.tolerance_m][~flipped])])
