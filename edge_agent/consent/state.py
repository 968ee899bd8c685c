"""Consent state: what the homeowner has agreed to share, and the gate every segment must pass.

The current record lives in ``<data-dir>/consent.json`` (written atomically). The command line writes it; the
running daemon re-reads it whenever the file changes, so a revocation takes effect at the next check, which the
daemon makes before sealing and again before publishing every segment.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from edge_agent.errors import ConsentError
from edge_agent.fsutil import atomic_write

Mode = Literal["off", "live", "on-request"]
MODES: tuple[Mode, ...] = ("off", "live", "on-request")


@dataclass(frozen=True, slots=True)
class ConsentRecord:
    """One consent decision. ``expires_at`` bounds a live grant; records are never open-ended."""

    id: str
    mode: Mode
    issued_at: float
    starts_at: float
    expires_at: float | None
    replaces: str | None = None
    reason: str = ""

    def is_live_at(self, t: float) -> bool:
        return self.mode == "live" and self.starts_at <= t and (self.expires_at is None or t < self.expires_at)

    def covers(self, start: float, end: float) -> bool:
        """A live grant covers a segment whose whole span lies inside the grant."""
        return self.is_live_at(start) and self.is_live_at(max(start, end - 1e-6))

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


OFF_RECORD = ConsentRecord(id="default-off", mode="off", issued_at=0.0, starts_at=0.0, expires_at=None)


# Live grants' ids start with this, so a revocation can find every spooled segment a grant covered.
LIVE_PREFIX = "c-"


def new_record_id() -> str:
    return LIVE_PREFIX + secrets.token_hex(8)


def _parse_record(data: object, source: Path) -> ConsentRecord:
    if not isinstance(data, dict):
        raise ConsentError(f"{source}: consent record is not an object")
    try:
        mode = data["mode"]
        if mode not in MODES:
            raise ConsentError(f"{source}: mode: unknown consent mode {mode!r}")
        expires = data.get("expires_at")
        return ConsentRecord(
            id=str(data["id"]),
            mode=mode,
            issued_at=float(data["issued_at"]),
            starts_at=float(data["starts_at"]),
            expires_at=None if expires is None else float(expires),
            replaces=None if data.get("replaces") is None else str(data["replaces"]),
            reason=str(data.get("reason", "")),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ConsentError(f"{source}: consent record is malformed: {exc}") from exc


class ConsentStore:
    """Reads and writes the current consent record. Cheap to poll: re-parses only when the file changed."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._cached: tuple[int, int, ConsentRecord] | None = None

    def current(self) -> ConsentRecord:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return OFF_RECORD
        key = (stat.st_mtime_ns, stat.st_ino)
        if self._cached and self._cached[:2] == key:
            return self._cached[2]
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ConsentError(f"{self.path}: cannot read consent record: {exc}") from exc
        record = _parse_record(data.get("record") if isinstance(data, dict) else None, self.path)
        self._cached = (*key, record)
        return record

    def write(self, record: ConsentRecord, signed: bytes | None = None) -> None:
        doc: dict[str, object] = {"record": record.to_dict()}
        if signed is not None:
            doc["signed"] = signed.decode("ascii")
        atomic_write(self.path, json.dumps(doc, indent=2, sort_keys=True).encode("utf-8"), mode=0o600)


def live_record(now: float, until: float, previous: ConsentRecord, max_hours: float) -> ConsentRecord:
    if until <= now:
        raise ConsentError("a live grant must end in the future")
    hours = (until - now) / 3600.0
    if hours > max_hours + 1e-9:
        raise ConsentError(
            f"a live grant of {hours:.2f} h exceeds this profile's cap of {max_hours:g} h (consent.max_live_hours)"
        )
    return ConsentRecord(new_record_id(), "live", now, now, until, replaces=previous.id)


def revoke_record(now: float, previous: ConsentRecord, reason: str = "") -> ConsentRecord:
    return ConsentRecord(new_record_id(), "off", now, now, None, replaces=previous.id, reason=reason)


def describe(record: ConsentRecord, now: float | None = None) -> str:
    """The homeowner's answer to "what is being shared right now"."""
    now = time.time() if now is None else now
    if record.is_live_at(now) and record.expires_at is not None:
        left = record.expires_at - now
        end = time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(record.expires_at))
        return f"LIVE: redacted video is streaming to the crime center until {end} ({left / 60:.0f} min left)"
    if record.mode == "live":
        return "OFF: the live grant has ended; nothing is shared"
    if record.mode == "on-request":
        return "ON REQUEST: nothing streams; the crime center may ask for a time window and you decide"
    return "OFF: nothing is shared with anyone (only an online/offline status message)"
