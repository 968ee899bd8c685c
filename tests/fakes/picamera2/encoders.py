"""Fake ``picamera2.encoders``: an ``H264Encoder`` that records the frames it is given instead of encoding."""

from __future__ import annotations

from typing import Any

import numpy as np


class H264Encoder:
    def __init__(
        self,
        bitrate: int | None = None,
        repeat: bool = True,
        iperiod: int | None = None,
        framerate: float | None = None,
        enable_sps_framerate: bool = False,
        qp: int | None = None,
        profile: str | None = None,
    ) -> None:
        self.bitrate = bitrate
        self.repeat = repeat
        self.iperiod = iperiod
        self.output: Any = None
        self.frames: list[np.ndarray] = []  # copies of what the "hardware" would have encoded

    def encode(self, stream: str, request: Any) -> None:
        self.frames.append(request.make_array(stream))
