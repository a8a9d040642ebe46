"""Outputs are honest about where their data came from, and the demo never erases a real store."""

from __future__ import annotations

import json

from click.testing import CliRunner

from geoservice import create_app
from geoservice.cli import main
from geoservice.ingest.pipeline import ingest_file
from geoservice.maps.products import build_map
from geoservice.maps.specs import load_map_specs
from geoservice.privacy.audit import verify
from geoservice.reports.linkage import SECTIONS, linkage_report
from geoservice.reports.render import render_html, report_dict

from ..conftest import sign_in

MERTON = "E09000024"
NOTICE = "Synthetic data"


def _outputs(store, settings, tmp_path) -> dict[str, str]:
    """The start page, a map, and a linkage report as HTML and JSON."""
    app = create_app({"GEOSERVICE_SETTINGS": settings, "TESTING": True})
    try:
        client = app.test_client()
        sign_in(client, app.extensions["geoservice_store"], "mace_analyst", [MERTON])
        page = client.get("/").get_data(as_text=True)
        mapped = client.get(f"/maps/csp_tasking?borough={MERTON}&from=2025-01-01&to=2026-01-01").get_data(as_text=True)
    finally:
        app.extensions["geoservice_store"].engine.dispose()
    spec = load_map_specs(settings.maps_dir)["mace_hotspots"]
    built = build_map(store, spec, boroughs=[MERTON], start="2025-01-01", end="2026-01-01")
    report = linkage_report(store, MERTON, start="2025-01-01", end="2026-01-01", as_of="2026-01-01")
    return {"page": page, "map page": mapped, "map": json.dumps(built.config["attributions"]),
            "report": render_html(report, SECTIONS, title="linkage"),
            "report json": json.dumps(report_dict(report, SECTIONS))}


def test_real_records_are_never_called_synthetic(loaded_store, settings, tmp_path, write_csv):
    people = write_csv("people.csv", ["person_id,subject_category,home_borough,recorded_on",
                                      "R1,child_at_risk,E09000024,2025-03-01", "R2,child_at_risk,E09000024,2025-03-02"])
    links = write_csv("links.csv", ["association_id,person_a,person_b,association_type,source_layer,source_record,"
                                    "evidence_date,source_evaluation,intelligence_assessment,expires_on",
                                    "L1,R1,R2,school,intelligence,I-1,2025-04-01,B,2,2027-04-01"])
    ingest_file(loaded_store, "people", people, settings=settings, username="loader", justification="referrals")
    ingest_file(loaded_store, "associations", links, settings=settings, username="loader", justification="intel")
    for name, text in _outputs(loaded_store, settings, tmp_path).items():
        assert NOTICE not in text, name
        assert "Ordnance Survey" in text, f"{name} still credits the boundaries it used"
        assert "data.police.uk" not in text, f"{name} credits no police data it did not use"


def test_synthetic_batches_are_always_declared(world_settings, tmp_path):
    from geoservice.store.db import Store

    store = Store.from_settings(world_settings)
    try:
        for name, text in _outputs(store, world_settings, tmp_path).items():
            assert NOTICE in text, name
    finally:
        store.engine.dispose()


def test_the_demo_refuses_a_store_holding_anything_it_did_not_load(loaded_store, settings, write_csv):
    people = write_csv("referrals.csv", ["person_id,subject_category,home_borough,recorded_on",
                                         "R1,child_at_risk,E09000024,2025-03-01"])
    ingest_file(loaded_store, "people", people, settings=settings, username="loader", justification="referrals")
    before = (loaded_store.layer_counts(), len(loaded_store.list_batches()), verify(loaded_store).entries)
    result = CliRunner().invoke(main, ["--database", settings.database_url, "--instance", str(settings.instance_path),
                                       "demo", "--no-serve"])
    assert result.exit_code == 2 and "did nothing" in result.output and "referrals.csv" in result.output
    assert (loaded_store.layer_counts(), len(loaded_store.list_batches()), verify(loaded_store).entries) == before
    assert verify(loaded_store).ok


def test_the_demo_refuses_a_store_with_users_it_did_not_add(store, settings):
    from geoservice.privacy.users import add_user

    add_user(store, "ana", "a long password here", roles=["auditor"], boroughs=["E09000024"])
    result = CliRunner().invoke(main, ["--database", settings.database_url, "--instance", str(settings.instance_path),
                                       "demo", "--no-serve"])
    assert result.exit_code == 2 and "users the demo did not add (ana)" in result.output
    assert store.user_row("ana") is not None
