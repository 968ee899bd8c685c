"""Redacted frames to self-contained H.264 segments, entirely in memory (PyAV + libx264).

Each segment is its own container with its own encoder, so it starts with a keyframe and decodes on its own:
a segment can be shared, stored or lost without touching its neighbours. Frames are encoded as they arrive,
so at most the encoder's own small state holds pixels; nothing is ever written to disk here.

Each frame is converted to I420 into one buffer that the encoder keeps, and handed to x264 without a copy
(x264 copies the picture into its own frame before ``encode`` returns). That spares a 1.4 MB array and two
copies of it per 720p frame: large blocks that glibc keeps between trims, and a fifth of the encoding time.

A segment is cut by capture time, not by frame count: the frame whose ``captured_at - start >= seconds``
opens the next segment. Presentation times follow capture times too (rounded to the frame rate and kept
strictly increasing), so frames a live camera dropped show up as a held frame, not as a jump in time.

Presentation times run on across the segments of one recording (one encoder's life): they count from the
recording's first frame, not from each segment's, so segments played one after the other, or joined end to end
(``cat *.ts``, FFmpeg's concat), make one stream with no jump back to zero at each cut. MPEG-TS keeps 33 bits
of a 90 kHz clock, so a recording's times wrap after about 26.5 hours, which players expect of a transport stream.
"""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Protocol, TypeVar

import av
import cv2
import numpy as np

from edge_agent.capture.base import Image
from edge_agent.errors import SegmentError
from edge_agent.segment.model import Segment, SegmentMeta

log = logging.getLogger(__name__)


class EncodableFrame(Protocol):
    """What the encoder needs of a frame: a redacted frame (``edge_agent.redact.RedactedFrame``) is one. Named
    structurally, so that the segment stage does not import the stage before it."""

    @property
    def index(self) -> int: ...

    @property
    def captured_at(self) -> float: ...

    @property
    def image(self) -> Image: ...


class Encoder(Protocol):
    """Redacted frames in, finished segments out, chosen by ``camera.encoder``: :class:`SegmentEncoder` (x264, in
    this process) or :class:`edge_agent.segment.keyframes.KeyframeSegmenter` (the Pi's hardware encoder, which
    reads the redacted camera buffer itself)."""

    @property
    def next_seq(self) -> int: ...

    def push(self, frame: EncodableFrame) -> Segment | None: ...

    def flush(self) -> Segment | None: ...

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ContainerFormat:
    name: str  # FFmpeg muxer
    content_type: str
    options: tuple[tuple[str, str], ...] = ()


CONTAINERS = {
    "mpegts": ContainerFormat("mpegts", "video/mp2t"),
    # Fragmented MP4 that needs no seeking back, so it can be written to a BytesIO in one pass.
    "fmp4": ContainerFormat("mp4", "video/mp4", (("movflags", "frag_keyframe+empty_moov+default_base_moof"),)),
}
X264_PRESETS = frozenset(
    {"ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow"}
)


class _Open:
    """One segment being written: its buffer, container, stream and the frames it holds so far."""

    def __init__(self, encoder: SegmentEncoder, start: float) -> None:
        self.start = start
        self.last_at = start
        self.frames = 0
        self.buffer = io.BytesIO()
        fmt = encoder.container_format
        self.container: Any = av.open(self.buffer, mode="w", format=fmt.name, options=dict(fmt.options))
        stream: Any = self.container.add_stream(
            "libx264",
            rate=encoder.rate,
            options=encoder.x264_options(),
        )
        stream.width, stream.height = encoder.width, encoder.height
        stream.pix_fmt = "yuv420p"
        stream.bit_rate = encoder.bitrate_kbps * 1000
        stream.codec_context.time_base = 1 / encoder.rate
        self.stream = stream


