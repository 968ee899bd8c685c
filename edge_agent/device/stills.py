"""A redacted still of the device's own output, for a neighbour's masking answer; and the fan-out of frame taps.

The still is the agent's redacted frame, as a shared segment would hold it: never a raw frame. It is taken only
from a frame redacted under a policy whose zones include the zones the answer names, so the neighbour's property
is black in it. After zones change the redactor warms up and masks wide for a moment; the still waits for a frame
the redactor vouches for, up to ``FAIL_CLOSED_WAIT_S``, then takes what there is and says why it is masked wider
(the answer carries ``fail_closed``). Nothing is kept but the one JPEG, in memory, until the worker takes it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2

from edge_agent.capture.base import Frame, Image
from edge_agent.config.in_force import Policy
from edge_agent.config.models import Zone
from edge_agent.consent.masking import MAX_STILL_BYTES, Still
from edge_agent.device.frames import FrameTap
from edge_agent.redact.redactor import RedactedFrame

STILL_WIDTH = 640
JPEG_QUALITY = 80
FAIL_CLOSED_WAIT_S = 20.0


@dataclass(frozen=True, slots=True)
class TakenStill:
    still: Still
    policy_hash: str
    zones: tuple[Zone, ...]  # the zones in force when it was made
    fail_closed: tuple[str, ...]


def encode_still(image: Image, width: int = STILL_WIDTH) -> Still:
    """A JPEG of a redacted image, ``width`` pixels wide at most."""
    height_in, width_in = image.shape[:2]
    scale = min(1.0, width / width_in)
    size = (max(16, round(width_in * scale)), max(16, round(height_in * scale)))
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA) if scale < 1.0 else image
    for quality in (JPEG_QUALITY, 60, 40):
        ok, data = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if ok and len(data) <= MAX_STILL_BYTES:
            return Still(data.tobytes(), size[0], size[1])
    raise ValueError("the still does not fit the size limit")


class StillCamera:
    """A frame tap that keeps one redacted still once asked for one."""

    def __init__(self, policy: Callable[[], Policy], clock: Callable[[], float] = time.monotonic) -> None:
        self._policy = policy
        self._clock = clock
        self._lock = threading.Lock()
        self._wanted: tuple[Zone, ...] | None = None
        self._asked_at = 0.0
        self._taken: TakenStill | None = None

    def ask(self, zones: Sequence[Zone]) -> None:
        """Take the next still made under a policy holding every zone in ``zones``."""
        with self._lock:
            if self._wanted != tuple(zones):
                self._wanted, self._asked_at, self._taken = tuple(zones), self._clock(), None

    def take(self) -> TakenStill | None:
        with self._lock:
            taken, self._taken = self._taken, None
            if taken is not None:
                self._wanted = None
            return taken

    def before_redact(self, frame: Frame) -> None:
        return None

    def after_redact(self, out: RedactedFrame, scene_shifted: bool) -> None:
        wanted = self._wanted
        if wanted is None or self._taken is not None:
            return  # nothing asked: one comparison per frame
        policy = self._policy()
        if not all(zone in policy.zones for zone in wanted):
            return
        waited = self._clock() - self._asked_at
        if out.fail_closed and waited < FAIL_CLOSED_WAIT_S:
            return
        still = encode_still(out.image)
        with self._lock:
            if self._wanted == wanted:
                self._taken = TakenStill(still, policy.hash, policy.zones, tuple(out.fail_closed))


class TapFan:
    """Several frame taps on one frame loop (the page's feed and the still camera)."""

    def __init__(self, taps: Sequence[FrameTap]) -> None:
        self.taps = tuple(taps)

    def before_redact(self, frame: Frame) -> None:
        for tap in self.taps:
            tap.before_redact(frame)

    def after_redact(self, out: RedactedFrame, scene_shifted: bool) -> None:
        for tap in self.taps:
            tap.after_redact(out, scene_shifted)
