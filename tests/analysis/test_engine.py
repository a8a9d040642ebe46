"""The engines: Dask on a LocalCluster gives results identical (equal, not close) to the local engine, and cutting
the cells into other partitions changes nothing, on the real police.uk year and on the synthetic world."""

from __future__ import annotations

import shutil
import time

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from geoservice.analysis.concentration import place_test
from geoservice.analysis.counts import layer_counts, study_cells
from geoservice.analysis.hotspots import HotspotInputError, gi_star
from geoservice.analysis.spacetime import emerging_hotspots
from geoservice.cli import main
from geoservice.config import MERTON_AND_NEIGHBOURS, PROJECT_ROOT, Settings
from geoservice.engine import DaskEngine, EngineError, LocalEngine, get_engine
from geoservice.errors import GeoserviceError
from geoservice.store.db import Store

from ..conftest import DATA_DIR, POLICE_UK, needs_data

YEAR = ("2017-07-01", "2018-07-01")


@pytest.fixture(scope="module")
def dask_engine():
    """One small LocalCluster (threads in this process) for the module, closed at its end."""
    engine = DaskEngine.connect(n_workers=1, threads_per_worker=2)
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def police_year(tmp_path_factory, _templates):
    """Settings and a store holding the boundaries and the shared police.uk year (incidents)."""
    from geoservice.ingest.pipeline import ingest_file

    if not POLICE_UK.exists():
        pytest.skip(f"shared data not found: {POLICE_UK}")
    folder = tmp_path_factory.mktemp("police_year")
    template = _templates(())
    shutil.copy(template / "world.sqlite", folder / "geoservice.sqlite")
    shutil.copytree(template / "instance", folder / "instance", dirs_exist_ok=True)
    settings = Settings.from_env(environ={}, database_url=f"sqlite:///{folder / 'geoservice.sqlite'}",
                                 instance_path=str(folder / "instance"), data_dir=str(DATA_DIR),
                                 layers_dir=str(PROJECT_ROOT / "layers"))
    store = Store.from_settings(settings)
    store.init()
    ingest_file(store, "incidents", POLICE_UK, settings=settings, fmt="police-uk")
    store.checkpoint()
    yield settings, store
    store.engine.dispose()


def _counts(store, res: int) -> pd.Series:
    cells = study_cells(store, MERTON_AND_NEIGHBOURS, res)
    return layer_counts(store, "incidents", cells, res=res, start=YEAR[0], end=YEAR[1])


