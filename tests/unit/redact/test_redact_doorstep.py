"""A doorbell's view on pixels: the synthetic doorstep scene (a camera at head height, up to eight people at once,
one who stops for 12 s, a visitor cut by the bottom of the frame) through the redactor as shipped.

People near the lens must not trip the scene guard; a knocked camera must; masks must hug large, close people;
and the blocks over a face must be coarse enough that no face is spanned by more than four.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from edge_agent.capture.base import Frame
from edge_agent.capture.synthetic import SceneOptions, SyntheticSource
from edge_agent.config.models import CameraSettings, Profile, RedactionSettings
from edge_agent.redact import NO_BUDGET_MS, SCENE_SHIFT, build_redactor
from edge_agent.redact.masking import MAX_BLOCKS_ACROSS
from edge_agent.redact.redactor import RedactedFrame, Redactor
from tests.unit.redact.redact_helpers import FakeFaces, Feeder, make_redactor, scene

FPS = 10.0
SIZE = (640, 480)
# A sliver of someone stepping in at the frame's edge, narrower than this, shows nothing that identifies them
# (as in test_redact_synthetic).
MIN_VISIBLE_WIDTH = 16


def _doorstep(seconds: float) -> tuple[SyntheticSource, Redactor, int]:
    width, height = SIZE
    camera = CameraSettings(width=width, height=height, fps=FPS)
    profile = Profile(name="doorstep", camera=camera, redaction=RedactionSettings())
    options = SceneOptions(people=7, view="doorstep", cars=False)
    source = SyntheticSource(width=width, height=height, fps=FPS, seed=3, options=options, start=0.0)
    return source, build_redactor(profile, [], seed=1, frame_budget_ms=NO_BUDGET_MS), round(seconds * FPS)


def _knocked(image: np.ndarray) -> np.ndarray:
    h, w = image.shape[:2]
    turn = cv2.getRotationMatrix2D((w / 2, h / 2), 2.0, 1.0)  # turned by 2 degrees and shifted by 3 %
    turn[0, 2] += 0.03 * w
    return np.asarray(cv2.warpAffine(image, turn, (w, h), borderMode=cv2.BORDER_REFLECT), dtype=np.uint8)


def _head_covered(out: RedactedFrame, head: tuple[int, int, int, int]) -> float:
    assert out.mask is not None
    x, y, w, h = head
    return float(out.mask[y : y + h, x : x + w].mean()) if w > 0 and h > 0 else 1.0


def test_people_near_the_lens_never_trip_the_scene_guard_and_every_head_is_masked() -> None:
    source, redactor, frames = _doorstep(40.0)
    crowded = 0
    for i in range(frames):
        out = redactor.redact(Frame(i, i / FPS, source.render(i)))
        assert SCENE_SHIFT not in out.fail_closed, i
        people = source.people(i)
        crowded = max(crowded, len(people))
        for person in people:
            if person.box[2] >= MIN_VISIBLE_WIDTH:
                assert _head_covered(out, person.head) >= 0.95, (i, person)
    assert not redactor.scene_shifted
    assert crowded >= 7  # the test saw a crowd, and the visitor at the door


def test_a_knocked_camera_is_masked_whole_from_the_knock_and_latched_within_five_frames() -> None:
    source, redactor, frames = _doorstep(12.0)
    knock = frames // 2
    for i in range(frames):
        image = source.render(i)
        if i >= knock:
            image = _knocked(image)
        out = redactor.redact(Frame(i, i / FPS, image))
        if i >= knock:
            assert out.mask is not None and out.mask.all(), i
            assert SCENE_SHIFT in out.fail_closed
            assert redactor.scene_shifted == (i >= knock + 4), i
    assert redactor.scene_shifted


def test_a_visitor_filling_half_the_frame_is_not_a_scene_shift(background: np.ndarray) -> None:
    feed = Feeder(make_redactor())
    for _ in range(8):
        feed(background)
    visitor = background.copy()
    h, w = visitor.shape[:2]
    rng = np.random.default_rng(4)
    visitor[h // 6 :, w // 4 : w // 4 + w // 2] = rng.integers(20, 90, (h - h // 6, w // 2, 3), dtype=np.uint8)
    for _ in range(20):
        _, out = feed(visitor)
        assert SCENE_SHIFT not in out.fail_closed
    assert not feed.redactor.scene_shifted


@pytest.mark.parametrize("face_height", [30, 60, 120])
def test_a_close_face_is_spanned_by_at_most_four_blocks(face_height: int) -> None:
    # A face the detector finds (detection pixels at half the frame size), as a visitor close to the lens.
    half = face_height / 2
    faces = FakeFaces(boxes=[(60.0, 20.0, 60.0 + half * 0.8, 20.0 + half)])
    redactor = make_redactor(faces=faces, method="pixelate")
    feed = Feeder(redactor)
    background = scene()
    for _ in range(8):
        feed(background)
    original, out = feed(background)
    x0, y0 = 120, 40
    x1, y1 = x0 + math.ceil(face_height * 0.8), y0 + face_height
    block = out.block_at((x0 + x1) / 2, (y0 + y1) / 2)
    assert block is not None and block > 0
    across = 1 + max(
        math.floor((x1 - 1) / block) - math.floor(x0 / block), math.floor((y1 - 1) / block) - math.floor(y0 / block)
    )
    assert across <= MAX_BLOCKS_ACROSS
    # On the pixels: each block of the grid over the face holds one colour (the detail inside it is gone).
    image = out.image
    for by in range(y0 // block * block, y1, block):
        for bx in range(x0 // block * block, x1, block):
            cell = image[by : by + block, bx : bx + block].reshape(-1, 3)
            assert (cell == cell[0]).all(), (bx, by, block)
    assert not np.array_equal(image[y0:y1, x0:x1], original[y0:y1, x0:x1])


def test_solid_faces_are_black() -> None:
    faces = FakeFaces(boxes=[(60.0, 20.0, 84.0, 50.0)])
    feed = Feeder(make_redactor(faces=faces, method="pixelate", face_method="solid"))
    background = scene()
    for _ in range(8):
        feed(background)
    _, out = feed(background)
    assert not out.image[40:100, 120:168].any()
    assert out.block_at(140, 70) == 0
