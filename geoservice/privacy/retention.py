"""Retention: records past their review date are erased, and only the fact of erasure is kept.

Retention is for personal data: layers whose sensitivity is ``person`` or ``aggregate`` (records about people,
shown only in aggregate). Public open data (police.uk incidents, places, boundaries) is never erased by it.

Every stored row has ``retain_until``: its review date, set at ingest from its layer's retention rule. This rule
is, for example, six years from the date a person was recorded. ``run_retention`` deletes, in one transaction:

- every row of every personal-data layer whose review date has passed;
- everything about a person whose ``people`` record has gone: their associations, missing episodes and any
  other person-layer row naming them;
- quarantined rows kept longer than their layer's retention period. A rejected row holds the same personal data
  as an accepted one.

Graphs, groups, maps and reports are computed from the store when asked, so nothing derived outlives its
records. The audit log gets one ``erasure`` event with counts per table. It holds no identifiers: no feature
keeps a list of removed people.
"""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, timedelta


from ..store.db import Store
from ..errors import GeoserviceError
from ..policy import PERSONAL_SENSITIVITIES as PERSONAL
from .audit import person_refs, record

#: Fields that name a person in person-sensitivity layers (the people layer's own key is ``person_id``).
PERSON_FIELDS = ("person_id", "person_a", "person_b")



@dataclasses.dataclass
class RetentionReport:
    today: date
    removed: dict[str, int]
    audit_seq: int | None

    @property
    def total(self) -> int:
        return sum(self.removed.values())


def run_retention(store: Store, *, today: date | None = None, username: str = "retention",
                  justification: str = "scheduled retention review: records past their review date") -> RetentionReport:
    """Erase what is past its review date (see the module docstring); returns counts per table."""
    today = today or date.today()
    removed: dict[str, int] = {}
    with store.writing() as conn:
        erased_people = store.keys_past_review(conn, "people", "person_id", today) if "people" in store.specs else []
        for name, spec in store.specs.items():
            if spec.sensitivity not in PERSONAL:
                continue  # public open data: nothing personal to erase
            naming = {}
            if erased_people and spec.sensitivity == "person" and name != "people":
                naming = {f: erased_people for f in PERSON_FIELDS if f in spec.field_names}
            count = store.erase_rows(conn, name, today, naming=naming)
            if count:
                removed[name] = count
        for name, spec in store.specs.items():
            cutoff = datetime.combine(today, datetime.min.time()) - timedelta(days=round(365.25 * spec.retention_years))
            count = store.erase_quarantine(conn, name, cutoff)
            if count:
                removed[f"quarantine:{name}"] = count
        seq = None
        if removed:
            seq = record(store, username=username, operation="erasure",
                         objects=[f"{table}: {n} rows" for table, n in sorted(removed.items())],
                         justification=f"{justification} ({today})", conn=conn)
    if removed:
        store.checkpoint()  # nothing erased stays readable in SQLite's write-ahead log
    return RetentionReport(today, removed, seq)



def extend_review(store: Store, layer: str, key_value: str, until: date, *, username: str, justification: str,
                  key: bytes) -> int:
    """Move one record's review date (a person the partnership is still working with, say).

    This is an ``alteration`` of personal data, audited in the same transaction. The record is named in the log
    by its keyed pseudonym (``key``, see ``audit.person_refs``). ``key_value`` is the value of the layer's single
    key field. Returns the number of rows changed."""
    spec = store.specs.get(layer)
    if spec is None or len(spec.key) != 1:
        raise GeoserviceError(f"review dates are moved by a layer's single key field; {layer!r} has "
                              f"{spec.key if spec else 'no spec'}")
    with store.writing() as conn:
        changed = store.set_review_date(conn, layer, spec.key[0], key_value, until)
        if not changed:
            raise GeoserviceError(f"no {layer} record with {spec.key[0]} = {key_value!r}")
        ref = person_refs(key, [key_value])[0].replace("person:", f"{layer}:")
        record(store, username=username, operation="alteration", objects=[ref, f"review date: {until}"],
               justification=justification, conn=conn)
    return changed
