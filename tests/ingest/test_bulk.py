"""Bulk ingest of a data.police.uk archive into partitioned GeoParquet: same rules as a normal ingest, every row
accounted for per file, crash-safe partitions, re-runs that add nothing, and counts equal to the database's."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone

import geopandas
import pandas as pd
import pyarrow.parquet as pq
import pytest

from geoservice.ingest import bulk
from geoservice.ingest.bulk import bulk_ingest, committed_partitions, parquet_counts
from geoservice.ingest.pipeline import ingest_file

from ..conftest import POLICE_UK, needs_data

pytestmark = needs_data(POLICE_UK.name)

NOW = datetime(2026, 6, 1, tzinfo=timezone.utc)
MONTHS = ("2017-07", "2017-08", "2017-09")
COLUMNS = ["Crime ID", "Month", "Reported by", "Falls within", "Longitude", "Latitude", "Location", "LSOA code",
           "LSOA name", "Crime type", "Last outcome category", "Context"]


def _slug(force: str) -> str:
    return force.lower().removesuffix(" service").removesuffix(" police").replace(" ", "-")


@pytest.fixture(scope="module")
def year():
    return pd.read_csv(POLICE_UK, dtype=str, keep_default_na=False)


def write_archive(folder, year, rows_per_file: int = 400):
    """A small archive in the data.police.uk layout: three months of the shared year, split by force."""
    written = []
    for month in MONTHS:
        for force, rows in year[year.Month == month].groupby("Falls within"):
            path = folder / month / f"{month}-{_slug(force)}-street.csv"
            path.parent.mkdir(parents=True, exist_ok=True)
            rows.head(rows_per_file)[COLUMNS].to_csv(path, index=False)
            written.append(path)
    return written


def write_malformed(folder, year):
    """A monthly file with bad coordinates, a bad month and a garbled row, and one missing a column."""
    rows = year[year.Month == "2017-10"].head(50)[COLUMNS].copy()
    rows.iloc[0, rows.columns.get_loc("Latitude")] = "not-a-number"
    rows.iloc[1, rows.columns.get_loc("Longitude")] = "0"
    rows.iloc[1, rows.columns.get_loc("Latitude")] = "0"
    rows.iloc[2, rows.columns.get_loc("Month")] = "2017-13"
    rows.iloc[3, :] = ["\x07garbled", "??", "x", "y", "z", "q", "", "", "", "Nonsense", "", ""]
    path = folder / "2017-10" / "2017-10-metropolitan-street.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    rows.to_csv(path, index=False)
    missing = folder / "2017-10" / "2017-10-city-of-london-street.csv"
    rows.drop(columns=["Crime type"]).to_csv(missing, index=False)
    return path, missing


def test_archive_round_trip_with_a_malformed_file(loaded_store, settings, tmp_path, year):
    archive, out = tmp_path / "archive", tmp_path / "parquet"
    written = write_archive(archive, year)
    bad, missing = write_malformed(archive, year)
    report = bulk_ingest(loaded_store, archive, out, settings=settings, now=NOW)
    by_name = {f.source: f for f in report.files}
    assert len(by_name) == len(written) + 2

    refused = by_name[missing.name]
    assert refused.status == "refused" and "Crime type" in refused.message
    quarantined = by_name[bad.name]
    assert quarantined.status == "loaded" and quarantined.rejected >= 4 and quarantined.accepted > 40
    assert {"coord_not_numeric", "coord_null_island", "date_unparseable"} <= set(quarantined.reasons)
    assert set(quarantined.reasons) <= {"coord_not_numeric", "coord_null_island", "date_unparseable",
                                        "text_control_character", "conflicting_record"}
    quarantine = pq.read_table(out / "_quarantine" / f"{bad.name}-{quarantined.sha256[:16]}.parquet").to_pandas()
    assert len(quarantine) == quarantined.rejected
    assert set(quarantine.row_number) >= {2, 3, 4, 5}  # header is row 1

    for result in report.files:  # every row is accounted for, per file, and recorded as a batch
        if result.status == "loaded":
            assert result.rows_in == result.accepted + result.rejected + result.duplicate
    source_rows = sum(len(pd.read_csv(p, dtype=str)) for p in written)
    assert sum(f.rows_in for f in report.files if f.source != bad.name and f.status == "loaded") == source_rows
    batches = loaded_store.batch_ids_for_source("incidents", quarantined.sha256, bulk.BULK_FORMAT)
    assert batches == [quarantined.batch_id]

    parts = committed_partitions(out)
    assert all(p.parent.parent.name.startswith("period=") and p.parent.name.startswith("h3_res5=") for p in parts)
    frame = geopandas.read_parquet(parts[0])
    assert frame.crs == "OGC:CRS84" and (frame.geometry.geom_type == "Point").all()
    assert (frame.geometry.x == frame.location_lng).all()
    assert sum(pq.ParquetFile(p).metadata.num_rows for p in parts) == report.total("accepted")
    assert len(geopandas.read_parquet(out)) == report.total("accepted")  # the whole folder, as geopandas reads it

    again = bulk_ingest(loaded_store, archive, out, settings=settings, now=NOW)
    assert {f.status for f in again.files} == {"skipped", "refused"}
    assert committed_partitions(out) == parts
    assert sum(pq.ParquetFile(p).metadata.num_rows for p in committed_partitions(out)) == report.total("accepted")


def test_counts_from_parquet_equal_counts_from_the_database(loaded_store, settings, tmp_path, year):
    archive, out = tmp_path / "archive", tmp_path / "parquet"
    written = write_archive(archive, year)
    report = bulk_ingest(loaded_store, archive, out, settings=settings, now=NOW)
    for path in written:
        ingest_file(loaded_store, "incidents", path, settings=settings, now=NOW, fmt="police-uk")
    assert report.total("accepted") == loaded_store.layer_counts()["incidents"]
    for res in (9, 10):
        for start, end in ((None, None), ("2017-08-01", "2017-09-01")):
            from_db = loaded_store.count_by_cell("incidents", f"location_cell_{res}", time_field="month",
                                                 start=start and pd.Timestamp(start), end=end and pd.Timestamp(end))
            from_parquet = parquet_counts(out, res, start, end)
            pd.testing.assert_series_equal(from_parquet.sort_index(), from_db.sort_index(), check_names=False)
    by_month = parquet_counts(out, 9, by_month=True)
    assert by_month.sum() == report.total("accepted")
    assert set(by_month.index.get_level_values("month").strftime("%Y-%m")) == set(MONTHS)


def test_a_failure_mid_file_leaves_no_partition_and_a_rerun_completes(loaded_store, settings, tmp_path, year,
                                                                       monkeypatch):
    archive, out = tmp_path / "archive", tmp_path / "parquet"
    write_archive(archive, year)
    real_write = bulk._write_temporary
    calls = {"n": 0}

    def crash_on_third_partition(table, path):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt("simulated kill")
        return real_write(table, path)

    monkeypatch.setattr(bulk, "_write_temporary", crash_on_third_partition)
    with pytest.raises(KeyboardInterrupt):
        bulk_ingest(loaded_store, archive, out, settings=settings, now=NOW)
    monkeypatch.setattr(bulk, "_write_temporary", real_write)
    assert not committed_partitions(out)
    assert not list(out.rglob("*.parquet")), "the interrupted file's partitions were removed"

    # a run killed outright leaves a temporary file; the next run removes it, and nobody reads it meanwhile
    leftover = out / "period=2017-07" / "h3_res5=85194ad3fffffff" / f"{bulk.TEMP_PREFIX}abc-part-x.parquet"
    leftover.parent.mkdir(parents=True)
    leftover.write_bytes(b"PAR1 half written")
    # and whole partitions of a file it never committed (that file since changed, so no run rewrites them)
    orphan = leftover.with_name("part-0123456789abcdef.parquet")
    pq.write_table(bulk.pa.table({"record_key": [1]}), orphan)
    assert parquet_counts(out, 9).empty
    report = bulk_ingest(loaded_store, archive, out, settings=settings, now=NOW)
    assert not leftover.exists() and not orphan.exists()
    assert {f.status for f in report.files} == {"loaded"}
    assert parquet_counts(out, 9).sum() == report.total("accepted") > 0


def test_rows_repeated_across_files_are_duplicates(loaded_store, settings, tmp_path, year):
    archive, out = tmp_path / "archive", tmp_path / "parquet"
    first, *_ = write_archive(archive, year, rows_per_file=100)
    copy = first.parent / first.name.replace("-street", "-copy-street")
    frame = pd.read_csv(first, dtype=str, keep_default_na=False)
    frame[frame["Crime ID"] != ""].to_csv(copy, index=False)  # same records, another file (another hash)
    report = bulk_ingest(loaded_store, archive, out, settings=settings, now=NOW)
    repeated = {f.source: f for f in report.files}[copy.name]
    assert repeated.duplicate + repeated.rejected == repeated.rows_in and repeated.accepted == 0


def _without_batch_ids(manifests: dict) -> dict:
    return {sha: {k: v for k, v in record.items() if k != "batch_id"} for sha, record in manifests.items()}


@pytest.mark.slow
def test_worker_processes_give_the_serial_result_file_for_file(loaded_store, settings, tmp_path, year):
    """Two workers staging files at once, this process committing them in order: the same partitions, quarantine,
    manifests and per-file accounts as one process, including a file that repeats an earlier file's rows (staged
    again with the check) and a malformed and an unreadable file."""
    archive = tmp_path / "archive"
    first, *_ = write_archive(archive, year, rows_per_file=300)
    copy = first.parent / first.name.replace("-street", "-zz-copy-street")  # after it, in the archive's order
    frame = pd.read_csv(first, dtype=str, keep_default_na=False)
    frame.head(120).to_csv(copy, index=False)  # rows of an earlier file: duplicates, found across processes
    write_malformed(archive, year)
    serial = bulk_ingest(loaded_store, archive, tmp_path / "serial", settings=settings, now=NOW)
    shown = []
    parallel = bulk_ingest(loaded_store, archive, tmp_path / "parallel", settings=settings, now=NOW, workers=2,
                           progress=lambda done, total, result: shown.append((done, total, result.source)))
    assert [dataclasses.replace(f, batch_id="") for f in parallel.files] == \
        [dataclasses.replace(f, batch_id="") for f in serial.files]
    assert {f.status for f in parallel.files} == {"loaded", "refused"}
    assert {f.source: f for f in parallel.files}[copy.name].duplicate > 0
    assert shown == [(n, len(serial.files), f.source) for n, f in enumerate(serial.files, start=1)]
    assert _without_batch_ids(bulk.committed_files(tmp_path / "parallel")) == \
        _without_batch_ids(bulk.committed_files(tmp_path / "serial"))
    on_disk = sorted(p.relative_to(tmp_path / "serial") for p in (tmp_path / "serial").rglob("*.parquet"))
    assert on_disk == sorted(p.relative_to(tmp_path / "parallel") for p in (tmp_path / "parallel").rglob("*.parquet"))
    for relative in on_disk:
        a, b = pq.read_table(tmp_path / "serial" / relative), pq.read_table(tmp_path / "parallel" / relative)
        if relative.parts[0] == bulk.QUARANTINE_DIR:  # quarantine rows carry their batch's id
            a, b = a.drop_columns(["batch_id"]), b.drop_columns(["batch_id"])
        assert a.equals(b), relative
    again = bulk_ingest(loaded_store, archive, tmp_path / "parallel", settings=settings, now=NOW, workers=2)
    assert {f.status for f in again.files} == {"skipped", "refused"}


@pytest.mark.parametrize("workers", [1, pytest.param(2, marks=pytest.mark.slow)])
def test_the_same_file_under_another_name_is_skipped_and_keeps_the_first_committed(loaded_store, settings, tmp_path,
                                                                                   year, workers):
    """Identical content is one file, whatever its names: the later name is skipped, and it must not replace the
    first one's manifest (which would leave the first one's partitions uncommitted, to be deleted next run)."""
    archive, out = tmp_path / "archive", tmp_path / "parquet"
    first, *_ = write_archive(archive, year, rows_per_file=200)
    twin = first.parent / first.name.replace("-street", "-zz-twin-street")
    twin.write_bytes(first.read_bytes())
    report = bulk_ingest(loaded_store, archive, out, settings=settings, now=NOW, workers=workers)
    by_name = {f.source: f for f in report.files}
    assert by_name[first.name].status == "loaded" and by_name[first.name].accepted > 0
    assert by_name[twin.name].status == "skipped"
    manifest = bulk.committed_files(out)[by_name[first.name].sha256]
    assert manifest["source"] == first.name and manifest["accepted"] == by_name[first.name].accepted
    assert sum(pq.ParquetFile(p).metadata.num_rows for p in committed_partitions(out)) == report.total("accepted")
    again = bulk_ingest(loaded_store, archive, out, settings=settings, now=NOW, workers=workers)
    assert {f.status for f in again.files} == {"skipped"}
    assert parquet_counts(out, 9).sum() == report.total("accepted")


def test_the_command_loads_an_archive_and_reports_a_refused_file(loaded_store, settings, tmp_path, year):
    from click.testing import CliRunner

    from geoservice.cli import main

    archive, out = tmp_path / "archive", tmp_path / "parquet"
    write_archive(archive, year, rows_per_file=50)
    _, missing = write_malformed(archive, year)
    env = {"GEOSERVICE_INSTANCE_PATH": str(settings.instance_path)}
    result = CliRunner().invoke(main, ["--database", settings.database_url, "bulk-ingest", str(archive),
                                       "--out", str(out)], env=env)
    assert result.exit_code == 1, result.output
    assert "refused 1" not in result.output and f"refused {missing.name}" in result.output
    assert committed_partitions(out)


def test_wkb_points_are_shapely_s_bytes():
    import numpy as np
    import shapely

    rng = np.random.default_rng(5)
    x, y = rng.uniform(-180, 180, 1000), rng.uniform(-90, 90, 1000)
    assert bulk.wkb_points(x, y).to_pylist() == list(shapely.to_wkb(shapely.points(x, y)))
    assert shapely.from_wkb(bulk.wkb_points(x[:3], y[:3]).to_pylist()).tolist() == shapely.points(x[:3], y[:3]).tolist()
    assert len(bulk.wkb_points(x[:0], y[:0])) == 0


def test_held_identities_answer_as_the_store_lookup_does():
    import numpy as np

    from geoservice.ingest.bulk import HeldIdentities
    from geoservice.ingest.pipeline import _lookup

    rng = np.random.default_rng(3)
    pairs = rng.permutation(np.array([(k, h) for k in range(-60, 60) for h in range(3)]))[:300]
    keys, hashes = pairs[:, 0], pairs[:, 1]  # distinct pairs, yet keys held more than once (digest collisions)
    held = HeldIdentities(keys[:100], hashes[:100])
    for start in (100, 200):  # grown file by file, as a run does
        key_held, pair_held = held.lookup(keys[start:start + 100], hashes[start:start + 100])
        expected = _lookup(keys[:start], hashes[:start], keys[start:start + 100], hashes[start:start + 100])
        assert (key_held == expected[0]).all() and (pair_held == expected[1]).all()
        held.add(keys[start:start + 100], hashes[start:start + 100])
    assert len(held) == 300 and (np.diff(held.keys) >= 0).all()


def test_bulk_rows_equal_what_a_normal_ingest_stores(loaded_store, settings, tmp_path, year):
    """Row for row, the bulk path accepts and rejects what ``ingest_file`` does, with the same identities, cells
    and reason codes (files of distinct months and forces, so no row repeats across files)."""
    archive, out = tmp_path / "archive", tmp_path / "parquet"
    written = write_archive(archive, year, rows_per_file=200)
    bad, _ = write_malformed(archive, year)
    report = bulk_ingest(loaded_store, archive, out, settings=settings, now=NOW)
    reports = [ingest_file(loaded_store, "incidents", path, settings=settings, now=NOW, fmt="police-uk")
               for path in [*written, bad]]
    columns = ["record_key", "content_hash", "month", "crime_type", "location_lat", "location_lng",
               "location_borough", "location_ward", "location_cell_9", "location_cell_10"]
    stored = loaded_store.read_layer("incidents", columns)
    parquet = pd.concat([pd.read_parquet(p, columns=columns) for p in committed_partitions(out)])
    order = ["record_key"]
    pd.testing.assert_frame_equal(parquet.sort_values(order).reset_index(drop=True)[columns].astype(str),
                                  stored.sort_values(order).reset_index(drop=True)[columns].astype(str))
    by_name = {f.source: f for f in report.files}
    for rep in reports:
        mine = by_name[rep.source]
        assert (mine.accepted, mine.rejected, mine.duplicate, mine.reasons) == \
            (rep.accepted, rep.rejected, rep.duplicate, rep.reasons)
    quarantined = pq.read_table(out / "_quarantine" / f"{bad.name}-{by_name[bad.name].sha256[:16]}.parquet")
    rejected = loaded_store.rejected_rows(reports[-1].batch_id)
    assert quarantined.column("reason_code").to_pylist() == [r["reason_code"] for r in rejected]
    assert quarantined.column("row_number").to_pylist() == [r["row_number"] for r in rejected]


# Run in a subprocess: the bulk-ingest command, killed with SIGKILL by itself at a chosen write (half of that
# write's bytes in its temporary file, not yet renamed), so the kill lands at the worst moment every time.
KILL_AT_A_WRITE = r"""
import os, signal, sys, types
from pathlib import Path

