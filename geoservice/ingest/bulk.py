"""Bulk ingest of data.police.uk archives into partitioned GeoParquet, for counts at pan-London and national scale.

The archive layout: a folder of monthly folders ``YYYY-MM/``, each holding ``YYYY-MM-<force>-street.csv`` files.
Every file goes through ``pipeline.prepare_rows``, so it is read, validated, located and H3-indexed by exactly the
rules (and reason codes) of a normal ingest; only the writing differs. Per file:

- accepted rows go to ``<out>/period=YYYY-MM/h3_res5=<cell>/part-<sha16>.parquet`` (GeoParquet: a WKB point
  ``geometry`` column and the ``geo`` metadata, so ``geopandas.read_parquet`` reads a partition);
- rejected rows go to ``<out>/_quarantine/<file>-<sha16>.parquet`` with their reason codes and raw values;
- a batch record goes to the store's ``batches`` table (format ``parquet:police-uk``), and a manifest
  ``<out>/_files/<sha256>.json`` commits the file. ``rows_in = accepted + rejected + duplicate`` always.

Crash safety: every file written (partition, quarantine, manifest) is written under a temporary name in its own
folder (``.tmp-``-prefixed, which Arrow's dataset discovery and the readers here ignore) and renamed into place
with ``os.replace``, so a name is either absent or whole. A source file counts only once its manifest exists (its
last write, after its partitions, quarantine and batch record), and ``parquet_counts`` reads only the partitions
manifests list. A failure mid-file removes what that file wrote; a run killed outright (SIGKILL, whose clean-up
never ran) can leave temporary files and whole partitions of a file it had not committed: nothing reads them, and
the next run deletes both before it starts, then loads that file again (reusing its batch record if one was
written). A re-run skips files already committed (by SHA-256), so it completes the archive as a clean run would.
One run writes to a folder at a time (a lock the system releases when the process ends, however it ends); a
second is refused rather than deleting the first one's files in progress.

Duplicates across files are found against the rows already committed in the same output folder: the same
identity and content is a ``duplicate``; the same identity with different content a ``conflicting_record``.
A file that cannot be read at all (a missing column, ragged rows) is refused with the reader's message and the
others still load.

With ``workers`` above one, worker processes read, check and write files under temporary names while this
process commits them in the archive's order, so the result is the same file for file (see "Worker processes"
below). The workers are started with ``spawn``: a script calling ``bulk_ingest(..., workers=2)`` needs the usual
``if __name__ == "__main__":`` guard. A worker dies with the run's process, so a killed run leaves none behind.
"""

from __future__ import annotations

import collections
import contextlib
import ctypes
import dataclasses
import fcntl
import itertools
import json
import multiprocessing
import os
import re
import signal
import time
import uuid
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from ..cells import cells_to_parents, to_hex
from ..config import Settings
from ..errors import InputFileError
from ..layers import get_layer
from ..store.db import Store, make_engine
from ..store.tables import cell_column
from .pipeline import CheckContext, PreparedRows, _sha256, check_context, prepare_rows, quarantine_rows
from .readers import SizeLimit

ARCHIVE_FILE_RE = re.compile(r"^(\d{4}-\d{2})-(.+)-street\.csv(?:\.gz)?$")
MONTH_DIR_RE = re.compile(r"^\d{4}-\d{2}$")
SOURCE_FORMAT = "police-uk"
BULK_FORMAT = "parquet:police-uk"
PARENT_RES = 5
FILES_DIR = "_files"
QUARANTINE_DIR = "_quarantine"
TEMP_PREFIX = ".tmp-"
LOCK_FILE = ".bulk-ingest.lock"
PR_SET_PDEATHSIG = 1  # prctl option (linux/prctl.h)
AHEAD_PER_WORKER = 3  # files staged ahead of the one being committed, per worker


@dataclasses.dataclass
class FileResult:
    """What happened to one archive file: ``loaded``, ``skipped`` (committed before) or ``refused`` (unreadable)."""

    source: str
    status: str
    sha256: str = ""
    rows_in: int = 0
    accepted: int = 0
    rejected: int = 0
    duplicate: int = 0
    reasons: dict[str, int] = dataclasses.field(default_factory=dict)
    partitions: list[str] = dataclasses.field(default_factory=list)
    batch_id: str = ""
    message: str = ""


