"""Stored segments made playable in a browser or a desktop player, without re-encoding (the H.264 is copied).

- :func:`fragment` turns one MPEG-TS segment into fragmented MP4 (``ftyp moov moof mdat``) for the console's
  player, which feeds each to the browser's Media Source Extensions and places it on the timeline at the
  segment's capture time. Its timestamps start at 0: the player adds the capture time.
- :func:`join_segments` writes the segments of one device, in order, into one MP4 file for viewing, with each
  frame at its capture time relative to the first (a gap in the footage is a held frame, never a jump back).
  The file is a *derived copy*: its metadata says so, and the evidence is the sealed originals.

Inputs are the center's own stored segments (verified at intake); the demuxer is still named, never guessed,
and reads nothing but the bytes given.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from edge_agent.errors import CenterError

FRAGMENTED = {"movflags": "frag_keyframe+empty_moov+default_base_moof"}
_SAFE = {"protocol_whitelist": "none", "probesize": "65536", "analyzeduration": "0"}
_FAILURES = (av.FFmpegError, ValueError, OSError, IndexError)
TICKS = 90_000
DERIVED_NOTE = "DERIVED COPY for viewing, joined from the decrypted segments; the evidence is the sealed originals"


def _input(data: bytes) -> Any:
    return av.open(io.BytesIO(data), mode="r", format="mpegts", options=_SAFE)


def fragment(ts: bytes) -> bytes:
    """One MPEG-TS segment as fragmented MP4 (H.264 copied), starting at time 0."""
    out = io.BytesIO()
    try:
        with _input(ts) as source, av.open(out, mode="w", format="mp4", options=FRAGMENTED) as target:
            stream = source.streams.video[0]
            copy = target.add_stream_from_template(stream)
            first: int | None = None
            for packet in source.demux(stream):
                if packet.dts is None or not packet.size:
                    continue
                first = packet.dts if first is None else first
                packet.dts -= first
                packet.pts = packet.dts if packet.pts is None else packet.pts - first
                packet.stream = copy
                target.mux(packet)
    except _FAILURES as exc:
        raise CenterError(f"segment cannot be made playable: {exc}") from exc
    return out.getvalue()


def join_segments(segments: Iterable[tuple[float, bytes]], path: Path, title: str) -> int:
    """Write ``(capture start, MPEG-TS bytes)`` segments, in order, into one MP4 at ``path``; returns frames written.

    Each segment's frames are placed at their capture time relative to the first segment's start (MPEG-TS counts
    in 90 kHz ticks, and so does the file)."""
    joined = _Joined()
    try:
        with av.open(str(path), mode="w", format="mp4", options={"movflags": "+faststart"}) as target:
            target.metadata["title"] = title[:200]
            target.metadata["comment"] = DERIVED_NOTE
            for start, ts in segments:
                with _input(ts) as source:
                    joined.add(target, source, start)
    except _FAILURES as exc:
        path.unlink(missing_ok=True)
        raise CenterError(f"cannot join the segments into {path.name}: {exc}") from exc
    return joined.frames


class _Joined:
    """The running state of :func:`join_segments`: the output stream, the first start, the last time written."""

    def __init__(self) -> None:
        self.stream: Any = None
        self.origin: float | None = None
        self.last_dts = -1
        self.frames = 0

    def add(self, target: Any, source: Any, start: float) -> None:
        stream = source.streams.video[0]
        if self.stream is None:
            self.stream = target.add_stream_from_template(stream)
            self.stream.time_base = Fraction(1, TICKS)
        self.origin = start if self.origin is None else self.origin
        offset = round((start - self.origin) * TICKS)
        first: int | None = None
        for packet in source.demux(stream):
            if packet.dts is None or not packet.size:
                continue
            first = packet.dts if first is None else first
            dts = max(self.last_dts + 1, offset + packet.dts - first)
            packet.pts = dts + (packet.pts - packet.dts if packet.pts is not None else 0)
            packet.dts = dts
            packet.time_base = Fraction(1, TICKS)
            packet.stream = self.stream
            target.mux(packet)
            self.last_dts = dts
            self.frames += 1
