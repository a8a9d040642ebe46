"""From a recorded intervention to its evaluation: the area's cells, monthly incident counts, the effect per type.

An intervention (layer ``interventions``) names its area as places of the places layer and/or H3 cells. Each named
place becomes its cell at ``res`` and the ``ring`` of cells around it (a park is bigger than one point); recorded
cells of another resolution are converted. The counts are incidents per cell of the intervention's borough (and the
treated cells, should a place lie over its edge) per calendar month, from ``months_before`` months before the month
the intervention started to ``months_after`` months from it, within the months the incidents layer holds; every
crime type with incidents in the borough, and all incidents together. ``intervention_effect`` (``evaluation.py``)
then compares the treated cells with comparison cells it chooses.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

import pandas as pd

from .. import cells as h3cells
from ..errors import GeoserviceError
from ..places import named_places
from ..store.db import Store
from ..store.tables import cell_column
from .counts import study_cells
from .evaluation import InterventionEffect, intervention_effect

ALL_INCIDENTS = "All incidents"


class InterventionError(GeoserviceError, ValueError):
    """An intervention that cannot be evaluated as recorded or asked: unknown, no area, unknown places."""


@dataclass
class InterventionEvaluation:
    """One intervention's record, its cells, and the effect on each crime type (``ALL_INCIDENTS`` first)."""

    record: dict
    treated: list
    places: list
    months: list
    effects: dict[str, InterventionEffect] = field(default_factory=dict)
    settings: dict = field(default_factory=dict)


def _split(text) -> list[str]:
    return [part.strip() for part in str(text or "").split(";") if part.strip()]


def intervention_record(store: Store, intervention_id: str) -> dict:
    """The intervention's row, or an error listing the ones recorded."""
    rows = store.read_layer("interventions", equals={"intervention_id": intervention_id})
    if rows.empty:
        known = sorted(store.read_layer("interventions", ["intervention_id"]).intervention_id)
        raise InterventionError(f"no intervention {intervention_id!r} is recorded; "
                                + (f"recorded: {', '.join(known[:20])}" if known else
                                   "load some first: geoservice ingest interventions <file.csv>"))
    return rows.iloc[0].to_dict()


def intervention_cells(store: Store, record: dict, *, res: int = 9, ring: int = 1) -> tuple[list[int], list[str]]:
    """The treated cells (integers at ``res``) of the record's named places (each with ``ring`` rings) and cells."""
    names, written = _split(record.get("places")), _split(record.get("cells"))
    if not names and not written:
        raise InterventionError(f"intervention {record['intervention_id']!r} names no places and no cells; record "
                                "its area as place names or H3 cells, separated by ';'")
    treated: list[int] = []
    if names:
        places = named_places(store)
        by_name = {n.casefold(): row for n, row in zip(places.name, places.itertuples())}
        for name in names:
            place = by_name.get(name.casefold())
            if place is None:
                close = difflib.get_close_matches(name, list(places.name), n=3)
                hint = f" (did you mean {', '.join(map(repr, close))}?)" if close else ""
                raise InterventionError(f"intervention {record['intervention_id']!r} names the place {name!r}, which "
                                        f"is not in the places layer{hint}")
            treated += h3cells.disk(h3cells.point_to_cell(place.lat, place.lng, res), ring)
    if written:
        try:
            treated += h3cells.cells_at_res(h3cells.as_index(written), res)
        except h3cells.CellError as exc:
            raise InterventionError(f"intervention {record['intervention_id']!r}: its cells {written[:3]} ... "
                                    f"cannot be read ({exc})") from None
    return list(dict.fromkeys(int(c) for c in treated)), names


