"""Bulk ingest speed: a synthetic data.police.uk archive (the shared police.uk year repeated, a year later each
time) into partitioned GeoParquet, end to end and per stage.

Run: ``.venv/bin/python benchmarks/bulk.py [--rows 1000000] [--workers 2] [--jitter]``. Prints rows/s for the
whole run (read, validate, locate, H3 at the store's resolutions, identity, Parquet write, batch records) and, with
one worker, where the time goes, with the CPU seconds of every process of the run. The copies keep police.uk's
anonymised map points, which repeat as they do in the real archive (the shared year: 116,319 rows at 7,661
points); ``--jitter`` moves every point by up to ~20 m instead, so no two rows share a point (the worst case for
locating). Target (issue 16): at least 1,000,000 rows/s into Parquet.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from geoservice.config import PROJECT_ROOT, Settings  # noqa: E402
from geoservice.ingest import bulk, pipeline  # noqa: E402
from geoservice.ingest.pipeline import ingest_file  # noqa: E402
from geoservice.store.db import Store  # noqa: E402

DATA = PROJECT_ROOT.parent / "shared" / "data"
TARGET_ROWS_PER_S = 1_000_000  # issue 16, into Parquet
COLUMNS = ["Crime ID", "Month", "Reported by", "Falls within", "Longitude", "Latitude", "Location", "LSOA code",
           "LSOA name", "Crime type", "Last outcome category", "Context"]


def make_archive(folder: Path, rows: int, *, jitter: bool = False, seed: int = 0) -> int:
    """Copies of the shared year, copy k dated k years later with fresh Crime IDs (so no copy repeats another's
    records); with ``jitter`` each copy's points moved by up to ~20 m."""
    rng = np.random.default_rng(seed)
    year = pd.read_csv(DATA / "police_uk_street_2017-07_2018-06.csv.gz", dtype=str, keep_default_na=False)[COLUMNS]
    written, copy = 0, 0
    while written < rows:
        frame = year.head(rows - written).copy()
        month = pd.PeriodIndex(frame.Month, freq="M") + 12 * copy
        frame["Month"] = month.strftime("%Y-%m")
        if jitter:
            offset = rng.uniform(-0.0002, 0.0002, (len(frame), 2))
            frame["Latitude"] = (frame.Latitude.astype(float) + offset[:, 0]).map("{:.6f}".format)
            frame["Longitude"] = (frame.Longitude.astype(float) + offset[:, 1]).map("{:.6f}".format)
            frame["LSOA name"] = ""  # jittered points may cross an LSOA edge: let the point decide the borough
        has_id = frame["Crime ID"] != ""
        frame.loc[has_id, "Crime ID"] = frame.loc[has_id, "Crime ID"].str[:56] + f"{copy:08x}"
        for month, rows_of_month in frame.groupby("Month"):
            path = folder / month / f"{month}-metropolitan-copy{copy}-street.csv"
            path.parent.mkdir(parents=True, exist_ok=True)
            rows_of_month.to_csv(path, index=False)
        written += len(frame)
        copy += 1
    return written


