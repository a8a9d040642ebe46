"""The audit log: who did what with personal data, when, why, and for whom. Append-only and hash-chained.

Every collection, alteration, consultation, disclosure, combination and erasure of personal data (the six
operations of the Data Protection Act 2018 s.62) is one event: user, UTC time, operation, the objects concerned,
the recipient of a disclosure, and the justification the user gave.

Each event's ``hash`` is SHA-256 over the previous event's hash and the event's own fields, written canonically
(JSON, sorted keys). ``audit_head`` holds the latest sequence number and hash, updated in the same transaction.
Database triggers refuse UPDATE and DELETE on the events. ``verify`` recomputes the chain and finds:

- a changed byte in any entry;
- a removed entry anywhere: a gap in the sequence, or a broken link, or a head that no longer matches.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from datetime import datetime, timezone

from sqlalchemy import select, text

from ..errors import GeoserviceError
from ..store.db import Store

OPERATIONS = ("collection", "alteration", "consultation", "disclosure", "combination", "erasure")
GENESIS = "0" * 64


class AuditError(GeoserviceError, ValueError):
    """An audit event that cannot be recorded as asked."""


def _utc(at: datetime | None) -> datetime:
    at = at or datetime.now(timezone.utc)
    return (at.astimezone(timezone.utc) if at.tzinfo else at).replace(tzinfo=None)


def event_hash(prev_hash: str, event: dict) -> str:
    """SHA-256 of the previous hash and the event's fields (seq, at, username, operation, objects, recipient,
    justification), canonically written."""
    fields = {k: event[k] for k in ("seq", "username", "operation", "objects", "recipient", "justification")}
    fields["at"] = event["at"].strftime("%Y-%m-%dT%H:%M:%S.%f")
    body = json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256((prev_hash + body).encode("utf-8")).hexdigest()


def _event(username: str, operation: str, objects, justification: str, recipient: str | None, at) -> dict:
    if operation not in OPERATIONS:
        raise AuditError(f"operation must be one of {OPERATIONS}, got {operation!r}")
    if not username:
        raise AuditError("an audit event needs the user who acted")
    if not justification or not justification.strip():
        raise AuditError("give a justification: why this personal data was needed")
    if operation == "disclosure" and not recipient:
        raise AuditError("a disclosure names its recipient")
    objects = json.dumps(sorted(str(o) for o in objects), ensure_ascii=False) if not isinstance(objects, str) \
        else objects
    return {"username": username, "operation": operation, "objects": objects, "recipient": recipient,
            "justification": justification.strip(), "at": _utc(at)}


def _lock(conn, store: Store) -> None:
    """One appender at a time, so the chain never forks (SQLite: the writer lock ``store.writing`` takes)."""
    if store.is_postgres:
        conn.execute(text("LOCK TABLE audit_head IN EXCLUSIVE MODE"))


def record_events(store: Store, events: list[dict], conn=None) -> list[int]:
    """Append events (dicts of ``username``, ``operation``, ``objects``, ``justification`` and optionally
    ``recipient``, ``at``) in one transaction; returns their sequence numbers. With ``conn``, appends inside
    that transaction (so an ingest and its audit event commit together)."""
    if conn is None:
        with store.writing() as own:
            return record_events(store, events, own)
    prepared = [_event(e["username"], e["operation"], e.get("objects", []), e.get("justification", ""),
                       e.get("recipient"), e.get("at")) for e in events]
    _lock(conn, store)
    events_table, head = store.metadata.tables["audit_events"], store.metadata.tables["audit_head"]
    row = conn.execute(select(head.c.seq, head.c.hash).where(head.c.id == 1)).first()
    seq, prev = (row.seq, row.hash) if row else (0, GENESIS)
    rows = []
    for event in prepared:
        seq += 1
        event.update(seq=seq, prev_hash=prev)
        event["hash"] = prev = event_hash(prev, event)
        rows.append(event)
    conn.execute(events_table.insert(), rows)
    if row:
        conn.execute(head.update().where(head.c.id == 1).values(seq=seq, hash=prev))
    else:
        conn.execute(head.insert().values(id=1, seq=seq, hash=prev))
    return [r["seq"] for r in rows]


def record(store: Store, *, username: str, operation: str, objects=(), justification: str,
           recipient: str | None = None, at=None, conn=None) -> int:
    """Append one event; returns its sequence number."""
    return record_events(store, [{"username": username, "operation": operation, "objects": objects,
                                  "justification": justification, "recipient": recipient, "at": at}], conn)[0]


@dataclasses.dataclass
class Verification:
    ok: bool
    entries: int
    problems: list[str]


def verify(store: Store) -> Verification:
    """Recompute the whole chain; every problem is named with its sequence number."""
    events_table, head = store.metadata.tables["audit_events"], store.metadata.tables["audit_head"]
    problems = []
    prev, expected_seq, count = GENESIS, 1, 0
    with store.engine.connect() as conn:
        result = conn.execute(select(events_table).order_by(events_table.c.seq)).mappings()
        for event in result:
            count += 1
            if event["seq"] != expected_seq:
                problems.append(f"entries {expected_seq}..{event['seq'] - 1} are missing")
            if event["prev_hash"] != prev:
                problems.append(f"entry {event['seq']} does not follow the entry before it (a removed or changed "
                                "entry)")
            if event_hash(event["prev_hash"], dict(event)) != event["hash"]:
                problems.append(f"entry {event['seq']} was changed after it was written")
            prev, expected_seq = event["hash"], event["seq"] + 1
        top = conn.execute(select(head.c.seq, head.c.hash).where(head.c.id == 1)).first()
    if top is None and count:
        problems.append("the chain's head record is missing")
    elif top is not None and (top.seq != expected_seq - 1 or top.hash != prev):
        problems.append(f"the log ends at entry {expected_seq - 1} but its head says {top.seq}: entries were "
                        "removed from the end, or the head was changed")
    return Verification(not problems, count, problems)


def events(store: Store, *, operation: str | None = None, username: str | None = None, limit: int = 100) -> list[dict]:
    """The latest events, newest first (for the audit view)."""
    table = store.metadata.tables["audit_events"]
    query = select(table).order_by(table.c.seq.desc()).limit(limit)
    if operation:
        query = query.where(table.c.operation == operation)
    if username:
        query = query.where(table.c.username == username)
    with store.engine.connect() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]


def person_refs(key: bytes, person_ids) -> list[str]:
    """How the log names people: a keyed pseudonym (``pseudonyms.py``, context "audit"), so the log itself is not
    a list of people. An auditor who knows an id finds its events by computing its pseudonym; once retention has
    erased a person, nothing in the service links the pseudonym back to them."""
    from ..pseudonyms import Pseudonymiser

    pseudonymise = Pseudonymiser(key, "audit")
    return [f"person:{pseudonymise(p)}" for p in person_ids]
