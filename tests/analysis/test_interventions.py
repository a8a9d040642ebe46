"""A recorded intervention evaluated from the store: its cells, counts per type, the report and the command."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from geoservice.analysis.interventions import ALL_INCIDENTS, InterventionError, evaluate_intervention
from geoservice.cells import centres, to_hex
from geoservice.cli import main
from geoservice.ingest.pipeline import ingest_file
from geoservice.reports.evaluation import render_evaluation_html
from geoservice.synth.evaluation_panel import evaluation_panel

from ..conftest import needs_data

pytestmark = needs_data("london_boroughs.geojson", "wards_merton_neighbours.geojson")
MERTON = "E09000024"


@pytest.fixture
def world(load_world):
    return load_world("places", "incidents", "interventions")


def test_the_worlds_week_of_action_is_evaluated_honestly(world, truth):
    """No effect is planted in the world, and its incidents are sparse: every type says so, none says fell or rose."""
    evaluation = evaluate_intervention(world, "INT001")
    hot = next(p for p in truth["hot_places"] if p["place_id"] == truth["interventions"]["hot_place"])
    assert evaluation.places == [hot["name"]] and len(evaluation.treated) == 7
    assert list(evaluation.effects)[0] == ALL_INCIDENTS and "Robbery" in evaluation.effects
    assert evaluation.months[0] == "2025-01" and evaluation.months[-1] == "2025-12"
    assert truth["interventions"]["effect_planted"] is False
    for result in evaluation.effects.values():
        assert not result.verdict.startswith(("fell", "rose")), result.verdict
    assert evaluation.effects["Robbery"].too_little_data


def test_an_intervention_recorded_by_cell_and_the_months_rule(world):
    evaluation = evaluate_intervention(world, "INT002")
    assert len(evaluation.treated) == 1 and evaluation.places == []
    assert all("months before the start" in r.verdict for r in evaluation.effects.values())


def test_unknown_interventions_and_places_say_what_to_fix(world):
    with pytest.raises(InterventionError, match="no intervention 'INT999' is recorded; recorded: INT001, INT002"):
        evaluate_intervention(world, "INT999")
    with pytest.raises(InterventionError, match="months before and after must be 1-120"):
        evaluate_intervention(world, "INT001", months_before=0)


@pytest.fixture
def planted(loaded_store, settings, tmp_path):
    """A store whose robberies are an evaluation panel with a 30% fall planted in the treated cells from 2025-01,
    one incident per event at its cell's centre, and the intervention recorded by its cells."""
    panel = evaluation_panel(3, effect=-0.3, trend_spread=(0.1, 0.05, 0.03))
    where = centres(panel.counts.index)
    rows = ["crime_id,month,crime_type,latitude,longitude,borough_code"]
    for (lat, lng), (_, counts) in zip(where, panel.counts.iterrows()):
        for month, n in counts.items():
            rows += [f"P{len(rows) + i},{month},Robbery,{lat:.6f},{lng:.6f}," for i in range(int(n))]
    (tmp_path / "incidents.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "interventions.csv").write_text(
        "intervention_id,title,kind,cells,started_on,borough\n"
        f"PLANTED,Detached youth work <b>here</b>,detached_youth_work,{';'.join(to_hex(panel.treated))},2025-01-06,"
        f"{MERTON}\n")
    for layer in ("incidents", "interventions"):
        report = ingest_file(loaded_store, layer, tmp_path / f"{layer}.csv", settings=settings, synthetic=True)
        assert report.rejected == 0
    return loaded_store, panel


def test_a_planted_fall_is_found_through_the_store_and_reported(planted, settings, tmp_path):
    store, panel = planted
    evaluation = evaluate_intervention(store, "PLANTED")
    assert sorted(evaluation.treated) == sorted(panel.treated)
    robbery = evaluation.effects["Robbery"]
    assert robbery.verdict.startswith("fell") and robbery.low <= -0.3 <= robbery.high
    page = render_evaluation_html(evaluation, borough_names={MERTON: "Merton"})
    assert "<b>here</b>" not in page and "&lt;b&gt;here&lt;/b&gt;" in page
    assert page.count("<svg") >= 1 and "start</text>" in page and "Parallel trends" in page
    assert "Merton" in page and "http" not in page.split("<footer>")[0].replace("http://www.w3.org/2000/svg", "")
    out = tmp_path / "report.html"
    result = CliRunner().invoke(main, ["--database", settings.database_url, "--instance", str(settings.instance_path),
                                       "evaluate", "--intervention", "PLANTED", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.output)
    assert answer["effects"]["Robbery"]["verdict"].startswith("fell") and out.exists()
    assert np.isclose(answer["effects"]["Robbery"]["effect"], robbery.effect, atol=1e-3)


def test_the_command_says_what_to_fix(world, settings):
    result = CliRunner().invoke(main, ["--database", settings.database_url, "--instance", str(settings.instance_path),
                                       "evaluate", "--intervention", "nope"])
    assert result.exit_code == 2 and "no intervention 'nope' is recorded" in result.output
    assert "Traceback" not in result.output
    result = CliRunner().invoke(main, ["--database", settings.database_url, "--instance", str(settings.instance_path),
                                       "evaluate", "--intervention", "INT001"])
    assert result.exit_code == 0 and "too little data to tell" in result.output
