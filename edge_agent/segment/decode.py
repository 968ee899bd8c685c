"""Reading segments back: full decode to BGR frames, and a cheap probe that only demuxes."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import av
import numpy as np
import numpy.typing as npt

from edge_agent.errors import SegmentError

_FAILURES = (av.FFmpegError, ValueError, OSError, IndexError)


@dataclass(frozen=True, slots=True)
class SegmentProbe:
    """What a segment holds, from its packets alone (no decoding)."""

    frame_count: int
    width: int
    height: int
    codec: str  # "h264"
    container: str  # FFmpeg demuxer name: "mpegts", "mov,mp4,m4a,3gp,3g2,mj2"
    starts_with_keyframe: bool
    keyframes: int
    duration: float  # seconds, from the first packet's pts to the last one's end


# Our own segments carry their stream parameters in the first keyframe: a short probe finds them. FFmpeg's
# default probe reads megabytes and decodes for seconds of analysis, which was half of the center's ingest time.
_PROBE_OPTIONS = {"probesize": "65536", "analyzeduration": "0", "fpsprobesize": "0"}
# The demuxer is always named by the segment's content type, never guessed: format auto-detection would take an
# ffconcat or HLS playlist and open what it names. The protocol whitelist names no protocol, so nothing but the
# bytes given can be read.
MPEG_TS = "video/mp2t"
_DEMUXERS = {MPEG_TS: "mpegts", "video/mp4": "mp4"}
_SAFE_OPTIONS = {"protocol_whitelist": "none"}


def _open(data: bytes, content_type: str, quick: bool = False) -> Any:
    if not data:
        raise SegmentError("segment is empty")
    demuxer = _DEMUXERS.get(content_type)
    if demuxer is None:
        raise SegmentError(f"unsupported segment content type {content_type[:64]!r}")
    try:
        options = {**_SAFE_OPTIONS, **(_PROBE_OPTIONS if quick else {})}
        container = av.open(io.BytesIO(data), mode="r", format=demuxer, options=options)
    except _FAILURES as exc:
        raise SegmentError(f"segment is not a readable video container: {exc}") from exc
    if not container.streams.video:
        container.close()
        raise SegmentError("segment has no video stream")
    return container


def decode_segment(data: bytes, content_type: str = MPEG_TS) -> list[npt.NDArray[np.uint8]]:
    """Every frame of the segment, as BGR ``uint8`` arrays. For tests and the center's checks."""
    container = _open(data, content_type)
    try:
        return [
            np.asarray(frame.to_ndarray(format="bgr24"), dtype=np.uint8)
            for frame in container.decode(container.streams.video[0])
        ]
    except _FAILURES as exc:
        raise SegmentError(f"segment does not decode: {exc}") from exc
    finally:
        container.close()


def probe_segment(data: bytes, content_type: str = MPEG_TS) -> SegmentProbe:
    """Count packets and keyframes and read the stream parameters without decoding a single frame."""
    container = _open(data, content_type, quick=True)
    try:
        stream = container.streams.video[0]
        packets = [p for p in container.demux(stream) if p.size]
        first_pts = min((p.pts for p in packets if p.pts is not None), default=0)
        last = max(packets, key=lambda p: p.pts if p.pts is not None else -1, default=None)
        duration = 0.0
        if last is not None and last.pts is not None and stream.time_base is not None:
            duration = float((last.pts - first_pts + (last.duration or 0)) * stream.time_base)
        return SegmentProbe(
            frame_count=len(packets),
            width=int(stream.codec_context.width),
            height=int(stream.codec_context.height),
            codec=str(stream.codec_context.name),
            container=str(container.format.name),
            starts_with_keyframe=bool(packets) and bool(packets[0].is_keyframe),
            keyframes=sum(1 for p in packets if p.is_keyframe),
            duration=duration,
        )
    except _FAILURES as exc:
        raise SegmentError(f"segment does not demux: {exc}") from exc
    finally:
        container.close()
