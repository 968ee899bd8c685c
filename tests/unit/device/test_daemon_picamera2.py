"""The agent on the Pi camera (the fake picamera2 of tests/fakes): detection runs on the camera's lores stream."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import numpy as np

from edge_agent.capture.base import Frame, Image
from edge_agent.config.identity import init_identity
from edge_agent.core.audit import AuditLog
from edge_agent.core.paths import DevicePaths
from edge_agent.device.capture_thread import Capture, HardwareCapture, queue_frames
from edge_agent.device.daemon import Agent, RunOptions
from edge_agent.redact.detect_image import lores_for_detection
from edge_agent.redact.redactor import NEIGHBOUR_FILL, RedactedFrame
from edge_agent.segment.decode import decode_segment
from edge_agent.segment.model import Segment
from tests.unit.device.agent_thread import AgentThread

PROFILE = """
name = "pi-fast-path"
[camera]
source = "picamera2"
width = 320
height = 240
fps = 10
detect_width = 160
detect_height = 120
[segment]
seconds = 1
live_seconds = 1
[[zones]]
name = "neighbour"
kind = "neighbour"
coordinates = [[0.75, 0.0], [1.0, 0.0], [1.0, 0.5], [0.75, 0.5]]
[[zones]]
name = "street"
kind = "public"
coordinates = [[0.0, 0.5], [1.0, 0.5], [1.0, 1.0], [0.0, 1.0]]
"""




def _agent(tmp_path: Path, profile: str = PROFILE) -> Agent:
    device = DevicePaths(tmp_path / "device")
    init_identity(device, "pi-device")
    path = tmp_path / "p.toml"
    path.write_text(profile)
    return Agent(RunOptions(data_dir=device.root, profile=str(path), duration=1.5))


def _spy(agent: Agent) -> list[tuple[Frame, Image | None, RedactedFrame]]:
    """Records what the real redactor was given and what it returned."""
    seen: list[tuple[Frame, Image | None, RedactedFrame]] = []
    real = agent.loop.redactor.redact

    def redact(frame: Frame, detect_image: Image | None = None) -> RedactedFrame:
        # The lores plane is copied before redaction: the frame's own arrays are changed in place.
        lores = None if frame.lores is None else frame.lores.copy()
        result = real(frame, detect_image=detect_image)
        seen.append((Frame(frame.index, frame.captured_at, frame.image, lores), detect_image, result))
        return result

    agent.loop.redactor.redact = redact  # type: ignore[method-assign]
    return seen


def test_agent_on_picamera2_detects_on_the_lores_plane(tmp_path: Path, fake_picamera2: ModuleType) -> None:
    agent = _agent(tmp_path)
    seen = _spy(agent)
    summary = agent.run()
    assert summary.frames > 5 and summary.segments >= 1
    assert len(seen) == summary.frames
    for frame, detect, redacted in seen:
        # The camera's own grey 160x120 image, as it came (no shrink of the 320x240 frame, no colour).
        assert detect is not None and detect.shape == (120, 160) and detect.dtype == np.uint8
        assert frame.lores is not None and np.array_equal(detect, frame.lores)
        # And the frame is still redacted: the neighbour's house is solid on every frame.
        assert (redacted.image[:120, 240:] == NEIGHBOUR_FILL).all()


def test_lores_of_another_size_is_resized_to_the_detection_size(tmp_path: Path, fake_picamera2: ModuleType) -> None:
    agent = _agent(tmp_path)
    image = np.zeros((240, 320, 3), np.uint8)
    lores = np.full((100, 150), 77, np.uint8)  # an ISP that rounded the lores size differently
    camera = agent.policy.profile.camera
    detect = lores_for_detection(Frame(0, 0.0, image, lores), camera)
    assert detect is not None and detect.shape == (120, 160) and (detect == 77).all()
    assert lores_for_detection(Frame(0, 0.0, image, None), camera) is None  # other cameras: the redactor shrinks


def test_frame_queue_holds_fewer_frames_at_higher_resolutions() -> None:
    assert queue_frames(640, 360) == 8
    assert queue_frames(1280, 720) == 4
    assert queue_frames(1920, 1080) == 2
    assert queue_frames(3840, 2160) == 2


def test_hardware_encoder_path_shares_redacted_segments_cut_at_keyframes(
    tmp_path: Path, fake_picamera2: ModuleType
) -> None:
    """camera.encoder = "hardware": picamera2 records through its H264Encoder, the frame loop redacts in the camera
    buffer from pre_callback, and the encoded stream is cut into MPEG-TS segments at keyframes."""
    agent = _agent(tmp_path, PROFILE.replace("[segment]", 'encoder = "hardware"\n[segment]'))
    segments: list[Segment] = []
    real = agent.segment_done

    def keep(segment: Segment, scene_shifted: bool) -> None:
        segments.append(segment)
        real(segment, scene_shifted)

    agent.segment_done = keep  # type: ignore[method-assign]
    summary = agent.run()
    assert isinstance(agent.loop.capture, HardwareCapture)
    assert summary.frames > 5 and len(segments) >= 1
    assert [s.meta.seq for s in segments] == list(range(len(segments)))
    total = 0
    for segment in segments:
        assert segment.meta.profile_hash == agent.policy.hash and segment.meta.content_type == "video/mp2t"
        frames = decode_segment(segment.data)  # each segment decodes on its own: it starts with a keyframe
        assert len(frames) == segment.meta.frame_count and frames[0].shape == (240, 320, 3)
        total += len(frames)
        for picture in frames:
            # The neighbour's house is solid in every encoded picture (H.264 rounds the fill a little).
            assert np.abs(picture[4:116, 244:316].astype(int) - NEIGHBOUR_FILL).max() <= 12
    assert total <= summary.frames


def test_hardware_encoder_needs_the_picamera2_source(tmp_path: Path, fake_picamera2: ModuleType) -> None:
    """Any other source (a file on a development machine) encodes with x264 and says so."""
    agent = _agent(tmp_path, PROFILE.replace("[segment]", 'encoder = "hardware"\n[segment]').replace(
        'source = "picamera2"', 'source = "synthetic"'))
    summary = agent.run()
    assert summary.segments >= 1
    assert isinstance(agent.loop.capture, Capture)


def test_hardware_path_reload_with_a_new_camera_size(tmp_path: Path, fake_picamera2: ModuleType) -> None:
    """A reload that changes the camera size on the hardware path reopens the recorder: segments before it are
    320x240, every one after it 640x480, each one cut at a keyframe, and the neighbour's house is solid in every
    encoded picture, including the frame the loop held while the camera was closed under it."""
    hardware = PROFILE.replace("[segment]", 'encoder = "hardware"\n[segment]')
    device = DevicePaths(tmp_path / "device")
    init_identity(device, "pi-device")
    path = tmp_path / "p.toml"
    path.write_text(hardware)
    agent = Agent(RunOptions(data_dir=device.root, profile=str(path), duration=60.0))
    segments: list[Segment] = []
    real = agent.segment_done

    def keep(segment: Segment, scene_shifted: bool) -> None:
        segments.append(segment)
        real(segment, scene_shifted)

    agent.segment_done = keep  # type: ignore[method-assign]
    with AgentThread(agent) as running:
        running.wait(lambda: len(segments) >= 1)
        path.write_text(hardware.replace("width = 320", "width = 640").replace("height = 240", "height = 480"))
        agent.reload_event.set()
        running.wait(lambda: any(e["kind"] == "profile_reload" for e in AuditLog(device.audit).entries()))
        before = len(segments)
        running.wait(lambda: len(segments) >= before + 2)
    assert isinstance(agent.loop.capture, HardwareCapture) and agent.loop.capture.info.width == 640
    shapes = []
    for segment in segments:
        frames = decode_segment(segment.data)
        shapes.append(frames[0].shape)
        height, width = frames[0].shape[:2]
        for picture in frames:
            house = picture[8:height // 2 - 8, width * 3 // 4 + 8:width - 8].astype(int)
            assert np.abs(house - NEIGHBOUR_FILL).max() <= 12
    assert shapes[0] == (240, 320, 3) and shapes[-1] == (480, 640, 3)
    assert shapes == sorted(shapes)  # no small segment after the reload
    assert [s.meta.seq for s in segments] == list(range(len(segments)))
