"""Ingest one file into one layer as one atomic batch.

read → validate fields → locate (point, borough, ward) → H3-index → identify → reconcile with the store → write.
Everything a batch writes (its ``batches`` row, accepted rows and their cell counts, quarantined rows) is written
in one transaction: an error or Ctrl-C leaves nothing behind. Every input row ends in exactly one of accepted,
rejected (kept in quarantine with its reasons) or duplicate (already held), so
``rows_in = accepted + rejected + duplicate``.

Identity: a row whose key fields (the spec's ``key``) are all filled is identified by them; otherwise by a
hash of its content plus its occurrence number among identical rows of the file, so genuinely repeated rows
(two anti-social behaviour reports at one snap point in one month) are both kept, yet re-ingesting the same
file matches them again. A key seen before with different content (ignoring the spec's ``mutable`` fields,
such as a police.uk outcome) is a ``conflicting_record``, never silently overwritten.

Scope: an uploader who may see only some boroughs passes them as ``scope``. Each row's borough is decided by
its layer's ``scope`` rule; a row outside the scope (or whose borough cannot be decided) is rejected
(``outside_user_scope``) and never compared with stored records, so its outcome says nothing about what is held
outside the scope. A conflict of an in-scope row with a stored record says only that the identity is held.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import date, datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import shapely

from ..privacy import audit
from ..policy import PERSONAL_SENSITIVITIES as PERSONAL

from ..cells import points_to_cells
from ..config import Settings
from ..errors import BatchConflictError, SetupError
from ..layers import PEOPLE_LAYER, LayerSpec, get_layer
from ..store.db import Store
from ..store.tables import cell_column, geom_column
from .areas import AreaIndex
from .locate import LocateContext, PostcodeTable, locate
from .readers import SizeLimit, SourceTable, read_table
from .reasons import IssueLog
from .touched import touched_boroughs
from .validate import check_characters, validate_fields

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
    notes: list[str] = dataclasses.field(default_factory=list)

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
        parts.extend(self.notes)
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


def _joined(values: pd.DataFrame, columns) -> list[str]:
    columns = [values[c].tolist() for c in columns]
    if not columns:
        return [""] * len(values)
    return list(map(KEY_SEP.join, zip(*columns))) if len(columns) > 1 else columns[0]


def _digest64(texts) -> np.ndarray:
    """64-bit BLAKE2b digests of ``texts`` as int64."""
    blake2b = hashlib.blake2b
    digests = b"".join([blake2b(t.encode("utf-8"), digest_size=8).digest() for t in texts])
    return np.frombuffer(digests, dtype="<i8").copy() if texts else np.zeros(0, dtype=np.int64)


def identify(spec: LayerSpec, values: pd.DataFrame, geometries=None) -> tuple[np.ndarray, np.ndarray]:
    """Record key and content hash of every row, as 64-bit digests (see the module docstring).

    A digest collision between two different records would surface as a ``conflicting_record`` (same key,
    different content), never as a silent merge; for ten million records its chance is about 3 in a million.
    """
    joined = _joined(values, [c for c in values.columns if c not in spec.mutable])
    if geometries is not None:
        joined = [text + KEY_SEP + (g.wkb_hex if g is not None else "") for text, g in zip(joined, geometries)]
    hashes = _digest64(joined)
    keys = np.zeros(len(values), dtype=np.int64)
    has_key = np.zeros(len(values), dtype=bool)
    if spec.key:
        has_key = (values[list(spec.key)] != "").all(axis=1).to_numpy()
        key_text = _joined(values.loc[has_key], spec.key)
        keys[has_key] = _digest64(["k" + KEY_SEP + t for t in key_text])
    rest = np.flatnonzero(~has_key)
    if rest.size:  # identical rows without an identity: the n-th copy in this file is record n
        nth = pd.Series(hashes[rest]).groupby(hashes[rest]).cumcount().to_numpy()
        keys[rest] = _digest64([f"c{h}:{k}" for h, k in zip(hashes[rest].tolist(), nth.tolist())])
    return keys, hashes


def _existing(conn, store: Store, spec: LayerSpec, keys: np.ndarray):
    """(key, content hash) pairs already held for these keys: in the layer table, and in quarantine.

    Rows quarantined only because they lay outside their uploader's scope are not counted as held: someone
    whose scope holds them may load them later.
    """
    return (store.held_pairs(conn, spec.name, keys),
            store.held_pairs(conn, spec.name, keys, quarantined=True, except_reason="outside_user_scope"))


def _lookup(held_keys: np.ndarray, held_hashes: np.ndarray, keys: np.ndarray, hashes: np.ndarray):
    """For each (key, hash): is the key held, and is this exact (key, hash) held?"""
    if held_keys.size == 0:
        none = np.zeros(keys.size, dtype=bool)
        return none, none
    key_held = np.isin(keys, held_keys)
    pair_held = pd.MultiIndex.from_arrays([held_keys, held_hashes]).get_indexer(
        pd.MultiIndex.from_arrays([keys, hashes])) >= 0
    return key_held, pair_held


def _differences(values: pd.DataFrame, a: np.ndarray, b: np.ndarray, skip) -> list[str]:
    """For each pair of rows ``a[i]``, ``b[i]``: the columns (not in ``skip``) whose values differ, joined, or
    "geometry" when none does. One comparison per column over all pairs."""
    names = [c for c in values.columns if c not in skip]
    differs = np.zeros((len(a), len(names)), dtype=bool)
    for j, c in enumerate(names):
        column = values[c].to_numpy(dtype=object)
        differs[:, j] = np.asarray(column[a] != column[b], dtype=bool)
    return [", ".join(name for name, d in zip(names, row) if d) or "geometry" for row in differs.tolist()]


def _retain_until(spec: LayerSpec, typed: dict, today: date, n: int) -> np.ndarray:
    """Each row's review date: its retention time field (or today, when it has none) plus the retention period."""
    months = int(round(spec.retention_years * 12))
    today_ts = pd.Timestamp(today, tz="UTC")
    start = pd.Series(today_ts, index=range(n)) if spec.retention_from is None else \
        typed[spec.retention_from].fillna(today_ts).reset_index(drop=True)
    return (start + pd.DateOffset(months=months)).dt.tz_convert(None).to_numpy().astype("datetime64[D]")


