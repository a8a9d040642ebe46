"""Users, their roles and the boroughs they may see; their sessions; failed sign-ins.

Passwords are stored only as salted scrypt hashes. Sessions live in the store, not in the cookie: the cookie holds
a random token whose SHA-256 is the session's key, so signing out, disabling a user or setting a new password
ends every session of that user at once, in every worker of the service. Failed sign-ins are kept in the store
too, so the sign-in limit holds across workers (see ``sign_in_try``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import secrets
from datetime import datetime, timedelta, timezone

from werkzeug.security import check_password_hash, generate_password_hash

from ..errors import GeoserviceError
from ..policy import ROLES
from ..store.db import Store

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
    added = store.insert_user({"username": username, "password_hash": generate_password_hash(password),
                               "roles": ",".join(roles), "boroughs": ",".join(boroughs), "created_at": _now(),
                               "disabled": False})
    if not added:
        raise UserError(f"user {username!r} exists already")
    return User(username, frozenset(roles), tuple(boroughs))


def _user(row) -> User | None:
    if row is None or row["disabled"]:
        return None
    return User(row["username"], frozenset(row["roles"].split(",")), tuple(row["boroughs"].split(",")))


def get_user(store: Store, username: str) -> User | None:
    """The enabled user of that name, or None."""
    return _user(store.user_row(username)) if _plain_name(username) else None


def authenticate(store: Store, username: str, password: str) -> User | None:
    """The user when the password matches (and the user is enabled), else None."""
    row = store.user_row(username) if _plain_name(username) else None
    if not check_password_hash(row["password_hash"] if row else _DUMMY_HASH, password) or row is None:
        return None
    return _user(row)


def set_password(store: Store, username: str, password: str) -> None:
    """Set a new password; every session of the user ends."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"passwords need at least {MIN_PASSWORD_LENGTH} characters")
    _change(store, username, password_hash=generate_password_hash(password))


def set_disabled(store: Store, username: str, disabled: bool = True) -> None:
    """Disable (or enable again) a user; disabling ends every session of the user."""
    _change(store, username, disabled=disabled)


def _change(store: Store, username: str, **values) -> None:
    if not store.update_user(username, **values):
        raise UserError(f"no user {username!r}")


# sessions --------------------------------------------------------------------------------------------------------
def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclasses.dataclass(frozen=True)
class Session:
    """A signed-in session: its user and when the password was last given."""

    user: User
    confirmed_at: datetime


def start_session(store: Store, username: str, hours: float) -> str:
    """A new session for the user, lasting ``hours``; returns the token for the cookie (kept only as a digest)."""
    token, now = secrets.token_urlsafe(32), _now()
    store.insert_session(_digest(token), username, now, now + timedelta(hours=hours))
    return token


def session_for(store: Store, token: str | None) -> Session | None:
    """The live session of ``token`` with its enabled user, or None (ended, expired, user disabled)."""
    if not token:
        return None
    row = store.session_row(_digest(token), _now())
    user = _user(row)
    return None if user is None else Session(user, row["confirmed_at"])


def confirm_session(store: Store, token: str) -> None:
    """The password was given again just now (for exports and linkage)."""
    store.confirm_session(_digest(token), _now())


def end_session(store: Store, token: str | None) -> None:
    """Sign out: the session is gone, so a copy of its cookie no longer works."""
    if token:
        store.delete_session(_digest(token))


# failed sign-ins -------------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class SignInLimits:
    """How many failures in ``window_minutes`` refuse further tries.

    A browser that has signed in to the account before (a *trusted device*) is limited only by its own failures,
    so nobody else can lock the user out of it. Other tries are limited per account and address, per account
    from anywhere (slow, distributed guessing), and per address over all accounts (guessing across many names).
    """

    window_minutes: float = 15
    per_device: int = 5
    per_account_and_address: int = 5
    per_account: int = 20
    per_address: int = 30


def sign_in_try(store: Store, username: str, password: str, address: str, device: str | None,
                limits: SignInLimits = SignInLimits()) -> tuple[User | None, str | None]:
    """One sign-in try under the limits: ``(user, None)`` when the password is right, ``(None, None)`` when it is
    wrong, ``(None, why)`` when the try is refused before the password is checked.

    The try is recorded as a failure *before* it is checked, so tries made at the same moment count each other
    (checking first and recording after would let a burst of guesses through together); a right password takes
    its record back. A user name with control characters, or longer than any user name, matches nobody.
    """
    name = username if _plain_name(username) else "?"
    address = "".join(ch for ch in address if ch.isprintable())[:64]
    failure = store.insert_sign_in_failure(name.lower()[:64], address, device, _now())
    refusal = _refusal(store, name.lower()[:64], address, device, limits)
    if refusal:
        return None, refusal
    user = authenticate(store, username, password) if name == username else authenticate(store, "", password)
    if user is not None:
        store.delete_sign_in_failure(failure)
    return user, None


def _plain_name(username: str) -> bool:
    return 0 < len(username) <= 64 and username.isprintable()


def _refusal(store: Store, username: str, address: str, device: str | None, limits: SignInLimits) -> str | None:
    """Why the try just recorded must be refused (more failures than the limits allow, this one included)."""
    since = _now() - timedelta(minutes=limits.window_minutes)
    count = store.count_sign_in_failures
    wait = f"wait {limits.window_minutes:g} minutes and try again"
    if device:
        if count(since, username=username, device=device) > limits.per_device:
            return f"too many failed sign-ins from this browser: {wait}"
        return None
    if count(since, username=username, address=address, untrusted=True) > limits.per_account_and_address:
        return f"too many failed sign-ins for this account from here: {wait}, or use a browser you signed in with"
    if count(since, username=username, untrusted=True) > limits.per_account:
        return f"too many failed sign-ins for this account: {wait}, or use a browser you signed in with before"
    if count(since, address=address, untrusted=True) > limits.per_address:
        return f"too many failed sign-ins from this address: {wait}"
    return None
