"""One place for settings: defaults in code, overridden by ``GEOSERVICE_*`` environment variables.

Each setting is declared once, in ``SETTINGS``: its name, default, how its text is read and its help. Nothing else
holds a default: ``Settings`` has one field per setting and ``Settings.from_env`` fills every one from the
declarations, and a test checks ``docs/settings.md`` against them (names and defaults).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from pathlib import Path

from .errors import GeoserviceError

PROJECT_ROOT = Path(__file__).resolve().parent.parent

#: Merton and its five neighbours, the default study area (GSS codes of London boroughs).
MERTON_AND_NEIGHBOURS = (
    "E09000024",  # Merton
    "E09000032",  # Wandsworth
    "E09000022",  # Lambeth
    "E09000008",  # Croydon
    "E09000029",  # Sutton
    "E09000021",  # Kingston upon Thames
)


@dataclasses.dataclass(frozen=True)
class Setting:
    name: str
    default: object
    help: str
    parse: Callable[[str], object] = str
    secret: bool = False


def _number(value, name: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise GeoserviceError(f"{name} must be a number, got {value!r}") from None
    if number != number or number <= 0:
        raise GeoserviceError(f"{name} must be a positive number, got {value!r}")
    return number


def _metres(value) -> float:
    return _number(value, "study_area_tolerance_m")


def _listed(value) -> list[str]:
    """Comma-separated text, or a sequence already split."""
    return [str(v) for v in value] if isinstance(value, (list, tuple)) else str(value).split(",")


def _codes(text) -> tuple[str, ...]:
    codes = tuple(code.strip() for code in _listed(text) if code.strip())
    if not codes:
        raise GeoserviceError(f"study_area must be comma-separated GSS codes, got {text!r}")
    return codes


def _resolutions(text) -> tuple[int, ...]:
    try:
        values = tuple(sorted({int(part) for part in _listed(text) if part.strip()}))
    except ValueError:
        raise GeoserviceError(f"resolutions must be comma-separated whole numbers 0-15, got {text!r}") from None
    if not values or any(not 0 <= r <= 15 for r in values):
        raise GeoserviceError(f"resolutions must be comma-separated whole numbers 0-15, got {text!r}")
    return values


def _whole(value, name: str, low: int = 0, high: int = 10) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise GeoserviceError(f"{name} must be a whole number, got {value!r}") from None
    if not low <= number <= high:
        raise GeoserviceError(f"{name} must be {low}-{high}, got {value!r}")
    return number


def _days(value, name: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise GeoserviceError(f"{name} must be a whole number of days, got {value!r}") from None
    if not 1 <= number <= 366:
        raise GeoserviceError(f"{name} must be 1-366 days, got {value!r}")
    return number


def _engine(value) -> str:
    name = str(value).strip().lower()
    if name not in ("local", "dask"):
        raise GeoserviceError(f"engine must be local or dask, got {value!r}")
    return name


def _megabytes(name: str):
    return lambda value: _number(value, name)


SETTINGS = (
    Setting("database_url", None,
            "SQLAlchemy URL of the store. Default: a SQLite file instance/geoservice.sqlite. "
            "A postgresql:// URL uses PostgreSQL with PostGIS geometry columns."),
    Setting("instance_path", str(PROJECT_ROOT / "instance"),
            "Folder for the SQLite database, rendered maps and other run-time files.", Path),
    Setting("data_dir", str(PROJECT_ROOT.parent / "shared" / "data"),
            "Folder holding the real public data (boundaries, police.uk, OpenStreetMap points).", Path),
    Setting("layers_dir", str(PROJECT_ROOT / "layers"),
            "Folder holding the layer specs (one TOML file per layer).", Path),
    Setting("study_area", ",".join(MERTON_AND_NEIGHBOURS),
            "Comma-separated GSS codes of the boroughs that make up the study area.", _codes),
    Setting("home_borough", "E09000024",
            "GSS code of the borough whose partnership runs the service: pages and forms open on it when the user "
            "may see it (else on the user's first borough).", lambda value: _codes(value)[0]),
    Setting("study_area_tolerance_m", 250.0,
            "How far (metres) outside the study-area boroughs a point may lie and still be accepted, and the "
            "distance within which a point outside every generalised boundary is given the nearest one.", _metres),
    Setting("resolutions", "7,8,9,10",
            "H3 resolutions each located row is indexed at (comma-separated, 0-15).", _resolutions),
    Setting("postcode_table", None,
            "CSV of postcode,latitude,longitude (for example an ONS Postcode Directory extract) used to locate "
            "rows that carry only a postcode.", Path),
    Setting("maps_dir", str(PROJECT_ROOT / "maps"),
            "Folder holding the map product specs (one TOML file per map).", Path),
    Setting("map_tile_url", None,
            "Tile URL template of an internal tile server (e.g. https://tiles.council.internal/{z}/{x}/{y}.png) "
            "for a basemap. Default: none, so maps make no request beyond the serving host."),
    Setting("upload_max_mb", 50,
            "Largest file the service accepts for upload, in MB (a larger one is refused with 413).",
            _megabytes("upload_max_mb")),
    Setting("secret_key", None,
            "Secret that signs the service's session cookies. Default: a random key made on first use and kept in "
            "instance/secret.key.", secret=True),
    Setting("pseudonym_key", None,
            "Secret key for the pseudonymous ids in reports shared with another borough. Default: a random key "
            "made on first use and kept in instance/pseudonym.key; keep it to answer a neighbour's follow-up.",
            secret=True),
    Setting("audit_key", None,
            "Secret key of the audit log's hash chain (HMAC-SHA-256), so whoever can write the database cannot "
            "rewrite the log undetected. Default: a random key made on first use and kept in instance/audit.key. "
            "Keep it away from the database server and its backups.", secret=True),
    Setting("audit_anchor", None,
            "File the audit log's latest head (entry number and chain hash) is appended to after every write, and "
            "that `geoservice audit verify` checks the log against, so a truncated or emptied log is detected. "
            "Default: instance/audit-anchor.log. Put it where the database's users cannot write (another disk, "
            "a log host's mount).", Path),
    Setting("ingest_max_mb", 250,
            "Largest input the ingest reads, in MB after decompression: a compressed file that inflates past it "
            "is refused while it is being read, never inflated in memory. Checking a file takes about 15-45 times "
            "its size in memory, so the default (250) may need several GB; split larger files.",
            _megabytes("ingest_max_mb")),
    Setting("upload_max_inflated_mb", 25,
            "Largest uploaded file the service ingests, in MB after decompression (the compressed upload itself "
            "is limited by upload_max_mb). Each worker checks one upload at a time, in up to about 45 times this "
            "size of memory.", _megabytes("upload_max_inflated_mb")),
    Setting("proxy_hops", 0,
            "How many trusted reverse proxies (the council's HTTPS proxy, a load balancer) stand in front of the "
            "service: their X-Forwarded-For and X-Forwarded-Proto headers are then believed, so sign-in limits count "
            "each client's own address. 0 (the default): none, and those headers are ignored.",
            lambda value: _whole(value, "proxy_hops")),
    Setting("repeat_missing_days", 90,
            "The missing panel's rolling window for repeat missing, in days (a child missing repeat_missing_episodes "
            "times or more within it is listed).", lambda value: _whole(value, "repeat_missing_days", 1, 366)),
    Setting("repeat_missing_episodes", 3,
            "How many episodes within repeat_missing_days make a child 'repeat missing' on the missing panel.",
            lambda value: _whole(value, "repeat_missing_episodes", 2, 50)),
    Setting("max_window_years", 10,
            "Longest analysis window anyone may ask for, in years; windows are also clipped to the data held.",
            _megabytes("max_window_years")),
    Setting("risk_review_days", 90,
            "How many days a child's contextual-harm risk matrix may go without a new score before it is flagged "
            "as not reviewed (risk-matrix tracking, docs/panels.md).",
            lambda value: _whole(value, "risk_review_days", 1, 730)),
    Setting("suspect_referral_days", 28,
            "A child recorded by the police as a suspect (or arrested) with no safeguarding referral (MASH, NRM, "
            "Rescue and Response) within this many days either side of the contact is flagged as a child to "
            "protect (the disproportionality view's 'risks to' check).",
            lambda value: _days(value, "suspect_referral_days")),
    Setting("engine", "local",
            "Where the analysis runs: local (this process, for a borough) or dask (a Dask cluster, for pan-London "
            "or national work). Both give identical results (docs/analysis.md, Engines).", _engine),
    Setting("dask_address", None,
            "Address of the Dask scheduler used when engine is dask (e.g. tcp://scheduler:8786). Default: none, "
            "so a local cluster is started for the run."),
)


def default(name: str):
    """A setting's declared default (parsed), for code that runs without settings."""
    setting = next(s for s in SETTINGS if s.name == name)
    return None if setting.default is None else setting.parse(setting.default)