def _boundary_codes(store: Store, spec: LayerSpec) -> tuple[dict[str, frozenset[str]], list[str]]:
    """Codes of each boundary level the spec's ``area`` fields name, and a note for each level with none loaded
    (whose codes ``validate_fields`` can then check only for the shape of a GSS code)."""
    levels = sorted({f.area for f in spec.fields if f.area})
    rows = store.boundary_codes(levels)
    codes = {level: frozenset(code for code, lvl in rows if lvl == level) for level in levels}
    notes = [f"no {level} boundaries are loaded, so {level} codes were checked for their form only"
             for level in levels if not codes[level]]
    return codes, notes


def _check_retention(spec: LayerSpec, typed: dict, today: date, log: IssueLog) -> None:
    """Personal records (person and aggregate layers, the ones retention reviews) whose review date has already
    passed are rejected: retention would erase them anyway."""
    if spec.sensitivity not in PERSONAL or spec.retention_from is None:
        return
    n = len(typed[spec.retention_from])
    until = _retain_until(spec, typed, today, n)
    past = until < np.datetime64(today, "D")
    if not past.any():
        return
    start = typed[spec.retention_from].reset_index(drop=True)
    log.add(past, spec.retention_from, "past_retention",
            [f"{spec.retention_from} {start[i]:%Y-%m-%d} puts the review date at {until[i]} "
             f"({spec.retention_years:g} years on), which has already passed; a {spec.name} record past its "
             "review date may not be kept" for i in np.flatnonzero(past)])


def _people_boroughs(store: Store, ids: np.ndarray) -> dict[str, str]:
    """person id → borough (by the people layer's own scope field) of those of ``ids`` held in the people layer."""
    people = store.specs[PEOPLE_LAYER]
    return store.values_by_key(PEOPLE_LAYER, people.key[0], people.scope.names[0], [i for i in ids.tolist() if i])


