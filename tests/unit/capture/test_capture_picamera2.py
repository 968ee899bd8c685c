"""The picamera2 adapter and the Pi fast path, against the fake picamera2 in tests/fakes/picamera2."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import av
import numpy as np
import pytest

from edge_agent.capture import open_source
from edge_agent.capture.picamera2 import (
    NOT_AVAILABLE,
    Picamera2Recorder,
    Picamera2Source,
    make_h264_encoder,
)
from edge_agent.config.models import CameraSettings
from edge_agent.errors import CaptureError

CAMERA = CameraSettings(width=320, height=240, fps=10, detect_width=150, detect_height=100, bitrate_kbps=1500)




def test_importing_the_adapter_does_not_import_picamera2() -> None:
    # On any machine but a Pi, importing picamera2 fails: the package must import without it.
    code = (
        "import sys, edge_agent.capture, edge_agent.capture.picamera2; "
        "assert 'picamera2' not in sys.modules, 'picamera2 imported eagerly'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[3])


def test_missing_picamera2_is_a_capture_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "picamera2", None)  # makes `import picamera2` raise ImportError
    with pytest.raises(CaptureError, match="picamera2 is not available") as info:
        Picamera2Source(CAMERA)
    assert str(info.value) == NOT_AVAILABLE
    with pytest.raises(CaptureError, match="picamera2 is not available"):
        open_source("picamera2", CAMERA)


def test_numpy_mismatch_on_import_is_a_capture_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # An apt-built picamera2 stack next to a pip numpy 2 fails at import with ValueError.
    (tmp_path / "picamera2").mkdir()
    (tmp_path / "picamera2" / "__init__.py").write_text(
        'raise ValueError("numpy.dtype size changed, may indicate binary incompatibility")\n'
    )
    monkeypatch.delitem(sys.modules, "picamera2", raising=False)
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(CaptureError, match="python3-picamera2"):
        Picamera2Source(CAMERA)


def test_no_camera_is_a_capture_error(fake_picamera2: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fake_picamera2, "CAMERAS", 0)
    with pytest.raises(CaptureError, match="cannot open picamera2 camera 0"):
        Picamera2Source(CAMERA)
    with pytest.raises(CaptureError, match="camera 1"):
        open_source("picamera2:1", CAMERA)


def test_source_configures_main_and_lores(fake_picamera2: ModuleType) -> None:
    source = open_source("picamera2", CAMERA)
    assert isinstance(source, Picamera2Source)
    config = source.picam2.camera_config
    assert config["main"]["size"] == (320, 240) and config["main"]["format"] == "RGB888"
    assert config["lores"]["size"] == (150, 100) and config["lores"]["format"] == "YUV420"
    assert config["controls"] == {"FrameRate": 10.0}
    assert source.info.live and (source.info.width, source.info.height) == (320, 240)


def test_frames_are_copies_and_requests_are_released(fake_picamera2: ModuleType) -> None:
    source = Picamera2Source(CAMERA)
    camera = source.picam2
    frames = []
    for frame in source.frames():
        frames.append(frame)
        if len(frames) == 3:
            break
    source.close()
    assert camera.released == 3 and camera.closed
    for i, frame in enumerate(frames):
        assert frame.index == i
        assert frame.image.shape == (240, 320, 3) and frame.image.dtype == np.uint8
        assert frame.image.flags.c_contiguous
        # BGR as the camera wrote it (the fake's frame i has blue = (x + i) % 256).
        assert np.array_equal(frame.image[0, :256, 0], (np.arange(256) + i) % 256)
        assert frame.lores is not None and frame.lores.shape == (100, 150)
    # The lores Y plane is the scene in grey, without the stride padding.
    assert abs(int(frames[0].lores[50, 75]) - int(frames[0].image[120, 160].mean())) < 40
    assert frames[0].captured_at <= frames[2].captured_at


class Sink:
    """What a picamera2 Output receives: encoded access units with their keyframe flags and timestamps."""

    def __init__(self) -> None:
        self.units: list[tuple[bytes, bool, int | None]] = []

    def __call__(self, data: bytes, keyframe: bool, timestamp: int | None) -> None:
        self.units.append((data, keyframe, timestamp))

    def decoded(self) -> list[np.ndarray]:
        codec = av.CodecContext.create("h264", "r")
        frames = []
        for data, _, _ in self.units:
            for frame in codec.decode(av.Packet(data)):
                frames.append(frame.to_ndarray(format="bgr24"))
        return frames


def test_recorder_redacts_in_the_camera_buffer_before_the_encoder(fake_picamera2: ModuleType) -> None:
    sink = Sink()
    recorder = Picamera2Recorder(CAMERA, sink)
    recorder.start()
    for _ in range(12):
        frame = recorder.next_frame(timeout=5)
        assert frame.image.shape == (240, 320, 3) and frame.lores is not None and frame.lores.shape == (100, 150)
        frame.image[:, 160:] = 0  # e.g. the neighbour's half, written into the camera's own buffer
        recorder.hand_back()
    recorder.close()
    decoded = sink.decoded()
    assert len(decoded) >= 10
    # Every picture the encoder got was the redacted buffer (H.264 leaves a little noise at the edge).
    for picture in decoded:
        assert picture[:, 168:].max() <= 12 and picture[:, :150].mean() > 40
    assert sink.units[0][1] is True and sink.units[0][2] == 0  # starts with a keyframe at time 0
    assert recorder.blanked <= 1  # at most the frame in flight when it closed


def test_recorder_blanks_a_frame_the_loop_does_not_take(fake_picamera2: ModuleType) -> None:
    sink = Sink()
    recorder = Picamera2Recorder(CAMERA, sink, wait_s=0.05)
    recorder.start()
    first = recorder.next_frame(timeout=5)
    first.image[...] = 0
    recorder.hand_back()
    time.sleep(1.0)  # the loop does not come back for the next frames: the camera stops waiting, fails closed
    recorder.close()
    assert recorder.blanked >= 3
    decoded = sink.decoded()
    assert decoded and max(int(picture.max()) for picture in decoded[:4]) <= 12


def test_a_frame_held_but_not_handed_back_is_blanked(fake_picamera2: ModuleType) -> None:
    """Only :meth:`hand_back` says a frame was redacted. A frame the loop took and left (it asked for the next one
    without redacting it, or the camera was closed under it, as a reload that reopens the camera does) reaches the
    encoder black, never as the camera made it."""
    sink = Sink()
    recorder = Picamera2Recorder(CAMERA, sink)
    recorder.start()
    recorder.next_frame(timeout=5)  # taken, not redacted, not handed back
    second = recorder.next_frame(timeout=5)
    second.image[...] = 0
    recorder.hand_back()
    recorder.next_frame(timeout=5)  # taken, not redacted: the camera is closed under it
    recorder.close()
    decoded = sink.decoded()
    assert len(decoded) >= 3
    assert max(int(picture.max()) for picture in decoded) <= 12
    assert recorder.blanked >= 2


def test_encoder_accepts_only_picamera2_outputs(fake_picamera2: ModuleType) -> None:
    """As in picamera2: an Output subclass or nothing (our output is made from picamera2's own base class)."""
    encoder = make_h264_encoder(CAMERA)
    with pytest.raises(RuntimeError, match="Must pass Output"):
        encoder.output = Sink()
    recorder = Picamera2Recorder(CAMERA, Sink())
    encoder.output = recorder._output
    recorder.close()


def test_h264_encoder_settings(fake_picamera2: ModuleType) -> None:
    encoder = make_h264_encoder(CAMERA)
    assert isinstance(encoder, sys.modules["picamera2.encoders"].H264Encoder)
    assert encoder.bitrate == 1_500_000
    assert encoder.repeat is True  # headers at every keyframe, so every cut decodes alone
    assert encoder.iperiod == 10  # a keyframe every second at 10 fps
