"""What flows out of the segment stage."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SegmentMeta:
    """Metadata of one segment. Times are UTC seconds since the epoch; ``end`` is exclusive (last frame + 1/fps)."""

    device_id: str
    seq: int
    start: float
    end: float
    frame_count: int
    width: int
    height: int
    fps: float
    content_type: str  # "video/mp2t"
    profile_hash: str  # hex SHA-256 of the profile text and zones in force


@dataclass(frozen=True, slots=True)
class Segment:
    """An encoded, redacted video segment, held in memory."""

    meta: SegmentMeta
    data: bytes
