"""One place for settings: defaults in code, overridden by ``GEOSERVICE_*`` environment variables.

Each setting is declared once with its default and help text (``SETTINGS``); ``Settings.from_env`` reads
them, and ``docs/settings.md`` is checked against this list by a test.
"""

from __future__ import annotations

import dataclasses
import os
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


SETTINGS = (
    Setting("database_url", None,
            "SQLAlchemy URL of the store. Default: a SQLite file instance/geoservice.sqlite. "
            "A postgresql:// URL uses PostgreSQL with PostGIS geometry columns."),
    Setting("instance_path", str(PROJECT_ROOT / "instance"),
            "Folder for the SQLite database, rendered maps and other run-time files."),
    Setting("data_dir", str(PROJECT_ROOT.parent / "shared" / "data"),
            "Folder holding the real public data (boundaries, police.uk, OpenStreetMap points)."),
    Setting("layers_dir", str(PROJECT_ROOT / "layers"),
            "Folder holding the layer specs (one TOML file per layer)."),
    Setting("study_area", ",".join(MERTON_AND_NEIGHBOURS),
            "Comma-separated GSS codes of the boroughs that make up the study area."),
    Setting("study_area_tolerance_m", 250.0,
            "How far (metres) outside the study-area boroughs a point may lie and still be accepted, and the "
            "distance within which a point outside every generalised boundary is given the nearest one."),
    Setting("resolutions", "7,8,9,10",
            "H3 resolutions each located row is indexed at (comma-separated, 0-15)."),
    Setting("postcode_table", None,
            "CSV of postcode,latitude,longitude (for example an ONS Postcode Directory extract) used to locate "
            "rows that carry only a postcode."),
    Setting("maps_dir", str(PROJECT_ROOT / "maps"),
            "Folder holding the map product specs (one TOML file per map)."),
    Setting("map_tile_url", None,
            "Tile URL template of an internal tile server (e.g. https://tiles.council.internal/{z}/{x}/{y}.png) "
            "for a basemap. Default: none, so maps make no request beyond the serving host."),
    Setting("upload_max_mb", 50,
            "Largest file the service accepts for upload, in MB (a larger one is refused with 413)."),
    Setting("secret_key", None,
            "Secret that signs the service's session cookies. Default: a random key made on first use and kept in "
            "instance/secret.key."),
    Setting("pseudonym_key", None,
            "Secret key for the pseudonymous ids in reports shared with another borough. Default: a random key "
            "made on first use and kept in instance/pseudonym.key; keep it to answer a neighbour's follow-up."),
    Setting("audit_key", None,
            "Secret key of the audit log's hash chain (HMAC-SHA-256), so whoever can write the database cannot "
            "rewrite the log undetected. Default: a random key made on first use and kept in instance/audit.key. "
            "Keep it away from the database server and its backups."),
    Setting("audit_anchor", None,
            "File the audit log's latest head (entry number and chain hash) is appended to after every write, and "
            "that `geoservice audit verify` checks the log against, so a truncated or emptied log is detected. "
            "Default: instance/audit-anchor.log. Put it where the database's users cannot write (another disk, "
            "a log host's mount)."),
    Setting("ingest_max_mb", 1024,
            "Largest input the ingest reads, in MB after decompression: a compressed file that inflates past it "
            "is refused while it is being read, never inflated in memory."),
    Setting("upload_max_inflated_mb", 200,
            "Largest uploaded file the service ingests, in MB after decompression (the compressed upload itself "
            "is limited by upload_max_mb)."),
    Setting("max_window_years", 10,
            "Longest analysis window anyone may ask for, in years; windows are also clipped to the data held."),
)


def _number(value, name: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise GeoserviceError(f"{name} must be a number, got {value!r}") from None


def _parse_resolutions(text: str) -> tuple[int, ...]:
    try:
        values = tuple(sorted({int(part) for part in str(text).split(",") if part.strip()}))
    except ValueError:
        raise GeoserviceError(f"resolutions must be comma-separated whole numbers 0-15, got {text!r}") from None
    if not values or any(not 0 <= r <= 15 for r in values):
        raise GeoserviceError(f"resolutions must be comma-separated whole numbers 0-15, got {text!r}")
    return values


@dataclasses.dataclass(frozen=True)
class Settings:
    """Resolved settings for one run of the service, the CLI or a notebook."""

    database_url: str
    instance_path: Path
    data_dir: Path
    layers_dir: Path
    study_area: tuple[str, ...] = MERTON_AND_NEIGHBOURS
    study_area_tolerance_m: float = 250.0
    resolutions: tuple[int, ...] = (7, 8, 9, 10)
    postcode_table: Path | None = None
    maps_dir: Path = PROJECT_ROOT / "maps"
    map_tile_url: str | None = None
    upload_max_mb: float = 50
    secret_key: str | None = dataclasses.field(default=None, repr=False)  # a secret: never printed
    pseudonym_key: str | None = dataclasses.field(default=None, repr=False)  # a secret: never printed
    audit_key: str | None = dataclasses.field(default=None, repr=False)  # a secret: never printed
    audit_anchor: Path | None = None
    ingest_max_mb: float = 1024
    upload_max_inflated_mb: float = 200
    max_window_years: float = 10

    @classmethod
    def from_env(cls, environ=None, **overrides) -> "Settings":
        """Defaults, then ``GEOSERVICE_<NAME>`` variables, then keyword overrides."""
        environ = os.environ if environ is None else environ
        raw = {s.name: environ.get("GEOSERVICE_" + s.name.upper(), s.default) for s in SETTINGS}
        raw.update({k: v for k, v in overrides.items() if v is not None})
        instance_path = Path(raw["instance_path"])
        database_url = raw["database_url"] or f"sqlite:///{instance_path / 'geoservice.sqlite'}"
        study_area = raw["study_area"]
        if isinstance(study_area, str):
            study_area = tuple(code.strip() for code in study_area.split(",") if code.strip())
        resolutions = raw["resolutions"]
        if not isinstance(resolutions, tuple):
            resolutions = _parse_resolutions(resolutions)
        try:
            tolerance = float(raw["study_area_tolerance_m"])
        except ValueError:
            raise GeoserviceError(
                f"study_area_tolerance_m must be a number of metres, got {raw['study_area_tolerance_m']!r}"
            ) from None
        return cls(
            database_url=str(database_url),
            instance_path=instance_path,
            data_dir=Path(raw["data_dir"]),
            layers_dir=Path(raw["layers_dir"]),
            study_area=tuple(study_area),
            study_area_tolerance_m=tolerance,
            resolutions=resolutions,
            postcode_table=Path(raw["postcode_table"]) if raw["postcode_table"] else None,
            maps_dir=Path(raw["maps_dir"]),
            map_tile_url=raw["map_tile_url"] or None,
            upload_max_mb=_number(raw["upload_max_mb"], "upload_max_mb"),
            secret_key=raw["secret_key"] or None,
            pseudonym_key=raw["pseudonym_key"] or None,
            audit_key=raw["audit_key"] or None,
            audit_anchor=Path(raw["audit_anchor"]) if raw["audit_anchor"] else None,
            ingest_max_mb=_number(raw["ingest_max_mb"], "ingest_max_mb"),
            upload_max_inflated_mb=_number(raw["upload_max_inflated_mb"], "upload_max_inflated_mb"),
            max_window_years=_number(raw["max_window_years"], "max_window_years"),
        )
