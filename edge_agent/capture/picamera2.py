"""The Raspberry Pi camera through picamera2, loaded lazily so that this module imports on any machine.

Two ways to use the camera:

* :class:`Picamera2Source`, a :class:`FrameSource` like any other: frames are copied out of the camera's
  buffers and go through the ordinary redact and segment stages (software x264).
* The Pi fast path: :func:`install_pre_callback` redacts the ``main`` stream in place, in the camera's own
  buffer, before picamera2 hands it to the encoder made by :func:`make_h264_encoder` (the hardware H.264
  encoder on a Pi 4 / Zero 2 W). No unredacted pixel reaches the encoder.

picamera2 comes from Raspberry Pi OS (``apt install python3-picamera2``), not from pip; see PLATFORM-NOTES.
"""

from __future__ import annotations

import importlib
import logging
import time
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import numpy as np

from edge_agent.capture.base import Frame, Image, SourceInfo
from edge_agent.config.models import CameraSettings
from edge_agent.errors import CaptureError

log = logging.getLogger(__name__)

NOT_AVAILABLE = (
    "picamera2 is not available: on a Raspberry Pi install python3-picamera2 (apt) and create the venv with "
    "--system-site-packages"
)

Redact = Callable[[Image, float], None]


def import_picamera2(submodule: str = "") -> ModuleType:
    """Import ``picamera2`` (or one of its submodules) on first use.

    ``ValueError`` too: an apt-built picamera2 stack imported next to a pip numpy 2 fails with
    "numpy.dtype size changed".
    """
    name = f"picamera2.{submodule}" if submodule else "picamera2"
    try:
        return importlib.import_module(name)
    except (ImportError, ValueError) as exc:
        raise CaptureError(NOT_AVAILABLE) from exc


class Picamera2Source:
    """A Pi camera with a ``main`` stream (``width x height``, RGB888) and a ``lores`` stream for detection.

    picamera2's "RGB888" is B, G, R in memory, so ``make_array("main")`` is already the BGR image the rest of
    the pipeline expects. The ``lores`` stream (YUV420 at ``detect_width x detect_height``) comes from the ISP
    at no CPU cost; its Y plane is passed on as :attr:`Frame.lores`.
    """

    def __init__(self, camera: CameraSettings, *, camera_num: int = 0) -> None:
        module = import_picamera2()
        self._width, self._height = camera.width, camera.height
        self._lores_size = (camera.detect_width, camera.detect_height)
        self._closed = False
        self._started = False
        try:
            picam2 = module.Picamera2(camera_num)
            config = picam2.create_video_configuration(
                main={"size": (camera.width, camera.height), "format": "RGB888"},
                lores={"size": self._lores_size, "format": "YUV420"},
                controls={"FrameRate": camera.fps},
            )
            picam2.configure(config)
        except Exception as exc:  # libcamera raises several kinds; all mean "no usable camera"
            raise CaptureError(f"cannot open picamera2 camera {camera_num}: {exc}") from exc
        self._picam2: Any = picam2
        self._info = SourceInfo(camera.width, camera.height, camera.fps, True, f"picamera2 camera {camera_num}")

    @property
    def info(self) -> SourceInfo:
        return self._info

    @property
    def picam2(self) -> Any:
        """The configured ``Picamera2`` object, for :func:`install_pre_callback` and hardware encoding."""
        return self._picam2

    def frames(self) -> Iterator[Frame]:
        if not self._started:
            self._picam2.start()
            self._started = True
        index = 0
        while not self._closed:
            try:
                request = self._picam2.capture_request()
            except Exception as exc:
                if self._closed:
                    return
                raise CaptureError("picamera2 camera stopped delivering frames") from exc
            try:
                captured_at = time.time()
                image, lores = self._copy_out(request)
            finally:
                # Buffers go back to the camera at once: holding them stalls the capture pipeline.
                request.release()
            yield Frame(index, captured_at, image, lores)
            index += 1

    def _copy_out(self, request: Any) -> tuple[Image, Image | None]:
        image = np.ascontiguousarray(request.make_array("main"), dtype=np.uint8)
        if image.shape != (self._height, self._width, 3):
            raise CaptureError(f"picamera2 delivered {image.shape}, expected {(self._height, self._width, 3)}")
        width, height = self._lores_size
        # YUV420 comes as (height * 3/2, stride): the first ``height`` rows are the Y (luma) plane.
        lores = np.array(request.make_array("lores")[:height, :width], dtype=np.uint8)
        return image, lores

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            if self._started:
                self._picam2.stop()
            self._picam2.close()
        except Exception as exc:  # closing is best effort, but say so
            log.warning("picamera2 did not close cleanly: %s", exc)


def install_pre_callback(picam2: Any, redact: Redact) -> None:
    """Redact the ``main`` stream in place, in the camera buffer, before any encoder or output sees it.

    ``redact(image, captured_at)`` must change ``image`` in place. If it raises, the whole frame is blanked
    (fail closed) and the error is logged: the frame still goes to the encoder, but black.
    """
    mapped_array = import_picamera2().MappedArray

    def pre_callback(request: Any) -> None:
        captured_at = time.time()
        with mapped_array(request, "main") as mapped:
            try:
                redact(mapped.array, captured_at)
            except Exception:
                mapped.array[...] = 0
                log.exception("redaction failed; frame blanked before the encoder")

    picam2.pre_callback = pre_callback


def make_h264_encoder(camera: CameraSettings) -> Any:
    """picamera2's ``H264Encoder``: the hardware encoder on a Pi 4 / Zero 2 W (software libav on a Pi 5).

    A keyframe every second (``iperiod``) so that segments can be cut at one-second boundaries, and the
    sequence headers repeated at each keyframe (``repeat``) so that every cut decodes on its own.
    """
    encoders = import_picamera2("encoders")
    return encoders.H264Encoder(bitrate=camera.bitrate_kbps * 1000, repeat=True, iperiod=max(1, round(camera.fps)))
