"""One factory from a source spec (``camera.source`` in a profile, or ``--source``) to a :class:`FrameSource`.

Specs:

* ``synthetic`` or ``synthetic:people=2,cars=0,porch=1,noise=1,frames=300,seed=7``: the synthetic street scene.
* ``picamera2`` or ``picamera2:1``: the Raspberry Pi camera (number 0 or 1).
* ``usb:0``, ``0`` or ``/dev/video0``: a V4L2 device.
* ``rtsp://...``, ``rtsps://...``, ``http://...``, ``https://...``: a network stream through OpenCV's FFmpeg.
* a path to a folder: the images in it, sorted by name, at ``camera.fps``.
* a path to a video file.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from edge_agent.capture.base import FrameSource
from edge_agent.capture.opencv import ImageFolderSource, Kind, OpenCVSource
from edge_agent.capture.synthetic import SceneOptions, SyntheticSource
from edge_agent.config.models import CameraSettings
from edge_agent.errors import CaptureError

log = logging.getLogger(__name__)

STREAM_SCHEMES = frozenset({"rtsp", "rtsps", "http", "https"})
_SYNTHETIC_KEYS = ("people", "cars", "porch", "noise", "frames", "seed")


def describe_spec(spec: str) -> str:
    """The spec as it may appear in messages and logs: a password in a URL is replaced by ``***``."""
    parts = urlsplit(spec)
    if parts.scheme and parts.password is not None:
        host = parts.hostname or ""
        if parts.port is not None:
            host = f"{host}:{parts.port}"
        netloc = f"{parts.username}:***@{host}"
        return repr(urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment)))
    return repr(spec)


def open_source(
    spec: str,
    camera: CameraSettings,
    *,
    realtime: bool | None = None,
    seed: int = 0,
    start: float | None = None,
) -> FrameSource:
    """Open the source that ``spec`` names, delivering BGR frames at ``camera.width x camera.height``.

    ``realtime`` paces synthetic scenes and files to their frame rate. ``None`` means: pace the synthetic scene
    (it stands in for a live camera) but not files or image folders (replays run as fast as they are read).
    Live sources are paced by the camera whatever this says. ``start`` is the ``captured_at`` of frame 0 for
    non-live sources (default: now). Bad specs raise :class:`CaptureError` naming the spec.
    """
    text = spec.strip()
    label = describe_spec(text)
    if not text:
        raise CaptureError("capture source is empty: use synthetic, a file, a folder, usb:N, a URL or picamera2")
    head, _, rest = text.partition(":")
    if head == "synthetic":
        options, seed = _synthetic_options(rest, label, seed)
        return SyntheticSource(
            width=camera.width,
            height=camera.height,
            fps=camera.fps,
            seed=seed,
            options=options,
            realtime=True if realtime is None else realtime,
            start=start,
        )
    if head == "picamera2":
        # Deferred so that picamera2 is looked for only when a spec asks for it.
        from edge_agent.capture.picamera2 import Picamera2Source  # noqa: PLC0415

        return Picamera2Source(camera, camera_num=_number(rest or "0", label))
    if head == "usb" or text.isdigit():
        device = _number(rest if head == "usb" else text, label)
        return _opencv(device, "device", label, camera, realtime=False, start=start)
    scheme = urlsplit(text).scheme.lower()
    if scheme in STREAM_SCHEMES:
        return _opencv(text, "stream", label, camera, realtime=False, start=start)
    if "://" in text:
        raise CaptureError(f"capture source {label}: unsupported scheme {scheme!r} (use rtsp, http or https)")
    return _open_path(Path(text).expanduser(), label, camera, realtime=bool(realtime), start=start)


def _open_path(path: Path, label: str, camera: CameraSettings, *, realtime: bool, start: float | None) -> FrameSource:
    if path.is_dir():
        return ImageFolderSource(
            path, width=camera.width, height=camera.height, fps=camera.fps, realtime=realtime, start=start
        )
    if path.is_char_device():
        return _opencv(str(path), "device", label, camera, realtime=False, start=start)
    if path.is_file():
        return _opencv(str(path), "file", label, camera, realtime=realtime, start=start)
    raise CaptureError(f"capture source {label}: no such file, folder or device")


def _opencv(
    target: str | int, kind: Kind, label: str, camera: CameraSettings, *, realtime: bool, start: float | None
) -> OpenCVSource:
    return OpenCVSource(
        target,
        kind=kind,
        label=label,
        width=camera.width,
        height=camera.height,
        fps=camera.fps,
        realtime=realtime,
        start=start,
    )


def _number(text: str, label: str) -> int:
    if not re.fullmatch(r"\d{1,3}", text):
        raise CaptureError(f"capture source {label}: {text!r} is not a device number")
    return int(text)


def _synthetic_options(text: str, label: str, seed: int) -> tuple[SceneOptions, int]:
    values: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        key = key.strip()
        if key not in _SYNTHETIC_KEYS:
            raise CaptureError(f"capture source {label}: unknown option {key!r} (known: {', '.join(_SYNTHETIC_KEYS)})")
        if not sep or not re.fullmatch(r"\d{1,9}", value.strip()):
            raise CaptureError(f"capture source {label}: option {key!r} needs a whole number, like {key}=1")
        values[key] = int(value)
    if values.get("people", 0) > 50:
        raise CaptureError(f"capture source {label}: people must be at most 50")
    if values.get("frames", 1) == 0:
        raise CaptureError(f"capture source {label}: frames must be at least 1")
    defaults = SceneOptions()
    options = SceneOptions(
        people=values.get("people", defaults.people),
        cars=bool(values.get("cars", 1)),
        porch=bool(values.get("porch", 1)),
        noise=bool(values.get("noise", 1)),
        frames=values.get("frames"),
    )
    return options, values.get("seed", seed)
