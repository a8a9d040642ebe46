"""Batches are atomic and idempotent; the counts always add up."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from geoservice.cli import main
from geoservice.ingest import pipeline
from geoservice.ingest.pipeline import ingest_file

pytestmark = pytest.mark.postgres  # the database matters here: run on PostgreSQL too

HEADER = "crime_id,month,crime_type,latitude,longitude"


def _incidents(path, n, start=0):
    lines = [HEADER] + [f"X{i},2024-05,Robbery,{51.40 + (i % 50) * 0.0005:.6f},-0.19" for i in range(start, start + n)]
    path.write_text("\n".join(lines) + "\n")
    return path


def _nothing_written(store):
    return store.layer_counts()["incidents"] == 0 and store.quarantine_counts() == {} and \
        not store.list_batches("incidents")


def test_reingest_adds_nothing(loaded_store, settings, tmp_path):
    path = _incidents(tmp_path / "a.csv", 30)
    first = ingest_file(loaded_store, "incidents", path, settings=settings)
    second = ingest_file(loaded_store, "incidents", path, settings=settings)
    assert (first.accepted, first.duplicate) == (30, 0)
    assert (second.rows_in, second.accepted, second.rejected, second.duplicate) == (30, 0, 0, 30)
    assert loaded_store.layer_counts()["incidents"] == 30


def test_overlapping_file_adds_only_new_rows(loaded_store, settings, tmp_path):
    ingest_file(loaded_store, "incidents", _incidents(tmp_path / "a.csv", 20), settings=settings)
    report = ingest_file(loaded_store, "incidents", _incidents(tmp_path / "b.csv", 20, start=10), settings=settings)
    assert (report.accepted, report.duplicate) == (10, 10)


def test_identical_rows_without_id_are_all_kept_and_matched_again(loaded_store, settings, tmp_path):
    path = tmp_path / "asb.csv"
    path.write_text(HEADER + "\n" + "\n".join([",2024-05,Anti-social behaviour,51.41,-0.188"] * 3) + "\n")
    first = ingest_file(loaded_store, "incidents", path, settings=settings)
    again = ingest_file(loaded_store, "incidents", path, settings=settings)
    assert first.accepted == 3, "three identical reports are three incidents, not one"
    assert again.duplicate == 3 and again.accepted == 0


def test_a_changed_outcome_is_a_duplicate_not_a_conflict(loaded_store, settings, tmp_path):
    header = HEADER + ",last_outcome_category"
    a = tmp_path / "a.csv"
    a.write_text(header + "\nX1,2024-05,Robbery,51.41,-0.188,Under investigation\n")
    b = tmp_path / "b.csv"
    b.write_text(header + "\nX1,2024-05,Robbery,51.41,-0.188,Offender given a caution\n")
    ingest_file(loaded_store, "incidents", a, settings=settings)
    report = ingest_file(loaded_store, "incidents", b, settings=settings)
    assert (report.accepted, report.rejected, report.duplicate) == (0, 0, 1)


def test_failure_mid_batch_leaves_nothing(loaded_store, settings, tmp_path, monkeypatch):
    path = _incidents(tmp_path / "big.csv", 120)
    monkeypatch.setattr(loaded_store, "BULK_CHUNK", 25)
    calls = {"n": 0}

    def failing_progress(stage, done, total):
        if stage == "write":
            calls["n"] += 1
            if calls["n"] == 2:  # after two chunks have been written inside the transaction
                raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        ingest_file(loaded_store, "incidents", path, settings=settings, progress=failing_progress)
    assert calls["n"] == 2
    assert _nothing_written(loaded_store)


def test_ctrl_c_mid_batch_leaves_nothing_and_says_so(loaded_store, settings, tmp_path, monkeypatch):
    path = _incidents(tmp_path / "big.csv", 120)
    real_write = pipeline._write_quarantine

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "_write_quarantine", interrupted)
    result = CliRunner().invoke(main, ["--database", settings.database_url, "ingest", "incidents", str(path)])
    assert result.exit_code == 130
    assert "rolled back" in result.output and "Traceback" not in result.output
    assert _nothing_written(loaded_store)
    monkeypatch.setattr(pipeline, "_write_quarantine", real_write)
    assert ingest_file(loaded_store, "incidents", path, settings=settings).accepted == 120


def test_ingest_json_prints_exactly_one_object(loaded_store, settings, tmp_path):
    import json

    path = _incidents(tmp_path / "a.csv", 5)
    result = CliRunner().invoke(main, ["--database", settings.database_url, "ingest", "incidents", str(path),
                                       "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert {"layer", "rows_in", "accepted", "rejected", "duplicate", "batch_id"} <= set(payload)
    assert payload["rows_in"] == payload["accepted"] + payload["rejected"] + payload["duplicate"] == 5


def test_rejected_command_lists_quarantined_rows(loaded_store, settings, tmp_path):
    path = tmp_path / "a.csv"
    path.write_text(HEADER + "\nX1,2024-05,Robbery,51.41,-0.188\nX2,2024-05,Robbery,151.41,-0.188\n")
    report = ingest_file(loaded_store, "incidents", path, settings=settings)
    result = CliRunner().invoke(main, ["--database", settings.database_url, "rejected", report.batch_id[:8]])
    assert result.exit_code == 0, result.output
    assert "a.csv row 3: [coord_out_of_range] latitude" in result.output
    assert "1 rejected rows" in result.output


def test_boundaries_are_required_before_located_layers(store, settings, tmp_path):
    from geoservice.errors import SetupError

    with pytest.raises(SetupError, match="load them first|Load them first"):
        ingest_file(store, "incidents", _incidents(tmp_path / "a.csv", 2), settings=settings)


def test_postcode_rows_without_a_table_name_the_setting(loaded_store, settings, tmp_path):
    from geoservice.errors import SetupError

    path = tmp_path / "pc.csv"
    path.write_text("crime_id,month,crime_type,postcode\nX1,2024-05,Robbery,SW19 4DS\n")
    with pytest.raises(SetupError, match="GEOSERVICE_POSTCODE_TABLE"):
        ingest_file(loaded_store, "incidents", path, settings=settings)


def test_postcode_table_locates_rows(loaded_store, settings, tmp_path):
    from geoservice.ingest.locate import PostcodeTable

    table = tmp_path / "postcodes.csv"
    table.write_text("pcds,lat,long\nSW19 4DS,51.410000,-0.188000\nZZ99 9ZZ,99.999999,0.000000\n")
    path = tmp_path / "pc.csv"
    path.write_text("crime_id,month,crime_type,postcode\nX1,2024-05,Robbery,sw194ds\nX2,2024-05,Robbery,ZZ99 9ZZ\n")
    report = ingest_file(loaded_store, "incidents", path, settings=settings,
                         postcodes=PostcodeTable.from_csv(table))
    assert (report.accepted, report.rejected) == (1, 1)
    assert report.reasons == {"postcode_unknown": 1}
    row = loaded_store.read_layer("incidents").iloc[0]
    assert row.location_located_by == "postcode" and row.location_borough == "E09000024"


@pytest.fixture(scope="module")
def large_csv(tmp_path_factory):
    """200,000 valid incident rows: big enough that an ingest is still running a couple of seconds in."""
    import numpy as np

    path = tmp_path_factory.mktemp("large") / "large.csv"
    rng = np.random.default_rng(5)
    lat = rng.uniform(51.39, 51.43, 200_000)
    lng = rng.uniform(-0.22, -0.16, 200_000)
    with open(path, "w") as out:
        out.write(HEADER + "\n")
        out.writelines(f"L{i},2024-05,Robbery,{a:.6f},{b:.6f}\n" for i, (a, b) in enumerate(zip(lat, lng)))
    return path


@pytest.mark.slow
@pytest.mark.parametrize("signal_name", ["SIGINT", "SIGKILL"])
def test_a_real_interrupt_or_kill_mid_ingest_leaves_nothing(signal_name, loaded_store, settings, large_csv):
    import os
    import signal
    import subprocess
    import sys
    import time

    env = dict(os.environ, GEOSERVICE_DATABASE_URL=settings.database_url)
    # as in a terminal: Ctrl-C's default action, even when this test runs in a background job (which ignores it)
    proc = subprocess.Popen([sys.executable, "-m", "geoservice.cli", "ingest", "incidents", str(large_csv)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    time.sleep(2.0)
    assert proc.poll() is None, "the ingest finished before it could be interrupted; use a larger file"
    proc.send_signal(getattr(signal, signal_name))
    out, err = proc.communicate(timeout=60)
    if signal_name == "SIGINT":
        assert proc.returncode == 130, (out, err)
        assert "rolled back" in err and "Traceback" not in err
    else:
        assert proc.returncode == -signal.SIGKILL
    assert _nothing_written(loaded_store)
    if signal_name == "SIGKILL":  # a killed writer leaves no lock or half-written page behind
        small = _incidents(large_csv.parent / "after-the-kill.csv", 2000)
        report = ingest_file(loaded_store, "incidents", small, settings=settings)
        assert report.accepted == 2000 and loaded_store.layer_counts()["incidents"] == 2000, \
            "after the kill, the next batch writes at once, and only it is held"


def test_concurrent_ingests_queue_and_both_land(loaded_store, settings, tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    from geoservice.store.db import Store

    files = [_incidents(tmp_path / f"part{k}.csv", 3000, start=k * 3000) for k in range(3)]
    stores = [Store.from_settings(settings) for _ in files]
    try:
        with ThreadPoolExecutor(len(files)) as pool:
            reports = list(pool.map(lambda pair: ingest_file(pair[0], "incidents", pair[1], settings=settings),
                                    zip(stores, files)))
    finally:
        for store in stores:
            store.engine.dispose()
    assert [r.accepted for r in reports] == [3000, 3000, 3000]
    assert loaded_store.layer_counts()["incidents"] == 9000
    assert len(loaded_store.list_batches("incidents")) == 3
