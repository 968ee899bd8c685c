"""An agent running in a thread of the test, for tests that change its files while it runs."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from types import TracebackType

from edge_agent.device.daemon import Agent


class AgentThread:
    """Runs ``agent`` until the ``with`` block ends; ``wait`` polls a condition and fails at once if the agent
    raised or stopped, or after ``timeout`` seconds. Whatever the agent raised is checked on leaving the block."""

    def __init__(self, agent: Agent, timeout: float = 30.0) -> None:
        self.agent = agent
        self.timeout = timeout
        self.errors: list[BaseException] = []
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            self.agent.run()
        except BaseException as exc:  # the test fails on it, in wait() or on leaving the block
            self.errors.append(exc)

    def __enter__(self) -> AgentThread:
        self._thread.start()
        return self

    def wait(self, check: Callable[[], bool]) -> None:
        deadline = time.monotonic() + self.timeout
        while not check():
            assert self._thread.is_alive() and not self.errors, self.errors
            assert time.monotonic() < deadline, "timed out"
            time.sleep(0.05)

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.agent.stop_event.set()
        self._thread.join(timeout=self.timeout)
        if kind is None:
            assert not self.errors, self.errors
