"""The audit log: who did what with personal data, when, why, and for whom. Append-only, hash-chained with a
secret key, and anchored outside the database.

Every collection, alteration, consultation, disclosure, combination and erasure of personal data (the six
operations of the Data Protection Act 2018 s.62) is one event: user, UTC time, operation, the objects concerned,
the recipient of a disclosure, and the justification the user gave. Control characters in the text are stored as
visible escapes (``\\x1b``), so the log cannot carry terminal escape sequences.

- **Chain.** Each event's ``hash`` is HMAC-SHA-256 over the previous event's hash and the event's own fields
  (canonical JSON). The key is the ``audit_key`` setting, else ``audit.key`` in the instance folder (made on
  first use). Without the key, nobody can write a chain that verifies. ``audit_head`` holds the latest entry,
  and triggers refuse UPDATE and DELETE.
- **Anchor.** After every committed append, one line (UTC time, entry number, hash, and an HMAC of these) is
  appended to the anchor file (``audit_anchor`` setting, else ``instance/audit-anchor.log``). Nothing is anchored
  for a transaction that rolls back. ``Store.drop_all`` writes a ``reset`` line, so a rebuilt store verifies.

``verify`` finds a changed entry, a removed one (a gap, a broken link, a head that does not match), and, against
the anchor, a log cut at its end, emptied, or rewritten even with the key. It also reports a missing anchor file
and anchor lines not signed with the key. Someone holding both the key and the anchor file can still rewrite
the log undetected.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import os
import re
import weakref
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path


from ..config import MERTON_AND_NEIGHBOURS, Settings
from ..errors import GeoserviceError
from ..pseudonyms import make_secret_file
from ..store.db import Store

OPERATIONS = ("collection", "alteration", "consultation", "disclosure", "combination", "erasure")
GENESIS = "0" * 64
#: Users that are not people signed in to the service: the command line and the service's own jobs.
SYSTEM_USERS = ("retention", "system")
MAX_PROBLEMS = 50


class AuditError(GeoserviceError, ValueError):
    """An audit event that cannot be recorded as asked, or a log that cannot be checked."""


# text ---------------------------------------------------------------------------------------------------------
#: C0 and C1 controls, DEL, line and paragraph separators and the bidirectional overrides: what can move a
#: terminal's cursor, change its colours or reorder what a reader sees.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_SPACE = re.compile("[\t\n\r\v\f]+")


def _escape(match: re.Match) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(value) -> str:
    """``value`` as text with every control character written visibly (ESC as ``\\x1b``)."""
    return _CONTROL.sub(_escape, str(value))


def _plain(value: str) -> str:
    """Text as the log stores it: runs of tabs and line breaks become one space, other controls visible escapes."""
    return printable(_SPACE.sub(" ", value))


def _utc(at: datetime | None) -> datetime:
    at = at or datetime.now(timezone.utc)
    return (at.astimezone(timezone.utc) if at.tzinfo else at).replace(tzinfo=None)


# the key ------------------------------------------------------------------------------------------------------
_KEYS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # store -> (chain key, anchor key)


def _settings(store: Store) -> Settings:
    if store.settings is None:
        raise AuditError("this store was made without settings, so the audit log has no key and no anchor; "
                         "make it with Store.from_settings(settings)")
    return store.settings


def key_path(settings: Settings) -> Path | None:
    """The instance's key file, or None when the ``audit_key`` setting gives the key."""
    return None if settings.audit_key else Path(settings.instance_path) / "audit.key"


def anchor_path(settings: Settings) -> Path:
    return Path(settings.audit_anchor) if settings.audit_anchor else Path(settings.instance_path) / "audit-anchor.log"


