"""Ghosts: someone in the warm-up frames who then leaves is not masked for minutes, and someone standing still
is never taken for a ghost. Checked on the pixels of the redactor's output."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from tests.unit.redact.redact_helpers import FPS, Feeder, make_redactor, scene, with_person


@pytest.fixture
def ground() -> np.ndarray:
    """Softly shaded ground, like pavement or a lawn at this size. (On ground with texture as strong as a
    person's outline the edge test cannot tell, and a ghost is left to fade at the slow rate: the safe side.)"""
    image = np.asarray(cv2.GaussianBlur(scene(), (0, 0), 8), dtype=np.uint8)
    # A kerb, a wall and a window or two, for the scene guard to recognise the view by.
    cv2.line(image, (0, 170), (319, 160), (200, 200, 200), 3)
    cv2.rectangle(image, (230, 10), (310, 80), (60, 60, 140), -1)
    for x in (240, 270):
        cv2.rectangle(image, (x, 20), (x + 20, 45), (220, 220, 200), -1)
    cv2.line(image, (0, 60), (200, 40), (30, 30, 30), 2)
    return image


def _covered(mask: np.ndarray, x: int, y: int, w: int = 20, h: int = 50) -> float:
    return float(mask[y : y + h, x : x + w].mean())


def test_person_in_the_warm_up_who_leaves_is_released(ground: np.ndarray) -> None:
    # They stood through the whole warm-up, so the background model starts with them in it; their spot shows
    # as foreground once they go. The outline of that foreground is in the model, not in the frame: a ghost.
    feed = Feeder(make_redactor(track_hold_seconds=1.0))
    for _ in range(5):
        _, out = feed(with_person(ground, 60, 100))
        assert out.mask.all()  # warm-up: the whole frame
    released_at = None
    for k in range(int(6 * FPS)):
        original, out = feed(ground)
        if released_at is None and not out.mask.any():
            released_at = k / FPS
    assert released_at is not None and released_at <= 4.0, released_at
    # Once released, the background is the real one: the frame passes unchanged, and stays so.
    assert not out.mask.any()
    assert np.array_equal(out.image, original)


def test_person_standing_still_from_the_warm_up_end_is_not_a_ghost(ground: np.ndarray) -> None:
    # They walk in during the warm-up and stop right after it: from then on their pixels never change, like a
    # ghost's, but their outline is in the frame. Masked for the whole minute they stand there.
    feed = Feeder(make_redactor(track_hold_seconds=1.0))
    for x in range(200, 180, -4):
        feed(with_person(ground, x, 100))
    for _ in range(int(60 * FPS)):
        original, out = feed(with_person(ground, 180, 100))
        assert _covered(out.mask, 180, 100) == 1.0
    assert not np.array_equal(out.image[100:150, 180:200], original[100:150, 180:200])


def test_dark_person_on_dark_ground_standing_still_is_not_a_ghost(ground: np.ndarray) -> None:
    # Low contrast: a grey person on a darkened patch of ground, standing for a minute after walking in.
    ground = ground.copy()
    ground[80:170, 100:220] = (ground[80:170, 100:220] * 0.4).astype(np.uint8)
    patch = np.full((50, 20, 3), 85, dtype=np.uint8)  # about 35 grey levels above the ground
    feed = Feeder(make_redactor(track_hold_seconds=1.0))
    for _ in range(6):
        feed(ground)
    for x in range(120, 160, 4):
        feed(with_person(ground, x, 100, patch))
    for _ in range(int(60 * FPS)):
        _, out = feed(with_person(ground, 160, 100, patch))
        assert _covered(out.mask, 160, 100) == 1.0
