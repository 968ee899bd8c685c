"""Failed logins counted over a sliding window, per key (a client address, an account) and in total.

In memory: a restart forgets the failures, which costs an attacker a restart of the service for each window, not a
way in. Past ``per_key`` failures for one key (or ``total`` from everyone) within ``window`` seconds, logins from
that key (or everyone) wait until the oldest failure leaves the window.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

WINDOW = 900.0
FAILS_PER_KEY = 5
FAILS_TOTAL = 20


class LoginLimiter:
    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        *,
        window: float = WINDOW,
        per_key: int = FAILS_PER_KEY,
        total: int = FAILS_TOTAL,
    ) -> None:
        self._clock = clock
        self._window = window
        self._per_key = per_key
        self._total = total
        self._lock = threading.Lock()
        self._by_key: dict[str, deque[float]] = {}
        self._all: deque[float] = deque()

    def _prune(self, now: float) -> None:
        for times in [*self._by_key.values(), self._all]:
            while times and times[0] <= now - self._window:
                times.popleft()
        for key in [k for k, t in self._by_key.items() if not t]:
            del self._by_key[key]

    def retry_after(self, *keys: str) -> float:
        """Seconds until a login for all of ``keys`` may be tried; 0 when it may be tried now."""
        with self._lock:
            now = self._clock()
            self._prune(now)
            waits = [0.0]
            for key in keys:
                mine = self._by_key.get(key)
                if mine is not None and len(mine) >= self._per_key:
                    waits.append(mine[0] + self._window - now)
            if len(self._all) >= self._total:
                waits.append(self._all[0] + self._window - now)
            return max(waits)

    def failed(self, *keys: str) -> None:
        """One failed login, counted against each of ``keys`` and the total."""
        with self._lock:
            now = self._clock()
            for key in keys:
                self._by_key.setdefault(key, deque()).append(now)
            self._all.append(now)
