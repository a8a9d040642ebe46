"""Evidence the partnership's own records already hold: two children missing together.

Two missing episodes of different children are taken as "missing together" when the periods they were missing
overlap and they were found within ``max_distance_m`` of each other and within ``max_gap_hours`` of each other.
Each such pair becomes one evidence item of type ``missing_together`` whose source is the pair of episode records,
so it can be checked, graded and expired like any recorded association. A pair an analyst already recorded as an
association (same two episode records) is not derived a second time.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..places import lnglat_to_bng

#: Grading of a derived item: the source is the partnership's own episode records (A); that the two were together
#: is inferred from place and time, not witnessed, so the assessment is "known indirectly, corroborated" (2).
DERIVED_GRADING = ("A", "2")
#: How long a derived link stays in force after the later of the two finds, like a recorded association's expiry.
DERIVED_TTL_DAYS = 730


def episode_pair_key(record: str) -> tuple[str, str] | None:
    """``"ME1|ME2"`` (either order) as a sorted pair, or None when the record is not an episode pair."""
    parts = str(record).split("|")
    return tuple(sorted(parts)) if len(parts) == 2 and all(parts) else None


def _nanoseconds(times: pd.Series) -> np.ndarray:
    return times.dt.tz_convert(None).to_numpy(dtype="datetime64[ns]").astype(np.int64)


def missing_together_pairs(episodes: pd.DataFrame, *, max_distance_m: float = 250.0,
                           max_gap_hours: float = 3.0) -> pd.DataFrame:
    """Pairs of episodes of different children, overlapping in time and found together.

    ``episodes`` needs ``episode_id``, ``person_id``, ``reported_missing_at``, ``found_at``, ``found_lat``,
    ``found_lng``. Returns ``episode_a``, ``episode_b`` (sorted), ``person_a``, ``person_b``, ``found_on`` (the
    later find's date), ``distance_m`` and ``gap_hours``; one row per pair.
    """
    columns = ["episode_a", "episode_b", "person_a", "person_b", "found_on", "distance_m", "gap_hours"]
    found = episodes.dropna(subset=["found_at", "found_lat", "found_lng"])
    if len(found) < 2:
        return pd.DataFrame(columns=columns)
    found = found.assign(found_at=pd.to_datetime(found.found_at, utc=True),
                         reported=pd.to_datetime(found.reported_missing_at, utc=True)).sort_values("found_at")
    found_ns = _nanoseconds(found.found_at)
    reported_ns = _nanoseconds(found.reported)
    x, y = lnglat_to_bng(found.found_lng.to_numpy(float), found.found_lat.to_numpy(float))
    ids, people = found.episode_id.to_numpy(), found.person_id.to_numpy()
    gap_ns = int(max_gap_hours * 3600e9)
    # the window of later finds each episode must be compared with: found no more than gap later
    stop = np.searchsorted(found_ns, found_ns + gap_ns, side="right")
    rows = []
    for i in range(len(found)):
        for j in range(i + 1, stop[i]):
            if people[i] == people[j]:
                continue
            overlap = reported_ns[i] <= found_ns[j] and reported_ns[j] <= found_ns[i]
            distance = float(np.hypot(x[i] - x[j], y[i] - y[j]))
            if overlap and distance <= max_distance_m:
                (ea, pa), (eb, pb) = sorted([(ids[i], people[i]), (ids[j], people[j])])
                rows.append((ea, eb, pa, pb, found.found_at.iloc[j].date(), round(distance, 1),
                             round((found_ns[j] - found_ns[i]) / 3600e9, 2)))
    return pd.DataFrame(rows, columns=columns)


def missing_together_evidence(episodes: pd.DataFrame, recorded: pd.DataFrame, **pair_options) -> pd.DataFrame:
    """Derived evidence items in the associations layer's shape, leaving out pairs already ``recorded``."""
    pairs = missing_together_pairs(episodes, **pair_options)
    columns = ["association_id", "person_a", "person_b", "association_type", "source_layer", "source_record",
               "evidence_date", "source_evaluation", "intelligence_assessment", "expires_on", "derived"]
    if pairs.empty:
        return pd.DataFrame(columns=columns)
    known = set()
    if len(recorded):
        from_episodes = recorded[recorded.source_layer == "missing_episodes"]
        known = {episode_pair_key(r) for r in from_episodes.source_record}
    pairs = pairs[[(a, b) not in known for a, b in zip(pairs.episode_a, pairs.episode_b)]]
    records = pairs.episode_a + "|" + pairs.episode_b
    found_on = pd.to_datetime(pairs.found_on)
    return pd.DataFrame({
        "association_id": "derived:" + records, "person_a": pairs.person_a, "person_b": pairs.person_b,
        "association_type": "missing_together", "source_layer": "missing_episodes", "source_record": records,
        "evidence_date": found_on.dt.date, "source_evaluation": DERIVED_GRADING[0],
        "intelligence_assessment": DERIVED_GRADING[1],
        "expires_on": (found_on + pd.Timedelta(days=DERIVED_TTL_DAYS)).dt.date, "derived": True,
    }, columns=columns).reset_index(drop=True)
