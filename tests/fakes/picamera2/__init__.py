"""A fake of the parts of picamera2 that edge-agent uses, for machines without a Raspberry Pi camera.

It follows picamera2's behaviour where our code depends on it:

* ``Picamera2(n)`` raises ``IndexError`` when camera ``n`` does not exist (as the real one does with no camera).
* ``create_video_configuration(main=..., lores=..., controls=...)`` returns a dict per stream with ``size``,
  ``format`` and ``stride``; ``configure`` checks formats (main RGB888 = BGR bytes, lores YUV420).
* ``capture_request()`` returns a request whose buffers the camera owns: ``make_array`` copies them out,
  ``MappedArray(request, "main")`` maps them for writing in place, ``release()`` hands them back.
* ``pre_callback(request)`` runs on every request before encoders and ``capture_request`` callers see it, and
  each encoder started with ``start_encoder`` receives the request after that (picamera2.py, ``_process_requests``).
* ``start_recording(encoder, output, pts=None, config=None, quality=None, name=None)`` is ``configure`` (when a
  config is given), ``start_encoder`` and ``start``; ``stop_recording()`` is ``stop`` then ``stop_encoder``. While
  an encoder runs, a camera thread makes requests at the configured ``FrameRate`` as libcamera would: pre_callback,
  encoders, release, in that order, holding the camera lock as picamera2 does.

Load it with ``tests/unit/capture/test_capture_picamera2.py``'s fixture, which puts it into ``sys.modules``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np

CAMERAS = 1  # how many cameras the fake machine has; tests change it


def _stride(width_bytes: int) -> int:
    return (width_bytes + 63) // 64 * 64  # the ISP pads rows to 64 bytes


class CompletedRequest:
    """A finished capture: the camera's own buffers, valid until ``release``."""

    def __init__(self, picam2: Picamera2, buffers: dict[str, np.ndarray], config: dict[str, Any]) -> None:
        self.picam2 = picam2
        self.buffers = buffers  # raw buffers, rows padded to ``stride``
        self.config = config
        self.released = False
        self.timestamp_ns = time.monotonic_ns()  # libcamera's SensorTimestamp: when the exposure ended

    def _check(self) -> None:
        if self.released:
            raise RuntimeError("CompletedRequest: buffer used after release")

    def _view(self, name: str) -> np.ndarray:
        self._check()
        if name not in self.buffers:
            raise RuntimeError(f"Stream {name!r} is not defined")
        cfg = self.config[name]
        width, height = cfg["size"]
        buffer = self.buffers[name]
        if cfg["format"] in ("RGB888", "BGR888"):
            return buffer[:, : width * 3].reshape(height, width, 3)
        return buffer  # YUV420: (height * 3 / 2, stride), packing left in, as picamera2 does

    def make_array(self, name: str) -> np.ndarray:
        return np.array(self._view(name))  # a copy, like picamera2's make_buffer + make_array

    def get_metadata(self) -> dict[str, Any]:
        self._check()
        return {"SensorTimestamp": self.timestamp_ns, "FrameDuration": 33_333}

    def release(self) -> None:
        self._check()
        self.released = True
        self.picam2.released += 1


class MappedArray:
    """Maps a request's buffer for in-place access: ``array`` is a view, writes go to the camera buffer."""

    def __init__(self, request: CompletedRequest, stream: str, reshape: bool = True, write: bool = True) -> None:
        self._request = request
        self._stream = stream
        self._array: np.ndarray | None = None

    def __enter__(self) -> MappedArray:
        self._array = self._request._view(self._stream)
        return self

    def __exit__(self, *exc: object) -> None:
        self._array = None

    @property
    def array(self) -> np.ndarray | None:
        return self._array