def _check_scope(store: Store, spec: LayerSpec, scope: frozenset[str] | None, source: SourceTable, typed: dict,
                 columns: dict, log: IssueLog) -> np.ndarray:
    """Which rows lie in the uploader's ``scope`` (all, when unscoped); the others are logged as outside it."""
    n = len(source)
    rule = spec.scope
    if scope is None or rule.unscoped:
        return np.ones(n, dtype=bool)
    yours = f"your boroughs ({', '.join(sorted(scope)) or 'none'})"
    if rule.rule == "people":
        held = _people_boroughs(store, np.concatenate([source.values[f].to_numpy(dtype=object) for f in rule.names]))
        inside = np.zeros(n, dtype=bool)
        for field in rule.names:
            inside |= np.array([held.get(i) in scope for i in source.values[field].tolist()], dtype=bool)
        # the same words whether a person is held for another borough or not held at all
        log.add(~inside, rule.names[0], "outside_user_scope",
                f"none of {', '.join(rule.names)} is a person held in the people layer for {yours}; a row "
                "linking people is loaded by someone who may see one of them, once that person is loaded")
        return inside
    if rule.rule == "field":
        field = rule.names[0]
        borough = np.asarray(typed[field], dtype=object)
        borough = np.where(pd.isna(borough), "", borough)
        what = field
    else:  # location
        field = rule.names[0]
        borough = columns[f"{field}_borough"]
        what = f"the {field} location"
    decided = borough != ""
    inside = decided & np.isin(borough, list(scope))
    outside = np.flatnonzero(~inside)
    log.add(outside, field, "outside_user_scope",
            [f"{what} is in {borough[i]}, not one of {yours}; an administrator can load it" if decided[i] else
             f"{what} gives no borough, so the row cannot be shown to be in one of {yours}" for i in outside])
    return inside


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


@dataclasses.dataclass(frozen=True)
class CheckContext:
    """What the checks of a file read from outside it: the boundary codes ``area`` fields are checked against (and
    notes for levels with none loaded) and, for a layer with locations, the boundary index, study area and
    postcodes. The same for every file of a run, so a bulk load builds it once."""

    area_codes: dict[str, frozenset[str]]
    notes: tuple[str, ...]
    locate: LocateContext | None


def check_context(store: Store, spec: LayerSpec, settings: Settings,
                  postcodes: PostcodeTable | None = None) -> CheckContext:
    """The ``CheckContext`` of ``spec`` for the boundaries now in ``store``."""
    area_codes, notes = _boundary_codes(store, spec)
    ctx = None
    if spec.locations:
        if postcodes is None and settings.postcode_table:
            postcodes = PostcodeTable.from_csv(settings.postcode_table)
        ctx = LocateContext(_area_index(store, settings), settings.study_area, postcodes)
    return CheckContext(area_codes, tuple(notes), ctx)


@dataclasses.dataclass
class PreparedRows:
    """A file read, validated, located, H3-indexed and identified, before anything is compared with a store.

    ``status`` is "accepted", "rejected" (its issues are in ``log``) or "duplicate" (an earlier row of the same
    file with the same identity and content); ``columns`` holds each location's stored columns and cells.
    """

    spec: LayerSpec
    source: SourceTable
    log: IssueLog
    typed: dict
    columns: dict[str, np.ndarray]
    keys: np.ndarray
    hashes: np.ndarray
    status: np.ndarray
    in_scope: np.ndarray
    notes: list[str]
    context: CheckContext | None = None


def prepare_rows(store: Store, spec: LayerSpec, path: Path, *, settings: Settings, fmt: str | None,
                 encoding: str, now: datetime, postcodes: PostcodeTable | None, limit: SizeLimit,
                 scope: frozenset[str] | None, step, context: CheckContext | None = None) -> PreparedRows:
    """Everything ``ingest_file`` decides about a file's rows on its own: the same rules for every writer (the
    store's batches here, Parquet in ``ingest/bulk.py``). ``context``: what the checks read from the store and
    settings (see ``check_context``); built here when not given, once per run by a caller loading many files."""
    step("read", 0, 1)
    source = read_table(path, spec, fmt, limit=limit, encoding=encoding)
    n = len(source)
    log = IssueLog(n)
    step("validate", 0, 1)
    check_characters(source.values, log)
    context = context or check_context(store, spec, settings, postcodes)
    area_codes, notes = context.area_codes, list(context.notes)
    typed = validate_fields(spec, source.values, log, now, area_codes=area_codes)
    _check_retention(spec, typed, now.date(), log)
    columns: dict[str, np.ndarray] = {}
    if spec.locations:
        ctx = context.locate
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
    in_scope = _check_scope(store, spec, scope, source, typed, columns, log)

    keys, hashes = identify(spec, source.values, source.geometries)
    rejected = log.rejected_mask()
    status = np.where(rejected, "rejected", "accepted").astype(object)
    # Later rows repeating an earlier row's key in the same file: same content is a duplicate, else a conflict.
    repeated = pd.Series(keys).duplicated(keep="first").to_numpy()
    if repeated.any():
        first = pd.Series(np.arange(n)).groupby(keys).transform("first").to_numpy()
        status[repeated & (hashes == hashes[first])] = "duplicate"
        conflicts = np.flatnonzero(repeated & (hashes != hashes[first]))
        if conflicts.size:
            earlier = first[conflicts]
            log.add(conflicts, spec.key[0] if spec.key else "record", "conflicting_record",
                    [f"same identity as row {row} of this file but different {what}" for row, what in
                     zip(source.row_numbers[earlier].tolist(),
                         _differences(source.values, conflicts, earlier, spec.mutable))])
            status[conflicts] = "rejected"
    return PreparedRows(spec, source, log, typed, columns, keys, hashes, status, in_scope, notes, context)


