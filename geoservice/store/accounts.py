"""Named queries for users, their sessions and failed sign-ins. The rules (hashing, limits, who may do what) live
in ``privacy/users.py``; this module only reads and writes the rows. ``Store`` inherits these methods."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, delete, func, select


class AccountQueries:
    """Mixed into ``Store``: ``self.metadata``, ``self.engine`` and ``self.writing()`` come from it."""

    # users -------------------------------------------------------------------------------------------------------
    def user_row(self, username: str) -> dict | None:
        users = self.metadata.tables["users"]
        with self.engine.connect() as conn:
            row = conn.execute(select(users).where(users.c.username == username)).mappings().first()
        return dict(row) if row else None

    def user_scopes(self) -> dict[str, tuple[str, ...]]:
        """Every user's boroughs, by user name."""
        users = self.metadata.tables["users"]
        with self.engine.connect() as conn:
            rows = conn.execute(select(users.c.username, users.c.boroughs)).all()
        return {name: tuple(boroughs.split(",")) for name, boroughs in rows}

    def insert_user(self, row: dict) -> bool:
        """Add a user; False (and nothing written) when the name is taken."""
        users = self.metadata.tables["users"]
        with self.writing() as conn:  # unique whatever the case: the sign-in limits fold case
            if conn.execute(select(users.c.username)
                            .where(func.lower(users.c.username) == row["username"].lower())).first():
                return False
            conn.execute(users.insert().values(**row))
        return True

    def update_user(self, username: str, **values) -> bool:
        """Change a user and end every session of theirs, in one transaction; False when there is no such user."""
        users, sessions = self.metadata.tables["users"], self.metadata.tables["sessions"]
        with self.writing() as conn:
            if not conn.execute(users.update().where(users.c.username == username).values(**values)).rowcount:
                return False
            conn.execute(delete(sessions).where(sessions.c.username == username))
        return True

    # sessions ----------------------------------------------------------------------------------------------------
    def insert_session(self, token_hash: str, username: str, now: datetime, expires: datetime) -> None:
        """A new session (expired sessions are cleared on the way)."""
        sessions = self.metadata.tables["sessions"]
        with self.writing() as conn:
            conn.execute(delete(sessions).where(sessions.c.expires_at < now))
            conn.execute(sessions.insert().values(token_hash=token_hash, username=username, created_at=now,
                                                  expires_at=expires, confirmed_at=now))

    def session_row(self, token_hash: str, now: datetime) -> dict | None:
        """The live session's user row and its ``confirmed_at``, or None."""
        users, sessions = self.metadata.tables["users"], self.metadata.tables["sessions"]
        query = (select(users, sessions.c.confirmed_at).join(sessions, sessions.c.username == users.c.username)
                 .where(sessions.c.token_hash == token_hash, sessions.c.expires_at > now))
        with self.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        return dict(row) if row else None

    def confirm_session(self, token_hash: str, now: datetime) -> None:
        sessions = self.metadata.tables["sessions"]
        with self.writing() as conn:
            conn.execute(sessions.update().where(sessions.c.token_hash == token_hash).values(confirmed_at=now))

    def delete_session(self, token_hash: str) -> None:
        sessions = self.metadata.tables["sessions"]
        with self.writing() as conn:
            conn.execute(delete(sessions).where(sessions.c.token_hash == token_hash))

    # failed sign-ins ---------------------------------------------------------------------------------------------
    def count_sign_in_failures(self, since: datetime, *, username: str | None = None, address: str | None = None,
                               device: str | None = None, untrusted: bool = False) -> int:
        """Failures since ``since`` matching every condition given (``untrusted``: from no trusted device)."""
        failures = self.metadata.tables["sign_in_failures"]
        conditions = [failures.c.at >= since]
        if username is not None:
            conditions.append(failures.c.username == username)
        if address is not None:
            conditions.append(failures.c.address == address)
        if device is not None:
            conditions.append(failures.c.device == device)
        if untrusted:
            conditions.append(failures.c.device.is_(None))
        with self.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(failures).where(and_(*conditions))).scalar_one()

    def insert_sign_in_failure(self, username: str, address: str, device: str | None, at: datetime) -> int:
        """Record one failure (failures older than a day are cleared on the way); returns its id."""
        failures = self.metadata.tables["sign_in_failures"]
        with self.writing() as conn:
            conn.execute(delete(failures).where(failures.c.at < at - timedelta(days=1)))
            return conn.execute(failures.insert().values(username=username, address=address, device=device,
                                                         at=at)).inserted_primary_key[0]

    def delete_sign_in_failure(self, failure_id: int) -> None:
        failures = self.metadata.tables["sign_in_failures"]
        with self.writing() as conn:
            conn.execute(delete(failures).where(failures.c.id == failure_id))
