"""The audit log: the six operations recorded with who, when, what, for whom and why; append-only; any change or
removal found by verify."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from geoservice.privacy.audit import OPERATIONS, AuditError, events, record, record_events, verify

pytestmark = pytest.mark.postgres  # the database matters here: run on PostgreSQL too


def _tamper(store, statement: str) -> None:
    """Change the table behind the triggers' back, as someone with the database file or a superuser could."""
    with store.engine.begin() as conn:
        if store.is_postgres:
            conn.execute(text("ALTER TABLE audit_events DISABLE TRIGGER USER"))
            conn.execute(text(statement))
            conn.execute(text("ALTER TABLE audit_events ENABLE TRIGGER USER"))
        else:
            conn.execute(text("DROP TRIGGER audit_events_no_update"))
            conn.execute(text("DROP TRIGGER audit_events_no_delete"))
            conn.execute(text(statement))
    store.init()  # puts the triggers back


def test_each_operation_is_recorded_with_its_fields(store):
    for operation in OPERATIONS:
        record(store, username="ana", operation=operation, objects=["C0001", "layer:people"],
               justification=f"panel 2025-11 ({operation})",
               recipient="E09000022" if operation == "disclosure" else None)
    logged = events(store)
    assert [e["operation"] for e in reversed(logged)] == list(OPERATIONS)
    disclosure = next(e for e in logged if e["operation"] == "disclosure")
    assert disclosure["recipient"] == "E09000022" and disclosure["username"] == "ana"
    assert disclosure["objects"] == '["C0001", "layer:people"]' and disclosure["at"] is not None
    assert verify(store).ok


def test_events_need_a_justification_and_disclosures_a_recipient(store):
    with pytest.raises(AuditError, match="justification"):
        record(store, username="ana", operation="consultation", objects=["C0001"], justification=" ")
    with pytest.raises(AuditError, match="recipient"):
        record(store, username="ana", operation="disclosure", objects=["C0001"], justification="panel")
    with pytest.raises(AuditError, match="operation must be one of"):
        record(store, username="ana", operation="peek", objects=["C0001"], justification="panel")
    assert verify(store).entries == 0


def test_the_log_is_append_only(store):
    record(store, username="ana", operation="consultation", objects=["C0001"], justification="panel")
    for statement in ("UPDATE audit_events SET justification = 'x'", "DELETE FROM audit_events"):
        with pytest.raises(DBAPIError, match="append-only"):
            with store.engine.begin() as conn:
                conn.execute(text(statement))
    assert verify(store).ok and verify(store).entries == 1


def test_one_changed_byte_in_one_entry_of_ten_thousand_is_found(store):
    record_events(store, [{"username": f"user{i % 7}", "operation": OPERATIONS[i % 6], "objects": [f"C{i:04d}"],
                           "justification": f"case review {i}", "recipient": "E09000022" if i % 6 == 3 else None}
                          for i in range(10_000)])
    assert verify(store).ok and verify(store).entries == 10_000
    _tamper(store, "UPDATE audit_events SET justification = 'case review 5000.' WHERE seq = 5001")
    result = verify(store)
    assert not result.ok and result.problems[0] == "entry 5001 was changed after it was written"


@pytest.mark.parametrize("where, found", [("seq = 40", "entry 40 is missing"),
                                          ("seq >= 99", "removed from the end")])
def test_a_removed_entry_is_found(store, where, found):
    record_events(store, [{"username": "ana", "operation": "consultation", "objects": [f"C{i:04d}"],
                           "justification": "panel"} for i in range(100)])
    _tamper(store, f"DELETE FROM audit_events WHERE {where}")
    result = verify(store)
    assert not result.ok and any(found in p for p in result.problems), result.problems


def test_control_characters_in_a_justification_are_stored_as_visible_escapes(store):
    record(store, username="ana", operation="consultation", objects=["C0001", "file\x1b[31m.csv"],
           justification="panel\x1b[2J\x1b]0;owned\x07\nnext line\u202eevil", recipient=None)
    logged = events(store)[0]
    assert logged["justification"] == "panel\\x1b[2J\\x1b]0;owned\\x07 next line\\u202eevil"
    assert logged["objects"] == '["C0001", "file\\\\x1b[31m.csv"]'
    assert "\x1b" not in logged["justification"] + logged["objects"]
    assert verify(store).ok


def test_audit_list_escapes_control_characters(store, settings):
    """An entry holding raw control characters (written by an older version, or straight into the table) is
    listed with them escaped: ESC, the 8-bit CSI, BEL and a bidirectional override."""
    from datetime import datetime

    from click.testing import CliRunner

    from geoservice.cli import main

    record(store, username="ana", operation="consultation", objects=["C0001"], justification="plain")
    with store.engine.begin() as conn:
        conn.execute(store.metadata.tables["audit_events"].insert().values(
            seq=2, at=datetime(2025, 11, 3, 10, 0), username="eve\x9b2J", operation="consultation",
            objects='["C0002"]', recipient=None, justification="look \x1b[2J\x1b]0;pwned\x07 here \u202e",
            prev_hash="0" * 64, hash="0" * 64))
    result = CliRunner().invoke(main, ["--database", settings.database_url, "--instance",
                                       str(settings.instance_path), "audit", "list"],
                                env={"GEOSERVICE_AUDIT_KEY": None, "GEOSERVICE_AUDIT_ANCHOR": None})
    assert result.exit_code == 0, result.output
    assert "look \\x1b[2J\\x1b]0;pwned\\x07 here \\u202e" in result.output and "eve\\x9b2J" in result.output
    assert not any(c in result.output for c in "\x1b\x07\x9b\u202e")
    assert "plain" in result.output
