"""Topic names: the only place that builds or parses MQTT topic strings.

Layout, under a prefix such as ``rtcc/v1``::

    <prefix>/<device-id>/status     retained; "online", and the last will "offline"
    <prefix>/<device-id>/consent    retained; the current consent state
    <prefix>/<device-id>/segments   sealed segments (device -> center)
    <prefix>/<device-id>/requests   police requests (center -> device)
    <prefix>/<device-id>/answers    approvals and denials of requests (device -> center)
    <prefix>/<device-id>/loghead    retained; the signed head of the audit log
    <prefix>/<device-id>/masking    neighbours' masking requests (center -> device)
    <prefix>/<device-id>/masking-answer  the homeowner's answers to them, with a still (device -> center)

Device ids are validated whenever a topic is built or parsed, so that a hostile id can never smuggle a ``/``,
``+`` or ``#`` into a topic or a file name derived from it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from edge_agent.errors import TransportError

DEVICE_ID_RE = re.compile(r"^[a-z0-9-]{3,64}$")
PREFIX_RE = re.compile(r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$")
SHARE_GROUP_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

STATUS = "status"
CONSENT = "consent"
SEGMENTS = "segments"
REQUESTS = "requests"
ANSWERS = "answers"
LOGHEAD = "loghead"
MASKING = "masking"
MASKING_ANSWER = "masking-answer"
KINDS = frozenset({STATUS, CONSENT, SEGMENTS, REQUESTS, ANSWERS, LOGHEAD, MASKING, MASKING_ANSWER})


def check_device_id(device_id: str) -> str:
    if not DEVICE_ID_RE.fullmatch(device_id):
        raise TransportError(f"invalid device id {device_id!r}: expected 3-64 of a-z, 0-9 and '-'")
    return device_id


def _check_prefix(prefix: str) -> str:
    if not PREFIX_RE.fullmatch(prefix):
        raise TransportError(f"invalid topic prefix {prefix!r}: expected segments of A-Z, a-z, 0-9, '_', '-'")
    return prefix


def _check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise TransportError(f"unknown topic kind {kind!r}: expected one of {', '.join(sorted(KINDS))}")
    return kind


@dataclass(frozen=True, slots=True)
class Topics:
    """The topics of one device."""

    prefix: str
    device_id: str

    def __post_init__(self) -> None:
        _check_prefix(self.prefix)
        check_device_id(self.device_id)

    def topic(self, kind: str) -> str:
        return f"{self.prefix}/{self.device_id}/{_check_kind(kind)}"

    @property
    def status(self) -> str:
        return self.topic(STATUS)

    @property
    def consent(self) -> str:
        return self.topic(CONSENT)

    @property
    def segments(self) -> str:
        return self.topic(SEGMENTS)

    @property
    def requests(self) -> str:
        return self.topic(REQUESTS)

    @property
    def answers(self) -> str:
        return self.topic(ANSWERS)

    @property
    def loghead(self) -> str:
        return self.topic(LOGHEAD)

    @property
    def masking(self) -> str:
        return self.topic(MASKING)

    @property
    def masking_answer(self) -> str:
        return self.topic(MASKING_ANSWER)


def parse_topic(prefix: str, topic: str) -> tuple[str, str]:
    """Split ``<prefix>/<device-id>/<kind>`` into ``(device_id, kind)``; TransportError for anything else."""
    _check_prefix(prefix)
    head = prefix + "/"
    if not topic.startswith(head):
        raise TransportError(f"topic {topic!r} is not under {prefix!r}")
    parts = topic[len(head) :].split("/")
    if len(parts) != 2:
        raise TransportError(f"topic {topic!r} is not <prefix>/<device-id>/<kind>")
    device_id, kind = parts
    if not DEVICE_ID_RE.fullmatch(device_id):
        raise TransportError(f"topic {topic!r} names an invalid device id")
    if kind not in KINDS:
        raise TransportError(f"topic {topic!r} has an unknown kind {kind!r}")
    return device_id, kind


def device_filter(prefix: str, kind: str, share_group: str | None = None) -> str:
    """A filter for ``kind`` across all devices, optionally as a shared subscription (``$share/G/...``)."""
    plain = f"{_check_prefix(prefix)}/+/{_check_kind(kind)}"
    if share_group is None:
        return plain
    if not SHARE_GROUP_RE.fullmatch(share_group):
        raise TransportError(f"invalid share group {share_group!r}: expected 1-64 of A-Z, a-z, 0-9, '_', '-'")
    return f"$share/{share_group}/{plain}"


def check_filter(topic_filter: str) -> str:
    """Refuse a subscription filter that a broker would reject (checked before it is stored for reconnects)."""
    body = topic_filter
    if body.startswith("$share/"):
        pieces = body.split("/", 2)
        if len(pieces) < 3 or not SHARE_GROUP_RE.fullmatch(pieces[1]):
            raise TransportError(f"invalid shared subscription {topic_filter!r}")
        body = pieces[2]
    levels = body.split("/")
    wildcards_whole = all(level in ("+", "#") or ("+" not in level and "#" not in level) for level in levels)
    hash_last = "#" not in levels[:-1]
    if not body or len(body.encode()) >= 65535 or "\0" in body or not wildcards_whole or not hash_last:
        raise TransportError(f"invalid topic filter {topic_filter!r}")
    return topic_filter


def segments_filter(prefix: str, share_group: str | None = None) -> str:
    """The center's filter for every device's segments; with a group, workers split the load."""
    return device_filter(prefix, SEGMENTS, share_group)


# -- the homeowner's own broker (Home Assistant): never the crime center's ------------------------------------

HA_COMPONENTS = frozenset({"sensor", "button", "event"})


@dataclass(frozen=True, slots=True)
class HomeAssistantTopics:
    """Topics on the homeowner's Home Assistant broker: MQTT discovery configs under ``<discovery>/<component>/
    <device-id>/<object>/config`` (Home Assistant's convention) and the device's own state under
    ``<prefix>/<device-id>/``."""

    discovery_prefix: str
    prefix: str
    device_id: str

    def __post_init__(self) -> None:
        _check_prefix(self.discovery_prefix)
        _check_prefix(self.prefix)
        check_device_id(self.device_id)

    def config(self, component: str, object_id: str) -> str:
        if component not in HA_COMPONENTS or not SHARE_GROUP_RE.fullmatch(object_id):
            raise TransportError(f"invalid discovery entity {component}/{object_id}")
        return f"{self.discovery_prefix}/{component}/{self.device_id}/{object_id}/config"

    def _own(self, leaf: str) -> str:
        return f"{self.prefix}/{self.device_id}/{leaf}"

    @property
    def availability(self) -> str:
        return self._own("availability")

    @property
    def consent(self) -> str:
        return self._own("consent")

    @property
    def consent_attributes(self) -> str:
        return self._own("consent/attributes")

    @property
    def pending(self) -> str:
        return self._own("pending")

    @property
    def pending_attributes(self) -> str:
        return self._own("pending/attributes")

    @property
    def stop_sharing(self) -> str:
        return self._own("stop-sharing")

    @property
    def request_event(self) -> str:
        return self._own("request-event")

    @property
    def home_assistant_status(self) -> str:
        """Home Assistant's birth and last will ("online"/"offline"): discovery is sent again when it comes up."""
        return f"{self.discovery_prefix}/status"