def _identical(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    assert a.attrs == b.attrs


def _assert_every_cut_identical(counts: pd.Series, dask_engine, **options) -> pd.DataFrame:
    whole = gi_star(counts, **options)
    res = int(whole.attrs["settings"]["res"])
    for partition_res in (res - 3, res - 2, res - 1):
        _identical(whole, gi_star(counts, partition_res=partition_res, **options))
    _identical(whole, gi_star(counts, engine=dask_engine, **options))
    _identical(whole, gi_star(counts, engine=dask_engine, partition_res=res - 1, **options))
    return whole


@needs_data(POLICE_UK.name)
@pytest.mark.parametrize("res, k", [(9, 1), (9, 3), (10, 2)])
def test_gi_star_on_the_police_uk_year_is_identical_on_dask_and_in_every_cut(police_year, dask_engine, res, k):
    counts = _counts(police_year[1], res)
    assert counts.sum() > 100_000 and counts.size > 2_000
    whole = _assert_every_cut_identical(counts, dask_engine, k=k)
    assert whole["hot"].any(), "a real year has hot spots to find"


def test_gi_star_on_the_synthetic_world_is_identical_on_dask_and_in_every_cut(load_world, dask_engine):
    store = load_world("incidents")
    counts = _counts(store, 9)
    _assert_every_cut_identical(counts, dask_engine, k=2)


def test_gi_star_against_an_expected_surface_and_on_weighted_values_is_identical(load_world, dask_engine):
    counts = _counts(load_world("incidents"), 10)
    gradient = pd.Series(np.linspace(0.2, 3.0, counts.size), index=counts.index)
    _assert_every_cut_identical(counts, dask_engine, k=1, expected=gradient)
    weighted = counts * 0.7 + (counts.index.to_numpy() % 3) * 0.1  # not whole numbers: seeded permutations
    _assert_every_cut_identical(weighted, dask_engine, k=1, permutations=99, seed=3)


@needs_data(POLICE_UK.name)
@pytest.mark.parametrize("res", [9, 10])
def test_the_place_test_on_the_police_uk_year_is_identical_on_dask_and_in_every_cut(police_year, dask_engine, res):
    counts = _counts(police_year[1], res)
    whole = place_test(counts)
    for other in (place_test(counts, partition_res=res - 3), place_test(counts, partition_res=res - 1),
                  place_test(counts, engine=dask_engine)):
        _identical(whole, other)


def test_the_place_test_on_the_synthetic_world_is_identical_on_dask_and_in_every_cut(load_world, dask_engine):
    counts = _counts(load_world("incidents"), 9)
    gradient = pd.Series(np.linspace(0.2, 3.0, counts.size), index=counts.index)
    for expected in (None, gradient):
        whole = place_test(counts, expected)
        _identical(whole, place_test(counts, expected, partition_res=7))
        _identical(whole, place_test(counts, expected, engine=dask_engine))


def _monthly_cube(store, res: int, start: str, months: int) -> pd.DataFrame:
    cells = study_cells(store, MERTON_AND_NEIGHBOURS, res)
    bins = pd.period_range(start, periods=months, freq="M")
    return pd.DataFrame({str(m): layer_counts(store, "incidents", cells, res=res, start=m.start_time,
                                              end=(m + 1).start_time) for m in bins})


def _assert_emerging_identical_in_every_cut(cube: pd.DataFrame, dask_engine, **options) -> None:
    whole = emerging_hotspots(cube, **options)
    for other in (emerging_hotspots(cube, partition_res=7, **options),
                  emerging_hotspots(cube, engine=dask_engine, **options)):
        for name in ("summary", "z", "bins"):
            pd.testing.assert_frame_equal(getattr(whole, name), getattr(other, name), check_exact=True)
        assert whole.attrs == other.attrs


@needs_data(POLICE_UK.name)
def test_emerging_hot_spots_on_the_police_uk_year_are_identical_on_dask_and_in_every_cut(police_year, dask_engine):
    cube = _monthly_cube(police_year[1], 9, YEAR[0], 12)
    assert cube.to_numpy().sum() > 100_000
    _assert_emerging_identical_in_every_cut(cube, dask_engine, k=1)
    _assert_emerging_identical_in_every_cut(cube, dask_engine, k=1, expected="past")


def test_emerging_hot_spots_on_the_synthetic_world_are_identical_on_dask_and_in_every_cut(load_world, dask_engine):
    store = load_world("incidents")
    first, _ = store.time_extent("incidents", store.specs["incidents"].time_fields[0])
    cube = _monthly_cube(store, 9, str(pd.Timestamp(first).to_period("M")), 6)
    assert cube.to_numpy().sum() > 0
    _assert_emerging_identical_in_every_cut(cube, dask_engine, k=2)


def test_the_hotspots_csv_is_byte_identical_with_the_dask_engine(police_year, tmp_path, monkeypatch):
    settings, _ = police_year
    monkeypatch.delenv("GEOSERVICE_DASK_ADDRESS", raising=False)
    written, seconds = {}, {}
    for engine in ("local", "dask"):
        monkeypatch.setenv("GEOSERVICE_ENGINE", engine)
        out = tmp_path / f"{engine}.csv"
        began = time.perf_counter()
        result = CliRunner().invoke(main, ["--database", settings.database_url, "--instance",
                                           str(settings.instance_path), "hotspots", "--borough", "E09000024",
                                           "--from", YEAR[0], "--to", YEAR[1], "--layer", "incidents",
                                           "--csv", str(out)])
        seconds[engine] = time.perf_counter() - began
        assert result.exit_code == 0, result.output
        written[engine] = out.read_bytes()
    assert written["dask"] == written["local"]
    assert written["local"].count(b"\n") > 100
    print(f"hotspots CLI on the police.uk year: {seconds}")


def test_the_engine_setting_is_checked_and_an_unreachable_scheduler_is_a_clear_error():
    assert Settings.from_env(environ={}).engine == "local"
    assert Settings.from_env(environ={}).dask_address is None
    assert isinstance(get_engine(Settings.from_env(environ={})), LocalEngine)
    with pytest.raises(GeoserviceError, match="engine must be local or dask"):
        Settings.from_env(environ={"GEOSERVICE_ENGINE": "spark"})
    with pytest.raises(EngineError, match="GEOSERVICE_DASK_ADDRESS='tcp://127.0.0.1:9'.*unset it"):
        DaskEngine.connect("tcp://127.0.0.1:9", timeout=1)


def test_the_hotspots_command_names_an_unreachable_scheduler(police_year, monkeypatch):
    from geoservice import engine

    settings, _ = police_year
    monkeypatch.setattr(engine, "CONNECT_TIMEOUT_S", 1)
    monkeypatch.setenv("GEOSERVICE_ENGINE", "dask")
    monkeypatch.setenv("GEOSERVICE_DASK_ADDRESS", "tcp://127.0.0.1:9")
    result = CliRunner().invoke(main, ["--database", settings.database_url, "--instance", str(settings.instance_path),
                                       "hotspots", "--borough", "E09000024", "--layer", "incidents"])
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert "cannot reach the Dask scheduler at GEOSERVICE_DASK_ADDRESS='tcp://127.0.0.1:9'" in result.output


def test_a_cut_no_coarser_than_the_cells_is_refused(load_world):
    counts = _counts(load_world("incidents"), 9)
    with pytest.raises(HotspotInputError, match="partition_res must be coarser"):
        gi_star(counts, partition_res=9)


def test_engines_return_results_in_partition_order(dask_engine):
    parts = list(range(7))
    assert dask_engine.map_partitions(pow, parts, 2) == LocalEngine().map_partitions(pow, parts, 2)
    assert dask_engine.map_partitions(pow, [], 2) == []


def _offset(partition, shared):
    return partition + shared["by"][1]


def test_shared_inputs_that_are_collections_reach_the_partitions_whole(dask_engine):
    shared = {"by": (1, 10)}  # Dask's scatter would split a bare list, tuple or dict into one future per item
    on_dask = dask_engine.map_partitions(_offset, [1, 2, 3], shared)
    assert on_dask == LocalEngine().map_partitions(_offset, [1, 2, 3], shared) == [11, 12, 13]


class _KillWorkerOnce:
    """A partition function whose first task, on whichever worker runs it, kills that worker's process (SIGKILL):
    the marker file, created exclusively, makes it once per test."""

    def __init__(self, function, marker: str):
        self.function, self.marker = function, marker

    def __call__(self, partition, shared):
        import os
        import signal

        try:
            os.close(os.open(self.marker, os.O_CREAT | os.O_EXCL))
        except FileExistsError:
            return self.function(partition, shared)
        os.kill(os.getpid(), signal.SIGKILL)


class _EngineLosingAWorker(DaskEngine):
    marker = ""

    def map_partitions(self, function, partitions, shared=None):
        return super().map_partitions(_KillWorkerOnce(function, self.marker), partitions, shared)


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_a_worker_killed_mid_analysis_changes_nothing(load_world, tmp_path, workers):
    """On a cluster of worker processes, a worker killed while it runs a partition: Dask runs the lost tasks again
    (the shared input too, even when the dead worker held its only copy) and Gi* comes out identical."""
    counts = _counts(load_world("incidents"), 9)
    whole = gi_star(counts, k=2)
    engine = _EngineLosingAWorker.connect(processes=True, n_workers=workers, threads_per_worker=1)
    engine.marker = str(tmp_path / "killed")
    try:
        _identical(whole, gi_star(counts, k=2, engine=engine, partition_res=7))
    finally:
        engine.close()
    assert (tmp_path / "killed").exists(), "a worker was killed"
