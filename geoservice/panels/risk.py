"""Contextual-harm risk-matrix tracking: bands, each child's score history, and the flags a panel acts on.

- **Bands.** A score is read through configured bands, preloaded as exactly 10-32 "Early Help (Emerging)" and 33-64
  "Targeted (Moderate)" (``PRELOADED_BANDS``). A score outside every band is ``UNBANDED`` ("unbanded - configure"),
  never guessed into the nearest. An administrator may configure other bands (``set_bands``); they must not
  overlap, and every change is recorded in the audit log with its reason.
- **History.** Each child's assessments in date order, each banded, with its movement from the one before: rose,
  fell, same, or not comparable (first, or a score outside every band).
- **Flags** (``risk_flags``), each for the child's latest assessment on the day asked about: not reviewed within
  ``review_days`` (the ``risk_review_days`` setting); not re-scored since the allocated worker changed (the
  ``worker_allocations`` layer names a new worker from a day after the latest score); not shared since its last
  update (the latest assessment has no ``shared_on``); band rose (the latest assessment's band is higher than the
  one before); MASH screening and police grade mismatched (``MASH_LEVELS``).
- **Movement** (``band_movement``): the share of a cohort whose band fell, stayed or rose between two days (the
  Strategic MACE pack shows it over 3 and 6 months, with its small-number rules).

Every function here is about children at risk only: they are victims, and nothing here lists an adult.
Functions take DataFrames with the layers' field names, so a notebook can call them with no store.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import date, datetime, timezone

import pandas as pd

from ..errors import GeoserviceError

UNBANDED = "unbanded - configure"


@dataclasses.dataclass(frozen=True)
class Band:
    """Scores from ``low`` to ``high`` (both included) read as ``label``."""

    low: int
    high: int
    label: str

    def __str__(self) -> str:
        return f"{self.low}-{self.high}={self.label}"


#: The bands a score is read through when none are configured (the partnership's risk matrix).
PRELOADED_BANDS = (Band(10, 32, "Early Help (Emerging)"), Band(33, 64, "Targeted (Moderate)"))

#: MASH screening outcomes and police exploitation grades on one ordinal scale (0 none, 1 low, 2 medium, 3 high),
#: so the two can be set side by side. A MASH decision is read by the level of response it leads to: no further
#: action (threshold not met) ~ none; information and advice, or early help (needs below the statutory threshold,
#: emerging risk, like the "Early Help (Emerging)" band) ~ low; child in need (s17, a statutory plan, like
#: "Targeted (Moderate)") ~ medium; child protection (s47, significant harm) ~ high. A pending or empty outcome
#: is not compared.
LEVELS = ("none", "low", "medium", "high")
MASH_LEVELS = {"no_further_action": 0, "information_and_advice": 1, "early_help": 1, "child_in_need": 2,
               "child_protection": 3}
POLICE_LEVELS = {grade: level for level, grade in enumerate(LEVELS)}

FLAG_TEXT = {"not_reviewed": "not reviewed within {days} days", "worker_changed": "not re-scored since the "
             "allocated worker changed", "not_shared": "not shared since its last update",
             "band_rose": "risk band rose", "mismatch": "MASH screening and police grade differ",
             "unbanded": "score outside every band: configure the bands"}


class RiskError(GeoserviceError, ValueError):
    """Bands that cannot be used as given (overlapping, empty, not whole numbers), or a question about an unknown
    borough."""


class RiskPermissionError(GeoserviceError, PermissionError):
    """Someone who is not an administrator tried to configure the bands."""


# bands ---------------------------------------------------------------------------------------------------------
def parse_band(text: str) -> Band:
    """``"10-32=Early Help (Emerging)"`` as a ``Band``."""
    match = re.fullmatch(r"\s*(\d+)\s*-\s*(\d+)\s*=\s*(\S.*?)\s*", str(text))
    if not match:
        raise RiskError(f"a band is written LOW-HIGH=LABEL, e.g. '10-32=Early Help (Emerging)'; got {text!r}")
    return Band(int(match.group(1)), int(match.group(2)), match.group(3))


def checked_bands(bands) -> tuple[Band, ...]:
    """``bands`` (Bands, ``(low, high, label)`` tuples or ``"LOW-HIGH=LABEL"`` texts) lowest first, checked: whole
    numbers, low not above high, a label, and no two bands sharing a score."""
    out = []
    for item in bands:
        if isinstance(item, str):
            item = parse_band(item)
        elif not isinstance(item, Band):
            low, high, label = item
            item = Band(low, high, label)
        if isinstance(item.low, bool) or isinstance(item.high, bool) or not all(
                isinstance(v, int) or (isinstance(v, float) and v.is_integer()) for v in (item.low, item.high)):
            raise RiskError(f"band {item}: its scores must be whole numbers")
        item = Band(int(item.low), int(item.high), str(item.label).strip())
        if item.low > item.high:
            raise RiskError(f"band {item}: its lowest score is above its highest; write it as "
                                f"{item.high}-{item.low}={item.label}")
        if not item.label or any(ord(c) < 32 for c in item.label) or len(item.label) > 80:
            raise RiskError(f"band {item.low}-{item.high}: give it a plain label of up to 80 characters")
        out.append(item)
    if not out:
        raise RiskError("give at least one band, e.g. --band '10-32=Early Help (Emerging)'")
    out.sort(key=lambda b: (b.low, b.high))
    for before, after in zip(out, out[1:]):
        if after.low <= before.high:
            shared = f"{after.low}-{min(before.high, after.high)}"
            raise RiskError(f"bands {before} and {after} overlap (scores {shared} would be in both): make each "
                                "band start above the one before ends")
    if len({b.label for b in out}) < len(out):
        raise RiskError("two bands have the same label: give each band its own")
    return tuple(out)


def band_index(score, bands=None) -> int | None:
    """The position (0 = lowest) of the band ``score`` falls in, or None when it falls in none."""
    bands = PRELOADED_BANDS if bands is None else bands
    if score is None or isinstance(score, bool):
        return None
    try:
        value = float(score)
    except (TypeError, ValueError):
        return None
    if value != value or not value.is_integer():
        return None
    return next((i for i, b in enumerate(bands) if b.low <= value <= b.high), None)


def band(score, bands=None) -> str:
    """The label of the band ``score`` falls in (``bands``, default ``PRELOADED_BANDS``), or ``UNBANDED`` when it
    falls in none: a score is never guessed into the nearest band."""
    bands = PRELOADED_BANDS if bands is None else bands
    index = band_index(score, bands)
    return UNBANDED if index is None else bands[index].label


def configured_bands(store) -> tuple[Band, ...]:
    """The bands an administrator configured, else the preloaded ones."""
    rows = store.risk_band_rows()
    return tuple(Band(r["low"], r["high"], r["label"]) for r in rows) if rows else PRELOADED_BANDS


def set_bands(store, bands, *, user, justification: str) -> tuple[Band, ...]:
    """Replace the configured bands (``None``: back to the preloaded ones), as ``user`` (an administrator), and
    record the change in the audit log with ``justification``, in one transaction."""
    from ..policy import ADMIN
    from ..privacy.audit import record

    if user is None or getattr(user, "disabled", False) or not user.can(ADMIN):
        who = getattr(user, "username", "nobody")
        raise RiskPermissionError(f"only an administrator may configure the risk bands; {who} is not one")
    if not (justification or "").strip():
        raise RiskError("say why the bands change (the reason is kept in the audit log)")
    new = PRELOADED_BANDS if bands is None else checked_bands(bands)
    before = configured_bands(store)
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    rows = [] if bands is None else [{"low": b.low, "high": b.high, "label": b.label, "set_by": user.username,
                                      "set_at": now} for b in new]
    with store.writing() as conn:
        store.replace_risk_bands(conn, rows)
        record(store, username=user.username, operation="alteration", justification=justification, conn=conn,
               objects=["risk bands", "from: " + "; ".join(map(str, before)), "to: " + "; ".join(map(str, new))
                        + (" (preloaded)" if bands is None else "")])
    return new


# histories -----------------------------------------------------------------------------------------------------
def _days(values) -> pd.Series:
    """Dates (or date-times, or text) as midnight timestamps; empty or unreadable ones as NaT."""
    return pd.to_datetime(pd.Series(values), errors="coerce", utc=True).dt.tz_localize(None).dt.normalize()


def _day(value) -> pd.Timestamp:
    """A day asked about, as a midnight timestamp; anything else is an error saying what to give."""
    try:
        day = pd.Timestamp(value)
    except (TypeError, ValueError):
        day = pd.NaT
    if day is pd.NaT:
        raise RiskError(f"a day must be a date, YYYY-MM-DD; got {value!r}")
    return day.tz_localize(None).normalize() if day.tzinfo else day.normalize()


def score_histories(assessments: pd.DataFrame, bands=None) -> pd.DataFrame:
    """Every assessment, by child and date, with its ``band``, ``band_index`` and ``movement`` from the child's
    assessment before it: ``rose``, ``fell``, ``same``, ``first``, or ``not comparable`` (either score is outside
    every band)."""
    bands = PRELOADED_BANDS if bands is None else bands
    frame = assessments.copy()
    frame["assessed_on"] = _days(frame["assessed_on"]).to_numpy()
    frame = frame.sort_values(["person_id", "assessed_on", "assessment_id"]).reset_index(drop=True)
    frame["band_index"] = pd.array([band_index(s, bands) for s in frame["score"]], dtype="Int64")
    frame["band"] = [UNBANDED if pd.isna(i) else bands[int(i)].label for i in frame["band_index"]]
    previous = frame.groupby("person_id")["band_index"].shift(1)
    first = frame.groupby("person_id").cumcount() == 0
    movement = []
    for now, before, is_first in zip(frame["band_index"], previous, first):
        if is_first:
            movement.append("first")
        elif pd.isna(now) or pd.isna(before):
            movement.append("not comparable")
        else:
            movement.append("rose" if now > before else "fell" if now < before else "same")
    frame["previous_band"] = ["" if is_first else UNBANDED if pd.isna(b) else bands[int(b)].label
                              for b, is_first in zip(previous, first)]
    frame["movement"] = movement
    return frame


def band_rises(assessments: pd.DataFrame, *, since, to, bands=None) -> pd.DataFrame:
    """Children whose band rose at an assessment dated in [since, to): the latest such rise per child
    (``person_id``, ``assessment_id``, ``assessed_on``, ``previous_band``, ``band``, ``score``)."""
    history = score_histories(assessments, bands)
    rises = history[(history.movement == "rose") & (history.assessed_on >= _day(since))
                    & (history.assessed_on < _day(to))]
    return rises.groupby("person_id").tail(1)[["person_id", "assessment_id", "assessed_on", "previous_band", "band",
                                               "score"]].reset_index(drop=True)


def band_movement(assessments: pd.DataFrame, *, as_of, months: int, bands=None) -> dict:
    """How many children's band fell, stayed or rose between ``months`` before ``as_of`` and ``as_of`` (each
    child's latest assessment on or before each day). Only children with a banded score on both days count;
    ``shares`` are fractions of those (0-1)."""
    history = score_histories(assessments, bands)
    end = _day(as_of)
    start = end - pd.DateOffset(months=months)

    def latest(day) -> pd.Series:
        part = history[history.assessed_on <= day]
        return part.groupby("person_id").tail(1).set_index("person_id")["band_index"]

    before, after = latest(start), latest(end)
    both = pd.concat([before.rename("before"), after.rename("after")], axis=1, join="inner").dropna()
    counts = {"fell": int((both.after < both.before).sum()), "stayed": int((both.after == both.before).sum()),
              "rose": int((both.after > both.before).sum())}
    whole = len(both)
    return {"children": whole, **counts, "from": start.date(), "to": end.date(), "months": months,
            "shares": {k: (v / whole if whole else None) for k, v in counts.items()}}


# MASH beside the police ----------------------------------------------------------------------------------------
def mash_beside_police(assessments: pd.DataFrame, referrals: pd.DataFrame, *, as_of) -> pd.DataFrame:
    """Per child with an assessment: the latest decided MASH screening outcome and the latest assessment's police
    exploitation grade, each on ``LEVELS`` (``MASH_LEVELS``), and ``mismatch`` when both are known and differ
    (``gap``: police level minus MASH level)."""
    end = _day(as_of)
    latest = (score_histories(assessments).pipe(lambda h: h[h.assessed_on <= end])
              .groupby("person_id").tail(1).set_index("person_id"))
    mash = referrals[referrals.kind == "mash"].copy()
    mash["referred_on"] = _days(mash["referred_on"]).to_numpy()
    decided_on = _days(mash["decided_on"]).to_numpy() if "decided_on" in mash else pd.NaT
    mash = mash[(mash.referred_on <= end) & mash.outcome.isin(list(MASH_LEVELS))
                & ~(pd.Series(decided_on, index=mash.index) > end)]
    mash = mash.sort_values(["person_id", "referred_on", "referral_id"]).groupby("person_id").tail(1)
    mash = mash.set_index("person_id")
    out = pd.DataFrame(index=latest.index)
    out["police_grade"] = latest["police_exploitation_grade"].fillna("").astype(str)
    out["mash_outcome"] = mash["outcome"].reindex(out.index).fillna("")
    out["mash_on"] = mash["referred_on"].reindex(out.index)
    out["police_level"] = out.police_grade.map(POLICE_LEVELS)
    out["mash_level"] = out.mash_outcome.map(MASH_LEVELS)
    known = out.police_level.notna() & out.mash_level.notna()
    out["gap"] = (out.police_level - out.mash_level).where(known)
    out["mismatch"] = known & (out.gap != 0)
    return out.reset_index()


# flags ---------------------------------------------------------------------------------------------------------
def risk_flags(assessments: pd.DataFrame, allocations: pd.DataFrame | None = None,
               referrals: pd.DataFrame | None = None, *, as_of, review_days: int = 90, bands=None) -> pd.DataFrame:
    """One row per child with an assessment on or before ``as_of``: the latest score and band, the band before,
    the flags (``not_reviewed``, ``worker_changed``, ``not_shared``, ``band_rose``, ``mismatch``, and ``unbanded``
    when the latest score is in no band, for an administrator to configure), what the MASH
    and the police said, and ``reasons`` (the flags in words). Later records are ignored, so a past day can be
    asked about."""
    if review_days < 1:
        raise RiskError(f"review_days must be at least 1, got {review_days}")
    end = _day(as_of)
    history = score_histories(assessments, bands)
    history = history[history.assessed_on <= end]
    columns = ["person_id", "assessment_id", "assessed_on", "score", "band", "previous_band", "movement",
               "assessments", "allocated_worker", "shared_on", "days_since_review", "current_worker",
               "worker_since", "police_grade", "mash_outcome", "not_reviewed", "worker_changed", "not_shared",
               "band_rose", "mismatch", "unbanded", "reasons"]
    if history.empty:
        return pd.DataFrame(columns=columns)
    latest = history.groupby("person_id").tail(1).set_index("person_id")
    out = latest[["assessment_id", "assessed_on", "score", "band", "previous_band", "movement", "allocated_worker",
                  "shared_on"]].copy()
    out["assessments"] = history.groupby("person_id").size()
    out["days_since_review"] = (end - out.assessed_on).dt.days
    out["not_reviewed"] = out.days_since_review > review_days
    shared = _days(out["shared_on"]).to_numpy()
    out["not_shared"] = ~(pd.Series(shared, index=out.index) <= end)
    out["band_rose"] = out.movement == "rose"
    out["unbanded"] = out.band == UNBANDED
    out["current_worker"], out["worker_since"] = out.allocated_worker.fillna(""), pd.NaT
    if allocations is not None and len(allocations):
        moves = allocations.copy()
        moves["allocated_on"] = _days(moves["allocated_on"]).to_numpy()
        moves = moves[moves.allocated_on <= end].sort_values(["person_id", "allocated_on", "allocation_id"])
        current = moves.groupby("person_id").tail(1).set_index("person_id").reindex(out.index)
        known = current.allocated_worker.notna()
        out.loc[known, "current_worker"] = current.allocated_worker[known]
        out.loc[known, "worker_since"] = current.allocated_on[known]
    out["worker_changed"] = (out.worker_since > out.assessed_on) & (out.current_worker
                                                                   != out.allocated_worker.fillna(""))
    if referrals is not None and len(referrals):
        side = mash_beside_police(assessments, referrals, as_of=end).set_index("person_id").reindex(out.index)
        out["police_grade"], out["mash_outcome"] = side.police_grade.fillna(""), side.mash_outcome.fillna("")
        out["mismatch"] = side.mismatch.fillna(False).astype(bool)
    else:
        out["police_grade"] = latest.police_exploitation_grade.fillna("").astype(str)
        out["mash_outcome"], out["mismatch"] = "", False
    words = {key: text.format(days=review_days) for key, text in FLAG_TEXT.items()}
    words["worker_changed"] = FLAG_TEXT["worker_changed"]
    out["reasons"] = [[words[k] for k in ("band_rose", "not_reviewed", "worker_changed", "not_shared", "mismatch",
                                          "unbanded") if row[k]] for _, row in out.iterrows()]
    return out.reset_index()[columns].sort_values("person_id").reset_index(drop=True)


# from the store ------------------------------------------------------------------------------------------------
ASSESSMENT_FIELDS = ["assessment_id", "person_id", "assessed_on", "score", "assessor", "allocated_worker",
                     "shared_on", "police_exploitation_grade"]
ALLOCATION_FIELDS = ["allocation_id", "person_id", "allocated_worker", "allocated_on"]
REFERRAL_FIELDS = ["referral_id", "person_id", "kind", "referred_on", "referrer_agency", "outcome", "decided_on"]


def read_assessments(store, people=None) -> pd.DataFrame:
    """The risk assessments held (of ``people`` when given)."""
    among = {"person_id": list(people)} if people is not None else None
    return store.read_layer("risk_assessments", ASSESSMENT_FIELDS, among=among)


def read_risk_layers(store, people=None) -> dict[str, pd.DataFrame]:
    """The assessments, worker allocations and referrals held (of ``people`` when given)."""
    among = {"person_id": list(people)} if people is not None else None
    return {"assessments": read_assessments(store, people),
            "allocations": store.read_layer("worker_allocations", ALLOCATION_FIELDS, among=among),
            "referrals": store.read_layer("safeguarding_referrals", REFERRAL_FIELDS, among=among)}


def borough_children(store, borough: str) -> list[str]:
    """The children at risk whose home borough is ``borough`` (adults who pose risk are never read here)."""
    people = store.read_layer("people", ["person_id", "subject_category"], equals={"home_borough": borough})
    return sorted(people.person_id[people.subject_category == "child_at_risk"])


def risk_tracking(store, borough: str, *, as_of, review_days: int | None = None) -> dict:
    """The borough's children with a risk matrix, on ``as_of``: ``children`` (``risk_flags`` rows, flagged first),
    ``histories`` (person_id -> their scores, oldest first), ``bands`` in use, ``review_days`` and ``people``
    (whose records are shown, for the audit)."""
    from ..config import default

    if review_days is None:
        settings = getattr(store, "settings", None)
        review_days = settings.risk_review_days if settings is not None else default("risk_review_days")
    known = {b["code"] for b in store.boundaries(("borough",))}
    if borough not in known:
        raise RiskError(f"unknown borough {borough!r}: give the GSS code of a loaded borough such as "
                        f"{', '.join(sorted(known)[:3]) or 'E09000024'}")
    bands = configured_bands(store)
    children = borough_children(store, borough)
    data = read_risk_layers(store, children)
    flags = risk_flags(data["assessments"], data["allocations"], data["referrals"], as_of=as_of,
                       review_days=review_days, bands=bands)
    flags = flags.assign(flagged=flags.reasons.map(len)).sort_values(["flagged", "person_id"],
                                                                     ascending=[False, True])
    history = score_histories(data["assessments"], bands)
    history = history[history.assessed_on <= _day(as_of)]
    histories = {child: part[["assessed_on", "score", "band", "movement", "allocated_worker", "shared_on",
                              "police_exploitation_grade"]].to_dict("records")
                 for child, part in history.groupby("person_id")}
    return {"children": [_plain(r) for r in flags.to_dict("records")],
            "histories": {c: [_plain(r) for r in rows] for c, rows in histories.items()}, "bands": bands,
            "review_days": review_days, "as_of": _day(as_of).date(), "people": sorted(flags.person_id)}


def _plain(record: dict) -> dict:
    """A record with its empty values (NaN, NaT, pandas' NA) as None and its dates as dates, for pages and text."""
    out = {}
    for key, value in record.items():
        if isinstance(value, (list, tuple)):
            out[key] = value
        elif value is None or (not isinstance(value, str) and pd.isna(value)):
            out[key] = None
        elif key in ("shared_on", "worker_since"):
            out[key] = pd.Timestamp(value).date()
        else:
            out[key] = value
    return out


def default_day(store, today: date | None = None) -> date:
    """The day risk is judged on by default: today, or the last day the risk records reach when they end earlier
    (a demo, or a store not loaded since), so the flags describe the records rather than their age."""
    today = today or date.today()
    days = [store.latest(layer, field) for layer, field in (("risk_assessments", "assessed_on"),
                                                            ("risk_assessments", "shared_on"),
                                                            ("worker_allocations", "allocated_on"))]
    days = [pd.Timestamp(d).date() for d in days if d is not None]
    return min(today, max(days)) if days else today
