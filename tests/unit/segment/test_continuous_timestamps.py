"""Segments of one recording carry one clock: joined end to end they play as one stream, with no jump back to zero.

Checked on real H.264 in real MPEG-TS: the segments' bytes are concatenated (as ``cat *.ts`` would) and demuxed
by FFmpeg; every presentation time must be later than the one before and match the frame's capture time.
"""

from __future__ import annotations

import io
import itertools
from fractions import Fraction

import av
import numpy as np

from edge_agent.capture.synthetic import SyntheticSource
from edge_agent.redact.redactor import RedactedFrame
from edge_agent.segment import Segment, SegmentEncoder, decode_segment
from edge_agent.segment.keyframes import KeyframeSegmenter

WIDTH, HEIGHT, FPS = 320, 180, 10.0
START = 1_700_000_000.0


def _frames(n: int) -> list[RedactedFrame]:
    source = SyntheticSource(width=WIDTH, height=HEIGHT, fps=FPS, seed=4, start=START)
    return [RedactedFrame(f.index, f.captured_at, f.image) for f in itertools.islice(source.frames(), n)]


def _joined_pts(segments: list[Segment]) -> list[float]:
    """Presentation times (seconds) of every frame of the segments joined byte for byte."""
    joined = b"".join(s.data for s in segments)
    with av.open(io.BytesIO(joined), format="mpegts") as container:
        stream = container.streams.video[0]
        return [float(p.pts * stream.time_base) for p in container.demux(stream) if p.size and p.pts is not None]


def _assert_one_clock(segments: list[Segment], frames: int) -> None:
    pts = _joined_pts(segments)
    assert len(pts) == frames
    steps = np.diff(pts)
    assert steps.min() > 0, "a presentation time went backwards at a cut"
    # Each step is one frame period (10 fps): no jump at any of the cuts.
    assert np.allclose(steps, 1 / FPS, atol=0.002), f"uneven steps: {sorted(set(np.round(steps, 3)))}"
    # And the clock is the capture clock: segment n starts (start_n - start_0) after the first frame.
    firsts = np.cumsum([0] + [s.meta.frame_count for s in segments[:-1]])
    for segment, first in zip(segments, firsts, strict=True):
        assert abs((pts[first] - pts[0]) - (segment.meta.start - segments[0].meta.start)) < 0.002


def test_x264_segments_joined_end_to_end_keep_one_clock() -> None:
    encoder = SegmentEncoder(device_id="porch-cam", width=WIDTH, height=HEIGHT, fps=FPS, seconds=1.0,
                             profile_hash="")
    frames = _frames(45)
    segments = [s for s in (encoder.push(f) for f in frames) if s is not None]
    segments.append(encoder.flush())  # type: ignore[arg-type]
    assert len(segments) == 5
    _assert_one_clock(segments, 45)
    # A cut between segments (consent changed: flush) does not restart the clock either.
    more = _frames(60)[45:]
    tail = [s for s in (encoder.push(f) for f in more) if s is not None]
    tail.append(encoder.flush())  # type: ignore[arg-type]
    _assert_one_clock([*segments, *tail], 60)
    # Each segment still decodes on its own.
    assert all(len(decode_segment(s.data)) == s.meta.frame_count for s in segments)


def _access_units(frames: list[RedactedFrame]) -> list[tuple[bytes, bool, int]]:
    """H.264 access units in the hardware encoder's shape (Annex B, a keyframe a second, headers repeated)."""
    codec = av.CodecContext.create("libx264", "w")
    codec.width, codec.height, codec.pix_fmt = WIDTH, HEIGHT, "yuv420p"
    codec.time_base = Fraction(1, int(FPS))
    codec.options = {"preset": "ultrafast", "tune": "zerolatency",
                     "x264-params": f"keyint={int(FPS)}:min-keyint={int(FPS)}:scenecut=0:bframes=0:repeat-headers=1"}
    out = []
    for i, frame in enumerate(frames):
        picture = av.VideoFrame.from_ndarray(frame.image, format="bgr24").reformat(format="yuv420p")
        picture.pts = i
        out += [(bytes(p), bool(p.is_keyframe), round(i * 1e6 / FPS)) for p in codec.encode(picture)]
    out += [(bytes(p), bool(p.is_keyframe), round((len(frames) - 1) * 1e6 / FPS)) for p in codec.encode(None)]
    return out


def test_hardware_encoder_segments_joined_end_to_end_keep_one_clock() -> None:
    segmenter = KeyframeSegmenter(device_id="porch-cam", width=WIDTH, height=HEIGHT, fps=FPS)
    segmenter.begin(seconds=1.0, profile_hash="", first_seq=0)
    units = _access_units(_frames(40))
    for data, keyframe, timestamp_us in units:
        segmenter.add(data, keyframe, timestamp_us)
    last = segmenter.flush()
    segments = [*segmenter.drain(), *([last] if last else [])]
    segments.sort(key=lambda s: s.meta.seq)
    assert len(segments) == 4
    _assert_one_clock(segments, len(units))
