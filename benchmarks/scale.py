"""Scale: a synthetic pan-London (or England-and-Wales) year of incidents, streamed to partitioned GeoParquet, then
counts, Gi* at res 9 and 10 and emerging hot spots over 24 months on the local engine and on Dask (1 and 2 workers).

Run: ``.venv/bin/python benchmarks/scale.py`` (10 M rows over London's 33 real borough polygons; ``--rows 1000000``
for a quick run; ``--national`` for 60 M rows in chunks over a synthetic England and Wales, see docs/scale.md).
With ``GEOSERVICE_DASK_ADDRESS`` set, the Dask rows run on that scheduler instead of a local cluster (the counts are
read here from ``--out`` and sent to the workers, which run the Gi* work; they do not read the folder).

The synthetic incidents: per borough a few hot centres (random points inside the polygon, lognormal weights,
Gaussian spread of 80-400 m, about one in six of them growing over the 24 months), 70 % of rows drawn from the
centres and 30 % uniformly over the bounding box, and every point clipped to London (points outside are drawn
again). Rows are generated and written ``--chunk`` at a time (default 1 M, 5 M national), one Parquet file per
chunk, month and res-5 parent, with a manifest per chunk, the layout ``geoservice bulk-ingest`` writes, so
``parquet_counts`` reads it; no more than one chunk is ever held. Prints a table of wall time, the peak of memory
allocated during the step (tracemalloc, all threads of this process) and the process's peak resident size so far
(getrusage).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import shapely

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from geoservice.analysis.hotspots import gi_star  # noqa: E402
from geoservice.analysis.spacetime import emerging_hotspots  # noqa: E402
from geoservice.cells import cells_to_parents, points_to_cells, polygons_to_cells, to_hex  # noqa: E402
from geoservice.config import Settings  # noqa: E402
from geoservice.engine import DaskEngine, LocalEngine  # noqa: E402
from geoservice.ingest.bulk import FILES_DIR, PARENT_RES, parquet_counts, wkb_points  # noqa: E402

DATA = Settings.from_env().data_dir  # GEOSERVICE_DATA_DIR, by default ../shared/data
MONTHS = pd.period_range("2024-01", periods=24, freq="M")
CENTRES_PER_BOROUGH = 8
CLUSTERED = 0.7
M_PER_DEG_LAT = 111_320.0


def london() -> list[shapely.Geometry]:
    features = json.loads((DATA / "london_boroughs.geojson").read_text(encoding="utf-8"))["features"]
    return [shapely.from_geojson(json.dumps(f["geometry"])) for f in features]


def national(boroughs: list[shapely.Geometry]) -> list[shapely.Geometry]:
    """A synthetic England and Wales: London's boroughs copied onto a 4 x 5 grid of "regions" (~1 degree apart,
    over England's extent), so 60 M rows keep London's clustering and density per region. Not real geography."""
    out = []
    for i in range(4):
        for j in range(5):
            dx, dy = -4.0 + 1.1 * j, -1.6 + 1.0 * i
            out += [shapely.transform(b, lambda xy, dx=dx, dy=dy: xy + [dx, dy]) for b in boroughs]
    return out


def _inside(polygon, rng, n) -> np.ndarray:
    x0, y0, x1, y1 = polygon.bounds
    found = np.zeros((0, 2))
    while len(found) < n:
        xy = rng.uniform((x0, y0), (x1, y1), (4 * n, 2))
        found = np.vstack([found, xy[shapely.contains_xy(polygon, xy[:, 0], xy[:, 1])]])
    return found[:n]


class World:
    """The hot centres and the clip area; ``chunk(n)`` draws n incidents (lng, lat, month index)."""

    def __init__(self, polygons, seed: int = 0):
        self.rng = np.random.default_rng(seed)
        self.area = shapely.union_all(polygons)
        shapely.prepare(self.area)
        self.bounds = self.area.bounds
        self.centres = np.vstack([_inside(p, self.rng, CENTRES_PER_BOROUGH) for p in polygons])
        m = len(self.centres)
        self.weight = self.rng.lognormal(0.0, 1.0, m)
        self.weight /= self.weight.sum()
        self.sigma_m = self.rng.uniform(80, 400, m)
        self.growing = self.rng.random(m) < 1 / 6

    def _draw(self, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        rng = self.rng
        clustered = rng.random(n) < CLUSTERED
        which = rng.choice(len(self.centres), size=n, p=self.weight)
        x0, y0, x1, y1 = self.bounds
        lng, lat = rng.uniform(x0, x1, n), rng.uniform(y0, y1, n)
        c = self.centres[which[clustered]]
        sigma = self.sigma_m[which[clustered]] / M_PER_DEG_LAT
        lat[clustered] = c[:, 1] + rng.normal(0, 1, c.shape[0]) * sigma
        lng[clustered] = c[:, 0] + rng.normal(0, 1, c.shape[0]) * sigma / np.cos(np.radians(c[:, 1]))
        u = rng.random(n)
        grows = clustered & self.growing[which]
        month = np.where(grows, np.sqrt(u), u) * len(MONTHS)  # growing centres: density rising with time
        return lng, lat, np.minimum(month.astype(np.int16), len(MONTHS) - 1)

    def chunk(self, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        parts, have = [], 0
        while have < n:
            lng, lat, month = self._draw(int((n - have) * 1.3) + 100)
            keep = shapely.contains_xy(self.area, lng, lat)
            parts.append((lng[keep], lat[keep], month[keep]))
            have += int(keep.sum())
        lng, lat, month = (np.concatenate(a)[:n] for a in zip(*parts))
        return lng, lat, month


def write_chunk(out: Path, number: int, lng, lat, month) -> int:
    """One chunk as ``period=YYYY-MM/h3_res5=<parent>/part-s<number>.parquet`` files and its manifest."""
    cells = points_to_cells(lat, lng, (9, 10))
    parents = cells_to_parents(cells[10], PARENT_RES).astype(np.int64)
    table = pa.table({"location_cell_9": cells[9], "location_cell_10": cells[10],
                      "month": pa.array(MONTHS.start_time.to_numpy()[month].astype("datetime64[us]")),
                      "geometry": wkb_points(lng, lat)})
    order = np.lexsort((parents, month))
    keys = np.stack([month[order], parents[order]])
    edges = np.flatnonzero(np.any(keys[:, 1:] != keys[:, :-1], axis=0)) + 1
    names = dict(zip(np.unique(parents).tolist(), to_hex(np.unique(parents))))
    written = []
    for rows in np.split(order, edges):
        relative = f"period={MONTHS[month[rows[0]]]}/h3_res{PARENT_RES}={names[int(parents[rows[0]])]}/" \
                   f"part-s{number:05d}.parquet"
        (out / relative).parent.mkdir(parents=True, exist_ok=True)
        geo = {"version": "1.1.0", "primary_column": "geometry",
               "columns": {"geometry": {"encoding": "WKB", "geometry_types": ["Point"]}}}
        pq.write_table(table.take(rows).replace_schema_metadata({b"geo": json.dumps(geo).encode()}),
                       out / relative, compression="zstd")
        written.append(relative)
    manifest = out / FILES_DIR / f"synthetic-{number:05d}.json"  # the chunk counts once this exists
    manifest.parent.mkdir(parents=True, exist_ok=True)
    manifest.write_text(json.dumps({"source": f"synthetic chunk {number}", "status": "loaded",
                                    "accepted": int(lng.size), "partitions": written}), encoding="utf-8")
    return len(written)


class Meter:
    """Wall time, tracemalloc peak within the step and the process's peak RSS so far, one row per step."""

    def __init__(self):
        self.rows: list[tuple[str, str, float, float, float]] = []

    def __call__(self, step: str, where: str, fn, *args, **kwargs):
        tracemalloc.reset_peak()
        began = time.perf_counter()
        out = fn(*args, **kwargs)
        seconds = time.perf_counter() - began
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        self.rows.append((step, where, seconds, peak, rss))
        print(f"  {step:<42} {where:<8} {seconds:8.2f} s {peak:9.0f} MB {rss:9.0f} MB", flush=True)
        return out

    def table(self) -> str:
        """The rows as a Markdown table; a Dask row's time also as a ratio to the local engine's (the anchor)."""
        local = {s: t for s, e, t, _, _ in self.rows if e == "local"}
        lines = ["| step | engine | time (s) | x local | peak allocated (MB) | peak RSS so far (MB) |",
                 "|---|---|---|---|---|---|"]
        lines += [f"| {s} | {e} | {t:.2f} | {f'{t / local[s]:.2f}' if e.startswith('dask') and local.get(s) else ''} "
                  f"| {p:,.0f} | {r:,.0f} |" for s, e, t, p, r in self.rows]
        return "\n".join(lines)


