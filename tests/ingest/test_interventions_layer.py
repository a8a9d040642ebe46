"""The interventions layer (issue 15): every bad value gets a reason code and stays in quarantine, nothing is lost."""

from __future__ import annotations

from . import helpers
from .helpers import MERTON, codes, ingest_rows

HEADER = "intervention_id,title,kind,places,cells,started_on,ended_on,funder,lead_agency,borough"


def _row(intervention_id, **changes) -> str:
    row = {"intervention_id": intervention_id, "title": "Week of collaborative action", "kind":
           "week_of_collaborative_action", "places": "Kestrel Park; Junction Parade", "cells": "89194ad3", "started_on":
           "2025-07-07", "ended_on": "2025-07-13", "funder": "MOPAC", "lead_agency": "community safety partnership",
           "borough": MERTON}
    row.update(changes)
    return ",".join(row[c] for c in HEADER.split(","))


BAD = {
    "bad_kind": (_row("bad_kind", kind="gang_matrix"), "value_not_allowed"),
    "no_title": (_row("no_title", title=""), "required_missing"),
    "no_start": (_row("no_start", started_on=""), "required_missing"),
    "bad_start": (_row("bad_start", started_on="next week"), "date_unparseable"),
    "ends_first": (_row("ends_first", ended_on="2025-07-01"), "time_order"),
    "not_started": (_row("not_started", started_on="2099-01-01", ended_on="2099-02-01"), "date_in_future"),
    "unknown_borough": (_row("unknown_borough", borough="E09999999"), "unknown_area_code"),
}


def test_every_bad_value_is_quarantined_with_its_reason(loaded_store, settings, write_csv):
    helpers.KEYS.setdefault("interventions", "intervention_id")
    good = [_row("good"), _row("planned_end", ended_on="2099-01-01"), _row("cells_only", places="")]
    report, rejected = ingest_rows(loaded_store, settings, write_csv, "interventions", HEADER,
                                   good + [row for row, _ in BAD.values()])
    assert report.accepted == len(good) and report.rejected == len(BAD)
    for name, (_, code) in BAD.items():
        assert code in codes(rejected[name]), (name, codes(rejected[name]))