def _keys(store: Store, *, create: bool) -> tuple[bytes, bytes] | None:
    """(chain key, anchor key), both derived from the audit key, read once per store. None when the key file
    does not exist and ``create`` is false."""
    keys = _KEYS.get(store)
    if keys is not None:
        return keys
    settings = _settings(store)
    path = key_path(settings)
    if path is None:
        secret = settings.audit_key.encode()
    else:
        if not path.exists():
            if not create:
                return None
            make_secret_file(path)
        secret = path.read_bytes().strip()
        if not secret:
            raise AuditError(f"the audit key file {path} is empty; restore the key from where you keep it")
    keys = (hmac.new(secret, b"audit chain", hashlib.sha256).digest(),
            hmac.new(secret, b"audit anchor", hashlib.sha256).digest())
    _KEYS[store] = keys
    return keys


def _missing_key(settings: Settings) -> str:
    return (f"the audit key {key_path(settings)} is missing, so the chain cannot be checked; restore it from where "
            "you keep it, or set GEOSERVICE_AUDIT_KEY to it")


# the chain ----------------------------------------------------------------------------------------------------
def _body(prev_hash: str, event) -> bytes:
    fields = {k: event[k] for k in ("seq", "username", "operation", "objects", "recipient", "justification")}
    fields["at"] = event["at"].strftime("%Y-%m-%dT%H:%M:%S.%f")
    return (prev_hash + json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":"))).encode()


def event_hash(key: bytes, prev_hash: str, event) -> str:
    """HMAC-SHA-256 (``key``: the chain key) of the previous hash and the event's fields (seq, at, username,
    operation, objects, recipient, justification), canonically written."""
    return hmac.new(key, _body(prev_hash, event), hashlib.sha256).hexdigest()


def _unkeyed_hash(prev_hash: str, event) -> str:
    """The hash the log used before it was keyed: plain SHA-256, which anyone can recompute."""
    return hashlib.sha256(_body(prev_hash, event)).hexdigest()


def _event(username: str, operation: str, objects, justification: str, recipient: str | None, at) -> dict:
    if operation not in OPERATIONS:
        raise AuditError(f"operation must be one of {OPERATIONS}, got {operation!r}")
    if not username or not username.strip():
        raise AuditError("an audit event needs the user who acted")
    if not justification or not justification.strip():
        raise AuditError("give a justification: why this personal data was needed")
    if operation == "disclosure" and not recipient:
        raise AuditError("a disclosure names its recipient")
    if not isinstance(objects, str):
        objects = json.dumps(sorted(_plain(str(o)) for o in objects), ensure_ascii=False)
    return {"username": _plain(username), "operation": operation, "objects": objects,
            "recipient": _plain(recipient) if recipient else recipient,
            "justification": _plain(justification).strip(), "at": _utc(at)}


def record_events(store: Store, events: list[dict], conn=None) -> list[int]:
    """Append events (dicts of ``username``, ``operation``, ``objects``, ``justification`` and optionally
    ``recipient``, ``at``) in one transaction; returns their sequence numbers. With ``conn`` (a
    ``store.writing()`` transaction), appends inside it, so an ingest and its audit event commit together.
    The new head is anchored once the transaction has committed."""
    if not events:
        return []
    if conn is None:
        with store.writing() as own:
            return record_events(store, events, own)
    prepared = [_event(e["username"], e["operation"], e.get("objects", []), e.get("justification", ""),
                       e.get("recipient"), e.get("at")) for e in events]
    store.lock_audit(conn)
    row = store.audit_head(conn)
    seq, prev = row if row else (0, GENESIS)
    keys = _keys(store, create=seq == 0)
    if keys is None:  # a log with entries whose key went: new entries would never verify
        raise AuditError(_missing_key(store.settings) + "; nothing was recorded")
    rows = []
    for event in prepared:
        seq += 1
        event.update(seq=seq, prev_hash=prev)
        event["hash"] = prev = event_hash(keys[0], prev, event)
        rows.append(event)
    store.after_commit(conn, lambda key=keys[1], seq=seq, hash_=prev: _anchor(store, key, "head", seq, hash_))
    store.append_audit(conn, rows, seq, prev, new_head=row is None)
    return [r["seq"] for r in rows]


