"""open_source: which spec opens which source, and one-line errors that name the spec."""

from __future__ import annotations

import pytest

from edge_agent.capture import SyntheticSource, describe_spec, open_source
from edge_agent.config.models import CameraSettings
from edge_agent.errors import CaptureError

CAMERA = CameraSettings(width=160, height=96, fps=10)


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("", "capture source is empty"),
        ("   ", "capture source is empty"),
        ("ftp://example.org/cam", "unsupported scheme 'ftp'"),
        ("synthetic:crowd=3", "unknown option 'crowd'"),
        ("synthetic:people=many", "option 'people' needs a whole number"),
        ("synthetic:people", "option 'people' needs a whole number"),
        ("synthetic:people=99", "people must be at most 50"),
        ("synthetic:frames=0", "frames must be at least 1"),
        ("usb:front", "'front' is not a device number"),
        ("picamera2:x", "'x' is not a device number"),
        ("/no/such/video.mp4", "no such file, folder or device"),
    ],
)
def test_bad_specs_are_capture_errors_naming_the_spec(spec: str, fragment: str) -> None:
    with pytest.raises(CaptureError) as info:
        open_source(spec, CAMERA)
    message = str(info.value)
    assert fragment in message
    assert "\n" not in message
    if spec.strip():
        assert repr(spec.strip()) in message or spec.strip() in message


def test_synthetic_options_and_seed() -> None:
    source = open_source("synthetic:people=0,porch=0,cars=0,noise=0,seed=4,frames=2", CAMERA, realtime=False)
    assert isinstance(source, SyntheticSource)
    assert source.synthetic_truth(0) == []
    assert "seed 4" in source.info.description
    assert len(list(source.frames())) == 2
    # The spec's seed wins over the argument; without one, the argument is used.
    seeded = open_source("synthetic", CAMERA, realtime=False, seed=9)
    assert "seed 9" in seeded.info.description


def test_synthetic_is_realtime_unless_asked_not_to_be() -> None:
    assert open_source("synthetic", CAMERA).info.live
    assert not open_source("synthetic", CAMERA, realtime=False).info.live


def test_describe_spec_hides_passwords_only() -> None:
    assert describe_spec("rtsp://cam:s3cret@10.0.0.5:554/h264") == "'rtsp://cam:***@10.0.0.5:554/h264'"
    assert describe_spec("rtsp://10.0.0.5/h264") == "'rtsp://10.0.0.5/h264'"
    assert describe_spec("synthetic") == "'synthetic'"
