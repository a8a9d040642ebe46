"""Pseudonymous ids for what leaves the partnership: the same person gets the same id in every report made for one
recipient, a different id for another recipient, and nobody without the key can reverse or link them.

An id is a keyed hash (HMAC-SHA-256) of the recipient context and the person's own id, kept to 64 bits and written
in base 32: ``PS-`` and 13 letters and digits. The key is the ``pseudonym_key`` setting, or a random key made
once and kept in the instance folder (readable by its owner only) so the sharing borough can answer follow-up
questions by recomputing ids.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from .config import Settings

PREFIX = "PS-"


def pseudonym_key(settings: Settings) -> bytes:
    """The key from settings, else the instance's key file (made on first use)."""
    return settings.pseudonym_key.encode() if settings.pseudonym_key else instance_secret(settings, "pseudonym.key")


def instance_secret(settings: Settings, name: str) -> bytes:
    """A random secret kept in the instance folder, readable by its owner only; made on first use."""
    path = Path(settings.instance_path) / name
    if not path.exists():
        make_secret_file(path)
    return path.read_bytes().strip()


def make_secret_file(path: Path) -> None:
    """Write a random secret to ``path`` atomically: another process (a worker starting at the same moment) sees
    no file or the whole secret, never an empty one. When two processes race, the first one's secret stays."""
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32) + "\n")
        os.link(draft, path)
    except FileExistsError:
        pass
    except OSError:  # a file system without hard links: create the file itself, exclusively
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return
        with os.fdopen(fd, "w") as handle:
            handle.write(draft.read_text())
    finally:
        draft.unlink(missing_ok=True)


class Pseudonymiser:
    """``pseudonymise(person_id)`` for one recipient context (for example ``"E09000024>E09000022"``)."""

    def __init__(self, key: bytes, context: str):
        if not key:
            raise ValueError("a pseudonym key must not be empty")
        self._key = key
        self.context = context

    def __call__(self, identifier: str) -> str:
        message = f"{self.context}\x1f{identifier}".encode()
        digest = hmac.new(self._key, message, hashlib.sha256).digest()
        return PREFIX + base64.b32encode(digest[:8]).decode().rstrip("=")
