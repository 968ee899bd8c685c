"""Messages refused at the device's door, written to the audit log at a bounded rate.

Every refused request is worth a line in the homeowner's log, but not every one of a flood: thousands of junk
messages would bury the entries that matter and cost a disk write each. So in each window the first
``per_window`` refusals are written in full, the rest are only counted, and the count goes into the next entry
written (``suppressed_before``), or into a summary entry when the window closes (:meth:`RejectionLog.flush`, called
by the worker that owns the log). Nothing is lost from the count; the log grows by at most ``per_window + 1``
entries a window.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from edge_agent.core.audit import AuditLog


class RejectionLog:
    def __init__(
        self, audit: AuditLog, kind: str, *, window_s: float = 60.0, per_window: int = 5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.audit = audit
        self.kind = kind
        self.window_s = window_s
        self.per_window = per_window
        self._clock = clock
        self._lock = threading.Lock()
        self._window_start = clock()
        self._written = 0
        self._suppressed = 0
        self.total = 0  # every refusal noted, written or not

    def note(self, problem: str) -> bool:
        """Count one refusal; True when it was written to the log."""
        with self._lock:
            self.total += 1
            self._roll(self._clock())
            if self._written >= self.per_window:
                self._suppressed += 1
                return False
            suppressed, self._suppressed = self._suppressed, 0
            self._written += 1
        fields: dict[str, object] = {"problem": problem[:200]}
        if suppressed:
            fields["suppressed_before"] = suppressed
        return self.audit.note(self.kind, **fields)

    def flush(self, force: bool = False) -> None:
        """Write the count of refusals not written, once their window has closed (or now, at a stop)."""
        with self._lock:
            if not self._suppressed or (not force and self._clock() - self._window_start < self.window_s):
                return
            suppressed, self._suppressed = self._suppressed, 0
            self._roll(self._clock())
        self.audit.note(self.kind, problem=f"{suppressed} more refused, not written one by one",
                        suppressed_before=suppressed)

    def _roll(self, now: float) -> None:
        if now - self._window_start >= self.window_s:
            self._window_start = now
            self._written = 0
