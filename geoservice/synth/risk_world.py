"""The synthetic world's safeguarding referrals, risk-matrix assessments and worker allocations, with planted truths
for risk-matrix tracking (``panels/risk.py``).

Each table has a random generator of its own (the world's seed plus a prime, as ``make_actions`` does), so adding
them changes nothing else in the world. The world is made so that exactly the planted children meet each flag on
the last day of the year (``as_of``), with the preloaded bands and a 90-day review interval:

- every other assessed child stays in one band, is re-scored at most 88 days before ``as_of``, has their latest
  assessment shared, and has a police grade that agrees with their latest decided MASH outcome (``MASH_LEVELS``);
- some of them change worker and are re-scored afterwards (not flagged); earlier assessments may be unshared (only
  the latest counts);
- planted: band rises (in December, so the December Pre-MACE pack raises them), band falls (October to December),
  not reviewed, worker changed without a re-score, latest not shared, MASH and police two levels apart, and one
  score outside every band.

Referrals: MASH for about half the children; the NRM and Rescue and Response for every county-line child and a
few others.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from ..panels.risk import LEVELS, MASH_LEVELS, PRELOADED_BANDS

MERTON = "E09000024"
MASH_OUTCOMES = ("no_further_action", "information_and_advice", "early_help", "child_in_need", "child_protection")
AGENCIES = ("police", "education", "health", "children's social care", "youth service", "voluntary sector")
ASSESSORS = ("social worker", "exploitation lead", "youth justice worker", "MACE coordinator")
REVIEW_DAYS = 90
#: How many children each flag is planted on: (from Merton, from the neighbours).
PLANTED = {"band_rises": (3, 1), "band_falls": (2, 1), "not_reviewed": (2, 2), "worker_changed_not_rescored": (2, 2),
           "not_shared": (2, 2), "mash_police_mismatch": (2, 2), "unbanded": (1, 0)}


def _day(value: datetime) -> str:
    return value.strftime("%Y-%m-%d")


def referrals_table(world) -> tuple[pd.DataFrame, dict]:
    """MASH referrals for about half the children; NRM and Rescue and Response for the county-line children and a
    few others. Returns the table and its ground truth."""
    rng = np.random.default_rng(world.seed + 7937)
    start = world.start
    children = world.children.person_id.tolist()
    line = list(world.truth.get("county_line", {}).get("children", []))
    rows = []

    def add(child, kind, referred, outcome, decided):
        rows.append({"person_id": child, "kind": kind, "referred_on": referred,
                     "referrer_agency": str(rng.choice(AGENCIES)), "outcome": outcome, "decided_on": decided})

    for child in sorted(rng.choice(children, size=int(0.55 * len(children)), replace=False)):
        days = sorted(int(d) for d in rng.integers(0, 330, 1 + int(rng.random() < 0.3)))
        for k, d in enumerate(days):
            referred = start + timedelta(days=d)
            if k == len(days) - 1 and rng.random() < 0.04:
                add(child, "mash", _day(referred), "pending", "")
                continue
            outcome = str(rng.choice(MASH_OUTCOMES, p=[.15, .2, .3, .23, .12]))
            add(child, "mash", _day(referred), outcome, _day(referred + timedelta(days=int(rng.integers(0, 4)))))
    others = [c for c in children if c not in set(line)]
    nrm_others = sorted(rng.choice(others, size=max(2, len(others) // 40), replace=False))
    for child in sorted(set(line) | set(nrm_others)):
        referred = start + timedelta(days=int(rng.integers(30, 300)))
        if child in line:
            outcome = str(rng.choice(["reasonable_grounds", "conclusive_grounds"]))
        else:
            outcome = str(rng.choice(["reasonable_grounds", "negative_grounds", "pending"]))
        decided = "" if outcome == "pending" else _day(referred + timedelta(days=int(rng.integers(5, 45))))
        add(child, "nrm", _day(referred), outcome, decided)
        if child in line or rng.random() < 0.3:
            referred += timedelta(days=int(rng.integers(0, 20)))
            outcome = "accepted" if child in line else str(rng.choice(["accepted", "declined", "closed"]))
            add(child, "rescue_and_response", _day(referred), outcome,
                _day(referred + timedelta(days=int(rng.integers(1, 15)))))
    frame = pd.DataFrame(rows).sort_values(["referred_on", "person_id", "kind"], kind="stable").reset_index(drop=True)
    frame.insert(0, "referral_id", [f"RF{i + 1:05d}" for i in range(len(frame))])
    truth = {"mash_children": int(frame[frame.kind == "mash"].person_id.nunique()),
             "nrm_children": sorted(frame[frame.kind == "nrm"].person_id.unique()),
             "rescue_and_response_children": sorted(frame[frame.kind == "rescue_and_response"].person_id.unique()),
             "county_line_children_referred": sorted(set(line) & set(frame[frame.kind == "nrm"].person_id))}
    return frame, truth


def _mash_levels(referrals: pd.DataFrame) -> dict[str, int]:
    """Each child's latest decided MASH outcome on the common scale (as ``panels.risk.mash_beside_police`` reads
    it)."""
    mash = referrals[(referrals.kind == "mash") & referrals.outcome.isin(list(MASH_LEVELS))]
    latest = mash.sort_values(["person_id", "referred_on", "referral_id"]).groupby("person_id").tail(1)
    return {r.person_id: MASH_LEVELS[r.outcome] for r in latest.itertuples()}


def risk_tables(world, referrals: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Risk-matrix assessments and worker allocations for about two in five children, with the planted flags.
    Returns (assessments, allocations, ground truth)."""
    rng = np.random.default_rng(world.seed + 7927)
    year = world.year
    start, as_of = world.start, datetime(year, 12, 31)
    last_day = as_of - timedelta(days=10)  # no score in the last ten days, so a worker can change after one
    levels = _mash_levels(referrals)
    children = world.children
    chosen = sorted(rng.choice(children.person_id, size=int(0.4 * len(children)), replace=False))
    home = dict(zip(children.person_id, children.home_borough))
    workers = [f"SW{i + 1:03d}" for i in range(40)]

    # who carries each planted flag: disjoint, some from Merton and some from its neighbours
    merton = [c for c in chosen if home[c] == MERTON]
    others = [c for c in chosen if home[c] != MERTON]
    rng.shuffle(merton)
    rng.shuffle(others)
    planted: dict[str, list[str]] = {}
    for flag, (n_merton, n_other) in PLANTED.items():
        pool_m, pool_o = merton, others
        if flag == "mash_police_mismatch":  # needs a decided MASH outcome to disagree with
            pool_m, pool_o = [c for c in merton if c in levels], [c for c in others if c in levels]
        picked = pool_m[:n_merton] + pool_o[:n_other]
        planted[flag] = sorted(picked)
        merton = [c for c in merton if c not in picked]
        others = [c for c in others if c not in picked]
    flag_of = {c: flag for flag, kids in planted.items() for c in kids}

    assessments, allocations = [], []
    for child in chosen:
        flag = flag_of.get(child)
        dates = [start + timedelta(days=int(rng.integers(0, 120)))]
        while dates[-1] + timedelta(days=79) <= last_day:
            dates.append(dates[-1] + timedelta(days=int(rng.integers(50, 80))))
        if flag in ("band_rises", "band_falls"):  # the move: at a new score in the last months
            window = (datetime(year, 12, 1) if flag == "band_rises" else datetime(year, 10, 1))
            if dates[-1] < window:
                dates.append(window + timedelta(days=int(rng.integers(0, (last_day - window).days + 1))))
        elif flag == "not_reviewed":
            cutoff = as_of - timedelta(days=REVIEW_DAYS + int(rng.integers(15, 60)))
            dates = [d for d in dates if d <= cutoff]
        level = 0 if rng.random() < 0.65 else 1
        if flag == "band_rises":
            bands = [0] * (len(dates) - 1) + [1]
        elif flag == "band_falls":
            bands = [1] * (len(dates) - 1) + [0]
        else:
            bands = [level] * len(dates)
        scores = [int(rng.integers(PRELOADED_BANDS[b].low, PRELOADED_BANDS[b].high + 1)) for b in bands]
        if flag == "unbanded":
            scores[-1] = int(rng.integers(PRELOADED_BANDS[-1].high + 1, PRELOADED_BANDS[-1].high + 20))
        worker = str(rng.choice(workers))
        allocations.append({"person_id": child, "allocated_worker": worker,
                            "allocated_on": _day(dates[0] - timedelta(days=int(rng.integers(0, 60))))})
        changes_at = int(rng.integers(1, len(dates))) if len(dates) > 1 and flag is None and rng.random() < 0.12 \
            else None
        grade = LEVELS[levels[child]] if child in levels else str(rng.choice(LEVELS, p=[.3, .35, .25, .1]))
        for k, (when, score) in enumerate(zip(dates, scores)):
            if k == changes_at:  # a new worker, who scores the matrix afresh
                worker = str(rng.choice([w for w in workers if w != worker]))
                allocations.append({"person_id": child, "allocated_worker": worker,
                                    "allocated_on": _day(when - timedelta(days=int(rng.integers(1, 21))))})
            latest = k == len(dates) - 1
            shared = when + timedelta(days=int(rng.integers(0, 11)))
            unshared = (latest and flag == "not_shared") or (not latest and rng.random() < 0.1)
            police = grade
            if latest and flag == "mash_police_mismatch":
                police = LEVELS[(levels[child] + 2) % len(LEVELS)]
            assessments.append({"person_id": child, "assessed_on": _day(when), "score": str(score),
                                "assessor": str(rng.choice(ASSESSORS)), "allocated_worker": worker,
                                "shared_on": "" if unshared else _day(shared), "police_exploitation_grade": police})
        if flag == "worker_changed_not_rescored":
            gap = (as_of - dates[-1]).days
            allocations.append({"person_id": child,
                                "allocated_worker": str(rng.choice([w for w in workers if w != worker])),
                                "allocated_on": _day(dates[-1] + timedelta(days=int(rng.integers(1, gap + 1))))})
    frame = pd.DataFrame(assessments).sort_values(["assessed_on", "person_id"], kind="stable").reset_index(drop=True)
    frame.insert(0, "assessment_id", [f"RA{i + 1:05d}" for i in range(len(frame))])
    moves = pd.DataFrame(allocations).sort_values(["allocated_on", "person_id"], kind="stable").reset_index(drop=True)
    moves.insert(0, "allocation_id", [f"AL{i + 1:05d}" for i in range(len(moves))])
    truth = {"as_of": _day(as_of), "review_days": REVIEW_DAYS, "bands": [str(b) for b in PRELOADED_BANDS],
             "children_assessed": len(chosen), **planted,
             "note": "band rises are dated in December and band falls from October, so over 3 and 6 months to "
                     "as_of exactly these children rose or fell; every other assessed child stayed, except the "
                     "unbanded one (its latest score is in no band)"}
    return frame, moves, truth
