"""Splitting payloads that exceed the broker's maximum packet size, and putting them back together.

A split message is published as N messages on the same topic, each with the MQTT v5 user properties
``part`` = "i/N" (1-based), ``msg`` = a random 128-bit id in hex, ``sha256`` = the digest of the whole payload and
``size`` = its length. Parts may arrive at different center workers of one shared subscription, so the
:class:`Reassembler` keeps them on disk in a folder the workers share: each part is one file, written atomically;
the worker whose write completes the set claims it with an atomic rename of the set's folder (only one rename can
win), joins the parts, checks the digest and returns the payload (see :mod:`edge_agent.transport.reassembly`).
"""

from __future__ import annotations

import hashlib
import logging
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from edge_agent.config.policy import MAX_SEGMENT_BYTES
from edge_agent.errors import TransportError
from edge_agent.transport.model import InboundMessage

log = logging.getLogger(__name__)

PART = "part"
MSG = "msg"
SHA256 = "sha256"
SIZE = "size"
# A split message is at most MAX_PAYLOAD bytes in at most MAX_PARTS parts: the largest segment a profile may make
# (config.models refuses a bitrate and segment length that could exceed it), so a hostile sender cannot make the
# center keep or join more. 1,024 parts of that size need a broker maximum packet size of at least 64 KiB.
MAX_PAYLOAD = MAX_SEGMENT_BYTES
MAX_PARTS = 1024
PACKET_MARGIN = 256  # room kept free in every part beyond what we compute, in case a broker counts differently
MIN_PART = 1024
_MSG_RE = re.compile(r"^[0-9a-f]{32}$")
_SHA_RE = re.compile(r"^[0-9a-f]{64}$")
_PART_RE = re.compile(r"^([1-9][0-9]{0,5})/([1-9][0-9]{0,5})$")
_PART_FILE_RE = re.compile(r"^[0-9]{6}$")
_SIZE_RE = re.compile(r"^[0-9]{1,15}$")
_DONE = ".done"
_CLAIM = ".claim-"

UserProperties = tuple[tuple[str, str], ...]


def _varint_len(n: int) -> int:
    size = 1
    while n >= 128:
        n //= 128
        size += 1
    return size


def publish_packet_size(
    topic: str,
    payload_len: int,
    user_properties: Sequence[tuple[str, str]] = (),
    content_type: str | None = None,
    expiry: int | None = None,
) -> int:
    """The size of an MQTT v5 PUBLISH packet (QoS > 0), as the broker compares it to its maximum."""
    props = sum(5 + len(k.encode()) + len(v.encode()) for k, v in user_properties)
    if content_type is not None:
        props += 3 + len(content_type.encode())
    if expiry is not None:
        props += 5
    variable = 2 + len(topic.encode()) + 2 + _varint_len(props) + props
    remaining = variable + payload_len
    return 1 + _varint_len(remaining) + remaining


def part_properties_template() -> UserProperties:
    """User properties of the largest possible part, for computing the room they take."""
    return ((PART, f"{MAX_PARTS}/{MAX_PARTS}"), (MSG, "0" * 32), (SHA256, "0" * 64), (SIZE, "9" * 12))


def split_payload(payload: bytes, chunk: int) -> list[tuple[bytes, UserProperties]]:
    """Cut ``payload`` into parts of at most ``chunk`` bytes, each with its part properties."""
    if chunk < 1:
        raise TransportError(f"cannot split a payload into parts of {chunk} bytes")
    if len(payload) > MAX_PAYLOAD:
        raise TransportError(f"payload of {len(payload)} bytes is over the {MAX_PAYLOAD}-byte limit of a split message")
    count = max(1, -(-len(payload) // chunk))
    if count > MAX_PARTS:
        raise TransportError(f"payload of {len(payload)} bytes needs {count} parts, more than {MAX_PARTS}")
    msg_id = uuid.uuid4().hex
    digest = hashlib.sha256(payload).hexdigest()
    view = memoryview(payload)
    return [
        (
            bytes(view[i * chunk : (i + 1) * chunk]),
            ((PART, f"{i + 1}/{count}"), (MSG, msg_id), (SHA256, digest), (SIZE, str(len(payload)))),
        )
        for i in range(count)
    ]


def plan_parts(
    topic: str,
    payload: bytes,
    limit: int | None,
    user_properties: UserProperties = (),
    *,
    content_type: str | None = None,
    expiry: int | None = None,
    retain: bool = False,
) -> list[tuple[bytes, UserProperties]]:
    """The messages to publish for ``payload`` under a broker maximum packet size of ``limit`` (None: no limit).

    Returns ``[(payload, ())]`` when it fits, else the parts with their extra user properties.
    """
    if limit is None or publish_packet_size(topic, len(payload), user_properties, content_type, expiry) <= limit:
        return [(payload, ())]
    if retain:
        raise TransportError(f"retained message on {topic} exceeds the broker's limit of {limit} bytes")
    room = user_properties + part_properties_template()
    chunk = limit - publish_packet_size(topic, 0, room, content_type, expiry) - PACKET_MARGIN
    if chunk < MIN_PART:
        raise TransportError(f"broker maximum packet size {limit} is too small to split messages")
    return split_payload(payload, chunk)


@dataclass(frozen=True, slots=True)
class PartInfo:
    index: int  # 1-based
    count: int
    msg_id: str
    sha256: str
    size: int


def part_info(msg: InboundMessage) -> PartInfo | None:
    """The part properties of ``msg``; None for a message that was not split; TransportError if malformed."""
    part = msg.property(PART)
    if part is None:
        return None
    match = _PART_RE.fullmatch(part)
    msg_id, digest, size = msg.property(MSG), msg.property(SHA256), msg.property(SIZE)
    where = f"malformed part properties on a message on {msg.topic}"
    if (
        match is None
        or msg_id is None
        or not _MSG_RE.fullmatch(msg_id)
        or digest is None
        or not _SHA_RE.fullmatch(digest)
        or size is None
        or not _SIZE_RE.fullmatch(size)  # not str.isdigit(): it accepts "²", which int() refuses
    ):
        raise TransportError(where)
    index, count, total = int(match.group(1)), int(match.group(2)), int(size)
    if index > count or count > MAX_PARTS or not count <= total <= MAX_PAYLOAD:
        raise TransportError(f"{where}: part {part} of {total} bytes (at most {MAX_PARTS} parts, {MAX_PAYLOAD} bytes)")
    info = PartInfo(index=index, count=count, msg_id=msg_id, sha256=digest, size=total)
    if not part_length_fits(info, len(msg.payload)):
        raise TransportError(f"{where}: part {part} of {len(msg.payload)} bytes cannot belong to {total} bytes")
    return info


def part_length_fits(info: PartInfo, length: int) -> bool:
    """Can a part of ``length`` bytes be part ``info.index`` of a payload split by :func:`split_payload`?

    Every part but the last has the chunk length ``c``, with ``ceil(size / c) == count``; the last has what is
    left. So no set of parts can hold much more than twice its declared size, whatever a sender claims."""
    size, count = info.size, info.count
    if count == 1:
        return length == size
    if info.index < count:
        return length * (count - 1) < size <= length * count
    smallest_chunk = -(-size // count)
    return 1 <= length <= size - (count - 1) * smallest_chunk
