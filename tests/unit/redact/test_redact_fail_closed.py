"""Each fail-closed path, checked on the pixels of the output."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from edge_agent.capture.base import Frame
from edge_agent.config.models import Zone
from tests.unit.redact.redact_helpers import FakeClock, FakeFaces, Feeder, make_redactor, scene, with_person


def warm(feed: Feeder, image: np.ndarray, frames: int = 6) -> None:
    for _ in range(frames):
        feed(image)


def all_black(image: np.ndarray) -> bool:
    return not image.any()


def test_warmup_masks_whole_frame_then_static_scene_passes_unchanged(background: np.ndarray) -> None:
    feed = Feeder(make_redactor())
    for _ in range(5):
        _, out = feed(background)
        assert out.fail_closed == ("warmup",)
        assert all_black(out.image)
        assert out.mask is not None and out.mask.all()
    original, out = feed(background)
    assert out.fail_closed == ()
    assert np.array_equal(out.image, original)
    assert out.mask is not None and not out.mask.any()
    assert feed.redactor.counters()["warmup"] == 5


@pytest.mark.parametrize(("fps", "masked"), [(10.0, 15), (5.0, 9), (30.0, 15)])
def test_warmup_lasts_its_frames_or_its_seconds(background: np.ndarray, fps: float, masked: int) -> None:
    # 15 frames, or fewer once they span 1.5 s: a 5 fps camera is masked whole for 1.6 s, not 3 s.
    redactor = make_redactor(warmup_frames=15, warmup_seconds=1.5)
    reasons = []
    for i in range(20):
        out = redactor.redact(Frame(i, i / fps, background.copy()))
        reasons.append(out.fail_closed)
        assert out.mask is not None and out.mask.all() == (out.fail_closed == ("warmup",))
    assert reasons[:masked] == [("warmup",)] * masked
    assert reasons[masked:] == [()] * (20 - masked)


def test_warmup_masks_public_zone_but_own_zone_people_visible_keeps_own(background: np.ndarray) -> None:
    own = Zone(name="porch", kind="own", coordinates=[(0.0, 0.0), (0.5, 0.0), (0.5, 1.0), (0.0, 1.0)])
    feed = Feeder(make_redactor([own], own_zone_people_visible=True))
    original, out = feed(background)
    assert out.fail_closed == ("warmup",)
    assert all_black(out.image[:, 161:])
    assert np.array_equal(out.image[:, :160], original[:, :160])  # the polygon edge (x=160) is own


def test_detector_error_masks_the_frame_and_is_counted(
    background: np.ndarray, caplog: pytest.LogCaptureFixture
) -> None:
    faces = FakeFaces()
    feed = Feeder(make_redactor(faces=faces))
    warm(feed, background, 7)
    caplog.set_level(logging.WARNING, logger="edge_agent.redact.redactor")
    faces.failing = True
    _, out = feed(background)
    faces.failing = False
    assert out.fail_closed == ("detector_error",)
    assert all_black(out.image)
    assert feed.redactor.counters()["detector_error"] == 1
    assert any("detector_error" in r.getMessage() for r in caplog.records)
    original, out = feed(background)
    assert out.fail_closed == ()
    assert np.array_equal(out.image, original)


def test_frame_over_budget_is_masked(background: np.ndarray) -> None:
    clock = FakeClock()
    faces = FakeFaces(clock=clock)
    feed = Feeder(make_redactor(faces=faces, clock=clock, frame_budget_ms=50))
    warm(feed, background, 8)
    faces.slow = True
    _, out = feed(background)
    faces.slow = False
    assert out.fail_closed == ("over_budget",)
    assert all_black(out.image)
    assert feed.redactor.counters()["over_budget"] == 1
    original, out = feed(background)
    assert np.array_equal(out.image, original)


def test_moved_camera_masks_everything_until_scene_confirmed(background: np.ndarray) -> None:
    redactor = make_redactor()
    feed = Feeder(redactor)
    warm(feed, background)
    moved = np.roll(background, 100, axis=1)
    for i in range(3):
        _, out = feed(moved)
        assert out.fail_closed == ("scene_shift",)
        assert all_black(out.image)
        assert redactor.scene_shifted == (i == 2)  # latched after scene_shift_frames frames
    # Back to the old view: still masked, because only the homeowner can confirm the zones again.
    for _ in range(3):
        _, out = feed(background)
        assert "scene_shift" in out.fail_closed and all_black(out.image)
    assert redactor.scene_shifted
    redactor.confirm_scene()
    _, out = feed(moved)
    assert not redactor.scene_shifted
    assert out.fail_closed == ("warmup",)  # the background is learnt again for the new view
    warm(feed, moved, 5)
    original, out = feed(moved)
    assert out.fail_closed == ()
    assert np.array_equal(out.image, original)
    assert redactor.counters()["scene_shift"] == 6


def test_covered_camera_is_a_scene_shift(background: np.ndarray) -> None:
    redactor = make_redactor()
    feed = Feeder(redactor)
    warm(feed, background)
    covered = np.full_like(background, 12)
    for _ in range(3):
        _, out = feed(covered)
        assert all_black(out.image)
    assert redactor.scene_shifted


def test_light_change_is_not_a_scene_shift(background: np.ndarray) -> None:
    redactor = make_redactor()
    feed = Feeder(redactor)
    warm(feed, background)
    darker = (background * 0.7).astype(np.uint8)
    for _ in range(5):
        _, out = feed(darker)
        assert "scene_shift" not in out.fail_closed
    assert not redactor.scene_shifted


def test_brief_glitch_masks_its_frames_without_latching(background: np.ndarray) -> None:
    redactor = make_redactor()
    feed = Feeder(redactor)
    warm(feed, background)
    _, out = feed(np.full_like(background, 0))
    assert out.fail_closed == ("scene_shift",) and all_black(out.image)
    _, out = feed(background)
    assert "scene_shift" not in out.fail_closed
    assert not redactor.scene_shifted


def test_without_fail_closed_nothing_is_masked_wide(background: np.ndarray) -> None:
    feed = Feeder(make_redactor(fail_closed=False))
    original, out = feed(background)
    assert out.fail_closed == ()
    assert np.array_equal(out.image, original)


def test_scene_guard_does_not_fire_on_a_person(background: np.ndarray) -> None:
    redactor = make_redactor()
    feed = Feeder(redactor)
    warm(feed, background)
    _, out = feed(with_person(background, 100, 60))
    assert "scene_shift" not in out.fail_closed


def test_scene_from_other_seed_differs() -> None:
    assert not np.array_equal(scene(1), scene(2))
