"""The broker's answers to published messages, as the publisher waits for them."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

from edge_agent.errors import TransportError


class Ack:
    """The broker's answer to one PUBLISH packet."""

    __slots__ = ("_callbacks", "_event", "_lock", "code", "reason")

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[], None]] = []
        self.code: int | None = None
        self.reason = ""

    @property
    def done(self) -> bool:
        return self._event.is_set()

    @property
    def failed(self) -> bool:
        """Refused by the broker (reason code >= 128), or abandoned when the link stopped (code -1)."""
        return self.code is not None and (self.code >= 128 or self.code < 0)

    def settle(self, code: int, reason: str) -> None:
        with self._lock:
            if self._event.is_set():
                return
            self.code, self.reason = code, reason
            self._event.set()
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback()

    def on_done(self, callback: Callable[[], None]) -> None:
        with self._lock:
            if not self._event.is_set():
                self._callbacks.append(callback)
                return
        callback()

    def wait(self, timeout: float) -> bool:
        return self._event.wait(timeout)


class PublishResult:
    """What became of one published payload (all of its parts, if it was split)."""

    def __init__(self, topic: str, acks: Sequence[Ack]) -> None:
        self.topic = topic
        self._acks = tuple(acks)
        self._fired = False
        self._lock = threading.Lock()

    @property
    def parts(self) -> int:
        return len(self._acks)

    @property
    def done(self) -> bool:
        """True once every part is acknowledged, or as soon as one part failed."""
        return any(a.failed for a in self._acks) or all(a.done for a in self._acks)

    def _raise_if_refused(self) -> None:
        for ack in self._acks:
            if ack.failed:
                if ack.code is not None and ack.code < 0:
                    raise TransportError(f"message on {self.topic} not delivered: {ack.reason}")
                raise TransportError(f"broker refused a message on {self.topic}: {ack.reason} ({ack.code})")

    def wait(self, timeout: float | None = None) -> bool:
        """True once the broker acknowledged every part; False on timeout; TransportError if it refused one."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for ack in self._acks:
            self._raise_if_refused()
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            if remaining is None:
                while not ack.wait(1.0):
                    self._raise_if_refused()
            elif not ack.wait(remaining):
                return False
        self._raise_if_refused()
        return True

    def add_done_callback(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once, when :attr:`done` becomes true (at once if it already is)."""

        def check() -> None:
            with self._lock:
                if self._fired or not self.done:
                    return
                self._fired = True
            callback()

        for ack in self._acks:
            ack.on_done(check)