from geoservice.cli import main
from geoservice.ingest import bulk

suffix, nth = sys.argv[1], int(sys.argv[2])
seen = 0

def replace(src, dst):
    global seen
    if str(dst).endswith(suffix) and bulk.QUARANTINE_DIR not in str(dst):
        seen += 1
        if seen == nth:
            data = Path(src).read_bytes()
            Path(src).write_bytes(data[: len(data) // 2])
            os.kill(os.getpid(), signal.SIGKILL)
    os.replace(src, dst)

bulk.os = types.SimpleNamespace(**{**vars(os), "replace": replace})
main(sys.argv[3:], prog_name="geoservice")
"""


def _whole_and_committed(out):
    """Every Parquet file under ``out`` not named as temporary reads whole; the rows the committed files hold."""
    for path in out.rglob("*.parquet"):
        if not path.name.startswith(bulk.TEMP_PREFIX):
            pq.read_table(path)  # a half-written file would fail here (no footer)
    return sum(record["accepted"] for record in bulk.committed_files(out).values())


@pytest.mark.slow
@pytest.mark.parametrize("kill", ["mid-partition", "mid-manifest", "from-outside"])
def test_a_real_kill_mid_run_leaves_only_whole_partitions_and_a_rerun_completes(kill, loaded_store, settings,
                                                                                tmp_path, year):
    import os
    import signal
    import subprocess
    import sys
    import time

    archive, out, clean = tmp_path / "archive", tmp_path / "parquet", tmp_path / "clean"
    written = write_archive(archive, year, rows_per_file=20_000 if kill == "from-outside" else 400)
    command = ["--database", settings.database_url, "bulk-ingest", str(archive), "--out", str(out)]
    env = dict(os.environ, GEOSERVICE_INSTANCE_PATH=str(settings.instance_path),
               GEOSERVICE_DATA_DIR=str(settings.data_dir), GEOSERVICE_LAYERS_DIR=str(settings.layers_dir))
    if kill == "from-outside":  # SIGKILL from outside as soon as the first file is committed
        proc = subprocess.Popen([sys.executable, "-m", "geoservice.cli", *command], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 120
        while not bulk.committed_files(out) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.002)
        assert proc.poll() is None, "the run finished before it could be killed; use a larger archive"
        proc.kill()
    else:  # the 10th partition (the second file) or the 3rd manifest, half written
        suffix, nth = (".parquet", 10) if kill == "mid-partition" else (".json", 3)
        proc = subprocess.Popen([sys.executable, "-c", KILL_AT_A_WRITE, suffix, str(nth), *command], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == -signal.SIGKILL, err

    committed_rows = _whole_and_committed(out)
    assert len(bulk.committed_files(out)) < len(written), "the kill came before the run ended"
    if kill != "from-outside":
        assert list(out.rglob(bulk.TEMP_PREFIX + "*")), "the kill left its half-written temporary file"
    assert parquet_counts(out, 9).sum() == committed_rows, "readers see the committed files only"

    report = bulk_ingest(loaded_store, archive, out, settings=settings)
    assert not list(out.rglob(bulk.TEMP_PREFIX + "*"))
    assert {f.status for f in report.files} <= {"loaded", "skipped"} and "loaded" in {f.status for f in report.files}
    on_disk = sorted(p.relative_to(out) for p in out.rglob("*.parquet"))
    assert on_disk == sorted(p.relative_to(out) for p in committed_partitions(out)), "no uncommitted file is left"

    reference = bulk_ingest(loaded_store, archive, clean, settings=settings)
    assert {f.status for f in reference.files} == {"loaded"}
    for res in (9, 10):  # the completed archive equals a clean run's, partition for partition
        pd.testing.assert_series_equal(parquet_counts(out, res, by_month=True),
                                       parquet_counts(clean, res, by_month=True))
    assert on_disk == sorted(p.relative_to(clean) for p in committed_partitions(clean))
    for relative in on_disk:
        assert pq.read_table(out / relative).equals(pq.read_table(clean / relative)), relative
    assert bulk.committed_files(out) == bulk.committed_files(clean)
    for sha256 in bulk.committed_files(out):  # one batch record per file, however often it was started
        assert len(loaded_store.batch_ids_for_source("incidents", sha256, bulk.BULK_FORMAT)) == 1


def test_a_second_run_into_the_same_folder_is_refused_while_one_writes(loaded_store, settings, tmp_path, year):
    """It would delete the running one's files in progress as leftovers of a killed run."""
    import fcntl

    from geoservice.errors import InputFileError

    archive, out = tmp_path / "archive", tmp_path / "parquet"
    write_archive(archive, year, rows_per_file=20)
    out.mkdir()
    with open(out / bulk.LOCK_FILE, "a") as running:  # as a run in another process holds it
        fcntl.flock(running, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(InputFileError, match="another bulk-ingest is writing to this folder"):
            bulk_ingest(loaded_store, archive, out, settings=settings, now=NOW)
    assert not committed_partitions(out)
    report = bulk_ingest(loaded_store, archive, out, settings=settings, now=NOW)  # released: it runs
    assert {f.status for f in report.files} == {"loaded"}
    assert len(geopandas.read_parquet(out)) == report.total("accepted"), "readers skip the lock file"
