"""A frame source that survives its camera: when the wrapped source fails or a live stream ends, it is closed and
opened again with exponential back-off, and the frames carry on with continuous indexes.

State changes are reported through ``on_state(state, detail)``: ``"degraded"`` once the source has failed (and
again with a new detail after each failed reopen), ``"online"`` when frames flow again. The agent publishes these
on its status topic. A file or an image folder that simply reaches its end is not reopened.

The back-off is capped at 10 s by default, below half the systemd watchdog period (30 s): the agent pings the
watchdog only while frames flow, so a camera that stays away longer gets the whole service restarted, which is
the last resort for a wedged driver.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable, Iterator

from edge_agent.capture.base import Frame, FrameSource, SourceInfo
from edge_agent.errors import CaptureError

log = logging.getLogger(__name__)

ONLINE = "online"
DEGRADED = "degraded"

StateListener = Callable[[str, str], None]


class ReconnectingSource:
    """Wraps ``opener`` (which opens the real source and raises CaptureError when it cannot).

    The first open happens in the constructor, so that a bad source spec fails at start-up with its own message
    instead of being retried forever.
    """

    def __init__(
        self,
        opener: Callable[[], FrameSource],
        *,
        on_state: StateListener | None = None,
        min_delay: float = 0.5,
        max_delay: float = 10.0,
    ) -> None:
        if not 0 < min_delay <= max_delay:
            raise CaptureError(f"invalid reconnect back-off {min_delay}..{max_delay} s")
        self._opener = opener
        self._on_state = on_state
        self._min_delay = min_delay
        self._max_delay = max_delay
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._current: FrameSource | None = opener()
        self._info = self._current.info
        self._next_index = 0
        self.failures = 0
        self.reconnects = 0

    @property
    def info(self) -> SourceInfo:
        return self._info

    def close(self) -> None:
        self._closed.set()
        with self._lock:
            current, self._current = self._current, None
        if current is not None:
            current.close()

    def frames(self) -> Iterator[Frame]:
        delay = self._min_delay
        degraded = False
        while not self._closed.is_set():
            source = self._current or self._reopen()
            if source is None:
                degraded = True
                delay = self._pause(delay)
                continue
            try:
                for frame in source.frames():
                    if self._closed.is_set():
                        return
                    if degraded:
                        degraded, delay = False, self._min_delay
                        self.reconnects += 1
                        log.info("camera is back")
                        self._report(ONLINE, "")
                    yield dataclasses.replace(frame, index=self._next_index)
                    self._next_index += 1
                if not source.info.live or self._closed.is_set():
                    return  # a file or folder that ended, or close() was called
                reason = "the live source stopped delivering frames"
            except CaptureError as exc:
                reason = str(exc)
            self._drop(source)
            if self._closed.is_set():
                return
            self.failures += 1
            degraded = True
            log.warning("camera failed (%s); reopening in %.1f s", reason, delay)
            self._report(DEGRADED, reason)
            delay = self._pause(delay)

    def _reopen(self) -> FrameSource | None:
        try:
            source = self._opener()
        except CaptureError as exc:
            log.warning("camera still unavailable: %s", exc)
            self._report(DEGRADED, str(exc))
            return None
        with self._lock:
            if self._closed.is_set():
                source.close()
                return None
            self._current = source
        return source

    def _drop(self, source: FrameSource) -> None:
        with self._lock:
            if self._current is source:
                self._current = None
        try:
            source.close()
        except CaptureError as exc:
            log.warning("closing the failed camera: %s", exc)

    def _pause(self, delay: float) -> float:
        """Sleep ``delay`` (cut short by close()) and return the next, doubled delay."""
        self._closed.wait(delay)
        return min(delay * 2, self._max_delay)

    def _report(self, state: str, detail: str) -> None:
        if self._on_state is None:
            return
        try:
            self._on_state(state, detail[:200])
        except Exception:
            # The status message is informative; a failing listener must not stop the capture.
            log.exception("camera state listener failed")