@dataclasses.dataclass(frozen=True)
class Settings:
    """Resolved settings for one run of the service, the CLI or a notebook: one field per ``SETTINGS`` entry
    (read them there for their meaning and defaults). Secrets are never printed."""

    database_url: str
    instance_path: Path
    data_dir: Path
    layers_dir: Path
    study_area: tuple[str, ...]
    home_borough: str
    study_area_tolerance_m: float
    resolutions: tuple[int, ...]
    postcode_table: Path | None
    maps_dir: Path
    map_tile_url: str | None
    upload_max_mb: float
    secret_key: str | None = dataclasses.field(repr=False)
    pseudonym_key: str | None = dataclasses.field(repr=False)
    audit_key: str | None = dataclasses.field(repr=False)
    audit_anchor: Path | None
    ingest_max_mb: float
    upload_max_inflated_mb: float
    proxy_hops: int
    max_window_years: float
    repeat_missing_days: int
    repeat_missing_episodes: int
    risk_review_days: int
    suspect_referral_days: int
    engine: str
    dask_address: str | None

    @classmethod
    def from_env(cls, environ=None, **overrides) -> "Settings":
        """Defaults, then ``GEOSERVICE_<NAME>`` variables, then keyword overrides (None means "not given")."""
        environ = os.environ if environ is None else environ
        values = {}
        for setting in SETTINGS:
            raw = overrides.get(setting.name)
            if raw is None:
                raw = environ.get("GEOSERVICE_" + setting.name.upper()) or setting.default
            values[setting.name] = None if raw is None or raw == "" else setting.parse(raw)
        unknown = set(overrides) - {s.name for s in SETTINGS}
        if unknown:
            raise GeoserviceError(f"unknown settings {sorted(unknown)}; known: {[s.name for s in SETTINGS]}")
        if values["database_url"] is None:
            values["database_url"] = f"sqlite:///{values['instance_path'] / 'geoservice.sqlite'}"
        return cls(**values)
