"""A batch records the boroughs it can change products of, and ``Store.data_version`` scoped to layers and
boroughs changes only with the batches that touch them (issue 17): an upload for Lambeth leaves Merton's cached
products standing."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from geoservice.ingest.pipeline import ingest_file
from geoservice.store.batches import EVERY_BOROUGH
from tests.ingest.helpers import IN_LAMBETH, IN_MERTON, LAMBETH, MERTON, NOW, PEOPLE, ingest_rows

pytestmark = pytest.mark.postgres

HAVERING = "E09000016"


def _boroughs(store, batch_id):
    with store.engine.connect() as conn:
        return conn.execute(select(store.batches.c.boroughs).where(store.batches.c.batch_id == batch_id)).scalar()


def _incidents(store, settings, write_csv, name, where, n=5):
    rows = [f"{name}{i},2026-03,Robbery,{where[0]},{where[1]}," for i in range(n)]
    path = write_csv(f"{name}.csv", ["crime_id,month,crime_type,latitude,longitude,borough_code", *rows])
    return ingest_file(store, "incidents", path, settings=settings, now=NOW)


def test_a_batch_keeps_the_boroughs_its_rows_were_located_in(loaded_store, settings, write_csv):
    report = _incidents(loaded_store, settings, write_csv, "M", IN_MERTON)
    assert _boroughs(loaded_store, report.batch_id) == f",{MERTON},"


def test_a_point_touches_the_boroughs_whose_cells_hold_it_at_each_resolution(loaded_store, settings, write_csv):
    """A point in Lambeth near the Merton border touches Lambeth, and Merton only at the resolutions where the cell
    holding it has its centre in Merton (the coarser the cell, the further it reaches)."""
    from geoservice.cells import centre, point_to_cell
    from geoservice.ingest.areas import AreaIndex
    from geoservice.places import lnglat_to_bng

    point = (51.4150, -0.1400)  # Streatham Vale, Lambeth, a few hundred metres from Merton
    report = _incidents(loaded_store, settings, write_csv, "B", tuple(f"{v:.6f}" for v in point), n=1)
    touched = set(filter(None, _boroughs(loaded_store, report.batch_id).split(",")))
    areas = AreaIndex(loaded_store.boundaries(("borough",)))
    expected = {LAMBETH}
    for res in loaded_store.resolutions:
        lat, lng = centre(point_to_cell(*point, res))
        x, y = lnglat_to_bng([lng], [lat])
        expected |= {f"{code}@{res}" for code in areas.codes_near(x, y, "borough", 50.0) if code != LAMBETH}
    assert touched == expected


def test_a_batch_touching_a_borough_by_cells_at_one_resolution_leaves_the_others(loaded_store, settings,
                                                                                   write_csv):
    report = _incidents(loaded_store, settings, write_csv, "L", IN_LAMBETH)
    at = {res: loaded_store.data_version(layers={"incidents"}, boroughs={MERTON}, res=res) for res in (7, 9, None)}
    with loaded_store.engine.begin() as conn:
        conn.execute(update(loaded_store.batches).where(loaded_store.batches.c.batch_id == report.batch_id)
                     .values(boroughs=f",{LAMBETH},{MERTON}@7,"))
    assert loaded_store.data_version(layers={"incidents"}, boroughs={MERTON}, res=9) == at[9]
    assert loaded_store.data_version(layers={"incidents"}, boroughs={MERTON}, res=7) != at[7]
    assert loaded_store.data_version(layers={"incidents"}, boroughs={MERTON}) != at[None], "any resolution"


def test_people_touch_their_home_borough_and_boundaries_every_borough(loaded_store, settings, write_csv):
    report, _ = ingest_rows(loaded_store, settings, write_csv, "people", PEOPLE,
                            [f"P1,child_at_risk,{LAMBETH},2026-01-05"])
    assert _boroughs(loaded_store, report.batch_id) == f",{LAMBETH},"
    boundaries = [b for b in loaded_store.list_batches("boundaries")]
    assert boundaries and all(_boroughs(loaded_store, b["batch_id"]) == EVERY_BOROUGH for b in boundaries)


def test_scoped_versions_change_only_with_the_batches_that_touch_them(loaded_store, settings, write_csv):
    merton = lambda: loaded_store.data_version(layers={"incidents"}, boroughs={MERTON})  # noqa: E731
    before_all, before_merton = loaded_store.data_version(), merton()
    before_people = loaded_store.data_version(layers={"people"})
    _incidents(loaded_store, settings, write_csv, "L", IN_LAMBETH)
    assert merton() == before_merton, "a Lambeth upload leaves Merton's incident products standing"
    assert loaded_store.data_version() != before_all, "with no arguments: every batch counts, as before"
    assert loaded_store.data_version(layers={"people"}) == before_people
    lambeth = loaded_store.data_version(layers={"incidents"}, boroughs={LAMBETH})
    _incidents(loaded_store, settings, write_csv, "M", IN_MERTON)
    assert merton() != before_merton
    assert loaded_store.data_version(layers={"incidents"}, boroughs={LAMBETH}) == lambeth
    assert loaded_store.data_version(layers={"incidents"}, boroughs={HAVERING}) == \
        loaded_store.data_version(layers={"incidents"}, boroughs={HAVERING})


def test_batches_from_before_the_column_touch_every_borough(loaded_store, settings, write_csv):
    report = _incidents(loaded_store, settings, write_csv, "L", IN_LAMBETH)
    havering = loaded_store.data_version(layers={"incidents"}, boroughs={HAVERING})
    with loaded_store.engine.begin() as conn:
        conn.execute(update(loaded_store.batches).where(loaded_store.batches.c.batch_id == report.batch_id)
                     .values(boroughs=None))
    assert loaded_store.data_version(layers={"incidents"}, boroughs={HAVERING}) != havering


def test_an_erasure_changes_every_scoped_version(loaded_store, settings, write_csv):
    from geoservice.privacy import audit

    merton = loaded_store.data_version(layers={"incidents"}, boroughs={MERTON})
    audit.record(loaded_store, username="admin", operation="erasure", objects=["layer:people"],
                 justification="retention run")
    assert loaded_store.data_version(layers={"incidents"}, boroughs={MERTON}) != merton


def test_upgrade_adds_the_column_and_older_batches_touch_every_borough(loaded_store, settings, write_csv):
    """A store made before batches kept their boroughs is refused until ``Store.upgrade()`` (``geoservice init-db
    --upgrade``) adds the column; its batches then touch every borough."""
    from sqlalchemy import text

    from geoservice.errors import SetupError
    from geoservice.store.db import Store

    report = _incidents(loaded_store, settings, write_csv, "L", IN_LAMBETH)
    with loaded_store.engine.begin() as conn:
        conn.execute(text("ALTER TABLE batches DROP COLUMN boroughs"))
    loaded_store.engine.dispose()
    old = Store.from_settings(settings)
    with pytest.raises(SetupError, match="batches.boroughs"):
        old.init()
    assert old.upgrade() == ["batches.boroughs"]
    assert _boroughs(old, report.batch_id) is None
    havering = old.data_version(layers={"incidents"}, boroughs={HAVERING})
    assert havering[0] == len(old.list_batches("incidents")) >= 1, "every older batch counts for every borough"
    old.engine.dispose()