class Picamera2:
    def __init__(self, camera_num: int = 0) -> None:
        if camera_num >= CAMERAS:
            raise IndexError("list index out of range")
        self.camera_num = camera_num
        self.camera_config: dict[str, Any] | None = None
        self.pre_callback: Callable[[CompletedRequest], None] | None = None
        self.started = False
        self.closed = False
        self.frame_count = 0
        self.released = 0
        self._encoders: set[Any] = set()
        self.lock = threading.Lock()  # picamera2 holds it while it runs pre_callback and the encoders
        self._thread: threading.Thread | None = None
        self.scene: Callable[[int, int, int], np.ndarray] = _gradient

    def create_video_configuration(
        self,
        main: dict[str, Any] | None = None,
        lores: dict[str, Any] | None = None,
        controls: dict[str, Any] | None = None,
        **_: Any,
    ) -> dict[str, Any]:
        main = {"size": (1280, 720), "format": "XBGR8888", **(main or {})}
        config: dict[str, Any] = {"main": main, "lores": None, "controls": dict(controls or {})}
        if lores is not None:
            config["lores"] = {"format": "YUV420", **lores}
        return config

    def configure(self, config: dict[str, Any]) -> None:
        if self.started:
            raise RuntimeError("Camera must be stopped before configuring")
        main, lores = dict(config["main"]), config.get("lores")
        if main["format"] not in ("RGB888", "BGR888"):
            raise RuntimeError(f"fake picamera2 supports RGB888/BGR888 main streams, not {main['format']}")
        main["stride"] = _stride(main["size"][0] * 3)
        streams = {"main": main}
        if lores is not None:
            lores = dict(lores)
            if lores["format"] != "YUV420":
                raise RuntimeError("lores stream must be YUV420")
            if lores["size"][0] > main["size"][0] or lores["size"][1] > main["size"][1]:
                raise RuntimeError("lores stream dimensions may not exceed main stream")
            lores["stride"] = _stride(lores["size"][0])
            streams["lores"] = lores
        self.camera_config = {**streams, "controls": config.get("controls", {})}

    def camera_configuration(self) -> dict[str, Any] | None:
        return self.camera_config

    def start(self, config: Any = None, show_preview: bool = False) -> None:
        if self.camera_config is None:
            raise RuntimeError("Camera has not been configured")
        if self.started:
            return
        self.started = True
        if self._encoders:
            self._thread = threading.Thread(target=self._camera_thread, name="fake-libcamera", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        if not self.started:
            return
        self.started = False
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def close(self) -> None:
        self.stop()
        self.closed = True

    @property
    def encoders(self) -> set[Any]:
        return self._encoders

    def start_encoder(
        self, encoder: Any = None, output: Any = None, pts: Any = None, quality: Any = None, name: str | None = None
    ) -> None:
        if encoder is None:
            if len(self._encoders) != 1:
                raise RuntimeError("No encoder specified")
            encoder = next(iter(self._encoders))
        if output is not None:
            encoder.output = output
        streams = self.camera_configuration()
        if not streams:
            raise RuntimeError("Camera has not been configured")
        name = name or "main"
        if streams.get(name) is None:
            raise RuntimeError(f"Encode stream {name} was not defined")
        encoder.name = name
        encoder.width, encoder.height = streams[name]["size"]
        encoder.format = streams[name]["format"]
        encoder.stride = streams[name]["stride"]
        if encoder.framerate is None:
            encoder.framerate = min(30.0, float(streams["controls"].get("FrameRate", 30.0)))
        encoder.start(quality=quality)
        with self.lock:
            self._encoders.add(encoder)

    def stop_encoder(self, encoders: Any = None) -> None:
        chosen = list(self._encoders) if encoders is None else [encoders]
        for encoder in chosen:
            encoder.stop()
        with self.lock:
            for encoder in chosen:
                self._encoders.discard(encoder)

    def start_recording(
        self, encoder: Any, output: Any, pts: Any = None, config: Any = None, quality: Any = None,
        name: str | None = None,
    ) -> None:
        if config is not None:
            self.configure(config)
        self.start_encoder(encoder, output, pts=pts, quality=quality, name=name)
        self.start()

    def stop_recording(self) -> None:
        self.stop()
        self.stop_encoder()

    def _camera_thread(self) -> None:
        assert self.camera_config is not None
        period = 1.0 / float(self.camera_config["controls"].get("FrameRate", 30.0))
        next_at = time.monotonic()
        while self.started:
            request = CompletedRequest(self, self._fill_buffers(), self.camera_config)
            self.frame_count += 1
            with self.lock:
                if self.pre_callback is not None:
                    self.pre_callback(request)
                for encoder in self._encoders:
                    encoder.encode(encoder.name, request)
                request.release()
            next_at += period
            time.sleep(max(0.0, next_at - time.monotonic()))

    def capture_request(self) -> CompletedRequest:
        if not self.started or self.camera_config is None:
            raise RuntimeError("Camera is not running")
        request = CompletedRequest(self, self._fill_buffers(), self.camera_config)
        self.frame_count += 1
        # As in picamera2: pre_callback first, then encoders, then whoever asked for the request.
        if self.pre_callback is not None:
            self.pre_callback(request)
        for encoder in self._encoders:
            encoder.encode(encoder.name, request)
        return request

    def _fill_buffers(self) -> dict[str, np.ndarray]:
        assert self.camera_config is not None
        main = self.camera_config["main"]
        width, height = main["size"]
        image = self.scene(self.frame_count, width, height)
        buffer = np.zeros((height, main["stride"]), np.uint8)
        buffer[:, : width * 3] = image.reshape(height, width * 3)
        buffers = {"main": buffer}
        lores = self.camera_config.get("lores")
        if lores is not None:
            lw, lh = lores["size"]
            yuv = np.full((lh * 3 // 2, lores["stride"]), 128, np.uint8)
            yuv[:lh, :lw] = cv2.cvtColor(cv2.resize(image, (lw, lh), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2GRAY)
            buffers["lores"] = yuv
        return buffers


def _gradient(index: int, width: int, height: int) -> np.ndarray:
    """A frame that differs per index and per channel, so copies and in-place edits can be told apart."""
    x = np.arange(width, dtype=np.uint16)[None, :]
    y = np.arange(height, dtype=np.uint16)[:, None]
    b = (x + index) % 256
    g = (y * 2 + index) % 256
    r = ((x + y) // 2) % 256
    return np.stack(np.broadcast_arrays(b, g, r), axis=-1).astype(np.uint8)
