"""Segments from an encoder that is not ours: the Pi's hardware H.264 encoder (picamera2's ``H264Encoder``).

The encoder hands over encoded access units (Annex B, sequence headers repeated at each keyframe) with a keyframe
flag and a timestamp in microseconds, from its own thread. :class:`KeyframeSegmenter` muxes them into MPEG-TS in
memory (no re-encoding) and cuts a segment at the first keyframe once ``seconds`` have passed, so each segment
starts with a keyframe and decodes on its own.

A cut asked for between keyframes (:meth:`flush`: consent or policy changed) ends the segment at once; the access
units until the next keyframe cannot be decoded without the one before them, so they are dropped rather than put
in a segment made under another consent state or policy (at most one keyframe period, ``iperiod``).

Presentation times count from the recording's first access unit (the encoder's own clock), not from each
segment's, so the segments of one recording play and join end to end without a jump back to zero at each cut.
"""

from __future__ import annotations

import io
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import av

from edge_agent.errors import SegmentError
from edge_agent.segment.encoder import EncodableFrame
from edge_agent.segment.model import Segment, SegmentMeta
from edge_agent.segment.tsscan import CONTENT_TYPE

log = logging.getLogger(__name__)

TIME_BASE = Fraction(1, 90_000)  # MPEG-TS's clock
READY_MAX = 8  # finished segments waiting for the frame loop; more means it stopped taking them


@dataclass(slots=True)
class _Open:
    buffer: io.BytesIO
    container: Any
    stream: Any
    start: float  # capture time of the first access unit (UTC seconds)
    last_at: float
    profile_hash: str  # the policy in force when the segment began
    frames: int = 0


class KeyframeSegmenter:
    """Cuts a stream of H.264 access units into MPEG-TS segments at keyframes. Thread-safe."""

    def __init__(self, *, device_id: str, width: int, height: int, fps: float) -> None:
        self.device_id = device_id
        self.width, self.height, self.fps = width, height, fps
        self.seconds = 10.0
        self.profile_hash = ""
        self._seq = 0
        self._lock = threading.Lock()
        self._open: _Open | None = None
        self._ready: deque[Segment] = deque()
        self._base: tuple[int, float] | None = None  # (encoder µs, UTC seconds) of the first access unit
        self.dropped = 0  # access units left out after a cut, until the next keyframe

    # -- the frame loop's side (the Encoder interface) ---------------------------------------------------------

    def begin(self, *, seconds: float, profile_hash: str, first_seq: int) -> KeyframeSegmenter:
        """Settings of the segments from the next keyframe on (after :meth:`flush`)."""
        with self._lock:
            self.seconds, self.profile_hash, self._seq = seconds, profile_hash, first_seq
        return self

    @property
    def next_seq(self) -> int:
        return self._seq

    def push(self, frame: EncodableFrame) -> Segment | None:
        """The hardware encodes the frame's pixels itself (after redaction in place); here only a segment the
        encoder thread finished is handed out."""
        with self._lock:
            return self._ready.popleft() if self._ready else None

    def flush(self) -> Segment | None:
        """End the segment in progress now; later access units wait for the next keyframe."""
        with self._lock:
            if self._open is not None:
                self._ready.append(self._finish(self._open))
                self._open = None
            return self._ready.popleft() if self._ready else None

    def drain(self) -> list[Segment]:
        """Every finished segment not handed out yet."""
        with self._lock:
            out = list(self._ready)
            self._ready.clear()
            return out

    # -- the encoder thread's side ---------------------------------------------------------------------------

    def add(self, data: bytes, keyframe: bool, timestamp_us: int | None) -> None:
        """One encoded access unit (picamera2's ``Output.outputframe``)."""
        now = time.time()
        with self._lock:
            if timestamp_us is None:
                timestamp_us = 0 if self._base is None else round((now - self._base[1]) * 1e6) + self._base[0]
            if self._base is None:
                self._base = (timestamp_us, now)
            captured_at = self._base[1] + (timestamp_us - self._base[0]) / 1e6
            seg = self._open
            if seg is not None and keyframe and captured_at - seg.start >= self.seconds:
                self._ready.append(self._finish(seg))
                seg = self._open = None
            if seg is None:
                if not keyframe:
                    self.dropped += 1
                    return
                seg = self._open = self._start(captured_at)
            self._mux(seg, data, keyframe, timestamp_us - self._base[0], captured_at)
            while len(self._ready) > READY_MAX:
                lost = self._ready.popleft()
                log.warning("segment %d dropped: the frame loop is not taking segments", lost.meta.seq)

    def _start(self, captured_at: float) -> _Open:
        buffer = io.BytesIO()
        try:
            container = av.open(buffer, mode="w", format="mpegts")
            stream = container.add_stream("h264", rate=Fraction(self.fps).limit_denominator(1001))
            stream.width, stream.height = self.width, self.height
            stream.time_base = TIME_BASE
        except (av.FFmpegError, ValueError) as exc:
            raise SegmentError(f"cannot start segment {self._seq}: {exc}") from exc
        return _Open(buffer, container, stream, captured_at, captured_at, self.profile_hash)

    def _mux(self, seg: _Open, data: bytes, keyframe: bool, recording_us: int, captured_at: float) -> None:
        """Add one access unit; ``recording_us`` is its time since the recording's first access unit."""
        packet = av.Packet(data)
        packet.stream = seg.stream
        packet.time_base = TIME_BASE
        packet.pts = packet.dts = max(0, round(recording_us * 9 / 100))
        packet.is_keyframe = keyframe
        try:
            seg.container.mux(packet)
        except (av.FFmpegError, ValueError) as exc:
            log.error("access unit not muxed into segment %d: %s", self._seq, exc)
            return
        seg.frames += 1
        seg.last_at = captured_at

    def _finish(self, seg: _Open) -> Segment:
        try:
            seg.container.close()
        except (av.FFmpegError, ValueError) as exc:
            log.error("closing segment %d: %s", self._seq, exc)
        meta = SegmentMeta(
            device_id=self.device_id, seq=self._seq, start=seg.start, end=seg.last_at + 1.0 / self.fps,
            frame_count=seg.frames, width=self.width, height=self.height, fps=self.fps, content_type=CONTENT_TYPE,
            profile_hash=seg.profile_hash,
        )
        self._seq += 1
        return Segment(meta, seg.buffer.getvalue())
