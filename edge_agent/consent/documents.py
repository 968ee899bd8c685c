"""Field checks for every signed document a device or the center receives, and the documents that have no home of
their own: answers to police requests, audit log heads and the device's status.

A signature proves who wrote a document, not that its fields are sane: a compromised device signs whatever it
likes with its real key. So every field is checked as strictly as an envelope header before anything uses it:
numbers finite and in range (an integer is bounded before any float conversion: ``10**400`` would raise
OverflowError), text of bounded length without control characters, lists bounded, required fields present and
no unknown ones. Every failure is a :class:`ConsentError` naming the field, never another exception.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from edge_agent.errors import ConsentError

# Epoch seconds: 0 (a device that never had consent publishes its default record with time 0) up to year 5138.
MAX_TIME = 1e11
MAX_SAFE_INT = 2**53 - 1
MAX_LISTED_SEGMENTS = 10_000  # a 24 h window of 10 s segments is 8,640; a 1 MiB document holds about 8,000
HEX64 = re.compile(r"^[0-9a-f]{64}$")
REQUEST_ID = re.compile(r"^r-[0-9a-f]{16}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _fail(where: str, key: str, expected: str) -> ConsentError:
    return ConsentError(f"{where}: field {key!r}: expected {expected}")


def check_keys(doc: object, where: str, required: Collection[str], optional: Collection[str] = ()) -> dict[str, Any]:
    """``doc`` as a dict with every ``required`` key and nothing outside ``required`` and ``optional``."""
    if not isinstance(doc, dict):
        raise ConsentError(f"{where}: expected a JSON object")
    missing = sorted(set(required) - doc.keys())
    if missing:
        raise ConsentError(f"{where}: missing field(s) {', '.join(missing)}")
    unknown = sorted(str(k)[:40] for k in doc.keys() - set(required) - set(optional))
    if unknown:
        raise ConsentError(f"{where}: unknown field(s) {', '.join(unknown)}")
    return doc


def typed(
    doc: object, kind: str, where: str, required: Collection[str], optional: Collection[str] = ()
) -> dict[str, Any]:
    """A document of ``kind`` (its ``type`` field) with exactly the fields :func:`check_keys` allows."""
    checked = check_keys(doc, where, required, optional)
    if checked.get("type") != kind:
        raise ConsentError(f"{where}: not a {kind} document")
    return checked


def number(doc: dict[str, Any], key: str, where: str, low: float, high: float) -> float:
    """A finite number in ``[low, high)``; booleans are not numbers."""
    value = doc.get(key)
    if type(value) is int and abs(value) <= MAX_SAFE_INT:
        value = float(value)
    if type(value) is not float or not math.isfinite(value) or not low <= value < high:
        raise _fail(where, key, f"a finite number in [{low:g}, {high:g})")
    return value


def time_field(doc: dict[str, Any], key: str, where: str) -> float:
    """A time in epoch seconds."""
    return number(doc, key, where, 0.0, MAX_TIME)


def optional_time(doc: dict[str, Any], key: str, where: str) -> float | None:
    return None if doc.get(key) is None else time_field(doc, key, where)


def integer(doc: dict[str, Any], key: str, where: str, low: int, high: int) -> int:
    value = doc.get(key)
    if type(value) is not int or not low <= value <= high:  # type(): bool is an int subclass
        raise _fail(where, key, f"an integer in [{low}, {high}]")
    return value


def text(doc: dict[str, Any], key: str, where: str, high: int, *, required: bool = True) -> str:
    """Text of at most ``high`` characters without control characters (not blank when ``required``)."""
    value = doc.get(key, "")
    if not isinstance(value, str) or len(value) > high or (required and not value.strip()):
        raise _fail(where, key, f"text of {1 if required else 0}-{high} characters")
    if _CONTROL.search(value):
        raise _fail(where, key, "text without control characters")
    return value


def matching(doc: dict[str, Any], key: str, where: str, pattern: re.Pattern[str]) -> str:
    value = doc.get(key)
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise _fail(where, key, f"text matching {pattern.pattern}")
    return value


def choice(doc: dict[str, Any], key: str, where: str, allowed: Collection[str]) -> str:
    value = doc.get(key)
    if not isinstance(value, str) or value not in allowed:
        raise _fail(where, key, f"one of {', '.join(sorted(allowed))}")
    return value


def items(doc: dict[str, Any], key: str, where: str, high: int) -> list[Any]:
    value = doc.get(key)
    if not isinstance(value, list) or len(value) > high:
        raise _fail(where, key, f"a list of at most {high} entries")
    return value


# -- answers to police requests -----------------------------------------------------------------------------

DECISIONS = frozenset({"approved", "denied", "expired", "refused", "withdrawn"})
_ANSWER_KEYS = ("type", "device_id", "request_id", "case_id", "decision", "reason", "start", "end", "answered_at",
                "segments")


@dataclass(frozen=True, slots=True)
class SentSegment:
    """One segment an approval delivered, as the answer lists it."""

    seq: int
    start: float
    end: float
    header_hash: str


@dataclass(frozen=True, slots=True)
class Answer:
    device_id: str
    request_id: str
    case_id: str
    decision: str
    reason: str
    start: float
    end: float
    answered_at: float
    segments: tuple[SentSegment, ...]


def parse_sent_segment(raw: object, where: str) -> SentSegment:
    entry = check_keys(raw, where, ("seq", "start", "end", "header_hash"))
    start, end = time_field(entry, "start", where), time_field(entry, "end", where)
    if end < start:
        raise ConsentError(f"{where}: a listed segment ends before it starts")
    return SentSegment(integer(entry, "seq", where, 0, MAX_SAFE_INT), start, end,
                       matching(entry, "header_hash", where, HEX64))


def parse_answer(doc: object) -> Answer:
    """A verified answer document, field by field. ConsentError names the first bad field."""
    where = "answer"
    doc = typed(doc, "answer", where, _ANSWER_KEYS)
    start, end = time_field(doc, "start", where), time_field(doc, "end", where)
    if end <= start:
        raise ConsentError(f"{where}: the window ends before it starts")
    decision = choice(doc, "decision", where, DECISIONS)
    segments = tuple(parse_sent_segment(raw, f"{where} segment")
                     for raw in items(doc, "segments", where, MAX_LISTED_SEGMENTS))
    if segments and decision != "approved":
        raise ConsentError(f"{where}: only an approval lists segments")
    if len({s.seq for s in segments}) != len(segments):
        raise ConsentError(f"{where}: a segment is listed twice")
    return Answer(
        device_id=text(doc, "device_id", where, 64),
        request_id=matching(doc, "request_id", where, REQUEST_ID),
        case_id=text(doc, "case_id", where, 128),
        decision=decision,
        reason=text(doc, "reason", where, 1000, required=False),
        start=start,
        end=end,
        answered_at=time_field(doc, "answered_at", where),
        segments=segments,
    )


# -- audit log heads ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LogHeadDoc:
    device_id: str
    count: int
    last_hash: str
    time: float
    shared_seq: int  # the last sequence number the device shared (-1: none yet, or not reported)


def parse_loghead(doc: object) -> LogHeadDoc:
    where = "log head"
    doc = typed(doc, "loghead", where, ("type", "device_id", "count", "last_hash", "time"), ("shared_seq",))
    shared = integer(doc, "shared_seq", where, -1, MAX_SAFE_INT) if "shared_seq" in doc else -1
    return LogHeadDoc(
        device_id=text(doc, "device_id", where, 64),
        count=integer(doc, "count", where, 0, MAX_SAFE_INT),
        last_hash=matching(doc, "last_hash", where, HEX64),
        time=time_field(doc, "time", where),
        shared_seq=shared,
    )


# -- the device's status (retained, unsigned: only the device may publish on its topic) -------------------

STATES = frozenset({"online", "degraded", "scene_shift", "offline"})


@dataclass(frozen=True, slots=True)
class DeviceStatus:
    device_id: str
    state: str
    time: float
    detail: str
    shared_seq: int  # -1 when not reported


def parse_status(doc: object) -> DeviceStatus:
    where = "status"
    doc = check_keys(doc, where, ("device_id", "state", "time"), ("sharing", "consent", "detail", "shared_seq"))
    if "sharing" in doc and not isinstance(doc["sharing"], bool):
        raise _fail(where, "sharing", "true or false")
    if doc.get("consent") is not None:
        consent = check_keys(doc["consent"], f"{where} consent", ("id", "mode", "expires_at"))
        text(consent, "id", f"{where} consent", 64)
        text(consent, "mode", f"{where} consent", 16)
        optional_time(consent, "expires_at", f"{where} consent")
    shared = integer(doc, "shared_seq", where, -1, MAX_SAFE_INT) if "shared_seq" in doc else -1
    return DeviceStatus(
        device_id=text(doc, "device_id", where, 64),
        state=choice(doc, "state", where, STATES),
        time=time_field(doc, "time", where),
        detail=text(doc, "detail", where, 500, required=False),
        shared_seq=shared,
    )
