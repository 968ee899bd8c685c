"""The broker's answers to published messages, as the publisher waits for them."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from edge_agent.errors import TransportError

V = TypeVar("V")

# Our code for "no answer will come": the link stopped before the broker answered (MQTT reason codes are 0-255).
LINK_STOPPED = -1


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
        """Refused by the broker (reason code >= 128), or abandoned when the link stopped (LINK_STOPPED)."""
        return self.code is not None and (self.code >= 128 or self.code == LINK_STOPPED)

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

    def deliver(self, answer: tuple[int, str]) -> None:
        self.settle(*answer)


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
    def refused(self) -> bool:
        """The broker refused a part (PUBACK reason code >= 128): sending it again will not help."""
        return any(a.code is not None and a.code >= 128 for a in self._acks)

    @property
    def abandoned(self) -> bool:
        """The link was stopped before the broker answered every part."""
        return any(a.code == LINK_STOPPED for a in self._acks)

    @property
    def refusal(self) -> tuple[int, str] | None:
        """The broker's reason code and text for the first part it refused (e.g. 135, "Not authorized")."""
        for ack in self._acks:
            if ack.code is not None and ack.code >= 128:
                return ack.code, ack.reason
        return None

    @property
    def done(self) -> bool:
        """True once every part is acknowledged, or as soon as one part failed."""
        return any(a.failed for a in self._acks) or all(a.done for a in self._acks)

    def _raise_if_refused(self) -> None:
        for ack in self._acks:
            if ack.failed:
                if ack.code == LINK_STOPPED:
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


class AnswerBook(Generic[V]):
    """Matches the broker's answers (PUBACK, SUBACK) to packet ids, whichever of the two arrives first.

    paho can run the answer callback on its network thread before ``publish()`` or ``subscribe()`` has even
    returned the packet id to the caller, so an answer with no one waiting yet is kept until someone expects it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: dict[int, Callable[[V], None]] = {}
        self._early: dict[int, V] = {}

    def expect(self, mid: int, deliver: Callable[[V], None]) -> None:
        with self._lock:
            if mid not in self._early:
                self._waiting[mid] = deliver
                return
            value = self._early.pop(mid)
        deliver(value)

    def answer(self, mid: int, value: V) -> bool:
        """Deliver ``value``; False if nobody expects ``mid`` yet (the value is then kept)."""
        with self._lock:
            deliver = self._waiting.pop(mid, None)
            if deliver is None:
                self._early[mid] = value
                return False
        deliver(value)
        return True

    def take_all(self) -> list[Callable[[V], None]]:
        """Forget every waiter (the link stopped); returns them so that the caller can fail them."""
        with self._lock:
            waiting, self._waiting = list(self._waiting.values()), {}
            self._early.clear()
        return waiting

    def count(self) -> int:
        with self._lock:
            return len(self._waiting)
