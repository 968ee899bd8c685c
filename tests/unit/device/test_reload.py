"""A profile reload (SIGHUP) cannot end the daemon: each kind of change is applied whole or refused whole.

Each test runs the real agent on the synthetic scene in a thread, rewrites its profile file and sets the reload
flag the SIGHUP handler sets, then reads what the agent did from its audit log, its segments and its parts.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from edge_agent.config.identity import init_identity
from edge_agent.consent.state import OFF_RECORD, ConsentStore, live_record
from edge_agent.core.audit import AuditLog
from edge_agent.core.paths import DevicePaths
from edge_agent.device.daemon import Agent, RunOptions
from edge_agent.segment.decode import decode_segment
from edge_agent.segment.model import Segment

PROFILE = """
name = "{name}"
[camera]
source = "synthetic"
width = {width}
height = {height}
fps = 10
detect_width = 160
detect_height = 90
[segment]
seconds = 1
live_seconds = 1
[retention]
hours = {hours}
[consent]
max_live_hours = {live_hours}
max_request_window_hours = {window_hours}
"""


def profile_text(name: str = "before", width: int = 320, height: int = 180, hours: float = 72.0,
                 live_hours: float = 8.0, window_hours: float = 2.0) -> str:
    return PROFILE.format(name=name, width=width, height=height, hours=hours, live_hours=live_hours,
                          window_hours=window_hours)


class Running:
    """The agent in a thread, with every segment it hands to the share thread."""

    def __init__(self, tmp_path: Path, text: str, source: str | None = None) -> None:
        self.device = DevicePaths(tmp_path / "device")
        init_identity(self.device, "reload-device")
        self.profile = tmp_path / "p.toml"
        self.profile.write_text(text)
        self.agent = Agent(RunOptions(data_dir=self.device.root, profile=str(self.profile), source=source,
                                      duration=60.0))
        self.segments: list[Segment] = []
        real = self.agent.segment_done

        def keep(segment: Segment, scene_shifted: bool) -> None:
            self.segments.append(segment)
            real(segment, scene_shifted)

        self.agent.segment_done = keep  # type: ignore[method-assign]
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            self.agent.run()
        except BaseException as exc:  # the test fails on it below
            self.error = exc

    def audit(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in AuditLog(self.device.audit).entries() if e["kind"] == kind]

    def wait(self, check: Callable[[], bool], timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            assert self.thread.is_alive(), f"the agent stopped: {self.error!r}"
            assert time.monotonic() < deadline, "timed out"
            time.sleep(0.05)

    def reload(self, text: str) -> None:
        self.profile.write_text(text)
        self.agent.reload_event.set()


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Callable[..., Running]]:
    started: list[Running] = []

    def start(text: str = profile_text(), source: str | None = None) -> Running:
        run = Running(tmp_path, text, source)
        run.thread.start()
        run.wait(lambda: run.agent.summary.frames >= 5)
        started.append(run)
        return run

    yield start
    for run in started:
        run.agent.stop_event.set()
        run.thread.join(timeout=30)
        assert run.error is None, run.error


def _frame_shapes(segments: list[Segment]) -> set[tuple[int, ...]]:
    return {frame.shape for segment in segments for frame in decode_segment(segment.data)}


def test_camera_size_change_reopens_the_camera_and_goes_on(running: Callable[..., Running]) -> None:
    run = running()
    run.reload(profile_text(name="bigger", width=640, height=360))
    run.wait(lambda: bool(run.audit("profile_reload")))
    before = len(run.segments)
    run.wait(lambda: run.agent.summary.frames >= 40 and len(run.segments) >= before + 2)
    assert run.thread.is_alive()
    assert run.audit("profile_reload")[0]["profile"] == "bigger"
    # Segments cut before the reload are 320x180, every one after it 640x360: none mixes the two.
    assert _frame_shapes(run.segments[:before]) == {(180, 320, 3)}
    assert _frame_shapes(run.segments[before:]) == {(360, 640, 3)}
    assert run.agent.loop.capture is not None and run.agent.loop.capture.info.width == 640


def test_camera_that_does_not_open_keeps_the_old_profile(running: Callable[..., Running]) -> None:
    run = running()
    bad = profile_text(name="no-camera").replace('source = "synthetic"', 'source = "/nonexistent/camera.mp4"')
    run.reload(bad)
    run.wait(lambda: bool(run.audit("profile_reload_refused")))
    refused = run.audit("profile_reload_refused")[0]
    assert "camera" in refused["error"] and refused["profile"] == "before"
    frames = run.agent.summary.frames
    run.wait(lambda: run.agent.summary.frames >= frames + 10)  # the old camera runs on
    assert run.agent.policy.profile.name == "before"
    assert not run.audit("profile_reload")


def test_invalid_profile_is_refused_and_the_old_one_runs_on(running: Callable[..., Running]) -> None:
    run = running()
    run.reload(profile_text(name="broken").replace("fps = 10", "fps = -3"))
    run.wait(lambda: bool(run.audit("profile_reload_refused")))
    assert "fps" in run.audit("profile_reload_refused")[0]["error"]
    frames = run.agent.summary.frames
    run.wait(lambda: run.agent.summary.frames >= frames + 10)
    assert run.agent.policy.profile.name == "before"


def test_retention_and_request_caps_follow_a_reload(running: Callable[..., Running]) -> None:
    run = running()
    run.reload(profile_text(name="shorter", hours=1.0, window_hours=0.5))
    run.wait(lambda: bool(run.audit("profile_reload")))
    assert run.agent.retention.retention.hours == 1.0
    assert run.agent.requests.caps.max_request_window_hours == 0.5
    assert run.agent.policy.profile.name == "shorter"


def test_live_cap_follows_a_reload_and_clamps_the_grant_in_force(running: Callable[..., Running]) -> None:
    run = running()
    now = time.time()
    grant = live_record(now, now + 6 * 3600, OFF_RECORD, 8.0)
    ConsentStore(run.device.consent).write(grant)
    assert run.agent.gate.current().expires_at == grant.expires_at
    run.reload(profile_text(name="one-hour-live", live_hours=1.0))
    run.wait(lambda: bool(run.audit("profile_reload")))
    clamped = run.agent.gate.current()
    assert clamped.id == grant.id and clamped.expires_at == pytest.approx(grant.starts_at + 3600)
    assert run.audit("consent_clamped")[0]["consent_id"] == grant.id


def test_zone_only_change_keeps_the_camera_open(running: Callable[..., Running]) -> None:
    run = running()
    capture = run.agent.loop.capture
    run.reload(profile_text(name="with-zone") + '[[zones]]\nname = "n"\nkind = "neighbour"\n'
               'coordinates = [[0.8, 0.0], [1.0, 0.0], [1.0, 0.5]]\n')
    run.wait(lambda: bool(run.audit("profile_reload")))
    assert run.agent.loop.capture is capture  # same camera settings: not reopened
    assert len(run.agent.policy.zones) == 1


def test_scene_shift_is_published_as_the_status_state(tmp_path: Path) -> None:
    """The status message's "scene_shift" state is sent when the scene guard trips and cleared when confirmed."""
    run = Running(tmp_path, profile_text())
    states: list[tuple[str, str]] = []
    run.agent.camera_state = lambda state, detail: states.append((state, detail))  # type: ignore[method-assign]
    run.agent.loop._scene_state(True)
    run.agent.loop._scene_state(True)  # once per change, not per frame
    run.agent.loop._scene_state(False)
    assert [s for s, _ in states] == ["scene_shift", "online"]
    assert "confirms the scene" in states[0][1]