def intervention_counts(store: Store, record: dict, treated: list[int], *, res: int = 9, months_before: int = 12,
                        months_after: int = 12) -> dict[str, pd.DataFrame]:
    """Incidents per cell per month around the intervention: ``{crime type: frame}``, ``ALL_INCIDENTS`` first."""
    start = pd.Period(pd.Timestamp(record["started_on"]), freq="M")
    low, high = store.time_extent("incidents", "month")
    if low is None:
        raise InterventionError("the incidents layer is empty; load incidents first: geoservice ingest incidents "
                                "<police.uk file>")
    first = max(start - months_before, pd.Period(pd.Timestamp(low), freq="M"))
    last = min(start + months_after - 1, pd.Period(pd.Timestamp(high), freq="M"))
    months = pd.period_range(first, max(last, first), freq="M") if last >= first else pd.PeriodIndex([], freq="M")
    cells = study_cells(store, [record["borough"]], res).union(pd.Index(treated, dtype="int64"))
    column = cell_column("location", res)
    rows = store.read_layer("incidents", ["month", "crime_type", column], present=[column])
    rows = rows[rows[column].isin(cells)]
    rows = rows.assign(period=pd.PeriodIndex(pd.to_datetime(rows["month"]), freq="M"))
    months = _months_with_records(months, set(rows.period), start)
    rows = rows[rows.period.isin(months)]
    labels = [str(m) for m in months]

    def frame(selected: pd.DataFrame) -> pd.DataFrame:
        table = selected.groupby([column, selected.period.astype(str)]).size().unstack(fill_value=0)
        return table.reindex(index=cells, columns=labels, fill_value=0).astype("int64").rename_axis("cell")

    out = {ALL_INCIDENTS: frame(rows)}
    for crime_type in rows.crime_type.value_counts().index:
        out[str(crime_type)] = frame(rows[rows.crime_type == crime_type])
    return out


def _months_with_records(months: pd.PeriodIndex, held: set, start: pd.Period) -> pd.PeriodIndex:
    """The unbroken run of ``months`` around ``start`` in which the borough has incidents at all: a month with
    none anywhere is a gap in the records (a borough never has a month without one), not a month of zero, and
    counting it as zero would bias the comparison. The run stops at the first gap on each side of the start."""
    if not len(months):
        return months
    before = [m for m in months if m < start][::-1]
    after = [m for m in months if m >= start]
    kept_before = []
    for month in before:
        if month not in held:
            break
        kept_before.append(month)
    kept_after = []
    for month in after:
        if month not in held:
            break
        kept_after.append(month)
    return pd.PeriodIndex(sorted(kept_before) + kept_after, freq="M")


def evaluate_intervention(store: Store, intervention_id: str, *, res: int = 9, ring: int = 1,
                          months_before: int = 12, months_after: int = 12, matches: int = 5, buffer: int = 1,
                          seed: int = 0) -> InterventionEvaluation:
    """The effect of a recorded intervention on incidents, overall and by crime type (see the module)."""
    if not 1 <= months_before <= 120 or not 1 <= months_after <= 120:
        raise InterventionError(f"months before and after must be 1-120, got {months_before} and {months_after}")
    if res not in store.resolutions:
        raise InterventionError(f"res must be one of the stored resolutions {list(store.resolutions)}, got {res}")
    if not 0 <= ring <= 3:
        raise InterventionError(f"ring must be 0-3 (rings of cells around each named place), got {ring}")
    record = intervention_record(store, intervention_id)
    treated, names = intervention_cells(store, record, res=res, ring=ring)
    counts = intervention_counts(store, record, treated, res=res, months_before=months_before,
                                 months_after=months_after)
    start = pd.Period(pd.Timestamp(record["started_on"]), freq="M")
    effects = {name: intervention_effect(frame, treated, str(start), matches=matches, buffer=buffer, seed=seed)
               for name, frame in counts.items()}
    months = list(counts[ALL_INCIDENTS].columns)
    return InterventionEvaluation(record=record, treated=treated, places=names, months=months, effects=effects,
                                  settings={"res": res, "ring": ring, "months_before": months_before,
                                            "months_after": months_after, "matches": matches, "buffer": buffer,
                                            "seed": seed})