def generate(out: Path, world: World, rows: int, chunk: int) -> int:
    files = 0
    for number, start in enumerate(range(0, rows, chunk)):
        files += write_chunk(out, number, *world.chunk(min(chunk, rows - start)))
    return files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=None, help="incidents (default 10 M; 60 M with --national)")
    parser.add_argument("--chunk", type=int, default=None,
                        help="rows generated and written at a time (default 1 M; 5 M with --national, whose 20 regions "
                             "would otherwise make thousands of tiny files a chunk)")
    parser.add_argument("--national", action="store_true",
                        help="a synthetic England and Wales (20 copies of London's boroughs), 60 M rows by default")
    parser.add_argument("--out", type=Path, help="Parquet folder (default: a temporary one, removed at the end)")
    parser.add_argument("--engines", default="local,dask1,dask2", help="comma-separated: local, dask1, dask2")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-tracemalloc", action="store_true",
                        help="time without tracemalloc (it slows Python-heavy steps, Dask's scheduling most)")
    args = parser.parse_args()
    rows = args.rows or (60_000_000 if args.national else 10_000_000)
    args.chunk = args.chunk or (5_000_000 if args.national else 1_000_000)
    polygons = london()
    if args.national:
        polygons = national(polygons)
    tmp = None
    if args.out is None:
        tmp = Path(tempfile.mkdtemp(prefix="geoservice-scale-"))
        args.out = tmp / "parquet"
    elif args.out.exists():
        shutil.rmtree(args.out)
    if not args.no_tracemalloc:
        tracemalloc.start()
    meter = Meter()
    start, end = MONTHS[0].start_time, (MONTHS[-1] + 1).start_time
    print(f"{rows:,} rows, {'national' if args.national else 'London'} ({len(polygons)} polygons), "
          f"chunks of {args.chunk:,}, {os.cpu_count()} cores, into {args.out}")
    try:
        world = World(polygons, args.seed)
        files = meter(f"generate + write Parquet ({rows / 1e6:g} M rows)", "-", generate, args.out, world, rows,
                      args.chunk)
        size = sum(p.stat().st_size for p in args.out.rglob("*.parquet")) / 2**20
        print(f"  {files:,} partition files, {size:,.0f} MB")
        cells = {res: meter(f"study cells res {res}", "-", polygons_to_cells, polygons, res) for res in (9, 10)}
        counts = {res: meter(f"counts res {res} (24 months)", "-", parquet_counts, args.out, res, start, end)
                  .reindex(cells[res], fill_value=0).astype("int64") for res in (9, 10)}
        by_month = meter("counts res 9 by cell and month", "-", parquet_counts, args.out, 9, start, end,
                         by_month=True)
        cube = pd.Series(by_month.to_numpy(), index=pd.MultiIndex.from_arrays(
            [by_month.index.get_level_values(0), by_month.index.get_level_values(1).to_period("M")])).unstack(
            fill_value=0).reindex(index=cells[9], columns=MONTHS, fill_value=0)
        print(f"  cells: res 9 {cells[9].size:,}, res 10 {cells[10].size:,}; rows counted {int(counts[9].sum()):,}")
        reference = {}
        for name in args.engines.split(","):
            engine = LocalEngine() if name == "local" else meter(
                "start the engine", name, DaskEngine.connect, os.environ.get("GEOSERVICE_DASK_ADDRESS") or None,
                n_workers=int(name[-1]), threads_per_worker=1)
            with engine:
                results = {
                    "gi9": meter(f"Gi* res 9 ({cells[9].size:,} cells)", name, gi_star, counts[9], engine=engine),
                    "gi10": meter(f"Gi* res 10 ({cells[10].size:,} cells)", name, gi_star, counts[10],
                                  engine=engine),
                    "emerging": meter("emerging hot spots res 9, 24 months", name, emerging_hotspots, cube,
                                      engine=engine).summary,
                }
            for key, value in results.items():  # the same result on every engine, to the last bit
                if key in reference:
                    pd.testing.assert_frame_equal(value, reference[key], check_exact=True)
                reference.setdefault(key, value)
        print(f"  hot cells: res 9 {int(reference['gi9'].hot.sum()):,}, res 10 {int(reference['gi10'].hot.sum()):,};"
              f" emerging patterns: {reference['emerging'].pattern.value_counts().head(4).to_dict()}")
        print("\n" + meter.table())
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
