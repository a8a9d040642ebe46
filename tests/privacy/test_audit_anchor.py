"""The audit log against someone who can write the database (issue 10): the keyed chain and the anchor file
outside the database find a cut, an emptied log, a rewritten entry and one user's events removed; so does
`geoservice audit verify`. The anchor is written only after a commit, keeps up with concurrent writers, and its
lines are signed."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading

import pytest
from click.testing import CliRunner
from sqlalchemy import select, text

from geoservice.cli import main
from geoservice.privacy import audit
from geoservice.privacy.audit import GENESIS, anchor_path, events, record, record_events, verify
from geoservice.store.db import Store

pytestmark = pytest.mark.postgres  # the database matters here: run on PostgreSQL too

USERS = ("ana", "bob", "cli:ops")


def _fill(store, batches=3, size=10) -> None:
    """30 events by three users, appended in three transactions (so three anchor lines)."""
    for b in range(batches):
        record_events(store, [{"username": USERS[i % 3], "operation": "consultation", "objects": [f"C{i:04d}"],
                               "justification": f"panel {i}"} for i in range(b * size, (b + 1) * size)])


def _anchor_lines(store) -> list[list[str]]:
    path = anchor_path(store.settings)
    return [line.split() for line in path.read_text().splitlines()] if path.exists() else []


def _cli_verify(settings):
    env = {"GEOSERVICE_AUDIT_KEY": None, "GEOSERVICE_AUDIT_ANCHOR": None}
    return CliRunner().invoke(main, ["--database", settings.database_url, "--instance", str(settings.instance_path),
                                     "audit", "verify"], env=env)


# the attacker: database access, the project's source, no key (unless said), no write access to the anchor -------
def _drop_triggers(conn, store) -> None:
    if store.is_postgres:
        conn.execute(text("DROP TRIGGER audit_events_append_only ON audit_events"))
    else:
        conn.execute(text("DROP TRIGGER audit_events_no_update"))
        conn.execute(text("DROP TRIGGER audit_events_no_delete"))


def _canonical(row) -> str:
    fields = {k: row[k] for k in ("seq", "username", "operation", "objects", "recipient", "justification")}
    fields["at"] = row["at"].strftime("%Y-%m-%dT%H:%M:%S.%f")
    return json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _plain_sha256(prev: str, row) -> str:  # the chain as it was before it was keyed
    return hashlib.sha256((prev + _canonical(row)).encode()).hexdigest()


def _guessed_key(prev: str, row) -> str:
    return hmac.new(b"a guess at the key", (prev + _canonical(row)).encode(), hashlib.sha256).hexdigest()


def _the_key(store):
    """An insider who has the key (but not the anchor file) hashes exactly as the service does."""
    chain_key = audit._keys(store, create=False)[0]
    return lambda prev, row: audit.event_hash(chain_key, prev, row)


def _log(store) -> list[dict]:
    table = store.metadata.tables["audit_events"]
    with store.engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(table).order_by(table.c.seq)).mappings()]


def _rewrite(store, rows: list[dict], hasher) -> None:
    """Replace the log with ``rows``, renumbered from 1: rows that are unchanged from the start keep their hashes,
    the rest are re-chained with ``hasher``; the head row is moved to the new end."""
    original = {r["seq"]: r for r in _log(store)}
    table = store.metadata.tables["audit_events"]
    prev, rechaining, new = GENESIS, False, []
    for seq, row in enumerate(rows, 1):
        row = {**row, "seq": seq, "prev_hash": prev}
        rechaining = rechaining or row != original.get(seq)
        if rechaining:
            row["hash"] = hasher(prev, row)
        prev = row["hash"]
        new.append(row)
    with store.engine.begin() as conn:
        _drop_triggers(conn, store)
        conn.execute(text("DELETE FROM audit_events"))
        if new:
            conn.execute(table.insert(), new)
        conn.execute(text("DELETE FROM audit_head"))
        if new:
            conn.execute(text("INSERT INTO audit_head (id, seq, hash) VALUES (1, :seq, :hash)"),
                         {"seq": len(new), "hash": prev})


def _cut(store):
    """Delete the last five entries and move the head back."""
    kept = _log(store)[:25]
    with store.engine.begin() as conn:
        _drop_triggers(conn, store)
        conn.execute(text("DELETE FROM audit_events WHERE seq > 25"))
        conn.execute(text("UPDATE audit_head SET seq = :seq, hash = :hash"), {"seq": 25, "hash": kept[-1]["hash"]})


def _empty(store):
    with store.engine.begin() as conn:
        _drop_triggers(conn, store)
        conn.execute(text("DELETE FROM audit_events"))
        conn.execute(text("DELETE FROM audit_head"))


def _edited(store):
    rows = _log(store)
    rows[9] = {**rows[9], "justification": "nothing to see here"}
    return rows


def _without_bob(store):
    return [r for r in _log(store) if r["username"] != "bob"]


ATTACKS = {
    "cut the end, head moved back": (_cut, ["entry 30 was anchored", "entries were removed from its end"]),
    "emptied (events and head)": (_empty, ["entry 30 was anchored", "holds no entries: it was emptied"]),
    "an entry edited, re-chained with plain SHA-256": (
        lambda s: _rewrite(s, _edited(s), _plain_sha256),
        ["entries 10..30 were changed after they were written: hashed with plain SHA-256",
         "entry 30 differs from its anchor"]),
    "an entry edited, re-chained with a guessed key": (
        lambda s: _rewrite(s, _edited(s), _guessed_key),
        ["entries 10..30 were changed after they were written", "entry 30 differs from its anchor"]),
    "one user's events removed, re-chained with plain SHA-256": (
        lambda s: _rewrite(s, _without_bob(s), _plain_sha256),
        ["entries 2..20 were changed", "plain SHA-256", "entry 30 was anchored", "ends at entry 20"]),
    "one user's events removed, re-chained with a guessed key": (
        lambda s: _rewrite(s, _without_bob(s), _guessed_key),
        ["entries 2..20 were changed after they were written", "entry 30 was anchored"]),
    # the key alone is not enough: the anchor holds the head the log had
    "an entry edited, re-chained with the key": (
        lambda s: _rewrite(s, _edited(s), _the_key(s)), ["entry 30 differs from its anchor"]),
    "one user's events removed, re-chained with the key": (
        lambda s: _rewrite(s, _without_bob(s), _the_key(s)), ["entry 30 was anchored", "ends at entry 20"]),
}


@pytest.mark.parametrize("attack", ATTACKS)
def test_every_tampering_fails_verify_and_the_command(store, settings, attack):
    tamper, expected = ATTACKS[attack]
    _fill(store)
    before = _cli_verify(settings)
    assert before.exit_code == 0 and "audit log: 30 entries, intact" in before.output, before.output
    tamper(store)
    result = verify(store)
    assert not result.ok
    for words in expected:
        assert any(words in problem for problem in result.problems), (words, result.problems)
    if "with the key" in attack:
        assert all("anchor" in problem for problem in result.problems), "the chain verifies: only the anchor shows it"
    cli = _cli_verify(settings)
    assert cli.exit_code == 1, cli.output
    assert "intact" not in cli.output and f"{len(result.problems)} problems" in cli.output
    for problem in result.problems:
        assert f"problem: {problem}" in cli.output


@pytest.mark.parametrize("attack", ["cut the end, head moved back", "emptied (events and head)",
                                    "an entry edited, re-chained with the key"])
def test_a_tampered_log_stays_caught_after_the_service_appends_again(store, settings, attack):
    """After a cut or an emptying, the service writes new entries under the old numbers: every anchored entry is
    checked, not only the highest, so the log does not verify again once it has grown past its old end."""
    tamper, _ = ATTACKS[attack]
    _fill(store)
    tamper(store)
    for i in range(40):
        record(store, username="ana", operation="consultation", objects=[f"later:{i}"], justification="a panel")
    result = verify(store)
    assert not result.ok and result.entries >= 40, result.problems
    assert any("differs from its anchor" in p or "anchored twice" in p or "anchored at" in p
               for p in result.problems), result.problems
    assert _cli_verify(settings).exit_code == 1


def test_a_plain_edit_without_re_chaining_is_still_found(store):
    _fill(store)
    with store.engine.begin() as conn:
        _drop_triggers(conn, store)
        conn.execute(text("UPDATE audit_events SET username = 'someone else' WHERE seq = 7"))
    assert verify(store).problems == ["entry 7 was changed after it was written"]


# the anchor -------------------------------------------------------------------------------------------------
def test_the_anchor_holds_each_committed_head(store):
    _fill(store)
    heads = _anchor_lines(store)
    assert [(line[1], line[2]) for line in heads] == [("head", "10"), ("head", "20"), ("head", "30")]
    assert heads[-1][3] == _log(store)[-1]["hash"]
    assert verify(store).ok


def test_nothing_is_anchored_before_the_outer_transaction_commits_nor_when_it_rolls_back(store):
    record(store, username="ana", operation="consultation", objects=["C0001"], justification="panel")
    assert len(_anchor_lines(store)) == 1
    with pytest.raises(RuntimeError, match="the batch failed"):
        with store.writing() as conn:
            assert record(store, username="ana", operation="collection", objects=["layer:people"],
                          justification="load", conn=conn) == 2
            assert len(_anchor_lines(store)) == 1, "not before the commit"
            raise RuntimeError("the batch failed")
    assert len(_anchor_lines(store)) == 1, "nothing for a rolled-back transaction"
    assert verify(store).ok and verify(store).entries == 1
    with store.writing() as conn:
        assert record(store, username="ana", operation="collection", objects=["layer:people"], justification="load",
                      conn=conn) == 2
        assert len(_anchor_lines(store)) == 1, "not before the commit"
    assert [line[2] for line in _anchor_lines(store)] == ["1", "2"]
    assert verify(store).ok


def test_record_in_a_transaction_the_store_cannot_follow_is_refused(store):
    from geoservice.errors import SetupError

    with pytest.raises(SetupError, match="Store.writing"):
        with store.engine.begin() as conn:
            record(store, username="ana", operation="consultation", objects=["C1"], justification="x", conn=conn)
    assert verify(store).entries == 0 and not anchor_path(store.settings).exists()


ASSOCIATIONS = ("association_id,person_a,person_b,association_type,source_layer,source_record,evidence_date,"
                "source_evaluation,intelligence_assessment,expires_on")


def test_an_ingest_batch_that_rolls_back_anchors_nothing(store, settings, write_csv, monkeypatch):
    from geoservice.ingest.pipeline import ingest_file

    path = write_csv("associations.csv", [ASSOCIATIONS, "AS00001,C0001,C0002,school,intelligence,X1,2025-03-01,A,2,"
                                                        "2030-01-01"])
    real_record = audit.record

    def record_then_interrupted(*args, **kwargs):
        real_record(*args, **kwargs)
        raise KeyboardInterrupt  # Ctrl-C after the audit event, before the batch commits

    monkeypatch.setattr(audit, "record", record_then_interrupted)
    with pytest.raises(KeyboardInterrupt):
        ingest_file(store, "associations", path, settings=settings, username="ana", justification="panel")
    assert store.list_batches() == [] and events(store) == []
    assert _anchor_lines(store) == [] and verify(store).ok
    monkeypatch.setattr(audit, "record", real_record)
    ingest_file(store, "associations", path, settings=settings, username="ana", justification="panel")
    assert [(line[1], line[2]) for line in _anchor_lines(store)] == [("head", "1")]
    assert verify(store).ok and verify(store).entries == 1


def test_the_anchor_keeps_up_with_two_threads(store):
    errors = []

    def append(name):
        try:
            for i in range(40):
                record(store, username=name, operation="consultation", objects=[f"C{i:04d}"],
                       justification=f"panel {i}")
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=append, args=(name,)) for name in ("ana", "bob")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    heads = _anchor_lines(store)
    assert sorted(int(line[2]) for line in heads) == list(range(1, 81)), "one line per append, none lost or mixed"
    assert all(len(line) == 5 for line in heads)
    result = verify(store)
    assert result.ok and result.entries == 80, result.problems


def test_a_forged_anchor_line_is_found(store):
    _fill(store)
    path = anchor_path(store.settings)
    good = path.read_text().splitlines()[-1].split()
    with open(path, "a") as handle:  # claims a later head, with a signature made up
        handle.write(f"{good[0]} head 31 {'ab' * 32} {'cd' * 32}\n")
    result = verify(store)
    assert result.problems == [f"line 4 of the anchor file {path} is not signed with the audit key: forged, or "
                               "written with another key"]
    with open(path, "a") as handle:
        handle.write("this is not an anchor line\n")
    assert any(p.endswith('line 5 of the anchor file ' + str(path) + ' is not an anchor line: "this is not an anchor '
                          'line"') for p in verify(store).problems)


def test_a_missing_anchor_file_or_key_is_reported(store):
    assert verify(store).ok and not anchor_path(store.settings).exists(), "an empty log needs no anchor"
    _fill(store, batches=1)
    anchor_path(store.settings).unlink()
    result = verify(store)
    assert not result.ok and "is missing but the log holds 10 entries" in result.problems[0]
    record(store, username="ana", operation="consultation", objects=["C1"], justification="panel")
    (store.settings.instance_path / "audit.key").unlink()
    fresh = Store.from_settings(store.settings)  # a new process: the key is read again
    try:
        result = verify(fresh)
        assert not result.ok and any("the audit key" in p and "is missing" in p for p in result.problems)
        with pytest.raises(audit.AuditError, match="audit key .* is missing"):
            record(fresh, username="ana", operation="consultation", objects=["C1"], justification="panel")
    finally:
        fresh.engine.dispose()
    assert not (store.settings.instance_path / "audit.key").exists(), "no new key made over an existing log"


def test_a_rebuilt_store_verifies_and_says_so(store):
    _fill(store, batches=1)
    store.drop_all()
    store.init()
    result = verify(store)
    assert result.ok and result.entries == 0
    assert result.notes and "reset" in result.notes[0] and "ended at entry 10" in result.notes[0]
    _fill(store, batches=1, size=4)
    assert verify(store).ok
    _empty(store)  # after a reset, emptying the log is found as before
    assert any("entry 4 was anchored" in p for p in verify(store).problems)


def test_the_key_setting_is_used_instead_of_the_key_file(settings):
    import dataclasses

    keyed = dataclasses.replace(settings, audit_key="a key kept in a vault")
    store = Store.from_settings(keyed)
    store.drop_all()
    store.init()
    try:
        _fill(store, batches=1)
        assert verify(store).ok
        assert not (settings.instance_path / "audit.key").exists()
        other = Store.from_settings(dataclasses.replace(keyed, audit_key="another key"))
        try:
            problems = verify(other).problems
        finally:
            other.engine.dispose()
        assert "entries 1..10 were changed after they were written" in problems
        assert any("not signed with the audit key" in p for p in problems)
    finally:
        store.drop_all()
        store.engine.dispose()


def test_dropping_a_log_that_was_cut_does_not_hide_the_cut(store):
    _fill(store)
    _cut(store)
    store.drop_all()  # say, `geoservice init-db --rebuild` to get rid of the broken log
    store.init()
    problems = verify(store).problems
    assert len(problems) == 1 and "ended at entry 25, but entry 30 had been anchored" in problems[0], problems


def test_the_key_file_is_made_even_where_hard_links_are_not_allowed(store, monkeypatch):
    def no_links(*_):
        raise PermissionError("hard links not allowed here")

    monkeypatch.setattr(audit.os, "link", no_links)
    record(store, username="ana", operation="consultation", objects=["C1"], justification="panel")
    key = store.settings.instance_path / "audit.key"
    assert len(key.read_text().strip()) == 64 and oct(key.stat().st_mode & 0o777) == "0o600"
    assert [p.name for p in key.parent.iterdir() if p.name.startswith(".audit.key")] == [], "no draft left"
    assert verify(store).ok


def test_a_long_list_of_problems_is_cut_short(store):
    _fill(store, batches=4, size=30)
    with store.engine.begin() as conn:
        _drop_triggers(conn, store)
        conn.execute(text("DELETE FROM audit_events WHERE seq % 2 = 0 AND seq < 110"))
    problems = verify(store).problems
    assert len(problems) == audit.MAX_PROBLEMS + 1 and problems[-1].startswith("… and ")
    assert problems[0] == "entry 2 is missing"
