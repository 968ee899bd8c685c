"""The page's pictures when the agent itself serves the page (``[ui] enabled = true`` in the profile).

The camera can be opened by one process only (a Pi camera certainly), so the page cannot read it on its own while
the agent runs. Instead the agent hands its frames over:

- the *shared view* is a copy of the agent's own redacted output — exactly what a shared segment contains;
- the *calibration view* (only while the zone editor is open) is made from a copy of the raw frame by a second
  redactor whose neighbour zones are turned public, so passers-by are masked but the neighbour's house shows.

Both are taken at most ``MAX_FPS`` times a second, and only while somebody looks: the cost on the frame loop is
one comparison per frame otherwise. Nothing here is written anywhere.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace

from edge_agent.capture.base import Frame, Image
from edge_agent.config.models import Profile, Zone
from edge_agent.redact import Redactor, build_redactor
from edge_agent.redact.redactor import RedactedFrame
from edge_agent.ui.feed import MAX_FPS, TwoViews, _View


class DaemonFeed(TwoViews):
    def __init__(
        self,
        profile: Profile,
        zones: Sequence[Zone],
        make_redactor: Callable[[Profile, Sequence[Zone]], Redactor] = build_redactor,
    ) -> None:
        super().__init__(profile, zones, make_redactor)  # the shared view's redactor is never built here
        self._last_calib = 0.0
        self._last_shared = 0.0

    def _due(self, view: _View, last: float, now: float) -> bool:
        return view.active(now) and now - last >= 1.0 / MAX_FPS

    def before_redact(self, frame: Frame) -> None:
        """Called by the agent with the raw frame, before its own redactor changes it in place."""
        now = time.monotonic()
        with self._lock:
            if not self._due(self._calib, self._last_calib, now):
                if not self._calib.active(now):
                    self._calib.drop()
                return
            self._last_calib = now
            lores = None if frame.lores is None else frame.lores.copy()
            self._calib.run(replace(frame, image=frame.image.copy(), lores=lores))

    def after_redact(self, out: RedactedFrame, scene_shifted: bool) -> None:
        """Called by the agent with its redacted output."""
        now = time.monotonic()
        with self._lock:
            if not self._due(self._shared, self._last_shared, now):
                return
            self._last_shared = now
            image: Image = out.image.copy()
            self._shared.image = image
            self._shared.frame = (out.captured_at, out.fail_closed, scene_shifted)
            self._shared.jpeg = None

    def set_zones(self, zones: Sequence[Zone]) -> None:
        # The agent picks the saved zones up itself (ZoneWatch); the calibration redactor is rebuilt lazily.
        with self._lock:
            self._zones = list(zones)
            self._calib.redactor = None

    def confirm_scene(self) -> None:
        # The agent's own redactor is confirmed through the zone store (scene-confirm.json, ZoneWatch).
        with self._lock:
            if self._calib.redactor is not None:
                self._calib.redactor.confirm_scene()

    def close(self) -> None:
        with self._lock:
            self._calib.drop()
            self._shared.image = None
