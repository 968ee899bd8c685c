"""Fake ``picamera2.encoders``: ``H264Encoder`` with picamera2's signature and life cycle, encoding for real.

It follows picamera2/encoders/encoder.py and h264_encoder.py where our code depends on it: ``output`` takes only
``picamera2.outputs.Output`` instances; ``start(quality=None)`` starts the outputs and raises when already running;
``encode(stream, request)`` maps the stream's buffer (after ``pre_callback`` has run) and hands each encoded frame
to ``outputframe(frame, keyframe, timestamp)`` with the timestamp in microseconds since the first frame, taken from
the request's ``SensorTimestamp``; ``stop()`` stops the outputs. The V4L2 hardware encoder is replaced by x264
(PyAV) with the same stream shape: Annex B, a keyframe every ``iperiod`` frames, sequence headers repeated at each
keyframe when ``repeat`` is set. Unlike the hardware, it encodes synchronously in the camera thread.
"""

from __future__ import annotations

import threading
from fractions import Fraction
from typing import Any

import av
import cv2
import numpy as np

from picamera2.outputs import Output  # type: ignore[import-not-found]


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
        self.framerate = framerate
        self.qp = qp
        self.profile = profile
        self._output: list[Output] = []
        self._running = False
        self._lock = threading.Lock()
        self.name = "main"
        self.width = self.height = self.stride = 0
        self.format: str | None = None
        self.frames_encoded = 0
        self.firsttimestamp: int | None = None
        self._codec: Any = None

    @property
    def running(self) -> bool:
        return self._running

    @property
    def output(self) -> Output | list[Output]:
        return self._output[0] if len(self._output) == 1 else self._output

    @output.setter
    def output(self, value: Output | list[Output]) -> None:
        if isinstance(value, list):
            if not all(isinstance(out, Output) for out in value):
                raise RuntimeError("Must pass Output")
        elif isinstance(value, Output):
            value = [value]
        else:
            raise RuntimeError("Must pass Output")
        self._output = value

    def start(self, quality: Any = None) -> None:
        with self._lock:
            if self._running:
                raise RuntimeError("Encoder already running")
            self.frames_encoded = 0
            self.firsttimestamp = None
            codec = av.CodecContext.create("libx264", "w")
            codec.width, codec.height = self.width, self.height
            codec.pix_fmt = "yuv420p"
            rate = Fraction(round(self.framerate or 30)).limit_denominator(1001)
            codec.time_base = 1 / rate
            codec.framerate = rate
            if self.bitrate:
                codec.bit_rate = self.bitrate
            gop = self.iperiod or 60
            params = f"keyint={gop}:min-keyint={gop}:scenecut=0:bframes=0"
            params += ":repeat-headers=1" if self.repeat else ""
            codec.options = {"preset": "ultrafast", "tune": "zerolatency", "x264-params": params}
            codec.open()
            self._codec = codec
            self._running = True
            for out in self._output:
                out.start()

    def stop(self) -> None:
        with self._lock:
            if not self._running:
                raise RuntimeError("Encoder already stopped")
            self._running = False
            for packet in self._codec.encode(None):
                self._send(packet)
            self._codec = None
            for out in self._output:
                out.stop()

    def encode(self, stream: str, request: Any) -> None:
        with self._lock:
            if not self._running:
                return
            self._encode(stream, request)
        self.frames_encoded += 1

    def _encode(self, stream: str, request: Any) -> None:
        ts = int(request.get_metadata()["SensorTimestamp"] / 1000)  # ns to us, as picamera2's _timestamp
        if self.firsttimestamp is None:
            self.firsttimestamp = ts
        timestamp_us = ts - self.firsttimestamp
        picture = request.make_array(stream)  # the buffer after pre_callback: what the hardware would read
        yuv = cv2.cvtColor(np.ascontiguousarray(picture), cv2.COLOR_BGR2YUV_I420)
        frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
        frame.pts = self.frames_encoded
        for packet in self._codec.encode(frame):
            self._send(packet, timestamp_us)

    def _send(self, packet: Any, timestamp_us: int | None = None) -> None:
        for out in self._output:
            out.outputframe(bytes(packet), packet.is_keyframe, timestamp_us)