class SegmentEncoder:
    """Encodes redacted frames (:class:`EncodableFrame`) into :class:`Segment` s of ``seconds`` each (capture time)."""

    def __init__(
        self,
        *,
        device_id: str,
        width: int,
        height: int,
        fps: float,
        seconds: float,
        profile_hash: str,
        first_seq: int = 0,
        preset: str = "ultrafast",
        bitrate_kbps: int = 2000,
        container: str = "mpegts",
        threads: int = 0,
    ) -> None:
        if width <= 0 or height <= 0 or width % 2 or height % 2:
            raise SegmentError(f"segment size {width}x{height} must be positive and even (H.264 4:2:0)")
        if not 0 < fps <= 240:
            raise SegmentError(f"segment fps {fps} must be between 0 and 240")
        if seconds <= 0:
            raise SegmentError(f"segment length {seconds} s must be positive")
        if preset not in X264_PRESETS:
            raise SegmentError(f"unknown x264 preset {preset!r} (known: {', '.join(sorted(X264_PRESETS))})")
        if container not in CONTAINERS:
            raise SegmentError(f"unknown segment container {container!r} (known: {', '.join(CONTAINERS)})")
        if threads < 0:
            raise SegmentError(f"encoder threads {threads} must not be negative (0 means one per core)")
        if first_seq < 0:
            raise SegmentError(f"first segment number {first_seq} must not be negative")
        self.device_id = device_id
        self.width, self.height, self.fps = width, height, fps
        self.seconds = seconds
        self.profile_hash = profile_hash
        self.preset = preset
        self.bitrate_kbps = bitrate_kbps
        self.threads = threads
        self.container_format = CONTAINERS[container]
        self.rate = Fraction(fps).limit_denominator(1001)
        self._seq = first_seq
        self._open: _Open | None = None
        self._ready: Segment | None = None
        self._yuv: np.ndarray[Any, np.dtype[np.uint8]] | None = None  # the I420 buffer reused by every frame
        # The recording's clock: capture time of its first frame, and the last presentation time given out. Both
        # outlive each segment, so presentation times run on across cuts.
        self._epoch: float | None = None
        self._last_pts = -1

    def x264_options(self) -> dict[str, str]:
        options = {"preset": self.preset, "tune": "zerolatency"}
        if self.threads:
            # x264 picks 1.5 threads per core by default, each with its own buffers; the daemon asks for fewer.
            options["threads"] = str(self.threads)
        return options

    @property
    def next_seq(self) -> int:
        """The sequence number the next finished segment will carry."""
        return self._seq

    def push(self, frame: EncodableFrame) -> Segment | None:
        """Encode one frame; returns the previous segment when this frame's capture time starts a new one."""
        image = frame.image
        if image.shape != (self.height, self.width, 3) or image.dtype.name != "uint8":
            raise SegmentError(
                f"frame {frame.index} is {image.shape} {image.dtype}, expected ({self.height}, {self.width}, 3) uint8"
            )
        finished, self._ready = self._ready, None
        if finished is None and self._open is not None and frame.captured_at - self._open.start >= self.seconds:
            finished = self._finish(self._open)
        try:
            if self._open is None:
                self._open = self._guard(lambda: _Open(self, frame.captured_at))
            current = self._open
            self._guard(lambda: self._encode(current, image, frame.captured_at))
        except SegmentError:
            # A finished segment is not lost with the frame that failed: the next push or flush hands it out.
            self._ready = finished
            raise
        return finished

    def flush(self) -> Segment | None:
        """Finish the current partial segment (``None`` when no frame is pending)."""
        if self._ready is not None:
            # Only after a failed push, which also dropped the open segment: nothing else is pending.
            ready, self._ready = self._ready, None
            return ready
        if self._open is None:
            return None
        return self._finish(self._open)

    def _encode(self, seg: _Open, image: Any, captured_at: float) -> None:
        if self._yuv is None:
            self._yuv = np.empty((self.height * 3 // 2, self.width), np.uint8)
        # OpenCV's BGR -> I420 is much faster than swscale here and gives the same quality after decoding. It
        # writes into the buffer (same shape and type), so ``yuv is self._yuv``.
        yuv = np.asarray(cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_BGR2YUV_I420, dst=self._yuv),
                         dtype=np.uint8)
        self._yuv = yuv
        # The frame wraps ``yuv`` (no copy); FFmpeg holds a reference to it only while the frame is queued.
        video_frame = av.VideoFrame.from_numpy_buffer(yuv, format="yuv420p")
        if (video_frame.width, video_frame.height) != (self.width, self.height):
            # PyAV 18 reads the height of a yuv420p buffer as rows // 6 * 4: two rows short when height % 4 == 2.
            video_frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
        if self._epoch is None:
            self._epoch = captured_at
        pts = max(self._last_pts + 1, round((captured_at - self._epoch) * self.rate))
        video_frame.pts = pts
        video_frame.time_base = 1 / self.rate
        for packet in seg.stream.encode(video_frame):
            seg.container.mux(packet)
        del video_frame
        # x264 has copied the picture by now. Should an encoder ever keep the frame queued instead (a reference
        # besides ours, this function's and getrefcount's own), it keeps that buffer and the next frame gets a new
        # one, so a queued picture is never overwritten.
        if sys.getrefcount(yuv) > 3:
            self._yuv = None
        self._last_pts = pts
        seg.last_at = captured_at
        seg.frames += 1

    def _finish(self, seg: _Open) -> Segment:
        self._open = None

        def close() -> bytes:
            for packet in seg.stream.encode(None):
                seg.container.mux(packet)
            seg.container.close()
            return seg.buffer.getvalue()

        data = self._guard(close)
        meta = SegmentMeta(
            device_id=self.device_id,
            seq=self._seq,
            start=seg.start,
            end=seg.last_at + 1.0 / self.fps,
            frame_count=seg.frames,
            width=self.width,
            height=self.height,
            fps=self.fps,
            content_type=self.container_format.content_type,
            profile_hash=self.profile_hash,
        )
        self._seq += 1
        log.debug("segment %s/%d: %d frames, %d bytes", self.device_id, meta.seq, meta.frame_count, len(data))
        return Segment(meta, data)

    def _guard(self, action: Callable[[], T]) -> T:
        try:
            return action()
        except (av.FFmpegError, ValueError, OSError) as exc:
            self._abandon()
            raise SegmentError(f"encoding segment {self._seq} of {self.device_id} failed: {exc}") from exc

    def _abandon(self) -> None:
        """Drop the segment being written after an error; the next frame starts a fresh one."""
        seg, self._open = self._open, None
        if seg is not None:
            try:
                seg.container.close()
            except (av.FFmpegError, ValueError, OSError) as exc:
                log.debug("closing a failed segment also failed: %s", exc)
