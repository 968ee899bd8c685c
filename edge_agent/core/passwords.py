"""Password hashes: scrypt from the standard library (memory-hard, no extra dependency), a random salt per hash.

A stored hash is a small JSON-able dict naming its parameters, so they can be raised later without breaking the
hashes already stored. Checking compares in constant time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from typing import Any

# 2^15 x 8 x 128 bytes = 32 MiB and about 0.1 s per hash here: cheap for one login, dear for a guesser.
SCRYPT = {"n": 1 << 15, "r": 8, "p": 1}
DKLEN = 32


def _scrypt(password: str, salt: bytes, params: dict[str, int]) -> bytes:
    n, r, p = int(params["n"]), int(params["r"]), int(params["p"])
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=DKLEN,
                          maxmem=128 * r * (n + p + 2) + (1 << 20))


def hash_password(password: str, params: dict[str, int] | None = None) -> dict[str, Any]:
    params = dict(params or SCRYPT)
    salt = secrets.token_bytes(32)
    digest = _scrypt(password, salt, params)
    return {"scrypt": params, "salt": base64.b64encode(salt).decode(), "hash": base64.b64encode(digest).decode()}


def check_password(stored: dict[str, Any], password: str) -> bool:
    """True when ``password`` matches ``stored``; False for an empty password or a malformed record."""
    if not password:
        return False
    try:
        params = stored.get("scrypt") or SCRYPT
        salt = base64.b64decode(str(stored["salt"]), validate=True)
        expected = base64.b64decode(str(stored["hash"]), validate=True)
        digest = _scrypt(password, salt, params)
    except (KeyError, TypeError, ValueError):
        return False
    return hmac.compare_digest(digest, expected)
