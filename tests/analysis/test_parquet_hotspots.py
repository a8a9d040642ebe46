"""Gi* and emerging hot spots on counts read from a bulk-ingest GeoParquet folder (issue 16, at pan-London scale)
equal those on the same rows read from the database, on the local engine and on Dask, through the same partitioned
code path; and ``geoservice hotspots --parquet DIR`` writes the same CSV as the database run."""

from __future__ import annotations

from datetime import datetime, timezone

import pandas as pd
import pytest
from click.testing import CliRunner

from geoservice.analysis.counts import layer_counts, parquet_cube, parquet_layer_counts, study_cells
from geoservice.analysis.hotspot_areas import hotspot_report
from geoservice.analysis.hotspots import HotspotInputError
from geoservice.analysis.spacetime import emerging_hotspots
from geoservice.cli import main
from geoservice.config import MERTON_AND_NEIGHBOURS
from geoservice.engine import DaskEngine
from geoservice.ingest.bulk import bulk_ingest
from geoservice.ingest.pipeline import ingest_file

from ..conftest import POLICE_UK, needs_data
from ..ingest.test_bulk import write_archive

pytestmark = needs_data(POLICE_UK.name)

NOW = datetime(2026, 6, 1, tzinfo=timezone.utc)
WINDOW = ("2017-07-01", "2017-10-01")


@pytest.fixture(scope="module")
def year():
    return pd.read_csv(POLICE_UK, dtype=str, keep_default_na=False)


@pytest.fixture
def both(loaded_store, settings, tmp_path, year):
    """The same small archive in the database and in a bulk-ingest GeoParquet folder."""
    archive, out = tmp_path / "archive", tmp_path / "parquet"
    written = write_archive(archive, year, rows_per_file=1500)
    report = bulk_ingest(loaded_store, archive, out, settings=settings, now=NOW)
    for path in written:
        ingest_file(loaded_store, "incidents", path, settings=settings, now=NOW, fmt="police-uk")
    assert report.total("accepted") == loaded_store.layer_counts()["incidents"] > 3000
    return loaded_store, settings, out


def test_hot_spots_from_parquet_equal_those_from_the_database_on_both_engines(both):
    store, _, out = both
    engine = DaskEngine.connect(n_workers=1, threads_per_worker=2)
    try:
        for res, k in ((9, 1), (10, 2)):
            options = dict(boroughs=MERTON_AND_NEIGHBOURS, res=res, k=k, start=WINDOW[0], end=WINDOW[1])
            cells_db, areas_db = hotspot_report(store, layer="incidents", **options)
            assert cells_db["hot"].any() and cells_db["incidents"].sum() > 3000
            for on in (None, engine):
                cells_pq, areas_pq = hotspot_report(store, parquet=out, engine=on, **options)
                pd.testing.assert_frame_equal(cells_pq, cells_db, check_exact=True)
                assert cells_pq.attrs == cells_db.attrs
                pd.testing.assert_frame_equal(areas_pq, areas_db, check_exact=True)
    finally:
        engine.close()


def test_counts_and_the_cube_from_parquet_equal_the_database_and_emerging_hot_spots_match(both):
    store, _, out = both
    cells = study_cells(store, MERTON_AND_NEIGHBOURS, 9)
    from_db = layer_counts(store, "incidents", cells, res=9, start=WINDOW[0], end=WINDOW[1])
    pd.testing.assert_series_equal(parquet_layer_counts(out, cells, res=9, start=WINDOW[0], end=WINDOW[1]), from_db)
    cube = parquet_cube(out, cells, res=9, start=WINDOW[0], end=WINDOW[1])
    assert list(cube.columns.astype(str)) == ["2017-07", "2017-08", "2017-09"]
    assert (cube.sum(axis=1).to_numpy() == from_db.to_numpy()).all()
    monthly = [layer_counts(store, "incidents", cells, res=9, start=m.start_time, end=(m + 1).start_time)
               for m in cube.columns]
    db_cube = pd.concat(monthly, axis=1)
    db_cube.columns = cube.columns
    pd.testing.assert_frame_equal(cube, db_cube, check_exact=True, check_names=False)
    pd.testing.assert_frame_equal(emerging_hotspots(cube).summary, emerging_hotspots(db_cube).summary,
                                  check_exact=True)


def test_the_command_counts_from_parquet_and_writes_the_database_run_s_csv(both, tmp_path):
    store, settings, out = both
    written = {}
    for name, extra in (("db", ["--layer", "incidents"]), ("parquet", ["--parquet", str(out)])):
        path = tmp_path / f"{name}.csv"
        result = CliRunner().invoke(main, ["--database", settings.database_url, "--instance",
                                           str(settings.instance_path), "hotspots", "--borough", "E09000024",
                                           "--borough", "E09000022", "--from", WINDOW[0], "--to", WINDOW[1],
                                           "--csv", str(path), *extra])
        assert result.exit_code == 0, result.output
        written[name] = path.read_bytes()
    assert written["parquet"] == written["db"] and written["db"].count(b"\n") > 100


def test_a_parquet_folder_holds_incidents_only(both):
    store, _, out = both
    with pytest.raises(HotspotInputError, match="incidents only"):
        hotspot_report(store, parquet=out, layer="stop_search", boroughs=["E09000024"], start=WINDOW[0],
                       end=WINDOW[1])