def record(store: Store, *, username: str, operation: str, objects=(), justification: str,
           recipient: str | None = None, at=None, conn=None) -> int:
    """Append one event; returns its sequence number."""
    return record_events(store, [{"username": username, "operation": operation, "objects": objects,
                                  "justification": justification, "recipient": recipient, "at": at}], conn)[0]


# the anchor ---------------------------------------------------------------------------------------------------
def _anchor_mac(key: bytes, body: str) -> str:
    return hmac.new(key, body.encode(), hashlib.sha256).hexdigest()


def _anchor(store: Store, key: bytes, kind: str, seq: int, hash_: str) -> None:
    """Append one line ``<UTC time> <kind> <seq> <hash> <mac>`` to the anchor file, in one write (O_APPEND, so
    processes writing at once never mix their lines)."""
    path = anchor_path(store.settings)
    body = f"{datetime.now(timezone.utc):%Y-%m-%dT%H:%M:%S.%fZ} {kind} {seq} {hash_}"
    line = f"{body} {_anchor_mac(key, body)}\n".encode()
    try:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        except FileNotFoundError:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            if os.write(fd, line) != len(line):
                raise OSError("the line was written only in part (is the disk full?)")
        finally:
            os.close(fd)
    except OSError as exc:
        what = f"entry {seq} is in the log" if kind == "head" else "the log was dropped"
        raise AuditError(f"{what} but could not be anchored in {path}: {exc.strerror or exc}. Make the file "
                         "writable by the service, or set GEOSERVICE_AUDIT_ANCHOR to a file it can append to"
                         ) from None


@contextmanager
def anchor_reset(store: Store):
    """Around dropping the tables: afterwards, write a ``reset`` line naming the head that was dropped, so the
    emptied log still verifies. Nothing is written for a store that never had an anchored log."""
    settings = store.settings
    if settings is None:
        yield
        return
    top = store.audit_head()
    if top is None and not anchor_path(settings).exists():
        yield
        return
    yield
    keys = _keys(store, create=True)
    _anchor(store, keys[1], "reset", *(top if top else (0, GENESIS)))


@dataclasses.dataclass
class _Anchored:
    seq: int
    hash: str
    at: str


def _read_anchor(path: Path, key: bytes | None) -> tuple[dict[int, _Anchored], list[_Anchored], list[str]]:
    """Every head anchored since the last reset (by entry number), the resets, and the file's problems. Bad lines
    before a reset belong to a dropped log and are not reported; a reset that dropped less than had been anchored
    is, and so is an entry anchored twice with different hashes (a log cut or emptied, then grown again)."""
    anchored: dict[int, _Anchored] = {}
    resets, dropped_short, bad = [], [], []
    with open(path, "rb") as lines:  # line by line: the file grows with every append
        for number, raw in enumerate(lines, 1):
            line = raw.decode("utf-8", "replace")
            parts = line.split()
            if not parts:
                continue
            if (len(parts) != 5 or parts[1] not in ("head", "reset") or not parts[2].isdigit()
                    or not re.fullmatch("[0-9a-f]{64}", parts[3]) or not re.fullmatch("[0-9a-f]{64}", parts[4])):
                bad.append(f"line {number} of the anchor file {path} is not an anchor line: "
                           f"\"{printable(line.rstrip()[:80])}\"")
                continue
            # without the key (verify reports that) the lines are read but cannot be checked
            if key is not None and not hmac.compare_digest(_anchor_mac(key, " ".join(parts[:4])), parts[4]):
                bad.append(f"line {number} of the anchor file {path} is not signed with the audit key: forged, or "
                           "written with another key")
                continue
            item = _Anchored(int(parts[2]), parts[3], parts[0])
            if parts[1] == "head":
                earlier = anchored.get(item.seq)
                if earlier is not None and earlier.hash != item.hash:
                    bad.append(f"entry {item.seq} was anchored at {earlier.at} and again, with another hash, at "
                               f"{item.at}: the log was cut or emptied and has grown again")
                anchored.setdefault(item.seq, item)
                continue
            latest = anchored[max(anchored)] if anchored else None
            if latest is not None and (item.seq < latest.seq or item.seq == latest.seq and item.hash != latest.hash):
                dropped_short.append(f"the log dropped at {item.at} ended at entry {item.seq}, but entry "
                                     f"{latest.seq} had been anchored at {latest.at}: it was cut or rewritten "
                                     "before it was dropped")
            resets.append(item)
            anchored, bad = {}, []
    return anchored, resets, dropped_short + bad


