"""Who may open the homeowner's page: one-time pairing codes, an optional password, the cookie key, login limits.

Everything lives in ``<data-dir>/ui/`` (mode 0700, files 0600):

- ``session.key``: 32 random bytes that sign the session cookies. Deleting it (``edge-agent ui unpair``) logs out
  every paired browser at once.
- ``pairing.json``: the SHA-256 of the current one-time code, its expiry and the failed tries against it. A code is
  good for one browser, for ``CODE_TTL`` seconds, and is burnt after ``CODE_TRIES`` wrong guesses from anywhere.
- ``password.json``: an scrypt hash (:mod:`edge_agent.core.passwords`), when the installer set a password.

The login limiter is in memory: ``FAILS_PER_CLIENT`` failures per client address (or ``FAILS_TOTAL`` from all
addresses) within ``WINDOW`` seconds lock logins out until the oldest failure leaves the window. It also decides
which refused logins reach the audit log: the first of each client in a window (for at most ``AUDITED_CLIENTS``
clients a window), so that a flood of wrong guesses cannot push the homeowner's own entries off the Log page.

The paired browsers themselves are listed in ``sessions.json`` (:mod:`edge_agent.ui.sessions`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge_agent.config import keys
from edge_agent.core.files import atomic_write
from edge_agent.core.passwords import check_password, hash_password
from edge_agent.errors import ConfigError
from edge_agent.ui.sessions import SessionRegistry
from edge_agent.web import limiter

CODE_TTL = 600.0
CODE_TRIES = 5
# No 0/O, 1/I/L: the code is read off a terminal and typed on a phone.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8
WINDOW = limiter.WINDOW
FAILS_PER_CLIENT = limiter.FAILS_PER_KEY
FAILS_TOTAL = limiter.FAILS_TOTAL
AUDITED_CLIENTS = 20
MIN_PASSWORD = 10
_SCRYPT = {"n": 1 << 14, "r": 8, "p": 1}


def ui_dir(data_dir: Path) -> Path:
    return data_dir / "ui"


def normalise_code(text: str) -> str:
    return "".join(ch for ch in text.upper() if ch.isalnum())


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class PairingCode:
    code: str
    expires_at: float

    @property
    def display(self) -> str:
        return f"{self.code[:4]}-{self.code[4:]}"


class AccessStore:
    """The files in ``<data-dir>/ui/``. Safe to use from the command line while the server runs."""

    def __init__(self, data_dir: Path, clock: Callable[[], float] = time.time) -> None:
        self.root = ui_dir(data_dir)
        self._clock = clock
        self._lock = threading.Lock()

    @property
    def sessions(self) -> SessionRegistry:
        return SessionRegistry(self.root, self._clock)

    @property
    def key_path(self) -> Path:
        return self.root / "session.key"

    @property
    def pairing_path(self) -> Path:
        return self.root / "pairing.json"

    @property
    def password_path(self) -> Path:
        return self.root / "password.json"

    def session_key(self) -> bytes:
        """The cookie-signing key, made on first use."""
        keys.ensure_private_dir(self.root)
        if not self.key_path.exists():
            keys.write_private(self.key_path, secrets.token_bytes(32))
        return keys.read_private(self.key_path)

    def unpair_all(self) -> None:
        """Every paired browser must pair again: no session is listed any more, and a new cookie key."""
        keys.ensure_private_dir(self.root)
        self.sessions.close_all()
        self.key_path.unlink(missing_ok=True)
        keys.write_private(self.key_path, secrets.token_bytes(32))

    def new_code(self) -> PairingCode:
        keys.ensure_private_dir(self.root)
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        expires = self._clock() + CODE_TTL
        self._write_json(self.pairing_path, {"sha256": _sha256(code), "expires_at": expires, "failed": 0})
        return PairingCode(code, expires)

    def redeem_code(self, typed: str) -> bool:
        """True once for the right, unexpired code; the code is then gone. Wrong guesses count against it."""
        with self._lock:
            doc = self._read_json(self.pairing_path)
            if doc is None:
                return False
            if float(doc.get("expires_at", 0)) <= self._clock() or int(doc.get("failed", 0)) >= CODE_TRIES:
                self.pairing_path.unlink(missing_ok=True)
                return False
            if hmac.compare_digest(_sha256(normalise_code(typed)), str(doc.get("sha256", ""))):
                self.pairing_path.unlink(missing_ok=True)
                return True
            doc["failed"] = int(doc.get("failed", 0)) + 1
            if doc["failed"] >= CODE_TRIES:
                self.pairing_path.unlink(missing_ok=True)
            else:
                self._write_json(self.pairing_path, doc)
            return False

    def set_password(self, password: str) -> None:
        if len(password) < MIN_PASSWORD:
            raise ConfigError(f"the page password must have at least {MIN_PASSWORD} characters")
        keys.ensure_private_dir(self.root)
        self._write_json(self.password_path, hash_password(password, _SCRYPT))

    def has_password(self) -> bool:
        return self.password_path.exists()

    def check_password(self, password: str) -> bool:
        doc = self._read_json(self.password_path)
        return doc is not None and check_password(doc, password)

    def _read_json(self, path: Path) -> dict[str, Any] | None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"{path}: unreadable: {exc}") from exc
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: not a JSON object")
        return data

    @staticmethod
    def _write_json(path: Path, doc: dict[str, Any]) -> None:
        atomic_write(path, json.dumps(doc, sort_keys=True).encode("utf-8"), mode=0o600)


class LoginLimiter(limiter.LoginLimiter):
    """Counts failed logins per client address and in total over a sliding window (:mod:`edge_agent.web.limiter`),
    and decides which refused logins are audited."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(clock)
        self._audit_clock = clock
        self._audit_lock = threading.Lock()
        self._audited: dict[str, float] = {}  # client -> when its refused login was last audited

    def audit_due(self, client: str) -> bool:
        """True for the first refused login of ``client`` in a window, for at most ``AUDITED_CLIENTS`` clients a
        window; every other refusal is only counted and logged (``journalctl``), not audited."""
        with self._audit_lock:
            now = self._audit_clock()
            for old in [c for c, t in self._audited.items() if t <= now - WINDOW]:
                del self._audited[old]
            if client in self._audited or len(self._audited) >= AUDITED_CLIENTS:
                return False
            self._audited[client] = now
            return True
