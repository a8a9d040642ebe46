"""Users, their roles and the boroughs they may see. Passwords are stored only as salted scrypt hashes."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone

from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash

from ..errors import GeoserviceError
from ..store.db import Store

ROLES = ("mace_analyst", "tasking_officer", "youth_worker", "auditor", "admin")
MIN_PASSWORD_LENGTH = 12
# checked when the user does not exist, so a wrong name takes as long as a wrong password
_DUMMY_HASH = generate_password_hash("not a real password, never matches")


class UserError(GeoserviceError, ValueError):
    """A user that cannot be added or changed as asked."""


@dataclasses.dataclass(frozen=True)
class User:
    username: str
    roles: frozenset[str]
    boroughs: tuple[str, ...]
    disabled: bool = False

    def can(self, *roles: str) -> bool:
        return bool(self.roles & set(roles))


def _table(store: Store):
    return store.metadata.tables["users"]


def add_user(store: Store, username: str, password: str, *, roles, boroughs) -> User:
    roles, boroughs = sorted(set(roles)), sorted(set(boroughs))
    if not username or not username.replace("_", "").replace("-", "").replace(".", "").isalnum():
        raise UserError(f"user names are letters, digits, '.', '-' and '_', got {username!r}")
    unknown = set(roles) - set(ROLES)
    if not roles or unknown:
        raise UserError(f"give one or more roles from {ROLES}" + (f"; unknown: {sorted(unknown)}" if unknown else ""))
    if not boroughs:
        raise UserError("give the boroughs (GSS codes) this user may see")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"passwords need at least {MIN_PASSWORD_LENGTH} characters")
    with store.writing() as conn:
        if conn.execute(select(_table(store).c.username).where(_table(store).c.username == username)).first():
            raise UserError(f"user {username!r} exists already")
        conn.execute(_table(store).insert().values(
            username=username, password_hash=generate_password_hash(password), roles=",".join(roles),
            boroughs=",".join(boroughs), created_at=datetime.now(timezone.utc).replace(tzinfo=None), disabled=False))
    return User(username, frozenset(roles), tuple(boroughs))


def _row(store: Store, username: str):
    table = _table(store)
    with store.engine.connect() as conn:
        return conn.execute(select(table).where(table.c.username == username)).mappings().first()


def _user(row) -> User | None:
    if row is None or row["disabled"]:
        return None
    return User(row["username"], frozenset(row["roles"].split(",")), tuple(row["boroughs"].split(",")))


def get_user(store: Store, username: str) -> User | None:
    """The enabled user of that name, or None."""
    return _user(_row(store, username))


def authenticate(store: Store, username: str, password: str) -> User | None:
    """The user when the password matches (and the user is enabled), else None."""
    row = _row(store, username)
    if not check_password_hash(row["password_hash"] if row else _DUMMY_HASH, password) or row is None:
        return None
    return _user(row)