# checking -----------------------------------------------------------------------------------------------------
@dataclasses.dataclass
class Verification:
    ok: bool
    entries: int
    problems: list[str]
    notes: list[str] = dataclasses.field(default_factory=list)


class _Problems(list):
    """Problems in log order; a run of changed entries is one problem, and there are at most MAX_PROBLEMS."""

    def __init__(self):
        super().__init__()
        self._run = None  # [kind, first, last]
        self.dropped = 0

    def add(self, message: str) -> None:
        self.flush()
        if len(self) < MAX_PROBLEMS:
            self.append(message)
        else:
            self.dropped += 1

    def changed(self, seq: int, unkeyed: bool) -> None:
        kind = "unkeyed" if unkeyed else "changed"
        if self._run and self._run[0] == kind and self._run[2] == seq - 1:
            self._run[2] = seq
            return
        self.flush()
        self._run = [kind, seq, seq]

    def flush(self) -> None:
        if self._run is None:
            return
        kind, first, last = self._run
        self._run = None
        what = f"entry {first} was" if first == last else f"entries {first}..{last} were"
        self.add(f"{what} changed after it was written" if first == last else
                 f"{what} changed after they were written")
        if kind == "unkeyed":
            self[-1] += (": hashed with plain SHA-256, not the audit key (rewritten by someone without the key, or "
                         "written before the log was keyed)")

    def result(self) -> list[str]:
        self.flush()
        return list(self) + ([f"… and {self.dropped} more problems"] if self.dropped else [])


