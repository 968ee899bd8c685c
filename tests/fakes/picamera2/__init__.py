"""A fake of the parts of picamera2 that edge-agent uses, for machines without a Raspberry Pi camera.

It follows picamera2's behaviour where our code depends on it:

* ``Picamera2(n)`` raises ``IndexError`` when camera ``n`` does not exist (as the real one does with no camera).
* ``create_video_configuration(main=..., lores=..., controls=...)`` returns a dict per stream with ``size``,
  ``format`` and ``stride``; ``configure`` checks formats (main RGB888 = BGR bytes, lores YUV420).
* ``capture_request()`` returns a request whose buffers the camera owns: ``make_array`` copies them out,
  ``MappedArray(request, "main")`` maps them for writing in place, ``release()`` hands them back.
* ``pre_callback(request)`` runs on every request before encoders and ``capture_request`` callers see it, and
  an encoder started with ``start_encoder`` receives each request after that (the Pi fast path).

Load it with ``tests/unit/capture/test_capture_picamera2.py``'s fixture, which puts it into ``sys.modules``.
"""

from __future__ import annotations

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
        return {"SensorTimestamp": self.picam2.frame_count * 33_333_000, "FrameDuration": 33_333}

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
        self.encoder: Any = None
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

    def start(self) -> None:
        if self.camera_config is None:
            raise RuntimeError("Camera has not been configured")
        self.started = True

    def stop(self) -> None:
        self.started = False

    def close(self) -> None:
        self.started = False
        self.closed = True

    def start_encoder(self, encoder: Any, output: Any = None) -> None:
        encoder.output = output
        self.encoder = encoder

    def capture_request(self) -> CompletedRequest:
        if not self.started or self.camera_config is None:
            raise RuntimeError("Camera is not running")
        request = CompletedRequest(self, self._fill_buffers(), self.camera_config)
        self.frame_count += 1
        # As in picamera2: pre_callback first, then encoders, then whoever asked for the request.
        if self.pre_callback is not None:
            self.pre_callback(request)
        if self.encoder is not None:
            self.encoder.encode("main", request)
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
