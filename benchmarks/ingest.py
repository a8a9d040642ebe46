"""Ingest speed: 1,000,000 generated police.uk incident rows into SQLite, and H3 indexing against h3-py.

Run: ``.venv/bin/python benchmarks/ingest.py [--rows N]``. Prints end-to-end rows/second (read, validate, locate,
borough and ward, H3 at resolutions 7-10, identity, write, commit) and the H3 indexing rate next to a plain
per-row ``h3.latlng_to_cell`` loop (the anchor), as a ratio. Targets (issue 2, on a 2-core machine): indexing at
least 2 million points/s, end-to-end at least 100,000 rows/s.

The rows are realistic: police.uk reuses anonymised "snap points", so the generator draws locations from a pool
of 40,000 points inside Merton and its neighbours; about 20% are anti-social behaviour without a Crime ID.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import h3
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from geoservice.config import Settings  # noqa: E402
from geoservice.cells import points_to_cells  # noqa: E402
from geoservice.ingest.pipeline import ingest_file  # noqa: E402
from geoservice.store.db import Store  # noqa: E402
from geoservice.synth.world import Geography  # noqa: E402

HEADER = ("Crime ID,Month,Reported by,Falls within,Longitude,Latitude,Location,LSOA code,LSOA name,Crime type,"
          "Last outcome category,Context\n")
TYPES = ("Violence and sexual offences", "Vehicle crime", "Other theft", "Burglary", "Criminal damage and arson",
         "Shoplifting", "Public order", "Drugs", "Theft from the person", "Robbery", "Bicycle theft")


def generate(path: Path, rows: int, data_dir: Path, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Write ``rows`` police.uk rows to ``path``; return the latitudes and longitudes written."""
    rng = np.random.default_rng(seed)
    geo = Geography.load(data_dir)
    wards = geo.wards.reset_index(drop=True)
    pool = np.vstack([geo.sample_in(rng, g, 340) for g in wards.geometry])[:40_000]
    pick = rng.integers(0, len(pool), rows)
    lat, lng = pool[pick, 0], pool[pick, 1]
    asb = rng.random(rows) < 0.2
    types = np.array(TYPES)[rng.integers(0, len(TYPES), rows)]
    months = rng.integers(1, 13, rows)
    with open(path, "w", encoding="utf-8") as out:
        out.write(HEADER)
        for i in range(rows):
            crime_id = "" if asb[i] else f"{rng.integers(1 << 62):x}{i:08d}"
            kind = "Anti-social behaviour" if asb[i] else types[i]
            out.write(f"{crime_id},2024-{months[i]:02d},Metropolitan Police Service,Metropolitan Police Service,"
                      f"{lng[i]:.6f},{lat[i]:.6f},On or near Somewhere,,,{kind},,\n")
    return lat, lng


def h3_rates(lat: np.ndarray, lng: np.ndarray, resolutions=(7, 8, 9, 10), loop_rows: int = 100_000) -> dict:
    points_to_cells(lat[:1000], lng[:1000], resolutions)  # warm up
    start = time.perf_counter()
    points_to_cells(lat, lng, resolutions)
    ours = time.perf_counter() - start
    sample_lat, sample_lng = lat[:loop_rows].tolist(), lng[:loop_rows].tolist()
    start = time.perf_counter()
    for res in resolutions:
        [h3.latlng_to_cell(a, b, res) for a, b in zip(sample_lat, sample_lng)]
    loop = (time.perf_counter() - start) * len(lat) / loop_rows
    return {"points_per_s": len(lat) / ours, "loop_points_per_s": len(lat) / loop, "ratio": loop / ours}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--data-dir", type=Path, default=Settings.from_env().data_dir)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        csv_path = tmp / "incidents.csv"
        print(f"generating {args.rows:,} police.uk rows ...", flush=True)
        lat, lng = generate(csv_path, args.rows, args.data_dir)
        print(f"  {csv_path.stat().st_size / 1e6:.0f} MB")

        rates = h3_rates(lat, lng)
        print(f"H3 indexing, res 7-10, {len(lat):,} points: {rates['points_per_s'] / 1e6:.2f} M points/s "
              f"({4 * rates['points_per_s'] / 1e6:.1f} M cells/s); per-row h3.latlng_to_cell loop "
              f"{rates['loop_points_per_s'] / 1e6:.2f} M points/s; ratio {rates['ratio']:.1f}x "
              f"(target: at least 2 M points/s)")

        settings = Settings.from_env(database_url=f"sqlite:///{tmp / 'bench.sqlite'}", data_dir=str(args.data_dir))
        store = Store.from_settings(settings)
        store.init()
        for name in ("london_boroughs.geojson", "wards_merton_neighbours.geojson"):
            ingest_file(store, "boundaries", args.data_dir / name, settings=settings)
        stages: dict[str, float] = {}
        clock = {"t": time.perf_counter(), "stage": None}

        def progress(stage, done, total):
            now = time.perf_counter()
            if clock["stage"] is not None and stage != clock["stage"]:
                stages[clock["stage"]] = stages.get(clock["stage"], 0) + now - clock["t"]
                clock["t"] = now
            clock["stage"] = stage

        start = time.perf_counter()
        clock["t"] = start
        report = ingest_file(store, "incidents", csv_path, settings=settings, progress=progress)
        seconds = time.perf_counter() - start
        print(report.summary())
        print("stages: " + ", ".join(f"{k} {v:.2f} s" for k, v in stages.items()))
        print(f"end-to-end ingest into SQLite: {report.rows_in / seconds:,.0f} rows/s "
              f"({seconds:.1f} s for {report.rows_in:,} rows; target: at least 100,000 rows/s)")
        reingest_start = time.perf_counter()
        again = ingest_file(store, "incidents", csv_path, settings=settings)
        print(f"re-ingest (all duplicate): {again.rows_in / (time.perf_counter() - reingest_start):,.0f} rows/s, "
              f"{again.duplicate:,} duplicate")
        store.engine.dispose()


if __name__ == "__main__":
    main()
