"""The packet-header frame count agrees with FFmpeg on real x264 segments and refuses anything else."""

from __future__ import annotations

import numpy as np
import pytest

from edge_agent.errors import SegmentError
from edge_agent.redact.redactor import RedactedFrame
from edge_agent.segment import SegmentEncoder, decode_segment, probe_segment
from edge_agent.segment.tsscan import PACKET, frame_count, scan_ts


def _segment(frames: int, *, size: tuple[int, int] = (64, 48), container: str = "mpegts", seed: int = 1) -> bytes:
    width, height = size
    encoder = SegmentEncoder(device_id="d1", width=width, height=height, fps=10, seconds=600, profile_hash="0" * 64,
                             container=container)
    rng = np.random.default_rng(seed)
    for i in range(frames):
        image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        assert encoder.push(RedactedFrame(i, 10.0 + i / 10, image)) is None
    segment = encoder.flush()
    assert segment is not None
    return segment.data


@pytest.mark.parametrize(("frames", "size"), [(1, (64, 48)), (6, (64, 48)), (31, (160, 96)), (45, (320, 180))])
def test_count_equals_ffmpeg(frames: int, size: tuple[int, int]) -> None:
    data = _segment(frames, size=size, seed=frames)
    scan = scan_ts(data)
    assert scan.frame_count == frames
    assert scan.frame_count == probe_segment(data).frame_count == len(decode_segment(data))
    assert scan.stream_type == 0x1B  # H.264
    assert scan.packets * PACKET == len(data)


def test_large_frames_spanning_many_packets() -> None:
    # Random pixels at 640x360 give keyframes of hundreds of kB: one PES over thousands of TS packets.
    data = _segment(3, size=(640, 360))
    assert len(data) > 100 * PACKET
    assert frame_count(data) == 3 == len(decode_segment(data))


def test_fmp4_is_not_a_transport_stream() -> None:
    data = _segment(3, container="fmp4")
    with pytest.raises(SegmentError):
        scan_ts(data)


@pytest.mark.parametrize(
    "data",
    [b"", b"\x00" * 10, b"G" + b"\xff" * 187, b"not a video at all" * 50, b"\x47" + b"\x00" * 375],
)
def test_garbage_is_a_segment_error(data: bytes) -> None:
    with pytest.raises(SegmentError):
        scan_ts(data)


def test_truncated_segment_is_a_segment_error() -> None:
    data = _segment(6)
    for cut in (1, 100, PACKET - 1, PACKET + 5):
        with pytest.raises(SegmentError, match="whole number"):
            scan_ts(data[:-cut])


def test_a_lost_sync_byte_is_a_segment_error() -> None:
    data = bytearray(_segment(6))
    data[PACKET * 3] = 0x00
    with pytest.raises(SegmentError, match="sync byte"):
        scan_ts(bytes(data))


def test_dropping_whole_packets_changes_the_count_or_fails() -> None:
    data = _segment(6)
    scan = scan_ts(data)
    packets = [data[i:i + PACKET] for i in range(0, len(data), PACKET)]
    pids = [((p[1] & 0x1F) << 8) | p[2] for p in packets]
    starts = [i for i, p in enumerate(packets) if pids[i] == scan.video_pid and p[1] & 0x40]
    # Remove the last frame's PES start: one frame fewer, so the center's header check would refuse it.
    kept = b"".join(p for i, p in enumerate(packets) if i != starts[-1])
    assert frame_count(kept) == 5
    # Without the tables, the video stream cannot be found.
    no_tables = b"".join(p for i, p in enumerate(packets) if pids[i] == scan.video_pid)
    with pytest.raises(SegmentError):
        scan_ts(no_tables)


def test_transport_error_flag_is_refused() -> None:
    data = bytearray(_segment(3))
    data[PACKET * 2 + 1] |= 0x80
    with pytest.raises(SegmentError, match="error"):
        scan_ts(bytes(data))
