"""What the page shows of the camera: only redacted pixels, held in memory, never written anywhere.

:class:`SourceFeed` reads the configured source in a thread of the page's process and runs two redactors on it:

- the *shared view*: the zones in force, exactly what a shared segment would contain;
- the *calibration view*, only while the zone editor is open: passers-by masked everywhere, but the neighbour zones
  are not filled, so that the homeowner can see where to draw them. It is made by the same redactor with every
  neighbour zone turned public (so people there are still masked).

A redactor that has not been looked at for ``IDLE_SECONDS`` is dropped; the next look builds a new one, which
starts in warm-up and so masks wide (fail closed) until its background model is ready.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

import cv2
import numpy as np

from edge_agent.capture import open_source
from edge_agent.capture.base import Frame, FrameSource, Image
from edge_agent.config.models import Profile, Zone
from edge_agent.errors import CaptureError, EdgeAgentError
from edge_agent.redact import Redactor, build_redactor
from edge_agent.redact.zones import rasterise

log = logging.getLogger(__name__)

IDLE_SECONDS = 60.0
MAX_FPS = 5.0  # the page refreshes about once a second; redacting more often would only cost the Pi CPU
JPEG_QUALITY = 80


@dataclass(frozen=True, slots=True)
class Snapshot:
    jpeg: bytes
    captured_at: float
    width: int
    height: int
    fail_closed: tuple[str, ...]
    scene_shifted: bool


class Feed(Protocol):
    def shared(self) -> Snapshot | None: ...

    def calibration(self) -> Snapshot | None: ...

    def preview(self, zones: Sequence[Zone]) -> bytes | None: ...

    def set_zones(self, zones: Sequence[Zone]) -> None: ...

    def confirm_scene(self) -> None: ...

    def close(self) -> None: ...


def encode_jpeg(image: Image) -> bytes:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise EdgeAgentError("could not encode the snapshot")
    return bytes(buf.tobytes())


def calibration_zones(zones: Sequence[Zone]) -> list[Zone]:
    return [z.model_copy(update={"kind": "public"}) if z.kind == "neighbour" else z for z in zones]


class _View:
    """One redactor and its latest output. Only touched under the feed's lock."""

    def __init__(self, make: Callable[[], Redactor]) -> None:
        self.make = make
        self.redactor: Redactor | None = None
        self.image: Image | None = None
        self.frame: tuple[float, tuple[str, ...], bool] = (0.0, (), False)
        self.jpeg: Snapshot | None = None
        self.looked_at = 0.0

    def active(self, now: float) -> bool:
        return now - self.looked_at < IDLE_SECONDS

    def run(self, frame: Frame) -> None:
        if self.redactor is None:
            self.redactor = self.make()
        out = self.redactor.redact(frame)
        self.image = out.image
        self.frame = (out.captured_at, out.fail_closed, self.redactor.scene_shifted)
        self.jpeg = None

    def drop(self) -> None:
        self.redactor = None
        self.image = None
        self.jpeg = None

    def snapshot(self) -> Snapshot | None:
        self.looked_at = time.monotonic()
        if self.image is None:
            return None
        if self.jpeg is None:
            height, width = self.image.shape[:2]
            captured_at, reasons, shifted = self.frame
            self.jpeg = Snapshot(encode_jpeg(self.image), captured_at, width, height, reasons, shifted)
        return self.jpeg


class TwoViews:
    """The shared view and the calibration view, behind one lock; what every feed answers the page with."""

    def __init__(
        self, profile: Profile, zones: Sequence[Zone], make_redactor: Callable[[Profile, Sequence[Zone]], Redactor]
    ) -> None:
        self.profile = profile
        self._zones = list(zones)
        self._make = make_redactor
        self._lock = threading.Lock()
        self._shared = _View(lambda: self._make(self.profile, self._zones))
        self._calib = _View(lambda: self._make(self.profile, calibration_zones(self._zones)))

    def shared(self) -> Snapshot | None:
        with self._lock:
            return self._shared.snapshot()

    def calibration(self) -> Snapshot | None:
        with self._lock:
            return self._calib.snapshot()

    def preview(self, zones: Sequence[Zone]) -> bytes | None:
        """The calibration view with ``zones`` (not yet saved) applied: neighbour zones filled solid."""
        with self._lock:
            self._calib.looked_at = time.monotonic()
            if self._calib.image is None:
                return None
            image = self._calib.image.copy()
        masks = rasterise(list(zones), image.shape[1], image.shape[0])
        image[masks.neighbour] = 0
        return encode_jpeg(np.ascontiguousarray(image))


class SourceFeed(TwoViews):
    """Reads ``spec`` (default: the profile's camera) and redacts it for the page. Start with :meth:`start`."""

    def __init__(
        self,
        profile: Profile,
        zones: Sequence[Zone],
        spec: str | None = None,
        make_redactor: Callable[[Profile, Sequence[Zone]], Redactor] = build_redactor,
        open_frames: Callable[[], FrameSource] | None = None,
    ) -> None:
        super().__init__(profile, zones, make_redactor)
        # Paced: a video file plays at its own rate, as a camera would, instead of being read out in seconds.
        self._open = open_frames or (
            lambda: open_source(spec or profile.camera.source, profile.camera, realtime=True)
        )
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._source: FrameSource | None = None
        self.error: str | None = None

    def start(self) -> SourceFeed:
        self._thread = threading.Thread(target=self._run, name="ui-feed", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        source = self._source
        if source is not None:
            source.close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        """Show the source until closed; a file or image folder that ends plays again from the start (the page's
        live view of a recording), one that gives no frame at all is an error."""
        try:
            while not self._stop.is_set():
                self._source = self._open()
                try:
                    if not self._play(self._source):
                        raise CaptureError(f"{self._source.info.description}: no frames")
                finally:
                    self._source.close()
        except EdgeAgentError as exc:
            log.error("live view stopped: %s", exc)
            self.error = str(exc)

    def _play(self, source: FrameSource) -> int:
        shown = 0
        last = 0.0
        for frame in source.frames():
            if self._stop.is_set():
                break
            shown += 1
            now = time.monotonic()
            if now - last < 1.0 / MAX_FPS:
                continue
            last = now
            self._redact(frame, now)
        return shown

    def _redact(self, frame: Frame, now: float) -> None:
        with self._lock:
            calib = self._calib.active(now)
            if calib:
                # A copy for the calibration view: the shared redactor overwrites the raw frame in place.
                lores = None if frame.lores is None else frame.lores.copy()
                self._calib.run(replace(frame, image=frame.image.copy(), lores=lores))
            else:
                self._calib.drop()
            if self._shared.active(now):
                self._shared.run(frame)
            else:
                self._shared.drop()

    def set_zones(self, zones: Sequence[Zone]) -> None:
        with self._lock:
            self._zones = list(zones)
            self._shared.drop()
            # The calibration picture does not depend on the zones' kinds being final: keep showing it while
            # the new redactor warms up, so that the editor is never left blank after a save.
            self._calib.redactor = None

    def confirm_scene(self) -> None:
        with self._lock:
            for view in (self._shared, self._calib):
                if view.redactor is not None:
                    view.redactor.confirm_scene()
