"""The frame source interface shared by every capture adapter."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

Image = npt.NDArray[np.uint8]


@dataclass(frozen=True, slots=True)
class SourceInfo:
    """What a source delivers: size in pixels, nominal frame rate, and whether it runs in real time."""

    width: int
    height: int
    fps: float
    live: bool
    description: str


@dataclass(frozen=True, slots=True)
class Frame:
    """One raw camera frame. Lives only in memory: never written anywhere before redaction.

    ``image`` is BGR, ``uint8``, shape ``(height, width, 3)``. ``captured_at`` is UTC seconds since the epoch
    (``time.time()`` at capture for live sources, start + index / fps for files).

    ``lores`` is an optional small grey (luma) image of the same instant for detection, when the camera gives
    one for free (picamera2's ``lores`` stream); ``None`` otherwise. It is as raw as ``image``.
    """

    index: int
    captured_at: float
    image: Image
    lores: Image | None = None


class FrameSource(Protocol):
    """A camera, a file or a generator of frames.

    ``frames()`` yields frames until the source ends (files) or ``close()`` is called (live sources).
    A source that fails raises :class:`edge_agent.errors.CaptureError`.
    """

    @property
    def info(self) -> SourceInfo: ...

    def frames(self) -> Iterator[Frame]: ...

    def close(self) -> None: ...