def cpu_seconds() -> float:
    """User and system CPU of this process and of its children that have ended (the worker processes)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def arrow_floor(archive: Path) -> tuple[float, float, int]:
    """CPU seconds Arrow alone takes to parse every archive file (its own multithreaded reader, every column as
    text) and to write the parsed rows to Parquet (zstd), with no check at all: a floor under any ingest that reads
    these CSV files and writes Parquet. Returns (parse, write, rows)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    parse = write = 0.0
    rows = 0
    with tempfile.TemporaryDirectory() as out:
        for number, path in enumerate(sorted(archive.rglob("*.csv"))):
            began = cpu_seconds()
            table = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in COLUMNS}))
            parse += cpu_seconds() - began
            began = cpu_seconds()
            pq.write_table(table, Path(out) / f"{number}.parquet", compression="zstd")
            write += cpu_seconds() - began
            rows += table.num_rows
    return parse, write, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=1, help="worker processes (bulk_ingest's workers)")
    parser.add_argument("--jitter", action="store_true", help="no two rows at the same point (worst case)")
    parser.add_argument("--floor", action="store_true",
                        help="also time Arrow alone parsing the files and writing Parquet, with no checks")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        settings = Settings.from_env(environ={}, database_url=f"sqlite:///{tmp / 'db.sqlite'}",
                                     instance_path=str(tmp / "instance"), data_dir=str(DATA))
        store = Store.from_settings(settings)
        store.init()
        for name in ("london_boroughs.geojson", "wards_merton_neighbours.geojson"):
            ingest_file(store, "boundaries", DATA / name, settings=settings)
        rows = make_archive(tmp / "archive", args.rows, jitter=args.jitter)
        stages: dict[str, float] = defaultdict(float)

        def timed(name, fn):
            def wrapper(*a, **k):
                start = time.perf_counter()
                try:
                    return fn(*a, **k)
                finally:
                    stages[name] += time.perf_counter() - start
            return wrapper

        bulk.prepare_rows = timed("read, validate, locate, H3, identify (prepare_rows)", bulk.prepare_rows)
        for name in ("read_table", "validate_fields", "locate", "points_to_cells", "identify", "check_characters"):
            setattr(pipeline, name, timed(f"  {name}", getattr(pipeline, name)))
        bulk._write_partitions = timed("Parquet partitions (Arrow tables, WKB, zstd)", bulk._write_partitions)
        bulk._write_quarantine_file = timed("quarantine Parquet", bulk._write_quarantine_file)
        bulk._sha256 = timed("SHA-256 of the files", bulk._sha256)
        bulk._commit_file = timed("commit (renames, batch record, manifest)", bulk._commit_file)
        start, cpu = time.perf_counter(), cpu_seconds()
        report = bulk.bulk_ingest(store, tmp / "archive", tmp / "parquet", settings=settings, workers=args.workers)
        seconds, cpu = time.perf_counter() - start, cpu_seconds() - cpu
        print(f"{rows:,} rows in {len(report.files)} files, {args.workers} worker(s), "
              f"{'jittered' if args.jitter else 'police.uk map'} points: {seconds:.1f} s = {rows / seconds:,.0f} "
              f"rows/s; {cpu:.1f} CPU s = {rows / cpu:,.0f} rows per CPU second "
              f"({report.total('accepted'):,} accepted, {report.total('rejected'):,} rejected, "
              f"{report.total('duplicate'):,} duplicate)")
        print(f"against the target of {TARGET_ROWS_PER_S:,} rows/s: {rows / seconds / TARGET_ROWS_PER_S:.3f}x")
        for name, spent in stages.items():  # timed in this process: with workers, only what this process did
            print(f"{name:55s} {spent:6.1f} s")
        if args.floor:
            parse, write, parsed = arrow_floor(tmp / "archive")
            per_million = (parse + write) * 1e6 / parsed
            print(f"Arrow alone, no checks: parse {parse:.1f} + write {write:.1f} CPU s for {parsed:,} rows = "
                  f"{per_million:.2f} CPU s per million rows, so at most {1e6 / per_million * os.cpu_count():,.0f} "
                  f"rows/s on this machine's {os.cpu_count()} cores even with every core busy; the ingest with its "
                  f"checks used {cpu / (parse + write) * parsed / rows:.1f}x Arrow alone's CPU per row (the anchor)")
        start = time.perf_counter()
        again = bulk.bulk_ingest(store, tmp / "archive", tmp / "parquet", settings=settings)
        print(f"re-run (all skipped by SHA-256): {time.perf_counter() - start:.1f} s, "
              f"{sum(f.status == 'skipped' for f in again.files)} files skipped")
        start = time.perf_counter()
        counts = bulk.parquet_counts(tmp / "parquet", 10, by_month=True)
        print(f"parquet_counts res 10 by month: {time.perf_counter() - start:.2f} s, {len(counts):,} cell-months")


if __name__ == "__main__":
    main()
