"""OpenCV sources on real media: a video file made with PyAV, a folder of PNGs, an HTTP stream."""

from __future__ import annotations

import functools
import http.server
import itertools
import threading
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from edge_agent.capture import open_source
from edge_agent.capture.opencv import ImageFolderSource, OpenCVSource
from edge_agent.config.models import CameraSettings
from edge_agent.errors import CaptureError

CAMERA = CameraSettings(width=320, height=180, fps=15)


def _colour_frame(i: int, width: int, height: int) -> np.ndarray:
    """Frame i: blue-dominant, brightness stepping with i, so order and channel order can be checked."""
    image = np.zeros((height, width, 3), np.uint8)
    image[..., 0] = 200
    image[..., 1] = 20 + 10 * i
    image[..., 2] = 30
    return image


def _write_video(path: Path, frames: int, fps: int, size: tuple[int, int], fmt: str | None = None) -> None:
    width, height = size
    with av.open(str(path), "w", format=fmt) as container:
        stream = container.add_stream("libx264", rate=Fraction(fps), options={"preset": "ultrafast", "crf": "10"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(_colour_frame(i, width, height), format="bgr24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


@pytest.fixture
def video(tmp_path: Path) -> Path:
    path = tmp_path / "clip.mp4"
    _write_video(path, frames=12, fps=10, size=(640, 360))
    return path


def test_video_file_frames_are_exact_resized_and_stamped(video: Path) -> None:
    source = open_source(str(video), CAMERA, start=500.0)
    assert isinstance(source, OpenCVSource)
    assert not source.info.live and source.info.fps == pytest.approx(10.0)
    frames = list(source.frames())
    assert len(frames) == 12
    for i, frame in enumerate(frames):
        assert frame.image.shape == (180, 320, 3) and frame.image.dtype == np.uint8
        assert frame.index == i
        # Files are stamped by their own frame rate, not the camera's.
        assert frame.captured_at == pytest.approx(500.0 + i / 10.0)
        b, g, r = frame.image[90, 160].astype(int)
        assert b > 170 and r < 60, "BGR channel order kept"
        assert abs(g - (20 + 10 * i)) <= 6, "frames in order"


def test_video_at_camera_size_is_not_resized(tmp_path: Path) -> None:
    path = tmp_path / "exact.mp4"
    _write_video(path, frames=3, fps=15, size=(320, 180))
    frames = list(open_source(str(path), CAMERA).frames())
    assert len(frames) == 3 and frames[0].image.shape == (180, 320, 3)


def test_realtime_file_is_paced_without_dropping(tmp_path: Path) -> None:
    path = tmp_path / "short.mp4"
    _write_video(path, frames=5, fps=50, size=(320, 180))
    started = time.monotonic()
    frames = list(open_source(str(path), CAMERA, realtime=True, start=0.0).frames())
    assert time.monotonic() - started >= 4 / 50  # lower bound only: frame i waits for i / fps
    assert [f.index for f in frames] == [0, 1, 2, 3, 4]
    assert frames[-1].captured_at == pytest.approx(4 / 50)


def test_not_a_video_is_a_capture_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"this is not a video" * 100)
    with pytest.raises(CaptureError, match=r"junk\.mp4"):
        list(open_source(str(junk), CAMERA).frames())


def _png(path: Path, image: np.ndarray) -> None:
    assert cv2.imwrite(str(path), image)


def test_image_folder_sorted_by_name_skipping_non_images(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    for i in (1, 2, 10):
        _png(tmp_path / f"frame{i}.png", _colour_frame(i, 320, 180))
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "frame5.png").write_bytes(b"broken png")
    grey = np.full((90, 160), 77, np.uint8)
    _png(tmp_path / "frame20.png", grey)  # grey and half size: converted and resized
    rgba = np.zeros((180, 320, 4), np.uint16)
    rgba[..., 0] = 50000  # 16-bit with alpha
    _png(tmp_path / "frame30.png", rgba)
    source = open_source(str(tmp_path), CAMERA, start=10.0)
    assert isinstance(source, ImageFolderSource)
    frames = list(source.frames())
    assert [f.index for f in frames] == [0, 1, 2, 3, 4]
    greens = [int(f.image[5, 5, 1]) for f in frames[:3]]
    assert greens == [30, 40, 120], "frame1, frame2, frame10: numbers sort by value"
    assert frames[3].image.shape == (180, 320, 3) and int(frames[3].image[50, 50, 0]) == 77
    assert frames[4].image.dtype == np.uint8 and int(frames[4].image[0, 0, 0]) == 50000 >> 8
    assert [f.captured_at for f in frames] == pytest.approx([10.0 + i / 15 for i in range(5)])
    assert "frame5.png" in caplog.text


def test_empty_or_imageless_folder_is_a_capture_error(tmp_path: Path) -> None:
    with pytest.raises(CaptureError, match=str(tmp_path)):
        open_source(str(tmp_path), CAMERA)
    (tmp_path / "readme.md").write_text("no images here")
    with pytest.raises(CaptureError, match="has no images"):
        open_source(str(tmp_path), CAMERA)


def test_folder_of_unreadable_images_is_a_capture_error(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(b"not a png")
    source = open_source(str(tmp_path), CAMERA)
    with pytest.raises(CaptureError, match="no readable images"):
        list(source.frames())


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def http_folder(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    handler = functools.partial(_QuietHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", tmp_path
    finally:
        server.shutdown()
        server.server_close()


def test_http_stream_is_live_and_fails_cleanly_when_it_stops(http_folder: tuple[str, Path]) -> None:
    base, folder = http_folder
    _write_video(folder / "live.ts", frames=8, fps=10, size=(320, 180), fmt="mpegts")
    source = open_source(f"{base}/live.ts", CAMERA)
    assert source.info.live
    frames = []
    with pytest.raises(CaptureError, match="stopped delivering frames"):
        for frame in source.frames():
            frames.append(frame)
    assert len(frames) == 8
    assert all(a.captured_at <= b.captured_at for a, b in itertools.pairwise(frames))
    assert frames[0].image.shape == (180, 320, 3)


def test_unreachable_stream_is_a_capture_error_without_the_password() -> None:
    with pytest.raises(CaptureError) as info:
        open_source("rtsp://admin:hunter2@127.0.0.1:1/stream", CAMERA)
    message = str(info.value)
    assert "rtsp://admin:***@127.0.0.1:1/stream" in message and "hunter2" not in message


@pytest.mark.parametrize("spec", ["usb:63", "63"])
def test_missing_device_is_a_capture_error(spec: str) -> None:
    with pytest.raises(CaptureError, match=f"'{spec}'"):
        open_source(spec, CAMERA)


def test_close_ends_the_stream(video: Path) -> None:
    source = open_source(str(video), CAMERA)
    taken = []
    for frame in source.frames():
        taken.append(frame.index)
        if len(taken) == 2:
            source.close()  # while iterating: the reader releases the capture after this frame
    assert taken == [0, 1]
    closed_early = open_source(str(video), CAMERA)
    closed_early.close()
    assert list(closed_early.frames()) == []
