"""Consent state: what the homeowner has agreed to share, and the gate every segment must pass.

The current record lives in ``<data-dir>/consent.json`` (written atomically). The command line writes it; the
running daemon re-reads it whenever the file changes, so a revocation takes effect at the next check, which the
daemon makes before sealing and again before publishing every segment.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal, cast

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge_agent.config.policy import MAX_LIVE_GRANT_HOURS
from edge_agent.consent import documents
from edge_agent.core.files import append_line, atomic_write
from edge_agent.errors import ConsentError
from edge_agent.seal.signed import sign_document

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
    # Optional daily hours of a live grant, "HH:MM-HH:MM" in the homeowner's local time at the grant, which is
    # recorded as an offset from UTC so that the center evaluates the same hours whatever its own zone.
    daily: str = ""
    utc_offset_min: int = 0

    def is_live_at(self, t: float) -> bool:
        if self.mode != "live" or t < self.starts_at or (self.expires_at is not None and t >= self.expires_at):
            return False
        return not self.daily or _within_daily(self.daily, self.utc_offset_min, t)

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


_DAILY = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")


def parse_daily(text: str) -> tuple[int, int]:
    """``"HH:MM-HH:MM"`` as minutes of the day; an end before the start wraps past midnight."""
    match = _DAILY.fullmatch(text.strip())
    if not match:
        raise ConsentError(f"daily hours {text!r}: expected HH:MM-HH:MM, e.g. 08:00-18:00")
    first = int(match[1]) * 60 + int(match[2])
    last = int(match[3]) * 60 + int(match[4])
    if first == last or last > 24 * 60:
        raise ConsentError(f"daily hours {text!r}: the start and end must differ and end by 24:00")
    return first, last


def _within_daily(daily: str, offset_min: int, t: float) -> bool:
    first, last = parse_daily(daily)
    minute = ((t / 60.0) + offset_min) % (24 * 60)
    return first <= minute < last if first < last else (minute >= first or minute < last)


def local_utc_offset_min(t: float) -> int:
    return round((time.localtime(t).tm_gmtoff or 0) / 60)


def record_from_dict(data: object, source: Path | str) -> ConsentRecord:
    """Parse a record (from ``consent.json`` or a verified consent message). ConsentError names ``source``."""
    record = _parse_record(data, Path(str(source)))
    if record.daily:
        parse_daily(record.daily)
    return record


_RECORD_KEYS = ("id", "mode", "issued_at", "starts_at", "expires_at")
_OPTIONAL_KEYS = ("replaces", "reason", "daily", "utc_offset_min", "type", "device_id")
_ID = re.compile(r"^(c-[0-9a-f]{16}|default-off)$")
# A live grant is never open-ended and never longer than the hard cap of any profile (one second of slack for
# rounding).
_MAX_LIVE_S = MAX_LIVE_GRANT_HOURS * 3600.0 + 1.0


def _parse_record(data: object, source: Path) -> ConsentRecord:
    """Every field checked as strictly as an envelope header: a record signed by a compromised device is hostile
    input too. ``type`` and ``device_id`` (present in the signed message) are the caller's to check."""
    where = f"{source}: consent record"
    doc = documents.check_keys(data, where, _RECORD_KEYS, _OPTIONAL_KEYS)
    mode = documents.choice(doc, "mode", where, MODES)
    starts = documents.time_field(doc, "starts_at", where)
    expires = documents.optional_time(doc, "expires_at", where)
    if mode == "live" and (expires is None or not 0 < expires - starts <= _MAX_LIVE_S):
        raise ConsentError(f"{where}: a live grant needs an expiry after its start, at most "
                           f"{MAX_LIVE_GRANT_HOURS:g} h later")
    replaces = doc.get("replaces")
    return ConsentRecord(
        id=documents.matching(doc, "id", where, _ID),
        mode=cast(Mode, mode),  # checked against MODES just above
        issued_at=documents.time_field(doc, "issued_at", where),
        starts_at=starts,
        expires_at=expires,
        replaces=None if replaces is None else documents.text(doc, "replaces", where, 64),
        reason=documents.text(doc, "reason", where, 1000, required=False),
        daily=documents.text(doc, "daily", where, 16, required=False),
        utc_offset_min=documents.integer(doc, "utc_offset_min", where, -1440, 1440) if "utc_offset_min" in doc else 0,
    )


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
            # Every record ever made, signed: the transparency report and the center's coverage checks use it.
            append_line(self.history_path, signed.decode("ascii"))
        atomic_write(self.path, json.dumps(doc, indent=2, sort_keys=True).encode("utf-8"), mode=0o600)

    @property
    def history_path(self) -> Path:
        return self.path.with_name("consent-history.jsonl")

    def signed(self) -> bytes | None:
        """The signed form of the current record, when it was written with one."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, json.JSONDecodeError) as exc:
            raise ConsentError(f"{self.path}: cannot read consent record: {exc}") from exc
        text = data.get("signed") if isinstance(data, dict) else None
        return text.encode("ascii") if isinstance(text, str) else None


def consent_document(record: ConsentRecord, device_id: str) -> dict[str, Any]:
    """The signed consent message: the record, its kind and the device it belongs to."""
    return {"type": "consent", "device_id": device_id, **record.to_dict()}


def sign_record(record: ConsentRecord, device_id: str, key: Ed25519PrivateKey) -> bytes:
    return sign_document(consent_document(record, device_id), key)


def live_record(
    now: float, until: float, previous: ConsentRecord, max_hours: float, daily: str = ""
) -> ConsentRecord:
    if until <= now:
        raise ConsentError("a live grant must end in the future")
    hours = (until - now) / 3600.0
    if hours > max_hours + 1e-9:
        raise ConsentError(
            f"a live grant of {hours:.2f} h exceeds this profile's cap of {max_hours:g} h (consent.max_live_hours)"
        )
    if daily:
        parse_daily(daily)
        return ConsentRecord(new_record_id(), "live", now, now, until, replaces=previous.id, daily=daily.strip(),
                             utc_offset_min=local_utc_offset_min(now))
    return ConsentRecord(new_record_id(), "live", now, now, until, replaces=previous.id)


def on_request_record(now: float, previous: ConsentRecord) -> ConsentRecord:
    """Nothing streams; the center may ask for a window and the homeowner answers each request."""
    return ConsentRecord(new_record_id(), "on-request", now, now, None, replaces=previous.id)


def revoke_record(now: float, previous: ConsentRecord, reason: str = "") -> ConsentRecord:
    return ConsentRecord(new_record_id(), "off", now, now, None, replaces=previous.id, reason=reason)


def describe(record: ConsentRecord, now: float | None = None) -> str:
    """The homeowner's answer to "what is being shared right now"."""
    now = time.time() if now is None else now
    if record.is_live_at(now) and record.expires_at is not None:
        left = record.expires_at - now
        end = time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(record.expires_at))
        return f"LIVE: redacted video is streaming to the crime center until {end} ({left / 60:.0f} min left)"
    if record.mode == "live" and record.daily and record.expires_at is not None and now < record.expires_at:
        return f"LIVE (daily {record.daily}): outside the daily hours now, so nothing is shared"
    if record.mode == "live":
        return "OFF: the live grant has ended; nothing is shared"
    if record.mode == "on-request":
        return "ON REQUEST: nothing streams; the crime center may ask for a time window and you decide"
    return "OFF: nothing is shared with anyone (only an online/offline status message)"
