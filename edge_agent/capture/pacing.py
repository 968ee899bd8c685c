"""Pacing for sources that stand in for a live camera (synthetic scenes, files played in real time)."""

from __future__ import annotations

import time


class Pacer:
    """Releases frame ``i`` no earlier than ``i / fps`` seconds after the first call (monotonic clock)."""

    def __init__(self, fps: float) -> None:
        self._period = 1.0 / fps
        self._origin: float | None = None

    def _elapsed(self) -> float:
        now = time.monotonic()
        if self._origin is None:
            self._origin = now
        return now - self._origin

    def wait(self, index: int) -> None:
        """Sleep until frame ``index`` is due. A late frame is released at once (nothing is skipped)."""
        ahead = index * self._period - self._elapsed()
        if ahead > 0:
            time.sleep(ahead)

    def wait_or_skip(self, index: int) -> int:
        """Like :meth:`wait`, but when the consumer has fallen a frame or more behind, return the index of the
        frame due now instead: a camera does not queue frames nobody took, it drops them."""
        elapsed = self._elapsed()
        ahead = index * self._period - elapsed
        if ahead > 0:
            time.sleep(ahead)
            return index
        if -ahead >= self._period:
            return int(elapsed / self._period)
        return index
