"""The panels' layers (issue 14): every bad value gets a reason code and stays in quarantine, nothing is lost."""

from __future__ import annotations

import pytest

from .helpers import codes, ingest_rows

MERTON = "E09000024"
FOUND = "2025-05-01T20:00:00+00:00"
EPISODE = ("episode_id,person_id,reported_missing_at,risk_grade,missing_from_latitude,missing_from_longitude,"
           "found_at,notified_at,care_status,placed_out_of_borough,host_borough,pre_missing_grade,graded_by,graded_at,"
           "rhi_consented,rhi_available,debrief_mode,spoken_to_directly,follow_on_intervention")


def _episode(episode_id, **changes) -> str:
    row = {"episode_id": episode_id, "person_id": "C0001", "reported_missing_at": "2025-05-01T10:00:00+00:00",
           "risk_grade": "amber", "missing_from_latitude": "51.410000", "missing_from_longitude": "-0.188000",
           "found_at": FOUND, "notified_at": "2025-05-01T21:00:00+00:00", "care_status": "in_care",
           "placed_out_of_borough": "true", "host_borough": "E09000029", "pre_missing_grade": "red",
           "graded_by": "panel chair", "graded_at": "2025-05-02T09:00:00+00:00", "rhi_consented": "yes",
           "rhi_available": "no", "debrief_mode": "phone", "spoken_to_directly": "false",
           "follow_on_intervention": "safety_plan"}
    row.update(changes)
    return ",".join(row[c] for c in EPISODE.split(","))


LAYERS = {
    "missing_episodes": (EPISODE, "episode_id", [_episode("good")], {
        "bad_grade": (_episode("bad_grade", pre_missing_grade="purple"), "value_not_allowed"),
        "bad_care": (_episode("bad_care", care_status="sometimes"), "value_not_allowed"),
        "bad_flag": (_episode("bad_flag", rhi_consented="perhaps"), "value_not_boolean"),
        "bad_mode": (_episode("bad_mode", debrief_mode="carrier pigeon"), "value_not_allowed"),
        "bad_follow": (_episode("bad_follow", follow_on_intervention="gang matrix"), "value_not_allowed"),
        "bad_notified": (_episode("bad_notified", notified_at="yesterday"), "date_unparseable"),
        "notified_first": (_episode("notified_first", notified_at="2025-04-30T10:00:00+00:00"), "time_order"),
        "graded_first": (_episode("graded_first", graded_at="2025-04-01T10:00:00+00:00"), "time_order"),
    }),
    "risk_assessments": (
        "assessment_id,person_id,assessed_on,score,assessor,allocated_worker,shared_on,police_exploitation_grade",
        "assessment_id", ["good,C0001,2025-05-01,40,social worker,W12,2025-05-03,medium"], {
            "no_score": ("no_score,C0001,2025-05-01,,social worker,W12,,low", "required_missing"),
            "half_score": ("half_score,C0001,2025-05-01,33.5,social worker,W12,,low", "value_not_integer"),
            "negative": ("negative,C0001,2025-05-01,-3,social worker,W12,,low", "value_out_of_range"),
            "bad_day": ("bad_day,C0001,2025-02-30,40,social worker,W12,,low", "date_unparseable"),
            "shared_first": ("shared_first,C0001,2025-05-01,40,social worker,W12,2025-04-01,low", "time_order"),
            "bad_grade": ("bad_grade,C0001,2025-05-01,40,social worker,W12,,severe", "value_not_allowed"),
        }),
    "safeguarding_referrals": (
        "referral_id,person_id,kind,referred_on,referrer_agency,outcome,decided_on", "referral_id",
        ["good,C0001,nrm,2025-05-02,police,reasonable_grounds,2025-05-20"], {
            "bad_kind": ("bad_kind,C0001,prevent,2025-05-02,police,,", "value_not_allowed"),
            "bad_outcome": ("bad_outcome,C0001,mash,2025-05-02,police,arrested,", "value_not_allowed"),
            "decided_first": ("decided_first,C0001,mash,2025-05-02,police,early_help,2025-05-01", "time_order"),
            "no_person": ("no_person,,mash,2025-05-02,police,,", "required_missing"),
        }),
    "worker_allocations": (
        "allocation_id,person_id,allocated_worker,allocated_on", "allocation_id", ["good,C0001,W12,2025-05-01"], {
            "no_worker": ("no_worker,C0001,,2025-05-01", "required_missing"),
            "bad_day": ("bad_day,C0001,W12,2025-02-30", "date_unparseable"),
            "no_person": ("no_person,,W12,2025-05-01", "required_missing"),
        }),
    "police_contacts": (
        "contact_id,person_id,kind,recorded_on,offence_group", "contact_id",
        ["good,C0001,searched,2025-05-02,drugs"], {
            "bad_kind": ("bad_kind,C0001,gang_member,2025-05-02,drugs", "value_not_allowed"),
            "future": ("future,C0001,arrested,2099-01-01,drugs", "date_in_future"),
        }),
    "tasking_actions": (
        "action_id,borough,place,theme,stage,action,lead_agency,owner,starts_on,ends_on,status", "action_id",
        [f"good,{MERTON},Kestrel Park,positive_diversion_from_violence,current,detached youth work,youth service,"
         "detached team,2025-01-01,2025-06-30,in_progress"], {
            "bad_theme": (f"bad_theme,{MERTON},Kestrel Park,gangs,current,patrol,police,sergeant,2025-01-01,"
                          "2025-02-01,planned", "value_not_allowed"),
            "ends_first": (f"ends_first,{MERTON},Kestrel Park,governance,current,review,CSP,officer,2025-03-01,"
                           "2025-02-01,planned", "time_order"),
            "no_owner": (f"no_owner,{MERTON},Kestrel Park,governance,current,review,CSP,,2025-03-01,2025-04-01,"
                         "planned", "required_missing"),
        }),
    "population_baseline": (
        "borough,dimension,category,children,source", "category",
        [f"{MERTON},ethnicity,black,9000,ONS Census 2021"], {
            "unknown_borough": ("E09999999,ethnicity,unknown_borough,10,ONS", "unknown_area_code"),
            "bad_dimension": (f"{MERTON},religion,bad_dimension,10,ONS", "value_not_allowed"),
            "bad_count": (f"{MERTON},sex,bad_count,many,ONS", "value_not_integer"),
        }),
}


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_every_bad_value_is_quarantined_with_its_reason(layer, loaded_store, settings, write_csv):
    header, key, good, bad = LAYERS[layer]
    from . import helpers

    helpers.KEYS.setdefault(layer, key)
    report, rejected = ingest_rows(loaded_store, settings, write_csv, layer, header,
                                   good + [row for row, _ in bad.values()])
    assert report.accepted == len(good) and report.rejected == len(bad)
    for name, (_, code) in bad.items():
        assert name in rejected, (layer, name)
        assert code in codes(rejected[name]), (layer, name, codes(rejected[name]))
