"""Password hashing (argon2id) and random secrets for API tokens and login cookies."""

from __future__ import annotations

import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
# Verified against when the user does not exist, so that timing does not reveal which names exist.
_DUMMY_HASH = _hasher.hash("datalabs-no-such-user")

TOKEN_PREFIX = "dlt_"
MIN_PASSWORD_LENGTH = 8


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


def new_token() -> str:
    """A new API token secret: 256 random bits with a recognisable prefix."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def new_cookie_secret() -> str:
    return secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    """SHA-256 of a high-entropy secret: enough for lookup, useless to someone who reads the table."""
    return hashlib.sha256(secret.encode()).hexdigest()
