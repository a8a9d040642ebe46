"""Ingest one file into one layer as one atomic batch.

read → validate fields → locate (point, borough, ward) → H3-index → identify → reconcile with the store → write.
Everything a batch writes (its ``batches`` row, accepted rows, quarantined rows) is written in one transaction:
an error or Ctrl-C leaves nothing behind. Every input row ends in exactly one of accepted, rejected (kept in
quarantine with its reasons) or duplicate (already held), so ``rows_in = accepted + rejected + duplicate``.

Identity: a row whose key fields (the spec's ``key``) are all filled is identified by them; otherwise by a
hash of its content plus its occurrence number among identical rows of the file, so genuinely repeated rows
(two anti-social behaviour reports at one snap point in one month) are both kept, yet re-ingesting the same
file matches them again. A key seen before with different content (ignoring the spec's ``mutable`` fields,
such as a police.uk outcome) is a ``conflicting_record``, never silently overwritten.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
import uuid
from collections import Counter
from datetime import date, datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import shapely
from sqlalchemy import select, text

from ..config import Settings
from ..errors import BatchConflictError, SetupError
from ..layers import LayerSpec, get_layer
from ..store.db import Store
from ..store.tables import cell_column, geom_column
from .areas import AreaIndex
from .index import points_to_cells
from .locate import LocateContext, PostcodeTable, locate
from .readers import SourceTable, read_table
from .reasons import IssueLog
from .validate import validate_fields

CHUNK = 20_000
KEY_SEP = "\x1f"


@dataclasses.dataclass
class IngestReport:
    """What one ingest did. ``rows_in == accepted + rejected + duplicate`` always."""

    layer: str
    batch_id: str | None
    source: str
    format: str
    rows_in: int
    accepted: int
    rejected: int
    duplicate: int
    reasons: dict[str, int]
    nearest_boundary: int
    claimed_boundary: int
    ignored_columns: list[str]
    seconds: float

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)

    def summary(self) -> str:
        """One line a person can read."""
        parts = [f"{self.layer}: {self.rows_in:,} rows in {self.source} → {self.accepted:,} accepted, "
                 f"{self.rejected:,} rejected, {self.duplicate:,} duplicate"]
        if self.reasons:
            parts.append("rejected for " + ", ".join(f"{code} ×{n:,}" for code, n in
                                                      sorted(self.reasons.items(), key=lambda kv: -kv[1])))
        if self.nearest_boundary:
            parts.append(f"{self.nearest_boundary:,} points just outside the generalised boundaries were given the "
                         "nearest borough")
        if self.claimed_boundary:
            parts.append(f"{self.claimed_boundary:,} points on a borough edge were given the borough their row names")
        if self.batch_id:
            parts.append(f"batch {self.batch_id[:12]}")
        parts.append(f"{self.seconds:.1f} s")
        return "; ".join(parts)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _joined(values: pd.DataFrame, columns) -> pd.Series:
    columns = list(columns)
    if not columns:
        return pd.Series("", index=values.index)
    first = values[columns[0]].astype(str)
    return first.str.cat([values[c].astype(str) for c in columns[1:]], sep=KEY_SEP) if len(columns) > 1 else first


def identify(spec: LayerSpec, values: pd.DataFrame, geometries=None) -> tuple[np.ndarray, np.ndarray]:
    """Record key and content hash of every row (see the module docstring)."""
    content_columns = [c for c in values.columns if c not in spec.mutable]
    joined = _joined(values, content_columns)
    if geometries is not None:
        joined = joined + KEY_SEP + pd.Series([g.wkb_hex if g is not None else "" for g in geometries],
                                              index=values.index)
    hashes = np.array([hashlib.blake2b(s.encode("utf-8"), digest_size=16).hexdigest() for s in joined],
                      dtype=object)
    if spec.key:
        key_values = values[list(spec.key)]
        has_key = (key_values != "").all(axis=1).to_numpy()
        key_text = ("k:" + _joined(values, spec.key)).to_numpy(dtype=object)
    else:
        has_key = np.zeros(len(values), dtype=bool)
        key_text = np.full(len(values), "", dtype=object)
    ordinal = pd.Series(hashes).groupby(hashes).cumcount().to_numpy()
    content_key = np.array([f"c:{h}:{o}" for h, o in zip(hashes, ordinal)], dtype=object)
    return np.where(has_key, key_text, content_key), hashes


def _existing(conn, store: Store, spec: LayerSpec, keys: np.ndarray):
    """Stored content hash per key (layer table), and (key, hash) pairs already in quarantine."""
    table = store.layer_tables[spec.name]
    q = store.quarantine
    stored: dict[str, str] = {}
    quarantined: set[tuple[str, str]] = set()
    unique_keys = list(dict.fromkeys(keys.tolist()))
    any_rows = conn.execute(select(table.c.id).limit(1)).first() is not None
    any_quarantined = conn.execute(select(q.c.id).where(q.c.layer == spec.name).limit(1)).first() is not None
    for start in range(0, len(unique_keys), 5000):
        chunk = unique_keys[start:start + 5000]
        if any_rows:
            stored.update(conn.execute(select(table.c.record_key, table.c.content_hash)
                                       .where(table.c.record_key.in_(chunk))).all())
        if any_quarantined:
            quarantined.update(conn.execute(select(q.c.record_key, q.c.content_hash)
                                            .where(q.c.layer == spec.name, q.c.record_key.in_(chunk))).all())
    return stored, quarantined


def _differences(values: pd.DataFrame, a: int, b: int, skip) -> str:
    cols = [c for c in values.columns if c not in skip and values.iat[a, values.columns.get_loc(c)]
            != values.iat[b, values.columns.get_loc(c)]]
    return ", ".join(cols) or "geometry"


def _py_times(series: pd.Series, as_date: bool) -> np.ndarray:
    naive = series.dt.tz_convert("UTC").dt.tz_localize(None)
    out = np.full(len(series), None, dtype=object)
    ok = naive.notna().to_numpy()
    if ok.any():
        values = naive[ok].dt.to_pydatetime()
        out[ok] = [v.date() for v in values] if as_date else list(values)
    return out


def _retain_until(spec: LayerSpec, typed: dict, today: date, n: int) -> np.ndarray:
    months = int(round(spec.retention_years * 12))
    base = None
    if spec.retention_from:
        base = typed[spec.retention_from]
    start = pd.Series(pd.Timestamp(today, tz="UTC"), index=range(n)) if base is None else \
        base.fillna(pd.Timestamp(today, tz="UTC")).reset_index(drop=True)
    return _py_times(start + pd.DateOffset(months=months), as_date=True)


def _area_index(store: Store, settings: Settings) -> AreaIndex:
    boundaries = store.boundaries()
    boroughs = {b["code"] for b in boundaries if b["level"] == "borough"}
    if not boroughs:
        raise SetupError("no borough boundaries are loaded, so rows cannot be placed in boroughs and wards. Load them "
                         "first: geoservice ingest boundaries <data>/london_boroughs.geojson (and the wards file)")
    missing = [code for code in settings.study_area if code not in boroughs]
    if missing:
        raise SetupError(f"study-area boroughs {missing} are not in the boundaries layer; load them or change "
                         "GEOSERVICE_STUDY_AREA")
    return AreaIndex(boundaries, settings.study_area_tolerance_m)


def _check_geometries(source: SourceTable, log: IssueLog) -> np.ndarray:
    geoms = source.geometries
    missing = np.array([g is None or g.is_empty for g in geoms], dtype=bool)
    log.add(missing, "geometry", "geometry_missing", "the feature has no geometry")
    kinds = np.array(["" if m else g.geom_type for g, m in zip(geoms, missing)], dtype=object)
    not_poly = ~missing & ~np.isin(kinds, ["Polygon", "MultiPolygon"])
    log.add(not_poly, "geometry", "geometry_not_polygon",
            [f"geometry is a {k}, not a Polygon or MultiPolygon" for k in kinds[not_poly]])
    polys = ~missing & ~not_poly
    invalid = np.zeros(len(geoms), dtype=bool)
    if polys.any():
        invalid[polys] = ~shapely.is_valid(geoms[polys])
    log.add(invalid, "geometry", "geometry_invalid",
            [f"polygon is invalid ({shapely.is_valid_reason(g)}); repair it in QGIS (Fix geometries) and reload"
             for g in geoms[invalid]])
    out = np.full(len(geoms), None, dtype=object)
    good = polys & ~invalid
    if good.any():
        out[good] = shapely.to_geojson(shapely.force_2d(geoms[good]))
    return out


def ingest_file(store: Store, layer: str, path, *, settings: Settings, fmt: str | None = None,
                encoding: str = "utf-8", now: datetime | None = None, postcodes: PostcodeTable | None = None,
                progress=None) -> IngestReport:
    """Read, check, locate, index and store ``path`` as one batch of ``layer``.

    Parameters
    ----------
    store
        Where the batch goes.
    layer
        A layer name from ``layers/``.
    path
        CSV (optionally .gz), GeoJSON or GeoPackage.
    settings
        Study area, tolerance and resolutions.
    fmt
        ``csv``, a layout the spec names (``police-uk``), ``geojson`` or ``gpkg``; detected when omitted.
    now
        The time "future" is measured against (tests pin it).
    progress
        Optional ``progress(stage, done, total)`` callback.
    """
    started = time.perf_counter()
    started_at = datetime.now(timezone.utc).replace(tzinfo=None)
    now = now or datetime.now(timezone.utc)
    step = progress or (lambda stage, done, total: None)
    spec = get_layer(store.specs, layer)
    path = Path(path)
    step("read", 0, 1)
    source = read_table(path, spec, fmt, encoding=encoding)
    n = len(source)
    log = IssueLog(n)
    step("validate", 0, 1)
    typed = validate_fields(spec, source.values, log, now)
    columns: dict[str, np.ndarray] = {}
    if spec.locations:
        if postcodes is None and settings.postcode_table:
            postcodes = PostcodeTable.from_csv(settings.postcode_table)
        ctx = LocateContext(_area_index(store, settings), settings.study_area, postcodes)
        for loc in spec.locations:
            step(f"locate {loc.name}", 0, 1)
            located = locate(loc, source.values, ctx, log, source.row_numbers)
            for suffix, values in located.items():
                columns[f"{loc.name}_{suffix}"] = values
            step(f"index {loc.name}", 0, 1)
            cells = points_to_cells(located["lat"], located["lng"], store.resolutions)
            for res, values in cells.items():
                columns[cell_column(loc.name, res)] = values
    if spec.geometry:
        columns["geometry"] = _check_geometries(source, log)

    keys, hashes = identify(spec, source.values, source.geometries)
    rejected = log.rejected_mask()
    status = np.where(rejected, "rejected", "accepted").astype(object)
    # Later rows repeating an earlier row's key in the same file: same content is a duplicate, else a conflict.
    first_at: dict[str, int] = {}
    for i, key in enumerate(keys.tolist()):
        j = first_at.setdefault(key, i)
        if j != i:
            if hashes[i] == hashes[j]:
                status[i] = "duplicate"
            else:
                log.add([i], spec.key[0] if spec.key else "record", "conflicting_record",
                        f"same identity as row {source.row_numbers[j]} of this file but different "
                        f"{_differences(source.values, i, j, spec.mutable)}")
                status[i] = "rejected"

    batch_id = uuid.uuid4().hex
    try:
        with store.engine.begin() as conn:
            stored, quarantined = _existing(conn, store, spec, keys)
            for i in np.flatnonzero(status != "duplicate"):
                key, h = keys[i], hashes[i]
                if stored.get(key) == h or (key, h) in quarantined:
                    status[i] = "duplicate"
                elif key in stored:
                    log.add([i], spec.key[0] if spec.key else "record", "conflicting_record",
                            f"{', '.join(f'{k}={source.values.at[i, k]!r}' for k in spec.key)} was loaded before "
                            "with different content; correct the source or remove the earlier record first")
                    status[i] = "rejected"
            accepted_idx = np.flatnonzero(status == "accepted")
            rejected_idx = np.flatnonzero(status == "rejected")
            issues = log.by_row()
            reasons = Counter(issues[i][0]["code"] for i in rejected_idx)
            report = IngestReport(
                layer=spec.name, batch_id=batch_id, source=path.name, format=source.format, rows_in=n,
                accepted=len(accepted_idx), rejected=len(rejected_idx),
                duplicate=int((status == "duplicate").sum()), reasons=dict(reasons),
                nearest_boundary=_count_matches(spec, columns, accepted_idx, "nearest"),
                claimed_boundary=_count_matches(spec, columns, accepted_idx, "claimed"),
                ignored_columns=list(source.ignored_columns), seconds=0.0,
            )
            conn.execute(store.batches.insert(), [{
                "batch_id": batch_id, "layer": spec.name, "source_name": path.name, "source_sha256": _sha256(path),
                "format": source.format, "started_at": started_at,
                "finished_at": datetime.now(timezone.utc).replace(tzinfo=None),
                "rows_in": n, "accepted": report.accepted, "rejected": report.rejected,
                "duplicate": report.duplicate, "ignored_columns": json.dumps(report.ignored_columns),
                "settings": json.dumps({"study_area": settings.study_area, "resolutions": store.resolutions,
                                        "tolerance_m": settings.study_area_tolerance_m, "now": now.isoformat(),
                                        "encoding": encoding}),
            }])
            _write_accepted(conn, store, spec, source, typed, columns, keys, hashes, accepted_idx, batch_id,
                            now.date(), step)
            _write_quarantine(conn, store, spec, source, keys, hashes, rejected_idx, issues, batch_id)
    except BaseException as exc:  # noqa: B902 — includes KeyboardInterrupt; the transaction is already rolled back
        from sqlalchemy.exc import IntegrityError

        if isinstance(exc, IntegrityError):
            raise BatchConflictError(f"another ingest wrote records of {spec.name} while this one ran; nothing of "
                                     "this batch was kept; run it again") from None
        raise
    report.seconds = round(time.perf_counter() - started, 3)
    step("done", 1, 1)
    return report


def _count_matches(spec: LayerSpec, columns: dict, rows: np.ndarray, how: str) -> int:
    return int(sum((columns[f"{loc.name}_borough_match"][rows] == how).sum() for loc in spec.locations))


def _write_accepted(conn, store, spec, source, typed, columns, keys, hashes, idx, batch_id, today, step) -> None:
    if idx.size == 0:
        return
    table = store.layer_tables[spec.name]
    data: dict[str, np.ndarray] = {
        "record_key": keys[idx], "content_hash": hashes[idx],
        "batch_id": np.full(idx.size, batch_id, dtype=object),
        "row_number": source.row_numbers[idx].astype(object),
        "retain_until": _retain_until(spec, typed, today, len(source))[idx],
    }
    for f in spec.fields:
        value = typed[f.name]
        if f.is_time:
            value = _py_times(value, as_date=f.type in ("date", "month"))
        data[f.name] = np.asarray(value, dtype=object)[idx]
    for name, values in columns.items():
        values = values[idx]
        if values.dtype.kind == "f":
            values = np.where(np.isnan(values), None, values.astype(object))
        elif values.dtype.kind in "iu":
            values = np.where(values == 0, None, values.astype(object))
        data[name] = values
    for name, values in data.items():
        if values.dtype == object:
            continue
        data[name] = values.astype(object)
    names = list(data)
    total = idx.size
    for start in range(0, total, CHUNK):
        stop = min(start + CHUNK, total)
        rows = [dict(zip(names, vals)) for vals in zip(*(data[c][start:stop].tolist() for c in names))]
        conn.execute(table.insert(), rows)
        step("write", stop, total)
    if store.is_postgres:
        for loc in spec.locations:
            conn.execute(text(
                f'UPDATE {table.name} SET "{geom_column(loc.name)}" = '
                f'ST_SetSRID(ST_MakePoint("{loc.name}_lng", "{loc.name}_lat"), 4326) '
                f'WHERE batch_id = :b AND "{loc.name}_lat" IS NOT NULL'), {"b": batch_id})
        if spec.geometry:
            conn.execute(text(f"UPDATE {table.name} SET geom = ST_Multi(ST_SetSRID(ST_GeomFromGeoJSON(geometry), "
                              "4326)) WHERE batch_id = :b"), {"b": batch_id})


def _write_quarantine(conn, store, spec, source, keys, hashes, idx, issues, batch_id) -> None:
    if idx.size == 0:
        return
    raw_rows = source.values.iloc[idx].to_dict(orient="records")
    rows = []
    for i, raw in zip(idx.tolist(), raw_rows):
        if source.geometries is not None:
            g = source.geometries[i]
            raw["geometry"] = None if g is None else g.wkt[:2000]
        first = issues[i][0]
        rows.append({
            "batch_id": batch_id, "layer": spec.name, "source_name": source.path.name,
            "row_number": int(source.row_numbers[i]), "record_key": keys[i], "content_hash": hashes[i],
            "field": first["field"], "reason_code": first["code"], "message": first["message"],
            "issues": json.dumps(issues[i]), "raw": json.dumps(raw, ensure_ascii=False),
        })
    for start in range(0, len(rows), CHUNK):
        conn.execute(store.quarantine.insert(), rows[start:start + CHUNK])
