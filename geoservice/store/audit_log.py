"""Named queries for the audit log's two tables: the events and the head of the chain. The chain itself (keys,
hashes, the anchor outside the store) is ``privacy/audit.py``'s; this module only reads and writes rows.
``Store`` inherits these methods."""

from __future__ import annotations

from contextlib import contextmanager

from sqlalchemy import inspect, select, text


class AuditQueries:
    """Mixed into ``Store``: ``self.metadata``, ``self.engine`` and ``self.is_postgres`` come from it."""

    def lock_audit(self, conn) -> None:
        """One appender at a time, so the chain never forks (SQLite: the writer lock ``writing()`` takes)."""
        if self.is_postgres:
            conn.execute(text("LOCK TABLE audit_head IN EXCLUSIVE MODE"))

    def audit_head(self, conn=None):
        """``(seq, hash)`` of the chain's head row, or None (also when the table does not exist yet)."""
        head = self.metadata.tables["audit_head"]
        query = select(head.c.seq, head.c.hash).where(head.c.id == 1)
        if conn is not None:
            row = conn.execute(query).first()
        else:
            if not inspect(self.engine).has_table("audit_head"):
                return None
            with self.engine.connect() as own:
                row = own.execute(query).first()
        return (row.seq, row.hash) if row else None

    def append_audit(self, conn, rows: list[dict], seq: int, hash_: str, *, new_head: bool) -> None:
        """Insert the events and move the head to ``(seq, hash_)``, in the caller's transaction."""
        events, head = self.metadata.tables["audit_events"], self.metadata.tables["audit_head"]
        conn.execute(events.insert(), rows)
        if new_head:
            conn.execute(head.insert().values(id=1, seq=seq, hash=hash_))
        else:
            conn.execute(head.update().where(head.c.id == 1).values(seq=seq, hash=hash_))

    @contextmanager
    def audit_snapshot(self):
        """A connection that reads the events and the head as of one moment, while others append."""
        with self.engine.connect() as conn:
            if self.is_postgres:
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                yield conn

    def audit_events_in_order(self, conn):
        """Every event, oldest first (rows as mappings)."""
        events = self.metadata.tables["audit_events"]
        return conn.execute(select(events).order_by(events.c.seq)).mappings()

    def latest_audit_events(self, *, operation: str | None = None, username: str | None = None, limit: int = 100,
                            only_users=None, except_users=None) -> list[dict]:
        """The latest events, newest first, optionally of one operation or user, only of ``only_users`` or not of
        ``except_users``."""
        events = self.metadata.tables["audit_events"]
        query = select(events).order_by(events.c.seq.desc()).limit(limit)
        if operation:
            query = query.where(events.c.operation == operation)
        if username:
            query = query.where(events.c.username == username)
        if only_users is not None:
            query = query.where(events.c.username.in_(list(only_users)))
        if except_users is not None:
            query = query.where(events.c.username.not_in(list(except_users)))
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]
