"""Fake ``picamera2.outputs``: the ``Output`` base class, with picamera2's own signatures (picamera2/outputs/output.py).

Encoders accept only instances of it (``Encoder.output`` raises ``RuntimeError("Must pass Output")`` otherwise).
"""

from __future__ import annotations

from typing import Any


class Output:
    def __init__(self, pts: Any = None) -> None:
        self.recording = False
        self.ptsoutput = pts
        self.needs_pacing = False
        self.needs_add_stream = False

    def start(self) -> None:
        self.recording = True

    def stop(self) -> None:
        self.recording = False

    def outputframe(
        self, frame: bytes, keyframe: bool = True, timestamp: int | None = None, packet: Any = None, audio: bool = False
    ) -> None:
        """Called by the encoder with each encoded frame (the base class drops it)."""

    def outputtimestamp(self, timestamp: int | None) -> None:
        pass

    def _add_stream(self, encoder_stream: Any, *args: Any, **kwargs: Any) -> None:
        pass
