"""Passwords are stored as salted scrypt hashes, never as themselves."""

from __future__ import annotations

from werkzeug.security import generate_password_hash

import geoservice.privacy.users as users
from geoservice.privacy.users import add_user, authenticate

from ..conftest import TEST_PASSWORD


def test_the_service_stores_scrypt_hashes(store, monkeypatch):
    monkeypatch.setattr(users, "generate_password_hash", generate_password_hash)  # the production hashing
    add_user(store, "ana", TEST_PASSWORD, roles=["auditor"], boroughs=["E09000024"])
    stored = store.user_row("ana")["password_hash"]
    assert stored.startswith("scrypt:") and TEST_PASSWORD not in stored
    assert users._DUMMY_HASH and authenticate(store, "ana", TEST_PASSWORD).username == "ana"
    assert authenticate(store, "ana", "not the password") is None and authenticate(store, "nobody", "x") is None
    assert generate_password_hash("x").startswith("scrypt:"), "werkzeug's default is scrypt"
