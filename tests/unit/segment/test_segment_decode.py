"""decode_segment and probe_segment on good and bad input."""

from __future__ import annotations

import numpy as np
import pytest

from edge_agent.errors import SegmentError
from edge_agent.redact.redactor import RedactedFrame
from edge_agent.segment import SegmentEncoder, decode_segment, probe_segment


def _segment(frames: int = 6) -> bytes:
    encoder = SegmentEncoder(device_id="d1", width=64, height=48, fps=10, seconds=60, profile_hash="0" * 64)
    rng = np.random.default_rng(1)
    for i in range(frames):
        image = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
        assert encoder.push(RedactedFrame(i, 10.0 + i / 10, image)) is None
    segment = encoder.flush()
    assert segment is not None
    return segment.data


def test_probe_reads_the_packets_without_decoding() -> None:
    probe = probe_segment(_segment(6))
    assert probe.frame_count == 6 and probe.keyframes >= 1
    assert (probe.width, probe.height, probe.codec) == (64, 48, "h264")
    assert probe.starts_with_keyframe
    assert probe.duration == pytest.approx(0.6)


def test_decode_gives_bgr_frames() -> None:
    frames = decode_segment(_segment(3))
    assert len(frames) == 3
    assert all(f.shape == (48, 64, 3) and f.dtype == np.uint8 for f in frames)


@pytest.mark.parametrize("data", [b"", b"\x00" * 10, b"G" + b"\xff" * 400, b"not a video at all" * 50])
def test_garbage_is_a_segment_error(data: bytes) -> None:
    with pytest.raises(SegmentError):
        decode_segment(data)
    with pytest.raises(SegmentError):
        probe_segment(data)


def test_truncated_segment_decodes_fewer_frames_or_fails_cleanly() -> None:
    data = _segment(6)
    try:
        frames = decode_segment(data[: len(data) // 2])
    except SegmentError:
        return
    assert len(frames) < 6