def verify(store: Store) -> Verification:
    """Check the whole log: the keyed chain, the sequence, the head row and the anchor. Every problem is named."""
    settings = _settings(store)
    keys = _keys(store, create=False)
    path = anchor_path(settings)
    problems, notes = _Problems(), []
    # the anchor first: a line is written only after its entries commit, so all it names must be in the log
    anchored, resets = {}, []
    anchor_exists = path.exists()
    if anchor_exists:
        try:
            anchored, resets, anchor_problems = _read_anchor(path, keys[1] if keys else None)
        except OSError as exc:
            anchor_problems = [f"the anchor file {path} cannot be read ({exc.strerror}); let the auditor read it"]
        for problem in anchor_problems:
            problems.add(problem)
    if resets:
        notes.append(f"the log was reset (its tables dropped) {len(resets)} time(s), last at {resets[-1].at}, when "
                     f"it ended at entry {resets[-1].seq:,}")
    latest = anchored[max(anchored)] if anchored else None
    prev, expected_seq, count, rewritten = GENESIS, 1, 0, []
    with store.audit_snapshot() as conn:
        for event in store.audit_events_in_order(conn):
            count += 1
            seq = event["seq"]
            if seq != expected_seq:
                problems.add(f"entry {expected_seq} is missing" if seq - 1 == expected_seq else
                             f"entries {expected_seq}..{seq - 1} are missing")
            if event["prev_hash"] != prev:
                problems.add(f"entry {seq} does not follow the entry before it (a removed or changed entry)")
            if keys and not hmac.compare_digest(event_hash(keys[0], event["prev_hash"], event), event["hash"]):
                problems.changed(seq, _unkeyed_hash(event["prev_hash"], event) == event["hash"])
            mark = anchored.pop(seq, None)  # every anchored entry must be in the log as anchored
            if mark is not None and mark.hash != event["hash"]:
                rewritten.append(mark)
            prev, expected_seq = event["hash"], seq + 1
        top = store.audit_head(conn)
    last = expected_seq - 1
    if top is None and count:
        problems.add("the chain's head record is missing")
    elif top is not None and (top[0] != last or top[1] != prev):
        problems.add(f"the log ends at entry {last} but its head says {top[0]}: entries were removed from the end, "
                     "or the head was changed")
    if keys is None and (count or top is not None or anchor_exists):
        problems.add(_missing_key(settings))
    if not anchor_exists:
        if count or top is not None:
            problems.add(f"the anchor file {path} is missing but the log holds {count:,} entries, so a cut or "
                         "rewritten log cannot be told from an intact one; restore the file, or set "
                         "GEOSERVICE_AUDIT_ANCHOR to where it is")
    elif latest is None:
        if count:
            problems.add(f"the log holds {count:,} entries but the anchor file {path} anchors none of them: the "
                         "file was replaced or emptied")
    elif latest.seq > last:
        problems.add(f"entry {latest.seq} was anchored at {latest.at} but the log "
                     + ("holds no entries: it was emptied" if not count else
                        f"ends at entry {last}: entries were removed from its end"))
    if rewritten:
        named = max(rewritten, key=lambda mark: mark.seq)
        others = f" (and {len(rewritten) - 1:,} other anchored entries)" if len(rewritten) > 1 else ""
        problems.add(f"entry {named.seq} differs from its anchor of {named.at}{others}: the log was rewritten, or "
                     "cut and grown again")
    missing = [mark for seq, mark in anchored.items() if seq <= last]  # anchored but gone from the log
    if missing:
        problems.add(f"{len(missing):,} anchored entries are missing from the log (the first, entry "
                     f"{min(m.seq for m in missing)})")
    found = problems.result()
    return Verification(not found, count, found, notes)


# reading ------------------------------------------------------------------------------------------------------
def _is_system(username: str) -> bool:
    return username.startswith("cli:") or username.split(":")[0] in SYSTEM_USERS


def _visibility(store: Store, boroughs) -> dict:
    """Which users' events a viewer scoped to ``boroughs`` sees: those of users whose boroughs all lie within
    them; those of the command line, the service itself or unknown users only when the viewer's boroughs cover
    the whole study area. As ``only_users`` or ``except_users`` for ``Store.latest_audit_events``."""
    viewer = set(boroughs)
    study_area = store.settings.study_area if store.settings is not None else MERTON_AND_NEIGHBOURS
    inside, outside = [], []
    for username, scope in store.user_scopes().items():
        (inside if set(filter(None, scope)) <= viewer else outside).append(username)
    if set(study_area) <= viewer:
        return {"except_users": outside}
    return {"only_users": [u for u in inside if not _is_system(u)]}


def events(store: Store, *, operation: str | None = None, username: str | None = None, limit: int = 100,
           visible_to=None) -> list[dict]:
    """The latest events, newest first (for the audit view). With ``visible_to`` (the viewer's boroughs), only
    the events that viewer may see (see ``_visibility``)."""
    scope = _visibility(store, visible_to) if visible_to is not None else {}
    return store.latest_audit_events(operation=operation, username=username, limit=limit, **scope)


def person_refs(key: bytes, person_ids) -> list[str]:
    """How the log names people: a keyed pseudonym (``pseudonyms.py``, context "audit"), so the log itself is not
    a list of people. An auditor who knows an id finds its events by computing its pseudonym; once retention has
    erased a person, nothing in the service links the pseudonym back to them."""
    from ..pseudonyms import Pseudonymiser

    pseudonymise = Pseudonymiser(key, "audit")
    return [f"person:{pseudonymise(p)}" for p in person_ids]
