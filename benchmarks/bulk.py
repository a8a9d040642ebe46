"""Bulk ingest speed: a synthetic data.police.uk archive (the shared police.uk year repeated with jittered points)
into partitioned GeoParquet, end to end and per stage.

Run: ``.venv/bin/python benchmarks/bulk.py [--rows 1000000]``. Prints rows/s for the whole run (read, validate,
locate, H3 at the store's resolutions, identity, Parquet write, batch records) and where the time goes.
Target (issue 16): at least 1,000,000 rows/s into Parquet.
"""

from __future__ import annotations

import argparse
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
COLUMNS = ["Crime ID", "Month", "Reported by", "Falls within", "Longitude", "Latitude", "Location", "LSOA code",
           "LSOA name", "Crime type", "Last outcome category", "Context"]


def make_archive(folder: Path, rows: int, seed: int = 0) -> int:
    """Copies of the shared year, each with its points jittered by up to ~20 m and fresh Crime IDs."""
    rng = np.random.default_rng(seed)
    year = pd.read_csv(DATA / "police_uk_street_2017-07_2018-06.csv.gz", dtype=str, keep_default_na=False)[COLUMNS]
    written, copy = 0, 0
    while written < rows:
        frame = year.head(rows - written).copy()
        jitter = rng.uniform(-0.0002, 0.0002, (len(frame), 2))
        frame["Latitude"] = (frame.Latitude.astype(float) + jitter[:, 0]).map("{:.6f}".format)
        frame["Longitude"] = (frame.Longitude.astype(float) + jitter[:, 1]).map("{:.6f}".format)
        has_id = frame["Crime ID"] != ""
        frame.loc[has_id, "Crime ID"] = frame.loc[has_id, "Crime ID"].str[:56] + f"{copy:08x}"
        frame["LSOA name"] = ""  # jittered points may cross an LSOA edge: let the point decide the borough
        for month, rows_of_month in frame.groupby("Month"):
            path = folder / month / f"{month}-metropolitan-copy{copy}-street.csv"
            path.parent.mkdir(parents=True, exist_ok=True)
            rows_of_month.to_csv(path, index=False)
        written += len(frame)
        copy += 1
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        settings = Settings.from_env(environ={}, database_url=f"sqlite:///{tmp / 'db.sqlite'}",
                                     instance_path=str(tmp / "instance"), data_dir=str(DATA))
        store = Store.from_settings(settings)
        store.init()
        for name in ("london_boroughs.geojson", "wards_merton_neighbours.geojson"):
            ingest_file(store, "boundaries", DATA / name, settings=settings)
        rows = make_archive(tmp / "archive", args.rows)
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
        start = time.perf_counter()
        report = bulk.bulk_ingest(store, tmp / "archive", tmp / "parquet", settings=settings)
        seconds = time.perf_counter() - start
        print(f"{rows:,} rows in {len(report.files)} files: {seconds:.1f} s = {rows / seconds:,.0f} rows/s "
              f"({report.total('accepted'):,} accepted, {report.total('rejected'):,} rejected, "
              f"{report.total('duplicate'):,} duplicate)")
        for name, spent in stages.items():
            print(f"{name:55s} {spent:6.1f} s")
        start = time.perf_counter()
        again = bulk.bulk_ingest(store, tmp / "archive", tmp / "parquet", settings=settings)
        print(f"re-run (all skipped by SHA-256): {time.perf_counter() - start:.1f} s, "
              f"{sum(f.status == 'skipped' for f in again.files)} files skipped")
        start = time.perf_counter()
        counts = bulk.parquet_counts(tmp / "parquet", 10, by_month=True)
        print(f"parquet_counts res 10 by month: {time.perf_counter() - start:.2f} s, {len(counts):,} cell-months")


if __name__ == "__main__":
    main()
