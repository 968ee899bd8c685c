"""ReconnectingSource: a failed camera is reopened with back-off, frames carry on, states are reported."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest

from edge_agent.capture.base import Frame, FrameSource, SourceInfo
from edge_agent.capture.reconnect import ReconnectingSource
from edge_agent.capture.synthetic import SyntheticSource
from edge_agent.errors import CaptureError


class Unplugged:
    """A real synthetic camera whose cable is pulled after ``fail_after`` frames."""

    def __init__(self, fail_after: int | None, live: bool = True) -> None:
        self.inner = SyntheticSource(width=64, height=36, fps=10)
        self.fail_after = fail_after
        self._info = SourceInfo(64, 36, 10, live, "test camera")
        self.closed = False

    @property
    def info(self) -> SourceInfo:
        return self._info

    def frames(self) -> Iterator[Frame]:
        for n, frame in enumerate(self.inner.frames()):
            if self.fail_after is not None and n >= self.fail_after:
                raise CaptureError("camera unplugged")
            yield frame

    def close(self) -> None:
        self.closed = True
        self.inner.close()


def _opener(plan: list[Callable[[], FrameSource]]) -> tuple[Callable[[], FrameSource], list[FrameSource]]:
    opened: list[FrameSource] = []

    def open_next() -> FrameSource:
        step = plan.pop(0)
        source = step()
        opened.append(source)
        return source

    return open_next, opened


def _missing() -> FrameSource:
    raise CaptureError("no camera at usb:0")


def test_failed_source_is_reopened_and_frames_continue() -> None:
    states: list[tuple[str, str]] = []
    opener, opened = _opener([lambda: Unplugged(5), _missing, _missing, lambda: Unplugged(None)])
    source = ReconnectingSource(opener, on_state=lambda s, d: states.append((s, d)), min_delay=0.01,
                                max_delay=0.04)
    frames = []
    for frame in source.frames():
        frames.append(frame)
        if len(frames) == 12:
            source.close()
    assert [f.index for f in frames] == list(range(12))
    assert states == [("degraded", "camera unplugged"), ("degraded", "no camera at usb:0"),
                      ("degraded", "no camera at usb:0"), ("online", "")]
    assert source.failures == 1 and source.reconnects == 1
    assert all(s.closed for s in opened if isinstance(s, Unplugged))


def test_a_finished_file_is_not_reopened() -> None:
    opener, opened = _opener([lambda: Unplugged(None, live=False)])
    unplugged = opened  # the only one ever opened
    source = ReconnectingSource(opener)
    inner = unplugged[0]
    assert isinstance(inner, Unplugged)
    inner.inner.close()  # the "file" ends after its first frame
    assert len(list(source.frames())) <= 1
    assert len(opened) == 1


def test_bad_source_fails_at_start() -> None:
    with pytest.raises(CaptureError, match="usb:0"):
        ReconnectingSource(_missing)


def test_close_interrupts_the_back_off() -> None:
    opener, _ = _opener([lambda: Unplugged(0)] + [_missing] * 10)
    source = ReconnectingSource(opener, min_delay=30.0, max_delay=30.0)
    done = threading.Event()

    def consume() -> None:
        for _ in source.frames():
            pass
        done.set()

    thread = threading.Thread(target=consume)
    thread.start()
    time.sleep(0.2)  # now waiting 30 s before reopening
    source.close()
    assert done.wait(5)
    thread.join()


def test_a_failing_state_listener_does_not_stop_capture() -> None:
    def boom(_state: str, _detail: str) -> None:
        raise RuntimeError("listener broke")

    opener, _ = _opener([lambda: Unplugged(2), lambda: Unplugged(None)])
    source = ReconnectingSource(opener, on_state=boom, min_delay=0.01)
    frames = []
    for frame in source.frames():
        frames.append(frame)
        if len(frames) == 4:
            source.close()
    assert len(frames) == 4