def ingest_file(store: Store, layer: str, path, *, settings: Settings, fmt: str | None = None,
                encoding: str = "utf-8", now: datetime | None = None, postcodes: PostcodeTable | None = None,
                progress=None, username: str = "system", justification: str | None = None,
                scope: Sequence[str] | None = None, limit: SizeLimit | None = None, synthetic: bool = False,
                demo: bool = False) -> IngestReport:
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
    username, justification
        Who loads the file and why: a batch of a person-sensitivity layer is a ``collection`` in the audit log,
        written in the batch's own transaction.
    scope
        The GSS codes of the boroughs the uploader may see (a web upload passes the user's boroughs). Rows
        outside them are rejected (``outside_user_scope``) and never compared with stored records. ``None``:
        unscoped (the CLI, run by an administrator on the server).
    limit
        The most bytes the file may hold once decompressed. Default: the ``ingest_max_mb`` setting; a web
        upload passes ``upload_max_inflated_mb``.
    synthetic, demo
        Mark the batch as made by ``geoservice synth`` (products then say their people are synthetic), or as
        loaded by ``geoservice demo`` (which refuses to rebuild a store holding anything else).
    """
    started = time.perf_counter()
    started_at = datetime.now(timezone.utc).replace(tzinfo=None)
    now = now or datetime.now(timezone.utc)
    step = progress or (lambda stage, done, total: None)
    spec = get_layer(store.specs, layer)
    path = Path(path)
    limit = limit or SizeLimit.megabytes(settings.ingest_max_mb, "ingest_max_mb")
    scope = None if scope is None else frozenset(scope)
    prepared = prepare_rows(store, spec, path, settings=settings, fmt=fmt, encoding=encoding, now=now,
                            postcodes=postcodes, limit=limit, scope=scope, step=step)
    source, log, typed, columns = prepared.source, prepared.log, prepared.typed, prepared.columns
    keys, hashes, status, in_scope, notes = (prepared.keys, prepared.hashes, prepared.status, prepared.in_scope,
                                             prepared.notes)
    n = len(source)

    batch_id = uuid.uuid4().hex
    source_sha256 = _sha256(path)
    try:
        with store.writing() as conn:
            # Rows outside the uploader's scope are never compared with what is held: whatever is stored, they
            # stay rejected, so their outcome reveals nothing about records outside the scope.
            open_rows = (status != "duplicate") & in_scope
            (stored_keys, stored_hashes), (q_keys, q_hashes) = _existing(conn, store, spec, keys[open_rows])
            key_stored, same_stored = _lookup(stored_keys, stored_hashes, keys, hashes)
            _, same_quarantined = _lookup(q_keys, q_hashes, keys, hashes)
            status[open_rows & (same_stored | same_quarantined)] = "duplicate"
            for i in np.flatnonzero(open_rows & key_stored & ~same_stored & ~same_quarantined):
                identity = ", ".join(f"{k}={source.values.at[i, k]!r}" for k in spec.key)
                log.add([i], spec.key[0] if spec.key else "record", "conflicting_record",
                        f"{identity}: an earlier record holds this identity with different content; an "
                        "administrator can resolve it" if scope is not None else
                        f"{identity} was loaded before with different content; correct the source or remove the "
                        "earlier record first")
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
                ignored_columns=list(source.ignored_columns), seconds=0.0, notes=notes,
            )
            store.insert_batch(conn, {
                "batch_id": batch_id, "layer": spec.name, "source_name": path.name, "source_sha256": source_sha256,
                "format": source.format, "started_at": started_at,
                "finished_at": datetime.now(timezone.utc).replace(tzinfo=None),
                "rows_in": n, "accepted": report.accepted, "rejected": report.rejected,
                "duplicate": report.duplicate, "ignored_columns": json.dumps(report.ignored_columns),
                "settings": json.dumps({"study_area": settings.study_area, "resolutions": store.resolutions,
                                        "tolerance_m": settings.study_area_tolerance_m, "now": now.isoformat(),
                                        "encoding": encoding, "max_bytes": limit.max_bytes,
                                        "scope": sorted(scope) if scope is not None else None}),
                "synthetic": synthetic, "demo": demo,
                "boroughs": touched_boroughs(store, spec, typed, columns, accepted_idx,
                                             prepared.context.locate and prepared.context.locate.areas),
            })
            _write_accepted(conn, store, spec, source, typed, columns, keys, hashes, accepted_idx, batch_id,
                            now.date(), step)
            _write_quarantine(conn, store, spec, source, keys, hashes, rejected_idx, issues, batch_id)
            if spec.sensitivity == "person" and (report.accepted or report.rejected):
                audit.record(store, username=username, operation="collection",
                             objects=[f"layer:{spec.name}", f"batch:{batch_id}", f"accepted:{report.accepted}",
                                      f"quarantined:{report.rejected}"],
                             justification=justification or f"loaded {path.name}", conn=conn)
    except BatchConflictError:  # the transaction has rolled back: nothing of this batch is kept
        raise BatchConflictError(f"another ingest wrote records of {spec.name} while this one ran; nothing of "
                                 "this batch was kept; run it again") from None
    report.seconds = round(time.perf_counter() - started, 3)
    step("done", 1, 1)
    return report


def _count_matches(spec: LayerSpec, columns: dict, rows: np.ndarray, how: str) -> int:
    return int(sum((columns[f"{loc.name}_borough_match"][rows] == how).sum() for loc in spec.locations))


def _write_accepted(conn, store, spec, source, typed, columns, keys, hashes, idx, batch_id, today, step) -> None:
    if idx.size == 0:
        return
    data: dict[str, np.ndarray] = {
        "record_key": keys[idx], "content_hash": hashes[idx],
        "row_number": source.row_numbers[idx],
        "retain_until": _retain_until(spec, typed, today, len(source))[idx],
    }
    for f in spec.fields:
        value = typed[f.name]
        if f.is_time:
            value = value.dt.tz_convert(None).to_numpy()
        data[f.name] = np.asarray(value)[idx]
    for name, values in columns.items():
        data[name] = values[idx]
    if store.is_postgres:  # PostGIS points, written in the same COPY as EWKT
        for loc in spec.locations:
            lat, lng = data[f"{loc.name}_lat"], data[f"{loc.name}_lng"]
            data[geom_column(loc.name)] = np.array(
                [None if a != a else f"SRID=4326;POINT({b!r} {a!r})" for a, b in zip(lat.tolist(), lng.tolist())],
                dtype=object)
    with store.bulk_load(conn, spec.name, idx.size):
        store.insert_columns(conn, spec.name, data, step, constants={"batch_id": batch_id})
    store.add_column_counts(conn, spec.name, data)  # the cell counts products read, in the same transaction
    if spec.geometry:
        store.fill_polygons(conn, spec.name, batch_id)


def _write_quarantine(conn, store, spec, source, keys, hashes, idx, issues, batch_id) -> None:
    if idx.size == 0:
        return
    store.insert_quarantine(conn, quarantine_rows(spec, source, keys, hashes, idx, issues, batch_id))


def quarantine_rows(spec, source, keys, hashes, idx, issues, batch_id) -> list[dict]:
    """One quarantine record per rejected row ``idx``: its first issue, all its issues and the raw row as JSON."""
    raw_rows = source.values.iloc[idx].to_dict(orient="records")
    rows = []
    for i, raw in zip(idx.tolist(), raw_rows):
        if source.geometries is not None:
            g = source.geometries[i]
            raw["geometry"] = None if g is None else g.wkt[:2000]
        first = issues[i][0]
        rows.append({
            "batch_id": batch_id, "layer": spec.name, "source_name": source.path.name,
            "row_number": int(source.row_numbers[i]), "record_key": int(keys[i]), "content_hash": int(hashes[i]),
            "field": first["field"], "reason_code": first["code"], "message": first["message"],
            "issues": json.dumps(issues[i]), "raw": json.dumps(raw, ensure_ascii=False),
        })
    return rows