@dataclasses.dataclass
class BulkReport:
    """Every file of one bulk run, and its time."""

    files: list[FileResult]
    seconds: float = 0.0

    def total(self, what: str) -> int:
        return sum(getattr(f, what) for f in self.files if f.status == "loaded")

    def summary(self) -> str:
        """A few lines a person can read."""
        by_status = Counter(f.status for f in self.files)
        lines = [f"{len(self.files)} files: {by_status['loaded']} loaded, {by_status['skipped']} already loaded "
                 f"(skipped), {by_status['refused']} refused; {self.total('rows_in'):,} rows in → "
                 f"{self.total('accepted'):,} accepted, {self.total('rejected'):,} rejected, "
                 f"{self.total('duplicate'):,} duplicate; {self.seconds:.1f} s"]
        lines += [f"refused {f.source}: {f.message}" for f in self.files if f.status == "refused"]
        return "\n".join(lines)


def archive_files(archive_dir) -> list[Path]:
    """The street-crime files of a data.police.uk archive folder, month by month (outcomes and stop-and-search
    files are not read)."""
    archive_dir = Path(archive_dir)
    if not archive_dir.is_dir():
        raise InputFileError(f"{archive_dir.name}: is not a folder; give the unpacked data.police.uk archive "
                             "(the folder holding the YYYY-MM folders)")
    files = sorted(path for month in archive_dir.iterdir() if month.is_dir() and MONTH_DIR_RE.match(month.name)
                   for path in month.iterdir() if ARCHIVE_FILE_RE.match(path.name))
    if not files:
        raise InputFileError(f"{archive_dir.name}: holds no YYYY-MM/YYYY-MM-<force>-street.csv files; give the "
                             "unpacked data.police.uk archive")
    return files


@contextlib.contextmanager
def _only_writer(out_dir: Path):
    """Hold ``out_dir``'s writer lock for a run: a second run into the same folder would delete the first one's
    files in progress as leftovers. The operating system releases the lock when the process ends, even by SIGKILL."""
    with open(out_dir / LOCK_FILE, "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InputFileError(f"{out_dir.name}: another bulk-ingest is writing to this folder; wait for it to "
                                 "finish, or give another --out") from None
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def remove_uncommitted_files(out_dir: Path, manifests: dict[str, dict]) -> list[Path]:
    """Delete what an interrupted run left behind: temporary files, and the partitions and quarantine files of
    source files no manifest commits (written before a kill, so never read); the paths removed.

    Run before a run starts, holding the folder's writer lock (``_only_writer``: one run writes to a folder at a time).
    """
    committed = {out_dir / part for record in manifests.values() for part in record["partitions"]}
    committed |= {out_dir / record["quarantine"] for record in manifests.values() if record.get("quarantine")}
    stale = [path for path in out_dir.rglob(TEMP_PREFIX + "*") if path.is_file()]
    stale += [path for path in out_dir.glob("period=*/h3_res*/*.parquet")
              if path not in committed and not path.name.startswith(TEMP_PREFIX)]
    stale += [path for path in (out_dir / QUARANTINE_DIR).glob("*.parquet")
              if path not in committed and not path.name.startswith(TEMP_PREFIX)]
    _remove(stale)
    return stale


def _remove(paths) -> None:
    """Delete each of ``paths`` that exists."""
    for path in paths:
        path.unlink(missing_ok=True)


def _write_temporary(table: pa.Table, path: Path) -> Path:
    """Write ``table`` beside ``path`` under a temporary name, which no reader reads, and return that name; the
    file's commit renames it to ``path`` (``_commit_file``), so ``path`` is either absent or whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f"{TEMP_PREFIX}{uuid.uuid4().hex}-{path.name}")
    try:
        pq.write_table(table, temp, compression="zstd")
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return temp


def _write_json_atomically(record: dict, path: Path) -> None:
    """Write ``record`` as JSON to ``path`` through a temporary name renamed into place, so ``path`` is
    either absent or whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f"{TEMP_PREFIX}{uuid.uuid4().hex}-{path.name}")
    try:
        temp.write_text(json.dumps(record, indent=1), encoding="utf-8")
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)


