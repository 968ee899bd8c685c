"""The envelope header: one canonical JSON object, validated field by field in both directions.

The same rules check a header being sealed (a :class:`SealError` naming the field) and a header being opened
(the opaque :class:`OpenError`), so that the device can never write a header the center would refuse.
"""

from __future__ import annotations

import base64
import math
import re
from dataclasses import dataclass, fields
from typing import Any

from edge_agent.core.canon import canonical_json, strict_loads
from edge_agent.errors import OpenError
from edge_agent.segment.model import SegmentMeta

VERSION = 1
MAX_HEADER_LEN = 64 * 1024
MIN_CHUNK = 64
MAX_CHUNK = 16 * 1024 * 1024
DEFAULT_CHUNK = 64 * 1024
MAX_RECIPIENTS = 16
WRAPPED_LEN = 32 + 32 + 16  # HPKE enc (X25519 public key) + content key + Poly1305 tag
MAX_SAFE_INT = 2**53 - 1  # the largest integer every JSON reader (JavaScript included) holds exactly

_HEX64 = re.compile(r"[0-9a-f]{64}")
_KID = re.compile(r"[0-9a-f]{16}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class RecipientEntry:
    """One wrapped copy of the content key: ``kid`` names the X25519 key it is wrapped to."""

    kid: str
    wrapped: bytes  # HPKE enc || ciphertext of the 32-byte content key


@dataclass(frozen=True, slots=True)
class EnvelopeHeader:
    """Every field of the signed header of one sealed segment."""

    version: int
    device_id: str
    seq: int
    start: float
    end: float
    frame_count: int
    width: int
    height: int
    fps: float
    content_type: str
    profile_hash: str
    consent_id: str
    prev_hash: str  # hex SHA-256 of the previous segment's header bytes, "" for a device's first segment
    created_at: float
    chunk_size: int
    plaintext_len: int
    key_commitment: str  # hex HKDF output that binds every recipient to the same content key
    recipients: tuple[RecipientEntry, ...]

    @property
    def meta(self) -> SegmentMeta:
        return SegmentMeta(
            device_id=self.device_id,
            seq=self.seq,
            start=self.start,
            end=self.end,
            frame_count=self.frame_count,
            width=self.width,
            height=self.height,
            fps=self.fps,
            content_type=self.content_type,
            profile_hash=self.profile_hash,
        )

    def entry_for(self, kid: str) -> RecipientEntry | None:
        for entry in self.recipients:
            if entry.kid == kid:
                return entry
        return None


def _int(doc: dict[str, Any], key: str, low: int, high: int) -> int:
    value = doc[key]
    if type(value) is not int or not low <= value <= high:  # type() check: bool is an int subclass
        raise ValueError(f"{key}: expected an integer in [{low}, {high}]")
    return value


def _num(doc: dict[str, Any], key: str, low: float = -math.inf) -> float:
    value = doc[key]
    # An integer is bounded before any float conversion: a 400-digit one would raise OverflowError.
    if type(value) is int and abs(value) <= MAX_SAFE_INT:
        value = float(value)
    if type(value) is not float or not math.isfinite(value) or value < low:
        raise ValueError(f"{key}: expected a finite number >= {low}")
    return value


def _str(doc: dict[str, Any], key: str, low: int, high: int) -> str:
    value = doc[key]
    if not isinstance(value, str) or not low <= len(value) <= high or _CONTROL.search(value):
        raise ValueError(f"{key}: expected {low}-{high} characters without control characters")
    return value


def _pattern(doc: dict[str, Any], key: str, pattern: re.Pattern[str], empty_ok: bool = False) -> str:
    value = doc[key]
    if not isinstance(value, str) or not (pattern.fullmatch(value) or (empty_ok and value == "")):
        raise ValueError(f"{key}: expected lowercase hex of the right length")
    return value


def _recipients(raw: Any) -> tuple[RecipientEntry, ...]:
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_RECIPIENTS:
        raise ValueError(f"recipients: expected 1-{MAX_RECIPIENTS} entries")
    entries: list[RecipientEntry] = []
    for item in raw:
        if not isinstance(item, dict) or set(item) != {"kid", "wrapped"}:
            raise ValueError("recipients: each entry has exactly 'kid' and 'wrapped'")
        kid = _pattern(item, "kid", _KID)
        text = item["wrapped"]
        if not isinstance(text, str):
            raise ValueError("recipients: 'wrapped' must be base64 text")
        wrapped = base64.b64decode(text, validate=True)
        # base64 leaves slack in the padding bits; accept only the one canonical spelling of the bytes.
        if len(wrapped) != WRAPPED_LEN or base64.b64encode(wrapped).decode("ascii") != text:
            raise ValueError(f"recipients: 'wrapped' must be canonical base64 of {WRAPPED_LEN} bytes")
        entries.append(RecipientEntry(kid=kid, wrapped=wrapped))
    if len({entry.kid for entry in entries}) != len(entries):
        raise ValueError("recipients: a key id appears twice")
    return tuple(entries)


FIELDS = frozenset(field.name for field in fields(EnvelopeHeader))


def header_from_dict(doc: Any) -> EnvelopeHeader:
    """Validate a parsed header. Raises ``ValueError`` naming the first bad field."""
    if not isinstance(doc, dict) or set(doc) != FIELDS:
        raise ValueError(f"header: expected exactly the fields {sorted(FIELDS)}")
    if type(doc["version"]) is not int or doc["version"] != VERSION:
        raise ValueError(f"version: expected {VERSION}")
    return EnvelopeHeader(
        version=VERSION,
        device_id=_str(doc, "device_id", 1, 128),
        seq=_int(doc, "seq", 0, MAX_SAFE_INT),
        start=_num(doc, "start"),
        end=_num(doc, "end"),
        frame_count=_int(doc, "frame_count", 0, 2**31 - 1),
        width=_int(doc, "width", 0, 65535),
        height=_int(doc, "height", 0, 65535),
        fps=_num(doc, "fps", 0.0),
        content_type=_str(doc, "content_type", 1, 128),
        profile_hash=_str(doc, "profile_hash", 0, 128),
        consent_id=_str(doc, "consent_id", 1, 256),
        prev_hash=_pattern(doc, "prev_hash", _HEX64, empty_ok=True),
        created_at=_num(doc, "created_at"),
        chunk_size=_int(doc, "chunk_size", MIN_CHUNK, MAX_CHUNK),
        plaintext_len=_int(doc, "plaintext_len", 0, MAX_SAFE_INT),
        key_commitment=_pattern(doc, "key_commitment", _HEX64),
        recipients=_recipients(doc["recipients"]),
    )


def header_to_dict(header: EnvelopeHeader) -> dict[str, Any]:
    doc: dict[str, Any] = {name: getattr(header, name) for name in FIELDS}
    doc["recipients"] = [
        {"kid": entry.kid, "wrapped": base64.b64encode(entry.wrapped).decode("ascii")} for entry in header.recipients
    ]
    return doc


def encode_header(header: EnvelopeHeader) -> bytes:
    """Canonical header bytes. Raises ``ValueError`` naming the field if the header would not open."""
    doc = header_to_dict(header)
    data = canonical_json(doc)
    header_from_dict(strict_loads(data))  # the sealer holds itself to the opener's rules
    if len(data) > MAX_HEADER_LEN:
        raise ValueError(f"header: {len(data)} bytes is over the {MAX_HEADER_LEN}-byte limit")
    return data


def decode_header(data: bytes) -> EnvelopeHeader:
    """Parse and validate header bytes. Raises :class:`OpenError` only.

    The bytes need not be in canonical form: the signature covers them exactly as they are, and duplicate
    keys (the one way two readers could see different headers) are refused by the parser.
    """
    doc = strict_loads(data)
    try:
        return header_from_dict(doc)
    except (ValueError, TypeError, KeyError, OverflowError):
        raise OpenError() from None
