"""A worker's thread: ``tick(now)`` every few seconds until stopped. A tick that fails (a full card, a broker
that refused) is logged and the next one comes: a worker never dies of one bad tick."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from edge_agent.errors import EdgeAgentError

log = logging.getLogger(__name__)


class Ticker:
    def __init__(self, name: str, every_s: float, tick: Callable[[float], None]) -> None:
        self.name = name
        self.every_s = every_s
        self._tick = tick
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout)

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                self._tick(time.time())
            except (OSError, EdgeAgentError) as exc:
                log.error("%s: %s", self.name, exc)