def committed_files(out_dir) -> dict[str, dict]:
    """SHA-256 → manifest of every source file committed to ``out_dir``."""
    folder = Path(out_dir) / FILES_DIR
    if not folder.is_dir():
        return {}
    return {path.stem: json.loads(path.read_text(encoding="utf-8")) for path in sorted(folder.glob("*.json"))
            if not path.name.startswith(TEMP_PREFIX)}  # (pathlib's "*" matches names starting with a dot)


def committed_partitions(out_dir, manifests: dict[str, dict] | None = None) -> list[Path]:
    """The partition files of the committed source files (what every reader should read)."""
    out_dir = Path(out_dir)
    manifests = committed_files(out_dir) if manifests is None else manifests
    return [out_dir / part for record in manifests.values() for part in record["partitions"]]


class HeldIdentities:
    """The (record key, content hash) pairs committed to an output folder, kept for a run: read once from the
    committed partitions at the start, then grown by each file's accepted rows.

    Keys are held sorted, so a file's rows are looked up by binary search (``O(m log n)``) and a file's rows are
    merged in by one insertion (a copy of the arrays), instead of rebuilding an index over every row held for
    each file (which made a run quadratic in its number of files).
    """

    def __init__(self, keys: np.ndarray, hashes: np.ndarray):
        order = np.argsort(keys, kind="stable")
        self.keys = np.asarray(keys, dtype=np.int64)[order]
        self.hashes = np.asarray(hashes, dtype=np.int64)[order]

    @classmethod
    def from_partitions(cls, partitions: list[Path]) -> "HeldIdentities":
        if not partitions:
            return cls(np.zeros(0, np.int64), np.zeros(0, np.int64))
        table = pads.dataset([str(p) for p in partitions], format="parquet").to_table(
            columns=["record_key", "content_hash"])
        return cls(table.column("record_key").to_numpy().astype(np.int64),
                   table.column("content_hash").to_numpy().astype(np.int64))

    def __len__(self) -> int:
        return int(self.keys.size)

    def lookup(self, keys: np.ndarray, hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each (key, hash): is the key held, and is this exact (key, hash) held? (``pipeline._lookup``'s
        answer.)"""
        lo = np.searchsorted(self.keys, keys, side="left")
        hi = np.searchsorted(self.keys, keys, side="right")
        width = hi - lo
        key_held = width > 0
        pair_held = np.zeros(keys.size, dtype=bool)
        one = np.flatnonzero(width == 1)
        pair_held[one] = self.hashes[lo[one]] == hashes[one]
        for i in np.flatnonzero(width > 1).tolist():  # a key held more than once: only from digest collisions
            pair_held[i] = bool((self.hashes[lo[i]:hi[i]] == hashes[i]).any())
        return key_held, pair_held

    def restricted_to(self, keys: np.ndarray) -> "HeldIdentities":
        """The held pairs whose key is one of ``keys``: for rows with those keys, ``lookup`` answers as on all."""
        mine = np.isin(self.keys, keys)
        return HeldIdentities(self.keys[mine], self.hashes[mine])

    def add(self, keys: np.ndarray, hashes: np.ndarray) -> None:
        if keys.size == 0:
            return
        order = np.argsort(keys, kind="stable")
        keys, hashes = np.asarray(keys, dtype=np.int64)[order], np.asarray(hashes, dtype=np.int64)[order]
        at = np.searchsorted(self.keys, keys, side="right")
        self.keys = np.insert(self.keys, at, keys)
        self.hashes = np.insert(self.hashes, at, hashes)


def _geo_metadata(lng: np.ndarray, lat: np.ndarray) -> bytes:
    """GeoParquet 1.1 metadata for a WKB point column in WGS84 longitude/latitude (the default CRS, OGC:CRS84)."""
    bbox = [float(lng.min()), float(lat.min()), float(lng.max()), float(lat.max())] if lng.size else []
    column = {"encoding": "WKB", "geometry_types": ["Point"], **({"bbox": bbox} if bbox else {})}
    return json.dumps({"version": "1.1.0", "primary_column": "geometry",
                       "columns": {"geometry": column}}).encode("utf-8")


_WKB_POINT = np.dtype([("byte_order", "u1"), ("geometry_type", "<u4"), ("x", "<f8"), ("y", "<f8")])


def wkb_points(x: np.ndarray, y: np.ndarray) -> pa.BinaryArray:
    """Little-endian WKB points (21 bytes each, as ``shapely.to_wkb`` writes them) built in one numpy pass: shapely
    makes a geometry object per point first, about 2.5 µs a point."""
    records = np.empty(len(x), dtype=_WKB_POINT)
    records["byte_order"], records["geometry_type"], records["x"], records["y"] = 1, 1, x, y
    offsets = np.arange(len(x) + 1, dtype=np.int32) * _WKB_POINT.itemsize
    return pa.Array.from_buffers(pa.binary(), len(x), [None, pa.py_buffer(offsets), pa.py_buffer(records.tobytes())])


def _accepted_table(prepared: PreparedRows, idx: np.ndarray, sha256: str) -> pa.Table:
    """The accepted rows as Arrow columns: identity, every field typed, the located columns and cells, geometry."""
    spec = prepared.spec
    data: dict[str, pa.Array] = {
        "record_key": pa.array(prepared.keys[idx]), "content_hash": pa.array(prepared.hashes[idx]),
        "row_number": pa.array(prepared.source.row_numbers[idx].astype(np.int32)),
    }
    for f in spec.fields:
        value = prepared.typed[f.name]
        if f.is_time:
            data[f.name] = pa.array(value.dt.tz_convert(None).to_numpy()[idx])
        else:
            data[f.name] = pa.array(np.asarray(value, dtype=object)[idx], type=pa.string() if f.type == "text"
                                    else None)
    for name, values in prepared.columns.items():
        data[name] = pa.array(values[idx])
    data["source_sha256"] = pa.DictionaryArray.from_arrays(np.zeros(idx.size, np.int8), pa.array([sha256]))
    return pa.table(data)


def _partition_names(prepared: PreparedRows, idx: np.ndarray, store: Store) -> tuple[np.ndarray, np.ndarray]:
    """Each accepted row's partition: its month and the res-``PARENT_RES`` parent of its coarsest stored cell."""
    loc = prepared.spec.locations[0].name
    times = prepared.typed[prepared.spec.time_fields[0]].dt.tz_convert(None).to_numpy()[idx].astype("datetime64[M]")
    month_of_row, distinct = pd.factorize(times)
    months = np.datetime_as_string(np.asarray(distinct, dtype="datetime64[M]"), unit="M").astype(object)[
        month_of_row] if idx.size else np.zeros(0, dtype=object)
    cells = prepared.columns[cell_column(loc, min(store.resolutions))][idx]
    parents = cells_to_parents(cells, PARENT_RES).astype(np.int64)
    unique = np.unique(parents)
    names = dict(zip(unique.tolist(), to_hex(unique)))
    return months, np.array([names[p] for p in parents.tolist()], dtype=object) if parents.size else parents


def _write_partitions(prepared: PreparedRows, idx: np.ndarray, out_dir: Path, sha256: str, store: Store,
                      temporary: dict[str, Path]) -> list[str]:
    """Write the accepted rows under temporary names, one file per (month, parent cell); each final relative path
    and its temporary file go into ``temporary`` as they are written (so a failure can remove them). Returns the
    relative paths."""
    table = _accepted_table(prepared, idx, sha256)
    months, parents = _partition_names(prepared, idx, store)
    loc = prepared.spec.locations[0].name
    lat, lng = prepared.columns[f"{loc}_lat"][idx], prepared.columns[f"{loc}_lng"][idx]
    table = table.append_column("geometry", wkb_points(lng, lat))
    groups = pd.Series(np.arange(idx.size)).groupby([months, parents], sort=True).indices
    written: list[str] = []
    for (month, parent), rows in groups.items():
        part = table.take(rows)
        part = part.replace_schema_metadata({b"geo": _geo_metadata(lng[rows], lat[rows])})
        relative = f"period={month}/h3_res{PARENT_RES}={parent}/part-{sha256[:16]}.parquet"
        temporary[relative] = _write_temporary(part, out_dir / relative)
        written.append(relative)
    return written


def _write_quarantine_file(prepared: PreparedRows, idx: np.ndarray, out_dir: Path, sha256: str, batch_id: str,
                           temporary: dict[str, Path]) -> str:
    issues = prepared.log.by_row()
    rows = quarantine_rows(prepared.spec, prepared.source, prepared.keys, prepared.hashes, idx, issues, batch_id)
    relative = f"{QUARANTINE_DIR}/{prepared.source.path.name}-{sha256[:16]}.parquet"
    temporary[relative] = _write_temporary(pa.Table.from_pylist(rows), out_dir / relative)
    return relative


def _reconcile_across_files(prepared: PreparedRows, held: HeldIdentities) -> None:
    """Accepted rows already committed from an earlier file are duplicates (same content) or conflicts."""
    status, spec = prepared.status, prepared.spec
    accepted = status == "accepted"
    key_held, pair_held = held.lookup(prepared.keys, prepared.hashes)
    status[accepted & pair_held] = "duplicate"
    conflicts = np.flatnonzero(accepted & key_held & ~pair_held)
    prepared.log.add(conflicts, spec.key[0] if spec.key else "record", "conflicting_record",
                     "an earlier file of this archive holds this identity with different content")
    status[conflicts] = "rejected"


@dataclasses.dataclass
class StagedFile:
    """A source file read, checked and written under temporary names: everything its commit needs."""

    result: FileResult
    quarantine: str | None
    temporary: dict[str, Path]  # final relative path -> the temporary file holding it
    keys: np.ndarray  # identities of the accepted rows, for the check against files committed before it
    hashes: np.ndarray
    batch: dict  # its record for the store's batches table

    def discard(self) -> None:
        _remove(self.temporary.values())


def _prepare(store: Store, path: Path, *, settings: Settings, now: datetime, limit: SizeLimit,
             context: CheckContext) -> PreparedRows:
    return prepare_rows(store, get_layer(store.specs, "incidents"), path, settings=settings, fmt=SOURCE_FORMAT,
                        encoding="utf-8", now=now, postcodes=None, limit=limit, scope=None,
                        step=lambda stage, done, total: None, context=context)


def _stage_file(store: Store, path: Path, out_dir: Path, *, sha256: str, batch_id: str, settings: Settings,
                now: datetime, limit: SizeLimit, context: CheckContext, held: HeldIdentities | None,
                prepared: PreparedRows | None = None) -> StagedFile:
    """Prepare ``path`` by the rules of a normal ingest (or take ``prepared``, the same file prepared before and
    left unchanged) and write its partitions and quarantine under temporary names. With ``held`` its rows are also
    checked against the files committed before it; a worker process, which does not know what the files before it
    will commit, passes None (see ``_bulk_ingest_parallel``)."""
    spec = get_layer(store.specs, "incidents")
    started_at = datetime.now(timezone.utc).replace(tzinfo=None)
    if prepared is None:
        prepared = _prepare(store, path, settings=settings, now=now, limit=limit, context=context)
    if held is not None:
        _reconcile_across_files(prepared, held)
    status = prepared.status
    accepted, rejected = np.flatnonzero(status == "accepted"), np.flatnonzero(status == "rejected")
    temporary: dict[str, Path] = {}
    try:
        partitions = _write_partitions(prepared, accepted, out_dir, sha256, store, temporary)
        quarantine = _write_quarantine_file(prepared, rejected, out_dir, sha256, batch_id, temporary) \
            if rejected.size else None
    except BaseException:
        _remove(temporary.values())
        raise
    issues = prepared.log.by_row()
    result = FileResult(source=path.name, status="loaded", sha256=sha256, rows_in=len(prepared.source),
                        accepted=int(accepted.size), rejected=int(rejected.size),
                        duplicate=int((status == "duplicate").sum()),
                        reasons=dict(Counter(issues[i][0]["code"] for i in rejected.tolist())),
                        partitions=partitions, batch_id=batch_id)
    batch = {
        "batch_id": batch_id, "layer": spec.name, "source_name": path.name, "source_sha256": sha256,
        "format": BULK_FORMAT, "started_at": started_at,
        "finished_at": datetime.now(timezone.utc).replace(tzinfo=None), "rows_in": result.rows_in,
        "accepted": result.accepted, "rejected": result.rejected, "duplicate": result.duplicate,
        "ignored_columns": json.dumps(list(prepared.source.ignored_columns)),
        "settings": json.dumps({"out_dir": str(out_dir), "parent_res": PARENT_RES,
                                "resolutions": store.resolutions, "study_area": settings.study_area,
                                "quarantine": quarantine, "now": now.isoformat()}),
        "synthetic": False, "demo": False,
    }
    return StagedFile(result, quarantine, temporary, prepared.keys[accepted], prepared.hashes[accepted], batch)


def _commit_file(store: Store, staged: StagedFile, out_dir: Path, held: HeldIdentities, *, new_batch: bool) -> None:
    """Rename the staged file's partitions and quarantine into place, record its batch (unless a killed run
    already did) and write its manifest last, which commits it. On a failure before the manifest, what was
    renamed and what is still temporary are removed, so the file stays uncommitted and the next run loads it."""
    renamed: list[Path] = []
    try:
        for relative, temp in staged.temporary.items():
            os.replace(temp, out_dir / relative)
            renamed.append(out_dir / relative)
        if new_batch:
            with store.writing() as conn:
                store.insert_batch(conn, staged.batch)
        _write_json_atomically({**dataclasses.asdict(staged.result), "quarantine": staged.quarantine},
                                out_dir / FILES_DIR / f"{staged.result.sha256}.json")
    except BaseException:
        staged.discard()
        _remove(renamed)
        raise
    held.add(staged.keys, staged.hashes)


def _batch_for(store: Store, sha256: str) -> tuple[str, bool]:
    """The batch id for a source file and whether it is new (a run killed after recording it reuses it)."""
    previous = store.batch_ids_for_source("incidents", sha256, BULK_FORMAT)
    return (previous[0], False) if previous else (uuid.uuid4().hex, True)


def bulk_ingest(store: Store, archive_dir, out_dir, *, settings: Settings, now: datetime | None = None,
                progress=None, workers: int = 1) -> BulkReport:
    """Load every street-crime file of a data.police.uk archive into partitioned GeoParquet under ``out_dir``.

    ``workers``: processes reading and checking files at once (``os.cpu_count()`` uses every core); the result is
    the same for any number, file for file. ``progress(done, total, result)``, when given, is called after each
    file, in the archive's order. See the module docstring for what is written and why a re-run adds nothing.
    """
    if workers < 1:
        raise InputFileError(f"workers must be at least 1, got {workers}")
    started = time.perf_counter()
    now = now or datetime.now(timezone.utc)
    out_dir = Path(out_dir)
    files = archive_files(archive_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with _only_writer(out_dir):
        manifests = committed_files(out_dir)
        remove_uncommitted_files(out_dir, manifests)
        held = HeldIdentities.from_partitions(committed_partitions(out_dir, manifests))
        hashes = [_sha256(path) for path in files]
        to_load = [(number, path, sha256) for number, (path, sha256) in enumerate(zip(files, hashes))
                   if sha256 not in manifests]
        workers = min(workers, len(to_load))
        run = _bulk_ingest_parallel if workers > 1 else _bulk_ingest_serial
        loaded = run(store, to_load, out_dir, settings=settings, now=now, held=held, workers=workers,
                     report=_Progress(files, hashes, manifests, progress))
    results = [loaded.get(number) or _skipped(path, sha256) for number, (path, sha256) in enumerate(zip(files, hashes))]
    return BulkReport(results, round(time.perf_counter() - started, 3))


def _skipped(path: Path, sha256: str) -> FileResult:
    """A file whose content (by SHA-256) is committed already: before this run, or under another name in it."""
    return FileResult(source=path.name, status="skipped", sha256=sha256)


def _refused(path: Path, sha256: str, error: InputFileError) -> FileResult:
    """A file that cannot be read at all, with the reader's reason; the others still load."""
    return FileResult(source=path.name, status="refused", sha256=sha256, message=str(error))


class _Progress:
    """Calls ``progress`` once per archive file in the archive's order, skipped files included, as files finish."""

    def __init__(self, files: list[Path], hashes: list[str], manifests: dict, progress):
        self.order = [(path, sha256, sha256 in manifests) for path, sha256 in zip(files, hashes)]
        self.progress = progress
        self.done = 0

    def __call__(self, result: FileResult) -> None:
        while self.done < len(self.order) and self.order[self.done][2]:  # skipped files before this one
            self._tell_skipped()
        self._tell(result)

    def finish(self) -> None:
        while self.done < len(self.order):
            self._tell_skipped()

    def _tell_skipped(self) -> None:
        path, sha256, _ = self.order[self.done]
        self._tell(_skipped(path, sha256))

    def _tell(self, result: FileResult) -> None:
        self.done += 1
        if self.progress is not None:
            self.progress(self.done, len(self.order), result)


def _load_here(store: Store, path: Path, sha256: str, out_dir: Path, *, settings: Settings, now: datetime,
               limit: SizeLimit, context: CheckContext, held: HeldIdentities) -> FileResult:
    """Stage and commit one file in this process, checked against everything committed before it."""
    batch_id, new_batch = _batch_for(store, sha256)
    try:
        staged = _stage_file(store, path, out_dir, sha256=sha256, batch_id=batch_id, settings=settings, now=now,
                             limit=limit, context=context, held=held)
    except InputFileError as exc:
        return _refused(path, sha256, exc)
    _commit_file(store, staged, out_dir, held, new_batch=new_batch)
    return staged.result


def _bulk_ingest_serial(store: Store, to_load, out_dir: Path, *, settings: Settings, now: datetime,
                        held: HeldIdentities, workers: int, report: _Progress) -> dict[int, FileResult]:
    limit = SizeLimit.megabytes(settings.ingest_max_mb, "ingest_max_mb")
    context = check_context(store, get_layer(store.specs, "incidents"), settings) if to_load else None
    loaded: dict[int, FileResult] = {}
    committed: set[str] = set()
    for number, path, sha256 in to_load:
        if sha256 in committed:  # the same content under another name, loaded earlier in this run
            loaded[number] = _skipped(path, sha256)
        else:
            loaded[number] = _load_here(store, path, sha256, out_dir, settings=settings, now=now, limit=limit,
                                        context=context, held=held)
        if loaded[number].status == "loaded":
            committed.add(sha256)
        report(loaded[number])
    report.finish()
    return loaded


# Worker processes -----------------------------------------------------------------------------------------------
# Each worker reads, checks and writes whole files under temporary names; this process commits them in the
# archive's order. A worker does not know what the files before its file will commit, so it stages without the
# check against them; at commit, a file none of whose accepted identities is held by then is exactly what a serial
# run would have staged. One that shares identities with files committed before it (a re-published file, or a
# record police.uk repeats in another month) goes back to the worker that staged it, which still holds its
# prepared rows, with just the held identities it shares: they answer its check as all of them would, so the
# result never depends on ``workers``.
_WORKER: dict = {}


def _die_with_parent(parent: int) -> None:
    """Have the kernel kill this worker when the run's process dies (Linux): a run killed outright must leave no
    worker writing into the folder after the next run has cleared it."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)


def _start_worker(parent: int, database_url: str, specs: dict, resolutions: tuple, settings: Settings) -> None:
    _die_with_parent(parent)
    store = Store(make_engine(database_url), specs, resolutions, settings)
    _WORKER.update(store=store, settings=settings, context=check_context(store, get_layer(specs, "incidents"),
                                                                          settings),
                   limit=SizeLimit.megabytes(settings.ingest_max_mb, "ingest_max_mb"),
                   prepared=collections.OrderedDict())


def _stage_in_worker(path: Path, sha256: str, batch_id: str, out_dir: Path, now: datetime,
                     held: HeldIdentities | None = None) -> StagedFile | FileResult:
    """Stage a file in a worker process. The files it staged and this process has not yet committed stay prepared
    (at most ``AHEAD_PER_WORKER + 1``, the most a worker is ahead), so staging one again with ``held`` does not
    read and check it twice."""
    store, kept = _WORKER["store"], _WORKER["prepared"]
    settings, limit, context = _WORKER["settings"], _WORKER["limit"], _WORKER["context"]
    try:
        prepared = kept.pop(sha256, None) if held is not None else None
        if prepared is None:
            prepared = _prepare(store, path, settings=settings, now=now, limit=limit, context=context)
        if held is None:
            kept[sha256] = prepared
            while len(kept) > AHEAD_PER_WORKER + 1:
                kept.popitem(last=False)
        return _stage_file(store, path, out_dir, sha256=sha256, batch_id=batch_id, settings=settings, now=now,
                           limit=limit, context=context, held=held, prepared=prepared)
    except InputFileError as exc:
        return _refused(path, sha256, exc)


def _bulk_ingest_parallel(store: Store, to_load, out_dir: Path, *, settings: Settings, now: datetime,
                          held: HeldIdentities, workers: int, report: _Progress) -> dict[int, FileResult]:
    """Stage files on ``workers`` processes (each its own single-process pool, so a file can go back to the worker
    that staged it), each at most ``AHEAD_PER_WORKER`` files ahead of the one being committed, so what waits in
    memory stays bounded; commit them here in order (see the comment above)."""
    url = store.engine.url.render_as_string(hide_password=False)
    spawn = multiprocessing.get_context("spawn")
    pools = [ProcessPoolExecutor(1, mp_context=spawn, initializer=_start_worker,
                                 initargs=(os.getpid(), url, store.specs, store.resolutions, settings))
             for _ in range(workers)]
    outstanding = [0] * workers
    loaded: dict[int, FileResult] = {}
    committed: set[str] = set()
    queue: collections.deque = collections.deque()
    waiting = iter(to_load)

    def submit_next() -> None:
        for number, path, sha256 in itertools.islice(waiting, 1):
            batch_id, new_batch = _batch_for(store, sha256)
            worker = outstanding.index(min(outstanding))
            outstanding[worker] += 1
            queue.append((number, path, sha256, batch_id, new_batch, worker,
                          pools[worker].submit(_stage_in_worker, path, sha256, batch_id, out_dir, now)))

    try:
        for _ in range(AHEAD_PER_WORKER * workers):
            submit_next()
        while queue:
            number, path, sha256, batch_id, new_batch, worker, future = queue.popleft()
            staged = future.result()
            if sha256 in committed:  # the same content under another name, committed earlier in this run
                if isinstance(staged, StagedFile):
                    staged.discard()
                staged = _skipped(path, sha256)
            if isinstance(staged, StagedFile):
                key_held, _ = held.lookup(staged.keys, staged.hashes)
                if key_held.any():  # stage it again, checked against the held identities it shares
                    staged.discard()
                    staged = pools[worker].submit(_stage_in_worker, path, sha256, batch_id, out_dir, now,
                                                  held.restricted_to(staged.keys[key_held])).result()
            outstanding[worker] -= 1
            if isinstance(staged, StagedFile):
                _commit_file(store, staged, out_dir, held, new_batch=new_batch)
                staged = staged.result
            loaded[number] = staged
            if staged.status == "loaded":
                committed.add(sha256)
            report(staged)
            submit_next()
        report.finish()
    except BaseException:
        for pool in pools:
            pool.shutdown(wait=True, cancel_futures=True)
        _remove(out_dir.rglob(TEMP_PREFIX + "*"))  # what the workers staged and nobody committed
        raise
    for pool in pools:
        pool.shutdown(wait=True)
    return loaded


def parquet_counts(path, res: int, start=None, end=None, *, location: str = "location",
                   by_month: bool = False) -> pd.Series:
    """Incidents per cell at ``res`` dated in [start, end), read from a bulk-ingest folder's committed files.

    The shape of ``Store.count_by_cell``: an int64 Series indexed by int64 ``cell``, cells with none absent; with
    ``by_month`` the index is (``cell``, ``month``).
    """
    column = cell_column(location, res)
    start = None if start is None else pd.Timestamp(start)
    end = None if end is None else pd.Timestamp(end)
    parts = []
    for part in committed_partitions(path):
        period = pd.Timestamp(part.parent.parent.name.split("=", 1)[1] + "-01")
        if (start is None or period >= start.to_period("M").start_time) and (end is None or period < end):
            parts.append(str(part))
    if not parts:
        empty = pd.MultiIndex.from_arrays([[], []], names=["cell", "month"]) if by_month else \
            pd.Index([], dtype="int64", name="cell")
        return pd.Series([], index=empty, dtype="int64")
    dataset = pads.dataset(parts, format="parquet")
    condition = None
    if start is not None:
        condition = pads.field("month") >= pa.scalar(start.to_datetime64(), pa.timestamp("us"))
    if end is not None:
        before_end = pads.field("month") < pa.scalar(end.to_datetime64(), pa.timestamp("us"))
        condition = before_end if condition is None else condition & before_end
    table = dataset.to_table(columns=[column, "month"], filter=condition)
    frame = pd.DataFrame({"cell": table.column(column).to_numpy().astype(np.int64),
                          "month": table.column("month").to_numpy()})
    frame = frame[frame.cell != 0]
    counts = frame.groupby(["cell", "month"] if by_month else "cell").size().astype("int64")
    return counts.rename(None)
