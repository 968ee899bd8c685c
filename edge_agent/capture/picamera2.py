"""The Raspberry Pi camera through picamera2, loaded lazily so that this module imports on any machine.

Two ways to use the camera:

* :class:`Picamera2Source`, a :class:`FrameSource` like any other: frames are copied out of the camera's
  buffers and go through the ordinary redact and segment stages (software x264).
* The Pi fast path, :class:`Picamera2Recorder` (``camera.encoder = "hardware"``): the frame loop redacts the
  ``main`` stream in place, in the camera's own buffer, from picamera2's ``pre_callback``, before picamera2 hands
  it to the encoder made by :func:`make_h264_encoder` (the hardware H.264 encoder on a Pi 4 / Zero 2 W). No
  unredacted pixel reaches the encoder.

picamera2 comes from Raspberry Pi OS (``apt install python3-picamera2``), not from pip; see PLATFORM-NOTES.
"""

from __future__ import annotations

import importlib
import logging
import queue
import threading
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


def make_h264_encoder(camera: CameraSettings) -> Any:
    """picamera2's ``H264Encoder``: the hardware encoder on a Pi 4 / Zero 2 W (software libav on a Pi 5).

    A keyframe every second (``iperiod``) so that segments can be cut at one-second boundaries, and the
    sequence headers repeated at each keyframe (``repeat``) so that every cut decodes on its own.
    """
    encoders = import_picamera2("encoders")
    return encoders.H264Encoder(bitrate=camera.bitrate_kbps * 1000, repeat=True, iperiod=max(1, round(camera.fps)))


AccessUnitSink = Callable[[bytes, bool, "int | None"], None]


class _Slot:
    """One camera frame lent to the frame loop, mapped in the camera's own buffer, until the loop is done."""

    def __init__(self, frame: Frame) -> None:
        self.frame = frame
        self.redacted = False  # set by the frame loop's hand_back only: anything else reaches the encoder black
        self.claimed = threading.Event()
        self.done = threading.Event()
        self.abandoned = False
        self.lock = threading.Lock()

    def claim(self) -> bool:
        with self.lock:
            if self.abandoned:
                return False
            self.claimed.set()
            return True

    def abandon(self) -> bool:
        """The camera gives up waiting: True when the loop had not taken the frame (it never will now)."""
        with self.lock:
            if self.claimed.is_set():
                return False
            self.abandoned = True
            return True


class Picamera2Recorder:
    """The Pi fast path: the camera records its ``main`` stream with picamera2's ``H264Encoder`` (the hardware
    encoder on a Pi 4 / Zero 2 W) and every frame is redacted *in the camera buffer* before the encoder reads it.

    picamera2 calls ``pre_callback`` in its camera thread, then the encoders, then releases the buffers. Here the
    callback lends the mapped ``main`` frame (with the ``lores`` Y plane for detection) to the frame loop through
    :meth:`next_frame`, and waits until the loop says it has redacted it in place (:meth:`hand_back`). A frame the
    loop does not take within ``wait_s``, or takes and never hands back (it asks for the next one, or the camera
    is closed under it), is blanked (fail closed) and counted: the encoder never gets an unredacted picture.
    Encoded access units go to ``sink(data, keyframe, timestamp_us)`` from the encoder's thread (a picamera2
    ``Output`` made on first use, since picamera2 is loaded lazily).
    """

    def __init__(self, camera: CameraSettings, sink: AccessUnitSink, *, camera_num: int = 0,
                 wait_s: float = 1.0) -> None:
        self._source = Picamera2Source(camera, camera_num=camera_num)
        self._picam2 = self._source.picam2
        self._sink = sink
        self._wait_s = wait_s
        self._lores_size = (camera.detect_width, camera.detect_height)
        self._slots: queue.Queue[_Slot] = queue.Queue(maxsize=1)
        self._current: _Slot | None = None
        self._closed = threading.Event()
        self._index = 0
        self.blanked = 0  # frames the loop did not take in time: encoded black
        self._encoder = make_h264_encoder(camera)
        self._output = _make_output(sink)

    @property
    def info(self) -> SourceInfo:
        return self._source.info

    def start(self) -> None:
        self._picam2.pre_callback = self._pre_callback
        try:
            self._picam2.start_recording(self._encoder, self._output)
        except Exception as exc:  # libcamera and V4L2 raise several kinds; all mean "cannot record"
            raise CaptureError(f"picamera2 cannot start recording: {exc}") from exc

    def next_frame(self, timeout: float) -> Frame:
        """The next camera frame, mapped in place. One taken before and not handed back is blanked now.
        Raises ``queue.Empty`` after ``timeout`` seconds without a frame."""
        self._let_go()
        while True:
            slot = self._slots.get(timeout=timeout)
            if slot.claim():
                self._current = slot
                return slot.frame

    def hand_back(self) -> None:
        """The frame loop has redacted the frame it holds and no longer reads it: the encoder may have it."""
        current, self._current = self._current, None
        if current is not None:
            current.redacted = True
            current.done.set()

    def _let_go(self) -> None:
        """The frame held was not handed back, so it may not be redacted: the camera blanks it."""
        current, self._current = self._current, None
        if current is not None:
            current.done.set()

    def _pre_callback(self, request: Any) -> None:
        captured_at = time.time()
        mapped_array = import_picamera2().MappedArray
        width, height = self._lores_size
        with mapped_array(request, "main") as mapped:
            lores = np.array(request.make_array("lores")[:height, :width], dtype=np.uint8)
            slot = _Slot(Frame(self._index, captured_at, mapped.array, lores))
            self._index += 1
            if self._closed.is_set() or not self._lend(slot):
                mapped.array[...] = 0
                self.blanked += 1

    def _lend(self, slot: _Slot) -> bool:
        """Lend ``slot`` to the loop and wait until it is redacted; False when it was never taken."""
        try:
            self._slots.put(slot, timeout=self._wait_s)
        except queue.Full:
            return False
        if not slot.claimed.wait(self._wait_s) and slot.abandon():
            return False
        while not slot.done.wait(0.1):
            if self._closed.is_set():
                return False  # closing while the loop held it: the loop has stopped redacting by then
        return slot.redacted

    def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        self._let_go()
        try:
            self._picam2.stop_recording()
        except Exception as exc:  # closing is best effort, but say so
            log.warning("picamera2 did not stop recording cleanly: %s", exc)
        self._picam2.pre_callback = None
        self._source.close()


def _make_output(sink: AccessUnitSink) -> Any:
    """A picamera2 ``Output`` (encoders accept nothing else) that hands each encoded frame to ``sink``."""
    base = import_picamera2("outputs").Output

    class SinkOutput(base):  # type: ignore[misc, valid-type]
        def outputframe(self, frame: Any, keyframe: bool = True, timestamp: int | None = None,
                        packet: Any = None, audio: bool = False) -> None:
            if not audio:
                sink(bytes(frame), keyframe, timestamp)

    return SinkOutput()
