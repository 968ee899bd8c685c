"""OpenCV sources: video files, V4L2 devices (USB cameras), network streams, and folders of images.

Every frame is delivered as BGR ``uint8`` at the configured size; a frame is resized only when the source
delivers another size. Live sources (devices, streams) stamp frames with ``time.time()`` when read; files and
image folders stamp ``start + index / fps``, so a replay is reproducible.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
import numpy.typing as npt

from edge_agent.capture.base import Frame, Image, SourceInfo
from edge_agent.capture.pacing import Pacer
from edge_agent.errors import CaptureError

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pnm"})
DEFAULT_TIMEOUT_MS = 5000

Kind = Literal["file", "device", "stream"]


def fit_image(image: npt.NDArray[Any], width: int, height: int) -> Image:
    """BGR, ``uint8``, ``height x width``: converts grey, BGRA and 16-bit input, resizes only if needed."""
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)  # 16-bit video or images: keep the top 8 bits
    elif image.dtype != np.uint8:
        image = np.clip(image, 0, 255).astype(np.uint8)
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    elif image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    if image.shape[:2] != (height, width):
        shrink = image.shape[1] > width or image.shape[0] > height
        image = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    return np.ascontiguousarray(image, dtype=np.uint8)


def _natural_key(path: Path) -> list[int | str]:
    # frame2.png before frame10.png
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


class OpenCVSource:
    """``cv2.VideoCapture`` over a file, a device index or a stream URL.

    ``label`` names the source in messages (with any password in a URL already hidden). A live source that
    stops delivering raises :class:`CaptureError`; reconnecting is the caller's decision.
    """

    def __init__(
        self,
        target: str | int,
        *,
        kind: Kind,
        label: str,
        width: int,
        height: int,
        fps: float,
        realtime: bool = False,
        start: float | None = None,
        timeout_ms: int = DEFAULT_TIMEOUT_MS,
    ) -> None:
        self._kind = kind
        self._label = label
        self._width, self._height = width, height
        self._realtime = realtime and kind == "file"
        self._start = time.time() if start is None else start
        self._closed = False
        self._reading = False
        self._cap = _open_capture(target, kind, label, mode=(width, height, fps), timeout_ms=timeout_ms)
        native = self._cap.get(cv2.CAP_PROP_FPS)
        # Files keep their own frame rate (their timestamps must match their content); devices and streams
        # that do not report one are assumed to run at the configured rate.
        self._fps = float(native) if 0 < native <= 240 else fps
        live = kind != "file"
        self._info = SourceInfo(width, height, self._fps, live, f"{kind} {label}")

    @property
    def info(self) -> SourceInfo:
        return self._info

    def frames(self) -> Iterator[Frame]:
        pacer = Pacer(self._fps) if self._realtime else None
        index = 0
        self._reading = True
        try:
            while not self._closed:
                ok, image = self._cap.read()
                if not ok or image is None:
                    self._ended(index)
                    return
                if pacer is not None:
                    pacer.wait(index)
                live = self._kind != "file"
                captured_at = time.time() if live else self._start + index / self._fps
                yield Frame(index, captured_at, fit_image(image, self._width, self._height))
                index += 1
        finally:
            self._reading = False
            self._closed = True
            self._cap.release()

    def _ended(self, index: int) -> None:
        if self._closed:
            return
        if self._kind != "file":
            raise CaptureError(f"capture source {self._label} stopped delivering frames")
        if index == 0:
            raise CaptureError(f"video file {self._label} has no decodable frames")
        log.info("video file %s ended after %d frames", self._label, index)

    def close(self) -> None:
        """Stop the stream. Safe from another thread: a reader in ``read()`` releases the capture itself, so
        the capture is never released under a read in progress."""
        self._closed = True
        if not self._reading:
            self._cap.release()


def _open_capture(
    target: str | int, kind: Kind, label: str, *, mode: tuple[int, int, float], timeout_ms: int
) -> cv2.VideoCapture:
    width, height, fps = mode
    if kind == "device":
        backend = cv2.CAP_V4L2 if sys.platform.startswith("linux") else cv2.CAP_ANY
        cap = cv2.VideoCapture(target, backend)
        if cap.isOpened():
            # Ask the device for the configured mode; it may pick the nearest one it has (we resize then).
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
            cap.set(cv2.CAP_PROP_FPS, fps)
    elif kind == "stream":
        # Without timeouts a stalled RTSP/HTTP server blocks read() for ever; with them read() fails and we
        # raise, so the app can reconnect.
        params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, timeout_ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, timeout_ms]
        cap = cv2.VideoCapture(target, cv2.CAP_FFMPEG, params)
    else:
        cap = cv2.VideoCapture(target, cv2.CAP_ANY)
    if not cap.isOpened():
        cap.release()
        raise CaptureError(f"cannot open capture source {label} ({kind})")
    return cap


class ImageFolderSource:
    """The images of a folder, sorted by name (numbers in names sort by value), as frames at ``fps``.

    Files that are not images (by suffix) are skipped; an image that does not decode is skipped with a
    warning. A folder with no images raises :class:`CaptureError` when opened.
    """

    def __init__(
        self,
        folder: Path,
        *,
        width: int,
        height: int,
        fps: float,
        realtime: bool = False,
        start: float | None = None,
    ) -> None:
        if not folder.is_dir():
            raise CaptureError(f"image folder {folder} does not exist")
        self._paths = sorted(
            (p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES), key=_natural_key
        )
        if not self._paths:
            raise CaptureError(f"image folder {folder} has no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
        self._folder = folder
        self._width, self._height, self._fps = width, height, fps
        self._realtime = realtime
        self._start = time.time() if start is None else start
        self._closed = False
        self._info = SourceInfo(width, height, fps, False, f"image folder {folder} ({len(self._paths)} images)")

    @property
    def info(self) -> SourceInfo:
        return self._info

    def frames(self) -> Iterator[Frame]:
        pacer = Pacer(self._fps) if self._realtime else None
        index = 0
        for path in self._paths:
            if self._closed:
                return
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is None:
                log.warning("skipping %s: not a readable image", path)
                continue
            if pacer is not None:
                pacer.wait(index)
            yield Frame(index, self._start + index / self._fps, fit_image(image, self._width, self._height))
            index += 1
        if index == 0:
            raise CaptureError(f"image folder {self._folder} has no readable images")

    def close(self) -> None:
        self._closed = True
