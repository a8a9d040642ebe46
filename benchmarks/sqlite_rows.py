"""SQLite's own work for 1 M police.uk rows: today's incidents row against a narrower one, with sqlite3 alone.

Run: ``.venv/bin/python benchmarks/sqlite_rows.py [--rows 1000000]``. Issue 16 asks whether 100,000 rows/s end to
end into SQLite is possible; this measures the part no Python speed-up can remove, SQLite's insert, index build and
commit, for two layouts of the same information, with the store's pragmas (WAL, synchronous NORMAL, 256 MiB cache,
secure_delete) and the store's bulk-load order (insert, then the four indexes, in one transaction):

- ``today``: the store's ``layer_incidents`` table: a 32-character batch id, every text value repeated in each row
  (force names, location description, LSOA, crime type, outcome), dates as ISO text, ~410 bytes a row;
- ``narrow``: an integer batch reference, each repeated text value dictionary-coded (an integer into a small lookup
  table), month and retain-until as integers, borough and ward as integer codes; the same four indexes.

The rows are built before the clock starts, as tuples of Python values (what the store hands the driver), so the
figure is the driver's binding plus SQLite's own work. The values follow ``benchmarks/ingest.py``: 40,000 snap
points, 20 % anti-social behaviour without a Crime ID, eleven crime types, one force.
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
from pathlib import Path

import numpy as np

PRAGMAS = ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL", "PRAGMA cache_size=-262144",
           "PRAGMA secure_delete=ON")
TYPES = ("Violence and sexual offences", "Vehicle crime", "Other theft", "Burglary", "Criminal damage and arson",
         "Shoplifting", "Public order", "Drugs", "Theft from the person", "Robbery", "Bicycle theft",
         "Anti-social behaviour")
OUTCOMES = ("Investigation complete; no suspect identified", "Status update unavailable", "Unable to prosecute suspect",
            "Under investigation", "")
FORCE = "Metropolitan Police Service"

TODAY = """CREATE TABLE incidents (id INTEGER NOT NULL PRIMARY KEY, record_key BIGINT NOT NULL,
 content_hash BIGINT NOT NULL, batch_id VARCHAR(32) NOT NULL, row_number INTEGER NOT NULL, retain_until DATE NOT NULL,
 crime_id TEXT, month DATE NOT NULL, reported_by TEXT, falls_within TEXT, location_description TEXT, lsoa_code TEXT,
 lsoa_name TEXT, crime_type TEXT NOT NULL, last_outcome_category TEXT, context TEXT, borough_code TEXT,
 location_lat FLOAT, location_lng FLOAT, location_located_by VARCHAR(16), location_borough VARCHAR(16),
 location_borough_match VARCHAR(16), location_ward VARCHAR(16), location_ward_match VARCHAR(16),
 location_cell_7 BIGINT, location_cell_8 BIGINT, location_cell_9 BIGINT, location_cell_10 BIGINT)"""
TODAY_INDEXES = ("CREATE INDEX ix_batch ON incidents (batch_id)", "CREATE INDEX ix_retain ON incidents (retain_until)",
                 "CREATE UNIQUE INDEX uq_key ON incidents (record_key)",
                 "CREATE INDEX ix_borough ON incidents (location_borough)")

NARROW = """CREATE TABLE incidents (id INTEGER NOT NULL PRIMARY KEY, record_key INTEGER NOT NULL,
 content_hash INTEGER NOT NULL, batch INTEGER NOT NULL, row_number INTEGER NOT NULL, retain_until INTEGER NOT NULL,
 crime_id TEXT, month INTEGER NOT NULL, force INTEGER, location_description INTEGER, lsoa INTEGER,
 crime_type INTEGER NOT NULL, last_outcome_category INTEGER, context TEXT, location_lat REAL, location_lng REAL,
 location_how INTEGER, location_borough INTEGER, location_ward INTEGER,
 location_cell_7 INTEGER, location_cell_8 INTEGER, location_cell_9 INTEGER, location_cell_10 INTEGER)"""
NARROW_INDEXES = ("CREATE INDEX ix_batch ON incidents (batch)", "CREATE INDEX ix_retain ON incidents (retain_until)",
                  "CREATE UNIQUE INDEX uq_key ON incidents (record_key)",
                  "CREATE INDEX ix_borough ON incidents (location_borough)")


def rows(n: int, seed: int = 0) -> tuple[list[tuple], list[tuple]]:
    """The same ``n`` incidents in both layouts."""
    rng = np.random.default_rng(seed)
    snap = rng.integers(0, 40_000, n)
    lat = 51.38 + (snap % 200) * 0.0004
    lng = -0.25 + (snap // 200) * 0.0005
    asb = rng.random(n) < 0.2
    kind = np.where(asb, len(TYPES) - 1, rng.integers(0, len(TYPES) - 1, n))
    outcome = np.where(asb, len(OUTCOMES) - 1, rng.integers(0, len(OUTCOMES) - 1, n))
    month = rng.integers(1, 13, n)
    keys = rng.integers(-(1 << 62), 1 << 62, n)
    hashes = rng.integers(-(1 << 62), 1 << 62, n)
    borough = 24 + snap % 6
    ward = snap % 120
    lsoa = snap % 900
    cells = [rng.integers(1 << 58, 1 << 59, n) for _ in range(4)]
    batch = "9f2c4e0b7d1a43c6b8e5f0a2d4c6e8f1"
    today, narrow = [], []
    for i in range(n):
        crime_id = None if asb[i] else f"{int(keys[i]) & 0xFFFFFFFFFFFF:012x}{i:052d}"[:64]
        m = int(month[i])
        today.append((int(keys[i]), int(hashes[i]), batch, i + 2, "2031-06-01", crime_id, f"2024-{m:02d}-01", FORCE,
                      FORCE, f"On or near Street {int(snap[i]) % 5000}", f"E0100{int(lsoa[i]):04d}",
                      f"Merton {int(lsoa[i]):03d}A", TYPES[kind[i]], OUTCOMES[outcome[i]] or None, None,
                      None, float(lat[i]), float(lng[i]), "latlng", f"E090000{int(borough[i]):02d}", "match",
                      f"E050{int(ward[i]):05d}", "match", int(cells[0][i]), int(cells[1][i]), int(cells[2][i]),
                      int(cells[3][i])))
        narrow.append((int(keys[i]), int(hashes[i]), 1, i + 2, 22797, crime_id, 202400 + m, 1, int(snap[i]) % 5000,
                       int(lsoa[i]), int(kind[i]), int(outcome[i]), None, float(lat[i]), float(lng[i]), 0,
                       int(borough[i]), int(ward[i]), int(cells[0][i]), int(cells[1][i]), int(cells[2][i]),
                       int(cells[3][i])))
    return today, narrow


def load(path: Path, schema: str, indexes, values: list[tuple]) -> dict:
    """Insert, build the indexes and commit, timed separately, into a new database at ``path``."""
    conn = sqlite3.connect(path, isolation_level=None)
    for pragma in PRAGMAS:
        conn.execute(pragma)
    conn.execute(schema)
    columns = conn.execute("SELECT count(*) FROM pragma_table_info('incidents')").fetchone()[0] - 1
    names = [r[1] for r in conn.execute("PRAGMA table_info('incidents')")][1:]
    insert = f"INSERT INTO incidents ({', '.join(names)}) VALUES ({', '.join('?' * columns)})"
    times = {}
    began = time.perf_counter()
    conn.execute("BEGIN")
    conn.executemany(insert, values)
    times["insert"] = time.perf_counter() - began
    mark = time.perf_counter()
    for statement in indexes:
        conn.execute(statement)
    times["indexes"] = time.perf_counter() - mark
    mark = time.perf_counter()
    conn.execute("COMMIT")
    times["commit"] = time.perf_counter() - mark
    times["total"] = time.perf_counter() - began
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    times["bytes_per_row"] = path.stat().st_size / len(values)
    return times


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    today, narrow = rows(args.rows)
    print(f"{args.rows:,} rows; SQLite {sqlite3.sqlite_version}")
    with tempfile.TemporaryDirectory() as tmp:
        for name, schema, indexes, values in (("today", TODAY, TODAY_INDEXES, today),
                                              ("narrow", NARROW, NARROW_INDEXES, narrow)):
            t = load(Path(tmp) / f"{name}.sqlite", schema, indexes, values)
            print(f"  {name:<7} insert {t['insert']:.2f} s, indexes {t['indexes']:.2f} s, commit {t['commit']:.2f} s; "
                  f"total {t['total']:.2f} s = {args.rows / t['total']:,.0f} rows/s; {t['bytes_per_row']:.0f} bytes a "
                  "row on disk", flush=True)


if __name__ == "__main__":
    main()
